# question: batch_sizes
# why: arithmetic with math.ceil: full batches, then whatever is left for the last one
def batch_sizes(num_examples, batch_size):
    """The sizes of the minibatches that data_iter yields, in order."""
    count = math.ceil(num_examples / batch_size)
    return [batch_size] * (count - 1) + [num_examples - batch_size * (count - 1)] if count else []
