"""The student's side: watch a call run, and report what it did as plain values.

While a graded call runs under ``watching(True)``, an ``Observer`` records

- the torch functions it called, through a ``TorchFunctionMode`` (which also
  sees ``Tensor.backward``, ``torch.autograd.backward`` and
  ``torch.autograd.grad``), and the Python functions it reached in the
  numerical libraries that solve or fit (numpy.linalg, scipy.optimize,
  sklearn...), through a trace hook's call events (a profile hook would also
  wake for every C function called and every return: twice the cost);
- every backward pass, and how many of them were *learning steps*: passes
  whose differentiated tensors (the graph's leaves, or the ``inputs`` asked
  for) had other values at the next pass or at the end of the call, in place
  (``p -= lr * p.grad``, an optimiser's ``step()``) or as new tensors of the
  same shapes (``w = (w - lr * g).detach().requires_grad_()``);
- for each torch function, the most elements of any tensor it was given
  (``widest``): whether the call worked on whole tensors at once;
- how many times the most repeated line of the student's own code ran
  (``line_runs``, through the same trace hook, on the notebook's frames only): a loop
  that really goes over n elements runs its body n times, a loop that never
  runs or runs over nothing does not.

Nothing here decides a grade. The report comes from the student's process and
may be forged; the grading side only ever takes points away because of it.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode, resolve_name

__all__ = ["Observer", "watching"]

#: Modules whose Python functions are recorded when called (a prefix match on ``__name__``).
WATCHED_MODULES = (
    "numpy.linalg",
    "numpy.polynomial",
    "numpy.lib._polynomial_impl",
    "numpy.lib.polynomial",
    "scipy.linalg",
    "scipy.optimize",
    "scipy.odr",
    "scipy.sparse.linalg",
    "scipy.stats",
    "sklearn",
    "statsmodels",
)
#: Distinct names of called functions kept; the report says when more were cut.
MAX_NAMES = 2000
#: Autograd graph nodes visited per backward pass when looking for its leaves.
MAX_GRAPH_NODES = 20_000
#: Elements of the differentiated tensors copied per backward pass, to see whether they change.
MAX_SNAPSHOT_ELEMENTS = 1_000_000


def _function_name(func: Any) -> str:
    try:
        name = resolve_name(func)
    except Exception:  # an unusual callable: fall back on its own names
        name = None
    if name:
        return name
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', None) or getattr(func, '__name__', repr(func))}"


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, torch.Tensor)]
    return []


def graph_leaves(roots: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The leaf tensors a backward pass from ``roots`` accumulates gradients into, in graph order."""
    leaves = [root for root in roots if root.requires_grad and root.grad_fn is None]
    stack = [root.grad_fn for root in roots if root.grad_fn is not None]
    seen: set = set()
    while stack and len(seen) < MAX_GRAPH_NODES:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # AccumulateGrad nodes hold their leaf
        if isinstance(variable, torch.Tensor):
            leaves.append(variable)
        else:
            stack.extend(child for child, _ in getattr(node, "next_functions", ()))
    unique = {id(leaf): leaf for leaf in leaves}
    return list(unique.values())


class _Pass:
    """The tensors one backward pass differentiated, and copies of their values then."""

    def __init__(self, targets: list[torch.Tensor]) -> None:
        self.targets, self.values, room = [], [], MAX_SNAPSHOT_ELEMENTS
        for target in targets:
            if target.numel() > room:
                break
            room -= target.numel()
            self.targets.append(target)
            self.values.append(target.detach().clone())

    def moved_to(self, targets: Sequence[torch.Tensor]) -> bool:
        """Whether ``targets`` are these tensors (or ones shaped alike) holding other values."""
        targets = list(targets)[: len(self.values)]
        if len(targets) != len(self.values) or not self.values:
            return False
        if any(now.shape != then.shape or now.dtype != then.dtype for now, then in zip(targets, self.values)):
            return False
        return any(not torch.equal(now.detach(), then) for now, then in zip(targets, self.values))


class _TorchWatch(TorchFunctionMode):
    def __init__(self, observer: Observer) -> None:
        super().__init__()
        self.observer = observer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        # Called for every torch function the student's code runs, where each Python call also wakes
        # the trace hook: the widest tensor and the backward functions are found inline.
        kwargs = kwargs or {}
        width = 0
        for value in (*args, *kwargs.values()) if kwargs else args:
            if isinstance(value, torch.Tensor):
                width = max(width, value.numel())
            elif isinstance(value, (list, tuple)):  # one level deep, as _tensors reads them
                for item in value:
                    if isinstance(item, torch.Tensor):
                        width = max(width, item.numel())
        self.observer.note(func, width)
        backward = self.observer._backward_functions
        if func is not backward[0] and func is not backward[1] and func is not backward[2]:
            return func(*args, **kwargs)
        targets = self.observer.guarded(self.observer.targets, func, args, kwargs)
        result = func(*args, **kwargs)
        self.observer.guarded(self.observer.record_pass, targets or [])
        return result


class Observer:
    """What one call did, gathered while it runs; ``report()`` gives it as plain values."""

    def __init__(self, is_student_file: Callable[[str], bool] | None = None) -> None:
        self.names: set[str] = set()
        self.names_cut = False
        self.widest: dict[str, int] = {}
        """for each name, the most elements of a tensor it was given"""
        self.line_runs = 0
        """how many times the most repeated line of the student's own code ran"""
        self._line_counts: dict[tuple, int] = {}
        self._is_student_file = is_student_file
        self._code_kinds: dict[Any, tuple[Any, str, bool]] = {}
        """for each code object run: its module's name, the name to record when it is called ('' for
        none), and whether its lines are the student's"""
        self._tracer = self._trace  # one bound method, so that ``sys.gettrace() is self._tracer`` holds
        self._saved_traces: tuple = ()
        self.backward_passes = 0
        self.learning_steps = 0
        self.intact = True
        self.problem = ""
        """what went wrong in the observer itself (not in the call), if anything"""
        self._last_pass: _Pass | None = None
        self._known: dict[Any, str] = {}
        self._signatures: dict[Any, inspect.Signature] = {}
        self._backward_functions = (torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad)
        self._mode = _TorchWatch(self)

    def guarded(self, work, *args: Any) -> Any:
        """``work(*args)``, or None when it fails: the observer's failure is not the student's."""
        try:
            return work(*args)
        except Exception as exc:
            self.problem = self.problem or f"{type(exc).__name__}: {exc}"[:500]
            return None

    # ------------------------------------------------------------ names
    def note(self, func: Any, width: int = 0) -> None:
        try:
            name = self._known.get(func)
        except TypeError:  # an unhashable callable
            name = None
        if name in self.names:  # the common case, without another call for the trace hook to wake on
            if width > self.widest.get(name, 0):
                self.widest[name] = width
            return
        if name is None:
            name = _function_name(func)
            with contextlib.suppress(TypeError):
                self._known[func] = name
        if self._add_name(name) and width > self.widest.get(name, 0):
            self.widest[name] = width

    def _add_name(self, name: str) -> bool:
        """Record ``name``; False when there is no room left for it."""
        if name in self.names:
            return True
        if len(self.names) >= MAX_NAMES:
            self.names_cut = True
            return False
        self.names.add(name)
        return True

    # ------------------------------------------------------------ Python frames
    def _trace(self, frame, event, arg):
        """The trace hook, called as each Python frame starts: record the watched libraries'
        functions, and count the lines of the student's own code."""
        code, module = frame.f_code, frame.f_globals.get("__name__")
        kind = self._code_kinds.get(code)
        if kind is None or kind[0] is not module:  # other globals, same code; `is`: none of their __ne__
            kind = self._code_kinds[code] = self._kind_of(code, module)
        if kind[1]:
            self._add_name(kind[1])
        return self._count_line if kind[2] else None

    def _kind_of(self, code: Any, module: Any) -> tuple[Any, str, bool]:
        watched = isinstance(module, str) and module.startswith(WATCHED_MODULES)
        student = self._is_student_file is not None and bool(self._is_student_file(code.co_filename))
        return (module, f"{module}.{code.co_qualname}" if watched else "", student)

    def _count_line(self, frame, event, arg):
        if event == "line":
            key = (frame.f_code, frame.f_lineno)
            runs = self._line_counts[key] = self._line_counts.get(key, 0) + 1
            if runs > self.line_runs:
                self.line_runs = runs
        return self._count_line

    # ------------------------------------------------------------ backward passes
    def targets(self, func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
        """What a backward call differentiates: its ``inputs``, else the leaves of its graph."""
        try:
            bound = self._signature(func).bind(*args, **kwargs).arguments
        except (TypeError, ValueError):
            return []
        inputs = _tensors(bound.get("inputs"))
        if inputs:
            return inputs
        roots = _tensors(bound.get("self", bound.get("tensors", bound.get("outputs"))))
        return graph_leaves(roots)

    def _signature(self, func: Any) -> inspect.Signature:
        if func not in self._signatures:
            self._signatures[func] = inspect.signature(func)
        return self._signatures[func]

    def record_pass(self, targets: list[torch.Tensor]) -> None:
        self.backward_passes += 1
        if self._last_pass is not None and self._last_pass.moved_to(targets):
            self.learning_steps += 1
        self._last_pass = _Pass(targets)

    def _close_last_pass(self) -> None:
        last = self._last_pass
        if last is not None and last.moved_to(last.targets):
            self.learning_steps += 1
        self._last_pass = None

    # ------------------------------------------------------------ hooks
    def start(self) -> None:
        self._mode.__enter__()
        self._saved_traces = (sys.gettrace(), threading.gettrace())
        sys.settrace(self._tracer)
        threading.settrace(self._tracer)

    def stop(self) -> None:
        if sys.gettrace() is not self._tracer:
            self.intact = False  # the call replaced the trace hook
        sys.settrace(self._saved_traces[0])
        threading.settrace(self._saved_traces[1])
        self.guarded(self._stop_mode)
        self.guarded(self._close_last_pass)

    def _stop_mode(self) -> None:
        """Take the mode off torch's stack, with any mode the call pushed and left above it."""
        stack = torch.overrides._get_current_function_mode_stack()
        if not any(mode is self._mode for mode in stack):
            self.intact = False  # the call took the mode off
            return
        if stack[-1] is not self._mode:
            self.intact = False
        while torch.overrides._pop_mode() is not self._mode:
            pass

    def report(self) -> dict:
        if self.problem:
            return _Unavailable(self.problem).report()
        return {
            "observed": {
                "calls": sorted(self.names),
                "calls_cut": self.names_cut,
                "widest": dict(sorted(self.widest.items())),
                "line_runs": self.line_runs,
                "backward_passes": self.backward_passes,
                "learning_steps": self.learning_steps,
                "intact": self.intact,
            }
        }


class _NotWatching:
    def report(self) -> dict:
        return {}


class _Unavailable:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def report(self) -> dict:
        return {"observed": {"unavailable": self.reason}}


@contextlib.contextmanager
def watching(wanted: bool, is_student_file: Callable[[str], bool] | None = None) -> Iterator[Any]:
    """Watch the body when ``wanted``; what is yielded has ``report()``, a dict to add to the answer.
    With ``is_student_file``, the lines of code from the files it accepts are counted too."""
    if not wanted:
        yield _NotWatching()
        return
    observer = Observer(is_student_file)
    try:
        observer.start()
    except Exception as exc:  # the engine's problem, not the student's: say so
        yield _Unavailable(f"{type(exc).__name__}: {exc}"[:500])
        return
    try:
        yield observer
    finally:
        observer.stop()
