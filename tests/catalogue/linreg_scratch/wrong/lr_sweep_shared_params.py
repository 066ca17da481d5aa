# question: lr_sweep
# why: initialises w and b once, so each learning rate continues from the previous one's trained parameters
def lr_sweep(features, labels, lrs, num_epochs=3):
    """Return {lr: epoch losses} from training fresh parameters at each learning rate."""
    w, b = init_params(features.shape[1], device=features.device)
    results = {}
    for lr in lrs:
        results[lr] = train(features, labels, w, b, lr=lr, num_epochs=num_epochs)
    return results
