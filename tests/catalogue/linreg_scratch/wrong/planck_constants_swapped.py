# question: planck
# why: swaps the two radiation constants c1 and c2
def planck(wavelength_um, T):
    """Planck's spectral radiance in W / (m^2 sr um) at wavelength_um (um) and temperature T (K)."""
    c1, c2 = 14387.77, 1.191043e8
    lam = torch.as_tensor(wavelength_um, dtype=torch.get_default_dtype())
    return c1 / (lam ** 5 * (torch.exp(c2 / (lam * T)) - 1))
