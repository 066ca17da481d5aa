# question: load_array
# why: builds the minibatches with a BatchSampler over the chosen sampler
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    dataset = data.TensorDataset(*data_arrays)
    sampler = data.RandomSampler(dataset) if is_train else data.SequentialSampler(dataset)
    return data.DataLoader(dataset, batch_sampler=data.BatchSampler(sampler, batch_size, drop_last=False))
