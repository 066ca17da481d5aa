# question: make_net
# why: replaces the layer's parameters with new nn.Parameters drawn with torch.normal
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    layer = nn.Linear(num_inputs, 1)
    layer.weight = nn.Parameter(torch.normal(0, 0.01, size=(1, num_inputs)))
    layer.bias = nn.Parameter(torch.zeros(1))
    return nn.Sequential(layer)
