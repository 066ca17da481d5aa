# question: laplace_nll
# why: torch's summed L1 loss plus n log 2, both flattened
def laplace_nll(y_hat, y):
    """Negative log-likelihood of y given predictions y_hat under noise exp(-|e|)/2, summed."""
    y_hat, y = y_hat.reshape(-1), y.reshape(-1)
    return torch.nn.functional.l1_loss(y_hat, y, reduction='sum') + y.numel() * math.log(2)
