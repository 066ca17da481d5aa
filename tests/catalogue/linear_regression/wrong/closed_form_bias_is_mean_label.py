# question: closed_form
# why: fits w without a bias and then sets b to the mean label, which double counts the offset
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    y = y.reshape(-1, 1)
    w = torch.linalg.solve(X.T @ X, X.T @ y)
    return w, y.mean()
