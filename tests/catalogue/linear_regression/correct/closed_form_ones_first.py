# question: closed_form
# why: puts the column of ones first and reads b from the first entry
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    ones = torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)
    theta = torch.linalg.lstsq(torch.cat([ones, X], dim=1), y.reshape(-1, 1)).solution
    return theta[1:], theta[0]
