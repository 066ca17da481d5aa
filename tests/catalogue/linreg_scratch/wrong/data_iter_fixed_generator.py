# question: data_iter
# why: shuffles with its own generator seeded to 42 on each call, so the permutation is the same every pass
def data_iter(batch_size, features, labels):
    """Yield (X_batch, y_batch) minibatches of the examples in a random order."""
    num_examples = len(features)
    generator = torch.Generator().manual_seed(42)
    indices = torch.randperm(num_examples, generator=generator).to(features.device)
    for i in range(0, num_examples, batch_size):
        batch_indices = indices[i: i + batch_size]
        yield features[batch_indices], labels[batch_indices]
