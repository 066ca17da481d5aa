# question: data_iter
# why: yields only the feature batches and forgets the labels
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)], device=features.device)
        yield features[batch_indices]
