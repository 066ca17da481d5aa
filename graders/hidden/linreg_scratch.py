"""Hidden checks for linreg_scratch (d2l 3.2): random inputs, statistics, edge cases, CUDA.

Statistical bounds are set so that a correct answer fails less than once in
a million runs (each bound is at least six standard errors from the truth).
"""

import math

import pytest
import torch

from d2lgrade import wire
from d2lgrade.checks import INTEGER, describe, expect, expect_close, expect_floats, expect_items, expect_scalar, expect_tensor, fail
from d2lgrade.rules import expect_calls, expect_learns_with_autograd, expect_no_calls, expect_no_calls_at_run_time
from d2lgrade.wire import Code
from public.linreg_scratch import TRUE_W, TRUE_B, _pair, function  # shared with the public checks
from public.linreg_scratch import _same_keys  # dict keys compared without sorting mixed types

question = pytest.mark.question

AUTOGRAD = {"backward", "grad", "step"}
CLOSED_FORM = {
    "lstsq", "pinv", "pinverse", "inv", "inverse", "solve", "cholesky_solve", "solve_triangular", "qr", "svd",
    "polyfit", "curve_fit", "linregress", "least_squares", "minimize", "scipy", "sklearn", "LinearRegression", "numpy.linalg",
}
NO_CLOSED_FORM = "Learn the parameters by gradient descent with autograd (loss.backward() and an update), not with a solver."
#: What the fits may not reach while they run, however named (words matched by rules.run_time_words).
SOLVERS_AT_RUN_TIME = CLOSED_FORM | {
    "cholesky", "cholesky_inverse", "eigh", "geqrf", "ldl_solve", "lu", "lu_factor", "lu_solve", "ormqr", "svdvals",
    "tensorinv", "tensorsolve", "triangular_solve", "numpy.polynomial", "statsmodels",
}
LEARN_WITH_AUTOGRAD = ("Repeat: compute the loss, call loss.backward(), then update the parameters with their gradients "
                       "(an optimiser's step(), or p -= lr * p.grad under torch.no_grad()).")


# ------------------------------------------------------------------ synthetic_data


@question("synthetic_data")
def test_synthetic_data_features_are_standard_normal(student):
    """X is drawn from the standard normal distribution"""
    w = torch.tensor([1.0, -2.0, 0.5])
    X, _ = _pair("`synthetic_data`", student.synthetic_data(w, 1.0, 2000))
    X = expect_tensor("X", X, shape=(2000, 3))
    n = X.numel()
    mean, std = float(X.mean()), float(X.std())
    kurtosis = float(((X - X.mean()) ** 4).mean() / X.var(unbiased=False) ** 2)
    expect(abs(mean) < 6 / math.sqrt(n) and abs(std - 1) < 7 / math.sqrt(2 * n) and abs(kurtosis - 3) < 0.6,
           f"X should be standard normal (mean 0, std 1), but its mean is {mean:.3f}, its std {std:.3f} and its kurtosis {kurtosis:.2f} (a normal's is 3).",
           "Draw X with torch.normal(0, 1, ...); torch.rand draws from a uniform distribution.")


@question("synthetic_data")
def test_synthetic_data_labels_follow_the_model(student):
    """y = Xw + b plus noise of standard deviation 0.01"""
    w = torch.tensor([1.5, -0.7, 3.0])
    X, y = _pair("`synthetic_data`", student.synthetic_data(w, 2.5, 2000))
    X = expect_tensor("X", X, shape=(2000, 3), device="cpu").double()
    y = expect_tensor("y", y, shape=(2000, 1), device="cpu", hint="Return y as a column of shape (num_examples, 1).").double()
    residual = (y - (X @ w.double().reshape(-1, 1) + 2.5)).reshape(-1)
    mean, std = float(residual.mean()), float(residual.std())
    expect(abs(mean) < 6 * 0.01 / math.sqrt(2000),
           f"y - (Xw + b) should average 0, but it averages {mean:.3g}.", "Did you add the bias b?")
    expect(abs(std - 0.01) < 0.001,
           f"The noise in y should have standard deviation 0.01, but it has {std:.3g}.",
           "Add torch.normal(0, 0.01, y.shape): 0.01 is the standard deviation.")


@question("synthetic_data")
def test_synthetic_data_device(student, device):
    """X and y are made on the device of w"""
    X, y = _pair("`synthetic_data`", student.synthetic_data(TRUE_W.to(device), TRUE_B, 50))
    expect_tensor("X", X, shape=(50, 2), device=device)
    expect_tensor("y", y, shape=(50, 1), device=device)


# ------------------------------------------------------------------ data_iter


def _batches(student, batch_size, features, labels):
    outcome = student.call("data_iter", batch_size, features, labels)
    batches = expect_items(f"`data_iter({batch_size}, features, labels)`", outcome.value)
    for batch in batches:
        expect(isinstance(batch, (tuple, list)) and len(batch) == 2,
               "Each item `data_iter` yields should be a pair (X_batch, y_batch).")
        X, y = expect_tensor("each X batch", batch[0]), expect_tensor("each y batch", batch[1])
        expect(X.dim() == 2 and X.shape[1] == features.shape[1] and y.dim() >= 1 and len(y) == len(X),
               f"Each batch should be rows of the features, shaped (batch size, {features.shape[1]}), with one label per row, "
               f"but one X batch has shape {tuple(X.shape)} and its y batch {tuple(y.shape)}.",
               "Index the features and the labels with the same list of row indices.")
    return outcome, batches


def _indexed(n, device="cpu"):
    features = torch.stack([torch.arange(n, dtype=torch.float32), torch.randn(n)], dim=1).to(device)
    labels = (3 * features[:, :1] + 1).to(device)
    return features, labels


@question("data_iter")
def test_data_iter_uneven_last_batch(student):
    """with 103 examples and batches of 10, the last batch has 3 examples and every example appears once"""
    features, labels = _indexed(103)
    _, batches = _batches(student, 10, features, labels)
    sizes = [len(X) for X, _ in batches]
    expect(sizes == [10] * 10 + [3], f"The batch sizes should be ten 10s and then 3, but they are {sizes}.",
           "Keep the last, smaller batch: slice indices[i: min(i + batch_size, num_examples)].")
    ids = sorted(int(i) for X, _ in batches for i in X[:, 0].tolist())
    expect(ids == list(range(103)), "Every example should appear exactly once per pass over the data.")


@question("data_iter")
def test_data_iter_keeps_rows_paired(student):
    """each label stays with its own example"""
    features, labels = _indexed(60)
    _, batches = _batches(student, 7, features, labels)
    for X, y in batches:
        expect_tensor("each X batch", X)
        expect_tensor("each y batch", y)
        expect_close("each y batch", y.reshape(-1, 1), 3 * X[:, :1] + 1,
                     hint="Index the features and the labels with the same batch indices.")


@question("data_iter")
def test_data_iter_shuffles_differently_each_pass(student):
    """the order is random and differs between passes"""
    features, labels = _indexed(50)
    orders = []
    for _ in range(2):
        _, batches = _batches(student, 10, features, labels)
        orders.append([int(i) for X, _ in batches for i in X[:, 0].tolist()])
    expect(orders[0] != list(range(50)), "`data_iter` returned the examples in their original order.",
           "Shuffle the indices (random.shuffle) before slicing batches.")
    expect(orders[0] != orders[1], "`data_iter` returned the same order on two passes.",
           "Shuffle anew on every call; do not reseed or reuse a fixed permutation.")


@question("data_iter")
def test_data_iter_leaves_inputs_alone(student):
    """data_iter does not change the caller's tensors"""
    features, labels = _indexed(30)
    outcome, _ = _batches(student, 8, features, labels)
    expect_close("features after `data_iter`", outcome.args[1], features, hint="Do not shuffle the caller's tensors in place.")
    expect_close("labels after `data_iter`", outcome.args[2], labels, hint="Do not shuffle the caller's tensors in place.")


@question("data_iter")
def test_data_iter_device(student, device):
    """batches stay on the device of the data"""
    features, labels = _indexed(20, device)
    _, batches = _batches(student, 5, features, labels)
    for X, y in batches:
        expect_tensor("each X batch", X, device=device)
        expect_tensor("each y batch", y, device=device)


# ------------------------------------------------------------------ init_params


@question("init_params")
def test_init_params_statistics(student):
    """w ~ N(0, 0.01**2) and b is zero"""
    w, b = _pair("`init_params`", student.init_params(5000))
    w = expect_tensor("w", w, shape=(5000, 1))
    b = expect_tensor("b", b, shape=(1,))
    std, mean = float(w.std()), float(w.mean())
    expect(abs(std - 0.01) < 0.001 and abs(mean) < 6 * 0.01 / math.sqrt(5000),
           f"w should have mean 0 and standard deviation 0.01, but it has mean {mean:.3g} and std {std:.3g}.",
           "Use torch.normal(0, 0.01, size=(num_inputs, 1), requires_grad=True).")
    expect_close("b", b, torch.zeros(1))


@question("init_params")
def test_init_params_are_trainable_leaves(student):
    """w and b are leaf tensors that require grad"""
    w, b = _pair("`init_params`", student.init_params(4))
    for name, tensor in (("w", w), ("b", b)):
        expect_tensor(name, tensor)
        origin = wire.origin(tensor)
        expect(tensor.requires_grad, f"{name} does not require grad.", "Create it with requires_grad=True.")
        expect(origin is None or origin.is_leaf, f"{name} is not a leaf tensor, so its .grad will stay None.",
               "Create it directly with requires_grad=True instead of computing it from another tensor.")


@question("init_params")
def test_init_params_device(student, device):
    """init_params puts w and b on the requested device"""
    w, b = _pair("`init_params`", student.init_params(3, device=device))
    expect_tensor("w", w, shape=(3, 1), device=device)
    expect_tensor("b", b, shape=(1,), device=device)


# ------------------------------------------------------------------ linreg, squared_loss


@question("linreg")
def test_linreg_random(student, reference, device):
    """linreg matches Xw + b on random inputs"""
    X, w, b = torch.randn(16, 4, device=device), torch.randn(4, 1, device=device), torch.randn(1, device=device)
    got = student.linreg(X, w, b)
    expect_tensor("`linreg(X, w, b)`", got, shape=(16, 1), device=device)
    expect_close("`linreg(X, w, b)`", got, reference.linreg(X, w, b), hint="The model is X @ w + b.")


@question("squared_loss")
def test_squared_loss_with_flat_labels(student, reference, device):
    """squared_loss keeps the shape of y_hat when y has shape (n,)"""
    y_hat, y = torch.randn(12, 1, device=device), torch.randn(12, device=device)
    got = student.squared_loss(y_hat, y)
    expect_tensor("`squared_loss(y_hat, y)` with y of shape (12,)", got, shape=(12, 1), device=device,
                  hint="y of shape (n,) broadcasts against y_hat of shape (n, 1) to (n, n): reshape y to y_hat's shape."
                  if isinstance(got, torch.Tensor) and got.shape == (12, 12) else
                  "Return one loss per example, shaped like y_hat; the training loop sums them.")
    expect_close("`squared_loss(y_hat, y)`", got, reference.squared_loss(y_hat, y))


@question("squared_loss")
def test_squared_loss_random(student, reference):
    """squared_loss matches (y_hat - y)**2 / 2 on random columns"""
    y_hat, y = torch.randn(20, 1), torch.randn(20, 1)
    got = student.squared_loss(y_hat, y)
    expect_tensor("`squared_loss(y_hat, y)`", got, shape=(20, 1),
                  hint="Return one loss per example, shaped like y_hat; the training loop sums them.")
    expect_close("`squared_loss(y_hat, y)`", got, reference.squared_loss(y_hat, y), hint="Divide the squared difference by 2.")


# ------------------------------------------------------------------ sgd


def _params_with_grads(device="cpu"):
    w = torch.randn(3, 1, device=device).requires_grad_()
    b = torch.randn(1, device=device).requires_grad_()
    w.grad, b.grad = torch.randn(3, 1, device=device), torch.randn(1, device=device)
    return w, b


@question("sgd")
def test_sgd_updates_in_place(student, device):
    """sgd updates every parameter in place by lr * grad / batch_size"""
    w, b = _params_with_grads(device)
    outcome = student.call("sgd", [w, b], 0.05, 4)
    params = outcome.args[0]
    expect(isinstance(params, list) and len(params) == 2, "The parameter list passed to `sgd` came back changed.")
    for name, before, after in (("w", w, params[0]), ("b", b, params[1])):
        expected = before.detach() - 0.05 * before.grad / 4
        expect_tensor(f"{name} after `sgd`", after, shape=tuple(before.shape), device=device)
        now, then, grad = after.detach().double(), before.detach().double(), before.grad.double()
        if torch.allclose(now, then):
            fail(f"{name} did not change after `sgd`. Update the tensor in place (param -= ..., or param.data -= ...); "
                 "`param = param - ...` only rebinds a local name.")
        if torch.allclose(now, then - 0.05 * grad, rtol=1e-4, atol=1e-6):
            fail(f"{name} moved by lr * grad instead of lr * grad / batch_size. Divide by batch_size: the loss is summed over the minibatch.")
        expect_close(f"{name} after `sgd(params, lr=0.05, batch_size=4)`", after, expected)


@question("sgd")
def test_sgd_zeroes_gradients(student):
    """sgd zeroes the gradients after the update"""
    w, b = _params_with_grads()
    params = student.call("sgd", [w, b], 0.1, 2).args[0]
    for name, after in zip(("w", "b"), params):
        grad = expect_tensor(f"{name} after `sgd`", after).grad
        expect(grad is None or float(grad.abs().max()) == 0.0,
               f"{name}.grad is not zero after `sgd`.", "Call param.grad.zero_() after the update, or the gradients add up across steps.")


@question("sgd")
def test_sgd_records_no_graph(student):
    """the update happens without recording a graph: parameters stay trainable leaves"""
    w, b = _params_with_grads()
    params = student.call("sgd", [w, b], 0.1, 2).args[0]
    for name, after in zip(("w", "b"), params):
        origin = wire.origin(expect_tensor(f"{name} after `sgd`", after))
        expect(after.requires_grad and (origin is None or (origin.is_leaf and origin.grad_fn is None)),
               f"{name} is no longer a trainable leaf tensor after `sgd`.",
               "Update inside `with torch.no_grad():` so autograd does not record the step.")


# ------------------------------------------------------------------ train


#: Settings under which a correct train converges to within 0.01: 90 steps at lr=0.1 get as far as the
#: book's 300 at lr=0.03 (1000 examples, 3 epochs), in a third of the time.
CONVERGING = {"num_examples": 300, "lr": 0.1, "num_epochs": 3, "batch_size": 10}
CONVERGING_IN_WORDS = "lr=0.1, 3 epochs and batches of 10"


def _train_outcome(student, reference, device="cpu", num_examples=1000, flat_labels=False, **kwargs):
    features, labels = reference.synthetic_data(TRUE_W.to(device), TRUE_B, num_examples)
    labels = labels.reshape(-1) if flat_labels else labels
    w, b = reference.init_params(2, device=device)
    outcome = student.call("train", features, labels, w, b, **kwargs)
    return features, labels, outcome


def _fit_error(outcome):
    w_after, b_after = outcome.args[2], outcome.args[3]
    expect_tensor("w after `train`", w_after, shape=(2, 1))
    expect_tensor("b after `train`", b_after, shape=(1,))
    w_error = float((w_after.detach().cpu().reshape(-1) - TRUE_W).abs().max())
    return max(w_error, abs(float(b_after.detach().cpu().reshape(-1)[0]) - TRUE_B))


@question("train")
def test_train_returns_the_mean_loss_over_the_data(student, reference):
    """train returns the mean loss over the whole data set after each epoch"""
    # 100 examples: 40 steps, enough for the loss to fall; a last minibatch's loss or a sum is far from the mean.
    features, labels, outcome = _train_outcome(student, reference, num_examples=100, lr=0.03, num_epochs=4, batch_size=10)
    losses = expect_floats("the losses `train` returns", outcome.value, length=4, hint="Return one loss per epoch.")
    w_after = expect_tensor("w after `train`", outcome.args[2], shape=(2, 1)).detach().to(features)
    b_after = expect_tensor("b after `train`", outcome.args[3], shape=(1,)).detach().to(features)
    final = float(reference.squared_loss(reference.linreg(features, w_after, b_after), labels).mean())
    expect(math.isclose(losses[-1], final, rel_tol=1e-3, abs_tol=1e-9),
           f"The last loss should be the mean loss of the trained w and b over all the data ({final:.4g}), but it is {losses[-1]:.4g}.",
           "After each epoch compute loss(net(features, w, b), labels).mean() on the whole data set, not the last minibatch's loss or a sum.")
    expect(losses[0] > losses[-1], "The loss should fall from the first epoch to the last.")


@question("train")
def test_train_respects_its_settings(student, reference):
    """train uses the given learning rate, number of epochs and batch size"""
    _, _, outcome = _train_outcome(student, reference, lr=0.005, num_epochs=2, batch_size=50)
    losses = expect_floats("the losses `train` returns", outcome.value, length=2, hint="Run num_epochs epochs.")
    # 2 epochs of 20 small steps barely move the parameters from zero.
    expect(_fit_error(outcome) > 0.5 and losses[-1] > 1.0,
           f"With lr=0.005, 2 epochs and batches of 50, training should still be far from converged, but the loss is {losses[-1]:.3g}.",
           "Pass lr, num_epochs and batch_size through instead of the defaults.")


@question("train")
def test_train_flat_labels(student, reference):
    """train works with labels of shape (n,)"""
    _, _, outcome = _train_outcome(student, reference, flat_labels=True, **CONVERGING)
    expect_floats("the losses `train` returns", outcome.value, length=3)
    error = _fit_error(outcome)
    expect(error < 0.01, f"With labels of shape (n,), {CONVERGING_IN_WORDS}, training should still get within 0.01"
                         f" of w and b, but the error is {error:.3g}.")


@question("train")
def test_train_device(student, reference, device):
    """train converges on the device of the data"""
    _, _, outcome = _train_outcome(student, reference, device, **CONVERGING)
    expect_floats("the losses `train` returns", outcome.value, length=3)
    error = _fit_error(outcome)
    expect(error < 0.01, f"After training on {device} with {CONVERGING_IN_WORDS}, w and b should be within 0.01 of the truth,"
                         f" but the error is {error:.3g}.")


# ------------------------------------------------------------------ fit_resistance


def _least_squares_slope(current, voltage):
    X = torch.stack([current.double(), torch.ones_like(current, dtype=torch.float64)], dim=1)
    return float(torch.linalg.lstsq(X, voltage.double().reshape(-1, 1)).solution[0])


@question("fit_resistance")
@pytest.mark.parametrize("R", [1.0, 4.7, 22.0, 100.0])
def test_fit_resistance_accuracy(student, R):
    """fit_resistance recovers R to within 1% of the best possible fit"""
    current = 2 * (1 - torch.rand(200))  # spread over (0, 2] A
    offset = float(torch.empty(()).uniform_(0.5, 2.0)) * (1 if torch.rand(()) < 0.5 else -1)
    voltage = (R * current + offset) * (1 + 0.01 * torch.randn(200))
    result = _pair("`fit_resistance`", student.fit_resistance(current, voltage))
    got = expect_scalar("R", result[0])
    expect_scalar("the offset", result[1])
    best = _least_squares_slope(current, voltage)
    expect(abs(got - best) <= 0.01 * abs(best),
           f"For a {R:g} ohm resistor the data support R = {best:.4g}, but `fit_resistance` returned {got:.4g}.",
           "Fit both R and the offset, and make sure gradient descent has converged: scale the data, or tune the learning rate and steps.")


@question("fit_resistance")
def test_fit_resistance_uses_autograd(student):
    """fit_resistance learns with autograd, not a closed-form solver"""
    expect_no_calls(student, "fit_resistance", CLOSED_FORM, NO_CLOSED_FORM)
    expect_calls(student, "fit_resistance", AUTOGRAD, NO_CLOSED_FORM)
    current = 2 * (1 - torch.rand(50))
    voltage = (10.0 * current + 0.5) * (1 + 0.01 * torch.randn(50))
    outcome = student.call("fit_resistance", current, voltage, observe=True)  # the source can hide a name
    expect_no_calls_at_run_time(outcome, "fit_resistance", SOLVERS_AT_RUN_TIME, NO_CLOSED_FORM)
    expect_learns_with_autograd(outcome, "fit_resistance", LEARN_WITH_AUTOGRAD)


# ------------------------------------------------------------------ planck, fit_temperature


@question("planck")
@pytest.mark.parametrize("T", [1000.0, 3000.0, 10000.0])
def test_planck_spectrum(student, reference, T, device):
    """planck matches Planck's law over 0.3 to 3 µm"""
    wavelengths = torch.linspace(0.3, 3.0, 25, device=device)
    got = student.planck(wavelengths, T)
    expect_tensor(f"`planck(wavelengths, {T:g})`", got, shape=(25,), device=device)
    expect_close(f"`planck(wavelengths, {T:g})`", got, reference.planck(wavelengths, T), rtol=1e-4, atol=0.0,
                 hint="Check c1 = 1.191043e8, c2 = 14387.77 and the formula c1 / (λ**5 * (exp(c2 / (λ T)) - 1)).")


@question("planck")
def test_planck_tensor_temperature(student, reference):
    """planck takes T as a tensor too, in float64"""
    wavelengths = torch.linspace(0.5, 2.5, 9, dtype=torch.float64)
    T = torch.tensor(4500.0, dtype=torch.float64)
    expect_close("`planck(wavelengths, T)` with T a tensor", student.planck(wavelengths, T), reference.planck(wavelengths, T),
                 rtol=1e-6, atol=0.0)


@question("fit_temperature")
@pytest.mark.parametrize("T", [1000.0, 2200.0, 5800.0, 10000.0])
def test_fit_temperature_noisy(student, reference, T):
    """fit_temperature finds T to within 2% from a noisy spectrum"""
    wavelengths = torch.linspace(0.3, 3.0, 25)
    radiance = reference.planck(wavelengths, T) * (1 + 0.01 * torch.randn(25))
    got = expect_scalar("the temperature", student.fit_temperature(wavelengths, radiance))
    expect(abs(got - T) <= 0.02 * T, f"For a body at {T:g} K `fit_temperature` returned {got:.5g} K.",
           "Raw radiances span many orders of magnitude: fit log T against log radiance so the steps stay sane.")


@question("fit_temperature")
def test_fit_temperature_uses_autograd(student, reference):
    """fit_temperature learns with autograd, not a closed-form solver"""
    expect_no_calls(student, "fit_temperature", CLOSED_FORM, NO_CLOSED_FORM)
    expect_calls(student, "fit_temperature", AUTOGRAD, NO_CLOSED_FORM)
    wavelengths = torch.linspace(0.3, 3.0, 25)
    radiance = reference.planck(wavelengths, 3000.0) * (1 + 0.01 * torch.randn(25))
    outcome = student.call("fit_temperature", wavelengths, radiance, observe=True)  # the source can hide a name
    expect_no_calls_at_run_time(outcome, "fit_temperature", SOLVERS_AT_RUN_TIME, NO_CLOSED_FORM)
    expect_learns_with_autograd(outcome, "fit_temperature", LEARN_WITH_AUTOGRAD)


# ------------------------------------------------------------------ second_derivative

SECOND_DERIVATIVES = {
    "x**3": (function("power", a=1.0, p=3), lambda x: 6 * x),
    "sin": (function("sin", a=1.0), lambda x: -torch.sin(x)),
    "exp": (function("exp", a=1.0), torch.exp),
    "linear": (function("linear", a=3.0, c=1.0), torch.zeros_like),
    "constant": (function("constant", c=2.0), torch.zeros_like),
}


@question("second_derivative")
@pytest.mark.parametrize("case", list(SECOND_DERIVATIVES))
def test_second_derivative_values(student, case, device):
    """second_derivative is right for x**3, sin, exp, a linear and a constant function"""
    f, expected = SECOND_DERIVATIVES[case]
    x = torch.linspace(-2, 2, 7, device=device)
    got = student.second_derivative(f, x)
    expect_tensor(f"`second_derivative` of {case}", got, shape=(7,), device=device)
    expect(not got.requires_grad, f"The result for {case} still requires grad.", "Return a detached tensor (.detach()).")
    expect_close(f"`second_derivative` of {case}", got, expected(x),
                 hint="For a linear or constant f the second derivative is zero: handle a gradient that is None or does not require grad."
                 if case in ("linear", "constant") else "Take the gradient of the first derivative, created with create_graph=True.")


@question("second_derivative")
def test_second_derivative_leaves_x_alone(student):
    """second_derivative does not change the caller's x"""
    x = torch.tensor([0.5, 1.5, -1.0])
    outcome = student.call("second_derivative", function("sin", a=1.0), x)
    after = outcome.args[1]
    expect_tensor("x after `second_derivative`", after)
    expect(not after.requires_grad and after.grad is None, "`second_derivative` changed the caller's x (its requires_grad or grad).",
           "Work on x.detach().clone().requires_grad_() instead of x itself.")
    expect_close("x after `second_derivative`", after, x)


# ------------------------------------------------------------------ lr_sweep


@question("lr_sweep")
def test_lr_sweep_fresh_parameters(student, reference):
    """each learning rate starts from fresh parameters"""
    features, labels = reference.synthetic_data(TRUE_W, TRUE_B, 300)
    result = student.lr_sweep(features, labels, [0.1, 0.01], num_epochs=3)
    expect(_same_keys(result, [0.1, 0.01]),
           "`lr_sweep` should return a dict whose keys are the learning rates [0.1, 0.01].")
    fast = expect_floats("the losses for lr=0.1", result[0.1], length=3)
    slow = expect_floats("the losses for lr=0.01", result[0.01], length=3)
    # From fresh parameters, 30 steps at lr=0.01 leave the loss far above the converged level (about 5e-5).
    expect(slow[0] > 0.01, f"The first loss for lr=0.01 is already {slow[0]:.3g}, as if training went on from the previous run.",
           "Create new parameters (init_params) for each learning rate.")
    expect(fast[-1] < 1e-3, f"With lr=0.1 the loss after 3 epochs should be tiny, but it is {fast[-1]:.3g}.")


@question("lr_sweep")
def test_lr_sweep_epochs(student, reference):
    """lr_sweep trains for num_epochs epochs at every learning rate"""
    features, labels = reference.synthetic_data(TRUE_W, TRUE_B, 20)  # two steps an epoch: only the count matters
    lrs = [0.003, 0.03, 0.3]
    result = student.lr_sweep(features, labels, lrs, num_epochs=4)
    expect(_same_keys(result, lrs), f"The keys of `lr_sweep`'s dict should be {lrs}.")
    for lr in lrs:
        expect_floats(f"the losses for lr={lr}", result[lr], length=4)


# ------------------------------------------------------------------ batch_sizes


@question("batch_sizes")
@pytest.mark.parametrize("n, size", [(1003, 10), (7, 10), (20, 20), (1, 1), (95, 30)])
def test_batch_sizes_uneven(student, n, size):
    """batch_sizes lists every batch, the last one smaller when the sizes do not divide"""
    got = student.batch_sizes(n, size)
    expected = [size] * (n // size) + ([n % size] if n % size else [])
    sizes = [expect_scalar("each batch size", s, allow={INTEGER}) for s in got] if isinstance(got, (list, tuple)) else None
    shown = expected if len(expected) <= 6 else f"[{size}, {size}, ..., {expected[-1]}] ({len(expected)} batches)"
    expect(sizes == expected, f"`batch_sizes({n}, {size})` should be {shown}, but it is {describe(got) if sizes is None else _short(sizes)}.",
           "data_iter keeps the last, smaller batch.")


def _short(sizes):
    return str([int(s) for s in sizes]) if len(sizes) <= 6 else f"[{int(sizes[0])}, ..., {int(sizes[-1])}] ({len(sizes)} batches)"
