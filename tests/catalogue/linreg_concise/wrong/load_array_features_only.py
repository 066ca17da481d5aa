# question: load_array
# why: wraps only the features, so the batches carry no labels
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    dataset = data.TensorDataset(data_arrays[0])
    return data.DataLoader(dataset, batch_size, shuffle=is_train)
