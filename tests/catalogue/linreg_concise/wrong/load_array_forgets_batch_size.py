# question: load_array
# why: does not pass batch_size, so the DataLoader yields one example at a time
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, shuffle=is_train)
