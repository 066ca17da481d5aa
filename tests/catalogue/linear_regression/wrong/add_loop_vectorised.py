# question: add_loop
# why: adds the whole tensors at once, so there is no Python loop to time
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    c = a + b
    return c
