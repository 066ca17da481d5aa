# question: best_constant
# why: divides the sum by n - 1, as for an unbiased variance
def best_constant(x):
    """Return the b that minimises sum((x_i - b)**2) over the data x."""
    return x.sum() / max(len(x) - 1, 1)
