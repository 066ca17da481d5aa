# question: batch_sizes
# why: counts only the full batches and forgets the smaller last one
def batch_sizes(num_examples, batch_size):
    """The sizes of the minibatches that data_iter yields, in order."""
    return [batch_size] * (num_examples // batch_size)
