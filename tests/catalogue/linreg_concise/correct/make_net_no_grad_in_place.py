# question: make_net
# why: changes the parameters in place under torch.no_grad() instead of through .data
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    layer = nn.Linear(num_inputs, 1)
    with torch.no_grad():
        layer.weight.normal_(0, 0.01)
        layer.bias.zero_()
    return nn.Sequential(layer)
