# question: second_derivative
# why: switches on requires_grad of the caller's own x and leaves it on
def second_derivative(f, x):
    """Element-wise d^2 f / dx^2 of an element-wise function f at x, computed with autograd."""
    x.requires_grad_(True)
    y = f(x)
    if not y.requires_grad:
        return torch.zeros_like(x).detach()
    dy, = torch.autograd.grad(y.sum(), x, create_graph=True)
    if not dy.requires_grad:
        return torch.zeros_like(x).detach()
    d2y, = torch.autograd.grad(dy.sum(), x)
    return d2y.detach()
