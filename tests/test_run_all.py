"""Run All on an untouched stub reaches every check cell and ``check_all()``.

Each stub runs top to bottom with nbclient, which stops at the first error
in a cell not tagged ``raises-exception``, as JupyterLab's *Run All* does.
The three stubs share one kernel, its namespace and history reset between
them (``%reset -f``), so that torch is imported once: a name one notebook
defines never reaches the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from d2lgrade.course import Course
from d2lgrade.notebook import is_check_cell

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
TAG = "raises-exception"


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelManager]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(ROOT))
    yield manager
    manager.shutdown_kernel(now=True)


def _text(cell) -> str:
    """What a cell showed: its streams, results and displays as plain text, and its errors' names."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _html(cell) -> str:
    return "".join(output.get("data", {}).get("text/html", "") for output in cell.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_run_all_on_the_stub_reaches_every_check(kernel, assignment):
    stub = nbformat.read(COURSE.stub(assignment), as_version=4)
    stub.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))  # a fresh namespace, as after a restart
    client = NotebookClient(stub, km=kernel, timeout=300, resources={"metadata": {"path": str(COURSE.stub(assignment).parent)}})
    client.execute()  # raises CellExecutionError at an error in an untagged cell

    code = [cell for cell in stub.cells[1:] if cell.cell_type == "code"]
    checks = [cell for cell in code if is_check_cell(cell) and cell.source.lstrip().startswith("check(")]
    assert checks, f"{assignment} has no check cells"
    for cell in checks:
        assert "is not implemented yet" in _text(cell), f"{cell.id} did not report the unfinished function:\n{_text(cell)}"
    (summary,) = [cell for cell in code if cell.source.strip() == "check_all()"]
    assert "total: 0/" in _text(summary), _text(summary)
    for cell in [*checks, summary]:
        assert '<div class="d2lgrade-check">' in _html(cell), f"{cell.id} showed no HTML report"
    for cell in code:
        raised = any(output.output_type == "error" for output in cell.outputs)
        assert raised == (TAG in cell.metadata.get("tags", [])), (
            f"cell {cell.id} of the {assignment} stub {'raised' if raised else 'ran'}: only the cells that raise in the "
            f"stub carry the {TAG} tag")
