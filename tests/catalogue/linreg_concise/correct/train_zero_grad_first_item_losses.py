# question: train
# why: zeroes the gradients before the forward pass, uses net.zero_grad() and reports losses with .item()
def train(net, features, labels, loss=None, lr=0.03, num_epochs=3, batch_size=10):
    """Train net with minibatch SGD; return the loss on the whole data set after each epoch."""
    loss = nn.MSELoss() if loss is None else loss
    labels = labels.reshape(-1, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr)
    losses = []
    for _ in range(num_epochs):
        for X, y in load_array((features, labels), batch_size, is_train=True):
            net.zero_grad()
            loss(net(X), y).backward()
            optimizer.step()
        with torch.no_grad():
            losses.append(loss(net(features), labels).item())
    return losses
