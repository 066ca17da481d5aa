# question: normal
# why: uses sigma where the variance sigma**2 belongs
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    p = 1 / math.sqrt(2 * math.pi * sigma)
    if isinstance(x, torch.Tensor):
        return p * torch.exp(-0.5 / sigma * (x - mu)**2)
    return p * np.exp(-0.5 / sigma * (x - mu)**2)
