# question: data_iter
# why: a while loop over a shuffled Python list of indices
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    indices = list(range(len(features)))
    random.shuffle(indices)
    i = 0
    while i < len(indices):
        batch = torch.tensor(indices[i:i + batch_size], device=features.device)
        yield features[batch], labels[batch]
        i += batch_size
