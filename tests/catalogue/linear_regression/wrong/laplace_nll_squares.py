# question: laplace_nll
# why: squares the residuals as for Gaussian noise instead of taking absolute values
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    n = y_hat.numel()
    return ((y.reshape(y_hat.shape) - y_hat) ** 2).sum() + n * math.log(2)
