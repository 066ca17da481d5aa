# question: planck
# why: torch.expm1, with T turned into a tensor on the wavelengths' device first
def planck(wavelength_um, T):
    """Planck's spectral radiance in W / (m^2 sr um) at wavelength_um (um) and temperature T (K)."""
    C1, C2 = 1.191043e8, 14387.77
    lam = torch.as_tensor(wavelength_um)
    if not lam.is_floating_point():
        lam = lam.to(torch.get_default_dtype())
    T = torch.as_tensor(T, dtype=lam.dtype, device=lam.device)
    return C1 * lam.pow(-5) / torch.expm1(C2 / (lam * T))
