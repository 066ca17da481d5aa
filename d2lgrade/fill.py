"""Submissions made from the stub: the reference answers, with some cells replaced.

For the project's own tests, catalogues, demo class and benchmarks: a
submission built here looks exactly like a student's (the committed stub
with its solution cells filled in), so nbgrader and d2lgrade see the same
notebook.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import nbformat

from d2lgrade.course import Course
from d2lgrade.notebook import load_notebook

__all__ = ["filled_stub"]


def filled_stub(course: Course, assignment: str, replacements: Mapping[str, str] | None = None, *, fill: bool = True) -> nbformat.NotebookNode:
    """The stub with every solution cell answered by the reference (when ``fill``),
    and the cells named in ``replacements`` (by grade_id) set to the given source."""
    spec = course.assignment(assignment)
    stub = copy.deepcopy(load_notebook(course.stub(assignment)))
    answers = dict(spec.solution_sources) if fill else {}
    answers.update(
        {
            cell.metadata["nbgrader"]["grade_id"]: cell.source
            for cell in spec.notebook.cells
            if fill and cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution", False)
        }
    )
    answers.update(replacements or {})
    unknown = set(replacements or {}) - {c.metadata.get("nbgrader", {}).get("grade_id") for c in stub.cells}
    if unknown:
        raise KeyError(f"the {assignment} stub has no cells {sorted(unknown)}")
    for cell in stub.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers and cell.metadata["nbgrader"].get("solution", False):
            cell.source = answers[grade_id]
    return stub
