# question: second_derivative
# why: stops after the first autograd.grad call, so it returns df/dx instead of d2f/dx2
def second_derivative(f, x):
    """Element-wise d^2 f / dx^2 of an element-wise function f at x, computed with autograd."""
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    if not y.requires_grad:
        return torch.zeros_like(x)
    dy, = torch.autograd.grad(y.sum(), x, create_graph=True)
    return dy.detach()
