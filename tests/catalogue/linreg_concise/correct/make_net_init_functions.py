# question: make_net
# why: initialises with nn.init.normal_ and nn.init.zeros_
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    nn.init.normal_(net[0].weight, mean=0.0, std=0.01)
    nn.init.zeros_(net[0].bias)
    return net
