# question: make_net
# why: initialises every linear layer with net.apply, as later chapters of the book do
def make_net(num_inputs=2):
    """Return nn.Sequential(nn.Linear(num_inputs, 1)) with N(0, 0.01^2) weights and zero bias."""
    def init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.constant_(module.bias, 0.0)

    net = nn.Sequential(nn.Linear(num_inputs, 1))
    net.apply(init_weights)
    return net
