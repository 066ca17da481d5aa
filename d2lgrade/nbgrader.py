"""nbgrader's side: grading in the student's kernel, and generating the student stubs.

Under ``nbgrader autograde`` each test cell's hidden part calls
``grade_question``, which runs that question's graders in the kernel (student
code can interfere there, which is why ``d2lgrade autograde`` grades from
outside) and leaves the partial score as the cell's result, which nbgrader
reads as partial credit.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from d2lgrade.course import Course, find_course
from d2lgrade.execute import NotebookRun
from d2lgrade.notebook import CodeCell, top_level_definitions
from d2lgrade.plugin import OpenSubmission, Target, run_graders
from d2lgrade.results import share_points
from d2lgrade.transport import InProcessTransport

__all__ = ["generate_stubs", "grade_question"]

_MARKS = {"passed": "✓", "failed": "✗", "error": "✗", "grader_error": "!", "skipped": "-"}


def grade_question(assignment: str, question: str, namespace: MutableMapping[str, Any], *, seed: int = 0) -> float:
    """Grade one question against the functions in ``namespace``; return its points.

    Prints one line per test on stdout; nothing goes to stderr, which nbgrader
    would read as an error worth zero points.
    """
    from d2lgrade.grade import load_reference

    noise = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(noise):
        warnings.simplefilter("ignore")
        spec = find_course().assignment(assignment)
        history = [source for source in namespace.get("In", []) if isinstance(source, str)]
        functions = top_level_definitions([CodeCell(i, source) for i, source in enumerate(history)])
        run = NotebookRun([], lambda: InProcessTransport(namespace), seed=seed)
        opened = OpenSubmission(run, functions, [], seed)
        tests, _ = run_graders(
            spec, [Target("kernel", lambda: opened)], reference=load_reference(spec), questions={question}
        )
    found = tests["kernel"]
    points = spec.question(question).points
    score = share_points(points, (t.outcome for t in found))
    print(f"{question}: {score:g} / {points:g} points")
    for test in found:
        print(f"  {_MARKS[test.outcome]} {test.name}" + (f"\n      {test.message}" if test.message and test.outcome != "skipped" else ""))
    return score


def generate_stubs(course: Course, names: Sequence[str], out: Path) -> list[Path]:
    """Run ``nbgrader generate_assignment`` on copies of the source notebooks; write stubs under ``out``."""
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
