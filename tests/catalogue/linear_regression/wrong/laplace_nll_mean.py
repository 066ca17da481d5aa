# question: laplace_nll
# why: averages over the examples instead of summing
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    return (y.reshape(y_hat.shape) - y_hat).abs().mean() + math.log(2)
