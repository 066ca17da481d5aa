"""Finding submissions: which notebooks to grade, whose they are and which assignment each is for.

A light module (no torch, no pytest): the command line finds and checks
the class with it before any grading process starts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

from d2lgrade import notebook as nb
from d2lgrade.course import Course

__all__ = ["Submission", "find_submissions", "guess_assignment", "submission_from_json", "submission_seed", "submission_to_json"]


@dataclasses.dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment."""

    student: str
    assignment: str | None
    """None when it could not be told which assignment the notebook is for"""
    path: Path
    seed: int | None = None
    """the seed to grade with, when it differs from the run's"""




def _grade_ids(path: Path) -> set[str]:
    """The grade_ids of a notebook's cells, read leniently (any notebook format, one that
    fails validation) so that a notebook that cannot be graded still says what it is for."""
    try:
        if path.stat().st_size > nb.MAX_NOTEBOOK_BYTES:
            return set()
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        # notebook format 3 keeps its cells in worksheets
        cells = data.get("cells") or [cell for sheet in data.get("worksheets", []) for cell in sheet.get("cells", [])]
        return {
            cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            for cell in cells
            if isinstance(cell, dict)
        }
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return set()


def guess_assignment(path: Path, course: Course) -> str | None:
    """The assignment a notebook is for: its file name, else its graded cells' ids."""
    names = course.assignment_names()
    if path.stem in names:
        return path.stem
    ids = _grade_ids(path) if path.is_file() and not path.is_symlink() else set()
    overlap = {name: len(ids & {q.grade_id for q in course.assignment(name).questions}) for name in names}
    best = max(overlap, key=overlap.get, default=None)
    return best if best is not None and overlap[best] > 0 else None


def find_submissions(paths: Iterable[Path], *, course: Course, assignment: str | None = None) -> list[Submission]:
    """Notebooks to grade from files, folders of notebooks, or nbgrader's
    ``submitted/<student>/<assignment>/`` layout.

    Nothing named like a notebook is dropped: a folder, a link or an unreadable file
    becomes a submission that grades to an error saying why.
    """
    found: list[Submission] = []
    for path in map(Path, paths):
        if path.is_dir() and (path / "submitted").is_dir():
            path = path / "submitted"
        if path.is_dir() and any(path.glob("*.ipynb")):
            found += _class_folder(path, course, assignment)
        elif path.is_dir():
            # nbgrader layout: [submitted/]<student>/<assignment>/<notebook>.ipynb, or one student's folder
            layout = sorted(path.glob("*/*/*.ipynb")) or sorted(path.glob("*/*.ipynb"))
            for notebook in layout:
                student, name = (path.name if notebook.parent.parent == path else notebook.parent.parent.name), notebook.parent.name
                submission = Submission(student, name, _first_link(path, notebook) or notebook)
                if (assignment is None or name == assignment) and submission not in found:  # a linked folder once, not per notebook
                    found.append(submission)
        else:
            found.append(Submission(path.stem, assignment or guess_assignment(path, course), path))
    return found


def _class_folder(folder: Path, course: Course, assignment: str | None) -> list[Submission]:
    """A folder of ``<student>.ipynb``. A notebook too broken to tell its assignment is
    graded for the one all its classmates' notebooks are for, so that its student is
    told what is wrong with it rather than only that it matches no assignment."""
    notebooks = sorted(folder.glob("*.ipynb"))
    guessed = {notebook: assignment or guess_assignment(notebook, course) for notebook in notebooks}
    shared = set(guessed.values()) - {None}
    found = []
    for notebook in notebooks:
        name = guessed[notebook]
        if name is None and len(shared) == 1 and not _loads(notebook):
            name = next(iter(shared))
        found.append(Submission(notebook.stem, name, notebook))
    return found


def _loads(path: Path) -> bool:
    try:
        nb.load_notebook(path)
    except nb.NotebookError:
        return False
    return True


def _first_link(root: Path, notebook: Path) -> Path | None:
    """The first folder between ``root`` and ``notebook`` that is a symbolic link, which
    may lead anywhere. Grading that path refuses it as a link, as it refuses a linked
    notebook, so nothing it leads to is read."""
    for folder in reversed(notebook.relative_to(root).parents[:-1]):
        if (root / folder).is_symlink():
            return root / folder
    return None


def submission_seed(submission: Submission, seed: int) -> int:
    """The seed a submission is graded with: its own, else the run's."""
    return seed if submission.seed is None else submission.seed




def submission_to_json(submission: Submission) -> dict:
    return {**dataclasses.asdict(submission), "path": str(submission.path)}


def submission_from_json(data: dict) -> Submission:
    return Submission(**{**data, "path": Path(data["path"])})
