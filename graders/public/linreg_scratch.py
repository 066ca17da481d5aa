"""Public checks for linreg_scratch (d2l 3.2): small, fixed examples students can run themselves.

The hidden checks in ``graders/hidden/linreg_scratch.py`` go further:
random inputs, statistics, edge cases and CUDA.
"""

import math

import pytest
import torch

from d2lgrade.checks import INTEGER, describe, expect, expect_close, expect_floats, expect_items, expect_scalar, expect_tensor
from d2lgrade.rules import expect_calls, expect_gradients_flow, expect_no_calls
from d2lgrade.wire import Code

question = pytest.mark.question

TRUE_W = torch.tensor([2.0, -3.4])
TRUE_B = 4.2

AUTOGRAD = {"backward", "grad", "step"}
CLOSED_FORM = {
    "lstsq", "pinv", "pinverse", "inv", "inverse", "solve", "cholesky_solve", "solve_triangular", "qr", "svd",
    "polyfit", "curve_fit", "linregress", "least_squares", "minimize", "scipy", "sklearn", "LinearRegression", "numpy.linalg",
}
NO_CLOSED_FORM = "Learn the parameters by gradient descent with autograd (loss.backward() and an update), not with a solver."


def _pair(what, result):
    expect(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} should return a pair, but it returned {describe(result)}.")
    return result


def _same_keys(result, lrs):
    """Whether ``result`` is a dict keyed by exactly the learning rates ``lrs`` (any key types compare safely)."""
    return isinstance(result, dict) and len(result) == len(lrs) and set(result) == set(lrs)


# The public checks build their own inputs: a student release has no reference code to borrow.
def _synthetic(n):
    """n examples of the book's model y = 2 x1 - 3.4 x2 + 4.2, with a little noise; y as a column."""
    X = torch.randn(n, 2)
    return X, (X @ TRUE_W + TRUE_B + 0.01 * torch.randn(n)).reshape(-1, 1)


def _radiance(wavelengths, T):
    """Planck's law as the notebook states it (c1 in W·µm⁴·m⁻²·sr⁻¹, c2 in µm·K), computed in float64."""
    lam = wavelengths.double()
    return (1.191043e8 / lam**5 / (torch.exp(14387.77 / (lam * T)) - 1)).float()


@question("synthetic_data")
def test_synthetic_data_shapes(student):
    """synthetic_data returns X of shape (n, len(w)) and y of shape (n, 1)"""
    X, y = _pair("`synthetic_data`", student.synthetic_data(TRUE_W, TRUE_B, 100))
    expect_tensor("X", X, shape=(100, 2), dtype=torch.float32)
    expect_tensor(
        "y", y, shape=(100, 1),
        hint="Keep the labels as a column: reshape y to (-1, 1), as the book does.",
    )


@question("synthetic_data")
def test_synthetic_data_follows_the_model(student):
    """synthetic_data draws X from N(0, 1) and adds noise of std 0.01 to Xw + b"""
    X, y = _pair("`synthetic_data`", student.synthetic_data(TRUE_W, TRUE_B, 2000))
    X = expect_tensor("X", X, shape=(2000, 2))
    y = expect_tensor("y", y, shape=(2000, 1))
    mean, std = float(X.mean()), float(X.std())
    expect(abs(mean) < 0.1 and abs(std - 1) < 0.1,
           f"The features should be standard normal (mean 0, std 1), but theirs have mean {mean:.3g} and std {std:.3g}.",
           "Draw them with torch.normal(0, 1, (num_examples, len(w))); torch.rand is uniform on [0, 1).")
    noise = y.reshape(-1).double() - (X.double() @ TRUE_W.double() + TRUE_B)
    noise_mean, noise_std = float(noise.mean()), float(noise.std())
    expect(abs(noise_mean) < 0.005,
           f"y - (Xw + b) should be noise around 0, but it is {noise_mean:.3g} on average.",
           "Add the bias b to X @ w." if abs(noise_mean + TRUE_B) < 0.1 else "The labels are X @ w + b plus small noise.")
    expect(0.008 < noise_std < 0.012, f"The noise y - (Xw + b) should have std 0.01, but its std is {noise_std:.3g}.",
           "Add torch.normal(0, 0.01, y.shape): 0.01 is the standard deviation.")


@question("data_iter")
def test_data_iter_covers_every_example_once(student):
    """data_iter yields every example exactly once, in batches of batch_size"""
    features = torch.arange(100.0).reshape(100, 1)
    labels = 2 * features
    batches = expect_items("`data_iter(10, features, labels)`", student.data_iter(10, features, labels))
    expect(len(batches) == 10, f"`data_iter(10, ...)` over 100 examples should yield 10 batches, but it yielded {len(batches)}.")
    seen = []
    for batch in batches:
        X, y = _pair("each batch of `data_iter`", batch)
        expect_tensor("each X batch", X, shape=(10, 1))
        expect_close("each y batch", y, 2 * X, hint="X and y must be shuffled together, with the same indices.")
        seen += X.reshape(-1).tolist()
    expect(sorted(seen) == list(range(100)), "Every example should appear exactly once per pass over the data.")


@question("data_iter")
def test_data_iter_keeps_a_smaller_last_batch(student):
    """with 23 examples and batches of 10, data_iter yields 10, 10 and then 3 examples"""
    features = torch.arange(23.0).reshape(23, 1)
    batches = expect_items("`data_iter(10, features, labels)`", student.data_iter(10, features, 2 * features))
    sizes = [len(expect_tensor("each X batch", _pair("each batch of `data_iter`", batch)[0])) for batch in batches]
    expect(sizes == [10, 10, 3], f"Over 23 examples `data_iter(10, ...)` should yield batches of [10, 10, 3], but they are {sizes}.",
           "Keep the last, smaller batch: slice indices[i: min(i + batch_size, num_examples)].")


@question("data_iter")
def test_data_iter_shuffles_anew_each_pass(student):
    """data_iter shuffles the examples in a new order on every pass, leaving the caller's tensors alone"""
    features = torch.arange(50.0).reshape(50, 1)
    labels = 2 * features
    orders = []
    for _ in range(2):
        outcome = student.call("data_iter", 10, features, labels)
        batches = expect_items("`data_iter(10, features, labels)`", outcome.value)
        X_batches = [expect_tensor("each X batch", _pair("each batch of `data_iter`", batch)[0]) for batch in batches]
        orders.append([int(i) for X in X_batches for i in X.reshape(-1).tolist()])
        expect_close("features after `data_iter`", outcome.args[1], features,
                     hint="Shuffle a list of indices, not the caller's tensors: do not change features or labels in place.")
    expect(orders[0] != list(range(50)), "`data_iter` yielded the examples in their stored order.",
           "Shuffle the indices (random.shuffle(indices)) before slicing batches.")
    expect(orders[0] != orders[1], "`data_iter` yielded the same order on two passes.",
           "Shuffle anew on every call: do not reseed the random generator or reuse a fixed permutation.")


@question("init_params")
def test_init_params_shapes(student):
    """init_params returns w of shape (d, 1) and b of shape (1,), both requiring grad"""
    w, b = _pair("`init_params(3)`", student.init_params(3))
    expect_tensor("w", w, shape=(3, 1), dtype=torch.float32)
    expect_tensor("b", b, shape=(1,), dtype=torch.float32)
    expect(w.requires_grad and b.requires_grad, "w and b must be created with requires_grad=True so autograd can train them.")
    expect_close("b", b, torch.zeros(1), hint="The bias starts at zero.")


@question("init_params")
def test_init_params_small_weights(student):
    """init_params draws w from N(0, 0.01**2)"""
    w, _ = _pair("`init_params(2000)`", student.init_params(2000))
    std = float(expect_tensor("w", w, shape=(2000, 1)).detach().std())
    expect(0.008 < std < 0.012, f"w should have standard deviation 0.01, but it has {std:.3g}.",
           "Use torch.normal(0, 0.01, size=(num_inputs, 1), requires_grad=True): 0.01 is the standard deviation.")


@question("linreg")
def test_linreg_small_example(student):
    """linreg computes Xw + b"""
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.tensor([[0.5], [-1.0]])
    b = torch.tensor([1.0])
    expect_close("`linreg(X, w, b)`", student.linreg(X, w, b), torch.tensor([[-0.5], [-1.5]]), hint="The model is X @ w + b.")


@question("linreg")
def test_linreg_passes_gradients_to_w_and_b(student):
    """linreg's result carries gradients back to w and b"""
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.tensor([[0.5], [-1.0]])
    b = torch.tensor([1.0])
    expect_gradients_flow(student, "linreg", {"X": X, "w": w, "b": b}, {"w": X.sum(0).reshape(2, 1), "b": torch.tensor([2.0])},
                          "Compute with torch operations on w and b themselves (X @ w + b): .detach(), .data, .item(), "
                          "numpy or a new torch.tensor(...) cut the graph, and train cannot learn.")


@question("squared_loss")
def test_squared_loss_small_example(student):
    """squared_loss is (y_hat - y)**2 / 2 for each example"""
    y_hat = torch.tensor([[1.0], [2.0], [4.0]])
    y = torch.tensor([[1.0], [0.0], [1.0]])
    expect_close("`squared_loss(y_hat, y)`", student.squared_loss(y_hat, y), torch.tensor([[0.0], [2.0], [4.5]]),
                 hint="Each example's loss is half its squared error: mind the / 2.")


@question("squared_loss")
def test_squared_loss_flat_labels(student):
    """squared_loss keeps y_hat's shape (n, 1) when y has shape (n,)"""
    y_hat = torch.tensor([[1.0], [2.0], [4.0]])
    y = torch.tensor([1.0, 0.0, 1.0])
    got = student.squared_loss(y_hat, y)
    expect_tensor("`squared_loss(y_hat, y)` with y of shape (3,)", got, shape=(3, 1),
                  hint="y of shape (3,) broadcasts against y_hat of shape (3, 1) to (3, 3): reshape y to y_hat's shape.")
    expect_close("`squared_loss(y_hat, y)` with y of shape (3,)", got, torch.tensor([[0.0], [2.0], [4.5]]))


@question("squared_loss")
def test_squared_loss_passes_gradients_to_y_hat(student):
    """squared_loss's result carries gradients back to y_hat"""
    y_hat = torch.tensor([[1.0], [2.0], [4.0]])
    y = torch.tensor([[1.0], [0.0], [1.0]])
    expect_gradients_flow(student, "squared_loss", {"y_hat": y_hat, "y": y}, {"y_hat": y_hat - y},
                          "Compute the loss with torch operations on y_hat: .detach(), .data, .item(), numpy or a new "
                          "torch.tensor(...) cut the graph, and training gets no gradient.")


@question("sgd")
def test_sgd_small_step(student):
    """sgd subtracts lr * grad / batch_size from each parameter, in place"""
    w = torch.tensor([[1.0], [2.0]], requires_grad=True)
    w.grad = torch.tensor([[10.0], [20.0]])
    outcome = student.call("sgd", [w], 0.1, 10)
    expect(len(outcome.args[0]) == 1, "`sgd` should update the parameters in the list, not add or remove any.")
    (w_after,) = outcome.args[0]
    expect_close("w after `sgd([w], lr=0.1, batch_size=10)`", w_after, torch.tensor([[0.9], [1.8]]),
                 hint="Update each parameter in place (with -=): subtract lr times its gradient, divided by batch_size.")


@question("sgd")
def test_sgd_zeroes_the_gradients(student):
    """sgd zeroes the gradients after the update"""
    w = torch.tensor([[1.0], [2.0]], requires_grad=True)
    w.grad = torch.tensor([[10.0], [20.0]])
    (w_after,) = student.call("sgd", [w], 0.1, 10).args[0]
    grad = expect_tensor("w after `sgd`", w_after).grad
    expect(grad is None or float(grad.abs().max()) == 0.0, "w.grad is not zero after `sgd`.",
           "Call param.grad.zero_() after the update, or the gradients of every step add up.")


@question("train")
def test_train_converges(student):
    """train recovers w and b to within 0.01 and returns the mean loss over the data after each epoch"""
    # 90 steps at lr=0.1 get as far as the book's 300 at lr=0.03 on 1000 examples, in a third of the time.
    features, labels = _synthetic(300)
    w, b = (0.01 * torch.randn(2, 1)).requires_grad_(), torch.zeros(1).requires_grad_()
    outcome = student.call("train", features, labels, w, b, lr=0.1, num_epochs=3, batch_size=10)
    losses = expect_floats("the losses `train` returns", outcome.value, length=3, hint="Return one mean loss per epoch.")
    w_after = expect_tensor("w after `train`", outcome.args[2], shape=(2, 1), device="cpu")
    b_after = expect_tensor("b after `train`", outcome.args[3], shape=(1,), device="cpu")
    error = max(float((w_after.reshape(-1) - TRUE_W).abs().max()), abs(float(b_after.reshape(-1)[0]) - TRUE_B))
    expect(error < 0.01, f"After training, w and b should be within 0.01 of the truth, but the largest error is {error:.3g}.",
           "Update w and b in place (through sgd) so the caller's tensors are trained.")
    expect(losses[-1] < 1e-3, f"The last epoch's loss should be tiny (about 5e-5), but it is {losses[-1]:.3g}.")
    final = float((((features @ w_after.detach() + b_after.detach() - labels) ** 2) / 2).mean())
    expect(math.isclose(losses[-1], final, rel_tol=1e-3, abs_tol=1e-9),
           f"The last loss should be the mean loss of the trained w and b over all the data ({final:.4g}), but it is {losses[-1]:.4g}.",
           "After each epoch compute loss(net(features, w, b), labels).mean() on the whole data set, not the last minibatch's loss.")


@question("fit_resistance")
def test_fit_resistance_ten_ohm(student):
    """fit_resistance finds a 10 ohm resistor to within 1%, learning with autograd rather than a solver"""
    current = torch.linspace(0.1, 2.0, 40)
    voltage = 10.0 * current + 0.3
    R, offset = _pair("`fit_resistance`", student.fit_resistance(current, voltage))
    R = expect_scalar("R", R)
    expect(math.isclose(R, 10.0, rel_tol=0.01), f"R should be about 10 ohm, but `fit_resistance` returned {R:.4g}.")
    expect_no_calls(student, "fit_resistance", CLOSED_FORM, NO_CLOSED_FORM)
    expect_calls(student, "fit_resistance", AUTOGRAD, NO_CLOSED_FORM)


@question("planck")
def test_planck_at_the_sun(student):
    """planck matches Planck's law at 5800 K"""
    wavelengths = torch.tensor([0.5, 1.0, 2.0])
    expect_close("`planck(wavelengths, 5800)`", student.planck(wavelengths, 5800.0), _radiance(wavelengths, 5800.0),
                 rtol=1e-4, atol=0.0, hint="Check the formula: c1 / (λ**5 * (exp(c2 / (λ T)) - 1)).")


@question("fit_temperature")
def test_fit_temperature_sun(student):
    """fit_temperature finds 5800 K from a noiseless spectrum to within 2%, learning with autograd rather than a solver"""
    wavelengths = torch.linspace(0.3, 3.0, 25)
    T = expect_scalar("the temperature", student.fit_temperature(wavelengths, _radiance(wavelengths, 5800.0)))
    expect(abs(T - 5800) / 5800 < 0.02, f"The temperature should be about 5800 K, but `fit_temperature` returned {T:.5g}.")
    expect_no_calls(student, "fit_temperature", CLOSED_FORM, NO_CLOSED_FORM)
    expect_calls(student, "fit_temperature", AUTOGRAD, NO_CLOSED_FORM)


# Element-wise functions that second_derivative is tried on. Their coefficients travel as values,
# so these sources are all the code the checks send to the student's side.
FUNCTIONS = {
    "power": "lambda x: a * x ** p",
    "sin": "lambda x: a * torch.sin(x)",
    "exp": "lambda x: a * torch.exp(x)",
    "linear": "lambda x: a * x + c",
    "constant": "lambda x: torch.full_like(x, c)",
}


def function(kind, **coefficients):
    """The function ``FUNCTIONS[kind]`` with the given coefficients, built on the student's side."""
    return Code(FUNCTIONS[kind], inputs=coefficients)


@question("second_derivative")
def test_second_derivative_cube(student):
    """second_derivative of x**3 is 6x"""
    x = torch.tensor([-1.0, 0.0, 2.0])
    got = student.second_derivative(function("power", a=1.0, p=3), x)
    expect_close("`second_derivative(lambda x: x**3, x)`", got, 6 * x,
                 hint="Differentiate twice: the first torch.autograd.grad needs create_graph=True.")


@question("second_derivative")
def test_second_derivative_linear_leaves_x_alone(student):
    """second_derivative of a linear function is zero, and the caller's x is left alone"""
    x = torch.tensor([-1.0, 0.5, 2.0])
    outcome = student.call("second_derivative", function("linear", a=3.0, c=1.0), x)
    expect_close("`second_derivative(lambda x: 3 * x + 1, x)`", outcome.value, torch.zeros(3),
                 hint="For a linear f the first derivative has no graph: return zeros when it does not require grad "
                      "(or pass allow_unused=True and treat None as zero).")
    after = expect_tensor("x after `second_derivative`", outcome.args[1])
    expect(not after.requires_grad and after.grad is None, "`second_derivative` changed the caller's x (its requires_grad or grad).",
           "Work on x.detach().clone().requires_grad_() instead of x itself.")


@question("lr_sweep")
def test_lr_sweep_keys(student):
    """lr_sweep returns the epoch losses for each learning rate, each from fresh parameters"""
    features, labels = _synthetic(200)
    result = student.lr_sweep(features, labels, [0.1, 0.001], num_epochs=2)
    expect(isinstance(result, dict), f"`lr_sweep` should return a dict {{lr: losses}}, but it returned {type(result).__name__}.")
    expect(_same_keys(result, [0.1, 0.001]), f"The keys should be the learning rates [0.1, 0.001], but they are {list(result)}.")
    for lr, losses in result.items():
        expect_floats(f"the losses for lr={lr}", losses, length=2)
    # From fresh parameters, 40 steps at lr=0.001 leave the loss near its starting level (about 16).
    slow = expect_floats("the losses for lr=0.001", result[0.001], length=2)
    expect(slow[0] > 1.0, f"The first loss for lr=0.001 is already {slow[0]:.3g}, as if training went on from the previous learning rate's w and b.",
           "Create new parameters (init_params) for each learning rate.")


@question("batch_sizes")
def test_batch_sizes_even(student):
    """batch_sizes(100, 10) is ten batches of 10"""
    got = student.batch_sizes(100, 10)
    sizes = [expect_scalar("each batch size", s, allow={INTEGER}) for s in got] if isinstance(got, (list, tuple)) else None
    expect(sizes == [10] * 10, f"`batch_sizes(100, 10)` should be ten 10s, but it is {describe(got) if sizes is None else sizes}.")


@question("batch_sizes")
def test_batch_sizes_uneven(student):
    """batch_sizes(23, 10) is 10, 10 and then the smaller last batch of 3"""
    got = student.batch_sizes(23, 10)
    sizes = [expect_scalar("each batch size", s, allow={INTEGER}) for s in got] if isinstance(got, (list, tuple)) else None
    expect(sizes == [10, 10, 3], f"`batch_sizes(23, 10)` should be [10, 10, 3], but it is {describe(got) if sizes is None else sizes}.",
           "data_iter keeps the last, smaller batch: count it too.")
