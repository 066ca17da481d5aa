# question: batch_sizes
# why: always appends the remainder, so an exact division ends with an extra batch of size 0 (one batch too many)
def batch_sizes(num_examples, batch_size):
    """The sizes of the minibatches that data_iter yields, in order."""
    sizes = [batch_size] * (num_examples // batch_size)
    sizes.append(num_examples % batch_size)
    return sizes
