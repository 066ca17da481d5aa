# question: synthetic_data
# why: torch.randn and randn_like scaled by 0.01 instead of torch.normal
def synthetic_data(w, b, num_examples):
    """Generate y = Xw + b + noise; return (X, y) with y shaped (num_examples, 1)."""
    X = torch.randn(num_examples, len(w), device=w.device)
    y = X @ w.reshape(-1, 1) + b
    y = y + 0.01 * torch.randn_like(y)
    return X, y
