# question: get_grads
# why: assumes the linear layer is net[0]
def get_grads(net):
    """Return (weight_grad, bias_grad) of the net's nn.Linear layer after the last backward."""
    return net[0].weight.grad, net[0].bias.grad
