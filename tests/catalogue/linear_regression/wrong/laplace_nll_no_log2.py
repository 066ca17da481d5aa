# question: laplace_nll
# why: leaves out the constant n log 2 that comes from the 1/2 in the density
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    return (y.reshape(y_hat.shape) - y_hat).abs().sum()
