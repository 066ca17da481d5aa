# question: closed_form
# why: returns w as a flat vector of shape (d,) instead of a (d, 1) column
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    y = y.reshape(-1, 1)
    X1 = torch.cat([X, torch.ones(X.shape[0], 1, device=X.device)], dim=1)
    theta = torch.linalg.lstsq(X1, y).solution.reshape(-1)
    return theta[:-1], theta[-1]
