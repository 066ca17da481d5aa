"""Watching a call run (d2lgrade.observe), and the rules that read what it saw (d2lgrade.rules)."""

import importlib
import sys
import threading

import numpy as np
import pytest
import torch

from d2lgrade import wire
from d2lgrade.child import Session
from d2lgrade.execute import NotebookRun
from d2lgrade.observe import watching
from d2lgrade.rules import (
    expect_learns_with_autograd,
    expect_loop_over_elements,
    expect_no_calls_at_run_time,
    expect_vectorized,
    run_time_words,
)
from d2lgrade.student import Observation, Outcome, Student
from d2lgrade.transport import InProcessTransport

SOLVERS = {"lstsq", "pinv", "inv", "solve", "polyfit", "curve_fit", "numpy.linalg"}
CURRENT = torch.linspace(0.1, 2.0, 30)
VOLTAGE = 47 * CURRENT + 0.3


def observed(function, *args) -> dict:
    with watching(True) as observer:
        function(*args)
    return observer.report()["observed"]


def solver_calls(report: dict) -> set[str]:
    return {name for name in report["calls"] if run_time_words(name) & SOLVERS}


# --------------------------------------------------------------------------- submissions


def renamed_lstsq(current, voltage):
    A = torch.stack([current, torch.ones_like(current)], dim=1)
    solution = torch.linalg.__dict__["lst" + "sq"](A, voltage.reshape(-1, 1)).solution
    throwaway = torch.zeros(1, requires_grad=True)
    (throwaway * 2).sum().backward()  # dead: nothing learns from it
    return float(solution[0]), float(solution[1])


def numpy_through_importlib(current, voltage):
    linalg = importlib.import_module("numpy." + "lin" + "alg")
    A = np.stack([current.numpy(), np.ones(len(current))], axis=1)
    return tuple(getattr(linalg, "lst" + "sq")(A, voltage.numpy(), rcond=None)[0])


def numpy_polyfit(current, voltage):
    return tuple(np.polyfit(current.numpy(), voltage.numpy(), 1))


def gradient_descent(current, voltage):
    x, t = (current - current.mean()) / current.std(), voltage / voltage.abs().max()
    w = torch.zeros(2, requires_grad=True)
    for _ in range(50):
        loss = ((w[0] * x + w[1] - t) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.3 * w.grad
            w.grad.zero_()
    return w.tolist()


def adam(current, voltage):
    x, t = (current - current.mean()) / current.std(), voltage / voltage.abs().max()
    w = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=0.1)
    for _ in range(50):
        optimizer.zero_grad()
        ((w[0] * x + w[1] - t) ** 2).mean().backward()
        optimizer.step()
    return w.tolist()


def data_updates(current, voltage):
    w = torch.zeros(2, requires_grad=True)
    for _ in range(20):
        ((w[0] * current + w[1] - voltage) ** 2).mean().backward()
        w.data -= 0.01 * w.grad.data  # a new version counter: only the values show the update
        w.grad = None
    return w.tolist()


def functional_updates(current, voltage):
    w = torch.zeros(2, requires_grad=True)
    for _ in range(20):
        (grad,) = torch.autograd.grad(((w[0] * current + w[1] - voltage) ** 2).mean(), w)
        w = (w - 0.01 * grad).detach().requires_grad_()  # a new leaf every step
    return w.tolist()


def dead_backward_loop(current, voltage):
    constant = torch.ones(3, requires_grad=True)
    for _ in range(20):
        constant.sum().backward()
    return 47.0, 0.3


# --------------------------------------------------------------------------- what is seen


def test_lstsq_reached_through_a_built_name_is_seen():
    report = observed(renamed_lstsq, CURRENT, VOLTAGE)
    assert "torch.linalg.lstsq" in report["calls"]
    assert (report["backward_passes"], report["learning_steps"]) == (1, 0)


@pytest.mark.parametrize("function", [numpy_through_importlib, numpy_polyfit])
def test_numpy_solvers_are_seen(function):
    assert any(name.endswith(".lstsq") for name in solver_calls(observed(function, CURRENT, VOLTAGE)))


@pytest.mark.parametrize("function", [gradient_descent, adam, data_updates, functional_updates])
def test_gradient_descent_is_seen_learning(function):
    report = observed(function, CURRENT, VOLTAGE)
    assert report["intact"] and not solver_calls(report)
    assert report["backward_passes"] in (20, 50)
    assert report["learning_steps"] >= 10


def test_a_dead_backward_in_a_loop_is_not_learning():
    report = observed(dead_backward_loop, CURRENT, VOLTAGE)
    assert (report["backward_passes"], report["learning_steps"]) == (20, 0)


def test_nothing_is_watched_unless_asked():
    with watching(False) as observer:
        renamed_lstsq(CURRENT, VOLTAGE)
    assert observer.report() == {}


# --------------------------------------------------------------------------- hooks


def test_hooks_are_taken_off_even_when_the_call_raises():
    before = sys.gettrace(), threading.gettrace()
    with pytest.raises(ValueError), watching(True, lambda filename: filename == __file__):
        raise ValueError("student code failed")
    assert (sys.gettrace(), threading.gettrace()) == before
    assert torch.overrides._get_current_function_mode_stack() == []


def test_a_call_that_switches_off_the_profile_hook_still_shows_its_solver():
    def quiet_solver(current, voltage):
        sys.setprofile(None)
        return numpy_through_importlib(current, voltage)

    report = observed(quiet_solver, CURRENT, VOLTAGE)
    assert any(name.endswith(".lstsq") for name in solver_calls(report)) and report["intact"] is True


def test_a_solver_run_in_a_thread_is_seen():
    def solver_in_a_thread(current, voltage):
        worker = threading.Thread(target=numpy_through_importlib, args=(current, voltage))
        worker.start()
        worker.join()

    assert any(name.endswith(".lstsq") for name in solver_calls(observed(solver_in_a_thread, CURRENT, VOLTAGE)))


def _pop_mode():
    torch.overrides._pop_mode()


def _leave_a_mode_pushed():
    torch.overrides.TorchFunctionMode().__enter__()


def _switch_off_trace():
    sys.settrace(None)


@pytest.mark.parametrize("tamper", [_pop_mode, _leave_a_mode_pushed, _switch_off_trace])
def test_a_call_that_tampers_with_the_hooks_is_not_intact(tamper):
    trace_before = sys.gettrace()
    with watching(True, lambda filename: filename == __file__) as observer:
        tamper()
    report = observer.report()["observed"]
    assert report["intact"] is False
    assert sys.gettrace() is trace_before
    assert torch.overrides._get_current_function_mode_stack() == []


# --------------------------------------------------------------------------- through a Session and a Student

STUDENT = '''
import torch

def fit(current, voltage):
    A = torch.stack([current, torch.ones_like(current)], dim=1)
    return float(getattr(torch.linalg, "lst" + "sq")(A, voltage.reshape(-1, 1)).solution[0])
'''


@pytest.fixture
def namespace() -> dict:
    scope: dict = {}
    exec(compile(STUDENT, "<student-cell>", "exec"), scope)
    return scope


def _request(observe: bool) -> dict:
    request = {"op": "call", "name": "fit", "args": wire.encode_argument([CURRENT, VOLTAGE]), "seed": 0}
    return {**request, "observe": True} if observe else request


def test_session_adds_what_it_saw_only_when_asked(namespace):
    session = Session(namespace)
    assert "observed" not in session.handle(_request(False))
    answer = session.handle(_request(True))
    assert answer["status"] == "ok"
    assert "torch.linalg.lstsq" in answer["observed"]["calls"]


def test_student_call_returns_the_observation(namespace):
    student = Student(NotebookRun([], lambda: InProcessTransport(namespace), seed=0))
    outcome = student.call("fit", CURRENT, VOLTAGE, observe=True)
    assert outcome.value == pytest.approx(47.0, rel=1e-4)
    assert outcome.observed.intact and "torch.linalg.lstsq" in outcome.observed.calls
    assert student.call("fit", CURRENT, VOLTAGE).observed is None


# --------------------------------------------------------------------------- reading the claim


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "yes",
        {"calls": "torch.add", "backward_passes": 1, "learning_steps": 1, "intact": True},
        {"calls": [], "backward_passes": -1, "learning_steps": 0, "intact": True, "calls_cut": False},
        {"calls": [], "backward_passes": 1, "learning_steps": 5, "intact": True, "calls_cut": False},
        {"calls": [], "backward_passes": True, "learning_steps": 0, "intact": True, "calls_cut": False},
        {"calls": [], "backward_passes": 9, "learning_steps": 9, "intact": True, "calls_cut": True},
        {"calls": [], "backward_passes": 9, "learning_steps": 9, "intact": 1, "calls_cut": False},
        {"calls": [], "backward_passes": 0, "learning_steps": 0, "intact": True, "calls_cut": False},
        {"calls": [], "backward_passes": 0, "learning_steps": 0, "intact": True, "calls_cut": False, "widest": {"f": -1},
         "line_runs": 3},
        {"calls": [], "backward_passes": 0, "learning_steps": 0, "intact": True, "calls_cut": False, "widest": {},
         "line_runs": "many"},
    ],
)
def test_a_malformed_claim_reads_as_not_intact(raw):
    assert Observation.read(raw).intact is False


def _outcome(**claim) -> Outcome:
    raw = {"calls": [], "backward_passes": 50, "learning_steps": 50, "intact": True, "calls_cut": False, "widest": {},
           "line_runs": 1}
    raw.update(claim)
    return Outcome(None, (), {}, "", 0.0, observed=Observation.read(raw))


def test_the_rules_pass_a_learning_call():
    outcome = _outcome(calls=["torch.Tensor.backward", "torch.linalg.vector_norm", "torch.optim.SGD.step"])
    expect_no_calls_at_run_time(outcome, "fit", SOLVERS, "")
    expect_learns_with_autograd(outcome, "fit", "")


@pytest.mark.parametrize(
    "called",
    ["torch.linalg.lstsq", "aten.linalg_inv_ex.default", "numpy.linalg._linalg.norm", "torch.Tensor.pinverse"],
)
def test_a_forbidden_call_fails_whatever_its_name(called):
    with pytest.raises(pytest.fail.Exception, match="While it ran, `fit` called"):
        expect_no_calls_at_run_time(_outcome(calls=[called]), "fit", SOLVERS | {"pinverse"}, "")


@pytest.mark.parametrize(
    ("passes", "steps", "message"),
    [(0, 0, "without a single backward pass"), (1, 0, "never changed afterwards"), (5, 1, "only 1 of them")],
)
def test_backward_passes_that_teach_nothing_fail(passes, steps, message):
    with pytest.raises(pytest.fail.Exception, match=message):
        expect_learns_with_autograd(_outcome(backward_passes=passes, learning_steps=steps), "fit", "")


def test_a_tampered_observation_fails_and_an_unavailable_one_is_the_graders_problem():
    with pytest.raises(pytest.fail.Exception, match="could not watch"):
        expect_learns_with_autograd(_outcome(intact=False), "fit", "")
    unavailable = Outcome(None, (), {}, "", 0.0, observed=Observation.read({"unavailable": "no torch"}))
    with pytest.raises(RuntimeError, match="no torch"):
        expect_no_calls_at_run_time(unavailable, "fit", SOLVERS, "")


# --------------------------------------------------------------------------- loops seen while they run

ADDITIONS = {
    "the book's loop": "n = a.shape[0]\n    c = torch.zeros(n, dtype=torch.result_type(a, b))\n"
                       "    for i in range(n):\n        c[i] = a[i] + b[i]\n    return c",
    "python floats": "x, y = a.tolist(), b.tolist()\n    return torch.tensor([x[i] + y[i] for i in range(len(x))])",
    "zip and stack": "return torch.stack([x + y for x, y in zip(a, b)])",
    "a dead loop": "for i in range(len(a)):\n        pass\n    return a + b",
    "a loop over nothing": "c = a + b\n    for i in []:\n        c[i] = a[i] + b[i]\n    return c",
    "a copied vectorised sum": "total = torch.add(a, b)\n    c = torch.zeros_like(a)\n"
                               "    for i in range(len(a)):\n        c[i] = total[i]\n    return c",
    "a + b": "return a + b",
    "map": "return torch.stack(list(map(operator.add, a, b)))",
}
LOOPS = {"the book's loop", "python floats", "zip and stack"}
VECTORIZED = {"a + b", "a loop over nothing"}  # at run time; the source rule still sees its loop


def _add(body: str):
    """An addition defined the way a notebook cell defines it, and its observed call through a Session."""
    scope: dict = {}
    exec(compile(f"import operator\nimport torch\n\ndef add(a, b):\n    {body}\n", "<ipython-input-1-0>", "exec"), scope)
    student = Student(NotebookRun([], lambda: InProcessTransport(scope), seed=0))
    a, b = torch.arange(16.0), torch.full((16,), 0.5)
    outcome = student.call("add", a, b, observe=True)
    assert torch.equal(outcome.value, a + b)
    return outcome


@pytest.mark.parametrize("kind", list(ADDITIONS))
def test_a_loop_over_the_elements_is_seen_running(kind):
    outcome = _add(ADDITIONS[kind])
    if kind in LOOPS:
        expect_loop_over_elements(outcome, "add", 16, "")
    else:
        with pytest.raises(pytest.fail.Exception, match="computed with whole tensors|does not go over the elements"):
            expect_loop_over_elements(outcome, "add", 16, "")
    if kind in VECTORIZED:
        expect_vectorized(outcome, "add", 16, "")
    else:
        with pytest.raises(pytest.fail.Exception, match="loops over the elements|never computed with a whole tensor"):
            expect_vectorized(outcome, "add", 16, "")


def test_only_the_students_own_lines_are_counted():
    def library_loop(n):
        total = 0
        for i in range(n):
            total += i
        return total

    with watching(True, lambda filename: filename.startswith("<ipython-input")) as observer:
        library_loop(100)
    assert observer.report()["observed"]["line_runs"] == 0
