# question: make_net
# why: keeps nn.Linear's default (uniform) initialisation
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    return nn.Sequential(nn.Linear(num_inputs, 1))
