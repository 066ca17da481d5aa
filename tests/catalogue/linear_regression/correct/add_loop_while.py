# question: add_loop
# why: a while loop over the indices into torch.zeros_like
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    c = torch.zeros_like(a)
    i = 0
    while i < len(a):
        c[i] = a[i] + b[i]
        i += 1
    return c
