# question: normal
# why: normalises by 1 / (2 pi sigma**2) without the square root
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    p = 1 / (2 * math.pi * sigma**2)
    if isinstance(x, torch.Tensor):
        return p * torch.exp(-0.5 / sigma**2 * (x - mu)**2)
    return p * np.exp(-0.5 / sigma**2 * (x - mu)**2)
