# question: make_net
# why: draws the weights uniformly from [-0.01, 0.01] instead of from N(0, 0.01^2)
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    nn.init.uniform_(net[0].weight, -0.01, 0.01)
    nn.init.zeros_(net[0].bias)
    return net
