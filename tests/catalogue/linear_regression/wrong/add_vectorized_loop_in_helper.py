# question: add_vectorized
# why: hides the loop in a helper function
def _elementwise(a, b):
    c = torch.zeros_like(a)
    for i in range(len(a)):
        c[i] = a[i] + b[i]
    return c


def add_vectorized(a, b):
    """Return a + b computed with one vectorized operation."""
    return _elementwise(a, b)
