"""The course on disk: its assignments, their source notebooks, and their graders."""

from __future__ import annotations

import dataclasses
import os
from functools import cached_property
from pathlib import Path

from d2lgrade import notebook as nb

__all__ = ["Assignment", "Course", "CourseError", "find_course"]


class CourseError(Exception):
    """The course folder is missing something d2lgrade needs (a staff-facing problem)."""


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One assignment: its source notebook and the graders that check it."""

    name: str
    source: Path
    """the nbgrader source notebook, ``solutions/<name>/<name>.ipynb``"""
    graders: Path
    """the folder holding ``public/<name>.py`` and ``hidden/<name>.py``"""

    @cached_property
    def notebook(self):
        return nb.load_notebook(self.source)

    @cached_property
    def questions(self) -> tuple[nb.Question, ...]:
        return nb.questions(self.notebook)

    @property
    def autograded(self) -> tuple[nb.Question, ...]:
        return tuple(q for q in self.questions if q.autograded)

    def question(self, name: str) -> nb.Question:
        for question in self.questions:
            if question.name == name:
                return question
        raise CourseError(f"{self.name} has no question {name!r}")

    def grader_files(self, *, public_only: bool = False) -> list[Path]:
        kinds = ("public",) if public_only else ("public", "hidden")
        return [self.graders / kind / f"{self.name}.py" for kind in kinds if (self.graders / kind / f"{self.name}.py").exists()]

    @cached_property
    def setup_sources(self) -> list[str]:
        """The source notebook's setup cells, without magics (the reference runs without IPython)."""
        return [
            "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for cell in self.notebook.cells
            if cell.cell_type == "code" and "setup" in cell.metadata.get("tags", [])
        ]

    @cached_property
    def solution_sources(self) -> dict[str, str]:
        """The reference code of each graded function, by name."""
        return {
            cell.metadata["nbgrader"]["grade_id"]: nb.strip_solution_markers(cell.source)
            for cell in self.notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution", False)
        }

    @cached_property
    def book_sources(self) -> dict[str, str]:
        """Reference code that may run on the student's side: the book's own functions.

        Their cells carry the tag ``book``; exercise solutions never leave
        the grading process.
        """
        return {
            cell.metadata["nbgrader"]["grade_id"]: nb.strip_solution_markers(cell.source)
            for cell in self.notebook.cells
            if cell.cell_type == "code"
            and cell.metadata.get("nbgrader", {}).get("solution", False)
            and "book" in cell.metadata.get("tags", [])
        }


@dataclasses.dataclass(frozen=True)
class Course:
    """A course folder: ``solutions/``, ``assignments/``, ``graders/``."""

    root: Path

    @property
    def graders(self) -> Path:
        return self.root / "graders"

    def assignment_names(self) -> list[str]:
        folder = self.root / "solutions"
        return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.ipynb").is_file()) if folder.is_dir() else []

    def assignment(self, name: str) -> Assignment:
        source = self.root / "solutions" / name / f"{name}.ipynb"
        if not source.is_file():
            known = ", ".join(self.assignment_names()) or "none"
            raise CourseError(f"no assignment {name!r} in {self.root} (known: {known})")
        return Assignment(name, source, self.graders)

    def stub(self, name: str) -> Path:
        return self.root / "assignments" / name / f"{name}.ipynb"


def _is_course(folder: Path) -> bool:
    return (folder / "solutions").is_dir() and (folder / "graders").is_dir()


def find_course(start: Path | None = None) -> Course:
    """The course to use: ``$D2LGRADE_COURSE``, else the nearest folder up from
    ``start`` (the working directory) that has ``solutions/`` and ``graders/``,
    else the checkout this package was installed from."""
    if os.environ.get("D2LGRADE_COURSE"):
        root = Path(os.environ["D2LGRADE_COURSE"]).resolve()
        if not _is_course(root):
            raise CourseError(f"D2LGRADE_COURSE={root} has no solutions/ and graders/ folders")
        return Course(root)
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_course(folder):
            return Course(folder)
    checkout = Path(__file__).resolve().parent.parent
    if _is_course(checkout):
        return Course(checkout)
    raise CourseError("no course found: run inside a course folder or set D2LGRADE_COURSE")
