# question: second_derivative
# why: the second autograd.grad call raises when f is linear (the first derivative is a constant with no graph)
def second_derivative(f, x):
    """Element-wise d^2 f / dx^2 of an element-wise function f at x, computed with autograd."""
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    dy, = torch.autograd.grad(y.sum(), x, create_graph=True)
    d2y, = torch.autograd.grad(dy.sum(), x)
    return d2y.detach()
