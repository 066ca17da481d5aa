# question: add_loop
# why: pairs the elements with zip and stacks their sums
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    return torch.stack([x + y for x, y in zip(a, b)])
