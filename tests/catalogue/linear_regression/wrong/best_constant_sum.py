# question: best_constant
# why: forgets to divide the sum by the number of examples
def best_constant(x):
    """Return the b that minimises sum((x_i - b)**2) over the data x."""
    return x.sum()
