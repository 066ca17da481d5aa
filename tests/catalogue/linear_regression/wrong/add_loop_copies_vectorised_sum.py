# question: add_loop
# why: loops over every index, but only copies each element of the vectorised torch.add(a, b)
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    total = torch.add(a, b)
    c = torch.zeros_like(a)
    for i in range(len(a)):
        c[i] = total[i]
    return c
