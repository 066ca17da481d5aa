# question: linreg
# why: the @ operator instead of torch.matmul
def linreg(X, w, b):
    """The linear regression model."""
    return X @ w + b
