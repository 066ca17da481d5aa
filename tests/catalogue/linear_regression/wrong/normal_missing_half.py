# question: normal
# why: drops the 1/2 in the exponent
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    if isinstance(x, torch.Tensor):
        return p * torch.exp(-(x - mu)**2 / sigma**2)
    return p * np.exp(-(x - mu)**2 / sigma**2)
