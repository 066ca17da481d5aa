# question: squared_loss
# why: computes the loss from y_hat.data, so the loss has the right values but carries no gradient
def squared_loss(y_hat, y):
    """Squared loss."""
    return (y_hat.data - y.reshape(y_hat.shape)) ** 2 / 2
