# question: closed_form
# why: centres X and y, fits w without a bias, then recovers b from the means
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    y = y.reshape(-1, 1)
    x_mean, y_mean = X.mean(dim=0, keepdim=True), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    w = torch.linalg.solve(Xc.T @ Xc, Xc.T @ yc)
    b = y_mean - (x_mean @ w).squeeze()
    return w, b
