# question: init_params
# why: ignores the device argument, so the parameters stay on the CPU when cuda is asked for
# requires: cuda
def init_params(num_inputs, device='cpu'):
    """Return (w, b): w ~ N(0, 0.01**2) shaped (num_inputs, 1), b = zeros(1); both require grad."""
    w = torch.normal(0, 0.01, size=(num_inputs, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    return w, b
