# question: data_iter
# why: shuffles the features and the labels with two different permutations, so rows no longer match
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    num_examples = len(features)
    x_order = torch.randperm(num_examples, device=features.device)
    y_order = torch.randperm(num_examples, device=labels.device)
    for i in range(0, num_examples, batch_size):
        yield features[x_order[i: i + batch_size]], labels[y_order[i: i + batch_size]]
