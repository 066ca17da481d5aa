# question: fit_temperature
# why: optimises u = 1000 / T, on which the log-radiance is almost linear, with L-BFGS
def fit_temperature(wavelength_um, radiance):
    """Learn the temperature (K, a float) whose Planck spectrum best matches the radiance."""
    lam = torch.as_tensor(wavelength_um, dtype=torch.float64).flatten()
    target = torch.as_tensor(radiance, dtype=torch.float64).flatten().to(lam.device)
    keep = target > 0
    lam, target = lam[keep], torch.log(target[keep])
    c1, c2 = 1.191043e8, 14387.77
    u = torch.tensor(1000 / 3000, dtype=torch.float64, device=lam.device, requires_grad=True)
    opt = torch.optim.LBFGS([u], max_iter=200, line_search_fn='strong_wolfe',
                            tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        z = c2 * u.abs() / (1000 * lam)
        pred = math.log(c1) - 5 * torch.log(lam) - z - torch.log1p(-torch.exp(-z))
        loss = ((pred - target) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return 1000 / abs(u.item())
