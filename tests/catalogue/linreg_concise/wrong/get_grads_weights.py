# question: get_grads
# why: returns the weights (weight.data) instead of their gradients
def get_grads(net):
    """Return (weight_grad, bias_grad) of the net's nn.Linear layer after the last backward."""
    return net[0].weight.data, net[0].bias.data
