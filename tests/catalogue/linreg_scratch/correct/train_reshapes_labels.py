# question: train
# why: reshapes the labels to a column first, so labels of shape (n,) work too
def train(features, labels, w, b, lr=0.03, num_epochs=3, batch_size=10):
    """Train (w, b) in place with minibatch SGD; return the mean loss after each epoch."""
    labels = labels.reshape(-1, 1)
    losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = squared_loss(linreg(X, w, b), y)
            l.sum().backward()
            sgd([w, b], lr, batch_size)
        with torch.no_grad():
            losses.append(squared_loss(linreg(features, w, b), labels).mean().item())
    return losses
