# question: closed_form
# why: solves the normal equations X1^T X1 theta = X1^T y with torch.linalg.solve
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    X1 = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=X.device)], dim=1)
    theta = torch.linalg.solve(X1.T @ X1, X1.T @ y.reshape(-1, 1))
    return theta[:-1], theta[-1]
