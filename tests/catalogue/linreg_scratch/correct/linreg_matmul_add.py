# question: linreg
# why: torch.matmul with the bias added by Tensor.add
def linreg(X, w, b):
    """The linear regression model."""
    return torch.matmul(X, w).add(b)
