# question: data_iter
# why: builds and returns a list of (X, y) batches instead of a generator
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    perm = torch.randperm(len(features)).to(features.device)
    batches = []
    for i in range(0, len(features), batch_size):
        idx = perm[i:i + batch_size]
        batches.append((features[idx], labels[idx]))
    return batches
