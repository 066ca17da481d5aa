# question: train
# why: collects the epoch losses as detached 0-d tensors, evaluated in eval mode
def train(net, features, labels, loss=None, lr=0.03, num_epochs=3, batch_size=10):
    """Train net with minibatch SGD; return the loss on the whole data set after each epoch."""
    if loss is None:
        loss = nn.MSELoss()
    if labels.dim() == 1:
        labels = labels.unsqueeze(1)
    loader = load_array((features, labels), batch_size)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    history = []
    for epoch in range(num_epochs):
        net.train()
        for X, y in loader:
            trainer.zero_grad(set_to_none=True)
            batch_loss = loss(net(X), y)
            batch_loss.backward()
            trainer.step()
        net.eval()
        history.append(loss(net(features), labels).detach())
    return history
