# question: get_grads
# why: picks the last nn.Linear among the modules and clones its gradients
def get_grads(net):
    """Return (weight_grad, bias_grad) of the net's nn.Linear layer after the last backward."""
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    return linear.weight.grad.clone(), linear.bias.grad.clone()
