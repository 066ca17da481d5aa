# question: init_params
# why: draws w from N(0, 1) instead of N(0, 0.01**2)
def init_params(num_inputs, device='cpu'):
    """Return (w, b): w ~ N(0, 0.01**2) shaped (num_inputs, 1), b = zeros(1); both require grad."""
    w = torch.normal(0, 1, size=(num_inputs, 1), device=device, requires_grad=True)
    b = torch.zeros(1, device=device, requires_grad=True)
    return w, b
