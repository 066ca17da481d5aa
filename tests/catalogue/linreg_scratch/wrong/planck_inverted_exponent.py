# question: planck
# why: writes the exponent upside down, exp(lambda T / c2) instead of exp(c2 / (lambda T))
def planck(wavelength_um, T):
    """Planck's spectral radiance in W / (m^2 sr um) at wavelength_um (um) and temperature T (K)."""
    c1 = 1.191043e8
    c2 = 14387.77
    lam = torch.as_tensor(wavelength_um, dtype=torch.get_default_dtype())
    return c1 / (lam ** 5 * (torch.exp(lam * T / c2) - 1))
