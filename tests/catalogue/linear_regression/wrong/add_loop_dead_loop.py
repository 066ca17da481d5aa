# question: add_loop
# why: runs a loop that does nothing over the indices, then returns the vectorised a + b
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    for i in range(len(a)):
        pass
    return a + b
