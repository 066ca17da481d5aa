# question: equivalent_lr
# why: divides by the batch size instead of multiplying
def equivalent_lr(lr, batch_size):
    """Learning rate for the mean loss that matches the summed loss at lr."""
    return lr / batch_size
