"""The ``student`` that graders call: a proxy whose every value crosses the wire format.

``student.squared_loss(y_hat, y)`` returns the decoded result;
``student.call("sgd", params, lr, 10)`` returns an ``Outcome`` that also holds
the arguments as they were after the call, so in-place updates can be checked.
When student code raises, hangs or dies, the proxy raises a ``StudentFault``
whose ``feedback`` is written for the student.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from d2lgrade import book, wire
from d2lgrade.budget import Budget
from d2lgrade.execute import BudgetSpent, NotebookRun
from d2lgrade.limits import CALL_TIMEOUT
from d2lgrade.transport import AnswerTooLarge, TransportDied, TransportTimeout

__all__ = [
    "Crashed",
    "FailedBefore",
    "Missing",
    "NotImplementedYet",
    "NotOwn",
    "Observation",
    "Outcome",
    "OverBudget",
    "Raised",
    "Student",
    "StudentFault",
    "TimedOut",
    "TooLarge",
    "Unreadable",
]



class StudentFault(Exception):
    """The student's code gave no answer that could be checked."""

    def __init__(self, function: str, feedback: str) -> None:
        super().__init__(feedback)
        self.function = function
        self.feedback = feedback


class Raised(StudentFault):
    """The student's function raised an exception."""

    def __init__(self, function: str, ename: str, evalue: str, traceback: str = "") -> None:
        message = f"{evalue}" if evalue else "(no message)"
        super().__init__(function, f"`{function}` raised {ename}: {message}")
        self.ename, self.evalue, self.traceback = ename, evalue, traceback


class NotImplementedYet(Raised):
    def __init__(self, function: str, ename: str, evalue: str, traceback: str = "") -> None:
        super().__init__(function, ename, evalue, traceback)
        self.feedback = f"`{function}` is not implemented yet (it raises NotImplementedError)."
        self.args = (self.feedback,)


class Missing(StudentFault):
    """``function`` is not defined where the checks look for it: in the notebook's run (``detail`` may say
    which cell stopped), or, with ``kernel``, in the student's own kernel, where its cell has not run yet."""

    def __init__(self, function: str, detail: str = "", *, kernel: bool = False) -> None:
        if kernel:
            feedback = (f"`{function}` is not defined in this kernel{detail}: run the cell that defines it first, "
                        "and check that the name is spelled as in the assignment.")
        else:
            feedback = (f"`{function}` is not defined after the notebook ran{detail}. "
                        "Check that its cell runs without errors and that the name is spelled as in the assignment.")
        super().__init__(function, feedback)
        self.detail = detail


class NotOwn(StudentFault):
    def __init__(self, function: str, module: str) -> None:
        super().__init__(
            function,
            f"`{function}` is {module}'s own, not one you wrote (it is imported from {module}, or calls {module}'s "
            f"`{function}`). Write it yourself in its cell.",
        )


class TimedOut(StudentFault):
    def __init__(self, function: str, seconds: float) -> None:
        super().__init__(
            function,
            f"`{function}` did not finish within {seconds:g} s; look for an endless loop or far too many iterations.",
        )


class OverBudget(StudentFault):
    """The submission's code used all of its time budget (``d2lgrade.budget``) before this check."""

    def __init__(self, function: str, budget: Budget) -> None:
        super().__init__(function, budget.sentence())


class Crashed(StudentFault):
    def __init__(self, function: str, detail: str) -> None:
        super().__init__(function, f"`{function}` stopped the notebook's process: {detail}.")


class FailedBefore(StudentFault):
    def __init__(self, function: str, earlier: str) -> None:
        super().__init__(function, f"`{function}` was not called again: in an earlier check it {earlier}.")


class Unreadable(StudentFault):
    def __init__(self, function: str, detail: str) -> None:
        super().__init__(function, f"The result of `{function}` could not be read by the grader: {detail}.")


class TooLarge(StudentFault):
    def __init__(self, function: str, detail: str) -> None:
        super().__init__(
            function,
            f"The answer of `{function}` was too large for the grader to read ({detail}); return only what the "
            "question asks for, such as a tensor itself rather than a list of its numbers.",
        )


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One call into student code, as the graders see it."""

    value: Any
    """what the function returned, decoded"""
    args: tuple[Any, ...]
    """the positional arguments as they were after the call (in-place changes show here)"""
    kwargs: Mapping[str, Any]
    """the keyword arguments as they were after the call"""
    stdout: str
    """what the call printed"""
    seconds: float
    observed: Observation | None = None
    """what the call did while it ran, when the grader asked (``call(..., observe=True)``)"""


@dataclasses.dataclass(frozen=True)
class Observation:
    """What the student's process says a call did (``d2lgrade.observe``).

    A claim from an untrusted process: graders use it only to take points away.
    Anything missing or malformed reads as not ``intact``.
    """

    calls: frozenset[str] = frozenset()
    """names of the torch functions, and of the solving libraries' functions, that the call reached"""
    backward_passes: int = 0
    learning_steps: int = 0
    """backward passes whose differentiated tensors changed afterwards: an optimisation step used them"""
    widest: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """for each name in ``calls``, the most elements of a tensor it was given"""
    line_runs: int = 0
    """how many times the most repeated line of the student's own code ran"""
    intact: bool = False
    """the observer stayed in place to the end and reported every name, in the expected form"""
    unavailable: str = ""
    """why the student's process says it could not observe (a problem of the engine's), if it does"""

    @classmethod
    def read(cls, raw: Any) -> Observation:
        if not isinstance(raw, Mapping):
            return cls()
        if "unavailable" in raw:
            return cls(unavailable=str(raw["unavailable"])[:500] or "no reason given")
        calls, passes, steps = raw.get("calls"), raw.get("backward_passes"), raw.get("learning_steps")
        if not (isinstance(calls, list) and all(isinstance(name, str) for name in calls)):
            return cls()
        if not (_is_count(passes) and _is_count(steps) and steps <= passes):
            return cls()
        widest, line_runs = raw.get("widest"), raw.get("line_runs")
        if not (isinstance(widest, Mapping) and all(isinstance(k, str) and _is_count(v) for k, v in widest.items())):
            return cls()
        if not _is_count(line_runs):
            return cls()
        intact = raw.get("intact") is True and raw.get("calls_cut") is False
        return cls(frozenset(calls), passes, steps, dict(widest), line_runs, intact)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def derive_seed(seed: int, *parts: object) -> int:
    """A seed for one call, fixed by the run's seed and where the call happens."""
    return zlib.crc32(repr((seed, *parts)).encode()) & 0x7FFFFFFF


class Student:
    """One submission, seen through the wire format, for one test."""

    def __init__(
        self,
        run: NotebookRun,
        *,
        functions: Mapping[str, ast.AST] | None = None,
        lent: Mapping[str, str] | None = None,
        reference: Reference | None = None,
        copies_d2l: Callable[[str], bool] | None = None,
        seed: int = 0,
        test: str = "",
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self._run = run
        self._functions = dict(functions or {})
        self._lent = dict(lent or {})
        """the book's functions lent to the student's other functions, and by whom (``d2lgrade.book``)"""
        self._reference = reference
        self._copies_d2l = copies_d2l or (lambda name: book.copied_from_d2l(name, self._functions))
        """whether a name of the submission is d2l's own function (``book.copied_from_d2l``)"""
        self._seed = seed
        self._test = test
        self._timeout = timeout
        self._calls = 0

    # ----------------------------------------------------------- calling
    def call(
        self, name: str, /, *args: Any, timeout: float | None = None, observe: bool = False, **kwargs: Any
    ) -> Outcome:
        """Call the student's function ``name``; arguments may include ``wire.Code``.

        With ``observe``, the outcome's ``observed`` says which functions the call
        reached and how its backward passes were used (``d2lgrade.observe``).
        """
        message = {"op": "call", "name": name, "args": wire.encode_argument(list(args)), "kwargs": wire.encode_argument(dict(kwargs))}
        answer = self._send(name, {**message, "observe": True} if observe else message, timeout)
        if answer.get("status") == "missing":
            raise Missing(name)
        if answer.get("status") == "not_callable":
            raise Missing(name, f" as a function (it is a {answer.get('type', 'value')})")
        outcome = self._outcome(name, answer)
        if observe:
            return dataclasses.replace(outcome, observed=Observation.read(answer.get("observed")))
        return outcome

    def run(self, function: str, code: wire.Code, *, timeout: float | None = None) -> Any:
        """Run grader-written code that uses the student's ``function`` (a function or class name).

        For what a single call cannot do: build an object and call its methods,
        iterate a DataLoader, run a backward pass. The book's other functions
        are lent while it runs (``d2lgrade.book``), ``function`` is not.
        """
        answer = self._send(function, {"op": "run", "name": function, "args": [wire.encode_code(code)]}, timeout)
        if answer.get("status") == "missing":
            raise Missing(function)
        return self._outcome(function, answer).value

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs).value

    def _send(self, name: str, message: dict, timeout: float | None) -> dict:
        self._calls += 1
        message = {**message, "seed": derive_seed(self._seed, self._test, self._calls), "lent": self._lent}
        limit = timeout or self._timeout
        lender = None
        if self._reference is not None and self._lent:
            lender = functools.partial(book.serve, self._reference, self._lent, name)
        if self._copies_d2l(name):
            raise NotOwn(name, "d2l")
        if earlier := self._run.faults.get(name):
            raise FailedBefore(name, earlier)  # no second wait, and no replay of the notebook, for the same fault
        try:
            answer = self._run.request(message, timeout=limit, lender=lender)
        except BudgetSpent as exc:
            raise OverBudget(name, exc.budget) from None
        except TransportTimeout:
            self._run.faults[name] = f"did not finish within {limit:g} s"
            raise TimedOut(name, limit) from None
        except AnswerTooLarge as exc:
            raise TooLarge(name, exc.detail) from None
        except TransportDied as exc:
            self._run.faults[name] = f"stopped the notebook's process ({exc})"
            raise Crashed(name, str(exc)) from None
        if answer.get("status") == "library":
            raise NotOwn(name, str(answer.get("module", "d2l")).split(".")[0])
        if answer.get("status") == "raised":
            error = answer.get("error") or {}
            kind = NotImplementedYet if error.get("ename") == "NotImplementedError" else Raised
            raise kind(name, str(error.get("ename")), str(error.get("evalue", "")), str(error.get("traceback", "")))
        return answer

    def _outcome(self, name: str, answer: dict) -> Outcome:
        if answer.get("status") == "unencodable":
            raise Unreadable(name, f"it returned a value that cannot be sent back ({answer.get('detail', '')})")
        if answer.get("status") != "ok":
            raise Unreadable(name, f"unexpected answer {answer.get('status')!r}")
        try:
            value = wire.decode(answer["value"])
            args = tuple(wire.decode(answer["args"]))
            kwargs = wire.decode(answer["kwargs"])
        except wire.TooLarge as exc:
            raise TooLarge(name, exc.detail) from None
        except (wire.WireError, KeyError, TypeError) as exc:
            raise Unreadable(name, str(exc)) from None
        return Outcome(value, args, kwargs, str(answer.get("stdout", "")), float(answer.get("seconds", 0.0)))

    # ----------------------------------------------------------- reading source
    def definition(self, name: str) -> ast.AST | None:
        """What ``name`` is bound to at the top level of the submission (a def, class,
        import or assignment), parsed, never run."""
        return self._functions.get(name)

    def definitions(self) -> Mapping[str, ast.AST]:
        """Every top-level binding of the submission, by name."""
        return dict(self._functions)


class Reference:
    """The reference functions, trusted, called directly in the grading process."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._namespace[name]
        except KeyError:
            raise AttributeError(f"the reference defines no {name!r}") from None

    def run(self, function: str, code: wire.Code) -> Any:
        """Run grader-written code against the reference, as ``Student.run`` does."""
        from d2lgrade.child import evaluate

        return evaluate(code, self._namespace)
