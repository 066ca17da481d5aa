# question: best_constant
# why: the mean written as sum / len
def best_constant(x):
    """Return the b that minimises sum((x_i - b)**2) over the data x."""
    return x.sum() / len(x)
