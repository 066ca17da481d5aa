# question: normal
# why: converts every input to a numpy array, so tensor input gives numpy back
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    x = np.asarray(x)
    mu = np.asarray(mu)
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * np.exp(-0.5 / sigma**2 * (x - mu)**2)
