# question: laplace_nll
# why: adds log 2 once instead of once per example
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    return (y.reshape(y_hat.shape) - y_hat).abs().sum() + math.log(2)
