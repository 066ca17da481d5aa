# question: closed_form
# why: the pseudo-inverse of X with a column of ones
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    X1 = torch.hstack([X, torch.ones_like(X[:, :1])])
    theta = torch.linalg.pinv(X1) @ y.reshape(-1, 1)
    w, b = theta[:-1], theta[-1, 0]
    return w, b
