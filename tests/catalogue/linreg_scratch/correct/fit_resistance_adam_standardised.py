# question: fit_resistance
# why: Adam on standardised current and scaled voltage, with a decaying learning rate, then the scaling undone
def fit_resistance(current, voltage):
    """Learn V = R * I + offset by gradient descent with autograd; return (R, offset) as floats."""
    I = torch.as_tensor(current).reshape(-1).double()
    V = torch.as_tensor(voltage).reshape(-1).double().to(I.device)
    mu, sd = I.mean(), I.std()
    scale = V.std()
    x = (I - mu) / sd
    t = (V - V.mean()) / scale
    a = torch.zeros(1, dtype=torch.float64, device=I.device, requires_grad=True)
    c = torch.zeros(1, dtype=torch.float64, device=I.device, requires_grad=True)
    opt = torch.optim.Adam([a, c], lr=0.1)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.99)
    for _ in range(1000):
        opt.zero_grad()
        loss = ((a * x + c - t) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    # t = a x + c  <=>  V = scale * a * (I - mu) / sd + scale * c + mean(V)
    R = a.item() * scale.item() / sd.item()
    offset = scale.item() * c.item() + V.mean().item() - R * mu.item()
    return R, offset
