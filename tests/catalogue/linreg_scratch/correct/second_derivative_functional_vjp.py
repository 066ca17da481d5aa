# question: second_derivative
# why: torch.autograd.functional.vjp applied twice: the first derivative is itself a function of x
def second_derivative(f, x):
    """Element-wise d^2 f / dx^2 of an element-wise function f at x, computed with autograd."""
    from torch.autograd.functional import vjp

    def first(t):
        # for an element-wise f, the vector-Jacobian product with ones is f'(t)
        return vjp(f, t, torch.ones_like(t), create_graph=True)[1]

    _, d2 = vjp(first, x.detach(), torch.ones_like(x))
    return d2.detach()
