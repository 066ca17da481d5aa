# question: squared_loss
# why: y.view_as(y_hat) instead of reshape
def squared_loss(y_hat, y):
    """Squared loss, element-wise, shaped like y_hat."""
    return (y_hat - y.view_as(y_hat)) ** 2 / 2
