"""The catalogues: known mistakes must be caught, correct alternatives accepted.

Every case is one file, ``tests/catalogue/<assignment>/{wrong,correct}/<case>.py``,
holding the new source of one solution cell after a header of comment lines::

    # question: squared_loss
    # why: returns the mean over the batch instead of one loss per example
    # requires: cuda            (optional: graded only where CUDA is available)
    def squared_loss(y_hat, y):
        ...

A ``wrong`` case must lose points on its own question and nowhere else; a
``correct`` case must earn full marks everywhere. Adding a case is adding a
file. At least ``PUBLIC_SHARE`` of each assignment's wrong cases must fail a
public check of their own question, which students run before they submit;
that is read from the same graded results, at no extra cost. Each assignment's cases are graded together, in one call to a pool of
worker processes kept for the session (``grading_pool``, tests/conftest.py), because every submission costs
a child process.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat
import pytest

from d2lgrade.catalogue import KINDS, Case, discover
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.grade import Submission
from d2lgrade.pool import Pool
from d2lgrade.results import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Path(__file__).resolve().parent / "catalogue"
#: Seeds the reference is graded with.
REFERENCE_SEEDS = range(20)
#: The least share of each assignment's wrong answers that a public check of their own question must catch.
PUBLIC_SHARE = 0.9
CASES = discover(CATALOGUE)


def _params(cases: Iterable[Case]) -> list:
    return [pytest.param(case, id=case.id) for case in cases]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def course() -> Course:
    return Course(ROOT)


def _write(course: Course, folder: Path, assignment: str, name: str, replacements: dict[str, str]) -> Path:
    path = folder / f"{name}.ipynb"
    nbformat.write(filled_stub(course, assignment, replacements), path)
    return path


def _once_per_assignment(work: Callable[[str], dict]) -> Callable[[str], dict]:
    """``work`` run at most once per assignment; a failure is remembered, not retried by every case."""
    done: dict[str, dict | BaseException] = {}

    def results(assignment: str) -> dict:
        if assignment not in done:
            try:
                done[assignment] = work(assignment)
            except BaseException as exc:  # pytest.fail's Failed is a BaseException
                done[assignment] = exc
                raise
        outcome = done[assignment]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return results


def _require_graders(course: Course, assignment: str) -> None:
    if not course.assignment(assignment).grader_files():
        pytest.fail(f"{assignment} has a catalogue but no graders in {course.graders}", pytrace=False)


@pytest.fixture(scope="session")
def catalogue_results(course: Course, grading_pool: Pool, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, SubmissionResult]]:
    """``results(assignment)``: every runnable case of the assignment, graded in one call, by student name."""
    def grade_cases(assignment: str) -> dict[str, SubmissionResult]:
        _require_graders(course, assignment)
        folder = tmp_path_factory.mktemp(f"catalogue-{assignment}")
        cases = [c for c in CASES if c.assignment == assignment and not c.missing()]
        submissions = [
            Submission(student=c.student, assignment=assignment, path=_write(course, folder, assignment, c.student, {c.question: c.source}))
            for c in cases
        ]
        return {r.student: r for r in grading_pool.grade(submissions, course=course, seed=0)}

    return _once_per_assignment(grade_cases)


@pytest.fixture(scope="session")
def reference_results(course: Course, grading_pool: Pool, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[int, SubmissionResult]]:
    """``results(assignment)``: the filled-in stub graded once per seed, all in one call, by seed."""
    def grade_seeds(assignment: str) -> dict[int, SubmissionResult]:
        _require_graders(course, assignment)
        path = _write(course, tmp_path_factory.mktemp(f"reference-{assignment}"), assignment, assignment, {})
        submissions = [Submission(student=f"seed{s}", assignment=assignment, path=path, seed=s) for s in REFERENCE_SEEDS]
        return {r.seed: r for r in grading_pool.grade(submissions, course=course, seed=0)}

    return _once_per_assignment(grade_seeds)


# --------------------------------------------------------------------------- reports
def _report(result: SubmissionResult, names: Iterable[str]) -> str:
    """The named questions' scores and every test of theirs that did not pass."""
    lines = []
    if result.error:
        lines.append(f"the notebook could not be graded: {result.error}")
    for cell in result.cells:
        if not cell.ok:
            lines.append(f"(notebook cell {cell.index + 1}: {cell.status} {cell.ename or ''}: {cell.evalue or ''})")
    for name in names:
        question = result.question(name)
        lines.append(f"{name}: {question.score:g} / {question.points:g} ({question.passed} of {question.counted} tests passed)")
        if not question.tests:
            lines.append("    no grader test ran for this question")
        for test in question.tests:
            if test.outcome not in ("passed", "skipped"):
                lines.append(f"    [{test.outcome}] {test.name}: {test.message}")
                if test.staff_detail:
                    lines.append("        " + test.staff_detail.strip().replace("\n", "\n        ")[-1500:])
    return "\n".join(lines)


def _problems(result: SubmissionResult, *, must_lose: str | None) -> list[str]:
    """Questions graded wrongly: ``must_lose`` not losing points, any other not earning full points."""
    bad = []
    for question in result.questions:
        if not question.autograded:
            continue
        if question.name == must_lose:
            if question.score >= question.points:
                bad.append(question.name)
        elif question.score < question.points:
            bad.append(question.name)
    return bad


def _check_no_grader_errors(result: SubmissionResult, label: str) -> None:
    errors = result.grader_errors
    if errors:
        pytest.fail(
            f"{label}: the graders broke on {len(errors)} test(s):\n"
            + _report(result, sorted({t.question for t in errors})),
            pytrace=False,
        )


def _parameter_names(node: ast.FunctionDef) -> tuple:
    args = node.args
    return (
        [a.arg for a in args.posonlyargs],
        [a.arg for a in args.args],
        args.vararg and args.vararg.arg,
        [a.arg for a in args.kwonlyargs],
        args.kwarg and args.kwarg.arg,
    )


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", _params(CASES))
def test_case_file_is_well_formed(case: Case, course: Course) -> None:
    """The case names a graded function, defines it with the contract's signature, and fills the stub."""
    assignment = course.assignment(case.assignment)
    questions = {q.name: q for q in assignment.questions}
    assert case.kind in KINDS
    assert case.question in questions and questions[case.question].autograded, (
        f"{case.id}: {case.question!r} is not an autograded question of {case.assignment}"
    )
    tree = ast.parse(case.source, filename=str(case.path))
    defs = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    assert case.question in defs, f"{case.id}: the cell does not define {case.question}"
    reference = {node.name: node for node in ast.parse(assignment.solution_sources[case.question]).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    if isinstance(defs[case.question], ast.FunctionDef):
        # names only: a wrong default value can be the very mistake a case shows
        assert _parameter_names(defs[case.question]) == _parameter_names(reference[case.question]), (
            f"{case.id}: the parameters of {case.question} differ from the reference's"
        )
    notebook = filled_stub(course, case.assignment, {case.question: case.source})
    cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == case.question]
    assert len(cells) == 1 and cells[0].source == case.source


@pytest.mark.slow
@pytest.mark.parametrize("case", _params(CASES))
def test_catalogue_case(case: Case, catalogue_results) -> None:
    """A wrong case loses points on its own question only; a correct case earns full marks."""
    missing = case.missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    result = catalogue_results(case.assignment)[case.student]
    _check_no_grader_errors(result, case.id)
    must_lose = case.question if case.kind == "wrong" else None
    bad = _problems(result, must_lose=must_lose)
    if bad:
        wanted = (
            f"should lose points on {case.question} only ({case.why})"
            if must_lose
            else f"should earn full marks ({case.why})"
        )
        pytest.fail(f"{case.id} {wanted}, but was graded wrongly on {', '.join(bad)}:\n{_report(result, bad)}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted({c.assignment for c in CASES}))
@pytest.mark.parametrize("seed", REFERENCE_SEEDS)
def test_reference_full_marks(assignment: str, seed: int, reference_results) -> None:
    """The reference earns full marks with every seed, with no grader errors."""
    result = reference_results(assignment)[seed]
    label = f"{assignment} reference with seed {seed}"
    _check_no_grader_errors(result, label)
    bad = _problems(result, must_lose=None)
    if bad:
        pytest.fail(f"{label} lost points on {', '.join(bad)}:\n{_report(result, bad)}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted({c.assignment for c in CASES}))
def test_public_checks_catch_most_wrong_answers(assignment: str, catalogue_results) -> None:
    """At least PUBLIC_SHARE of the assignment's wrong answers fail a public check of their own question."""
    wrong = [c for c in CASES if c.assignment == assignment and c.kind == "wrong" and not c.missing()]
    results = catalogue_results(assignment)
    unseen = [
        case for case in wrong
        if not any(not t.hidden and t.outcome in ("failed", "error") for t in results[case.student].question(case.question).tests)
    ]
    caught = len(wrong) - len(unseen)
    if caught < PUBLIC_SHARE * len(wrong):
        pytest.fail(
            f"{assignment}: public checks catch {caught} of {len(wrong)} wrong answers ({caught / len(wrong):.0%}), "
            f"under {PUBLIC_SHARE:.0%}; these pass every public check of their question:\n"
            + "\n".join(f"    {case.id}: {case.why}" for case in unseen),
            pytrace=False,
        )
