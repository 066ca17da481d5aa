# question: squared_loss
# why: returns the mean over the batch instead of one loss per example
def squared_loss(y_hat, y):
    """Squared loss, element-wise, shaped like y_hat."""
    return ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()
