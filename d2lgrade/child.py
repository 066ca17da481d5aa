"""The student's side: run notebook cells and answer calls, speaking only the wire format.

This module runs where student code runs: in a child process started by
``d2lgrade.transport.ChildTransport`` (``python -m d2lgrade.child``, or
forked from ``d2lgrade.zygote``, which then calls ``main``), or in the
student's own kernel under ``nbgrader autograde``. Nothing here decides a
grade; it only reports what happened, as plain data.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import random
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from d2lgrade import observe, wire

#: Characters of printed output kept per cell or call.
MAX_OUTPUT = 20_000
#: Characters kept of an exception's message.
MAX_EVALUE = 500
#: Pseudo file names of grader-side code, hidden from tracebacks.
GRADER_FILES = ("<d2lgrade-code>",)
#: Environment variable that carries the sandbox policy to a child started afresh.
SANDBOX_ENV = "D2LGRADE_SANDBOX"


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it."""

    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        self.limit, self.parts, self.size, self.cut = limit, [], 0, False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.size
        if len(text) > room:
            text, self.cut = text[: max(room, 0)], True
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts) + ("\n[output cut]" if self.cut else "")


@contextlib.contextmanager
def captured_output() -> Iterator[BoundedText]:
    """Collect what Python code prints, bounded, without touching file descriptors."""
    buffer = BoundedText()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield buffer


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators: the CPU's, and CUDA's where there is CUDA."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    # Not torch.manual_seed: for each backend not started yet (CUDA, XPU, MTIA) it queues the seed with
    # a stack trace it formats, reading every frame's source file: 0.9 ms a call, and grading a notebook
    # seeds 74 times. What a child can use is the CPU and CUDA, whose seed waits for it to start, as before.
    torch.default_generator.manual_seed(seed)
    if _has_cuda():
        torch.cuda.manual_seed_all(seed)


@functools.cache
def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def describe_exception(exc: BaseException) -> dict:
    """An exception as plain data: its type, message and the student's frames only."""
    try:
        evalue = str(exc)
    except Exception:  # a student's exception may fail to print
        evalue = "<message could not be printed>"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if _is_student_frame(frame.filename)
    ]
    return {
        "ename": type(exc).__name__,
        "evalue": evalue[:MAX_EVALUE],
        "traceback": "".join(traceback.format_list(frames[-5:]))[:4000],
    }


def _is_student_frame(filename: str) -> bool:
    if filename in GRADER_FILES:
        return False
    if filename.startswith("<"):
        return True  # notebook cells: <ipython-input-...>
    here = os.path.dirname(os.path.abspath(__file__))
    library = os.path.dirname(os.__file__)
    return not (filename.startswith(here) or filename.startswith(library) or "site-packages" in filename)


def _is_notebook_file(filename: str) -> bool:
    """Whether code from ``filename`` is the student's own (a notebook cell, or a module of theirs)."""
    return _is_student_frame(filename) and not filename.startswith(("<frozen", "<string>"))


def evaluate(code: wire.Code, namespace: Mapping[str, Any]) -> Any:
    """Run grader-written code in a copy of ``namespace`` and return what it builds."""
    scope = dict(namespace)
    scope.update(code.inputs)
    if code.result is None:
        return eval(compile(code.source, "<d2lgrade-code>", "eval"), scope)
    exec(compile(code.source, "<d2lgrade-code>", "exec"), scope)
    return scope[code.result]


@contextlib.contextmanager
def lent_functions(namespace: MutableMapping[str, Any], lent: Mapping[str, str], keep: str, ask) -> Iterator[None]:
    """Temporarily replace the book's functions in ``namespace`` with the ones grading lends.

    A student's ``train`` then calls the book's ``sgd`` rather than the
    student's own, so that one mistake costs points on one question only.
    ``lent`` maps a name to who lends it: ``"d2l"`` (this process's own copy
    of d2l) or ``"grader"`` (a stand-in that asks the grading process, see
    ``d2lgrade.book``). The function under test, ``keep``, stays the student's.
    """
    names = [name for name in lent if name != keep]
    if not names:
        yield
        return
    lent_now = {name: _d2l_function(name) if lent[name] == "d2l" else _stand_in(name, ask) for name in names}
    names = [name for name, function in lent_now.items() if function is not None]
    saved = {name: namespace[name] for name in names if name in namespace}
    try:
        for name in names:
            namespace[name] = lent_now[name]
        yield
    finally:
        for name in names:
            if name in saved:
                namespace[name] = saved[name]
            else:
                namespace.pop(name, None)


def _d2l_function(name: str):
    from d2l import torch as d2l

    return getattr(d2l, name, None)


class LentFunctionError(RuntimeError):
    """The book's function that grading lent could not run on these arguments."""


def _stand_in(name: str, ask):
    """A function that runs the book's ``name`` in the grading process, on values."""

    def lent(*args, **kwargs):
        if ask is None:
            raise LentFunctionError(f"the book's `{name}` is not available here")
        answer = ask({"status": "lend", "name": name, "args": wire.encode(list(args)), "kwargs": wire.encode(kwargs)})
        if answer.get("status") != "ok":
            raise LentFunctionError(f"the book's `{name}` raised {answer.get('ename')}: {answer.get('evalue')}")
        _update_in_place(list(args), wire.decode(answer["args"]))
        _update_in_place(kwargs, wire.decode(answer["kwargs"]))
        value = wire.decode(answer["value"])
        return iter(value.items) if isinstance(value, wire.Iterated) else value

    lent.__name__ = lent.__qualname__ = name
    return lent


def _update_in_place(before: Any, after: Any) -> None:
    """Copy into the caller's tensors what the book's function changed in its copies of them."""
    import torch

    if isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor) and before.shape == after.shape:
        with torch.no_grad():
            before.copy_(after)
        if before.is_leaf:
            before.grad = None if after.grad is None else after.grad.to(before.device, before.dtype)
    elif isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)) and len(before) == len(after):
        for old, new in zip(before, after):
            _update_in_place(old, new)
    elif isinstance(before, dict) and isinstance(after, dict):
        for key in before.keys() & after.keys():
            _update_in_place(before[key], after[key])


def _is_d2l_own(function: Any) -> bool:
    """Whether ``function`` is one of d2l's own functions or classes rather than the student's."""
    module = getattr(function, "__module__", None)
    return isinstance(module, str) and (module == "d2l" or module.startswith("d2l."))


class Session:
    """Answers requests about one student's namespace."""

    def __init__(self, namespace: MutableMapping[str, Any], shell: Any = None, ask=None) -> None:
        self.namespace = namespace
        self.shell = shell
        self.ask = ask
        """sends a message to the grading side in the middle of a call and returns its reply"""

    def handle(self, request: Mapping[str, Any]) -> dict:
        """Answer one request; never raises for anything student code does."""
        op = request.get("op")
        if op == "run_cell":
            return self.run_cell(request["source"])
        if op == "call":
            return self.call(request)
        if op == "run":
            return self.run(request)
        if op == "ping":
            return {"status": "ok"}
        return {"status": "bad_request", "detail": f"unknown op {op!r}"}

    def run_cell(self, source: str) -> dict:
        started = time.perf_counter()
        with captured_output() as output:
            result = self.shell.run_cell(source, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        return {
            "status": "ok" if error is None else "raised",
            "error": describe_exception(error) if error is not None else None,
            "stdout": output.getvalue(),
            "seconds": time.perf_counter() - started,
        }

    def call(self, request: Mapping[str, Any]) -> dict:
        name = request["name"]
        function = self.namespace.get(name)
        if function is None:
            return {"status": "missing"}
        if not callable(function):
            return {"status": "not_callable", "type": type(function).__name__}
        if _is_d2l_own(function):
            return {"status": "library", "module": function.__module__}
        return self._invoke(
            lambda args, kwargs: function(*args, **kwargs),
            request,
            keep=name,
        )

    def run(self, request: Mapping[str, Any]) -> dict:
        name = request.get("name", "")
        if name and name not in self.namespace:
            return {"status": "missing"}
        if name and _is_d2l_own(self.namespace[name]):
            return {"status": "library", "module": self.namespace[name].__module__}
        return self._invoke(lambda args, kwargs: args[0], request, keep=name)

    def _invoke(self, body, request: Mapping[str, Any], keep: str) -> dict:
        seed_everything(int(request.get("seed", 0)))
        started = time.perf_counter()
        with captured_output() as output, lent_functions(self.namespace, request.get("lent", {}), keep, self.ask):
            try:
                build = lambda code: evaluate(code, self.namespace)  # noqa: E731
                args = wire.decode(request.get("args", []), run_code=build)
                kwargs = wire.decode(request.get("kwargs", {"$type": "dict", "items": []}), run_code=build)
                with observe.watching(bool(request.get("observe")), _is_notebook_file) as observer:  # when grading asks
                    returned = body(args, kwargs)
            except BaseException as exc:  # noqa: B902 - student code may raise anything, SystemExit too
                if isinstance(exc, KeyboardInterrupt):
                    raise
                return self._raised(exc, output, started)
            try:
                value = wire.encode(returned)  # drains generators: their errors are the student's
                after = {"args": wire.encode(args), "kwargs": wire.encode(kwargs)}
            except wire.IterationError as exc:
                return self._raised(exc.__cause__, output, started)
            except Exception as exc:  # the value itself cannot be carried
                return {"status": "unencodable", "detail": f"{type(exc).__name__}: {exc}"[:MAX_EVALUE]}
        return {
            "status": "ok",
            "value": value,
            **after,
            **observer.report(),
            "stdout": output.getvalue(),
            "seconds": time.perf_counter() - started,
        }

    @staticmethod
    def _raised(exc: BaseException, output: BoundedText, started: float) -> dict:
        return {
            "status": "raised",
            "error": describe_exception(exc),
            "stdout": output.getvalue(),
            "seconds": time.perf_counter() - started,
        }


def make_shell():
    """An IPython shell that runs notebook cells, magics included, without a kernel."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class NotebookShell(InteractiveShell):
        def enable_gui(self, gui=None):
            """Figures are never shown, so ``%matplotlib inline`` needs no event loop."""

    # Cells run with store_history=False, so the history database and its saving thread would only
    # cost time: a third of the shell's start-up in every child.
    config = Config()
    config.HistoryManager.enabled = False
    shell = NotebookShell.instance(config=config)
    shell.colors = "nocolor"
    # Only printed text is kept, so nothing else is rendered: a figure drawn as PNG or SVG at the end
    # of every plotting cell cost 150 ms, and a student's _repr_png_ or _repr_html_ is never called.
    shell.display_formatter.active_types = ["text/plain"]
    return shell


def _claim_pipe() -> tuple[int, int]:
    """Keep stdin/stdout for messages; send anything else printed to a log file."""
    requests, responses = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open("output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    return requests, responses


def main(policy: dict | None = None) -> None:
    """Serve requests on descriptors 0 and 1, confined by ``policy`` (else by $D2LGRADE_SANDBOX, JSON)."""
    import json

    from d2lgrade import sandbox
    from d2lgrade.framing import read_message, write_message
    from d2lgrade.limits import apply_limits

    if policy is None:
        policy = json.loads(os.environ.pop(SANDBOX_ENV, "null"))
    confinement = sandbox.confine(sandbox.Policy.from_dict(policy), os.getcwd())
    apply_limits()
    requests, responses = _claim_pipe()
    os.environ.setdefault("MPLBACKEND", "Agg")
    shell = make_shell()

    def ask(message: dict) -> dict:
        write_message(responses, message)
        reply = read_message(requests)
        if reply is None:
            raise SystemExit(0)  # the grading side is gone
        return reply

    session = Session(shell.user_ns, shell, ask)
    write_message(responses, {"status": "ready", "pid": os.getpid(), "sandbox": confinement})
    while (request := read_message(requests)) is not None:
        write_message(responses, session.handle(request))


if __name__ == "__main__":
    main()
