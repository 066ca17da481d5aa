# question: sgd
# why: param.sub_ under no_grad, then grad.zero_()
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    with torch.no_grad():
        for param in params:
            param.sub_(lr * param.grad / batch_size)
            param.grad.zero_()
