# question: add_vectorized
# why: a += b changes the caller's a instead of returning a new tensor
def add_vectorized(a, b):
    """Return a + b computed with one vectorized operation."""
    a += b
    return a
