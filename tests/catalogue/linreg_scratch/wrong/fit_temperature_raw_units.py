# question: fit_temperature
# why: the naive fit: plain SGD on T itself against the raw radiance, which overflows or runs away
def fit_temperature(wavelength_um, radiance):
    """Learn the temperature (K, a float) whose Planck spectrum best matches the radiance."""
    lam = torch.as_tensor(wavelength_um).reshape(-1)
    radiance = torch.as_tensor(radiance).reshape(-1)
    T = torch.tensor(5000.0, device=lam.device, requires_grad=True)
    lr = 0.01
    for epoch in range(1000):
        loss = ((planck(lam, T) - radiance) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            T -= lr * T.grad
            T.grad.zero_()
    return T.item()
