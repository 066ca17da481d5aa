"""A Gradescope autograder for one assignment, and the ``results.json`` it writes.

``build`` makes the zip Gradescope takes (its specification:
https://gradescope-autograders.readthedocs.io/en/latest/specs/): ``setup.sh``
installs d2lgrade's dependencies into a venv when Gradescope builds the image;
``run_autograder`` grades the notebook in ``/autograder/submission`` with the
bundled course and writes ``/autograder/results/results.json``.

Each d2lgrade check becomes one Gradescope test worth its share of its
question's points, so the tests add up to the question scores d2lgrade gives.
Public checks are visible at once; hidden checks, with their messages, appear
after the due date (the messages say what was expected and what came back,
never the grader's code).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from d2lgrade.course import Course, CourseError, find_course

if TYPE_CHECKING:  # d2lgrade.results imports torch: too slow for the command line's start
    from d2lgrade.results import QuestionResult, SubmissionResult

__all__ = ["add_gradescope_command", "build", "results_json", "run"]

#: The checkout d2lgrade runs from: its package, requirements.txt, requirements.lock and pyproject.toml go
#: into the zip.
PROJECT = Path(__file__).resolve().parent.parent
#: What Gradescope calls the student in its folders; d2lgrade's results need a name.
STUDENT = "submission"
#: Zip entries get one fixed date so that the same course builds the same zip.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source when it builds the
# autograder image: a venv with what d2lgrade needs, as scripts/setup makes it.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

apt-get update
if python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  python=python3
  apt-get install -y python3-venv   # Ubuntu ships venv apart from python3
else
  # Ubuntu 22.04's python3 is 3.10; d2lgrade needs 3.11 or newer
  apt-get install -y python3.11 python3.11-venv
  python=python3.11
fi

"$python" -m venv .venv
.venv/bin/python -m pip install --upgrade pip
# Gradescope has no GPU: the CPU build of torch is a fraction of the download.
# The lock's torch and torchvision (torch==X takes X+cpu), their dependencies from that index as
# it has them; then the rest, and those dependencies, at the lock's versions from PyPI.
.venv/bin/python -m pip install --index-url https://download.pytorch.org/whl/cpu $(grep -E '^torch(vision)?==' requirements.lock)
.venv/bin/python -m pip install -c requirements.lock -r requirements.txt
# d2l's own pins (numpy 1.23, pandas 2.0) do not install on current Pythons;
# the packages it imports are in requirements.txt instead.
.venv/bin/python -m pip install -c requirements.lock --no-deps d2l==1.0.3
.venv/bin/python -m pip install --no-deps .
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this from /autograder for each submission. AUTOGRADER_ROOT
# and D2LGRADE_PYTHON point it at another root and Python (for testing).
set -euo pipefail
root=${{AUTOGRADER_ROOT:-/autograder}}
python=${{D2LGRADE_PYTHON:-$root/source/.venv/bin/python}}
# The bundled course and d2lgrade, whatever else the Python has installed.
export D2LGRADE_COURSE="$root/source"
export PYTHONPATH="$root/source${{PYTHONPATH:+:$PYTHONPATH}}"
exec "$python" -m d2lgrade.gradescope "$root" {assignment}
"""


def build(course: Course, assignment: str, out_zip: Path) -> Path:
    """Write the autograder zip for ``assignment``: the two scripts at its root, then the
    course files grading reads and the d2lgrade package."""
    if course.released:
        raise CourseError(f"{course.root} is a student release: a Gradescope autograder needs the solutions")
    spec = course.assignment(assignment)
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as bundle:
        _add(bundle, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(bundle, "run_autograder", RUN_AUTOGRADER.format(assignment=spec.name).encode(), executable=True)
        for name, path in _bundled_files(course, spec.name):
            _add(bundle, name, path.read_bytes())
    return out_zip


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, *, executable: bool = False) -> None:
    entry = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    entry.external_attr = (0o755 if executable else 0o644) << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(entry, data)


def _bundled_files(course: Course, assignment: str) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file here): this assignment's source, stub and graders, the course's
    nbgrader config, and the d2lgrade package with what installs it."""
    others = set(course.assignment_names()) - {assignment}
    for folder in ("solutions", "assignments"):
        yield from _tree(course.root, course.root / folder / assignment)
    for path in _files(course.graders):
        if path.stem not in others:
            yield path.relative_to(course.root).as_posix(), path
    for name in ("nbgrader_config.py",):
        if (course.root / name).is_file():
            yield name, course.root / name
    for name in ("requirements.txt", "requirements.lock", "pyproject.toml", "README.md"):
        if not (PROJECT / name).is_file():
            raise CourseError(f"d2lgrade's {name} is missing from {PROJECT}: the autograder cannot install it")
        yield name, PROJECT / name
    yield from _tree(PROJECT, PROJECT / "d2lgrade")


def _tree(base: Path, folder: Path) -> Iterator[tuple[str, Path]]:
    for path in _files(folder):
        yield path.relative_to(base).as_posix(), path


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc"))


# --- grading on Gradescope ---------------------------------------------------


def results_json(result: SubmissionResult, seconds: float) -> dict:
    """Gradescope's ``results.json`` for one graded submission."""
    tests = []
    graded = [q for q in result.questions if q.autograded]
    for number, question in enumerate(graded, 1):
        tests += _question_tests(number, question, result.error)
    return {
        "score": result.score,
        "execution_time": round(seconds, 2),
        "output": _overview(result),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _question_tests(number: int, question: QuestionResult, error: str | None) -> list[dict]:
    """One Gradescope test per check that ran, each worth an equal share of the question's points
    (d2lgrade's rule); a question none of whose checks ran is one failed test worth all of them."""
    counted = [t for t in question.tests if t.outcome != "skipped"]
    if not counted:
        why = error or "None of this question's checks could run here."
        return [_test(f"{number}", question.name, 0.0, question.points, why, hidden=False)]
    share = question.points / len(counted)
    return [
        _test(f"{number}.{index}", f"{question.name}: {test.name}", share if test.outcome == "passed" else 0.0, share, test.message, hidden=test.hidden)
        for index, test in enumerate(counted, 1)
    ]


def _test(number: str, name: str, score: float, max_score: float, output: str, *, hidden: bool) -> dict:
    return {
        "number": number,
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": "passed" if score >= max_score else "failed",
        "output": output,
        "visibility": "after_due_date" if hidden else "visible",
    }


def _overview(result: SubmissionResult) -> str:
    """What a student sees above the tests: why grading stopped, which cells failed, and that
    hidden checks count now but show later."""
    lines = [f"Your notebook could not be graded: {result.error}"] if result.error else []
    failed = [c for c in result.cells if not c.ok]
    if failed:
        listed = ", ".join(f"cell {c.index + 1} ({c.ename or c.status})" for c in failed)
        lines.append(f"{len(failed)} cell(s) of your notebook stopped with an error: {listed}.")
    tests = [t for q in result.questions for t in q.tests if t.outcome != "skipped"]
    public = [t for t in tests if not t.hidden]
    lines.append(f"{sum(t.outcome == 'passed' for t in public)} of {len(public)} public checks passed.")
    hidden = len(tests) - len(public)
    if hidden:
        lines.append(f"{hidden} hidden checks count towards your score now; they are shown after the due date.")
    return "\n".join(lines)


def _submitted_notebook(folder: Path, assignment: str, course: Course) -> Path | None:
    """The notebook to grade among what the student uploaded: ``<assignment>.ipynb``, else one
    whose graded cells are this assignment's, else any notebook (its grading says what is wrong)."""
    from d2lgrade.submissions import guess_assignment

    notebooks = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    for path in notebooks:
        if path.name == f"{assignment}.ipynb":
            return path
    for path in notebooks:
        if guess_assignment(path, course) == assignment:
            return path
    return notebooks[0] if notebooks else None


def run(root: Path, assignment: str) -> dict:
    """Grade ``<root>/submission`` with the course in ``<root>/source``; write and return
    ``<root>/results/results.json``. Staff details go to stdout, which students do not see."""
    from d2lgrade.grade import Submission, grade
    from d2lgrade.results import SubmissionResult
    from d2lgrade.table import print_table

    started = time.monotonic()
    course = Course(root / "source")
    spec = course.assignment(assignment)
    notebook = _submitted_notebook(root / "submission", assignment, course)
    if notebook is None:
        result = SubmissionResult.from_error(
            student=STUDENT, assignment=assignment, path=str(root / "submission"), seed=0,
            error=f"no notebook was submitted: upload {assignment}.ipynb", questions=spec.questions,
        )
    else:
        (result,) = grade([Submission(STUDENT, assignment, notebook)], course=course)
    data = results_json(result, time.monotonic() - started)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table([result])
    for test in result.grader_errors:
        print(f"GRADER ERROR in {test.test_id}:\n{test.staff_detail}")
    return data


# --- the command line --------------------------------------------------------


def add_gradescope_command(verbs: argparse._SubParsersAction) -> None:
    """``d2lgrade gradescope ASSIGNMENT -o autograder.zip``."""
    command = verbs.add_parser("gradescope", help="build a Gradescope autograder zip for one assignment")
    command.add_argument("assignment", help="the assignment to grade on Gradescope")
    command.add_argument("-o", "--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default: autograder.zip)")
    command.set_defaults(run=_build_command)


def _build_command(args: argparse.Namespace) -> int:
    path = build(find_course(args.course), args.assignment, args.out)
    print(f"wrote {path}: upload it as the autograder of the Gradescope assignment {args.assignment}")
    return 0


def main(argv: list[str]) -> int:
    """``python -m d2lgrade.gradescope ROOT ASSIGNMENT``, what ``run_autograder`` calls."""
    root, assignment = argv
    run(Path(root), assignment)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
