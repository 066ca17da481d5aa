# question: squared_loss
# why: drops the factor 1/2 of the book's squared loss
def squared_loss(y_hat, y):
    """Squared loss, element-wise, shaped like y_hat."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2
