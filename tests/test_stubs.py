"""The committed stubs are exactly what nbgrader generates from the source notebooks today."""

import io
import re
from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel
from jupyter_client.kernelspec import KernelSpecManager

from d2lgrade.course import Course
from d2lgrade.nbgrader import generate_stubs

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    generate_stubs(COURSE, COURSE.assignment_names(), out)
    return out


@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_committed_stub_is_what_nbgrader_generates(regenerated, assignment):
    committed = COURSE.stub(assignment).read_bytes()
    fresh = (regenerated / assignment / f"{assignment}.ipynb").read_bytes()
    assert committed == fresh, (
        f"assignments/{assignment} differs from what nbgrader generates from solutions/{assignment}; "
        "run `.venv/bin/d2lgrade stubs` and commit the result"
    )


@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_stub_holds_no_solution(assignment):
    stub = COURSE.stub(assignment).read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "grade_question("):
        assert marker not in stub
    spec = COURSE.assignment(assignment)
    # The book's own functions (tagged "book") also appear in the narrative; the exercises' must not.
    exercises = {name: source for name, source in spec.solution_sources.items() if name not in spec.book_sources}
    for name, source in exercises.items():
        body = [line.strip() for line in source.splitlines() if line.strip() and not line.lstrip().startswith(("def ", "class ", '"""', "#"))]
        leaked = [line for line in body if len(line) > 25 and line in stub]
        assert not leaked, f"reference lines of {name} appear in the stub: {leaked[:3]}"


def test_every_assignment_has_public_and_hidden_graders():
    for name in COURSE.assignment_names():
        kinds = {path.parent.name for path in COURSE.assignment(name).grader_files()}
        assert kinds == {"public", "hidden"}, f"{name} has graders {sorted(kinds)}"


@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_stub_opens_unmodified_in_jupyter(assignment):
    """JupyterLab marks a notebook modified when opening it changed its model: an older nbformat or cells
    without ids are upgraded, and on connecting, the kernel's kernelspec and language_info are written into
    the metadata (a change only when they differ). Saving writes what jupyter_server's nbformat.write does."""
    raw = COURSE.stub(assignment).read_text(encoding="utf-8")
    notebook = nbformat.reads(raw, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) == (nbformat.current_nbformat, nbformat.current_nbformat_minor)
    assert all(cell.get("id") for cell in notebook.cells), "every cell has an id"
    saved = io.StringIO()
    nbformat.write(notebook, saved, version=nbformat.NO_CONVERT)
    assert saved.getvalue() == raw, "the stub is not byte for byte what Jupyter saves"
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert notebook.metadata.kernelspec == {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    reported = IPythonKernel.language_info
    language = dict(notebook.metadata.language_info)
    assert set(language) == set(reported), f"language_info should have exactly the kernel's keys {sorted(reported)}"
    assert {k: v for k, v in language.items() if k != "version"} == {k: v for k, v in reported.items() if k != "version"}
    assert re.fullmatch(r"3\.\d+\.\d+", language["version"]), language["version"]
