# question: batch_sizes
# why: stops the range at num_examples - batch_size, one batch too early, losing the last batch
def batch_sizes(num_examples, batch_size):
    """The sizes of the minibatches that data_iter yields, in order."""
    sizes = []
    for i in range(0, num_examples - batch_size, batch_size):
        sizes.append(min(batch_size, num_examples - i))
    return sizes
