"""Grade one generated class with `nbgrader autograde` and with `d2lgrade autograde`: speed and scores.

    .venv/bin/python bench/nbgrader_vs_d2lgrade.py            # 60 linreg_scratch students
    .venv/bin/python bench/nbgrader_vs_d2lgrade.py --quick    # 3 students, one run of each

The class is the reference, the catalogue's correct alternatives and its wrong
answers, each filled into the committed stub. Both tools grade the same
notebooks in one nbgrader course folder; the script prints their wall times,
submissions per second, the ratio, every per-question disagreement, and
d2lgrade's overhead per submission. It exits 1 when the two disagree on an
honest submission (the reference or a correct alternative).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from d2lgrade.catalogue import discover
from d2lgrade.course import Course
from d2lgrade.export.json_results import read_json
from d2lgrade.fill import filled_stub

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
CATALOGUE = ROOT / "tests" / "catalogue"
ASSIGNMENT = "linreg_scratch"
#: Scores closer than this are the same (both tools round a question's score to 4 decimals).
TOLERANCE = 1e-3
#: Notebooks without code in the larger empty class, enough to tell their cost from the start-up.
EMPTY_CLASS = 10
#: The question a student checks in the check timings (one with helpers of its own: linreg's output).
CHECKED = "squared_loss"
#: What a kernel runs for ``check(CHECKED)``: the notebook's code cells in one namespace, then the check,
#: timed on its own (the first call, which also loads the checks, and the median of three more). Of the
#: cells, those that define what is graded and what that reads (as grading slices them): the
#: demonstrations take seconds, and what the check calls is the same without them.
KERNEL_CHECK = """
import contextlib, io, json, statistics, sys, time
from pathlib import Path
import nbformat
from d2lgrade.course import Course
from d2lgrade.notebook import CodeCell
from d2lgrade.selfcheck import checks_for
from d2lgrade.slicing import needed_cells
root, notebook, question = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.enable_gui = lambda gui=None: None  # %matplotlib inline, as a kernel takes it
cells = [CodeCell(index, cell.source) for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells)
         if cell.cell_type == "code" and "check" not in cell.metadata.get("tags", [])]  # not the self-check cells
course = Course(root)
needed = needed_cells(cells, [q.name for q in course.assignment("ASSIGNMENT").autograded])
with contextlib.redirect_stdout(io.StringIO()):
    for cell in cells:
        if cell.index in needed.run:
            shell.run_cell(cell.source).raise_error()
check, _ = checks_for("ASSIGNMENT", shell.user_ns, course=course, colour=False)
seconds = []
for _ in range(4):
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        check(question)
    seconds.append(time.perf_counter() - start)
print(json.dumps({"first": seconds[0], "again": statistics.median(seconds[1:]), "printed": printed.getvalue()}))
""".replace('"ASSIGNMENT"', repr(ASSIGNMENT))


@dataclasses.dataclass(frozen=True)
class Student:
    name: str
    honest: bool
    """the reference or a correct alternative: both tools must give it the same scores"""
    notebook: nbformat.NotebookNode


def make_class(size: int) -> list[Student]:
    """The reference, then correct alternatives and wrong answers in turn, until there are ``size``."""
    cases = [c for c in discover(CATALOGUE) if c.assignment == ASSIGNMENT and not c.missing()]
    correct = [c for c in cases if c.kind == "correct"]
    wrong = [c for c in cases if c.kind == "wrong"]
    in_turn = [c for pair in itertools.zip_longest(correct, wrong) for c in pair if c is not None]
    if size - 1 > len(in_turn):
        raise SystemExit(f"the {ASSIGNMENT} catalogue has {len(in_turn)} cases: at most {len(in_turn) + 1} students")
    students = [Student("reference", True, filled_stub(COURSE, ASSIGNMENT))]
    for case in in_turn[: size - 1]:
        students.append(Student(case.student, case.kind == "correct", filled_stub(COURSE, ASSIGNMENT, {case.question: case.source})))
    return students


def _tool_env() -> dict[str, str]:
    # nbgrader runs the `alembic` command it installed next to this Python, and its kernel must import d2lgrade.
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def run_timed(command: list[str], cwd: Path, *, ok: tuple[int, ...] = (0,)) -> float:
    """Run a command; return its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_tool_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(command[:5])} ... exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds


def nbgrader(root: Path, *args: str) -> float:
    return run_timed([sys.executable, "-m", "nbgrader", *args], root)


def write_course(root: Path, students: list[Student]) -> None:
    """An nbgrader course folder with the class in ``submitted/`` and the assignment generated."""
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    shutil.copytree(ROOT / "graders", root / "graders")
    shutil.copyfile(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for student in students:
        nbformat.write(student.notebook, _notebook_path(root / "submitted", student.name))
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")


def write_empty_class(folder: Path, size: int) -> None:
    """``size`` notebooks without a single code cell: everything d2lgrade spends on them is overhead."""
    for index in range(size):
        nbformat.write(nbformat.v4.new_notebook(), _notebook_path(folder, f"empty-{index:02d}"))


def _notebook_path(submitted: Path, student: str) -> Path:
    folder = submitted / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{ASSIGNMENT}.ipynb"


def d2lgrade_accepts_jobs() -> bool:
    done = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "autograde", "--help"], capture_output=True, text=True, check=True)
    return "--jobs" in done.stdout


def d2lgrade(root: Path, submitted: Path, out: Path, jobs: int | None) -> float:
    command = [sys.executable, "-m", "d2lgrade.cli", "--course", str(root), "autograde", str(submitted), "--out", str(out)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    return run_timed(command, root, ok=(0, 3))  # 3: a grader broke on some test; the score comparison shows it


def nbgrader_scores(root: Path, students: list[Student]) -> dict[str, dict[str, float]]:
    """Each student's autograded score per question, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in students:
            try:
                notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student.name)
            except MissingEntry:
                scores[student.name] = {}
                continue
            scores[student.name] = {
                grade.name.removeprefix("test_"): grade.score
                for grade in notebook.grades
                if grade.auto_score is not None and grade.name.startswith("test_")
            }
    return scores


def d2lgrade_scores(results: Path) -> dict[str, dict[str, float]]:
    return {r.student: {q.name: q.score for q in r.questions if q.autograded} for r in read_json(results)}


def disagreements(theirs: dict[str, float], ours: dict[str, float]) -> dict[str, tuple[float | None, float | None]]:
    """Questions whose score differs: {question: (nbgrader's, d2lgrade's)}; None where one has no score."""
    return {
        q: (theirs.get(q), ours.get(q))
        for q in sorted(theirs.keys() | ours.keys())
        if q not in theirs or q not in ours or abs(theirs[q] - ours[q]) > TOLERANCE
    }


def compare_scores(students: list[Student], theirs: dict[str, dict[str, float]], ours: dict[str, dict[str, float]]) -> bool:
    """Print every disagreement; return whether the honest submissions all agree."""
    differing = {s.name: disagreements(theirs.get(s.name, {}), ours.get(s.name, {})) for s in students}
    for student in students:
        if differing[student.name]:
            shown = ", ".join(f"{q} {_score(a)} vs {_score(b)}" for q, (a, b) in differing[student.name].items())
            print(f"  disagree on {student.name} ({'honest' if student.honest else 'wrong answer'}; nbgrader vs d2lgrade): {shown}")
    honest = [s for s in students if s.honest]
    others = [s for s in students if not s.honest]
    print(f"scores: nbgrader and d2lgrade agree on {sum(not differing[s.name] for s in honest)} of {len(honest)} honest submissions"
          f" and {sum(not differing[s.name] for s in others)} of {len(others)} others")
    return not any(differing[s.name] for s in honest)


def _score(score: float | None) -> str:
    return "missing" if score is None else f"{score:g}"


def mean_graded_seconds(results: Path) -> float:
    """Mean over submissions of the time in their cells and in the grader tests' calls."""
    return statistics.fmean(r.seconds for r in read_json(results))


@dataclasses.dataclass
class D2lgradeRuns:
    """Wall times of ``d2lgrade autograde`` on the class and on two classes of notebooks without code.

    The small empty class has a notebook per worker, so that both empty runs
    start the same workers: one notebook alone is graded without any.
    """

    jobs: int | None
    classes: list[Path] = dataclasses.field(default_factory=list)
    """each class run's output folder"""
    walls: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {"class": [], "empty": [], "few": []})

    def wall(self, kind: str) -> float:
        return statistics.median(self.walls[kind])


def time_d2lgrade(tmp: Path, root: Path, repeats: int, jobs: int | None) -> D2lgradeRuns:
    """The three d2lgrade runs, in turn, ``repeats`` times (so that a busy spell hits all three alike)."""
    runs = D2lgradeRuns(jobs)
    for repeat in range(repeats):
        out = tmp / f"d2lgrade-{repeat}"
        runs.walls["class"].append(d2lgrade(root, root / "submitted", out, jobs))
        runs.classes.append(out)
        runs.walls["empty"].append(d2lgrade(root, tmp / "empty", tmp / "out-empty", jobs))
        runs.walls["few"].append(d2lgrade(root, tmp / "empty-few", tmp / "out-few", jobs))
    return runs


def time_cli_check(root: Path, repeats: int) -> float:
    """Median wall time of ``d2lgrade check <reference> --question CHECKED``, the whole command."""
    notebook = _notebook_path(root / "submitted", "reference")
    command = [sys.executable, "-m", "d2lgrade.cli", "--course", str(root), "check", str(notebook), "--question", CHECKED]
    return statistics.median(run_timed(command, root) for _ in range(repeats))


def time_kernel_check(root: Path) -> dict:
    """``check(CHECKED)`` in a kernel-like process that ran the reference's cells: the first call's
    seconds and the median of three more."""
    notebook = _notebook_path(root / "submitted", "reference")
    done = subprocess.run([sys.executable, "-c", KERNEL_CHECK, str(root), str(notebook), CHECKED], cwd=root, env=_tool_env(),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the in-kernel check failed:\n{done.stderr[-3000:]}")
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    if not timings["printed"].strip() or "✗" in timings["printed"]:
        raise SystemExit(f"the in-kernel check of the reference did not pass:\n{timings['printed']}")
    return timings


def report_checks(cli_seconds: float, kernel: dict, repeats: int) -> None:
    print(f"d2lgrade check --question {CHECKED}: {cli_seconds:.1f} s (median of {repeats}, the whole command)")
    print(f"in-kernel check({CHECKED!r}): {kernel['first'] * 1000:.0f} ms the first time, {kernel['again'] * 1000:.0f} ms after")


def report_overhead(runs: D2lgradeRuns, n: int, empties: int, few: int) -> None:
    """d2lgrade's time per submission beyond the submission's own cells and grader tests.

    Model: wall = start-up + n * (overhead + cell and test time) / workers. The
    runs on ``empties`` and on ``few`` notebooks without code give the start-up
    and what such a notebook costs; the class run then gives the overhead of a real one.
    """
    workers = runs.jobs or 1
    graded = statistics.median(mean_graded_seconds(out / "results.json") for out in runs.classes)
    empty = (runs.wall("empty") - runs.wall("few")) * workers / (empties - few)
    startup = runs.wall("few") - empty * few / workers
    shared_out = runs.wall("class") * workers / n - graded
    beyond_startup = (runs.wall("class") - startup) * workers / n - graded
    print(f"d2lgrade on {empties} notebooks without code: {runs.wall('empty'):.1f} s, on {few}: {runs.wall('few'):.1f} s"
          f" -> start-up {startup:.2f} s per run, {empty * 1000:.0f} ms per notebook without code")
    print(f"d2lgrade overhead per submission beyond its cells and tests (mean {graded * 1000:.0f} ms of them):"
          f" {beyond_startup * 1000:.0f} ms, or {shared_out * 1000:.0f} ms with the start-up shared out")


def main(argv: list[str] | None = None) -> int:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60, help="class size (default: 60)")
    parser.add_argument("--repeats", type=int, default=3, help="d2lgrade runs; the median counts (default: 3)")
    parser.add_argument("--nbgrader-repeats", type=int, default=1, help="nbgrader runs; the median counts (default: 1)")
    parser.add_argument("--jobs", type=int, default=cores, help=f"d2lgrade's --jobs, where it has one (default: the {cores} cores)")
    parser.add_argument("--quick", action="store_true", help="3 students (2 honest), one run of each")
    args = parser.parse_args(argv)
    if args.quick:
        args.students, args.repeats, args.nbgrader_repeats = 3, 1, 1
    if args.students < 2:
        parser.error("--students must be at least 2")
    jobs = args.jobs if d2lgrade_accepts_jobs() else None

    with tempfile.TemporaryDirectory(prefix="d2lgrade-bench-") as folder:
        tmp = Path(folder)
        root = tmp / "course"
        students = make_class(args.students)
        few = jobs or 1  # a notebook per worker: fewer would leave some workers unstarted
        empties = max(EMPTY_CLASS, 2 * few)
        write_course(root, students)
        write_empty_class(tmp / "empty", empties)
        write_empty_class(tmp / "empty-few", few)
        honest = sum(s.honest for s in students)
        print(f"class: {len(students)} {ASSIGNMENT} submissions ({honest} honest: the reference and correct alternatives;"
              f" {len(students) - honest} wrong answers) on {cores} cores")

        nbgrader_walls = [nbgrader(root, "autograde", ASSIGNMENT, "--force") for _ in range(args.nbgrader_repeats)]
        theirs = nbgrader_scores(root, students)  # read now, before d2lgrade touches the course folder
        runs = time_d2lgrade(tmp, root, args.repeats, jobs)

        n, nbgrader_wall = len(students), statistics.median(nbgrader_walls)
        jobs_note = f"--jobs {jobs}" if jobs else "no --jobs option: one process"
        print(f"nbgrader autograde: {nbgrader_wall:.1f} s (median of {len(nbgrader_walls)}), {n / nbgrader_wall:.2f} submissions/s")
        print(f"d2lgrade autograde: {runs.wall('class'):.1f} s (median of {len(runs.classes)}, {jobs_note}),"
              f" {n / runs.wall('class'):.2f} submissions/s")
        print(f"ratio: d2lgrade grades {nbgrader_wall / runs.wall('class'):.1f} times as many submissions per second as nbgrader")
        agree = compare_scores(students, theirs, d2lgrade_scores(runs.classes[0] / "results.json"))
        report_overhead(runs, n, empties, few)
        report_checks(time_cli_check(root, args.repeats), time_kernel_check(root), args.repeats)
    if not agree:
        print("FAIL: nbgrader and d2lgrade disagree on honest submissions", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
