# question: add_loop
# why: loops over range(len(a) - 1), leaving the last entry zero
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    c = torch.zeros_like(a)
    for i in range(len(a) - 1):
        c[i] = a[i] + b[i]
    return c
