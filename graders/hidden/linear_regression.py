"""Hidden checks for linear_regression (d2l 3.1): random inputs, edge cases, CUDA.

The Timer runs against a scripted clock (see ``TIMER_SCRIPT``): nothing
sleeps, and every clock the Timer might read shows the same time.
"""

import math

import numpy as np
import pytest
import torch

from d2lgrade.checks import describe, expect, expect_close, expect_floats, expect_scalar, expect_tensor, fail
from d2lgrade.student import NotImplementedYet, Raised
from d2lgrade.wire import Code
from public.linear_regression import (  # shared with the public checks
    TIMER_SCRIPT,
    TIMER_HINT,
    run_timer,
    raise_if_raised,
    NORMAL_HINT,
    CLOSED_FORM_HINT,
    check_closed_form,
    closed_form_hint,
    check_laplace,
)

question = pytest.mark.question

# ------------------------------------------------------------------ Timer


def timer_value(summary, key, call):
    value = summary[key]
    raise_if_raised(value, call)
    return value


def timer_floats(what, value, hint=""):
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    return expect_floats(what, value, hint=hint)


def close_lists(got, expected):
    return len(got) == len(expected) and all(math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-6) for g, e in zip(got, expected))


def shown(values):
    values = [round(float(v), 6) for v in values]
    return str(values) if len(values) <= 8 else f"{values[:4]} ... {values[-2:]} ({len(values)} values)"


def describe_value(value):
    """A number as itself (whatever its type), anything else as checks.describe says."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return f"the single number {float(value):.6g}"
    return describe(value)


def check_summaries(summary, times, context):
    """times, sum, avg and cumsum of one timer, against the intervals it measured."""
    got_times = timer_floats("`timer.times`", timer_value(summary, "times", "Timer.times"))
    expect(close_lists(got_times, times), f"{context}, `timer.times` should be {shown(times)}, but it is {shown(got_times)}.",
           "Append the elapsed time to self.times in every stop(), and keep one list per Timer (create it in __init__).")
    total = expect_scalar("`timer.sum()`", timer_value(summary, "sum", "Timer.sum"))
    expect(math.isclose(total, sum(times), abs_tol=1e-6), f"{context}, `timer.sum()` should be {sum(times):.6g}, but it is {total:.6g}.",
           "Return sum(self.times).")
    avg = expect_scalar("`timer.avg()`", timer_value(summary, "avg", "Timer.avg"))
    expect(math.isclose(avg, sum(times) / len(times), abs_tol=1e-6),
           f"{context}, `timer.avg()` should be {sum(times) / len(times):.6g} (the mean of {len(times)} times), but it is {avg:.6g}.",
           "Divide the total by the number of recorded times, len(self.times), not by the number of starts.")
    cumsum = timer_value(summary, "cumsum", "Timer.cumsum")
    running = [float(v) for v in np.cumsum(times)]
    if not isinstance(cumsum, (list, tuple, np.ndarray, torch.Tensor)):
        fail(f"{context}, `timer.cumsum()` should be the list of running totals {shown(running)}, but it is {describe_value(cumsum)}. "
             "Return one running total per recorded time, not only the final total.")
    got_cumsum = timer_floats("`timer.cumsum()`", cumsum)
    expect(close_lists(got_cumsum, running), f"{context}, `timer.cumsum()` should be {shown(running)}, but it is {shown(got_cumsum)}.",
           "Return the running totals of the times, e.g. np.array(self.times).cumsum().tolist().")


@question("Timer")
def test_timer_random_intervals(student):
    """Timer measures many intervals between start and stop"""
    steps, times, now = [[0, "new", 1000.0]], [], 1000.0
    for i in range(12):
        if i:
            now += int(torch.randint(1, 50, ()))
            steps.append([0, "start", now])
        elapsed = int(torch.randint(1, 4096, ())) / 256  # exact in binary
        now += elapsed
        steps.append([0, "stop", now])
        times.append(elapsed)
    stops, (summary,) = run_timer(student, steps)
    got = [expect_scalar("what `stop()` returns", s, "Return the elapsed seconds from stop().") for s in stops]
    expect(close_lists(got, times), f"Over 12 intervals `stop()` should return {shown(times)}, but it returned {shown(got)}.", TIMER_HINT)
    check_summaries(summary, times, "After 12 intervals")


@question("Timer")
def test_timer_starts_on_creation(student):
    """a new Timer is already running: stop without start measures from creation"""
    stops, (summary,) = run_timer(student, [[0, "new", 50.0], [0, "stop", 57.5]])
    got = expect_scalar("what `stop()` returns", stops[0], "Return the elapsed seconds from stop().")
    expect(math.isclose(got, 7.5, abs_tol=1e-6),
           f"A Timer created at 50 s and stopped at 57.5 s should return 7.5 from `stop()`, but it returned {got:.6g}.",
           "Call self.start() in __init__ so the timer runs from creation.")
    check_summaries(summary, [7.5], "With one time of 7.5 s")


@question("Timer")
def test_timer_restart_before_stop(student):
    """start restarts the clock; avg counts recorded times, not starts"""
    steps = [[0, "new", 0.0], [0, "start", 40.0], [0, "start", 60.0], [0, "stop", 62.0], [0, "start", 100.0], [0, "stop", 104.0]]
    stops, (summary,) = run_timer(student, steps)
    got = [expect_scalar("what `stop()` returns", s, "Return the elapsed seconds from stop().") for s in stops]
    expect(close_lists(got, [2.0, 4.0]),
           f"Created at 0 s, started at 40 s and again at 60 s, stopped at 62 s, then started at 100 s and stopped at 104 s, "
           f"`stop()` should return [2.0, 4.0], but it returned {shown(got)}.",
           "start() sets the reference time anew; stop() measures from the most recent start.")
    check_summaries(summary, [2.0, 4.0], "After those starts and two stops")


@question("Timer")
def test_timer_instances_are_independent(student):
    """two Timers keep separate lists of times"""
    steps = [[0, "new", 10.0], [0, "stop", 11.0], [1, "new", 20.0], [1, "stop", 23.0], [1, "start", 30.0], [1, "stop", 30.5]]
    stops, (first, second) = run_timer(student, steps)
    first_times = timer_floats("the first timer's `times`", timer_value(first, "times", "Timer.times"))
    second_times = timer_floats("the second timer's `times`", timer_value(second, "times", "Timer.times"))
    expect(close_lists(first_times, [1.0]) and close_lists(second_times, [3.0, 0.5]),
           f"Two timers should record their own times ([1.0] and [3.0, 0.5]), but they hold {shown(first_times)} and {shown(second_times)}.",
           "Create self.times = [] in __init__; a list written in the class body is shared by every Timer.")
    check_summaries(second, [3.0, 0.5], "For the second timer")


# ------------------------------------------------------------------ add_loop, add_vectorized


@question("add_loop")
def test_add_loop_random(student):
    """add_loop matches a + b on random vectors and leaves them unchanged"""
    a, b = torch.randn(300), torch.randn(300)
    outcome = student.call("add_loop", a, b)
    got = expect_tensor("`add_loop(a, b)`", outcome.value, shape=(300,),
                        hint="c is a new 1-D tensor with one entry per element of a.")
    expect_close("`add_loop(a, b)`", got, a + b, hint="Set c[i] = a[i] + b[i] for every index i from 0 to len(a) - 1.")
    expect_close("a after `add_loop(a, b)`", outcome.args[0], a, hint="Write the sums into a new tensor c, not into a.")
    expect_close("b after `add_loop(a, b)`", outcome.args[1], b, hint="Write the sums into a new tensor c, not into b.")


@question("add_loop")
@pytest.mark.parametrize("n", [1, 2])
def test_add_loop_short(student, n):
    """add_loop works for vectors of one and two elements"""
    a, b = torch.arange(1.0, n + 1), torch.full((n,), 0.5)
    got = expect_tensor(f"`add_loop(a, b)` for {n} element(s)", student.add_loop(a, b), shape=(n,))
    expect_close(f"`add_loop(a, b)` for {n} element(s)", got, a + b, hint="Loop over every index: range(len(a)).")


@question("add_loop")
def test_add_loop_device(student, device):
    """add_loop returns c on the device of its inputs"""
    a, b = torch.randn(20, device=device), torch.randn(20, device=device)
    got = expect_tensor("`add_loop(a, b)`", student.add_loop(a, b), shape=(20,), device=device,
                        hint="Create c with device=a.device.")
    expect_close("`add_loop(a, b)`", got, a + b)


@question("add_vectorized")
def test_add_vectorized_random(student):
    """add_vectorized matches a + b on long random vectors and leaves them unchanged"""
    a, b = torch.randn(10000), torch.randn(10000)
    outcome = student.call("add_vectorized", a, b)
    got = expect_tensor("`add_vectorized(a, b)`", outcome.value, shape=(10000,))
    expect_close("`add_vectorized(a, b)`", got, a + b, hint="Return a + b.")
    expect_close("a after `add_vectorized(a, b)`", outcome.args[0], a, hint="Return a new tensor (a + b); `a += b` changes the caller's a.")
    expect_close("b after `add_vectorized(a, b)`", outcome.args[1], b, hint="Return a new tensor; do not change b.")


@question("add_vectorized")
def test_add_vectorized_device(student, device):
    """add_vectorized returns the sum on the device of its inputs"""
    a, b = torch.randn(1000, device=device), torch.randn(1000, device=device)
    got = expect_tensor("`add_vectorized(a, b)`", student.add_vectorized(a, b), shape=(1000,), device=device)
    expect_close("`add_vectorized(a, b)`", got, a + b)


# ------------------------------------------------------------------ normal

NORMAL_TYPES = "Use np.exp for numpy input and torch.exp for tensors (check isinstance(x, torch.Tensor))."
NORMAL_PARAMS = [(0.0, 1.0), (0.0, 2.0), (3.0, 1.0), (-1.5, 0.5)]


def gaussian(x, mu, sigma):
    return np.exp(-((np.asarray(x, dtype=np.float64) - np.asarray(mu, dtype=np.float64)) ** 2) / (2 * sigma**2)) / math.sqrt(2 * math.pi * sigma**2)


@question("normal")
@pytest.mark.parametrize("mu, sigma", NORMAL_PARAMS)
def test_normal_numpy_book_curves(student, mu, sigma):
    """normal gives the book's density curves for numpy input"""
    x = np.arange(-7, 7, 0.01)
    got = student.normal(x, mu, sigma)
    expect(isinstance(got, np.ndarray), f"`normal(x, {mu}, {sigma})` with x a numpy array should return a numpy array, but it returned {describe(got)}.",
           NORMAL_TYPES)
    expect_close(f"`normal(x, {mu}, {sigma})`", got, gaussian(x, mu, sigma), rtol=1e-5, atol=1e-9, hint=NORMAL_HINT)


@question("normal")
def test_normal_numpy_keeps_shape(student):
    """normal keeps the shape of a 2-D numpy array"""
    x = np.random.randn(4, 5) * 3
    got = student.normal(x, 0.7, 1.3)
    expect(isinstance(got, np.ndarray), f"`normal` of a numpy array should return a numpy array, but it returned {describe(got)}.", NORMAL_TYPES)
    expect_close("`normal(x, 0.7, 1.3)` with x of shape (4, 5)", got, gaussian(x, 0.7, 1.3), rtol=1e-5, atol=1e-9, hint=NORMAL_HINT)


@question("normal")
@pytest.mark.parametrize("mu, sigma", NORMAL_PARAMS)
def test_normal_tensor_random(student, mu, sigma):
    """normal gives tensor densities for tensor input"""
    x = mu + 3 * sigma * torch.randn(50)
    got = expect_tensor(f"`normal(x, {mu}, {sigma})` with x a tensor", student.normal(x, mu, sigma), shape=(50,),
                        hint="Tensor input gives tensor output: use torch.exp for tensors.")
    expect_close(f"`normal(x, {mu}, {sigma})`", got, gaussian(x.numpy(), mu, sigma), rtol=1e-4, atol=1e-7, hint=NORMAL_HINT)


@question("normal")
def test_normal_tensor_mean(student):
    """normal takes mu as a tensor, as in the likelihood of predictions"""
    y, y_hat = torch.randn(30), torch.randn(30)
    got = expect_tensor("`normal(y, y_hat, 0.7)`", student.normal(y, y_hat, 0.7), shape=(30,))
    expect_close("`normal(y, y_hat, 0.7)`", got, gaussian(y.numpy(), y_hat.numpy(), 0.7), rtol=1e-4, atol=1e-7, hint=NORMAL_HINT)


@question("normal")
def test_normal_device(student, device):
    """normal returns densities on the device of its input"""
    x = torch.linspace(-3, 3, 41, device=device)
    got = expect_tensor("`normal(x, 0.5, 1.5)`", student.normal(x, 0.5, 1.5), shape=(41,), device=device,
                        hint="Use torch.exp for tensors: numpy cannot work on GPU tensors.")
    expect_close("`normal(x, 0.5, 1.5)`", got, gaussian(x.cpu().numpy(), 0.5, 1.5), rtol=1e-4, atol=1e-7, hint=NORMAL_HINT)


# ------------------------------------------------------------------ best_constant


def best_constant_hint(got, x):
    x = x.detach().cpu().double()
    if math.isclose(got, float(x.median()), rel_tol=1e-5, abs_tol=1e-6) or math.isclose(got, float(x.quantile(0.5)), rel_tol=1e-5, abs_tol=1e-6):
        return "That is the median, which minimises sum(|x_i - b|); setting the derivative -2 * sum(x_i - b) of the squared loss to zero gives the mean."
    return "Set the derivative -2 * sum(x_i - b) to zero and solve for b."


@question("best_constant")
@pytest.mark.parametrize("n", [1, 2, 200])
def test_best_constant_skewed_data(student, n):
    """best_constant minimises the squared loss on skewed data"""
    x = torch.distributions.Exponential(0.5).sample((n,)) + 1
    got = expect_scalar("`best_constant(x)`", student.best_constant(x))
    expected = float(x.double().mean())
    expect(math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5),
           f"For these {n} values the b minimising sum((x_i - b)**2) is {expected:.6g}, but `best_constant` returned {got:.6g}.",
           best_constant_hint(got, x))


@question("best_constant")
def test_best_constant_device(student, device):
    """best_constant works on the device of its input"""
    x = (3 + 2 * torch.randn(101)).to(device)
    got = student.best_constant(x)
    if isinstance(got, torch.Tensor):
        expect_tensor("`best_constant(x)`", got, device=device)
    value = expect_scalar("`best_constant(x)`", got)
    expected = float(x.double().mean())
    expect(math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-5),
           f"`best_constant(x)` on {device} should be {expected:.6g}, but it is {value:.6g}.", best_constant_hint(value, x))


# ------------------------------------------------------------------ closed_form


def regression_data(n, d, device="cpu"):
    X = torch.randn(n, d) * torch.empty(d).uniform_(0.5, 2.0) + torch.empty(d).uniform_(-2.0, 2.0)
    w = torch.randn(d, 1) * 3
    b = float(torch.empty(()).uniform_(2.0, 6.0))
    y = X @ w + b + 0.1 * torch.randn(n, 1)
    return X.to(device), y.to(device)


@question("closed_form")
@pytest.mark.parametrize("labels", ["(n, 1)", "(n,)"])
def test_closed_form_noisy(student, labels):
    """closed_form gives the least-squares fit of noisy data, for y of shape (n, 1) and (n,)"""
    X, y = regression_data(200, 4)
    if labels == "(n,)":
        y = y.reshape(-1)
    check_closed_form(f"`closed_form(X, y)` with y of shape {labels}", student.closed_form(X, y), X, y)


@question("closed_form")
def test_closed_form_exactly_determined(student):
    """closed_form fits n = d + 1 points exactly"""
    X, _ = regression_data(4, 3)
    y = torch.randn(4, 1) * 5
    check_closed_form("`closed_form(X, y)` with 4 examples and 3 features", student.closed_form(X, y), X, y)


@question("closed_form")
def test_closed_form_device(student, device):
    """closed_form returns w and b on the device of its inputs"""
    X, y = regression_data(100, 3, device)
    check_closed_form(f"`closed_form(X, y)` on {device}", student.closed_form(X, y), X, y, device=device)


# ------------------------------------------------------------------ laplace_nll


def laplace_hint(got, y_hat, y):
    """The likely mistake behind a wrong negative log-likelihood."""
    r = y.reshape(-1).double() - y_hat.reshape(-1).double()
    n, log2 = r.numel(), math.log(2)
    broadcast = (y.double().reshape(-1, 1) - y_hat.double().reshape(1, -1)) if y.dim() != y_hat.dim() else None
    mistakes = [
        (float(r.abs().sum()), "You left out n log 2: each example contributes -log(1/2) = log 2."),
        (float(r.abs().sum()) + log2, "Add log 2 once per example (n log 2), not once."),
        (float(r.abs().sum()) - n * log2, "The constant is +n log 2: -log(1/2) = +log 2."),
        (float((r ** 2).sum()) + n * log2, "The Laplace noise gives absolute values |y - y_hat|, not squares."),
        (float((r ** 2).sum()), "The Laplace noise gives absolute values |y - y_hat|, not squares, plus n log 2."),
        (float(r.abs().mean()) + log2, "Sum over the examples instead of averaging."),
        (float(r.abs().mean()), "Sum |y - y_hat| over the examples (not the mean) and add n log 2."),
    ]
    if broadcast is not None:
        for value in (float(broadcast.abs().sum()) + n * log2, float(broadcast.abs().sum()) + n * n * log2):
            mistakes.append((value, "y and y_hat have different shapes and broadcast to an (n, n) matrix: reshape y to y_hat's shape first."))
    matches = {hint for value, hint in mistakes if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-4)}
    if len(matches) == 1:
        return matches.pop()
    return "The negative log-likelihood is sum(|y - y_hat|) + n log 2; reshape y to y_hat's shape so nothing broadcasts."


SHAPES = {"(n,)": (-1,), "(n, 1)": (-1, 1)}


@question("laplace_nll")
@pytest.mark.parametrize("y_hat_shape, y_shape", [("(n, 1)", "(n,)"), ("(n, 1)", "(n, 1)"), ("(n,)", "(n,)"), ("(n,)", "(n, 1)")])
def test_laplace_nll_random(student, y_hat_shape, y_shape):
    """laplace_nll is right for random residuals, whatever the shapes of y_hat and y"""
    y_hat = (3 * torch.randn(40)).reshape(SHAPES[y_hat_shape])
    y = (y_hat.reshape(-1) + torch.distributions.Laplace(0.0, 1.0).sample((40,))).reshape(SHAPES[y_shape])
    check_laplace(f"`laplace_nll(y_hat, y)` with y_hat of shape {y_hat_shape} and y of shape {y_shape}",
                  student.laplace_nll(y_hat, y), y_hat, y)


@question("laplace_nll")
def test_laplace_nll_perfect_fit(student):
    """with no residuals laplace_nll is n log 2"""
    y = torch.randn(25)
    check_laplace("`laplace_nll(y, y)` for 25 examples", student.laplace_nll(y.clone(), y), y, y)


@question("laplace_nll")
def test_laplace_nll_device(student, device):
    """laplace_nll works on the device of its inputs"""
    y_hat, y = torch.randn(60, 1, device=device), torch.randn(60, 1, device=device)
    check_laplace(f"`laplace_nll(y_hat, y)` on {device}", student.laplace_nll(y_hat, y), y_hat, y, device=device)
