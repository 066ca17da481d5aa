# question: laplace_nll
# why: the constant as n * torch.log(torch.tensor(2.))
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    y = y.reshape(y_hat.shape)
    return torch.sum(torch.abs(y - y_hat)) + len(y) * torch.log(torch.tensor(2.))
