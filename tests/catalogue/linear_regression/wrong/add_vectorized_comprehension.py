# question: add_vectorized
# why: a list comprehension is still a Python loop over the elements
def add_vectorized(a, b):
    """Return a + b computed with one vectorized operation."""
    return torch.stack([x + y for x, y in zip(a, b)])
