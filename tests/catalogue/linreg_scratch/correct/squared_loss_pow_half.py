# question: squared_loss
# why: torch.pow and a multiplication by 0.5, with y viewed as y_hat's shape
def squared_loss(y_hat, y):
    """Squared loss."""
    return 0.5 * torch.pow(y_hat - y.view(y_hat.shape), 2)
