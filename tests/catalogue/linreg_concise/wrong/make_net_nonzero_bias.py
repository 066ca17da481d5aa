# question: make_net
# why: draws the bias from N(0, 0.01^2) too instead of setting it to zero
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    net = nn.Sequential(nn.Linear(num_inputs, 1))
    for param in net.parameters():
        param.data.normal_(0, 0.01)
    return net
