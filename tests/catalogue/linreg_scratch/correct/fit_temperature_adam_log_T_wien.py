# question: fit_temperature
# why: Adam on log T in log-radiance space, started from Wien's displacement law at the brightest wavelength
def fit_temperature(wavelength_um, radiance):
    """Learn the temperature (K, a float) whose Planck spectrum best matches the radiance."""
    lam = torch.as_tensor(wavelength_um).reshape(-1).double()
    rad = torch.as_tensor(radiance).reshape(-1).double().to(lam.device)
    ok = rad > 0
    lam, log_rad = lam[ok], torch.log(rad[ok])
    c1, c2 = 1.191043e8, 14387.77

    T_peak = 2897.77 / lam[torch.argmax(log_rad)].item()     # Wien: lambda_max * T = 2898 um K
    log_T = torch.tensor(math.log(T_peak), dtype=torch.float64, device=lam.device, requires_grad=True)
    optimizer = torch.optim.Adam([log_T], lr=0.05)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.99)
    for step in range(800):
        optimizer.zero_grad()
        z = c2 / (lam * torch.exp(log_T))
        # log of Planck's law; z + log(1 - exp(-z)) is log(exp(z) - 1) without overflow
        log_model = math.log(c1) - 5 * torch.log(lam) - z - torch.log(-torch.expm1(-z))
        loss = ((log_model - log_rad) ** 2).mean()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return math.exp(log_T.item())
