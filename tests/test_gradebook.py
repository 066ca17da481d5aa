"""d2lgrade's scores in nbgrader's gradebook: checked through nbgrader's own API and CLI."""

import csv
import dataclasses
import shutil
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbgrader.api import Gradebook
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.server_extensions.formgrader import handlers
from traitlets.config import Config
from test_nbgrader import _nbgrader

from d2lgrade.catalogue import read_case
from d2lgrade.course import Course
from d2lgrade.export import read_json, write_json
from d2lgrade.fill import filled_stub
from d2lgrade.gradebook import nbgrader_config, record
from d2lgrade.grade import find_submissions, grade
from d2lgrade.results import QuestionResult, SubmissionResult, TestResult

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
ASSIGNMENT = "linear_regression"
WRONG = ROOT / "tests" / "catalogue" / ASSIGNMENT / "wrong" / "closed_form_no_bias_column.py"
SPEC = COURSE.assignment(ASSIGNMENT)
WRITTEN = [q.grade_id for q in SPEC.questions if not q.autograded]


def make_course(root: Path, notebooks: dict[str, nbformat.NotebookNode]) -> Path:
    """An nbgrader course with this assignment's source and graders, and one submission per student."""
    (root / "solutions").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    shutil.copyfile(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(ROOT / "graders", root / "graders", ignore=shutil.ignore_patterns("__pycache__"))
    for student, notebook in notebooks.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")
    return root


def db(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grading_zygote):
    """Three submissions graded by d2lgrade and recorded once; d2lgrade's JSON beside them."""
    wrong = read_case(WRONG)
    root = make_course(tmp_path_factory.mktemp("gradebook") / "course", {
        "reference": filled_stub(COURSE, ASSIGNMENT),
        "wrong": filled_stub(COURSE, ASSIGNMENT, {wrong.question: wrong.source}),
        "stub": filled_stub(COURSE, ASSIGNMENT, fill=False),
    })
    course = Course(root)
    results = grade(find_submissions([root / "submitted"], course=course), course=course, zygote=grading_zygote)
    write_json(results, root / "d2lgrade.json")
    assert record(results, root) == {}
    return root, {r.student: r for r in read_json(root / "d2lgrade.json")}


@pytest.mark.slow
def test_each_grade_cell_holds_d2lgrades_score(graded):
    root, ours = graded
    assert 0 < ours["wrong"].score < ours["reference"].score == ours["reference"].possible
    with Gradebook(db(root)) as gradebook:
        for student, result in ours.items():
            notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            grades = {g.name: g for g in notebook.grades}
            for question in result.questions:
                if question.autograded:
                    cell = grades[SPEC.question(question.name).grade_id]
                    assert cell.auto_score == pytest.approx(question.score), (student, question.name)
                    assert not cell.needs_manual_grade
            answered = student != "stub"
            for grade_id in WRITTEN:
                # nbgrader's own rule: an unchanged answer cell scores zero, an answer waits for a grader
                assert grades[grade_id].needs_manual_grade is answered
                assert grades[grade_id].auto_score == (None if answered else 0)
            submission = gradebook.find_submission(ASSIGNMENT, student)
            assert submission.score == pytest.approx(result.score)
            assert submission.max_score == sum(q.points for q in SPEC.questions)


@pytest.mark.slow
def test_nbgrader_export_totals_match_d2lgrades_json(graded):
    root, ours = graded
    _nbgrader(root, "export")
    with open(root / "grades.csv", newline="") as stream:
        rows = {row["student_id"]: row for row in csv.DictReader(stream)}
    assert rows.keys() == ours.keys()
    for student, result in ours.items():
        assert float(rows[student]["raw_score"]) == pytest.approx(result.score), student


@pytest.mark.slow
def test_nbgrader_generate_feedback_shows_each_question(graded):
    root, ours = graded
    _nbgrader(root, "generate_feedback", ASSIGNMENT, "--force")
    for student, result in ours.items():
        html = (root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        for question in result.questions:
            if question.autograded:
                assert f"{question.name}: {question.passed} of {question.counted} checks passed" in html, (student, question.name)
    failure = next(t for q in ours["wrong"].questions for t in q.tests if t.outcome == "failed")
    assert failure.message.splitlines()[0] in (root / "feedback" / "wrong" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


@pytest.mark.slow
def test_formgrader_lists_each_submission_and_shows_its_grade_cells(graded):
    root, ours = graded
    config = nbgrader_config(root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    listed = {s["student"]: s for s in api.get_notebook_submissions(ASSIGNMENT, ASSIGNMENT)}
    assert listed.keys() == ours.keys()
    for student, result in ours.items():
        assert listed[student]["code_score"] == pytest.approx(result.score)
        assert listed[student]["max_written_score"] == sum(q.points for q in SPEC.questions if not q.autograded)
        assert listed[student]["needs_manual_grade"] is (student != "stub")

    # the page formgrader serves for one submission: its autograded notebook, one score box per grade cell
    formgrade = Config()
    formgrade.HTMLExporter.template_name = "formgrade"
    formgrade.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    page = dict(assignment_id=ASSIGNMENT, notebook_id=ASSIGNMENT, submission_id=listed["wrong"]["id"], index=listed["wrong"]["index"],
                total=len(listed), base_url="", student="wrong", last_name=None, first_name=None, notebook_path="")
    html, _ = HTMLExporter(config=formgrade).from_filename(str(root / "autograded" / "wrong" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), resources=page)
    for question in SPEC.questions:
        assert f'id="{question.grade_id}"' in html
    closed_form = ours["wrong"].question("closed_form")
    assert f"closed_form: {closed_form.passed} of {closed_form.counted} checks passed" in html


@pytest.mark.slow
def test_a_regrade_keeps_manual_scores(graded, tmp_path):
    root = shutil.copytree(graded[0], tmp_path / "course")
    ours = {s: dataclasses.replace(r, path=str(root / Path(r.path).relative_to(graded[0]))) for s, r in graded[1].items()}
    written, autograded = WRITTEN[0], SPEC.autograded[0].grade_id
    with Gradebook(db(root)) as gradebook:
        for grade_id, score in ((written, 1.0), (autograded, 0.5)):
            cell = gradebook.find_grade(grade_id, ASSIGNMENT, ASSIGNMENT, "reference")
            cell.manual_score = score
        gradebook.db.commit()

    assert record(list(ours.values()), root) == {}
    with Gradebook(db(root)) as gradebook:
        kept = {g: gradebook.find_grade(g, ASSIGNMENT, ASSIGNMENT, "reference") for g in (written, autograded)}
        assert (kept[written].manual_score, kept[autograded].manual_score) == (1.0, 0.5)
        assert kept[autograded].auto_score == ours["reference"].question(SPEC.autograded[0].name).score
        assert kept[autograded].needs_manual_grade, "nbgrader flags an overridden autograde for review"
        expected = ours["reference"].score - kept[autograded].auto_score + 0.5 + 1.0
        assert gradebook.find_submission(ASSIGNMENT, "reference").score == pytest.approx(expected)


def _made_up_result(path: Path, student: str) -> SubmissionResult:
    """A result as grading would return it: the first question half right, the rest right."""
    questions = []
    for index, question in enumerate(SPEC.questions):
        outcomes = ("passed", "failed") if index == 0 else ("passed",)
        tests = tuple(TestResult(question.name, f"check {i}", f"id{i}", outcome) for i, outcome in enumerate(outcomes)) if question.autograded else ()
        questions.append(QuestionResult(question.name, question.points, question.autograded, tests))
    return SubmissionResult(student=student, assignment=ASSIGNMENT, path=str(path), seed=0, questions=tuple(questions))


@pytest.mark.slow
def test_record_uses_the_configured_database_and_reports_what_nbgrader_cannot_autograde(tmp_path):
    root = make_course(tmp_path / "course", {"ada": filled_stub(COURSE, ASSIGNMENT), "cy": filled_stub(COURSE, ASSIGNMENT)})
    elsewhere = tmp_path / "ben.ipynb"
    nbformat.write(filled_stub(COURSE, ASSIGNMENT), elsewhere)
    broken = root / "submitted" / "cy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    broken.write_text("{not a notebook")
    url = f"sqlite:///{tmp_path / 'configured.db'}"
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
    results = [
        _made_up_result(root / "submitted" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", "ada"),
        _made_up_result(elsewhere, "ben"),
        SubmissionResult.from_error(student="cy", assignment=ASSIGNMENT, path=str(broken), seed=0, error="not JSON", questions=SPEC.questions),
    ]

    problems = record(results, root)

    assert not (root / "gradebook.db").exists()
    assert sorted(problems) == [f"ben/{ASSIGNMENT}", f"cy/{ASSIGNMENT}"]
    assert "not nbgrader's" in problems[f"ben/{ASSIGNMENT}"] and "NotJSONError" in problems[f"cy/{ASSIGNMENT}"]
    assert (root / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    assert not (root / "autograded" / "ben").exists()
    first = SPEC.autograded[0]
    with Gradebook(url) as gradebook:
        for student in ("ada", "ben"):
            assert gradebook.find_grade(first.grade_id, ASSIGNMENT, ASSIGNMENT, student).auto_score == first.points / 2
            assert gradebook.find_submission(ASSIGNMENT, student).score == pytest.approx(results[0].score)
        unreadable = gradebook.find_grade(first.grade_id, ASSIGNMENT, ASSIGNMENT, "cy")
        assert (unreadable.auto_score, unreadable.needs_manual_grade) == (0, False)
