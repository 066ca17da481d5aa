# question: load_array
# why: shuffles exactly when it should not (shuffle=not is_train)
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=not is_train)
