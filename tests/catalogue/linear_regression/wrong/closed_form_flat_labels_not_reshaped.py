# question: closed_form
# why: the normal equations with y of shape (n,) give a flat solution, so w comes back shaped (d,)
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    X1 = torch.cat([X, torch.ones(X.shape[0], 1, device=X.device)], dim=1)
    theta = torch.linalg.inv(X1.T @ X1) @ X1.T @ y
    return theta[:-1], theta[-1]
