# question: sgd
# why: never zeroes the gradients, so they accumulate from one step to the next
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
