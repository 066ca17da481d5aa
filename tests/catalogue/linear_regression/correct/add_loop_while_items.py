# question: add_loop
# why: a while loop over numel(), adding Python floats from .item() into torch.empty
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    c = torch.empty(a.numel(), dtype=a.dtype, device=a.device)
    i = 0
    while i < a.numel():
        c[i] = a[i].item() + b[i].item()
        i += 1
    return c
