"""nbgrader's side: grading in the student's kernel, and generating the student stubs.

Under ``nbgrader autograde`` each test cell's hidden part calls
``grade_question``, which runs that question's graders in the kernel (student
code can interfere there, which is why ``d2lgrade autograde`` grades from
outside) and leaves the partial score as the cell's result, which nbgrader
reads as partial credit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from d2lgrade.course import Course, CourseError, find_course
from d2lgrade.selfcheck import question_report, question_results, quiet, run_in_kernel

__all__ = ["generate_stubs", "grade_question"]


def grade_question(assignment: str, question: str, namespace: MutableMapping[str, Any], *, seed: int = 0) -> float:
    """Grade one question against the functions in ``namespace``; return its points.

    Prints one line per test on stdout; nothing goes to stderr, which nbgrader
    would read as an error worth zero points.
    """
    from d2lgrade.grade import load_reference

    with quiet():
        spec = find_course().assignment(assignment)
        reference = load_reference(spec)
    tests = run_in_kernel(spec, namespace, questions={question}, reference=reference, public_only=False, seed=seed,
                          self_check=False)
    (result,) = question_results(spec, tests, {question})
    print(question_report(result, public=False))
    return result.score


def generate_stubs(course: Course, names: Sequence[str], out: Path) -> list[Path]:
    """Run ``nbgrader generate_assignment`` on copies of the source notebooks; write stubs under ``out``."""
    if course.released:
        raise CourseError(f"{course.root} is a student release: it has no solutions/ to make stubs from")
    written = []
    # nbgrader runs the `alembic` command it installed next to this Python.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with tempfile.TemporaryDirectory(prefix="d2lgrade-stubs-") as tmp:
        root = Path(tmp)
        shutil.copyfile(course.root / "nbgrader_config.py", root / "nbgrader_config.py")
        for name in names:
            shutil.copytree(course.root / "solutions" / name, root / "source" / name)
            command = [
                sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
                f"--CourseDirectory.root={root}",
                "--CourseDirectory.source_directory=source",
                "--CourseDirectory.release_directory=release",
                f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}",
            ]
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{done.stderr[-3000:]}")
            target = out / name / f"{name}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / "release" / name / f"{name}.ipynb", target)
            written.append(target)
    return written
