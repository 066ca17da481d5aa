# question: planck
# why: converts the wavelength to metres although c1 and c2 are given in micrometre units
def planck(wavelength_um, T):
    """Planck's spectral radiance in W / (m^2 sr um) at wavelength_um (um) and temperature T (K)."""
    c1, c2 = 1.191043e8, 14387.77
    lam = torch.as_tensor(wavelength_um, dtype=torch.get_default_dtype()) * 1e-6
    return c1 / (lam ** 5 * torch.expm1(c2 / (lam * T)))
