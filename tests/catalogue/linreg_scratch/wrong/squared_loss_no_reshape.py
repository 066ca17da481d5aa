# question: squared_loss
# why: subtracts y without reshaping it, so labels of shape (n,) broadcast to an (n, n) loss
def squared_loss(y_hat, y):
    """Squared loss, element-wise, shaped like y_hat."""
    return (y_hat - y) ** 2 / 2
