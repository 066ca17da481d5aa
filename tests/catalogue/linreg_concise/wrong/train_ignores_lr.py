# question: train
# why: hard-codes the book's learning rate 0.03
def train(net, features, labels, loss=None, lr=0.03, num_epochs=3, batch_size=10):
    """Train net with minibatch SGD; return the loss on the whole data set after each epoch."""
    if loss is None:
        loss = nn.MSELoss()
    labels = labels.reshape(len(labels), -1)
    data_iter = load_array((features, labels), batch_size)
    trainer = torch.optim.SGD(net.parameters(), lr=0.03)
    losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
        with torch.no_grad():
            losses.append(float(loss(net(features), labels)))
    return losses
