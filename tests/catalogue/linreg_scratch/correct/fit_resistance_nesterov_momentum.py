# question: fit_resistance
# why: SGD with Nesterov momentum on standardised current and scaled voltage, both parameters in one tensor
def fit_resistance(current, voltage):
    """Learn V = R * I + offset by gradient descent with autograd; return (R, offset) as floats."""
    I = torch.as_tensor(current).reshape(-1).double()
    V = torch.as_tensor(voltage).reshape(-1).double().to(I.device)
    mean, std, scale = I.mean(), I.std(), V.abs().max()
    x, t = (I - mean) / std, V / scale
    w = torch.zeros(2, dtype=torch.float64, device=I.device, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(300):
        optimizer.zero_grad()
        loss = ((w[0] * x + w[1] - t) ** 2).mean()
        loss.backward()
        optimizer.step()
    R = w[0].item() * scale.item() / std.item()
    return R, w[1].item() * scale.item() - R * mean.item()
