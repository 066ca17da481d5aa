# question: linreg
# why: returns (X @ w + b).detach(): the values are right, but no gradient reaches w and b, so training cannot learn
def linreg(X, w, b):
    """The linear regression model."""
    return (torch.matmul(X, w) + b).detach()
