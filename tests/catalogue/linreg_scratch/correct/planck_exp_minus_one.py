# question: planck
# why: the formula as written, with torch.exp(...) - 1 rather than expm1
def planck(wavelength_um, T):
    """Planck's spectral radiance in W / (m^2 sr um) at wavelength_um (um) and temperature T (K)."""
    c1 = 1.191043e8   # W um^4 / (m^2 sr)
    c2 = 14387.77     # um K
    lam = wavelength_um if torch.is_tensor(wavelength_um) else torch.tensor(wavelength_um, dtype=torch.float32)
    return c1 / lam ** 5 / (torch.exp(c2 / (lam * T)) - 1)
