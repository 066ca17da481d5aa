# question: fit_resistance
# why: uses the closed-form normal equations with torch.linalg.inv instead of gradient descent
def fit_resistance(current, voltage):
    """Learn V = R * I + offset by gradient descent with autograd; return (R, offset) as floats."""
    I = torch.as_tensor(current).reshape(-1, 1).double()
    V = torch.as_tensor(voltage).reshape(-1, 1).double()
    X = torch.cat([I, torch.ones_like(I)], dim=1)
    theta = torch.linalg.inv(X.T @ X) @ X.T @ V
    return theta[0].item(), theta[1].item()
