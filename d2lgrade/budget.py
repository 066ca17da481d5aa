"""The time budget of a submission: how long its cells and every call into its code may take together.

Each call has its own limit (``--timeout``), but a notebook whose functions
each take just under it would hold a worker for the limit times its number
of tests. The budget bounds the whole: by default ``BUDGET_FACTOR`` times
what the reference notebook takes, graded the same way, and at least
``MIN_BUDGET``. One cell may use at most ``CELL_SHARE`` of it, so that a
cell that never ends leaves time for the rest of the notebook and the
checks. Once the budget is spent, the student's process is stopped and every
check not yet run ends as an error with ``Budget.sentence``.

A submission graded a second time with every cell (``all_cells_again``) gets
a fresh budget for that run, whose results are the ones kept: the engine's
second look never costs the student time.

The reference's time is measured once per version of the assignment (its
``Assignment.fingerprint``) on each machine and kept in
``$XDG_CACHE_HOME/d2lgrade/reference-seconds.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat

from d2lgrade.course import Assignment, Course

__all__ = ["BUDGET_FACTOR", "Budget", "CELL_SHARE", "MIN_BUDGET", "budgets_for", "default_budget", "reference_seconds"]

#: The default budget is this many times the reference notebook's own time...
BUDGET_FACTOR = 20
#: ... and at least this many seconds.
MIN_BUDGET = 120.0
#: The share of the budget one cell may use.
CELL_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class Budget:
    """The seconds one submission's code may run, in all."""

    seconds: float
    reference: float | None = None
    """the seconds the reference notebook takes, graded the same way, when known"""

    @property
    def cell_limit(self) -> float:
        """the most one cell may take"""
        return self.seconds * CELL_SHARE

    def sentence(self) -> str:
        """What a student reads on every check that did not run because the budget was spent."""
        reference = f"; the reference needs about {self.reference:.2g} s" if self.reference else ""
        return (f"Not run: your notebook used all of its {self.seconds:g} s{reference}: "
                "look for a loop that runs far longer than the book's.")

    def describe(self) -> str:
        """The budget as the start of a run prints it."""
        if self.reference is None:
            return f"{self.seconds:g} s"
        return f"{self.seconds:g} s ({BUDGET_FACTOR} times the reference's {self.reference:.2g} s, at least {MIN_BUDGET:g} s)"


def default_budget(reference: float | None) -> Budget:
    """``BUDGET_FACTOR`` times the reference's seconds, at least ``MIN_BUDGET`` (which is all when unknown)."""
    if reference is None:
        return Budget(MIN_BUDGET)
    return Budget(round(max(MIN_BUDGET, BUDGET_FACTOR * reference), 1), reference)


def _cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "d2lgrade" / "reference-seconds.json"


def _key(course: Course, name: str) -> str:
    return f"{name}:{course.assignment(name).fingerprint}"


def _read_cache() -> dict:
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(_cache_file().read_text(encoding="utf-8"))
        if isinstance(known, dict):
            return known
    return {}


def _cached(course: Course, name: str) -> float | None:
    seconds = _read_cache().get(_key(course, name))
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None


def reference_seconds(course: Course, name: str) -> float | None:
    """The seconds the reference answers of assignment ``name`` take when graded with every cell and
    every check, as a student's are: measured once per version of the assignment, then read from the
    cache. None in a student release, which has no reference answers."""
    assignment = course.assignment(name)
    if assignment.released:
        return None
    if (seconds := _cached(course, name)) is not None:
        return seconds
    seconds = _measure(course, assignment)
    cache = _cache_file()
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}")  # written whole, then renamed: runs side by side
        temporary.write_text(json.dumps({**_read_cache(), _key(course, name): seconds}, indent=1), encoding="utf-8")
        temporary.replace(cache)
    return seconds


def budgets_for(course: Course, names: Iterable[str], seconds: float | None = None,
                on_measure: Callable[[str], None] | None = None) -> dict[str, Budget]:
    """Each assignment's budget: ``seconds`` when given, else ``default_budget`` of its reference's time.
    ``on_measure(name)`` is called before the reference of ``name`` is measured (it takes seconds)."""
    budgets = {}
    for name in names:
        if seconds is not None:
            budgets[name] = Budget(seconds)
            continue
        if on_measure is not None and not course.assignment(name).released and _cached(course, name) is None:
            on_measure(name)
        budgets[name] = default_budget(reference_seconds(course, name))
    return budgets


def _measure(course: Course, assignment: Assignment) -> float:
    """The reference graded as a student's notebook: the stub filled with the reference answers (the
    source notebook itself when there is no stub), with every cell, every check and no budget."""
    from d2lgrade.fill import filled_stub
    from d2lgrade.grade import Submission, grade

    with tempfile.TemporaryDirectory(prefix="d2lgrade-reference-") as folder:
        path = Path(folder) / f"{assignment.name}.ipynb"
        if course.stub(assignment.name).is_file():
            nbformat.write(filled_stub(course, assignment.name), path)
        else:
            path.write_bytes(assignment.source.read_bytes())
        (result,) = grade([Submission("reference", assignment.name, path)], course=course, all_cells=True)
    return round(result.used, 2)
