# question: closed_form
# why: solves for w without a column of ones, so the bias is never fitted and b is zero
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    y = y.reshape(-1, 1)
    w = torch.linalg.lstsq(X, y).solution
    return w, torch.zeros((), device=X.device)
