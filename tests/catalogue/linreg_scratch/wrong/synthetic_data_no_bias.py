# question: synthetic_data
# why: never adds the bias b to the labels
def synthetic_data(w, b, num_examples):
    """Generate y = Xw + b + noise; return (X, y) with y shaped (num_examples, 1)."""
    X = torch.normal(0, 1, (num_examples, len(w)), device=w.device)
    y = torch.matmul(X, w)
    y += torch.normal(0, 0.01, y.shape, device=w.device)
    return X, y.reshape((-1, 1))
