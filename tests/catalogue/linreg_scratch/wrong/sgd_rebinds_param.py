# question: sgd
# why: param = param - ... only rebinds the loop variable; the caller's tensors never change
def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent, in place."""
    with torch.no_grad():
        for param in params:
            grad = param.grad
            param = param - lr * grad / batch_size
            grad.zero_()
