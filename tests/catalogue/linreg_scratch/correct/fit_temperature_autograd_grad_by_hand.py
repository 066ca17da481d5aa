# question: fit_temperature
# why: gradient descent on log T written by hand with torch.autograd.grad, a new leaf tensor every step, with a step size set by the spectrum's scale
def fit_temperature(wavelength_um, radiance):
    """Learn the temperature (K, a float) whose Planck spectrum best matches the radiance."""
    lam = torch.as_tensor(wavelength_um).reshape(-1).double()
    rad = torch.as_tensor(radiance).reshape(-1).double().to(lam.device)
    keep = rad > 0
    lam, log_rad = lam[keep], torch.log(rad[keep])
    c1, c2 = 1.191043e8, 14387.77
    T0 = 2897.77 / lam[torch.argmax(log_rad)].item()  # Wien's displacement law
    # d(log radiance)/d(log T) is about z = c2 / (lam T): scale the step by its size
    lr = 0.5 / float(((c2 / (lam * T0)) ** 2).mean())
    log_T = torch.tensor(math.log(T0), dtype=torch.float64, device=lam.device, requires_grad=True)
    for _ in range(200):
        z = c2 / (lam * torch.exp(log_T))
        log_model = math.log(c1) - 5 * torch.log(lam) - z - torch.log(-torch.expm1(-z))
        loss = ((log_model - log_rad) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, log_T)
        log_T = (log_T - lr * grad).detach().requires_grad_()
    return math.exp(log_T.item())
