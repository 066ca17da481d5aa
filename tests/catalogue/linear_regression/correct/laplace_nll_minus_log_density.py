# question: laplace_nll
# why: sums -log(exp(-|e|) / 2) directly, term by term
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    e = y.reshape(-1) - y_hat.reshape(-1)
    return -torch.log(torch.exp(-e.abs()) / 2).sum()
