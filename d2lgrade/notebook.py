"""Reading notebooks: the cells a submission runs, and the questions a source notebook declares."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import nbformat

__all__ = [
    "CodeCell",
    "NotebookError",
    "Question",
    "code_cells",
    "is_test_cell",
    "load_notebook",
    "python_source",
    "top_level_definitions",
]

#: Largest notebook file accepted, in bytes.
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
_SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)


class NotebookError(Exception):
    """A file that cannot be graded as a notebook; the message is for the student."""


@dataclasses.dataclass(frozen=True)
class CodeCell:
    """One code cell of a submission, in notebook order."""

    index: int
    """position among all the notebook's cells"""
    source: str


@dataclasses.dataclass(frozen=True)
class Question:
    """A graded question of an assignment, as its source notebook declares it."""

    name: str
    """the function's name, which is also the solution cell's grade_id"""
    grade_id: str
    """the grade cell holding its points (``test_<name>`` for code)"""
    points: float
    autograded: bool
    """False for written answers, which are graded by hand"""


def load_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook, raising NotebookError with a plain reason."""
    path = Path(path)
    if path.is_symlink():
        raise NotebookError(f"{path.name} is a symbolic link, not a notebook file")
    if not path.is_file():
        raise NotebookError(f"{path.name} is not a file")
    size = path.stat().st_size
    if size == 0:
        raise NotebookError(f"{path.name} is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path.name} is {size / 2**20:.0f} MB, over the limit of {MAX_NOTEBOOK_BYTES / 2**20:.0f} MB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not UTF-8 text, so it is not a notebook") from None
    try:
        notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # nbformat raises several kinds for bad JSON
        raise NotebookError(f"{path.name} is not valid notebook JSON ({type(exc).__name__})") from None
    if notebook.get("nbformat") != 4:
        raise NotebookError(f"{path.name} is in notebook format {notebook.get('nbformat')}; save it as format 4")
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise NotebookError(f"{path.name} is not a valid notebook: {exc.message}") from None
    language = notebook.metadata.get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise NotebookError(f"{path.name} uses the {language} kernel; this assignment needs Python")
    return notebook


def _nbgrader(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell: Any) -> bool:
    """An nbgrader autograder test cell (a grade cell that is not a solution)."""
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def code_cells(notebook: Any) -> list[CodeCell]:
    """The cells a submission runs: every code cell but the autograder test cells."""
    return [
        CodeCell(index, cell.source)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and not is_test_cell(cell)
    ]


def questions(notebook: Any) -> tuple[Question, ...]:
    """The graded questions a source notebook declares, with their points."""
    found = []
    for cell in notebook.cells:
        meta = _nbgrader(cell)
        if not meta.get("grade", False):
            continue
        grade_id, points = meta["grade_id"], float(meta.get("points", 0))
        if is_test_cell(cell):
            found.append(Question(grade_id.removeprefix("test_"), grade_id, points, True))
        else:
            found.append(Question(grade_id, grade_id, points, False))
    return tuple(found)


def strip_solution_markers(source: str) -> str:
    return _SOLUTION_MARKERS.sub("", source)


def python_source(cell_source: str) -> str:
    """A cell's source as plain Python, with IPython's magics turned into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def top_level_definitions(cells: list[CodeCell]) -> dict[str, ast.AST]:
    """What each top-level name is bound to last across the cells: its ``def`` or
    ``class``, or the import or assignment that rebound it, so that rules also see
    ``from torch.linalg import lstsq as ls`` or ``solve = torch.linalg.solve``."""
    found: dict[str, ast.AST] = {}
    for cell in cells:
        try:
            tree = ast.parse(python_source(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    found[alias.asname or alias.name.split(".")[0]] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            found[name.id] = node
            else:  # a loop or with statement rebinding a name: what it holds is unknown
                for name in ast.walk(node):
                    if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store):
                        found.pop(name.id, None)
    return found
