# question: normal
# why: computes the log-density first and exponentiates, dispatching on the type
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    log_p = -0.5 * math.log(2 * math.pi * sigma**2) - (x - mu)**2 / (2 * sigma**2)
    if isinstance(log_p, torch.Tensor):
        return log_p.exp()
    return np.exp(log_p)
