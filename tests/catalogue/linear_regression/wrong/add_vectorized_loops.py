# question: add_vectorized
# why: fills the result one element at a time in a for loop
def add_vectorized(a, b):
    """Return a + b computed with one vectorized operation."""
    c = torch.zeros_like(a)
    for i in range(len(a)):
        c[i] = a[i] + b[i]
    return c
