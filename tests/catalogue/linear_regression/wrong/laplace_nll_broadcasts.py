# question: laplace_nll
# why: subtracts without reshaping, so y of shape (n,) against y_hat of shape (n, 1) broadcasts to an (n, n) matrix
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    return (y - y_hat).abs().sum() + len(y_hat) * math.log(2)
