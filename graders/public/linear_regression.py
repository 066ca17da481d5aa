"""Public checks for linear_regression (d2l 3.1): small, fixed examples students can run themselves.

The hidden checks in ``graders/hidden/linear_regression.py`` go further:
random inputs, edge cases and CUDA.
"""

import math

import numpy as np
import pytest
import torch

from d2lgrade.checks import describe, expect, expect_close, expect_floats, expect_scalar, expect_tensor, fail
from d2lgrade.rules import expect_loop, expect_loop_over_elements, expect_no_loop, expect_vectorized
from d2lgrade.student import NotImplementedYet, Raised
from d2lgrade.wire import Code

question = pytest.mark.question

# ------------------------------------------------------------------ Timer
#
# The Timer runs on the student's side with every clock it might read
# (time.time, time.perf_counter, time.monotonic, their _ns twins, and any of
# them imported by name into the notebook) patched to one scripted clock
# that the script moves forward: no real sleeping, and any number of clock
# reads between two steps sees the same time.

TIMER_SCRIPT = '''
import contextlib as _contextlib
import time as _time
import timeit as _timeit
import types as _types
from unittest import mock as _mock

_now = [0.0]


def _clock():
    return _now[0]


def _clock_ns():
    return int(round(_now[0] * 1_000_000_000))


_fakes = {"time": _clock, "perf_counter": _clock, "monotonic": _clock,
          "time_ns": _clock_ns, "perf_counter_ns": _clock_ns, "monotonic_ns": _clock_ns}
_by_original = {id(getattr(_time, name)): fake for name, fake in _fakes.items()}


def _namespaces(cls):
    seen = {}
    for klass in getattr(cls, "__mro__", (cls,)):
        for attr in vars(klass).values() if klass is not object else ():
            attr = getattr(attr, "__func__", attr)
            if isinstance(attr, _types.FunctionType):
                seen[id(attr.__globals__)] = attr.__globals__
    return list(seen.values())


def _raised(exc):
    return {"$raised": type(exc).__name__, "message": str(exc)[:300]}


def _summary(timer):
    out = {"types": {}}
    for key, get in (("times", lambda: list(timer.times)), ("sum", timer.sum), ("avg", timer.avg), ("cumsum", timer.cumsum)):
        try:
            value = get()
            out["types"][key] = type(value).__module__ + "." + type(value).__qualname__
            out[key] = value.tolist() if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1 else value
        except Exception as exc:
            out[key] = _raised(exc)
    return out


try:
    with _contextlib.ExitStack() as _stack:
        for _name, _fake in _fakes.items():
            _stack.enter_context(_mock.patch.object(_time, _name, _fake))
        if id(_timeit.default_timer) in _by_original:
            _stack.enter_context(_mock.patch.object(_timeit, "default_timer", _by_original[id(_timeit.default_timer)]))
        for _globals in _namespaces(Timer):
            _found = {key: _by_original[id(value)] for key, value in list(_globals.items()) if id(value) in _by_original}
            if _found:
                _stack.enter_context(_mock.patch.dict(_globals, _found))
        _timers, _stops = [], []
        for _index, _op, _time_now in steps:
            _now[0] = _time_now
            if _op == "new":
                _timers.append(Timer())
            elif _op == "start":
                _timers[_index].start()
            else:
                _stops.append(_timers[_index].stop())
        out = {"stops": _stops, "timers": [_summary(_t) for _t in _timers]}
except Exception as _exc:
    out = _raised(_exc)
'''

TIMER_HINT = "Measure wall-clock time with time.time() (or time.perf_counter()): stop() returns now minus the time of the last start."


def run_timer(student, steps):
    """Run ``steps`` of ``(timer, "new" | "start" | "stop", clock time)``; returns (stop results, per-timer summaries)."""
    got = student.run("Timer", Code(TIMER_SCRIPT, result="out", inputs={"steps": steps}))
    raise_if_raised(got, "Timer")
    return got["stops"], got["timers"]


def raise_if_raised(value, call):
    """Report an exception the student's Timer raised on their side as theirs."""
    if isinstance(value, dict) and "$raised" in value:
        kind = NotImplementedYet if value["$raised"] == "NotImplementedError" else Raised
        raise kind(call, str(value["$raised"]), str(value.get("message", "")))


def timer_value(summary, key, call):
    """One of a timer's summaries, raising the student's error as theirs."""
    value = summary[key]
    raise_if_raised(value, call)
    return value


def timer_floats(what, value):
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    return expect_floats(what, value)


def expect_same_floats(what, got, expected, hint):
    shown = [round(float(v), 6) for v in got]
    expect(len(got) == len(expected) and all(math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-6) for g, e in zip(got, expected)),
           f"{what} should be {expected}, but it is {shown}.", hint)


# A first timer measures 0.5 s; then a second one is created at 100 s, stopped at 101.5,
# restarted at 110, stopped at 110.25, restarted at 200 and stopped at 203.
FIXED_STEPS = [[0, "new", 0.0], [0, "stop", 0.5],
               [1, "new", 100.0], [1, "stop", 101.5], [1, "start", 110.0], [1, "stop", 110.25], [1, "start", 200.0], [1, "stop", 203.0]]
FIXED_TIMES = [1.5, 0.25, 3.0]


@question("Timer")
def test_timer_stop_records_elapsed_time(student):
    """Timer.stop returns the seconds since the last start and records them in times"""
    stops, (_, summary) = run_timer(student, FIXED_STEPS)
    got = [expect_scalar("what `stop()` returns", s, "Return the elapsed seconds from stop().") for s in stops[1:]]
    expect_same_floats("With the clock at 100 s on creation, then intervals 110-110.25 s and 200-203 s, the values `stop()` returned",
                       got, FIXED_TIMES, TIMER_HINT)
    times = timer_floats("`timer.times`", timer_value(summary, "times", "Timer.times"))
    expect_same_floats("`timer.times` after those three stops", times, FIXED_TIMES,
                       "Append each elapsed time to self.times in stop(); create the list in __init__ so that every Timer has its own, "
                       "and do not clear it in start().")


@question("Timer")
def test_timer_summaries(student):
    """Timer.sum, avg and cumsum summarise the recorded times"""
    _, (_, summary) = run_timer(student, FIXED_STEPS)
    total = expect_scalar("`timer.sum()`", timer_value(summary, "sum", "Timer.sum"))
    expect(math.isclose(total, 4.75, abs_tol=1e-6), f"With times [1.5, 0.25, 3.0], `timer.sum()` should be 4.75, but it is {total:.6g}.",
           "Return sum(self.times).")
    avg = expect_scalar("`timer.avg()`", timer_value(summary, "avg", "Timer.avg"))
    expect(math.isclose(avg, 4.75 / 3, abs_tol=1e-6), f"With times [1.5, 0.25, 3.0], `timer.avg()` should be {4.75 / 3:.6g}, but it is {avg:.6g}.",
           "Divide the total by the number of recorded times, len(self.times).")
    cumsum = timer_value(summary, "cumsum", "Timer.cumsum")
    if not isinstance(cumsum, list):
        shown = f"the single number {float(cumsum):.6g}" if isinstance(cumsum, (int, float, np.number)) and not isinstance(cumsum, bool) else describe(cumsum)
        fail(f"`timer.cumsum()` should be a list of running totals, [1.5, 1.75, 4.75], but it is {shown}. "
             "Return one running total per recorded time as a list, e.g. np.array(self.times).cumsum().tolist().")
    expect_same_floats("With times [1.5, 0.25, 3.0], `timer.cumsum()`", timer_floats("`timer.cumsum()`", cumsum), [1.5, 1.75, 4.75],
                       "Return the running totals of the times, one per recorded time.")
    kind = summary["types"]["cumsum"]
    expect(kind == "builtins.list", f"`timer.cumsum()` should return a list, as the notebook says, but it returns a {kind}.",
           "Turn the running totals into a list: np.array(self.times).cumsum().tolist().")


@question("Timer")
def test_timer_start_restarts_the_clock(student):
    """start() restarts the clock, and avg() counts the recorded times, not the starts"""
    stops, (summary,) = run_timer(student, [[0, "new", 0.0], [0, "start", 40.0], [0, "stop", 42.0]])
    got = [expect_scalar("what `stop()` returns", s, "Return the elapsed seconds from stop().") for s in stops]
    expect_same_floats("Created at 0 s, started again at 40 s and stopped at 42 s, what `stop()` returned", got, [2.0],
                       "start() sets the reference time anew; stop() measures from the most recent start.")
    avg = expect_scalar("`timer.avg()`", timer_value(summary, "avg", "Timer.avg"))
    expect(math.isclose(avg, 2.0, abs_tol=1e-6), f"With one recorded time of 2 s, `timer.avg()` should be 2, but it is {avg:.6g}.",
           "Divide the total by the number of recorded times, len(self.times), not by the number of starts.")


# ------------------------------------------------------------------ add_loop, add_vectorized

A = torch.tensor([1.0, 2.0, 3.0, 4.0])
B = torch.tensor([10.0, 20.0, 30.0, 40.0])


@question("add_loop")
def test_add_loop_small_example(student):
    """add_loop adds two vectors element by element into a new tensor"""
    outcome = student.call("add_loop", A, B)
    got = expect_tensor("`add_loop(a, b)`", outcome.value, shape=(4,))
    expect_close("`add_loop(a, b)`", got, A + B, hint="Set c[i] = a[i] + b[i] for every index i from 0 to len(a) - 1.")
    expect_close("a after `add_loop(a, b)`", outcome.args[0], A, hint="Write the sums into a new tensor c, not into a.")


#: Vectors long enough that a loop over their elements stands out from code that runs once.
LONG_A, LONG_B = torch.arange(1.0, 17.0), torch.full((16,), 0.5)
LOOP_HINT = "Fill c[i] = a[i] + b[i] inside a for loop: this exercise times the slow way on purpose."
VECTORIZED_HINT = "Add the whole tensors at once with a + b (or torch.add); no for, while or comprehension."


@question("add_loop")
def test_add_loop_uses_a_python_loop(student):
    """add_loop computes the sum one element at a time in a Python loop"""
    outcome = student.call("add_loop", LONG_A, LONG_B, observe=True)  # a stub says "not implemented yet", not "no loop"
    expect_loop(student, "add_loop", LOOP_HINT)
    expect_loop_over_elements(outcome, "add_loop", len(LONG_A), LOOP_HINT)


@question("add_vectorized")
def test_add_vectorized_small_example(student):
    """add_vectorized adds two vectors"""
    outcome = student.call("add_vectorized", A, B)
    got = expect_tensor("`add_vectorized(a, b)`", outcome.value, shape=(4,))
    expect_close("`add_vectorized(a, b)`", got, A + B, hint="Return a + b.")
    expect_close("a after `add_vectorized(a, b)`", outcome.args[0], A, hint="Return a new tensor (a + b); `a += b` changes the caller's a.")


@question("add_vectorized")
def test_add_vectorized_has_no_python_loop(student):
    """add_vectorized uses one vectorized operation, no Python loop"""
    outcome = student.call("add_vectorized", LONG_A, LONG_B, observe=True)
    got = expect_tensor("`add_vectorized(a, b)`", outcome.value, shape=LONG_A.shape, hint="Return a + b.")
    expect_close("`add_vectorized(a, b)`", got, LONG_A + LONG_B, hint="Return a + b.")
    expect_no_loop(student, "add_vectorized", VECTORIZED_HINT)
    expect_vectorized(outcome, "add_vectorized", len(LONG_A), VECTORIZED_HINT)


# ------------------------------------------------------------------ normal

NORMAL_HINT = "The density is exp(-(x - mu)**2 / (2 * sigma**2)) / sqrt(2 * pi * sigma**2): sigma is the standard deviation, so it appears squared."


def gaussian(x, mu, sigma):
    return np.exp(-((np.asarray(x, dtype=np.float64) - mu) ** 2) / (2 * sigma**2)) / math.sqrt(2 * math.pi * sigma**2)


@question("normal")
def test_normal_numpy(student):
    """normal of a numpy array is a numpy array of densities"""
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    got = student.normal(x, 0.5, 2.0)
    expect(isinstance(got, np.ndarray), f"`normal(x, 0.5, 2.0)` with x a numpy array should return a numpy array, but it returned {describe(got)}.",
           "Use np.exp for numpy input and torch.exp for tensors (check isinstance(x, torch.Tensor)).")
    expect_close("`normal(x, 0.5, 2.0)`", got, gaussian(x, 0.5, 2.0), rtol=1e-5, atol=1e-8, hint=NORMAL_HINT)


@question("normal")
def test_normal_tensor(student):
    """normal of a tensor is a tensor of densities"""
    x = torch.tensor([-1.0, 0.0, 1.0, 2.5])
    got = student.normal(x, 1.0, 0.5)
    got = expect_tensor("`normal(x, 1.0, 0.5)` with x a tensor", got, shape=(4,),
                        hint="Tensor input gives tensor output: use torch.exp for tensors.")
    expect_close("`normal(x, 1.0, 0.5)`", got, gaussian(x.numpy(), 1.0, 0.5), rtol=1e-4, atol=1e-7, hint=NORMAL_HINT)


# ------------------------------------------------------------------ best_constant


@question("best_constant")
def test_best_constant_small_example(student):
    """best_constant of [1, 2, 6] is 3"""
    got = expect_scalar("`best_constant(x)`", student.best_constant(torch.tensor([1.0, 2.0, 6.0])))
    hint = ("2 is the median, which minimises sum(|x_i - b|). " if math.isclose(got, 2.0) else "") + \
        "Set the derivative -2 * sum(x_i - b) to zero and solve for b."
    expect(math.isclose(got, 3.0, rel_tol=1e-5), f"For x = [1, 2, 6] the b minimising sum((x_i - b)**2) is 3, but `best_constant` returned {got:.6g}.", hint)


# ------------------------------------------------------------------ closed_form

CLOSED_FORM_HINT = ("Append a column of ones to X so the bias is fitted too, solve the least-squares problem, "
                    "and split the solution into w (the first d entries, as a (d, 1) column) and b (the last).")


def check_closed_form(what, result, X, y, *, device=None):
    """w shaped (d, 1), b one number, and X @ w + b the least-squares predictions."""
    expect(isinstance(result, (tuple, list)) and len(result) == 2, f"{what} should return a pair (w, b), but it returned {describe(result)}.")
    w, b = result
    d = X.shape[1]
    w = expect_tensor(f"w from {what}", w, shape=(d, 1), device=device,
                      hint="Return w as a column of shape (d, 1); keep y a column (y.reshape(-1, 1)) when you solve.")
    if isinstance(b, torch.Tensor):
        expect_tensor(f"b from {what}", b, device=device)
        expect(b.numel() == 1, f"b from {what} should be a single number, but it has shape {tuple(b.shape)}.",
               "b is the last entry of the solution: theta[-1] (a 0-d or one-element tensor).")
    b = expect_scalar(f"b from {what}", b)
    Xd, yd = X.detach().cpu().double(), y.detach().cpu().double().reshape(-1, 1)
    X1 = torch.cat([Xd, torch.ones(len(Xd), 1, dtype=torch.float64)], dim=1)
    theta = torch.linalg.lstsq(X1, yd).solution
    wd = w.detach().cpu().double()
    scale = float(yd.abs().max()) + 1.0
    expect_close(f"X @ w + b from {what}", Xd @ wd + b, X1 @ theta, rtol=1e-3, atol=1e-3 * scale,
                 hint=closed_form_hint(Xd, yd, wd, b, theta))


def closed_form_hint(X, y, w, b, theta):
    """The likely mistake behind wrong least-squares predictions."""
    if torch.allclose(w, theta[:-1], rtol=1e-3, atol=1e-3):
        return f"w is right but b is not ({b:.4g} instead of {float(theta[-1, 0]):.4g}): b is the coefficient of the column of ones."
    no_bias = torch.linalg.lstsq(X, y).solution
    if torch.allclose(w, no_bias, rtol=1e-3, atol=1e-3):
        return ("w is the fit without a bias. " + CLOSED_FORM_HINT)
    return CLOSED_FORM_HINT


@question("closed_form")
def test_closed_form_exact_plane(student):
    """closed_form recovers y = 2 x1 - 3 x2 + 1 exactly"""
    X = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0], [4.0, 2.0], [0.0, 1.0]])
    y = X @ torch.tensor([[2.0], [-3.0]]) + 1
    check_closed_form("`closed_form(X, y)`", student.closed_form(X, y), X, y)


@question("closed_form")
def test_closed_form_flat_labels(student):
    """closed_form accepts y of shape (n,)"""
    X = torch.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [1.0, 3.0], [3.0, 2.0]])
    y = X @ torch.tensor([1.5, -2.0]) + 0.5 + torch.tensor([0.1, -0.2, 0.0, 0.1, -0.1])
    check_closed_form("`closed_form(X, y)` with y of shape (n,)", student.closed_form(X, y), X, y)


# ------------------------------------------------------------------ laplace_nll


def laplace_hint(got, y_hat, y):
    """The likely mistake behind a wrong negative log-likelihood."""
    r = (y.reshape(-1).double() - y_hat.reshape(-1).double())
    n, log2 = r.numel(), math.log(2)
    mistakes = [
        (float(r.abs().sum()), "You left out n log 2: each example contributes -log(1/2) = log 2."),
        (float(r.abs().sum()) + log2, "Add log 2 once per example (n log 2), not once."),
        (float(r.abs().sum()) - n * log2, "The constant is +n log 2: -log(1/2) = +log 2."),
        (float((r ** 2).sum()) + n * log2, "The Laplace noise gives absolute values |y - y_hat|, not squares."),
        (float((r ** 2).sum()), "The Laplace noise gives absolute values |y - y_hat|, not squares, plus n log 2."),
        (float(r.abs().mean()) + log2, "Sum over the examples instead of averaging."),
        (float(r.abs().mean()), "Sum |y - y_hat| over the examples (not the mean) and add n log 2."),
    ]
    matches = {hint for value, hint in mistakes if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-4)}
    if len(matches) == 1:
        return matches.pop()
    return "The negative log-likelihood is sum(|y - y_hat|) + n log 2; reshape y to y_hat's shape so nothing broadcasts."


def check_laplace(what, got, y_hat, y, *, device=None):
    if isinstance(got, torch.Tensor):
        expect_tensor(what, got, device=device)
    value = expect_scalar(what, got, "Return one number: the sum over all examples.")
    r = y.reshape(-1).double().cpu() - y_hat.reshape(-1).double().cpu()
    expected = float(r.abs().sum()) + r.numel() * math.log(2)
    expect(math.isclose(value, expected, rel_tol=1e-4, abs_tol=1e-4), f"{what} should be {expected:.6g}, but it is {value:.6g}.",
           laplace_hint(value, y_hat.cpu(), y.cpu()))


@question("laplace_nll")
def test_laplace_nll_flat_labels(student):
    """laplace_nll is right when y_hat has shape (n, 1) and y has shape (n,)"""
    y_hat = torch.tensor([[0.0], [1.0], [2.0]])
    y = torch.tensor([1.0, 1.0, 0.0])
    check_laplace("`laplace_nll(y_hat, y)` with y_hat of shape (3, 1) and y of shape (3,)", student.laplace_nll(y_hat, y), y_hat, y)


@question("laplace_nll")
def test_laplace_nll_small_example(student):
    """laplace_nll is sum |y - y_hat| + n log 2"""
    y_hat = torch.tensor([0.0, 1.0, 2.0])
    y = torch.tensor([1.0, 1.0, 0.0])
    check_laplace("`laplace_nll(y_hat, y)` for residuals [1, 0, -2]", student.laplace_nll(y_hat, y), y_hat, y)
