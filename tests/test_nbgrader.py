"""nbgrader's own path: hidden test cells grade in the student's kernel and agree with d2lgrade."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from d2lgrade.catalogue import discover
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.grade import Submission, grade, load_reference
from d2lgrade.nbgrader import grade_question

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
CATALOGUE = ROOT / "tests" / "catalogue"


def test_grade_question_in_process_scores_and_stays_off_stderr(capsys):
    namespace = dict(load_reference(COURSE.assignment("linreg_scratch"))._namespace)
    assert grade_question("linreg_scratch", "squared_loss", namespace) == 1.0
    exec("import warnings\ndef squared_loss(y_hat, y):\n    warnings.warn('careful')\n    return (y_hat - y) ** 2 / 2", namespace)
    score = grade_question("linreg_scratch", "squared_loss", namespace)
    out, err = capsys.readouterr()
    assert 0 <= score < 1.0
    assert err == "", "nbgrader scores a test cell with stderr output as zero"
    assert "squared_loss:" in out and "✗" in out


def test_grade_question_restores_the_book_functions():
    namespace = dict(load_reference(COURSE.assignment("linreg_scratch"))._namespace)
    exec("def sgd(params, lr, batch_size):\n    return 'mine'", namespace)
    mine = namespace["sgd"]
    grade_question("linreg_scratch", "train", namespace)
    assert namespace["sgd"] is mine


def _nbgrader(root: Path, *args: str) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, f"nbgrader {args[0]}: {done.stderr[-3000:]}"


def _nbgrader_scores(root: Path, assignment: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return {grade.name.removeprefix("test_"): grade.score for grade in notebook.grades if grade.auto_score is not None and grade.name.startswith("test_")}


def _spread(cases: list, count: int) -> list:
    """`count` cases evenly spread over the catalogue, so the sample reaches every question whatever the catalogue's size."""
    if len(cases) <= count:
        return cases
    return [cases[i * len(cases) // count] for i in range(count)]


def _submit(root: Path, assignment: str) -> dict[str, str]:
    """Into the nbgrader course at ``root``: ``assignment``'s source, and the stub, a wrong answer and a
    correct alternative from the catalogue submitted. nbgrader spends seconds on each notebook, and these
    three prove its path (every grade cell scores full marks, nothing, and in between);
    tests/test_catalogue.py grades every case, and the benchmark's quick run (tests/test_bench.py) the
    reference and two more linreg_scratch notebooks through nbgrader. Each student's kind, by name."""
    cases = [c for c in discover(CATALOGUE) if c.assignment == assignment and not c.requires]
    chosen = _spread([c for c in cases if c.kind == "wrong"], 1) + _spread([c for c in cases if c.kind == "correct"], 1)
    assert len(chosen) == 2, f"the {assignment} catalogue is missing"
    notebooks = {"stub": filled_stub(COURSE, assignment, fill=False)}
    for case in chosen:
        notebooks[case.student] = filled_stub(COURSE, assignment, {case.question: case.source})
    shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment)
    for student, notebook in notebooks.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{assignment}.ipynb")
    return {"stub": "stub"} | {case.student: case.kind for case in chosen}


@pytest.fixture(scope="module")
def autograded(tmp_path_factory) -> tuple[Path, dict[str, dict[str, str]]]:
    """One nbgrader course holding every assignment, generated, autograded and exported by nbgrader: one
    command of each for all three (each command costs seconds of its own before it starts a kernel)."""
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    root.mkdir()
    shutil.copyfile(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "graders", root / "graders")
    kinds = {name: _submit(root, name) for name in COURSE.assignment_names()}
    for args in (("generate_assignment", "*", "--force"), ("autograde", "*", "--force"), ("export",)):
        _nbgrader(root, *args)
    return root, kinds


@pytest.mark.slow
@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_nbgrader_autograde_agrees_with_d2lgrade(autograded, assignment, grading_zygote):
    root, kinds_by_assignment = autograded
    kinds = kinds_by_assignment[assignment]
    ours = {r.student: r for r in grade([Submission(s, assignment, root / "submitted" / s / assignment / f"{assignment}.ipynb") for s in kinds],
                                           course=COURSE, zygote=grading_zygote)}
    points = {q.name: q.points for q in COURSE.assignment(assignment).autograded}
    for student in kinds:
        theirs = _nbgrader_scores(root, assignment, student)
        mine = {q.name: q.score for q in ours[student].questions if q.autograded}
        assert theirs.keys() == mine.keys()
        differ = {q: (theirs[q], mine[q]) for q in mine if abs(theirs[q] - mine[q]) > 1e-3}
        assert not differ, f"{student}: nbgrader and d2lgrade disagree (nbgrader, d2lgrade): {differ}"
    (correct,) = (student for student, kind in kinds.items() if kind == "correct")
    assert ours[correct].score == sum(points.values())
    assert _nbgrader_scores(root, assignment, correct) == points, "a correct alternative earns every grade cell's points"
    assert _nbgrader_scores(root, assignment, "stub") == {q: 0.0 for q in points}
    (wrong,) = (student for student, kind in kinds.items() if kind == "wrong")
    assert 0 < sum(_nbgrader_scores(root, assignment, wrong).values()) < sum(points.values())
    exported = (root / "grades.csv").read_text()
    assert f"{assignment},,,{correct}," in exported
