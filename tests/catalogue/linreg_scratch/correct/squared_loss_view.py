# question: squared_loss
# why: y.view(y_hat.shape) and multiplication by 0.5
def squared_loss(y_hat, y):
    """Squared loss, element-wise, shaped like y_hat."""
    diff = y_hat - y.view(y_hat.shape)
    return 0.5 * diff * diff
