# question: sgd
# why: the older style: update param.data directly (no graph is recorded), then zero grad.data
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    for param in params:
        param.data -= lr * param.grad.data / batch_size
        param.grad.data.zero_()
