# question: train
# why: backpropagates the minibatch mean while sgd divides by batch_size too, so every step is batch_size times too small
def train(features, labels, w, b, lr=0.03, num_epochs=3, batch_size=10):
    """Train (w, b) in place with minibatch SGD; return the mean loss after each epoch."""
    net, loss = linreg, squared_loss
    epoch_losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y)
            l.mean().backward()
            sgd([w, b], lr, batch_size)
        with torch.no_grad():
            train_l = loss(net(features, w, b), labels)
            epoch_losses.append(float(train_l.mean()))
    return epoch_losses
