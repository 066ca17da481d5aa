# question: synthetic_data
# why: draws the features from U(0, 1) with torch.rand instead of N(0, 1)
def synthetic_data(w, b, num_examples):
    """Generate y = Xw + b + noise; return (X, y) with y shaped (num_examples, 1)."""
    X = torch.rand((num_examples, len(w)), device=w.device)
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape, device=w.device)
    return X, y.reshape((-1, 1))
