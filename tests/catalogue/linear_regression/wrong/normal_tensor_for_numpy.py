# question: normal
# why: turns every input into a tensor, so numpy input gives a tensor back
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    x = torch.as_tensor(x)
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * torch.exp(-0.5 / sigma**2 * (x - mu)**2)
