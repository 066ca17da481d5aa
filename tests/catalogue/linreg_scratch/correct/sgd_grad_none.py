# question: sgd
# why: resets the gradients to None, as torch's own zero_grad() does
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad = None
