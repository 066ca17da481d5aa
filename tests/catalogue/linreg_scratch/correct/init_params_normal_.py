# question: init_params
# why: fills a zeros tensor in place with normal_(0, 0.01), then requires_grad_()
def init_params(num_inputs, device='cpu'):
    """Return (w, b): w ~ N(0, 0.01**2) shaped (num_inputs, 1), b = zeros(1); both require grad."""
    w = torch.zeros(num_inputs, 1, device=device).normal_(0, 0.01).requires_grad_()
    b = torch.zeros(1, device=device).requires_grad_()
    return w, b
