# question: batch_sizes
# why: arithmetic with divmod, adding the remainder only when there is one
def batch_sizes(num_examples, batch_size):
    """The sizes of the minibatches that data_iter yields, in order."""
    full, rest = divmod(num_examples, batch_size)
    sizes = [batch_size] * full
    if rest:
        sizes.append(rest)
    return sizes
