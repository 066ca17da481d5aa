# question: second_derivative
# why: two autograd.grad calls with grad_outputs=ones and materialize_grads, so linear and constant f give zeros
def second_derivative(f, x):
    """Element-wise d^2 f / dx^2 of an element-wise function f at x, computed with autograd."""
    t = x.detach().clone().requires_grad_()
    with torch.enable_grad():
        y = f(t)
        if not y.requires_grad:          # f does not depend on x at all
            return torch.zeros_like(t).detach()
        dy, = torch.autograd.grad(y, t, grad_outputs=torch.ones_like(y), create_graph=True,
                                  allow_unused=True, materialize_grads=True)
        if not dy.requires_grad:         # f is linear: f' is a constant
            return torch.zeros_like(t).detach()
        d2y, = torch.autograd.grad(dy, t, grad_outputs=torch.ones_like(dy),
                                   allow_unused=True, materialize_grads=True)
    return d2y.detach()
