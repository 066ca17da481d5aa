# question: synthetic_data
# why: creates X on the CPU whatever the device of w, so a CUDA w fails (correct on CPU)
# requires: cuda
def synthetic_data(w, b, num_examples):
    """Generate y = Xw + b + noise; return (X, y) with y shaped (num_examples, 1)."""
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))
