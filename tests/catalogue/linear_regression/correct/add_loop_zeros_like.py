# question: add_loop
# why: c from torch.zeros_like, filled in a for loop over range(len(a))
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    c = torch.zeros_like(a)
    for i in range(len(a)):
        c[i] = a[i] + b[i]
    return c
