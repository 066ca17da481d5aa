# question: HuberLoss
# why: returns the mean loss detached from the graph: a tensor with the right value through which nothing trains
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        d = y_hat - y.reshape(y_hat.shape)
        abs_d = d.abs()
        return torch.where(abs_d > self.sigma, abs_d - self.sigma / 2, d ** 2 / (2 * self.sigma)).mean().detach()
