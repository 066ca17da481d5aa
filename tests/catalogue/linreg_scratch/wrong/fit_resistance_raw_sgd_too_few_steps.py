# question: fit_resistance
# why: plain gradient descent on the raw units with a small rate and 500 steps: it has not converged, R is several percent off
def fit_resistance(current, voltage):
    """Learn V = R * I + offset by gradient descent with autograd; return (R, offset) as floats."""
    I = torch.as_tensor(current).reshape(-1)
    V = torch.as_tensor(voltage).reshape(-1)
    R = torch.zeros(1, device=I.device, requires_grad=True)
    offset = torch.zeros(1, device=I.device, requires_grad=True)
    lr = 0.01
    for step in range(500):
        loss = ((R * I + offset - V) ** 2 / 2).mean()
        loss.backward()
        with torch.no_grad():
            R -= lr * R.grad
            offset -= lr * offset.grad
            R.grad.zero_()
            offset.grad.zero_()
    return R.item(), offset.item()
