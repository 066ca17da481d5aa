# question: lr_sweep
# why: returns a list of loss curves in the order of lrs instead of a dict keyed by learning rate
def lr_sweep(features, labels, lrs, num_epochs=3):
    """Return {lr: epoch losses} from training fresh parameters at each learning rate."""
    all_losses = []
    for lr in lrs:
        w, b = init_params(features.shape[1], device=features.device)
        all_losses.append(train(features, labels, w, b, lr=lr, num_epochs=num_epochs))
    return all_losses
