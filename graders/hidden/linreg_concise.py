"""Hidden checks for linreg_concise (d2l 3.3): random inputs, statistics, edge cases, CUDA.

Statistical bounds are set so that a correct answer fails less than once in
a million runs (each bound is at least six standard errors from the truth).
Expected values are computed here, in the grading process, with torch's own
layers and losses; the student's side only sends back values.
"""

import math

import pytest
import torch
from torch import nn

from d2lgrade import wire
from d2lgrade.checks import describe, expect, expect_close, expect_floats, expect_scalar, expect_tensor, fail
from d2lgrade.wire import Code
from public.linreg_concise import (  # shared with the public checks, and all that is sent to the student's side
    TRUE_W, TRUE_B, SEQUENTIAL, LINEAR, NET, HUBER, LOADER, RECORDED_TRAINING, GRADS, HUBER_TRAINING, LOSS, _linear_layer,
)

question = pytest.mark.question


def _synthetic(n, w=TRUE_W, b=TRUE_B, device="cpu"):
    X = torch.randn(n, len(w))
    y = (X @ w + b + 0.01 * torch.randn(n)).reshape(-1, 1)
    return X.to(device), y.to(device)


# ------------------------------------------------------------------ load_array


def _indexed(n, device="cpu"):
    """Features whose first column is the example's index, and labels that follow from it."""
    features = torch.stack([torch.arange(n, dtype=torch.float32), torch.randn(n)], dim=1).to(device)
    return features, 3 * features[:, :1] + 1


def _load(student, n, batch_size, passes=1, device="cpu", **options):
    features, labels = _indexed(n, device)
    return student.run("load_array", Code(LOADER, result="out", inputs={
        "arrays": (features, labels), "batch_size": batch_size, "options": options, "passes": passes}))


def _order(batches, device="cpu"):
    """The example indices of one pass, checking that every batch is a pair with paired rows."""
    order = []
    for batch in batches:
        expect(isinstance(batch, list) and len(batch) == 2,
               f"Each minibatch should be a pair (X, y), but one is {describe(batch)}.",
               "Wrap both tensors: data.TensorDataset(*data_arrays).")
        X, y = batch
        expect_tensor("each X batch", X, device=device)
        expect_tensor("each y batch", y, device=device)
        expect(X.dim() == 2 and X.shape[1] == 2, f"Each X batch should be rows of the features, shaped (batch size, 2), "
               f"but one has shape {tuple(X.shape)}.", "Wrap the tensors as they are: data.TensorDataset(*data_arrays).")
        expect_close("each y batch", y, 3 * X[:, :1] + 1, hint="Keep the features and labels paired: one TensorDataset over both.")
        order += [int(i) for i in X[:, 0].tolist()]
    return order


def _sizes(sizes):
    """Batch sizes, shortened when there are many."""
    return str(sizes) if len(sizes) <= 12 else f"[{sizes[0]}, {sizes[1]}, ..., {sizes[-1]}] ({len(sizes)} batches)"


def _expect_every_example_once(order, n):
    if sorted(order) != list(range(n)):
        missing, repeated = n - len(set(order) & set(range(n))), len(order) - len(set(order))
        fail(f"A pass over {n} examples should give every example exactly once, but {missing} were missing and {repeated} repeated. "
             "Keep the last, smaller batch (drop_last=False, the default) and let the DataLoader shuffle without replacement.")


def _shuffle_hint(out):
    return f" Its sampler is a {out['sampler']}." if out.get("sampler") not in (None, "NoneType") else ""


@question("load_array")
def test_load_array_is_a_dataloader(student):
    """load_array returns a DataLoader over a TensorDataset"""
    out = _load(student, 12, 4)
    expect(out["is_loader"], f"`load_array` should return a data.DataLoader, but it returned a {out['type'].rsplit('.', 1)[-1]}.",
           "Return data.DataLoader(dataset, batch_size, shuffle=is_train).")
    expect(out["is_tensor_dataset"], f"The DataLoader should read a data.TensorDataset, but it reads a {out['dataset']}.",
           "Build the dataset with data.TensorDataset(*data_arrays).")


@question("load_array")
@pytest.mark.parametrize("is_train", [True, False])
def test_load_array_uneven_last_batch(student, is_train):
    """with 103 examples and batches of 10, the last batch has 3 examples and every example appears once"""
    out = _load(student, 103, 10, is_train=is_train)
    (batches,) = out["passes"]
    order = _order(batches)
    sizes = [len(batch[0]) for batch in batches]
    expect(sizes == [10] * 10 + [3], f"The batch sizes should be ten 10s and then 3, but they are {_sizes(sizes)}.",
           "Pass batch_size to the DataLoader and keep the last, smaller batch (drop_last=False, the default).")
    _expect_every_example_once(order, 103)


@question("load_array")
def test_load_array_shuffles_differently_each_pass(student):
    """with is_train=True the order is random and differs between passes"""
    out = _load(student, 50, 10, passes=2, is_train=True)
    first, second = (_order(batches) for batches in out["passes"])
    _expect_every_example_once(first, 50)
    expect(first != list(range(50)), "With is_train=True the examples came in their stored order." + _shuffle_hint(out),
           "Shuffle the training data: data.DataLoader(dataset, batch_size, shuffle=is_train).")
    expect(first != second, "With is_train=True two passes over the DataLoader gave the same order.",
           "Let the DataLoader shuffle on every pass (shuffle=True) instead of permuting the data once.")


@question("load_array")
def test_load_array_keeps_the_order_when_not_training(student):
    """with is_train=False every pass reads the examples in their stored order"""
    out = _load(student, 37, 8, passes=2, is_train=False)
    for number, batches in enumerate(out["passes"], 1):
        order = _order(batches)
        _expect_every_example_once(order, 37)
        expect(order == list(range(37)),
               f"With is_train=False pass {number} should read the examples in their stored order, but it did not." + _shuffle_hint(out),
               "Shuffle only when is_train is true: shuffle=is_train.")


@question("load_array")
def test_load_array_shuffles_by_default(student):
    """load_array shuffles when is_train is left at its default"""
    out = _load(student, 40, 10)
    order = _order(out["passes"][0])
    expect(order != list(range(40)), "With is_train left at its default the examples came in their stored order.",
           "The default is is_train=True, which shuffles.")


@question("load_array")
def test_load_array_device(student, device):
    """batches stay on the device of the data"""
    out = _load(student, 20, 6, device=device)
    _expect_every_example_once(_order(out["passes"][0], device=device), 20)


# ------------------------------------------------------------------ make_net


@question("make_net")
@pytest.mark.parametrize("num_inputs", [1, 7, 64])
def test_make_net_sizes(student, num_inputs):
    """make_net(num_inputs) maps num_inputs features to one output"""
    weight, bias = _linear_layer(student.make_net(num_inputs), f"`make_net({num_inputs})`")
    expect_tensor(f"the weight of `make_net({num_inputs})`", weight, shape=(1, num_inputs),
                  hint="Use nn.Linear(num_inputs, 1): its weight has shape (1, num_inputs).")
    expect_tensor(f"the bias of `make_net({num_inputs})`", bias, shape=(1,))


@question("make_net")
def test_make_net_weight_statistics(student):
    """the weights are drawn from N(0, 0.01**2)"""
    weight, _ = _linear_layer(student.make_net(5000), "`make_net(5000)`")
    weight = expect_tensor("the weight of `make_net(5000)`", weight, shape=(1, 5000)).double()
    n = weight.numel()
    mean, std = float(weight.mean()), float(weight.std())
    kurtosis = float(((weight - weight.mean()) ** 4).mean() / weight.var(unbiased=False) ** 2)
    # Standard errors: 0.01/sqrt(n) for the mean, 0.01/sqrt(2n) = 1e-4 for the std, sqrt(24/n) = 0.07 for the kurtosis.
    hint = "Draw the weights with net[0].weight.data.normal_(0, 0.01): mean 0 and standard deviation 0.01."
    if abs(std - 1 / math.sqrt(3 * n)) < 0.001:
        hint = "These are nn.Linear's default (uniform) weights: overwrite them with net[0].weight.data.normal_(0, 0.01)."
    elif abs(std - 1e-4) < 1e-5:
        hint = "0.01 is the standard deviation, not the variance: normal_(0, 0.01)."
    expect(abs(mean) < 6 * 0.01 / math.sqrt(n) and abs(std - 0.01) < 0.001 and abs(kurtosis - 3) < 0.6,
           f"The weights should be N(0, 0.01**2), but they have mean {mean:.3g}, standard deviation {std:.3g} "
           f"and kurtosis {kurtosis:.2f} (a normal's is 3).", hint)


@question("make_net")
def test_make_net_zero_bias(student):
    """the bias starts at zero"""
    for num_inputs in (1, 500):
        _, bias = _linear_layer(student.make_net(num_inputs), f"`make_net({num_inputs})`")
        expect_close(f"the bias of `make_net({num_inputs})`", bias, torch.zeros(1),
                     hint="Set the bias to zero after building the layer: net[0].bias.data.fill_(0).")


@question("make_net")
def test_make_net_parameters_are_trainable(student):
    """the weight and bias are parameters that require grad"""
    info = student.make_net(4)
    _linear_layer(info, "`make_net(4)`")
    expect(len(info.parameters) == 2 and all(p.requires_grad for p in info.parameters.values()),
           f"The net should have two trainable parameters (weight and bias), but it has {sorted(info.parameters)}"
           f" with requires_grad {[p.requires_grad for p in info.parameters.values()]}.",
           "Change the values in place (weight.data.normal_ or nn.init.normal_) instead of replacing the parameters.")


# ------------------------------------------------------------------ train


def _start(num_inputs, device="cpu"):
    return 0.01 * torch.randn(1, num_inputs, device=device), torch.zeros(1, device=device)


def _after(outcome, inputs):
    """The weight and bias of the net after `train`, checked to be what its layer holds: (1, inputs) and (1,)."""
    weight, bias = _linear_layer(outcome.args[0], "the net after `train`")
    weight = expect_tensor("the weight of the net after `train`", weight, shape=(1, inputs))
    bias = expect_tensor("the bias of the net after `train`", bias, shape=(1,))
    return weight.detach().cpu(), bias.detach().cpu()


def _fit_error(outcome):
    weight, bias = _after(outcome, len(TRUE_W))
    return max(float((weight.reshape(-1) - TRUE_W).abs().max()), abs(float(bias.reshape(-1)[0]) - TRUE_B))


def _full_batch_descent(X, y, w, b, loss, lr, num_epochs):
    """Gradient descent on the whole data set: what train does when batch_size is the data set's size.

    Returns the final (weight, bias), the loss after each step, and the loss before each step.
    """
    weight, bias = w.double().clone().requires_grad_(), b.double().clone().requires_grad_()
    X, y = X.double(), y.double().reshape(-1, 1)
    after, before = [], []
    for _ in range(num_epochs):
        value = loss(X @ weight.T + bias, y)
        before.append(float(value))
        grad_w, grad_b = torch.autograd.grad(value, (weight, bias))
        with torch.no_grad():
            weight -= lr * grad_w
            bias -= lr * grad_b
            after.append(float(loss(X @ weight.T + bias, y)))
    return weight.detach(), bias.detach(), after, before


def _close_lists(a, b, rtol=1e-3):
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=rtol, abs_tol=1e-7) for x, y in zip(a, b))


def _check_full_batch(student, loss_source, loss, what):
    n, lr, num_epochs = 200, 0.1, 4
    w_true, b_true = torch.randn(3), float(torch.randn(()))
    X, y = _synthetic(n, w_true, b_true)
    w, b = _start(3)
    kwargs = {} if loss_source is None else {"loss": Code(LOSS, result="loss", inputs=loss_source)}
    outcome = student.call("train", Code(NET, result="net", inputs={"w": w, "b": b}), X, y,
                           lr=lr, num_epochs=num_epochs, batch_size=n, **kwargs)
    losses = expect_floats("the losses `train` returns", outcome.value, length=num_epochs, hint="Run num_epochs epochs, one loss each.")
    weight, bias, after, before = _full_batch_descent(X, y, w, b, loss, lr, num_epochs)
    got_w, got_b = _after(outcome, 3)
    settings = f"lr={lr}, num_epochs={num_epochs} and batch_size={n} (one batch per epoch)"
    expect_close(f"the weight after `train` with {what}, {settings}", got_w, weight,
                 hint=f"Minimise {what} with torch.optim.SGD(net.parameters(), lr=lr) over minibatches of batch_size, "
                      "zeroing the gradients before each backward pass.")
    expect_close(f"the bias after `train` with {what}, {settings}", got_b, bias)
    if not _close_lists(losses, after):
        hint = "After each epoch compute the loss of the whole data set with the same loss function, without recording gradients."
        if _close_lists(losses, before):
            hint = "These are minibatch losses computed before the updates; compute the loss on the whole data set after each epoch."
        elif _close_lists(losses, [n * v for v in after]):
            hint = "These are summed over the examples; report the loss function's own (mean) value."
        fail(f"With {what}, the losses should be {[round(v, 5) for v in after]}, but `train` returned {[round(v, 5) for v in losses]}. {hint}")


@question("train")
def test_train_default_loss_and_settings(student):
    """with loss=None train minimises nn.MSELoss() with the given lr, num_epochs and batch_size"""
    _check_full_batch(student, None, nn.MSELoss(), "the default loss nn.MSELoss()")


@question("train")
def test_train_uses_the_given_loss(student):
    """train minimises the loss it is given and reports that loss"""
    _check_full_batch(student, {"name": "SmoothL1Loss", "options": {"beta": 0.5}}, nn.SmoothL1Loss(beta=0.5),
                      "loss=nn.SmoothL1Loss(beta=0.5)")


@question("train")
def test_train_shuffled_minibatches(student):
    """train steps on every example once per epoch, in minibatches of batch_size, in a new random order each epoch"""
    n, batch_size, num_epochs = 60, 8, 2
    features = torch.randn(n, 2)
    labels = torch.arange(n, dtype=torch.float32).reshape(-1, 1)
    w, b = _start(2)
    out = student.run("train", Code(RECORDED_TRAINING, result="out", inputs={
        "w": w, "b": b, "features": features, "labels": labels, "lr": 1e-4, "num_epochs": num_epochs, "batch_size": batch_size}))
    calls, stepped = out["calls"], sorted(set(out["stepped"]))
    expect(len(calls) > 0, "`train` never called the loss function it was given.",
           "Use the `loss` argument (nn.MSELoss() only when it is None).")
    seen = [label for index in stepped for label in calls[index]]
    sizes = [len(calls[index]) for index in stepped]
    expect(len(seen) == num_epochs * n,
           f"Over {num_epochs} epochs of {n} examples the training steps should see {num_epochs * n} examples, but they saw {len(seen)}.",
           "Step once per minibatch of load_array((features, labels), batch_size), num_epochs times.")
    epochs = [seen[i * n:(i + 1) * n] for i in range(num_epochs)]
    expected_sizes = [batch_size] * (n // batch_size) + [n % batch_size]
    expect(sizes == expected_sizes * num_epochs,
           f"The minibatches should have sizes {expected_sizes} in each epoch, but they had {_sizes(sizes)} over {num_epochs} epochs.",
           "Pass batch_size to load_array.")
    for epoch in epochs:
        expect(sorted(epoch) == list(range(n)), "Each epoch should step on every example exactly once.")
    expect(epochs[0] != list(range(n)), "`train` read the examples in their stored order.",
           "Shuffle the training data: load_array((features, labels), batch_size) with is_train=True, the default.")
    expect(epochs[0] != epochs[1], "`train` read the examples in the same order in both epochs.",
           "Iterate over a shuffling DataLoader in every epoch instead of one fixed order.")


@question("train")
def test_train_flat_labels(student):
    """train works with labels of shape (n,)"""
    features, labels = _synthetic(1000)
    w, b = _start(2)
    outcome = student.call("train", Code(NET, result="net", inputs={"w": w, "b": b}), features, labels.reshape(-1))
    expect_floats("the losses `train` returns", outcome.value, length=3)
    error = _fit_error(outcome)
    expect(error < 0.01, f"With labels of shape (n,), training should still get within 0.01 of w and b, but the error is {error:.3g}.",
           "Reshape the labels to (n, 1) to match net's output; otherwise the loss broadcasts to (n, n).")


@question("train")
def test_train_device(student, device):
    """train converges with the net and the data on the device"""
    features, labels = _synthetic(1000, device=device)
    w, b = _start(2, device)
    outcome = student.call("train", Code(NET, result="net", inputs={"w": w, "b": b}), features, labels)
    expect_floats("the losses `train` returns", outcome.value, length=3)
    error = _fit_error(outcome)
    expect(error < 0.01, f"After training on {device}, w and b should be within 0.01 of the truth, but the error is {error:.3g}.",
           "Keep everything on the data's device; turn a loss into a float with float(l) or l.item().")


# ------------------------------------------------------------------ equivalent_lr


@question("equivalent_lr")
@pytest.mark.parametrize("lr, batch_size", [(0.001, 256), (0.5, 1), (0.07, 3), (1e-4, 64)])
def test_equivalent_lr_values(student, lr, batch_size):
    """equivalent_lr(lr, batch_size) is lr * batch_size"""
    got = expect_scalar(f"`equivalent_lr({lr}, {batch_size})`", student.equivalent_lr(lr, batch_size))
    expect(math.isclose(got, lr * batch_size, rel_tol=1e-9),
           f"`equivalent_lr({lr}, {batch_size})` should be {lr * batch_size:.6g}, but it is {got:.6g}.",
           "The mean loss's gradient is the summed loss's divided by batch_size, so the learning rate must grow by batch_size.")


def _train_in_order(X, y, w, b, reduction, lr, batch_size, num_epochs=3):
    """Minibatch SGD without shuffling, in float64, with nn.MSELoss(reduction=reduction).

    The step is torch.optim.SGD's (``p -= lr * p.grad``), written out: this runs in the grading
    process, where a first torch.optim.SGD imports torch._dynamo (seconds of CPU per worker)."""
    net = nn.Linear(X.shape[1], 1).double()
    with torch.no_grad():
        net.weight.copy_(w)
        net.bias.copy_(b)
    loss = nn.MSELoss(reduction=reduction)
    for _ in range(num_epochs):
        for start in range(0, len(X), batch_size):
            net.zero_grad()
            loss(net(X[start:start + batch_size]), y[start:start + batch_size]).backward()
            with torch.no_grad():
                for parameter in net.parameters():
                    parameter.add_(parameter.grad, alpha=-lr)
    return net.weight.detach(), net.bias.detach()


@question("equivalent_lr")
@pytest.mark.parametrize("lr, batch_size", [(0.002, 8), (0.0005, 32)])
def test_equivalent_lr_trains_identically(student, lr, batch_size):
    """mean loss at equivalent_lr ends with the same parameters as summed loss at lr"""
    got = expect_scalar(f"`equivalent_lr({lr}, {batch_size})`", student.equivalent_lr(lr, batch_size))
    X, y = _synthetic(8 * batch_size, torch.randn(3), 0.5)
    X, y = X.double(), y.double()
    w, b = _start(3)
    summed = _train_in_order(X, y, w, b, "sum", lr, batch_size)
    mean = _train_in_order(X, y, w, b, "mean", got, batch_size) if math.isfinite(got) else (torch.full_like(w, math.nan), b)
    difference = float((summed[0] - mean[0]).abs().max())
    expect(torch.allclose(summed[0], mean[0], rtol=1e-6, atol=1e-9) and torch.allclose(summed[1], mean[1], rtol=1e-6, atol=1e-9),
           f"Training with nn.MSELoss(reduction='sum') at lr={lr} and with nn.MSELoss() at equivalent_lr({lr}, {batch_size}) = {got:.6g} "
           f"on equal batches of {batch_size}, in the same order, should end with the same weights, but they differ by up to {difference:.3g}.",
           "The mean loss's gradient is the summed loss's divided by batch_size, so the learning rate must grow by batch_size.")


# ------------------------------------------------------------------ HuberLoss


def _huber(student, y_hat, y, **options):
    return student.run("HuberLoss", Code(HUBER, result="out", inputs={"y_hat": y_hat, "y": y, "options": options}))


def _expected(y_hat, y, sigma):
    """Value and gradient of nn.SmoothL1Loss(beta=sigma), which is HuberLoss(sigma), computed here."""
    y_hat = y_hat.detach().clone().requires_grad_(True)
    value = nn.SmoothL1Loss(beta=sigma)(y_hat, y.reshape(y_hat.shape))
    value.backward()
    return value.detach(), y_hat.grad


def _huber_hint(got, y_hat, y, sigma):
    """The likely mistake behind a wrong value."""
    d = (y_hat - y.reshape(y_hat.shape)).double()
    right = float(nn.SmoothL1Loss(beta=sigma)(d, torch.zeros_like(d)))
    abs_d = d.abs()
    broadcast = (y_hat.double() - y.double()).abs()
    broadcast = float(torch.where(broadcast > sigma, broadcast - sigma / 2, broadcast ** 2 / (2 * sigma)).mean())
    batch_branch = float((abs_d - sigma / 2).mean() if abs_d.mean() > sigma else (d ** 2 / (2 * sigma)).mean())
    candidates = [
        (sigma * right, "This is nn.HuberLoss(delta=sigma), which is sigma times the loss asked for: divide the quadratic part by sigma, "
                        "abs(d) - sigma/2 above sigma and d**2 / (2*sigma) below."),
        (d.numel() * right, "This is the sum over the elements; return the mean."),
        (broadcast, f"y of shape {tuple(y.shape)} was broadcast against y_hat of shape {tuple(y_hat.shape)}: reshape y to y_hat's shape first."),
        (batch_branch, "The branch was chosen once for the whole batch; choose it per element, e.g. with torch.where(abs(d) > sigma, ...)."),
        (float(nn.SmoothL1Loss(beta=1.0)(d, torch.zeros_like(d))), "This is the loss for sigma=1: use self.sigma."),
        (float(torch.where(abs_d > sigma, abs_d - sigma / 2, d ** 2 / 2).mean()), "Below sigma the loss is d**2 / (2*sigma), not d**2 / 2."),
        (float(torch.where(abs_d > sigma, abs_d - sigma / 2, d ** 2 * sigma / 2).mean()),
         "Mind the precedence: d**2 / 2*sigma is (d**2 / 2) * sigma; write d**2 / (2*sigma)."),
    ]
    for value, hint in candidates:
        if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-7) and not math.isclose(value, right, rel_tol=1e-4, abs_tol=1e-7):
            return hint
    return "Per element: abs(d) - sigma/2 if abs(d) > sigma, else d**2 / (2*sigma); then the mean over all elements."


def _check_huber_value(what, out, y_hat, y, sigma, device=None):
    expect(out["module"], "`HuberLoss(...)` should be an nn.Module.", "Subclass nn.Module and call super().__init__().")
    value = out["value"]
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        fail(f"{what} should be a single number (the mean over all elements), but it is {describe(value)}."
             + (" The labels of shape (n,) were broadcast against y_hat of shape (n, 1): reshape y to y_hat's shape."
                if value.dim() == 2 and value.shape[0] == value.shape[1] == y.shape[0] else " Take the mean over all elements."))
    if device is not None:
        expect_tensor(what, value, device=device, hint="Compute with tensor operations so the result stays on the inputs' device.")
    got = expect_scalar(what, value, hint="Return the mean over all elements, a single number.")
    expected, _ = _expected(y_hat, y, sigma)
    if not math.isclose(got, float(expected), rel_tol=1e-4, abs_tol=1e-6):
        fail(f"{what} should be {float(expected):.6g} (nn.SmoothL1Loss(beta={sigma:g})), but it is {got:.6g}. "
             + _huber_hint(got, y_hat.cpu(), y.cpu(), sigma))


def _errors(shape, sigma):
    """Errors of both signs, some below sigma and some above it."""
    scale = torch.where(torch.rand(shape) < 0.5, 0.6 * sigma, 3.0 * sigma)
    return scale * torch.randn(shape)


HUBER_CASES = {
    # name: (y_hat shape, y shape, sigma or None for the default, errors)
    "mixed": ((50, 1), (50, 1), 0.3, "mixed"),
    "flat_labels": ((40, 1), (40,), 2.5, "mixed"),
    "default_sigma": ((64,), (64,), None, "mixed"),
    "matrix": ((8, 3), (8, 3), 0.7, "mixed"),
    "quadratic": ((30, 1), (30, 1), 2.0, "small"),
    "linear": ((30, 1), (30, 1), 0.1, "large"),
}


def _case(name, device="cpu"):
    shape, y_shape, sigma, kind = HUBER_CASES[name]
    s = 1.0 if sigma is None else sigma
    if kind == "mixed":
        d = _errors(shape, s)
    elif kind == "small":
        d = (2 * torch.rand(shape) - 1) * 0.95 * s
    else:
        d = torch.sign(torch.randn(shape)) * s * (1.5 + 3 * torch.rand(shape))
    y = torch.randn(y_shape)
    y_hat = y.reshape(shape) + d
    options = {} if sigma is None else {"sigma": sigma}
    return y_hat.to(device), y.to(device), s, options


@question("HuberLoss")
@pytest.mark.parametrize("case", list(HUBER_CASES))
def test_huber_values(student, case):
    """HuberLoss(sigma) equals nn.SmoothL1Loss(beta=sigma) for several sigma, shapes and both regimes"""
    y_hat, y, sigma, options = _case(case)
    out = _huber(student, y_hat, y, **options)
    call = f"`HuberLoss({'sigma=' + format(sigma, 'g') if options else ''})(y_hat, y)`"
    _check_huber_value(f"{call} with y_hat of shape {tuple(y_hat.shape)} and y of shape {tuple(y.shape)}", out, y_hat, y, sigma)


@question("HuberLoss")
@pytest.mark.parametrize("case", ["mixed", "flat_labels", "linear"])
def test_huber_gradients(student, case):
    """the gradient of HuberLoss with respect to y_hat equals nn.SmoothL1Loss(beta=sigma)'s"""
    y_hat, y, sigma, options = _case(case)
    out = _huber(student, y_hat, y, **options)
    call = f"`HuberLoss(sigma={sigma:g})(y_hat, y)`"
    _check_huber_value(call, out, y_hat, y, sigma)
    expect(out["grad"] is not None, "No gradient flowed from `HuberLoss` back to y_hat.",
           "Compute the loss with torch operations on y_hat (no .item(), .detach() or Python numbers) and return the tensor.")
    _, expected = _expected(y_hat, y, sigma)
    expect_close(f"the gradient of {call} with respect to y_hat", out["grad"], expected,
                 hint="The gradient is sign(d) / N above sigma and d / (sigma * N) below it, for N elements.")


@question("HuberLoss")
@pytest.mark.parametrize("side", ["mean_above_sigma", "mean_below_sigma"])
def test_huber_branch_per_element(student, side):
    """the branch is chosen per element, not from the batch's mean error"""
    sigma = float(torch.empty(()).uniform_(0.5, 2.0))
    small = sigma * torch.tensor([0.1, -0.2, 0.3, 0.25])
    large = sigma * (torch.tensor([6.0, -5.0]) if side == "mean_above_sigma" else torch.tensor([2.0]))
    # mean |d| is 11.85 sigma / 6 (above sigma) or 2.85 sigma / 5 (below it); four elements are below sigma either way.
    d = torch.cat([small, large])
    d = d[torch.randperm(len(d))].reshape(-1, 1)
    y = torch.randn(len(d), 1)
    out = _huber(student, y + d, y, sigma=sigma)
    _check_huber_value(f"`HuberLoss(sigma={sigma:.3g})` on errors {[round(v, 3) for v in d.reshape(-1).tolist()]}", out, y + d, y, sigma)


@question("HuberLoss")
def test_huber_training_converges(student):
    """fitting with HuberLoss(sigma=1.0) recovers w and b to within 0.01"""
    # 200 examples: full-batch steps converge as fast as on 1000, and a HuberLoss that loops over the
    # elements in Python (a correct alternative) takes a fifth of the time.
    features, labels = _synthetic(200)
    steps = 100
    loss, weight, bias = student.run("HuberLoss", Code(HUBER_TRAINING, result="out", inputs={
        "features": features, "labels": labels, "lr": 1.0, "steps": steps}))
    expect_scalar("the final loss", loss)
    expect_tensor("the fitted weight", weight, shape=(1, 2))
    expect_tensor("the fitted bias", bias, shape=(1,))
    error = max(float((weight.cpu().reshape(-1) - TRUE_W).abs().max()), abs(float(bias.cpu().reshape(-1)[0]) - TRUE_B))
    expect(error == error and error < 0.01,
           f"After {steps} steps of gradient descent with `HuberLoss(sigma=1.0)` (lr=1), w and b should be within 0.01 "
           f"of the truth, but the largest error is {error:.3g}.",
           "The loss must be differentiable through torch operations and average over the minibatch.")


@question("HuberLoss")
def test_huber_device(student, device):
    """HuberLoss works on the device of its inputs"""
    y_hat, y, sigma, options = _case("mixed", device)
    out = _huber(student, y_hat, y, **options)
    _check_huber_value(f"`HuberLoss(sigma={sigma:g})(y_hat, y)` on {device}", out, y_hat, y, sigma, device=device)


# ------------------------------------------------------------------ get_grads


def _grads_case(student, reference, *, lead, device="cpu"):
    w, b = torch.randn(1, 4, device=device), torch.randn(1, device=device)
    batches = []
    for _ in range(3):
        X = torch.randn(6, 4, device=device)
        batches.append((X, X @ torch.randn(4, 1, device=device) + 0.1 * torch.randn(6, 1, device=device)))
    inputs = {"w": w, "b": b, "batches": batches, "lead": lead}
    got = student.get_grads(Code(GRADS, result="net", inputs=inputs))
    expected = reference.run("get_grads", Code(GRADS + "out = (linear.weight.grad, linear.bias.grad, linear.weight.detach(), linear.bias.detach())\n",
                                               result="out", inputs=inputs))
    return got, expected


def _check_grads(got, expected, device="cpu", where=""):
    weight_grad, bias_grad, weight, bias = expected
    expect(isinstance(got, (tuple, list)) and len(got) == 2,
           f"`get_grads` should return a pair (weight_grad, bias_grad), but it returned {describe(got)}.")
    hint = "Return the layer's weight.grad and bias.grad, the gradients left by the last backward pass."
    for name, value, grad, param in (("weight", got[0], weight_grad, weight), ("bias", got[1], bias_grad, bias)):
        what = f"the {name} gradient{where}"
        expect_tensor(what, value, shape=tuple(grad.shape), device=device, hint=hint)
        if torch.allclose(value.detach().cpu().double(), param.cpu().double()):
            fail(f"{what} equals the {name} itself, not its gradient. Read .grad ({name}.grad), not .data.")
        expect_close(what, value, grad, hint=hint)


@question("get_grads")
def test_get_grads_last_backward(student, reference):
    """get_grads returns the gradients of the last backward pass, not the weights"""
    got, expected = _grads_case(student, reference, lead=False)
    _check_grads(got, expected)


@question("get_grads")
def test_get_grads_finds_the_linear_layer(student, reference):
    """get_grads finds the nn.Linear layer wherever it sits in the net"""
    got, expected = _grads_case(student, reference, lead=True)
    _check_grads(got, expected, where=" of nn.Sequential(nn.Identity(), nn.Linear(4, 1))")


@question("get_grads")
def test_get_grads_device(student, reference, device):
    """get_grads returns the gradients on the device of the net"""
    got, expected = _grads_case(student, reference, lead=False, device=device)
    _check_grads(got, expected, device=device)
