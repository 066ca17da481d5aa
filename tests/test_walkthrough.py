"""A new student's first session, for real: each stub of the release in a Jupyter kernel.

The kernel (nbclient, with this venv's ipykernel) works in the stub's own
folder and imports the release's copy of d2lgrade (``PYTHONPATH`` points at
the release, as ``pip install -e .`` in the release does for a student), so
the checks can only use what the release holds. The notebook runs top to
bottom: every check cell reports "not implemented yet". Then each function's
cell gets the reference answer and the notebook runs again, cell by cell:
every check cell turns green and ``check_all()`` reports full public points.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from d2lgrade import notebook as nb
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.release import build_release

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
GREEN = "\x1b[32m"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "release"
    build_release(COURSE, COURSE.assignment_names(), out)
    return out


def _text(cell) -> str:
    """What a cell showed: its printed output and results, or its error."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def _run_all(client: NotebookClient, notebook) -> None:
    for index, cell in enumerate(notebook.cells):
        client.execute_cell(cell, index)


def _checks(notebook) -> dict[str, str]:
    """Each check cell's output without colours, by the function it checks (``*`` for check_all)."""
    found = {}
    for cell in notebook.cells:
        if match := re.fullmatch(r'check\("(\w+)"\)', cell.source):
            found[match[1]] = ANSI.sub("", _text(cell))
        elif cell.source == "check_all()":
            found["*"] = ANSI.sub("", _text(cell))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_a_student_fills_in_the_stub_and_the_checks_turn_green(release, assignment):
    spec = COURSE.assignment(assignment)
    graded = [q.name for q in spec.autograded]
    possible = sum(q.points for q in spec.autograded)
    stub = release / "assignments" / assignment / f"{assignment}.ipynb"
    notebook = nbformat.read(stub, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import d2lgrade; print(d2lgrade.__file__)"))
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in filled_stub(COURSE, assignment).cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}

    env = {k: v for k, v in os.environ.items() if k != "D2LGRADE_COURSE"} | {"PYTHONPATH": str(release)}
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(stub.parent)}})
    with client.setup_kernel(env=env):
        _run_all(client, notebook)
        assert Path(_text(notebook.cells[-1]).strip()).is_relative_to(release), "the kernel did not import the release's d2lgrade"
        before = _checks(notebook)
        assert set(before) == {*graded, "*"}
        for name in graded:
            assert before[name].startswith(f"{name}: 0 of "), before[name]
            assert f"`{name}` is not implemented yet (it raises NotImplementedError)." in before[name]
            assert "Traceback" not in before[name] and "Error:" not in before[name].split("\n")[0]
        assert f"total: 0/{possible:g} points from the public checks" in before["*"]

        # The student answers each function in turn, running the notebook again from the top.
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
            client.execute_cell(cell, index)
        after = _checks(notebook)
        for name in graded:
            header, *lines = after[name].strip().splitlines()
            points = spec.question(name).points
            assert re.fullmatch(rf"{name}: (\d+) of \1 public checks passed \({points:g}/{points:g} points\)", header), after[name]
            assert lines and all(line.startswith("  ✓ ") for line in lines), after[name]
        assert f"total: {possible:g}/{possible:g} points from the public checks" in after["*"] and "✗" not in after["*"]
        check_cells = [c for c in notebook.cells if nb.is_check_cell(c) and c.source.startswith("check(")]
        assert all(GREEN in _text(c) for c in check_cells), "the kernel's check lines are not green"

        # One check, timed as the student waits for it (through the kernel), after the first.
        timed = next((c for c in check_cells if c.source == 'check("squared_loss")'), check_cells[0])
        started = time.perf_counter()
        client.execute_cell(timed, notebook.cells.index(timed))
        seconds = time.perf_counter() - started
        print(f"{assignment}: {timed.source} took {seconds:.3f} s in the kernel")
        assert seconds < 1.0, f"{timed.source} took {seconds:.2f} s"
