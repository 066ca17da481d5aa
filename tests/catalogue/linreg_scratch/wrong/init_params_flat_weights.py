# question: init_params
# why: makes w a vector of shape (num_inputs,) instead of a column of shape (num_inputs, 1)
def init_params(num_inputs, device='cpu'):
    """Return (w, b): w ~ N(0, 0.01**2) shaped (num_inputs, 1), b = zeros(1); both require grad."""
    w = torch.normal(0, 0.01, size=(num_inputs,), device=device, requires_grad=True)
    b = torch.zeros(1, device=device, requires_grad=True)
    return w, b
