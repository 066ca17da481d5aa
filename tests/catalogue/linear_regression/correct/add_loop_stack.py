# question: add_loop
# why: a list comprehension of element sums, stacked into one tensor
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    return torch.stack([a[i] + b[i] for i in range(a.shape[0])])
