# question: get_grads
# why: reads the gradients by name from named_parameters
def get_grads(net):
    """Return (weight_grad, bias_grad) of the net's nn.Linear layer after the last backward."""
    grads = {name.rsplit(".", 1)[-1]: p.grad for name, p in net.named_parameters()}
    return grads["weight"], grads["bias"]
