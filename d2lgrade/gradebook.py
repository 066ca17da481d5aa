"""d2lgrade's scores in nbgrader's gradebook, recorded as ``nbgrader autograde`` records its own.

nbgrader's own autograde step runs here with one change: where it would run
the notebook in a kernel, d2lgrade's results fill each test cell's output
(the per-check report, then the question's points, which nbgrader reads as
partial credit). The rest is nbgrader's: the student and submission records,
the ``autograded/<student>/<assignment>/`` copy that formgrader and
``generate_feedback`` read, late penalties, written answers left for manual
grading, and manual scores, which a regrade never touches.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbgrader.utils import capture_log
from sqlalchemy.exc import SAWarning
from traitlets.config import Config, PyFileConfigLoader

from d2lgrade.course import Assignment, Course
from d2lgrade.results import QuestionResult, SubmissionResult
from d2lgrade.selfcheck import question_report

__all__ = ["GradebookError", "default_db_url", "nbgrader_config", "record"]


class GradebookError(Exception):
    """nbgrader could not record an assignment (a staff-facing problem)."""


def nbgrader_config(course_root: Path, db_url: str | None = None) -> Config:
    """The course's ``nbgrader_config.py``, rooted at ``course_root``; ``db_url`` overrides its database."""
    config = Config()
    if (course_root / "nbgrader_config.py").is_file():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config())
    config.CourseDirectory.root = str(course_root.resolve())
    if db_url:
        config.CourseDirectory.db_url = db_url
    return config


def default_db_url(course_root: Path) -> str:
    """The gradebook nbgrader uses for this course: its configured URL, else ``sqlite:///<course>/gradebook.db``."""
    return CourseDirectory(config=nbgrader_config(Path(course_root))).db_url


def record(results: Sequence[SubmissionResult], course_root: Path, db_url: str | None = None) -> dict[str, str]:
    """Write each result into nbgrader's gradebook, per grade cell, as ``nbgrader autograde`` would.

    Submissions must sit where nbgrader keeps them,
    ``<course>/submitted/<student>/<assignment>/<assignment>.ipynb``; the
    assignment is added to the gradebook (as ``nbgrader generate_assignment``
    does) when it is missing or its points changed. Returns the submissions
    that nbgrader could not autograde, ``"student/assignment"`` to why: their
    autograded scores are recorded all the same, without an autograded
    notebook for formgrader to show.
    """
    course_root = Path(course_root).resolve()
    course = Course(course_root)
    config = nbgrader_config(course_root, db_url)
    known = set(course.assignment_names())
    problems = {}
    with _alembic_on_path(), warnings.catch_warnings():
        # nbgrader's own session handling makes SQLAlchemy warn; nothing an instructor can act on
        warnings.simplefilter("ignore", SAWarning)
        for name in dict.fromkeys(r.assignment for r in results if r.assignment in known):
            _ensure_assignment(config, course.assignment(name))
        for result in results:
            key = f"{result.student}/{result.assignment}"
            if result.assignment not in known:
                problems[key] = "not an assignment of the course: nothing recorded"
            elif why := _autograde(config, course.assignment(result.assignment), result):
                problems[key] = why
    return problems


@contextlib.contextmanager
def _alembic_on_path() -> Iterator[None]:
    """nbgrader stamps a new gradebook by running the ``alembic`` installed next to this Python."""
    saved = os.environ.get("PATH")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{saved or ''}"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PATH"]
        else:
            os.environ["PATH"] = saved


def _run(converter) -> str | None:
    """Run an nbgrader converter; None when it succeeded, else its log and error."""
    outcome = capture_log(converter)
    if outcome["success"]:
        return None
    return (outcome.get("log", "") + outcome.get("error", "")).strip()


#: A traceback's last line: ``nbformat.reader.NotJSONError: Notebook does not appear to be JSON``.
_RAISED = re.compile(r"^\s*[\w.]+(Error|Exception): ")


def _last_exception(log: str) -> str:
    """What stopped a converter, rather than nbgrader's "see the above traceback"."""
    raised = [line.strip() for line in log.splitlines() if _RAISED.match(line) and "NbGraderException" not in line]
    return raised[-1] if raised else log.strip().splitlines()[-1]


def _recorded_points(coursedir: CourseDirectory, assignment: str) -> dict[str, float]:
    """The gradebook's grade cells for the assignment's notebook, grade_id to points."""
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        try:
            notebook = gradebook.find_notebook(assignment, assignment)
        except MissingEntry:
            return {}
        return {cell.name: cell.max_score for cell in notebook.grade_cells}


def _ensure_assignment(config: Config, spec: Assignment) -> None:
    """Record the assignment's cells as ``nbgrader generate_assignment`` does, unless the
    gradebook already holds them with today's points.

    The release goes to a temporary folder: the course's own stubs stay as they are.
    """
    coursedir = CourseDirectory(config=config, assignment_id=spec.name)
    if _recorded_points(coursedir, spec.name) == {q.grade_id: q.points for q in spec.questions}:
        return
    with tempfile.TemporaryDirectory(prefix="d2lgrade-release-") as release:
        coursedir.release_directory = release
        generate = GenerateAssignment(coursedir=coursedir, config=config)
        generate.force = True
        failure = _run(generate)
    if failure:
        raise GradebookError(f"nbgrader generate_assignment {spec.name} failed:\n{failure[-3000:]}")


def _autograde(config: Config, spec: Assignment, result: SubmissionResult) -> str | None:
    """Run nbgrader's autograde on one submission with d2lgrade's results in place of a kernel."""
    coursedir = CourseDirectory(config=config, assignment_id=result.assignment, student_id=result.student)
    folder = Path(coursedir.format_path(coursedir.submitted_directory, result.student, result.assignment))
    expected = folder / f"{spec.name}.ipynb"
    path = Path(result.path).absolute()
    in_place = path.name == expected.name and path.parent.resolve() == folder.resolve()
    if not in_place or any(p.is_symlink() for p in (expected, folder, folder.parent)):
        _write_scores(coursedir, spec, result)
        return f"{result.path} is not nbgrader's {expected}: scores recorded without an autograded notebook"
    autograde = Autograde(coursedir=coursedir, config=config)
    autograde.force = True
    autograde.create_student = True
    fill = _TestCellFiller(spec, result)
    autograde.autograde_preprocessors = [fill if step is Execute else step for step in autograde.autograde_preprocessors]
    if fill not in autograde.autograde_preprocessors:
        raise GradebookError("nbgrader_config.py leaves Execute out of Autograde.autograde_preprocessors: d2lgrade's scores have no place to go")
    failure = _run(autograde)
    if failure:
        _write_scores(coursedir, spec, result)
        return f"nbgrader could not autograde {expected} ({_last_exception(failure)}): scores recorded without an autograded notebook"
    return None


class _TestCellFiller:
    """An nbconvert preprocessor: each test cell gets the output its hidden test would have
    printed in the kernel (``d2lgrade.nbgrader.grade_question``), from d2lgrade's results."""

    def __init__(self, spec: Assignment, result: SubmissionResult):
        self.questions = {spec.question(q.name).grade_id: q for q in result.questions if q.autograded}
        self.error = result.error

    def __call__(self, notebook: nbformat.NotebookNode, resources: dict) -> tuple[nbformat.NotebookNode, dict]:
        for cell in notebook.cells:
            question = self.questions.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if cell.cell_type == "code" and question is not None:
                cell.outputs = _outputs(question, self.error)
        return notebook, resources


def _outputs(question: QuestionResult, error: str | None) -> list[nbformat.NotebookNode]:
    """The report on stdout, then the points as the cell's value, which nbgrader reads as partial credit."""
    report = question_report(question, public=False)
    if error:
        report = f"{error}\n{report}"
    return [
        nbformat.v4.new_output("stream", name="stdout", text=report + "\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": repr(question.score)}, execution_count=None),
    ]


def _write_scores(coursedir: CourseDirectory, spec: Assignment, result: SubmissionResult) -> None:
    """d2lgrade's question scores straight into the grades, for a submission nbgrader cannot autograde."""
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        gradebook.update_or_create_student(result.student)
        gradebook.update_or_create_submission(result.assignment, result.student)
        for question in result.questions:
            if question.autograded:
                grade = gradebook.find_grade(spec.question(question.name).grade_id, spec.name, spec.name, result.student)
                grade.auto_score = question.score
                grade.needs_manual_grade = grade.manual_score is not None
        gradebook.db.commit()
