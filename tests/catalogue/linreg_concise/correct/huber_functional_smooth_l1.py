# question: HuberLoss
# why: calls torch.nn.functional.smooth_l1_loss with beta=sigma
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        return torch.nn.functional.smooth_l1_loss(y_hat, y.reshape(y_hat.shape), beta=self.sigma)
