# question: data_iter
# why: a torch.randperm on the data's device, sliced into batches
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    num_examples = features.shape[0]
    order = torch.randperm(num_examples, device=features.device)
    for start in range(0, num_examples, batch_size):
        batch = order[start: start + batch_size]
        yield features[batch], labels[batch]
