# question: normal
# why: the book's numpy version used on tensors too: np.exp cannot work on GPU tensors
# requires: cuda
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * np.exp(-0.5 / sigma**2 * (x - mu)**2)
