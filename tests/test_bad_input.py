"""The bad-input catalogue: malformed submissions get a clear error and no points,
and leave every other student's grading untouched.

Every case is one file, ``tests/badinput/<case>.json``: how to make the
submission and what its student must see::

    {
      "why": "an upload cut off half way",
      "make": "from_stub",               how to build it (see MAKERS)
      "truncate_to": 0.5,                the maker's own fields
      "error": "cut off",                a regex the student must see (null: none)
      "error_in": "result",              where: the result's error, a cell's error, or a test's message
      "score": 0,                        the score it must get: 0, or "full"
      "table": true                      whether the printed table must show the error too
      "limits": {"timeout": 1,           (optional) grade it with these limits: seconds per call,
                 "submission_timeout": 4} and for the whole notebook (``d2lgrade.budget``)
    }

All cases go into one class folder as ``<case>.ipynb``, next to two honest
students (the reference, and a catalogue wrong answer), and the whole class
is graded in one ``grade()`` call, then once more through the command line.
The cases with ``limits`` (the slow ones) are graded apart, in a ``grade()``
call with those limits, so that they take seconds rather than minutes.
Adding a case is adding a file.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from d2lgrade.budget import Budget
from d2lgrade.catalogue import find
from d2lgrade.course import Course
from d2lgrade.export import read_json
from d2lgrade.fill import filled_stub
from d2lgrade.grade import find_submissions, grade
from d2lgrade.notebook import NotebookError, load_notebook
from d2lgrade.results import SubmissionResult
from d2lgrade.table import print_table

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = Path(__file__).resolve().parent / "badinput"
CASE_PATHS = sorted(CASES_DIR.glob("*.json"))
#: The assignment every submission is for: the quickest to grade.
ASSIGNMENT = "linear_regression"
#: The honest student who loses points on one question, and that question.
WRONG_ANSWER = find(Path(__file__).resolve().parent / "catalogue", ASSIGNMENT, "wrong", "best_constant_median")
HONEST = {"honest_reference": {}, "honest_wrong_answer": {WRONG_ANSWER.question: WRONG_ANSWER.source}}
WHERE = ("result", "cells", "tests")


def _read(path: Path) -> dict:
    return {"name": path.stem, **json.loads(path.read_text(encoding="utf-8"))}


# --------------------------------------------------------------------------- making submissions
def _delete_cells(notebook, which: str):
    def graded(cell) -> bool:
        meta = cell.metadata.get("nbgrader", {})
        return bool(meta) if which == "graded" else cell.cell_type == "code" and meta.get("solution", False)

    notebook.cells = [cell for cell in notebook.cells if not graded(cell)]
    return notebook


def _rename_grade_ids(notebook, prefix: str):
    for cell in notebook.cells:
        if "grade_id" in cell.metadata.get("nbgrader", {}):
            cell.metadata.nbgrader.grade_id = prefix + cell.metadata.nbgrader.grade_id
    return notebook


def _reverse_cells(notebook, _):
    notebook.cells.reverse()
    return notebook


def _set_kernel_language(notebook, language: str):
    notebook.metadata.kernelspec = {"name": language.lower(), "display_name": language, "language": language}
    notebook.metadata.language_info = {"name": language}
    return notebook


def _cells_to_object(notebook, _):
    notebook.cells = {str(index): cell for index, cell in enumerate(notebook.cells)}
    return notebook


def _set_first_solution_source(notebook, source):
    next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code").source = source
    return notebook


CHANGES = {
    "delete_cells": _delete_cells,
    "rename_grade_ids": _rename_grade_ids,
    "reverse_cells": _reverse_cells,
    "set_kernel_language": _set_kernel_language,
    "downgrade_to_nbformat": lambda notebook, version: nbformat.convert(notebook, version),
    "cells_to_object": _cells_to_object,
    "set_first_solution_source": _set_first_solution_source,
}


def _notebook_bytes(course: Course, case: dict) -> bytes:
    """The filled-in stub, changed, encoded (what an encoding lacks becomes "?") and cut as the case says."""
    notebook = filled_stub(course, ASSIGNMENT, case.get("answers", {}), fill=case.get("fill", True))
    for change, value in case.get("change", {}).items():
        notebook = CHANGES[change](notebook, value)
    data = (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode(case.get("encoding", "utf-8"), errors="replace")
    return data[: int(len(data) * case.get("truncate_to", 1))]


def _make_big(course: Course, case: dict, path: Path) -> None:
    """A valid notebook of the case's size: the stub with one enormous text output, written in pieces."""
    notebook = filled_stub(course, ASSIGNMENT)
    marker = "@@OUTPUT@@"
    notebook.cells[-1] = nbformat.v4.new_code_cell("print('x' * 10**9)", outputs=[nbformat.v4.new_output("stream", text=marker)])
    head, tail = json.dumps(notebook).split(marker)
    chunk = b"x" * 2**20
    with path.open("wb") as file:
        file.write(head.encode())
        for _ in range(case["megabytes"]):
            file.write(chunk)
        file.write(tail.encode())


def _make(course: Course, case: dict, path: Path, outside: Path) -> None:
    make = case["make"]
    if make == "text":
        path.write_text(case["content"] * case.get("repeat", 1), encoding="utf-8")
    elif make == "bytes":
        path.write_bytes(bytes.fromhex(case["hex"]))
    elif make == "from_stub":
        path.write_bytes(_notebook_bytes(course, case))
    elif make == "big":
        _make_big(course, case, path)
    elif make == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(f"{ASSIGNMENT}.ipynb", _notebook_bytes(course, {}))
    elif make == "directory":
        path.mkdir()
        (path / path.name).write_bytes(_notebook_bytes(course, {}))
    elif make == "symlink":
        target = outside if case["target"] == "outside" else path.parent / case["target"]
        path.symlink_to(target)
    elif make == "fifo":
        os.mkfifo(path)
    else:
        raise ValueError(f"{case['name']}: unknown make {make!r}")


MAKERS = ("text", "bytes", "from_stub", "big", "zip", "directory", "symlink", "fifo")
CASES = [_read(path) for path in CASE_PATHS]
LIMITS = ("timeout", "submission_timeout")


def _limits(case: dict) -> tuple[float, float] | None:
    """(seconds per call, seconds in all) for a case graded with its own limits; None for the others."""
    return (case["limits"]["timeout"], case["limits"]["submission_timeout"]) if "limits" in case else None


def _grade(course: Course, folder: Path, limits: tuple[float, float] | None, **options) -> dict[str, SubmissionResult]:
    """The notebooks of ``folder`` graded with those limits (with grading's defaults when None), by student."""
    submissions = find_submissions([folder], course=course)
    if limits is not None:
        options |= {"call_timeout": limits[0], "budgets": {ASSIGNMENT: Budget(limits[1])}}
    return {r.student: r for r in grade(submissions, course=course, seed=0, **options)}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def course() -> Course:
    return Course(ROOT)


@pytest.fixture(scope="module")
def folders(course: Course, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[float, float] | None, Path]:
    """Every case as ``<case>.ipynb``, in one flat folder per set of limits; the honest students with the
    cases graded with grading's defaults (key None)."""
    found = {limits: tmp_path_factory.mktemp("class") for limits in dict.fromkeys([None, *map(_limits, CASES)])}
    outside = tmp_path_factory.mktemp("outside") / "full_marks.ipynb"
    outside.write_bytes(_notebook_bytes(course, {}))
    for student, answers in HONEST.items():
        nbformat.write(filled_stub(course, ASSIGNMENT, answers), found[None] / f"{student}.ipynb")
    for case in CASES:
        _make(course, case, found[_limits(case)] / f"{case['name']}.ipynb", outside)
    return found


@pytest.fixture(scope="module")
def class_folder(folders: dict) -> Path:
    """The honest students and the cases graded with grading's defaults."""
    return folders[None]


@pytest.fixture(scope="module")
def graded(folders: dict, course: Course, grading_zygote) -> dict[str, SubmissionResult]:
    """The class graded in one call per set of limits, found as the command line finds it, by student."""
    return {student: result for limits, folder in folders.items()
            for student, result in _grade(course, folder, limits, zygote=grading_zygote).items()}


@pytest.fixture(scope="module")
def table(graded: dict[str, SubmissionResult]) -> str:
    """The table as ``d2lgrade autograde`` prints it, wide enough that notes do not wrap."""
    console = Console(file=io.StringIO(), width=400, color_system=None)
    print_table(list(graded.values()), console=console)
    return console.file.getvalue()


# --------------------------------------------------------------------------- what students see
def _seen(result: SubmissionResult, where: str) -> list[str]:
    """What the student is told, at one of the places a problem can show."""
    if where == "result":
        return [result.error] if result.error else []
    if where == "cells":
        return [f"{c.ename}: {c.evalue}" for c in result.cells if not c.ok]
    return [t.message for q in result.questions for t in q.tests if t.outcome != "passed" and t.message]


def _table_notes(table: str, student: str) -> str:
    """The table's notes about one student, joined into one line."""
    return " ".join(" ".join(line.split()) for line in table.splitlines() if line.strip().startswith(f"{student}: "))


def _table_rows(table: str, student: str) -> list[str]:
    return [line for line in table.splitlines() if re.match(rf"\W*{re.escape(student)}\s", line) and ": " not in line]


def _expected_score(case: dict, result: SubmissionResult) -> float:
    return result.possible if case["score"] == "full" else case["score"]


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_file_is_well_formed(case: dict) -> None:
    """Each case says how to make it and what its student must see."""
    assert case.get("why"), f"{case['name']}: say why the case exists"
    assert case.get("make") in MAKERS, f"{case['name']}: make must be one of {MAKERS}"
    assert set(case.get("change", {})) <= set(CHANGES), f"{case['name']}: unknown change, known: {sorted(CHANGES)}"
    assert case.get("error_in") in WHERE, f"{case['name']}: error_in must be one of {WHERE}"
    assert case.get("score") in (0, "full"), f"{case['name']}: score must be 0 or \"full\""
    assert isinstance(case.get("table"), bool)
    if "limits" in case:
        limits = case["limits"]
        assert set(limits) == set(LIMITS) and all(limits[k] > 0 for k in LIMITS), f"{case['name']}: limits are {LIMITS}"
    if case["error"] is None:
        assert not case["table"], f"{case['name']}: a case with no error has nothing to show in the table"
    else:
        re.compile(case["error"])
    assert case["name"] not in HONEST


def test_the_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case: dict, graded: dict[str, SubmissionResult], table: str) -> None:
    """The student gets a clear error, in the results and the table, and the score the case expects."""
    result = graded.get(case["name"])
    assert result is not None, f"{case['name']}: the submission was dropped; graded: {sorted(graded)}"
    assert not result.grader_errors, f"{case['name']}: the graders broke: {[t.staff_detail for t in result.grader_errors]}"
    seen = _seen(result, case["error_in"])
    if case["error"] is None:
        assert result.error is None, f"{case['name']}: should be graded, but: {result.error}"
    else:
        assert any(re.search(case["error"], text) for text in seen), (
            f"{case['name']}: expected /{case['error']}/ in the {case['error_in']} messages; got {seen or result.error}"
        )
    if result.error:
        assert "\n" not in result.error and "Traceback" not in result.error and len(result.error) <= 260, result.error
        assert all(not q.tests for q in result.questions), f"{case['name']}: tests ran on a notebook that could not be read"
    assert result.score == _expected_score(case, result), f"{case['name']}: score {result.score}/{result.possible}"
    assert _table_rows(table, case["name"]), f"{case['name']} has no row in the table:\n{table}"
    if case["table"]:
        notes = _table_notes(table, case["name"])
        assert re.search(case["error"].lstrip("^").rstrip("$"), notes), f"{case['name']}: the table's notes do not show the error: {notes!r}"


def test_honest_students_are_untouched(graded: dict[str, SubmissionResult], course: Course) -> None:
    """Next to the bad submissions, the reference earns full marks and the wrong answer
    loses points on its own question only."""
    reference, wrong = graded["honest_reference"], graded["honest_wrong_answer"]
    expected = {q.name for q in course.assignment(ASSIGNMENT).autograded}
    for result in (reference, wrong):
        assert result.assignment == ASSIGNMENT and result.error is None and not result.grader_errors
        assert all(cell.ok for cell in result.cells), [c for c in result.cells if not c.ok]
        assert {q.name for q in result.questions if q.autograded and q.tests} == expected
    assert reference.score == reference.possible
    lost = {q.name for q in wrong.questions if q.autograded and q.score < q.points}
    assert lost == {WRONG_ANSWER.question}, f"the wrong answer ({WRONG_ANSWER.why}) lost points on {sorted(lost)}"


@pytest.mark.slow  # grades the class a second time, in a new process
def test_the_command_line_grades_every_student(class_folder: Path, graded: dict[str, SubmissionResult], tmp_path: Path) -> None:
    """``d2lgrade autograde`` on the folder exits cleanly and reports every student as grade() did."""
    command = Path(sys.executable).with_name("d2lgrade")
    run = subprocess.run(
        [str(command), "--course", str(ROOT), "autograde", str(class_folder), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = {r.student: r for r in read_json(tmp_path / "results.json")}
    slow = {case["name"] for case in CASES if _limits(case) is not None}  # not in the folder: graded apart
    graded = {student: result for student, result in graded.items() if student not in slow}
    assert set(found) == set(graded)
    for student, result in graded.items():
        assert (found[student].error, found[student].score) == (result.error, result.score), student
        if result.error:
            assert result.error in _table_notes(run.stdout, student), f"{student}: the printed table does not show {result.error!r}"


def test_nbgrader_layout_refuses_linked_student_folders(course: Course, tmp_path: Path) -> None:
    """In ``submitted/<student>/<assignment>/``, a student folder that is a symbolic link,
    out of ``submitted/`` or to a classmate, grades to an error and is not read, as a
    linked notebook is; a folder named like a notebook is kept, to grade to an error."""
    outside = tmp_path / "elsewhere"
    (outside / ASSIGNMENT).mkdir(parents=True)
    (outside / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(_notebook_bytes(course, {}))
    submitted = tmp_path / "course" / "submitted"
    (submitted / "ada" / ASSIGNMENT).mkdir(parents=True)
    (submitted / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(_notebook_bytes(course, {}))
    (submitted / "ada" / ASSIGNMENT / "folder.ipynb").mkdir()
    (submitted / "eve").symlink_to(outside)
    (submitted / "ben").symlink_to(submitted / "ada")

    submissions = find_submissions([tmp_path / "course"], course=course)
    found = {(s.student, s.path.relative_to(submitted).as_posix()): s for s in submissions}
    assert len(found) == len(submissions) and set(found) == {
        ("ada", f"ada/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"), ("ada", f"ada/{ASSIGNMENT}/folder.ipynb"),
        ("ben", "ben"), ("eve", "eve"),
    }
    assert all(s.assignment == ASSIGNMENT for s in found.values())
    load_notebook(found["ada", f"ada/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"].path)
    for student in ("ben", "eve"):
        with pytest.raises(NotebookError, match=f"^{student} is a symbolic link, not a notebook file$"):
            load_notebook(found[student, student].path)
    with pytest.raises(NotebookError, match="^folder.ipynb is not a file$"):
        load_notebook(found["ada", f"ada/{ASSIGNMENT}/folder.ipynb"].path)


def _scores(result: SubmissionResult) -> tuple:
    return result.error, {q.name: q.score for q in result.questions}


def test_every_case_scores_the_same_with_all_cells(folders: dict, course: Course, graded: dict[str, SubmissionResult], grading_zygote) -> None:
    """Grading runs only the cells the checks need; running every cell, as nbgrader does, changes no score."""
    everything = {student: result for limits, folder in folders.items()
                  for student, result in _grade(course, folder, limits, zygote=grading_zygote, all_cells=True).items()}
    assert sorted(everything) == sorted(graded)
    differ = [name for name in graded if _scores(graded[name]) != _scores(everything[name])]
    assert not differ, f"scores depend on the cells run: {differ}"
    assert any(r.skipped_cells for r in graded.values()), "nothing was skipped: the comparison proves nothing"
