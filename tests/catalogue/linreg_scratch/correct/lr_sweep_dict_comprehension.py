# question: lr_sweep
# why: a dict comprehension, unpacking fresh parameters straight into train
def lr_sweep(features, labels, lrs, num_epochs=3):
    """Return {lr: epoch losses} from training fresh parameters at each learning rate."""
    return {lr: train(features, labels, *init_params(features.shape[1], features.device), lr=lr, num_epochs=num_epochs)
            for lr in lrs}
