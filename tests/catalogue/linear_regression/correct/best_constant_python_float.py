# question: best_constant
# why: returns the mean as a Python number, which the contract accepts
def best_constant(x):
    """Return the b that minimises sum((x_i - b)**2) over the data x."""
    return torch.mean(x).item()
