"""Public checks for linreg_concise (d2l 3.3): small, fixed examples students can run themselves.

The hidden checks in ``graders/hidden/linreg_concise.py`` go further:
random inputs, statistics, edge cases and CUDA.

What cannot cross the wire (a DataLoader to iterate, a net to train, a
backward pass) is done by grader-written ``Code`` on the student's side,
which sends back plain values.
"""

import math

import pytest
import torch
from torch import nn

from d2lgrade import wire
from d2lgrade.checks import describe, expect, expect_close, expect_floats, expect_scalar, expect_tensor
from d2lgrade.wire import Code

question = pytest.mark.question

TRUE_W = torch.tensor([2.0, -3.4])
TRUE_B = 4.2
SEQUENTIAL = "torch.nn.modules.container.Sequential"
LINEAR = "torch.nn.modules.linear.Linear"

# Iterates what load_array returns, `passes` times, and reports what it is.
LOADER = """
import torch
from torch.utils import data as _data
loader = load_array(arrays, batch_size, **options)
out = {
    "is_loader": isinstance(loader, _data.DataLoader),
    "is_tensor_dataset": isinstance(getattr(loader, "dataset", None), _data.TensorDataset),
    "type": type(loader).__module__ + "." + type(loader).__qualname__,
    "dataset": type(getattr(loader, "dataset", None)).__qualname__,
    "sampler": type(getattr(loader, "sampler", None)).__qualname__,
    "passes": [[list(item) if isinstance(item, (list, tuple)) else item for item in loader] for _ in range(passes)],
}
"""

# A one-layer net with the given weight and bias, on their device.
NET = """
import torch
from torch import nn
net = nn.Sequential(nn.Linear(w.shape[1], 1))
with torch.no_grad():
    net[0].weight.copy_(w)
    net[0].bias.copy_(b)
net = net.to(w.device)
"""

# Trains with a loss that records the labels of every minibatch it is called on,
# and which of those calls were back-propagated (the training steps).
RECORDED_TRAINING = NET + """
class _Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls, self.stepped = [], []

    def forward(self, y_hat, y):
        index = len(self.calls)
        self.calls.append([int(round(v)) for v in y.detach().reshape(-1).tolist()])
        value = ((y_hat - y.reshape(y_hat.shape)) ** 2).mean()
        if value.requires_grad:
            value.register_hook(lambda grad, index=index: self.stepped.append(index))
        return value

recorder = _Recorder()
losses = train(net, features, labels, loss=recorder, lr=lr, num_epochs=num_epochs, batch_size=batch_size)
out = {"calls": recorder.calls, "stepped": recorder.stepped}
"""

# Builds a net with a linear layer (after an nn.Identity when `lead`), takes
# SGD steps on all but the last batch and leaves the last batch's gradients.
# The step is torch.optim.SGD's, written out: the reference runs this in the
# grading process, where a first torch.optim.SGD imports torch._dynamo (seconds).
GRADS = """
import torch
from torch import nn
layers = [nn.Identity()] if lead else []
net = nn.Sequential(*layers, nn.Linear(w.shape[1], 1)).to(w.device)
linear = net[len(layers)]
with torch.no_grad():
    linear.weight.copy_(w)
    linear.bias.copy_(b)
for step, (X, y) in enumerate(batches):
    net.zero_grad()
    nn.MSELoss()(net(X), y).backward()
    if step < len(batches) - 1:
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.add_(parameter.grad, alpha=-0.1)
"""

# Fits a fresh book-initialised net to the whole data set by gradient descent with the student's HuberLoss.
HUBER_TRAINING = """
import torch
from torch import nn
net = nn.Sequential(nn.Linear(features.shape[1], 1))
with torch.no_grad():
    net[0].weight.normal_(0, 0.01)
    net[0].bias.zero_()
loss_fn = HuberLoss(sigma=1.0)
for _ in range(steps):
    net.zero_grad()
    value = loss_fn(net(features), labels)
    value.backward()
    with torch.no_grad():
        for parameter in net.parameters():
            parameter -= lr * parameter.grad
out = (float(value), net[0].weight.detach(), net[0].bias.detach())
"""

# Builds a loss from torch.nn by name.
LOSS = """
import torch
loss = getattr(torch.nn, name)(**options)
"""


def _orders(student, n, batch_size, **options):
    """The example indices of one pass over load_array((features, labels), batch_size, **options)."""
    features = torch.stack([torch.arange(n, dtype=torch.float32), torch.randn(n)], dim=1)
    labels = 2 * features[:, :1]
    out = student.run("load_array", Code(LOADER, result="out", inputs={
        "arrays": (features, labels), "batch_size": batch_size, "options": options, "passes": 1}))
    (batches,) = out["passes"]
    order = []
    for batch in batches:
        expect(isinstance(batch, list) and len(batch) == 2,
               f"Each minibatch should be a pair (X, y), but one is {describe(batch)}.",
               "Wrap both tensors: data.TensorDataset(*data_arrays).")
        X, y = batch
        expect_tensor("each X batch", X)
        expect(X.dim() == 2 and X.shape[1] == 2, f"Each X batch should be rows of the features, shaped (batch size, 2), "
               f"but one has shape {tuple(X.shape)}.", "Wrap the tensors as they are: data.TensorDataset(*data_arrays).")
        expect_close("each y batch", y, 2 * X[:, :1], hint="Keep the features and labels paired: one TensorDataset over both.")
        order += [int(i) for i in X[:, 0].tolist()]
    return [len(batch[0]) for batch in batches], order


@question("load_array")
def test_load_array_covers_every_example_once(student):
    """load_array yields every example exactly once, in batches of batch_size"""
    sizes, order = _orders(student, 20, 5)
    shown = sizes if len(sizes) <= 12 else f"{sizes[:3]} and {len(sizes) - 3} more"
    expect(sizes == [5, 5, 5, 5], f"Over 20 examples with batch_size=5 the batch sizes should be [5, 5, 5, 5], but they are {shown}.",
           "Pass batch_size to data.DataLoader.")
    expect(sorted(order) == list(range(20)), "Every example should appear exactly once per pass over the data.")


@question("load_array")
def test_load_array_is_train_false_keeps_the_order(student):
    """load_array(..., is_train=False) reads the examples in order; the default shuffles them"""
    _, order = _orders(student, 20, 5, is_train=False)
    expect(order == list(range(20)), f"With is_train=False the examples should come in their stored order, but they came as {order}.",
           "Shuffle only when is_train is true: shuffle=is_train.")
    _, order = _orders(student, 20, 5)
    expect(order != list(range(20)), "With the default is_train=True the examples came in their stored order.",
           "Shuffle the training data: data.DataLoader(dataset, batch_size, shuffle=is_train).")


@question("load_array")
def test_load_array_keeps_a_smaller_last_batch_and_reshuffles(student):
    """load_array keeps the last, smaller batch and shuffles anew on every pass"""
    features = torch.stack([torch.arange(23, dtype=torch.float32), torch.randn(23)], dim=1)
    out = student.run("load_array", Code(LOADER, result="out", inputs={
        "arrays": (features, 2 * features[:, :1]), "batch_size": 5, "options": {}, "passes": 2}))
    passes = []
    for batches in out["passes"]:
        expect(all(isinstance(batch, list) and len(batch) == 2 for batch in batches),
               "Each minibatch should be a pair (X, y).", "Wrap both tensors: data.TensorDataset(*data_arrays).")
        sizes = [len(expect_tensor("each X batch", X)) for X, _ in batches]
        expect(sizes == [5, 5, 5, 5, 3], f"Over 23 examples with batch_size=5 the batch sizes should be [5, 5, 5, 5, 3], "
               f"but they are {sizes}.", "Keep the last, smaller batch: leave drop_last at its default, False.")
        passes.append([int(i) for X, _ in batches for i in X[:, 0].tolist()])
    expect(passes[0] != passes[1], "Two passes over `load_array`'s loader read the examples in the same order.",
           "Let the DataLoader shuffle (shuffle=is_train) instead of permuting the data once when the loader is built.")


def _linear_layer(info, what):
    """The (weight, bias) of the single nn.Linear inside the nn.Sequential that make_net returned."""
    expect(isinstance(info, wire.ModuleInfo), f"{what} should be an nn.Module, but it is {describe(info)}.",
           "Return the network: nn.Sequential(nn.Linear(num_inputs, 1)).")
    expect(info.type == SEQUENTIAL, f"{what} should be an nn.Sequential, but it is a {info.type.rsplit('.', 1)[-1]}.",
           "Put the layer in a container: nn.Sequential(nn.Linear(num_inputs, 1)).")
    children = [(name, kind) for name, kind in info.layers if name and "." not in name]
    kinds = [kind.rsplit(".", 1)[-1] for _, kind in children]
    expect(len(children) == 1 and children[0][1] == LINEAR,
           f"{what} should hold exactly one nn.Linear layer, but it holds {kinds or 'nothing'}.",
           "The model is nn.Sequential(nn.Linear(num_inputs, 1)).")
    name = children[0][0]
    weight, bias = info.state.get(f"{name}.weight"), info.state.get(f"{name}.bias")
    expect(bias is not None, f"The layer of {what} has no bias.", "Keep the bias: nn.Linear(num_inputs, 1).")
    return weight, bias


@question("make_net")
def test_make_net_structure(student):
    """make_net(3) is nn.Sequential(nn.Linear(3, 1)); make_net() has 2 inputs"""
    for args, inputs in (((3,), 3), ((), 2)):
        call = f"`make_net({', '.join(map(str, args))})`"
        weight, bias = _linear_layer(student.make_net(*args), call)
        expect_tensor(f"the weight of {call}", weight, shape=(1, inputs),
                      hint="nn.Linear(num_inputs, 1) has a weight of shape (1, num_inputs).")
        expect_tensor(f"the bias of {call}", bias, shape=(1,), hint="Keep the layer's bias (bias=True, the default).")


@question("make_net")
def test_make_net_small_weights_zero_bias(student):
    """make_net's weights are small (std 0.01) and its bias is zero"""
    weight, bias = _linear_layer(student.make_net(2000), "`make_net(2000)`")
    weight = expect_tensor("the weight of `make_net(2000)`", weight, shape=(1, 2000))
    std = float(weight.std())
    expect(0.0075 < std < 0.0125, f"The weights should have standard deviation 0.01, but theirs is {std:.3g}.",
           "Overwrite the default initialisation: net[0].weight.data.normal_(0, 0.01).")
    expect_close("the bias of `make_net(2000)`", bias, torch.zeros(1), hint="Set the bias to zero: net[0].bias.data.fill_(0).")


def _synthetic(n, w=TRUE_W, b=TRUE_B):
    X = torch.randn(n, len(w))
    return X, (X @ w + b + 0.01 * torch.randn(n)).reshape(-1, 1)


def _fit_error(info):
    weight, bias = _linear_layer(info, "the net after `train`")
    weight = expect_tensor("the weight of the net after `train`", weight, shape=(1, 2))
    bias = expect_tensor("the bias of the net after `train`", bias, shape=(1,))
    return max(float((weight.detach().reshape(-1) - TRUE_W).abs().max()), abs(float(bias.reshape(-1)[0]) - TRUE_B))


@question("train")
def test_train_converges(student):
    """train recovers w and b to within 0.01 with the book's settings"""
    features, labels = _synthetic(1000)
    net = Code(NET, result="net", inputs={"w": 0.01 * torch.randn(1, 2), "b": torch.zeros(1)})
    outcome = student.call("train", net, features, labels)
    losses = expect_floats("the losses `train` returns", outcome.value, length=3, hint="Return one loss per epoch.")
    error = _fit_error(outcome.args[0])
    expect(error < 0.01, f"After training, w and b should be within 0.01 of the truth, but the largest error is {error:.3g}.",
           "Train the net you are given with torch.optim.SGD(net.parameters(), lr=lr) over minibatches from load_array.")
    expect(losses[-1] < 1e-3, f"The last epoch's loss should be tiny (about 1e-4), but it is {losses[-1]:.3g}.")


def _mse_descent(X, y, w, b, lr, steps):
    """Full-batch gradient descent on the mean squared error, in float64: the final (w, b) and the loss after each step."""
    X, y, w, b = X.double(), y.double().reshape(-1, 1), w.double(), b.double()
    losses = []
    for _ in range(steps):
        residual = X @ w.T + b - y
        w, b = w - lr * 2 * (residual * X).mean(0, keepdim=True), b - lr * 2 * residual.mean(0)
        losses.append(float(((X @ w.T + b - y) ** 2).mean()))
    return w, b, losses


@question("train")
def test_train_full_batch_steps(student):
    """with one batch per epoch, train takes gradient steps at the given lr and reports the loss after each epoch"""
    n, lr, num_epochs = 20, 0.1, 2
    features, labels = _synthetic(n)
    w, b = 0.01 * torch.randn(1, 2), torch.zeros(1)
    net = Code(NET, result="net", inputs={"w": w, "b": b})
    outcome = student.call("train", net, features, labels.reshape(-1), lr=lr, num_epochs=num_epochs, batch_size=n)
    losses = expect_floats("the losses `train` returns", outcome.value, length=num_epochs, hint="Return one loss per epoch.")
    weight, bias = _linear_layer(outcome.args[0], "the net after `train`")
    w_want, b_want, want = _mse_descent(features, labels, w, b, lr, num_epochs)
    settings = f"lr={lr}, batch_size={n} (one step per epoch) and labels of shape ({n},)"
    expect_close(f"the weight after {num_epochs} epochs of `train` with {settings}", weight, w_want, rtol=1e-4,
                 hint="Step with torch.optim.SGD(net.parameters(), lr=lr) on nn.MSELoss() (or the loss given), and reshape "
                      "labels of shape (n,) to (n, 1) so the loss does not broadcast to (n, n).")
    expect_close(f"the bias after `train` with {settings}", bias, b_want, rtol=1e-4)
    expect(all(math.isclose(got, expected, rel_tol=1e-3) for got, expected in zip(losses, want)),
           f"The losses should be the loss over the whole data set after each epoch, {[round(v, 5) for v in want]}, "
           f"but `train` returned {[round(v, 5) for v in losses]}.",
           "After each epoch compute loss(net(features), labels) on the whole data set, not a minibatch's loss or an average of them.")


@question("train")
def test_train_uses_the_given_loss_and_shuffles(student):
    """train calls the loss it is given, on minibatches in a new random order each epoch"""
    n = 20
    out = student.run("train", Code(RECORDED_TRAINING, result="out", inputs={
        "w": 0.01 * torch.randn(1, 2), "b": torch.zeros(1), "features": torch.randn(n, 2),
        "labels": torch.arange(n, dtype=torch.float32).reshape(-1, 1), "lr": 1e-4, "num_epochs": 2, "batch_size": 5}))
    calls, stepped = out["calls"], sorted(set(out["stepped"]))
    expect(len(stepped) > 0, "`train` never took a training step with the loss function it was given.",
           "Use the `loss` argument (nn.MSELoss() only when it is None).")
    seen = [label for index in stepped for label in calls[index]]
    expect(len(seen) == 2 * n, f"Over 2 epochs of {n} examples the training steps should see {2 * n} examples, but they saw {len(seen)}.",
           "Step once per minibatch of load_array((features, labels), batch_size), num_epochs times.")
    first, second = seen[:n], seen[n:]
    expect(first != list(range(n)), "`train` read the examples in their stored order.",
           "Shuffle the training data: load_array((features, labels), batch_size) with is_train=True, the default.")
    expect(first != second, "`train` read the examples in the same order in both epochs.",
           "Iterate over a shuffling DataLoader in every epoch instead of one fixed order.")


@question("equivalent_lr")
def test_equivalent_lr_book_settings(student):
    """equivalent_lr(0.03, 10) is 0.3"""
    got = expect_scalar("`equivalent_lr(0.03, 10)`", student.equivalent_lr(0.03, 10))
    expect(abs(got - 0.3) < 1e-9, f"`equivalent_lr(0.03, 10)` should be 0.3, but it is {got:.6g}.",
           "The mean loss's gradient is the summed loss's divided by batch_size, so the learning rate must grow by batch_size.")


# Evaluates the student's HuberLoss on y_hat, y and back-propagates through it.
HUBER = """
import torch
loss_fn = HuberLoss(**options)
y_hat = y_hat.detach().clone().requires_grad_(True)
value = loss_fn(y_hat, y)
grad = None
if isinstance(value, torch.Tensor) and value.numel() == 1 and value.requires_grad:
    value.sum().backward()
    grad = y_hat.grad
out = {
    "module": isinstance(loss_fn, torch.nn.Module),
    "value": value.detach() if isinstance(value, torch.Tensor) else value,
    "grad": grad,
}
"""


@question("HuberLoss")
def test_huber_small_example(student):
    """HuberLoss(sigma=1.0) is quadratic below sigma and linear above it, averaged"""
    y_hat = torch.tensor([[0.5], [2.0], [-3.0]])
    y = torch.zeros(3, 1)
    out = student.run("HuberLoss", Code(HUBER, result="out", inputs={"y_hat": y_hat, "y": y, "options": {"sigma": 1.0}}))
    expect(out["module"], "`HuberLoss(sigma=1.0)` should be an nn.Module.", "Subclass nn.Module and call super().__init__().")
    value = expect_scalar("`HuberLoss(sigma=1.0)(y_hat, y)`", out["value"],
                          hint="Return the mean over all elements, a single number.")
    # (0.5**2 / 2 + (2 - 0.5) + (3 - 0.5)) / 3
    expect(abs(value - 1.375) < 1e-5,
           f"For errors 0.5, 2 and -3 the loss should be (0.125 + 1.5 + 2.5) / 3 = 1.375, but it is {value:.6g}.",
           "Per element: abs(d) - sigma/2 if abs(d) > sigma, else d**2 / (2*sigma); then the mean.")
    expect(out["grad"] is not None, "`HuberLoss(sigma=1.0)(y_hat, y)` carries no gradient back to y_hat, so a net cannot train with it.",
           "Compute the loss with torch operations on y_hat and return the tensor: .item(), .detach(), .data or numpy cut the graph.")


@question("HuberLoss")
def test_huber_sigma_two_flat_labels(student):
    """HuberLoss(sigma=2.0) uses sigma as the threshold and in the quadratic part, with labels of shape (n,)"""
    y_hat = torch.tensor([[1.5], [0.0], [5.0], [-5.0]])
    y = torch.tensor([1.0, -1.0, 2.0, 0.0])
    out = student.run("HuberLoss", Code(HUBER, result="out", inputs={"y_hat": y_hat, "y": y, "options": {"sigma": 2.0}}))
    value = expect_scalar("`HuberLoss(sigma=2.0)(y_hat, y)`", out["value"], hint="Return the mean over all elements, a single number.")
    # (0.5**2 / 4 + 1 / 4 + (3 - 1) + (5 - 1)) / 4
    expect(abs(value - 1.578125) < 1e-5,
           f"For errors y_hat - y of 0.5, 1, 3 and -5 with sigma=2 and y of shape (4,), the loss should be (0.0625 + 0.25 + 2 + 4) / 4 = 1.578125, "
           f"but it is {value:.6g}.",
           "Per element: abs(d) - sigma/2 if abs(d) > sigma, else d**2 / (2*sigma), with parentheses around 2*sigma; reshape y "
           "to y_hat's shape first. torch's nn.HuberLoss(delta=sigma) is sigma times this.")


def _grads_net(student):
    """A one-layer net after one backward pass of the mean squared loss, and the gradients expected."""
    w, b = torch.tensor([[1.0, -1.0]]), torch.tensor([0.5])
    X = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    y = torch.tensor([[1.0], [2.0], [0.0]])
    source = NET + "nn.MSELoss()(net(X), y).backward()\n"
    got = student.get_grads(Code(source, result="net", inputs={"w": w, "b": b, "X": X, "y": y}))
    weight, bias = w.clone().requires_grad_(), b.clone().requires_grad_()
    nn.functional.mse_loss(X @ weight.T + bias, y).backward()
    return got, weight, bias


@question("get_grads")
def test_get_grads_after_one_backward(student):
    """get_grads returns the weight and bias gradients of the last backward pass"""
    got, weight, bias = _grads_net(student)
    expect(isinstance(got, (tuple, list)) and len(got) == 2,
           f"`get_grads` should return a pair (weight_grad, bias_grad), but it returned {describe(got)}.")
    hint = "Read the gradients from .grad: net[0].weight.grad and net[0].bias.grad."
    expect_tensor("the weight gradient", got[0], shape=(1, 2), device="cpu", hint=hint)
    expect(not torch.allclose(got[0].detach().double(), weight.detach().double()),
           "`get_grads` returned the weights, not their gradients.", hint)
    expect_close("the weight gradient", got[0], weight.grad, hint=hint)
    expect_tensor("the bias gradient", got[1], shape=(1,), hint=hint)
    expect_close("the bias gradient", got[1], bias.grad, hint=hint)


@question("get_grads")
def test_get_grads_finds_the_linear_layer(student):
    """get_grads finds the linear layer wherever it is in the net"""
    w, b = torch.tensor([[1.0, -1.0]]), torch.tensor([0.5])
    X = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    y = torch.tensor([[1.0], [2.0], [0.0]])
    source = NET.replace("nn.Sequential(nn.Linear(w.shape[1], 1))", "nn.Sequential(nn.Identity(), nn.Linear(w.shape[1], 1))")
    source = source.replace("net[0]", "net[1]") + "nn.MSELoss()(net(X), y).backward()\n"
    got = student.get_grads(Code(source, result="net", inputs={"w": w, "b": b, "X": X, "y": y}))
    weight, bias = w.clone().requires_grad_(), b.clone().requires_grad_()
    nn.functional.mse_loss(X @ weight.T + bias, y).backward()
    expect(isinstance(got, (tuple, list)) and len(got) == 2,
           f"`get_grads` should return a pair (weight_grad, bias_grad), but it returned {describe(got)}.")
    hint = "Find the nn.Linear layer (for example the last module that is an nn.Linear) instead of assuming it is net[0]."
    expect_tensor("the weight gradient of a net whose linear layer is net[1]", got[0], shape=(1, 2), hint=hint)
    expect_close("the weight gradient of a net whose linear layer is net[1]", got[0], weight.grad, hint=hint)
    expect_close("the bias gradient of a net whose linear layer is net[1]", got[1], bias.grad, hint=hint)
