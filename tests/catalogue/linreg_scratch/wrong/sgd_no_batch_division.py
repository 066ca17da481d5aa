# question: sgd
# why: steps by lr * grad without dividing by the batch size
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad
            param.grad.zero_()
