# question: linreg
# why: forgets to add the bias b
def linreg(X, w, b):
    """The linear regression model."""
    return torch.matmul(X, w)
