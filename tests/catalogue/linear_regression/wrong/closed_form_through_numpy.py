# question: closed_form
# why: solves with numpy, which needs CPU arrays and returns CPU tensors for GPU data
# requires: cuda
def closed_form(X, y):
    """Least-squares (w, b) of y ~ X w + b: w shaped (d, 1), b a scalar tensor."""
    X1 = np.hstack([X.numpy(), np.ones((X.shape[0], 1), dtype=np.float32)])
    theta, *_ = np.linalg.lstsq(X1, y.numpy().reshape(-1, 1), rcond=None)
    theta = torch.from_numpy(theta)
    return theta[:-1], theta[-1, 0]
