# question: get_grads
# why: returns the gradients of the net's parameters, which for this model are the linear layer's weight and bias
def get_grads(net):
    """Return (weight_grad, bias_grad) of the net's nn.Linear layer after the last backward."""
    return [p.grad for p in net.parameters()]
