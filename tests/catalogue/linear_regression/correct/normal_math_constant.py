# question: normal
# why: the constant from math.sqrt, the exponential from the library of the input
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    z = (x - mu) / sigma
    exp = torch.exp if torch.is_tensor(x) else np.exp
    return exp(-z**2 / 2) / (sigma * math.sqrt(2 * math.pi))
