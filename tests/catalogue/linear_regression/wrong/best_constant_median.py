# question: best_constant
# why: returns the median, which minimises the absolute loss, not the squared loss
def best_constant(x):
    """Return the b that minimises sum((x_i - b)**2) over the data x."""
    return x.median()
