# question: init_params
# why: never asks autograd to track w and b (no requires_grad=True)
def init_params(num_inputs, device='cpu'):
    """Return (w, b): w ~ N(0, 0.01**2) shaped (num_inputs, 1), b = zeros(1); both require grad."""
    w = torch.normal(0, 0.01, size=(num_inputs, 1), device=device)
    b = torch.zeros(1, device=device)
    return w, b
