"""The book's functions that grading lends to a student's other functions, without handing over answers.

A student's ``train`` is graded with the book's ``data_iter``, ``linreg``,
``squared_loss`` and ``sgd`` rather than the student's own, so that one
mistake costs points on one question only. The functions that may be lent
are the graded functions whose solution cells carry the tag ``lend``. None of
their reference code ever reaches the student's process:

- ``"d2l"``: d2l publishes a function of that name (``d2l.sgd``); the
  student's process already holds d2l, so the request names it and the child
  takes its own copy. Nothing is revealed that the student did not have.
- ``"grader"``: d2l has none (``data_iter``, ``init_params``, the scratch
  ``train``). The child gets a stand-in that sends its arguments to the
  grading process as values; the reference runs there and only values come
  back (in-place changes to tensor arguments included).

A lent function is also a question. Lending it could let a student keep it,
or the values it gave, and hand them back later as its own answers
(``init_params`` ignores most of its input), so the tests are ordered: a
question's own tests run before any test that lends it (``test_rank``).

What the grading process runs for a stand-in is bounded (``MAX_WORK``) and
counted against the calling test's time limit.
"""

from __future__ import annotations

import ast
import functools
import graphlib
import importlib.machinery
import importlib.util
import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d2lgrade.lazy import LAZY_MODULES
from d2lgrade.notebook import dotted, nodes_of, reachable

if TYPE_CHECKING:
    from d2lgrade.course import Assignment
    from d2lgrade.student import Reference

__all__ = ["MAX_WORK", "copied_from_d2l", "lent_functions", "modules_to_load", "serve", "test_rank"]

#: Tensor elements times epochs that one lent call may ask of the grading process: the graders'
#: own calls need at most 1000 examples x 3 features x 3 epochs, a hundred times less.
MAX_WORK = 2_000_000


@functools.cache
def _d2l_functions() -> frozenset[str]:
    """The functions and classes ``d2l.torch`` defines or imports, read from its source: importing it here
    would cost the grading process seconds (torchvision, pandas) for a list of names."""
    # Found on the package's path, not through sys.modules: d2lgrade.grade may have put a lazy d2l.torch
    # there, which the first look at its __spec__ would load.
    package = importlib.util.find_spec("d2l")
    spec = importlib.machinery.PathFinder.find_spec("d2l.torch", package.submodule_search_locations) if package else None
    if spec is None or spec.origin is None:
        return frozenset()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):  # a superset: some of these are modules, none a book function
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Lambda, ast.Attribute, ast.Name)):
            # aliases and lambdas: reshape = torch.reshape, argmax = lambda x, *args, **kwargs: ...
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return frozenset(names)


def lender(name: str) -> str:
    """"d2l" when d2l publishes the book's ``name``, else "grader"."""
    return "d2l" if name in _d2l_functions() else "grader"


def lent_functions(assignment: Assignment, question: str) -> dict[str, str]:
    """The book's functions lent while ``question`` is tested, with who lends each.

    A book function borrows only what its reference calls (so that lending
    stays acyclic); an exercise may borrow any of them.
    """
    book = assignment.lent_names
    if assignment.released or not book:
        return {}
    if question in book:
        reached = reachable(question, assignment.solution_definitions)
        names = {getattr(node, "name", None) for node in reached} & book
    else:
        names = set(book)
    return {name: lender(name) for name in sorted(names - {question})}


def modules_to_load(assignments: Iterable[Assignment], questions: Iterable[str] | None = None,
                    all_cells: bool = False) -> tuple[str, ...]:
    """The ``LAZY_MODULES`` that grading these questions (None: every autograded one) of these
    assignments uses in the students' processes, for their zygote to load once: ``d2l.torch`` when
    every cell runs (the demonstrations plot with it) or a test lends one of d2l's own functions."""
    def uses_d2l(assignment: Assignment) -> bool:
        names = [q.name for q in assignment.autograded] if questions is None else questions
        return all_cells or any(who == "d2l" for name in names for who in lent_functions(assignment, name).values())

    return LAZY_MODULES if any(map(uses_d2l, assignments)) else ()


def test_rank(assignment: Assignment) -> dict[str, int]:
    """Each question's place in the grading order: a lent question comes before every question it is
    lent to; otherwise the notebook's order."""
    order = [q.name for q in assignment.autograded]
    graph = graphlib.TopologicalSorter()
    for question in order:
        graph.add(question, *(name for name in lent_functions(assignment, question) if name in order))
    graph.prepare()
    ranked: list[str] = []
    while graph.is_active():
        ready = sorted(graph.get_ready(), key=order.index)
        ranked += ready
        graph.done(*ready)
    return {question: rank for rank, question in enumerate(ranked)}


def copied_from_d2l(name: str, definitions: Mapping[str, ast.AST]) -> bool:
    """Whether the student's ``name``, read from its source, is d2l's own function of that name:
    imported from d2l, assigned from it, or calling it (``return d2l.sgd(params, lr, batch_size)``).

    The student's process also refuses to run a d2l function as the student's
    (``d2lgrade.child``); this catches the wrappers that it cannot tell apart.
    """
    for node in reachable(name, definitions):  # (no need to import d2l here to ask what it publishes)
        for part in nodes_of(node):
            if isinstance(part, ast.ImportFrom) and _is_d2l(part.module) and any(a.name == name for a in part.names):
                return True
            if isinstance(part, ast.Attribute) and part.attr == name and _names_d2l(part.value, definitions):
                return True
    return False


def _is_d2l(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] == "d2l"


def _names_d2l(node: ast.AST, definitions: Mapping[str, ast.AST]) -> bool:
    """Whether ``node`` (``d2l``, ``d2l.torch``, or a name bound by importing d2l) is a d2l module."""
    path = dotted(node)
    if _is_d2l(path):
        return True
    binding = definitions.get(path.split(".")[0]) if path else None
    if isinstance(binding, ast.ImportFrom):
        return _is_d2l(binding.module)
    return isinstance(binding, ast.Import) and any(_is_d2l(alias.name) for alias in binding.names)


# ------------------------------------------------------------------ the grading side's stand-in
def serve(reference: Reference, lent: Mapping[str, str], keep: str, request: Mapping[str, Any]) -> dict:
    """Run the reference of a lent function on the values a student's process sent; never raises.

    Only a function lent by the grading process to this call is run, never
    ``keep``, the function under test.
    """
    from d2lgrade import wire  # here: the rest of this module is read without torch

    name = str(request.get("name", ""))
    if lent.get(name) != "grader" or name == keep:
        return _refused(f"`{name}` is not lent to this call")
    try:
        args = wire.decode(request.get("args", []))
        kwargs = wire.decode(request.get("kwargs", {"$type": "dict", "items": []}))
    except wire.WireError as exc:
        return _refused(f"its arguments could not be read: {exc}")
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        return _refused("its arguments could not be read")
    function = getattr(reference, name)
    work = _work(function, args, kwargs)
    if work > MAX_WORK:
        return _refused(f"the call asks for {work:,} element-epochs, more than the {MAX_WORK:,} a lent call may take")
    try:
        value = function(*args, **kwargs)
        return {"status": "ok", "value": wire.encode(value), "args": wire.encode(args), "kwargs": wire.encode(kwargs)}
    except Exception as exc:  # the student's arguments may make the book's function raise, or its generator
        error = exc.__cause__ if isinstance(exc, wire.IterationError) and exc.__cause__ else exc
        return {"status": "raised", "ename": type(error).__name__, "evalue": str(error)[:500]}


def _refused(why: str) -> dict:
    return {"status": "raised", "ename": "RuntimeError", "evalue": f"the grader did not run the book's function: {why}"}


def _work(function, args: list, kwargs: dict) -> int:
    """Tensor elements in the arguments times the epochs asked for (a bound on the reference's work)."""
    elements = sum(t.numel() for t in _tensors([args, kwargs]))
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
        bound.apply_defaults()
        epochs = bound.arguments.get("num_epochs", 1)
    except TypeError:
        return elements
    if not isinstance(epochs, (int, float)) or isinstance(epochs, bool):
        epochs = 1
    elif not abs(epochs) < MAX_WORK:  # inf and nan too
        return MAX_WORK + 1
    return max(elements, 1) * max(int(epochs), 1)


def _tensors(value: Any):
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
