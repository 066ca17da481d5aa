# question: best_constant
# why: returns the midpoint of the smallest and largest values
def best_constant(x):
    """Return the b that minimises sum((x_i - b)**2) over the data x."""
    return (x.min() + x.max()) / 2
