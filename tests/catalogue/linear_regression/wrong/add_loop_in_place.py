# question: add_loop
# why: accumulates into a itself and returns it, changing the caller's tensor
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    for i in range(len(a)):
        a[i] += b[i]
    return a
