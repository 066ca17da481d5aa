# question: train
# why: reports the last minibatch's loss instead of the loss on the whole data set
def train(net, features, labels, loss=None, lr=0.03, num_epochs=3, batch_size=10):
    """Train net with minibatch SGD; return the loss on the whole data set after each epoch."""
    if loss is None:
        loss = nn.MSELoss()
    labels = labels.reshape(len(labels), -1)
    data_iter = load_array((features, labels), batch_size)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
        losses.append(l.item())
    return losses
