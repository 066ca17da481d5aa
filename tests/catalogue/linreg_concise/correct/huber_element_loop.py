# question: HuberLoss
# why: chooses the branch with an if for each element in a Python loop
class HuberLoss(nn.Module):
    """Huber's robust loss with threshold sigma, averaged over all elements."""

    def __init__(self, sigma=1.0):
        super().__init__()
        self.sigma = sigma

    def forward(self, y_hat, y):
        """Return the mean Huber loss between the predictions y_hat and the labels y."""
        d = (y_hat - y.reshape(y_hat.shape)).reshape(-1)
        terms = []
        for e in d:
            if e.abs() > self.sigma:
                terms.append(e.abs() - self.sigma / 2)
            else:
                terms.append(e ** 2 / (2 * self.sigma))
        return torch.stack(terms).mean()
