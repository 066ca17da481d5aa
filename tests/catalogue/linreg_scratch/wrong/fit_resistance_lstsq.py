# question: fit_resistance
# why: solves the least-squares problem with torch.linalg.lstsq instead of learning it with autograd
def fit_resistance(current, voltage):
    """Learn V = R * I + offset by gradient descent with autograd; return (R, offset) as floats."""
    I = torch.as_tensor(current).reshape(-1, 1).double()
    V = torch.as_tensor(voltage).reshape(-1, 1).double()
    A = torch.cat([I, torch.ones_like(I)], dim=1)
    solution = torch.linalg.lstsq(A.cpu(), V.cpu()).solution
    return float(solution[0]), float(solution[1])
