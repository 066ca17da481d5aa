# question: lr_sweep
# why: never passes num_epochs on to train, so every sweep runs train's default 3 epochs
def lr_sweep(features, labels, lrs, num_epochs=3):
    """Return {lr: epoch losses} from training fresh parameters at each learning rate."""
    results = {}
    for lr in lrs:
        w, b = init_params(features.shape[1], device=features.device)
        results[lr] = train(features, labels, w, b, lr=lr)
    return results
