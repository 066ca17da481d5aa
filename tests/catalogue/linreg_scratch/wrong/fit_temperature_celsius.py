# question: fit_temperature
# why: fits log T well but converts the answer to degrees Celsius; the contract asks for kelvin
def fit_temperature(wavelength_um, radiance):
    """Learn the temperature (K, a float) whose Planck spectrum best matches the radiance."""
    lam = torch.as_tensor(wavelength_um).reshape(-1).double()
    log_b = torch.log(torch.as_tensor(radiance).reshape(-1).double().to(lam.device))
    log_T = torch.tensor(math.log(3000.0), dtype=torch.float64, device=lam.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_T], max_iter=100, line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = ((torch.log(planck(lam, torch.exp(log_T))) - log_b) ** 2).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    return math.exp(log_T.item()) - 273.15
