# question: load_array
# why: imports the classes by name and passes every option by keyword
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    from torch.utils.data import DataLoader, TensorDataset
    features, labels = data_arrays
    return DataLoader(TensorDataset(features, labels), batch_size=batch_size, shuffle=bool(is_train), drop_last=False)
