"""Public checks for linreg_scratch (d2l 3.2): small, fixed examples students can run themselves.

The hidden checks in ``graders/hidden/linreg_scratch.py`` go further:
random inputs, statistics, edge cases and CUDA.
"""

import math

import pytest
import torch

from d2lgrade.checks import INTEGER, describe, expect, expect_close, expect_floats, expect_items, expect_scalar, expect_tensor
from d2lgrade.wire import Code

question = pytest.mark.question

TRUE_W = torch.tensor([2.0, -3.4])
TRUE_B = 4.2


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


@question("init_params")
def test_init_params_shapes(student):
    """init_params returns w of shape (d, 1) and b of shape (1,), both requiring grad"""
    w, b = _pair("`init_params(3)`", student.init_params(3))
    expect_tensor("w", w, shape=(3, 1), dtype=torch.float32)
    expect_tensor("b", b, shape=(1,), dtype=torch.float32)
    expect(w.requires_grad and b.requires_grad, "w and b must be created with requires_grad=True so autograd can train them.")
    expect_close("b", b, torch.zeros(1), hint="The bias starts at zero.")


@question("linreg")
def test_linreg_small_example(student):
    """linreg computes Xw + b"""
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.tensor([[0.5], [-1.0]])
    b = torch.tensor([1.0])
    expect_close("`linreg(X, w, b)`", student.linreg(X, w, b), torch.tensor([[-0.5], [-1.5]]), hint="The model is X @ w + b.")


@question("squared_loss")
def test_squared_loss_small_example(student):
    """squared_loss is (y_hat - y)**2 / 2 for each example"""
    y_hat = torch.tensor([[1.0], [2.0], [4.0]])
    y = torch.tensor([[1.0], [0.0], [1.0]])
    expect_close("`squared_loss(y_hat, y)`", student.squared_loss(y_hat, y), torch.tensor([[0.0], [2.0], [4.5]]),
                 hint="Each example's loss is half its squared error: mind the / 2.")


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


@question("train")
def test_train_converges(student):
    """train recovers w and b to within 0.01 with the book's settings"""
    features, labels = _synthetic(1000)
    w, b = (0.01 * torch.randn(2, 1)).requires_grad_(), torch.zeros(1).requires_grad_()
    outcome = student.call("train", features, labels, w, b, lr=0.03, num_epochs=3, batch_size=10)
    losses = expect_floats("the losses `train` returns", outcome.value, length=3, hint="Return one mean loss per epoch.")
    w_after = expect_tensor("w after `train`", outcome.args[2], shape=(2, 1), device="cpu")
    b_after = expect_tensor("b after `train`", outcome.args[3], shape=(1,), device="cpu")
    error = max(float((w_after.reshape(-1) - TRUE_W).abs().max()), abs(float(b_after.reshape(-1)[0]) - TRUE_B))
    expect(error < 0.01, f"After training, w and b should be within 0.01 of the truth, but the largest error is {error:.3g}.",
           "Update w and b in place (through sgd) so the caller's tensors are trained.")
    expect(losses[-1] < 1e-3, f"The last epoch's loss should be tiny (about 5e-5), but it is {losses[-1]:.3g}.")


@question("fit_resistance")
def test_fit_resistance_ten_ohm(student):
    """fit_resistance finds a 10 ohm resistor to within 1%"""
    current = torch.linspace(0.1, 2.0, 40)
    voltage = 10.0 * current + 0.3
    R, offset = _pair("`fit_resistance`", student.fit_resistance(current, voltage))
    R = expect_scalar("R", R)
    expect(math.isclose(R, 10.0, rel_tol=0.01), f"R should be about 10 ohm, but `fit_resistance` returned {R:.4g}.")


@question("planck")
def test_planck_at_the_sun(student):
    """planck matches Planck's law at 5800 K"""
    wavelengths = torch.tensor([0.5, 1.0, 2.0])
    expect_close("`planck(wavelengths, 5800)`", student.planck(wavelengths, 5800.0), _radiance(wavelengths, 5800.0),
                 rtol=1e-4, atol=0.0, hint="Check the formula: c1 / (λ**5 * (exp(c2 / (λ T)) - 1)).")


@question("fit_temperature")
def test_fit_temperature_sun(student):
    """fit_temperature finds 5800 K from a noiseless spectrum to within 2%"""
    wavelengths = torch.linspace(0.3, 3.0, 25)
    T = expect_scalar("the temperature", student.fit_temperature(wavelengths, _radiance(wavelengths, 5800.0)))
    expect(abs(T - 5800) / 5800 < 0.02, f"The temperature should be about 5800 K, but `fit_temperature` returned {T:.5g}.")


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


@question("lr_sweep")
def test_lr_sweep_keys(student):
    """lr_sweep returns the epoch losses for each learning rate"""
    features, labels = _synthetic(200)
    result = student.lr_sweep(features, labels, [0.01, 0.1], num_epochs=2)
    expect(isinstance(result, dict), f"`lr_sweep` should return a dict {{lr: losses}}, but it returned {type(result).__name__}.")
    expect(_same_keys(result, [0.01, 0.1]), f"The keys should be the learning rates [0.01, 0.1], but they are {list(result)}.")
    for lr, losses in result.items():
        expect_floats(f"the losses for lr={lr}", losses, length=2)


@question("batch_sizes")
def test_batch_sizes_even(student):
    """batch_sizes(100, 10) is ten batches of 10"""
    got = student.batch_sizes(100, 10)
    sizes = [expect_scalar("each batch size", s, allow={INTEGER}) for s in got] if isinstance(got, (list, tuple)) else None
    expect(sizes == [10] * 10, f"`batch_sizes(100, 10)` should be ten 10s, but it is {describe(got) if sizes is None else sizes}.")
