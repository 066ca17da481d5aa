# question: equivalent_lr
# why: applies the square-root scaling rule, lr * sqrt(batch_size), which is not an exact equivalence
def equivalent_lr(lr, batch_size):
    """Learning rate for the mean loss that matches the summed loss at lr."""
    return lr * batch_size ** 0.5
