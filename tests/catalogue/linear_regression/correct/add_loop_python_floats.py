# question: add_loop
# why: adds Python floats from tolist() in a list comprehension and builds the tensor at the end
def add_loop(a, b):
    """Return a new 1-D tensor c with c[i] = a[i] + b[i], computed in a Python loop."""
    x, y = a.tolist(), b.tolist()
    return torch.tensor([x[i] + y[i] for i in range(len(x))], dtype=a.dtype, device=a.device)
