# question: add_loop
# why: enumerate over a into torch.empty(..., device=a.device)
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    c = torch.empty(len(a), dtype=a.dtype, device=a.device)
    for i, ai in enumerate(a):
        c[i] = ai + b[i]
    return c
