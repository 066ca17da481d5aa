"""Answers of the wrong dtype lose points with a message, and never break a grader.

For each assignment and each wrong dtype (int64, bool, complex64, float16)
the reference notebook is graded with one cell appended that makes every
graded function return its results in that dtype: tensors anywhere in the
result (inside tuples, lists and dicts too), Python floats (as 0-d tensors),
numpy arrays, the batches of a generator or a DataLoader, and the parameters
of a module; classes get their public methods wrapped (Timer's, HuberLoss's
forward). A complex cast of a real answer keeps its magnitudes, so a check
that compared abs() would let it pass: it must fail all the same.

Every test must end as passed, failed or error (the student's), never as a
grader error; every question whose answer the cast changed must lose points,
and the questions it leaves alone must keep full marks. All twelve notebooks
are graded in one call.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.grade import Submission, grade
from d2lgrade.results import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ["linear_regression", "linreg_scratch", "linreg_concise"]
DTYPES = ["int64", "bool", "complex64", "float16"]
#: Questions whose answers hold no tensor, float, array, batch or module: the cast leaves them as they are.
UNCHANGED = {"linreg_scratch": {"sgd", "batch_sizes"}}  # sgd returns None, batch_sizes a list of ints
#: Questions whose failures must name the wrong dtype: a refusal by dtype, not a lucky mismatch.
NAMED = {"linreg_scratch": {"linreg", "squared_loss"}, "linear_regression": {"add_vectorized"}}

# Appended to the reference notebook; @DTYPE@ is replaced. The wrapping is done by a call,
# not by top-level assignments, so the source rules still see each function's own definition.
CAST = '''
import functools as _functools
import types as _types

import numpy as _np
import torch as _torch
from torch.utils import data as _data

_DTYPE = _torch.@DTYPE@


def _cast(value):
    """value with every tensor, float, array, batch and parameter in it converted to _DTYPE."""
    if isinstance(value, _torch.Tensor):
        return value.to(_DTYPE)
    if isinstance(value, float):
        return _torch.tensor(value).to(_DTYPE)
    if isinstance(value, _np.ndarray):
        return value.astype(_torch.empty(0, dtype=_DTYPE).numpy().dtype)
    if isinstance(value, (tuple, list)):
        return type(value)(_cast(item) for item in value)
    if isinstance(value, dict):
        return {key: _cast(item) for key, item in value.items()}
    if isinstance(value, _types.GeneratorType):
        return (_cast(item) for item in value)
    if isinstance(value, _data.DataLoader):
        collate = value.collate_fn
        value.collate_fn = lambda batch: _cast(collate(batch))
        return value
    if isinstance(value, _torch.nn.Module):
        for parameter in value.parameters():
            parameter.requires_grad_(parameter.requires_grad and (_DTYPE.is_floating_point or _DTYPE.is_complex))
            parameter.data = parameter.data.to(_DTYPE)
    return value


def _casting(function):
    @_functools.wraps(function)
    def cast(*args, **kwargs):
        return _cast(function(*args, **kwargs))
    return cast


def _cast_results(namespace, names):
    for name in names:
        target = namespace[name]
        if isinstance(target, type):
            for attribute, member in list(vars(target).items()):
                if isinstance(member, _types.FunctionType) and not attribute.startswith("_"):
                    setattr(target, attribute, _casting(member))
        else:
            namespace[name] = _casting(target)
'''


def _notebook(course: Course, assignment: str, dtype: str) -> nbformat.NotebookNode:
    names = [question.name for question in course.assignment(assignment).autograded]
    notebook = filled_stub(course, assignment)
    source = CAST.replace("@DTYPE@", dtype) + f"\n_cast_results(globals(), {names!r})\n"
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    return notebook


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, grading_zygote) -> dict[tuple[str, str], SubmissionResult]:
    """Every (assignment, dtype) notebook, graded in one call."""
    course = Course(ROOT)
    folder = tmp_path_factory.mktemp("wrong-dtypes")
    submissions = []
    for assignment in ASSIGNMENTS:
        for dtype in DTYPES:
            path = folder / f"{assignment}-{dtype}.ipynb"
            nbformat.write(_notebook(course, assignment, dtype), path)
            submissions.append(Submission(student=f"{assignment}-{dtype}", assignment=assignment, path=path))
    graded = grade(submissions, course=course, seed=0, zygote=grading_zygote)
    return {(result.assignment, result.student.rsplit("-", 1)[1]): result for result in graded}


def _report(result: SubmissionResult, names: set[str]) -> str:
    lines = []
    for question in result.questions:
        if question.name in names:
            lines.append(f"{question.name}: {question.score:g} / {question.points:g}")
            for test in question.tests:
                if test.outcome != "passed":
                    lines.append(f"    [{test.outcome}] {test.name}: {test.message}")
                    if test.staff_detail:
                        lines.append("        " + test.staff_detail.strip()[-1500:].replace("\n", "\n        "))
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_grader_breaks_on_a_wrong_dtype(results, assignment: str, dtype: str) -> None:
    result = results[assignment, dtype]
    assert result.error is None, result.error
    broken = result.grader_errors
    if broken:
        pytest.fail(f"{assignment} as {dtype}: the graders broke on {len(broken)} test(s):\n"
                    + _report(result, {test.question for test in broken}), pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_changed_answers_lose_points(results, assignment: str, dtype: str) -> None:
    result = results[assignment, dtype]
    unchanged = UNCHANGED.get(assignment, set())
    kept = {q.name for q in result.questions if q.autograded and q.name not in unchanged and q.score >= q.points}
    lost = {q.name for q in result.questions if q.autograded and q.name in unchanged and q.score < q.points}
    assert not kept, f"{assignment} as {dtype}: full marks for answers of the wrong dtype:\n{_report(result, kept)}"
    assert not lost, f"{assignment} as {dtype}: points lost by answers the cast left alone:\n{_report(result, lost)}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("assignment", sorted(NAMED))
def test_the_refusal_names_the_dtype(results, assignment: str, dtype: str) -> None:
    result = results[assignment, dtype]
    for name in NAMED[assignment]:
        messages = [test.message for test in result.question(name).tests if test.outcome == "failed"]
        assert any(dtype in message for message in messages), (
            f"{assignment} as {dtype}: no failure of {name} names {dtype}:\n{_report(result, {name})}")
