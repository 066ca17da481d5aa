# question: normal
# why: torch.distributions.Normal for tensors, numpy's formula for arrays
def normal(x, mu, sigma):
    """Gaussian density with mean mu and standard deviation sigma, evaluated at x."""
    if isinstance(x, np.ndarray):
        return np.exp(-0.5 * ((x - mu) / sigma)**2) / np.sqrt(2 * np.pi * sigma**2)
    mu = torch.as_tensor(mu, dtype=x.dtype, device=x.device)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return torch.distributions.Normal(mu, sigma).log_prob(x).exp()
