# question: add_loop
# why: creates c with torch.zeros(n) on the CPU whatever the device of a and b
# requires: cuda
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    n = a.shape[0]
    c = torch.zeros(n)
    for i in range(n):
        c[i] = a[i] + b[i]
    return c
