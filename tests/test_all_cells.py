"""Scores never depend on which cells run.

Grading runs only the cells the checks need (``d2lgrade.slicing``); with
``--all-cells`` it runs every one, as nbgrader does. The demo class, each
assignment's reference and stub are graded both ways here and must score
alike on every question. The bad-input catalogue is compared the same way in
tests/test_bad_input.py. The catalogues of wrong and correct answers differ
from the reference in one function each: the cases whose function changes
which cells run are graded both ways here too; every other case runs
exactly the reference's cells, which are compared here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from d2lgrade import notebook as nb
from d2lgrade import slicing
from d2lgrade.catalogue import discover
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.grade import Submission, find_submissions

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
CASES = [case for case in discover(Path(__file__).resolve().parent / "catalogue") if not case.missing()]


def _graded(assignment: str) -> set[str]:
    return {q.name for q in COURSE.assignment(assignment).autograded}


def _run_cells(notebook, assignment: str) -> tuple[int, ...]:
    return slicing.needed_cells(nb.code_cells(notebook), _graded(assignment)).run


def _changes_the_slice(case) -> bool:
    reference = _run_cells(filled_stub(COURSE, case.assignment), case.assignment)
    return _run_cells(filled_stub(COURSE, case.assignment, {case.question: case.source}), case.assignment) != reference


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> list[Submission]:
    folder = tmp_path_factory.mktemp("all-cells")
    found = find_submissions([ROOT / "examples" / "submitted"], course=COURSE)
    for name in COURSE.assignment_names():
        for student, notebook in (("reference", filled_stub(COURSE, name)), ("stub", filled_stub(COURSE, name, fill=False))):
            nbformat.write(notebook, folder / f"{student}-{name}.ipynb")
            found.append(Submission(f"{student}-{name}", name, folder / f"{student}-{name}.ipynb"))
    for case in filter(_changes_the_slice, CASES):
        path = folder / f"{case.student}.ipynb"
        nbformat.write(filled_stub(COURSE, case.assignment, {case.question: case.source}), path)
        found.append(Submission(case.student, case.assignment, path))
    return found


def _scores(result) -> tuple:
    return result.error, {q.name: q.score for q in result.questions}


def test_scores_are_the_same_with_every_cell(submissions, grading_pool):
    sliced = grading_pool.grade(submissions, course=COURSE, seed=0)
    everything = grading_pool.grade(submissions, course=COURSE, seed=0, all_cells=True)
    differ = [f"{a.student} ({a.assignment}): {_scores(a)} against {_scores(b)}"
              for a, b in zip(sliced, everything) if _scores(a) != _scores(b)]
    assert not differ, "scores depend on the cells run:\n" + "\n".join(differ)
    assert all(r.skipped_cells for r in sliced if r.student.startswith("reference")), "the references skipped nothing"
    assert all(not r.skipped_cells and not r.all_cells_again for r in everything)


def test_the_catalogue_cases_not_graded_both_ways_run_the_references_cells():
    """So the reference's comparison above stands for them; the others are in it themselves."""
    changed = [case.id for case in CASES if _changes_the_slice(case)]
    assert len(changed) < len(CASES) // 4, f"most cases change the slice; grade them all both ways: {changed}"
