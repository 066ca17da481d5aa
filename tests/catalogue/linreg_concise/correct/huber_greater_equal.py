# question: HuberLoss
# why: takes the linear branch at abs(d) >= sigma, where both branches agree
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        d = y_hat - y.reshape(y_hat.shape)
        return torch.where(d.abs() >= self.sigma, d.abs() - 0.5 * self.sigma, 0.5 * d * d / self.sigma).mean()
