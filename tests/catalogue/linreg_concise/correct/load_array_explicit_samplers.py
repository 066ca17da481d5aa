# question: load_array
# why: chooses the sampler explicitly: RandomSampler for training, SequentialSampler otherwise
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    dataset = data.TensorDataset(*data_arrays)
    sampler = data.RandomSampler(dataset) if is_train else data.SequentialSampler(dataset)
    return data.DataLoader(dataset, batch_size=batch_size, sampler=sampler)
