"""What grading found: frozen records, with totals computed rather than stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any


__all__ = ["CellReport", "OUTCOMES", "QuestionResult", "SubmissionResult", "TestResult", "share_points"]

#: How a test can end. ``error``: the student's code raised, hung or was
#: missing; ``failed``: it answered wrongly; ``grader_error``: the grader
#: itself broke (staff are told; the test earns nothing).
OUTCOMES = ("passed", "failed", "error", "grader_error", "skipped")


def share_points(points: float, outcomes: Iterable[str]) -> float:
    """A question's score: its points times the share of its tests that passed.

    Skipped tests (a CUDA test without a GPU) do not count either way.
    """
    counted = [outcome for outcome in outcomes if outcome != "skipped"]
    if not counted:
        return 0.0
    return round(points * counted.count("passed") / len(counted), 4)


@dataclasses.dataclass(frozen=True)
class CellReport:
    """What happened when one cell ran."""

    index: int
    """the cell's position in the notebook"""
    status: str
    """``ok``, ``raised``, ``timeout`` or ``crashed``"""
    ename: str | None = None
    evalue: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclasses.dataclass(frozen=True)
class TestResult:
    """One grader test run against one submission."""

    question: str
    """the question (function) the test belongs to"""
    name: str
    """the test's title for students: its docstring's first line"""
    test_id: str
    """pytest's node id of the test, for staff"""
    outcome: str
    """one of ``OUTCOMES``"""
    message: str = ""
    """student-facing: what was expected, what came back, the likely mistake"""
    seconds: float = 0.0
    hidden: bool = False
    """whether the test is hidden from students before the deadline"""
    staff_detail: str = ""
    """for grader errors: what broke, for staff only, never shown to students"""

    __test__ = False  # not a pytest test class


@dataclasses.dataclass(frozen=True)
class QuestionResult:
    """One question of one submission."""

    name: str
    points: float
    """the points the question is worth"""
    autograded: bool
    tests: tuple[TestResult, ...] = ()

    @property
    def score(self) -> float:
        return share_points(self.points, (t.outcome for t in self.tests)) if self.autograded else 0.0

    @property
    def passed(self) -> int:
        return sum(t.outcome == "passed" for t in self.tests)

    @property
    def counted(self) -> int:
        return sum(t.outcome != "skipped" for t in self.tests)


@dataclasses.dataclass(frozen=True)
class SubmissionResult:
    """Everything grading found about one student's notebook for one assignment."""

    student: str
    assignment: str
    path: str
    seed: int
    questions: tuple[QuestionResult, ...] = ()
    cells: tuple[CellReport, ...] = ()
    """what happened to each code cell when the notebook ran"""
    error: str | None = None
    """why the notebook could not be graded at all, for the student"""
    seconds: float = 0.0
    skipped_cells: tuple[int, ...] = ()
    """the code cells (notebook indexes) not run, since no check depends on them (``d2lgrade.slicing``)"""
    all_cells_again: bool = False
    """graded a second time with every cell, since a failure could have come from a skipped one"""
    budget: float | None = None
    """the seconds its code could run in all, cells and calls (``d2lgrade.budget``); None: no such bound"""
    used: float = 0.0
    """the seconds its code ran, counted against the budget (of the second run, when graded again)"""
    over_budget: bool = False
    """it used all of its budget: its process was stopped and the checks not yet run ended as errors"""
    sandbox: dict = dataclasses.field(default_factory=dict)
    """what confined the student's process: ``network``, ``filesystem``, ``own_uid``, ``own_processes``, each
    True or the reason it could not be applied (see d2lgrade.sandbox)"""
    environment: dict = dataclasses.field(default_factory=dict)
    """what graded it, read by the grading process: ``python``, ``torch``, ``numpy``, ``d2l``, ``nbgrader`` and
    ``d2lgrade`` versions, and the graders' ``device`` (see d2lgrade.environment); empty in results of older runs"""

    @property
    def score(self) -> float:
        return round(sum(q.score for q in self.questions if q.autograded), 4)

    @property
    def possible(self) -> float:
        return sum(q.points for q in self.questions if q.autograded)

    @property
    def grader_errors(self) -> list[TestResult]:
        return [t for q in self.questions for t in q.tests if t.outcome == "grader_error"]

    def question(self, name: str) -> QuestionResult:
        for question in self.questions:
            if question.name == name:
                return question
        raise KeyError(name)

    @classmethod
    def from_error(cls, *, student: str, assignment: str, path: str, seed: int, error: str, questions: Sequence[Any] = ()) -> SubmissionResult:
        """A submission that could not be graded: zero on every question, with the reason."""
        return cls(
            student=student,
            assignment=assignment,
            path=path,
            seed=seed,
            questions=tuple(QuestionResult(q.name, q.points, q.autograded) for q in questions),
            error=error,
        )

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["score"], data["possible"] = self.score, self.possible
        for question, raw in zip(self.questions, data["questions"]):
            raw["score"] = question.score
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        questions = tuple(
            QuestionResult(q["name"], q["points"], q["autograded"], tuple(TestResult(**t) for t in q["tests"]))
            for q in data["questions"]
        )
        cells = tuple(CellReport(**c) for c in data["cells"])
        skipped = tuple(data.get("skipped_cells", ()))
        fields = {f.name for f in dataclasses.fields(cls)} - {"questions", "cells", "skipped_cells"}
        return cls(questions=questions, cells=cells, skipped_cells=skipped, **{k: data[k] for k in fields if k in data})
