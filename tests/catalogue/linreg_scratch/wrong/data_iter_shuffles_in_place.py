# question: data_iter
# why: shuffles the caller's features and labels in place before slicing them
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    num_examples = len(features)
    order = torch.randperm(num_examples, device=features.device)
    features[:] = features[order]
    labels[:] = labels[order]
    for i in range(0, num_examples, batch_size):
        yield features[i: i + batch_size], labels[i: i + batch_size]
