# question: closed_form
# why: puts the column of ones first but reads the bias from the last entry
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    y = y.reshape(-1, 1)
    X1 = torch.cat([torch.ones(X.shape[0], 1, device=X.device), X], dim=1)
    theta = torch.linalg.lstsq(X1, y).solution
    return theta[:-1], theta[-1, 0]
