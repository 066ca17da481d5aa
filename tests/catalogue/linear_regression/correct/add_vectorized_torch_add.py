# question: add_vectorized
# why: torch.add is the same vectorized operation as a + b
def add_vectorized(a, b):
    """Return a + b computed with one vectorized operation."""
    return torch.add(a, b)
