"""Reading notebooks: what is refused (with a plain reason), which cells run, which defs count."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from d2lgrade.notebook import CodeCell, NotebookError, code_cells, load_notebook, python_source, top_level_definitions


def _notebook_text(**metadata) -> str:
    notebook = new_notebook(cells=[new_markdown_cell("# Title"), new_code_cell("x = 'é'")])
    notebook.metadata.update(metadata)
    return nbformat.writes(notebook)


def _write(path: Path, content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_a_valid_notebook_loads(tmp_path):
    path = _write(tmp_path / "ok.ipynb", _notebook_text(kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"}))
    notebook = load_notebook(path)
    assert notebook.nbformat == 4
    assert notebook.cells[1].source == "x = 'é'"


NOTEBOOK_V3 = json.dumps(
    {"metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": [], "metadata": {}}]}
)
R_KERNEL = _notebook_text(kernelspec={"name": "ir", "display_name": "R", "language": "R"})

REFUSED = [
    ("not JSON", "this is not json", "is not valid notebook JSON"),
    ("truncated JSON", _notebook_text()[:120], "is not valid notebook JSON"),
    ("empty file", b"", "is empty"),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not UTF-8 text"),
    ("notebook format 3", NOTEBOOK_V3, "is in notebook format 3; save it as format 4"),
    ("non-UTF-8 text", _notebook_text().encode("latin-1"), "is not UTF-8 text"),
    ("R kernel", R_KERNEL, "uses the R kernel; this assignment needs Python"),
    ("JSON that is not a notebook", "[1, 2, 3]", "is not valid notebook JSON"),
    ("format 4 that fails the schema", json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}), "not valid notebook"),
]


@pytest.mark.parametrize(("content", "reason"), [(c, r) for _, c, r in REFUSED], ids=[name for name, _, _ in REFUSED])
def test_load_notebook_refuses_with_a_plain_reason(tmp_path, content, reason):
    path = _write(tmp_path / "sub.ipynb", content)
    with pytest.raises(NotebookError) as caught:
        load_notebook(path)
    message = str(caught.value)
    assert message.startswith("sub.ipynb ")
    assert reason in message
    assert "Traceback" not in message and "\n" not in message


def test_load_notebook_refuses_a_directory(tmp_path):
    (tmp_path / "folder.ipynb").mkdir()
    with pytest.raises(NotebookError, match="^folder.ipynb is not a file$"):
        load_notebook(tmp_path / "folder.ipynb")


def test_load_notebook_refuses_a_missing_file(tmp_path):
    with pytest.raises(NotebookError, match="is not a file"):
        load_notebook(tmp_path / "missing.ipynb")


def test_load_notebook_refuses_a_symlink_even_to_a_good_notebook(tmp_path):
    target = _write(tmp_path / "real.ipynb", _notebook_text())
    link = tmp_path / "link.ipynb"
    os.symlink(target, link)
    load_notebook(target)
    with pytest.raises(NotebookError, match="^link.ipynb is a symbolic link, not a notebook file$"):
        load_notebook(link)


def test_load_notebook_refuses_a_file_over_the_limit(tmp_path, monkeypatch):
    from d2lgrade import notebook

    monkeypatch.setattr(notebook, "MAX_NOTEBOOK_BYTES", 100)
    path = _write(tmp_path / "big.ipynb", _notebook_text())
    with pytest.raises(NotebookError, match="over the limit"):
        load_notebook(path)


# ------------------------------------------------------------------ cells


def _graded(source: str, *, grade: bool, solution: bool, grade_id: str):
    meta = {"nbgrader": {"grade": grade, "solution": solution, "grade_id": grade_id, "locked": not solution, "schema_version": 3}}
    if grade:
        meta["nbgrader"]["points"] = 1
    return new_code_cell(source, metadata=meta)


def test_code_cells_skip_markdown_and_nbgrader_test_cells():
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# Title"),
            new_code_cell("import torch"),
            _graded("def f():\n    return 1", grade=False, solution=True, grade_id="f"),
            _graded("assert f() == 1", grade=True, solution=False, grade_id="test_f"),
            _graded("def g():\n    return 2", grade=True, solution=True, grade_id="g"),
            new_code_cell("print(f())"),
        ]
    )
    assert code_cells(notebook) == [
        CodeCell(1, "import torch"),
        CodeCell(2, "def f():\n    return 1"),
        CodeCell(4, "def g():\n    return 2"),
        CodeCell(5, "print(f())"),
    ]


def _names(cells: list[str]) -> dict[str, ast.AST]:
    return top_level_definitions([CodeCell(i, source) for i, source in enumerate(cells)])


def test_top_level_definitions_keep_the_last_definition():
    found = _names(["def f():\n    return 1", "def f():\n    return 2\nclass Timer:\n    pass"])
    assert set(found) == {"f", "Timer"}
    assert isinstance(found["Timer"], ast.ClassDef)
    assert ast.literal_eval(found["f"].body[0].value) == 2


def test_top_level_definitions_follow_a_name_rebound_later():
    found = _names(["def sgd(p):\n    pass\ndef train():\n    pass", "sgd = None", "for train in range(2):\n    pass"])
    assert set(found) == {"sgd"} and isinstance(found["sgd"], ast.Assign)


def test_top_level_definitions_see_imports_and_aliases():
    found = _names(["import torch\nfrom torch.linalg import lstsq as ls", "solve = torch.linalg.solve"])
    assert set(found) == {"torch", "ls", "solve"}
    assert isinstance(found["ls"], ast.ImportFrom) and isinstance(found["solve"], ast.Assign)


def test_a_definition_after_the_rebinding_counts_again():
    found = _names(["def f():\n    return 1", "f = None", "def f():\n    return 3"])
    assert ast.literal_eval(found["f"].body[0].value) == 3


def test_top_level_definitions_skip_cells_with_syntax_errors_and_read_magics():
    found = _names(["def f(:\n    pass", "%matplotlib inline\ndef g():\n    pass", "!pip install nothing\ndef h():\n    pass"])
    assert set(found) == {"g", "h"}


def test_nested_definitions_are_not_top_level():
    found = _names(["def outer():\n    def inner():\n        pass\n    return inner"])
    assert set(found) == {"outer"}


def test_python_source_turns_matplotlib_magic_into_a_call():
    source = python_source("%matplotlib inline\nimport torch\n")
    assert source.splitlines()[0] == "get_ipython().run_line_magic('matplotlib', 'inline')"
    assert "%" not in source
    ast.parse(source)


def test_python_source_leaves_plain_python_alone():
    assert python_source("x = 1 % 2\n") == "x = 1 % 2\n"


def test_reading_notebooks_does_not_build_the_iri_grammar():
    """The grading command imports nbformat, and so jsonschema, without rfc3987_syntax's second-long grammar."""
    probe = "import sys, d2lgrade.cli, nbformat, jsonschema; print(sorted(m for m in ('rfc3987_syntax', 'lark') if sys.modules.get(m)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
