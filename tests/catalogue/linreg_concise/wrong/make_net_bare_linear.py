# question: make_net
# why: returns the nn.Linear layer itself, not an nn.Sequential holding it
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    net = nn.Linear(num_inputs, 1)
    net.weight.data.normal_(0, 0.01)
    net.bias.data.fill_(0)
    return net
