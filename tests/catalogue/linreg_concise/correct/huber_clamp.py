# question: HuberLoss
# why: splits the error at sigma with clamp: quadratic inside, linear beyond
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        d = (y_hat - y.view_as(y_hat)).abs()
        inner = d.clamp(max=self.sigma)
        return ((inner ** 2 / 2 + self.sigma * (d - inner)) / self.sigma).mean()
