"""Reading notebooks: the cells a submission runs, and the questions a source notebook declares."""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import nbformat.validator

if TYPE_CHECKING:  # jsonschema takes seconds to import; only a broken notebook needs it
    import jsonschema

__all__ = [
    "CodeCell",
    "NotebookError",
    "Question",
    "code_cells",
    "dotted",
    "is_check_cell",
    "is_test_cell",
    "load_notebook",
    "nodes_of",
    "parse_cell",
    "python_source",
    "reachable",
    "read_submission",
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
    """Read and validate a notebook, raising NotebookError with a plain reason.

    Nothing is followed or read that is not a plain file within the size limit:
    a symbolic link, a folder or a named pipe is refused before it is opened.
    """
    path = Path(path)
    name = path.name
    text = _decode(name, read_submission(path))
    if not text.strip():
        raise NotebookError(f"{name} is empty; submit the notebook file that Jupyter saves.")
    try:
        notebook = _to_notebook(name, _parse_json(name, text))
    except RecursionError:  # from the JSON parser, the schema check or nbformat, whichever goes deepest first
        raise NotebookError(f"{name} is not valid notebook JSON: it is nested far too deeply to be a notebook.") from None
    language = _kernel_language(notebook)
    if language.lower() != "python":
        raise NotebookError(
            f"{name} uses the {language} kernel; this assignment needs Python. "
            "Open it in Jupyter, choose Kernel > Change Kernel > Python 3, and save it again."
        )
    return notebook


#: The first bytes of files students hand in by mistake.
_BINARY_KINDS = {b"PK\x03\x04": "a zip archive", b"%PDF": "a PDF document", b"\x89PNG": "a PNG image"}


def read_submission(path: Path) -> bytes:
    """A submitted file's bytes, read only when it is a plain file (not a link, a folder
    or a named pipe) within the size limit; else NotebookError says why, with nothing read.
    Whatever else reads a submission (to hash it, say) should read it through here."""
    path = Path(path)
    if path.is_symlink():
        raise NotebookError(f"{path.name} is a symbolic link, not a notebook file")
    if not path.is_file():
        raise NotebookError(f"{path.name} is not a file")
    limit = MAX_NOTEBOOK_BYTES
    size = path.stat().st_size
    if size <= limit:
        with path.open("rb") as file:
            data = file.read(limit + 1)  # it may have grown since stat
        size = max(size, len(data))
    if size > limit:
        raise NotebookError(
            f"{path.name} is {_megabytes(size)}, over the limit of {_megabytes(limit)} for a notebook. "
            "Large outputs are the usual cause: clear them (Edit > Clear All Outputs), save and submit again."
        )
    return data


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def _decode(name: str, data: bytes) -> str:
    """The file's text, or why it is not the UTF-8 text that Jupyter writes."""
    resave = "Jupyter writes UTF-8; submit the file Jupyter saved, not a copy from another editor."
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16's byte-order marks, before its NULs make it look binary
        raise NotebookError(f"{name} is not UTF-8 text: it was saved as UTF-16 (what Windows calls Unicode). {resave}")
    kind = next((kind for magic, kind in _BINARY_KINDS.items() if data.startswith(magic)), None)
    if kind is None and b"\x00" in data:
        kind = "binary data"
    if kind is not None:
        raise NotebookError(f"{name} is not a notebook (not JSON): it is {kind}, which is not UTF-8 text. Submit the .ipynb file that Jupyter saves.")
    try:
        return data.decode("utf-8-sig")  # a UTF-8 byte-order mark, as Windows editors add, is harmless
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NotebookError(
            f"{name} is not UTF-8 text: line {line} has the byte 0x{data[exc.start]:02x}, so it was saved in another encoding (such as Latin-1). {resave}"
        ) from None


def _parse_json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        start = text.lstrip()
        if _cut_off(text, exc):
            reason = f"it stops in the middle at line {text.count(chr(10)) + 1}, as if the file was cut off. Save the notebook in Jupyter and submit the whole file."
        elif exc.pos == len(text) - len(start):
            reason = f"it is not JSON at all (it starts with {start[:30].splitlines()[0]!r}). Submit the .ipynb file that Jupyter saves."
        else:
            problem = exc.msg.removesuffix(" at")  # "Invalid control character at"
            reason = f"{problem[0].lower()}{problem[1:]} at line {exc.lineno}, column {exc.colno}. It was probably edited outside Jupyter; submit the file Jupyter saves."
        raise NotebookError(f"{name} is not valid notebook JSON: {reason}") from None


def _cut_off(text: str, error: json.JSONDecodeError) -> bool:
    """Whether the JSON broke only because the text ended: at its very end, in a string
    never closed (strict JSON strings hold no newlines, so it ran to the end), or in a
    last word cut short (``nu`` of ``null``)."""
    rest = text[error.pos :].rstrip()
    return not rest or error.msg.startswith("Unterminated string") or (error.msg == "Expecting value" and re.fullmatch(r"[\w.+-]+", rest) is not None)


def _to_notebook(name: str, content: Any) -> nbformat.NotebookNode:
    """A notebook from parsed JSON, checked against nbformat's schema before anything reads it."""
    if not isinstance(content, dict):
        raise NotebookError(f"{name} is not valid notebook JSON: it holds {_json_kind(content)}, where a notebook is an object with 'cells' and 'nbformat'.")
    version = content.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotebookError(f"{name} is not valid notebook JSON: it has no 'nbformat' version number, so it is some other JSON file.")
    if version < 4:
        raise NotebookError(f"{name} is in notebook format {version}; save it as format 4: open it in a current Jupyter, which converts it, and save it again.")
    if version > 4:
        raise NotebookError(f"{name} is in notebook format {version}, newer than the format 4 this grader reads; save it as format 4.")
    minor = content.get("nbformat_minor")
    error = _schema_error(content, minor if isinstance(minor, int) else None)
    if error is not None:
        raise NotebookError(f"{name} is not valid notebook JSON: {_schema_problem(error)}. It was probably edited outside Jupyter; submit the file Jupyter saves.")
    return nbformat.versions[4].to_notebook_json(content, minor=minor)


def _schema_error(content: dict, minor: int | None) -> jsonschema.ValidationError | None:
    """The most telling way the notebook breaks nbformat's schema, or None. nbformat's
    fast validator decides; the slow one, whose errors say where and why, runs only
    on a notebook that fails."""
    fast = nbformat.validator.get_validator(version=4, version_minor=minor)
    if next(iter(fast.iter_errors(content)), None) is None:
        return None
    from jsonschema.exceptions import best_match

    detailed = nbformat.validator.get_validator(version=4, version_minor=minor, name="jsonschema")
    return best_match(detailed.iter_errors(content))


def _kernel_language(notebook: nbformat.NotebookNode) -> str:
    """The language the notebook was written for, Python when it does not say."""
    metadata = notebook.metadata
    return str(metadata.get("kernelspec", {}).get("language") or metadata.get("language_info", {}).get("name") or "python")


_JSON_KINDS = {dict: "an object", list: "a list", str: "text", bool: "true or false", int: "a number", float: "a number", type(None): "null"}
_SCHEMA_TYPES = {"object": "an object", "array": "a list", "string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false", "null": "null"}


def _json_kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _schema_problem(error: jsonschema.ValidationError) -> str:
    """What a schema violation means for a student: where it is, what was expected, what was found."""
    error = _closest_shape(error)
    where = _where(list(error.absolute_path))
    types = _expected_types(error)
    if types:
        return f"{where} should be {' or '.join(_SCHEMA_TYPES.get(t, t) for t in types)} but is {_json_kind(error.instance)}"
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{where} lacks the field {missing[0]!r}"
    if error.validator == "additionalProperties":
        return f"{where} has fields a notebook does not have ({error.message.partition('(')[2].rstrip(')')})"
    if isinstance(error.instance, dict) and "cell_type" in error.instance:
        return f"{where} is of type {error.instance['cell_type']!r}, where a notebook's cells are 'code', 'markdown' or 'raw'"
    return f"{where} holds {json.dumps(error.instance)[:40]}, which does not belong there"


def _closest_shape(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a cell that matches no kind of cell, the complaint about the kind it says it is."""
    from jsonschema.exceptions import best_match

    while error.validator in ("oneOf", "anyOf") and error.context:
        by_shape: dict = {}
        for alternative in error.context:
            by_shape.setdefault(alternative.schema_path[0], []).append(alternative)
        claimed = [errors for errors in by_shape.values() if not any(list(e.relative_path) == ["cell_type"] for e in errors)]
        if len(claimed) != 1:
            return error
        error = best_match(claimed[0])
    return error


def _where(path: list) -> str:
    if path[:1] == ["cells"] and len(path) > 1:
        cell = f"cell {path[1] + 1}"
        return f"the {'.'.join(map(str, path[2:]))!r} of {cell}" if len(path) > 2 else cell
    return f"the field {'.'.join(map(str, path))!r}" if path else "the notebook"


def _expected_types(error: jsonschema.ValidationError) -> list[str]:
    """The JSON types a value should have had, when its type was all that was wrong
    (a cell's source is text or a list of lines: two alternatives, each a type)."""
    if error.validator == "type":
        return error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    alternatives = error.context or []
    if error.validator in ("oneOf", "anyOf") and alternatives and all(not e.relative_path for e in alternatives):
        types = [_expected_types(e) for e in alternatives]
        return [t for found in types for t in found] if all(types) else []
    return []


def _nbgrader(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell: Any) -> bool:
    """An nbgrader autograder test cell (a grade cell that is not a solution)."""
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def is_check_cell(cell: Any) -> bool:
    """A student's self-check cell (tag ``check``): it runs the public checks in the student's kernel."""
    return "check" in (cell.get("metadata", {}).get("tags") or [])


def code_cells(notebook: Any) -> list[CodeCell]:
    """The cells a submission runs: every code cell but the autograder test cells and the self-check cells."""
    return [
        CodeCell(index, cell.source)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and not is_test_cell(cell) and not is_check_cell(cell)
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
    return _transformer().transform_cell(cell_source)


@functools.cache
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


@functools.lru_cache(maxsize=4096)
def parse_cell(source: str) -> ast.Module | None:
    """The cell as Python, IPython's syntax turned into calls; None if it is neither.

    Cached: a class's notebooks share most of their cells, and the slicing, the
    zygote's choice of modules and the rules all read each cell. Never change a tree it returns."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:  # IPython's transformer only changes what is not Python already
        return ast.parse(python_source(source))
    except Exception:  # whatever IPython's transformer or the parser raises
        return None


@functools.lru_cache(maxsize=16384)
def nodes_of(tree: ast.AST) -> tuple[ast.AST, ...]:
    """Every node of ``tree``, as ``ast.walk`` yields them; cached, as the trees ``parse_cell`` returns
    are read again for every rule and every submission that shares the cell."""
    return tuple(ast.walk(tree))


def top_level_definitions(cells: list[CodeCell]) -> dict[str, ast.AST]:
    """What each top-level name is bound to last across the cells: its ``def`` or
    ``class``, or the import or assignment that rebound it, so that rules also see
    ``from torch.linalg import lstsq as ls`` or ``solve = torch.linalg.solve``."""
    found: dict[str, ast.AST] = {}
    for cell in cells:
        tree = parse_cell(cell.source)
        if tree is None:
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


def reachable(name: str, definitions: Mapping[str, ast.AST]) -> list[ast.AST]:
    """The definition of ``name`` and of every top-level function it calls, transitively."""
    seen, order, queue = set(), [], [name]
    while queue:
        current = queue.pop()
        if current in seen or current not in definitions:
            continue
        seen.add(current)
        order.append(definitions[current])
        queue.extend(n.id for n in nodes_of(definitions[current]) if isinstance(n, ast.Name) and n.id in definitions)
    return order


def dotted(node: ast.AST) -> str:
    """``torch.linalg.lstsq`` for that attribute chain; empty for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""
