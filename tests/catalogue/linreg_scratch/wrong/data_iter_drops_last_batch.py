# question: data_iter
# why: only yields full batches, so the last num_examples % batch_size examples are never seen
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(num_examples // batch_size):
        batch_indices = torch.tensor(indices[i * batch_size: (i + 1) * batch_size], device=features.device)
        yield features[batch_indices], labels[batch_indices]
