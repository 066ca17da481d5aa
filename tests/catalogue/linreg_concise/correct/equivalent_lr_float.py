# question: equivalent_lr
# why: writes the product the other way round, as a float
def equivalent_lr(lr, batch_size):
    """Learning rate for the mean loss that matches the summed loss at lr."""
    return float(batch_size * lr)
