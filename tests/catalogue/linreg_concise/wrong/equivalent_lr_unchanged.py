# question: equivalent_lr
# why: keeps the learning rate, as if the reduction did not change the gradient
def equivalent_lr(lr, batch_size):
    """Learning rate for the mean loss that matches the summed loss at lr."""
    return lr
