# question: HuberLoss
# why: chooses the branch once, from the batch's mean absolute error
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        d = y_hat - y.reshape(y_hat.shape)
        if d.abs().mean() > self.sigma:
            return (d.abs() - self.sigma / 2).mean()
        return (d ** 2 / (2 * self.sigma)).mean()
