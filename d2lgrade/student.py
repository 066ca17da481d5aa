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
import zlib
from collections.abc import Mapping
from typing import Any

from d2lgrade import wire
from d2lgrade.execute import NotebookRun
from d2lgrade.transport import TransportDied, TransportTimeout

__all__ = [
    "Crashed",
    "Missing",
    "NotImplementedYet",
    "Outcome",
    "Raised",
    "Student",
    "StudentFault",
    "TimedOut",
    "Unreadable",
]

#: Seconds a single call may take unless the grader says otherwise.
CALL_TIMEOUT = 30.0


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
    def __init__(self, function: str, detail: str = "") -> None:
        super().__init__(
            function,
            f"`{function}` is not defined after the notebook ran{detail}. "
            "Check that its cell runs without errors and that the name is spelled as in the assignment.",
        )


class TimedOut(StudentFault):
    def __init__(self, function: str, seconds: float) -> None:
        super().__init__(
            function,
            f"`{function}` did not finish within {seconds:g} s; look for an endless loop or far too many iterations.",
        )


class Crashed(StudentFault):
    def __init__(self, function: str, detail: str) -> None:
        super().__init__(function, f"`{function}` stopped the notebook's process: {detail}.")


class Unreadable(StudentFault):
    def __init__(self, function: str, detail: str) -> None:
        super().__init__(function, f"The result of `{function}` could not be read by the grader: {detail}.")


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
        book: Mapping[str, str] | None = None,
        seed: int = 0,
        test: str = "",
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self._run = run
        self._functions = dict(functions or {})
        self._book = dict(book or {})
        self._seed = seed
        self._test = test
        self._timeout = timeout
        self._calls = 0

    # ----------------------------------------------------------- calling
    def call(self, name: str, /, *args: Any, timeout: float | None = None, **kwargs: Any) -> Outcome:
        """Call the student's function ``name``; arguments may include ``wire.Code``."""
        answer = self._send(
            name,
            {"op": "call", "name": name, "args": wire.encode_argument(list(args)), "kwargs": wire.encode_argument(dict(kwargs))},
            timeout,
        )
        if answer.get("status") == "missing":
            raise Missing(name)
        if answer.get("status") == "not_callable":
            raise Missing(name, f" as a function (it is a {answer.get('type', 'value')})")
        return self._outcome(name, answer)

    def run(self, function: str, code: wire.Code, *, timeout: float | None = None) -> Any:
        """Run grader-written code that uses the student's ``function`` (a function or class name).

        For what a single call cannot do: build an object and call its methods,
        iterate a DataLoader, run a backward pass. The book's other functions
        are replaced by the reference's while it runs, ``function`` is not.
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
        message = {**message, "seed": derive_seed(self._seed, self._test, self._calls), "book": self._book}
        limit = timeout or self._timeout
        try:
            answer = self._run.request(message, timeout=limit)
        except TransportTimeout:
            raise TimedOut(name, limit) from None
        except TransportDied as exc:
            raise Crashed(name, str(exc)) from None
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
