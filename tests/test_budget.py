"""The time budget of a submission (``d2lgrade.budget``): one slow notebook costs its own budget, no more.

One class is graded once, with small limits (``--timeout 1``, a budget of
4 s): a notebook whose functions each sleep just under the call limit, one
whose function never returns, one with a cell that never ends, and an honest
classmate, who is then graded alone to compare.
"""

from __future__ import annotations

import ast
import io
import json
import time
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from d2lgrade import budget as budgets
from d2lgrade.budget import CELL_SHARE, MIN_BUDGET, Budget, default_budget
from d2lgrade.cli import build_parser
from d2lgrade.course import Course
from d2lgrade.export import write_all
from d2lgrade.fill import filled_stub
from d2lgrade.grade import Submission, grade
from d2lgrade.results import SubmissionResult
from d2lgrade.selfcheck import time_used
from d2lgrade.table import print_table

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
ASSIGNMENT = "linear_regression"
#: Seconds each call may take, each sleepy function sleeps, and the whole notebook may take.
CALL_TIMEOUT, NAP, BUDGET = 1.0, 0.7, 4.0
#: Seconds the budget may be overrun: the last request's end, stopping the process, pytest's own time.
SLACK = 6.0


def _sleepy(source: str) -> str:
    """``source`` with every top-level function sleeping ``NAP`` seconds before it does its work."""
    lines = source.splitlines()
    for node in sorted(ast.parse(source).body, key=lambda n: -n.lineno):
        if isinstance(node, ast.FunctionDef):
            first = node.body[0]
            lines.insert(first.lineno - 1, " " * first.col_offset + f"__import__('time').sleep({NAP})")
    return "\n".join(lines) + "\n"


#: A cell that never ends (for 120 s), which grading cannot skip: it binds ``torch``, which every function reads.
ENDLESS = "import time\nimport torch\n\nstarted = time.time()\nwhile time.time() < started + 120:\n    pass\n"


def _notebooks() -> dict[str, nbformat.NotebookNode]:
    solutions = COURSE.assignment(ASSIGNMENT).solution_sources
    endless = filled_stub(COURSE, ASSIGNMENT)
    setup = next(i for i, cell in enumerate(endless.cells) if "setup" in cell.metadata.get("tags", []))
    endless.cells.insert(setup + 1, nbformat.v4.new_code_cell(ENDLESS))
    return {
        "honest": filled_stub(COURSE, ASSIGNMENT),
        "sleepy": filled_stub(COURSE, ASSIGNMENT, {name: _sleepy(source) for name, source in solutions.items()}),
        "hangs": filled_stub(COURSE, ASSIGNMENT, {"best_constant": "def best_constant(x):\n    while True:\n        pass\n"}),
        "endless_cell": endless,
    }


@pytest.fixture(scope="module")
def graded(grading_zygote, tmp_path_factory) -> tuple[dict[str, SubmissionResult], dict[str, float], SubmissionResult]:
    """The class graded in one call (with how long each student took), and the honest student alone."""
    folder = tmp_path_factory.mktemp("class")
    submissions = []
    for student, notebook in _notebooks().items():
        nbformat.write(notebook, folder / f"{student}.ipynb")
        submissions.append(Submission(student, ASSIGNMENT, folder / f"{student}.ipynb"))
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    options = {"course": COURSE, "seed": 0, "call_timeout": CALL_TIMEOUT, "zygote": grading_zygote,
               "budgets": {ASSIGNMENT: Budget(BUDGET, 0.5)}}
    results = grade(submissions, on_start=lambda s: started.setdefault(s.student, time.monotonic()),
                    on_result=lambda r: took.setdefault(r.student, time.monotonic() - started[r.student]), **options)
    (alone,) = grade([submissions[0]], **options)
    return {r.student: r for r in results}, took, alone


def _tests(result: SubmissionResult) -> list:
    """Its tests in the order they ran, but those skipped here (for CUDA)."""
    return [t for q in result.questions for t in q.tests if t.outcome != "skipped"]


def test_a_notebook_of_slow_functions_stops_at_its_budget(graded):
    results, took, _ = graded
    sleepy = results["sleepy"]
    assert sleepy.over_budget and sleepy.budget == BUDGET
    assert BUDGET - 0.5 <= sleepy.used <= BUDGET + 1, sleepy.used  # the last request, cut short, and stopping the process
    assert took["sleepy"] <= BUDGET + SLACK, f"graded in {took['sleepy']:.1f} s, for a budget of {BUDGET:g} s"
    sentence = Budget(BUDGET, 0.5).sentence()
    assert sentence == ("Not run: your notebook used all of its 4 s; the reference needs about 0.5 s: "
                        "look for a loop that runs far longer than the book's.")
    tests = _tests(sleepy)
    passed = [t for t in tests if t.outcome == "passed"]  # correct answers, however slow, earn points until then
    cut = [t for t in tests if t.outcome == "error" and t.message == sentence]
    assert len(passed) + len(cut) == len(tests), [(t.name, t.outcome, t.message[:80]) for t in tests if t not in passed + cut]
    assert len(passed) >= 2 and len(cut) > 30  # without the budget each of those would have waited NAP seconds
    assert sum(t.seconds for t in passed) <= BUDGET + 1


def test_a_classmate_is_graded_exactly_as_alone(graded):
    results, _, alone = graded
    honest = results["honest"]
    assert not honest.over_budget and honest.used < BUDGET
    assert honest.score == honest.possible
    assert [(t.test_id, t.outcome, t.message) for t in _tests(honest)] == [(t.test_id, t.outcome, t.message) for t in _tests(alone)]


def test_a_call_that_timed_out_is_not_waited_for_again(graded):
    results, _, _ = graded
    hangs = results["hangs"]
    first, *later = [t for t in hangs.question("best_constant").tests if t.outcome != "skipped"]
    assert first.outcome == "error" and "did not finish within 1 s" in first.message
    assert later and all("was not called again" in t.message for t in later)
    assert all(t.seconds < CALL_TIMEOUT / 2 for t in later), [t.seconds for t in later]
    assert not hangs.over_budget and hangs.question("closed_form").score == hangs.question("closed_form").points


def test_a_cell_that_never_ends_is_stopped_at_its_share_and_the_rest_is_graded(graded):
    results, _, _ = graded
    endless = results["endless_cell"]
    stopped = [c for c in endless.cells if not c.ok]
    assert [c.status for c in stopped] == ["timeout"]
    assert stopped[0].evalue == f"the cell ran longer than {BUDGET * CELL_SHARE:g} s, the most one cell may take of the notebook's 4 s"
    assert BUDGET * CELL_SHARE <= endless.used
    assert endless.question("Timer").score == endless.question("Timer").points  # graded on what the other cells defined


def test_results_the_table_and_the_report_show_the_budget(graded, tmp_path):
    results, _, _ = graded
    write_all(list(results.values()), tmp_path)
    recorded = {s["student"]: s for s in json.loads((tmp_path / "results.json").read_text())["submissions"]}
    assert recorded["sleepy"]["budget"] == BUDGET and recorded["sleepy"]["over_budget"] is True
    assert 0 < recorded["honest"]["used"] < BUDGET and recorded["honest"]["over_budget"] is False
    assert SubmissionResult.from_dict(recorded["sleepy"]) == results["sleepy"]
    feedback = (tmp_path / "feedback" / ASSIGNMENT / "sleepy.txt").read_text()
    assert "Your notebook used all of the 4 s it may run, so the checks after that point did not run" in feedback
    assert "used all of the" not in (tmp_path / "feedback" / ASSIGNMENT / "honest.txt").read_text()
    report = (tmp_path / "report" / f"{ASSIGNMENT}.html").read_text()
    over = sum(r.over_budget for r in results.values())  # the sleepy one, and any other the machine slowed down
    assert f"{over} used all of their time (4 s) before every check ran" in report
    console = Console(file=io.StringIO(), width=400, color_system=None)
    print_table(list(results.values()), console=console)
    notes = [line.strip() for line in console.file.getvalue().splitlines() if "used all of its" in line]
    assert "sleepy: used all of its 4 s: its process was stopped, the checks left ended as errors" in notes
    assert len(notes) == over


def test_check_prints_the_time_used_against_the_budget():
    assert time_used(3.21, Budget(120, 1.3), False) == ("Your notebook ran for 3.2 s of the 120 s grading allows it; "
                                                        "the reference takes about 1.3 s.")
    assert time_used(120.4, Budget(120), True) == Budget(120).sentence()


def test_the_default_is_twenty_times_the_reference_and_at_least_two_minutes():
    assert default_budget(None) == Budget(MIN_BUDGET)
    assert default_budget(1.3) == Budget(MIN_BUDGET, 1.3)
    assert default_budget(9.0) == Budget(180.0, 9.0)


def test_the_reference_is_timed_once_per_version_of_the_assignment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    timed = []
    monkeypatch.setattr(budgets, "_measure", lambda course, assignment: timed.append(assignment.name) or 2.5)
    said = []
    assert budgets.budgets_for(COURSE, [ASSIGNMENT], on_measure=said.append) == {ASSIGNMENT: Budget(120.0, 2.5)}
    assert budgets.budgets_for(COURSE, [ASSIGNMENT], on_measure=said.append) == {ASSIGNMENT: Budget(120.0, 2.5)}
    assert timed == said == [ASSIGNMENT]
    assert budgets.budgets_for(COURSE, [ASSIGNMENT], 7) == {ASSIGNMENT: Budget(7)}  # given: nothing timed
    assert timed == [ASSIGNMENT]


@pytest.mark.parametrize("verb", ["autograde", "check"])
def test_the_option_takes_positive_seconds_only(verb, capsys):
    parser = build_parser()
    assert parser.parse_args([verb, "x.ipynb", "--submission-timeout", "2.5"]).submission_timeout == 2.5
    assert parser.parse_args([verb, "x.ipynb"]).submission_timeout is None
    for bad in ("0", "-3", "nan", "inf", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args([verb, "x.ipynb", "--submission-timeout", bad])
    assert "is not a positive number of seconds" in capsys.readouterr().err
