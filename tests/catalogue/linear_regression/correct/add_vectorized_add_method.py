# question: add_vectorized
# why: the out-of-place method a.add(b) leaves a unchanged
def add_vectorized(a, b):
    """Return a + b computed with one vectorized operation."""
    d = a.add(b)
    return d
