"""The course on disk: its assignments, their source notebooks, and their graders.

A course checkout has ``solutions/`` (the nbgrader source notebooks, with the
reference code and the points). A student release (``d2lgrade release``) has
only the stubs in ``assignments/`` and the public graders: its questions and
points are read from the stubs' nbgrader metadata, and it has no reference code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from functools import cached_property
from pathlib import Path

from d2lgrade import notebook as nb

__all__ = ["Assignment", "Course", "CourseError", "GraderError", "find_course"]


class CourseError(Exception):
    """The course folder is missing something d2lgrade needs (a staff-facing problem)."""


class GraderError(Exception):
    """The graders themselves could not run (a staff-facing problem)."""


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One assignment: its source notebook and the graders that check it."""

    name: str
    source: Path
    """the nbgrader source notebook, ``solutions/<name>/<name>.ipynb``; in a release, the stub"""
    graders: Path
    """the folder holding ``public/<name>.py`` and ``hidden/<name>.py``"""
    released: bool = False
    """a student release: ``source`` is the stub, so there is no reference code"""

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
    def fingerprint(self) -> str:
        """A SHA-256 of what grades a submission besides the submission: the source notebook and every grader file.

        Editing the reference, a grader or a helper the graders import changes
        it, so ``--resume`` grades again and ``merge`` refuses shards graded
        before and after the edit. Read once per Assignment.
        """
        digest = hashlib.sha256()
        files = {"source": self.source, **{p.relative_to(self.graders).as_posix(): p for p in sorted(self.graders.rglob("*.py"))}}
        for name, path in files.items():
            content = path.read_bytes()
            digest.update(f"{name}\0{len(content)}\0".encode())
            digest.update(content)
        return digest.hexdigest()

    @cached_property
    def setup_sources(self) -> list[str]:
        """The source notebook's setup cells, without magics (the reference runs without IPython)."""
        return [
            "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for cell in self.notebook.cells
            if cell.cell_type == "code" and "setup" in cell.metadata.get("tags", [])
        ]

    def _solution_cells(self) -> list:
        """The code cells of the graded functions (in a release, their stubs)."""
        return [
            cell
            for cell in self.notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution", False)
        ]

    @cached_property
    def solution_sources(self) -> dict[str, str]:
        """The reference code of each graded function, by name (none in a release)."""
        if self.released:
            return {}
        return {cell.metadata["nbgrader"]["grade_id"]: nb.strip_solution_markers(cell.source) for cell in self._solution_cells()}

    @cached_property
    def solution_definitions(self) -> dict:
        """What each top-level name of the solution cells is bound to, parsed (none in a release)."""
        sources = self.solution_sources.values()
        return nb.top_level_definitions([nb.CodeCell(i, source) for i, source in enumerate(sources)])

    @cached_property
    def book_names(self) -> frozenset[str]:
        """The graded functions that are the book's own (tagged ``book``), shown in its narrative too."""
        return frozenset(cell.metadata["nbgrader"]["grade_id"] for cell in self._solution_cells() if "book" in cell.metadata.get("tags", []))

    @cached_property
    def lent_names(self) -> frozenset[str]:
        """The graded functions that grading lends to the student's other functions (tagged ``lend``):
        a student's ``train`` runs with the book's ``sgd``, so one mistake costs one question
        (``d2lgrade.book``). A release holds the tags too, for the self-check's notes."""
        return frozenset(cell.metadata["nbgrader"]["grade_id"] for cell in self._solution_cells() if "lend" in cell.metadata.get("tags", []))

    @cached_property
    def book_sources(self) -> dict[str, str]:
        """The reference code of the book's own functions (none in a release). It never leaves the
        grading process: grading lends them by name or by value (``d2lgrade.book``)."""
        return {name: source for name, source in self.solution_sources.items() if name in self.book_names}


@dataclasses.dataclass(frozen=True)
class Course:
    """A course folder: ``solutions/``, ``assignments/``, ``graders/`` (a release lacks ``solutions/``)."""

    root: Path

    @property
    def graders(self) -> Path:
        return self.root / "graders"

    @property
    def released(self) -> bool:
        """A student release: stubs and public graders, no ``solutions/``."""
        return not (self.root / "solutions").is_dir()

    @property
    def _notebooks(self) -> Path:
        """Where each assignment's notebook that declares its questions lives."""
        return self.root / ("assignments" if self.released else "solutions")

    def assignment_names(self) -> list[str]:
        folder = self._notebooks
        return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.ipynb").is_file()) if folder.is_dir() else []

    def assignment(self, name: str) -> Assignment:
        source = self._notebooks / name / f"{name}.ipynb"
        if not source.is_file():
            known = ", ".join(self.assignment_names()) or "none"
            raise CourseError(f"no assignment {name!r} in {self.root} (known: {known})")
        return Assignment(name, source, self.graders, released=self.released)

    def stub(self, name: str) -> Path:
        return self.root / "assignments" / name / f"{name}.ipynb"


def _is_course(folder: Path) -> bool:
    """A course checkout (``solutions/``, ``graders/``) or a student release (``assignments/``, ``graders/``)."""
    return (folder / "graders").is_dir() and ((folder / "solutions").is_dir() or (folder / "assignments").is_dir())


def find_course(start: Path | None = None) -> Course:
    """The course to use: ``$D2LGRADE_COURSE``, else the nearest folder up from
    ``start`` (the working directory) that has ``graders/`` and ``solutions/``
    (or, in a release, ``assignments/``), else the checkout or release this
    package was installed from, else the assignments the student wheel holds."""
    if os.environ.get("D2LGRADE_COURSE"):
        root = Path(os.environ["D2LGRADE_COURSE"]).resolve()
        if not _is_course(root):
            raise CourseError(f"D2LGRADE_COURSE={root} has no graders/ folder with solutions/ or assignments/ beside it")
        return Course(root)
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_course(folder):
            return Course(folder)
    checkout = Path(__file__).resolve().parent.parent
    if _is_course(checkout):
        return Course(checkout)
    # The student wheel keeps its released assignments inside the package (``d2lgrade.wheel``).
    packaged = Path(__file__).resolve().parent / "released"
    if _is_course(packaged):
        return Course(packaged)
    raise CourseError("no course found: run inside a course folder or set D2LGRADE_COURSE")
