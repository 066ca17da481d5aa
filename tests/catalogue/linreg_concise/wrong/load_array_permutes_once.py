# question: load_array
# why: permutes the data once when the loader is built, so every pass has the same order
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    if is_train:
        order = torch.randperm(len(data_arrays[0]))
        data_arrays = tuple(array[order.to(array.device)] for array in data_arrays)
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=False)
