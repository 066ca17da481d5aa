# question: linreg
# why: computes the product in numpy and converts back: right values, but the graph to w and b is cut
def linreg(X, w, b):
    """The linear regression model."""
    y = X.detach().cpu().numpy() @ w.detach().cpu().numpy() + b.detach().cpu().numpy()
    return torch.tensor(y, device=X.device)
