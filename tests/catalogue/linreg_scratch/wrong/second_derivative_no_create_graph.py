# question: second_derivative
# why: the first autograd.grad call lacks create_graph=True, so the derivative cannot be differentiated again
def second_derivative(f, x):
    """Element-wise d^2 f / dx^2 of an element-wise function f at x, computed with autograd."""
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    dy, = torch.autograd.grad(y.sum(), x)
    if not dy.requires_grad:
        return torch.zeros_like(x)
    d2y, = torch.autograd.grad(dy.sum(), x)
    return d2y.detach()
