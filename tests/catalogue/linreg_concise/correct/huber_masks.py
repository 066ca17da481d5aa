# question: HuberLoss
# why: combines the two branches with boolean masks instead of torch.where
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        d = y_hat - y.reshape(y_hat.shape)
        large = (d.abs() > self.sigma).float()
        l = large * (d.abs() - self.sigma / 2) + (1 - large) * d ** 2 / (2 * self.sigma)
        return l.mean()
