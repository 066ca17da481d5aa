# question: HuberLoss
# why: uses nn.HuberLoss(delta=sigma), which is sigma times the loss asked for
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        return nn.HuberLoss(delta=self.sigma)(y_hat, y.reshape(y_hat.shape))
