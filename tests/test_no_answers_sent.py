"""Nothing of solutions/ or graders/hidden/ is ever written to a student's process.

Every message grading writes to the student's process is recorded while the
reference (which reaches every check) and the untouched stub are graded,
every assignment, hidden checks included. The cells of the notebook being
graded are the student's own; what else grading sends (its calls, the code
it has the student's side run, the answers of the lent functions) is
searched for every distinctive line of the solution notebooks
(their answers, code and model answers) and of the hidden graders. Lines the
student already has are not secrets: those of the stub and of the public
graders (whose code is what grading may send).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import nbformat
import pytest

from d2lgrade import transport
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.grade import Submission, grade

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
#: Shorter lines (``return X``, ``import torch``) say nothing about an answer.
MIN_LINE = 16


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_LINE}


def _public_text() -> str:
    stubs = [COURSE.stub(name).read_text(encoding="utf-8") for name in COURSE.assignment_names()]
    stub_sources = ["\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells) for text in stubs]
    public = [path.read_text(encoding="utf-8") for path in sorted((COURSE.graders / "public").glob("*.py"))]
    return "\n".join(stub_sources + public)


def secrets() -> dict[str, str]:
    """Each distinctive line of solutions/ and graders/hidden/ the student does not have, with where it is from."""
    public = _lines(_public_text())
    found: dict[str, str] = {}
    for name in COURSE.assignment_names():
        notebook = nbformat.read(COURSE.root / "solutions" / name / f"{name}.ipynb", as_version=4)
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") or cell.metadata.get("nbgrader", {}).get("grade"):
                found.update({line: f"solutions/{name}" for line in _lines(cell.source) - public})
    for path in sorted((COURSE.graders / "hidden").glob("*.py")):
        found.update({line: f"graders/hidden/{path.name}" for line in _lines(path.read_text(encoding="utf-8")) - public})
    return found


def strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(messages: Iterable, secret_lines: dict[str, str]) -> list[str]:
    """Every secret line found in the messages, with where it is from."""
    text = [s for message in messages for s in strings(message) if len(s) >= MIN_LINE]
    return sorted({f"{origin}: {line}" for line, origin in secret_lines.items() if any(line in s for s in text)})


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grading_zygote) -> tuple[list, set[str]]:
    """Every message grading wrote to a student's process while grading the reference and the stub,
    and the sources of the notebooks' cells."""
    folder = tmp_path_factory.mktemp("sent")
    submissions, cells = [], set()
    for name in COURSE.assignment_names():
        for student, fill in (("reference", True), ("stub", False)):
            path = folder / f"{student}-{name}.ipynb"
            notebook = filled_stub(COURSE, name, fill=fill)
            nbformat.write(notebook, path)
            submissions.append(Submission(student, name, path))
            cells |= {cell.source for cell in notebook.cells if cell.cell_type == "code"}
    messages = []
    write = transport.write_message
    patch = pytest.MonkeyPatch()
    patch.setattr(transport, "write_message", lambda fd, message: (messages.append(json.loads(json.dumps(message))), write(fd, message))[1])
    try:
        results = grade(submissions, course=COURSE, call_timeout=20, zygote=grading_zygote)
    finally:
        patch.undo()
    for result in results:
        assert result.error is None, result.error
        if result.student == "reference":
            assert result.score == result.possible, [t for q in result.questions for t in q.tests if t.outcome != "passed"]
    return messages, cells


def test_the_only_cells_run_are_the_notebooks_own(graded):
    sent, cells = graded
    run = {m["source"] for m in sent if m.get("op") == "run_cell"}
    seeding = {source for source in run if source.startswith("import d2lgrade.child as _c; _c.seed_everything(")}
    assert run - seeding <= cells


def test_nothing_of_the_solutions_or_hidden_graders_reaches_the_students_process(graded):
    sent = [m for m in graded[0] if m.get("op") != "run_cell"]  # the notebook's own cells, tested above
    calls = [m for m in sent if m.get("op") in ("call", "run")]
    assert len(calls) > 100, "the recording missed the calls"
    assert any("HuberLoss" in s for s in strings(calls)), "the recording missed the grader-written code"
    assert any(m.get("status") == "ok" for m in sent), "the recording missed the lent functions' answers"
    found = leaks(sent, secrets())
    assert not found, "grading sent lines that only the course has:\n" + "\n".join(found[:20])


def test_the_search_finds_a_reference_source_or_a_hidden_line():
    """The search itself can fail: the old protocol's book sources, or a hidden grader's code, are found."""
    scratch = COURSE.assignment("linreg_scratch")
    book_sources = {"op": "call", "name": "train", "book": dict(scratch.book_sources)}
    assert any(origin == "solutions/linreg_scratch" for origin in (f.split(":")[0] for f in leaks([book_sources], secrets())))
    hidden = (COURSE.graders / "hidden" / "linreg_concise.py").read_text(encoding="utf-8")
    secret = next(line for line, origin in secrets().items() if origin.endswith("linreg_concise.py"))
    assert secret in hidden
    assert leaks([{"args": [{"$type": "code", "source": f"x = 1\n{secret}\n"}]}], secrets())
