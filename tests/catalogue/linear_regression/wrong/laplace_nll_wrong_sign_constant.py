# question: laplace_nll
# why: adds n log(1/2) instead of -n log(1/2), a sign slip in the constant
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    n = y_hat.numel()
    return (y.reshape(y_hat.shape) - y_hat).abs().sum() + n * math.log(0.5)
