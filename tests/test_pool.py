"""A whole class: grading in parallel workers, results written as they come, resuming a killed run, progress."""

import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from test_engine import REFERENCE, SUBMISSIONS, _notebook, course  # noqa: F401 - course: the toy course fixture
from test_zygote import children_of, running, wait_until

from d2lgrade.cli import main
from d2lgrade.course import Course
from d2lgrade.grade import Submission, grade
from d2lgrade.plugin import GraderError
from d2lgrade.pool import Pool, WorkerError, grade_many
from d2lgrade.progress import GradingProgress
from d2lgrade.results import SubmissionResult
from d2lgrade.store import ResultStore, graded_with

#: A line of the progress off a terminal: ``[3/15] ben toy 2/3 (about 40 s left)``.
PROGRESS_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+) (\S+) (\S+)(?: \(about \d+ (?:s|min) left\))?$")


def _without_times(value):
    """A result as JSON, without the seconds things took (the only parts that may differ between runs)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("seconds", "used")}
    if isinstance(value, (list, tuple)):
        return [_without_times(v) for v in value]
    return value


def _as_json(results: list[SubmissionResult]) -> list:
    return [_without_times(r.to_dict()) for r in results]


def _write_class(folder: Path, notebooks: dict) -> list[Submission]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{name}.ipynb")
    return [Submission(name, "toy", folder / f"{name}.ipynb") for name in notebooks]


def _progress(stderr: str) -> list[tuple[str, ...]]:
    return [m.groups() for m in map(PROGRESS_LINE.match, stderr.splitlines()) if m]


# --------------------------------------------------------------------------- workers
@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> list[Submission]:
    fast = {name: notebook for name, notebook in SUBMISSIONS.items() if name != "hangs"}
    folder = tmp_path_factory.mktemp("class")
    submissions = _write_class(folder, fast)
    (folder / "garbage.ipynb").write_text("{not json")
    return [
        *submissions,
        Submission("garbage", "toy", folder / "garbage.ipynb"),
        Submission("nobody_knows", None, folder / "reference.ipynb"),
        Submission("own_seed", "toy", folder / "wrong.ipynb", seed=11),
    ]


def test_two_workers_grade_exactly_as_one_process(course, small_class):
    here = grade_many(small_class, course=course, jobs=1, seed=3, call_timeout=5.0)
    started, finished = [], []
    with Pool(2) as pool:
        spread = pool.grade(small_class, course=course, seed=3, call_timeout=5.0, chunk=1,
                            on_start=lambda s: started.append(s.student), on_result=lambda r: finished.append(r.student))
        workers = [w.pid for w in pool.workers]
        backwards = pool.grade(small_class[::-1], course=course, seed=3, call_timeout=5.0)
        assert [w.pid for w in pool.workers] == workers  # the same workers (and zygotes) serve both calls
    assert [r.student for r in spread] == [s.student for s in small_class]
    assert _as_json(spread) == _as_json(here)
    assert _as_json(backwards[::-1]) == _as_json(here)
    assert [r.seed for r in spread] == [3] * (len(small_class) - 1) + [11]
    assert sorted(finished) == sorted(s.student for s in small_class)
    # the notebooks that could not be read or matched never start
    assert sorted(started) == sorted(s.student for s in small_class if s.student not in ("garbage", "nobody_knows"))


def test_graders_that_cannot_run_stop_every_worker(course, tmp_path):
    import shutil

    broken = tmp_path / "course"
    shutil.copytree(course.root, broken)
    public = broken / "graders" / "public" / "toy.py"
    public.write_text(public.read_text().replace('question("double")', 'question("tripple")'))
    submissions = _write_class(tmp_path / "class", {"a": _notebook(*REFERENCE), "b": _notebook(*REFERENCE)})
    with pytest.raises(GraderError, match="tripple"):
        grade_many(submissions, course=Course(broken), jobs=2)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_the_workers_of_a_pool_share_one_zygote_and_one_import(course, tmp_path):
    """torch is imported once for the students' processes, not once per worker; and once for the
    workers: the pool launches one, which forks the others."""
    submissions = _write_class(tmp_path, {"ada": SUBMISSIONS["reference"], "ben": SUBMISSIONS["wrong"], "cy": SUBMISSIONS["reference"]})
    with Pool(2) as pool:
        results = pool.grade(submissions, course=course)
        shared = pool.zygote.process.pid
        first, forked = pool.workers
        assert "--zygote" in first.process.args and any(arg.startswith("--sibling=") for arg in first.process.args)
        assert forked.process is None and _parent(forked.pid) == first.pid
        started = [pid for worker in pool.workers for pid, _ in children_of(worker.pid)
                   if b"d2lgrade.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert started == [], "a worker started a zygote of its own"
        assert running(shared)
    assert [r.score for r in results] == [3, 0, 3]
    assert wait_until(lambda: not running(shared) and not running(forked.pid))


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfd", "kernel-without-pidfd"])
def test_a_forked_worker_that_dies_stops_the_run_and_the_other_workers(course, tmp_path, monkeypatch, pidfds):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # what the killed workers cannot remove stays with the test
    if not pidfds:  # before Linux 5.3: the pool follows a forked worker by its pid and its replies
        monkeypatch.setattr(os, "pidfd_open", lambda pid: (_ for _ in ()).throw(OSError(errno.ENOSYS, "no pidfd_open")))
    students = {f"student{i}": _slow(SUBMISSIONS["reference"]) for i in range(4)}
    submissions = _write_class(tmp_path / "class", students)
    pool = Pool(2)
    pool.grade(submissions[:2], course=course)  # the workers are up
    first, forked = pool.workers
    # as the first notebook starts, each worker has one (of a second each) it has not finished
    kill = lambda submission: os.kill(forked.pid, signal.SIGKILL)  # noqa: E731
    with pytest.raises(WorkerError, match=r"^a grading worker stopped while grading student\d"):
        pool.grade(submissions, course=course, chunk=1, on_start=kill)
    assert pool.workers == [] and first.process.returncode is not None
    assert wait_until(lambda: not running(forked.pid))
    assert (forked._pidfd is not None) is pidfds


def test_workers_leave_nothing_in_the_temporary_folder(course, tmp_path, monkeypatch):
    """Each worker's private bytecode folder and each student's working folder go when the pool closes."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # read by the workers as they start
    submissions = _write_class(tmp_path / "class", {"ada": SUBMISSIONS["reference"], "ben": SUBMISSIONS["wrong"]})
    with Pool(2) as pool:
        assert [r.score for r in pool.grade(submissions, course=course)] == [3, 0]
        assert len(pool.workers) == 2
    assert sorted(p.name for p in scratch.iterdir()) == []


# --------------------------------------------------------------------------- a killed run, resumed
def _slow(notebook):
    """The notebook with a cell that takes a while, so that a run can be stopped half-way."""
    slow = nbformat.from_dict(json.loads(nbformat.writes(notebook)))
    slow.cells.insert(2, new_code_cell("import time\ntime.sleep(1)"))
    return slow


@pytest.mark.slow
def test_a_killed_run_resumes_and_grades_everyone_exactly_once(course, tmp_path, grading_zygote, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # what the killed run cannot remove stays with the test
    variants = [SUBMISSIONS["reference"], SUBMISSIONS["wrong"], SUBMISSIONS["raises"]]
    students = {f"student{i}": _slow(variants[i % len(variants)]) for i in range(6)}
    submissions = _write_class(tmp_path / "class", students)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "d2lgrade.cli", "--course", str(course.root), "autograde", str(tmp_path / "class"),
               "--assignment", "toy", "--out", str(out), "--jobs", "2"]

    with open(tmp_path / "killed.err", "w") as stderr:
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not list(out.glob("submissions/toy/*.json")):
            assert run.poll() is None, (tmp_path / "killed.err").read_text()
            assert time.monotonic() < deadline, "no result was written in time"
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    written = {p.stem: p.read_bytes() for p in out.glob("submissions/toy/*.json")}
    assert 0 < len(written) < len(students), "the run should have been stopped half-way"
    assert not (out / "results.json").exists()

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(written)} of {len(students)} submission(s) already graded" in resumed.stderr
    lines = _progress(resumed.stderr)
    assert sorted(line[2] for line in lines) == sorted(set(students) - set(written))
    assert {p.stem: p.read_bytes() for p in out.glob("submissions/toy/*.json") if p.stem in written} == written

    final = json.loads((out / "results.json").read_text())["submissions"]
    assert sorted(r["student"] for r in final) == sorted(students)
    uninterrupted = grade(submissions, course=course, zygote=grading_zygote)
    assert {r["student"]: r["score"] for r in final} == {r.student: r.score for r in uninterrupted}


# --------------------------------------------------------------------------- the output folder
def _autograde(course, paths, out, *extra):
    return main(["--course", str(course.root), "autograde", *map(str, paths), "--assignment", "toy", "--out", str(out), "--jobs", "1", *extra])


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_resume_keeps_what_matches_and_regrades_the_rest(course, tmp_path, capsys):
    submissions = _write_class(tmp_path / "class", {"ada": SUBMISSIONS["reference"], "ben": SUBMISSIONS["wrong"]})
    paths = [s.path for s in submissions]
    out = tmp_path / "out"
    assert _autograde(course, paths, out) == 0
    first = json.loads((out / "results.json").read_text())
    capsys.readouterr()

    assert _autograde(course, paths, out, "--resume") == 0
    err = capsys.readouterr().err
    assert "resuming: 2 of 2 submission(s) already graded" in err and not _progress(err)
    assert json.loads((out / "results.json").read_text()) == first

    ben = ResultStore(out).path("toy", "ben")
    data = json.loads(ben.read_text())
    data["graded_with"]["seed"] = 5  # as if graded with another seed
    ben.write_text(json.dumps(data))
    nbformat.write(SUBMISSIONS["wrong"], submissions[0].path)  # ada hands in again
    assert _autograde(course, paths, out, "--resume") == 0
    err = capsys.readouterr().err
    assert "grading again: ben (toy): seed was 5, now 0" in err
    assert "grading again: ada (toy): the notebook changed" in err
    assert sorted(line[2] for line in _progress(err)) == ["ada", "ben"]
    assert ResultStore(out).load("toy", "ada")[0].score == 0
    assert ResultStore(out).load("toy", "ben")[1]["seed"] == 0


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_resume_grades_again_after_a_grader_changed(course, tmp_path, capsys):
    """A fixed grader must reach every student: results graded by the old one are not kept."""
    own = tmp_path / "course"
    shutil.copytree(course.root, own)
    own_course = Course(own)
    submissions = _write_class(tmp_path / "class", {"ada": SUBMISSIONS["reference"], "ben": SUBMISSIONS["wrong"]})
    paths, out = [s.path for s in submissions], tmp_path / "out"
    assert _autograde(own_course, paths, out) == 0
    capsys.readouterr()
    hidden = own / "graders" / "hidden" / "toy.py"
    hidden.write_text(hidden.read_text() + "\n# a comment is enough: any edit may change a grade\n")
    assert _autograde(own_course, paths, out, "--resume") == 0
    err = capsys.readouterr().err
    assert "resuming: 0 of 2" in err
    assert "grading again: ada (toy): the graders or the reference changed" in err
    assert sorted(line[2] for line in _progress(err)) == ["ada", "ben"]


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_a_half_written_result_is_ignored(course, tmp_path, capsys, grading_zygote):
    [submission] = _write_class(tmp_path / "class", {"ada": SUBMISSIONS["reference"]})
    out = tmp_path / "out"
    folder = out / "submissions" / "toy"
    folder.mkdir(parents=True)
    text = json.dumps({"format": "d2lgrade-submission/1", "graded_with": graded_with(submission.path, seed=0, questions=None, public_only=False,
                                                                                               graders=course.assignment("toy").fingerprint),
                       "result": grade([submission], course=course, zygote=grading_zygote)[0].to_dict()})
    (folder / ".ada.x1y2z3.tmp").write_text(text[: len(text) // 2])  # killed while writing: never renamed
    assert _autograde(course, [submission.path], out, "--resume") == 0
    err = capsys.readouterr().err
    assert "resuming: 0 of 1" in err and "grading again" not in err
    assert [line[2] for line in _progress(err)] == ["ada"]
    assert ResultStore(out).load("toy", "ada")[0].score == 3


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_without_resume_an_earlier_run_is_replaced(course, tmp_path, capsys):
    [submission] = _write_class(tmp_path / "class", {"ada": SUBMISSIONS["reference"]})
    out = tmp_path / "out"
    mine = out / "notes.txt"
    assert _autograde(course, [submission.path], out) == 0
    stale = ResultStore(out).path("toy", "zed")
    stale.write_text("{}")
    mine.write_text("not ours")
    capsys.readouterr()
    assert _autograde(course, [submission.path], out) == 0
    err = capsys.readouterr().err
    assert "replacing the results of an earlier run" in err and [line[2] for line in _progress(err)] == ["ada"]
    assert not stale.exists() and mine.read_text() == "not ours"
    assert [r["student"] for r in json.loads((out / "results.json").read_text())["submissions"]] == ["ada"]


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_two_notebooks_for_one_student_and_assignment_are_refused(course, tmp_path, capsys):
    one = _write_class(tmp_path / "a", {"ada": SUBMISSIONS["reference"]})[0].path
    two = _write_class(tmp_path / "b", {"ada": SUBMISSIONS["wrong"]})[0].path
    assert _autograde(course, [one, two], tmp_path / "out") == 2
    assert "more than one notebook for the same student and assignment" in capsys.readouterr().err


def test_a_result_file_is_replaced_whole(tmp_path):
    store = ResultStore(tmp_path)
    result = SubmissionResult.from_error(student="ada", assignment="toy", path="ada.ipynb", seed=0, error="unreadable")
    store.save(result, {"seed": 0})
    store.save(result, {"seed": 1})
    assert store.load("toy", "ada") == (result, {"seed": 1})
    assert [p.name for p in (tmp_path / "submissions" / "toy").iterdir()] == ["ada.json"]


# --------------------------------------------------------------------------- progress
def _result(student: str, score_of_three: int) -> SubmissionResult:
    from d2lgrade.results import QuestionResult, TestResult

    tests = tuple(TestResult("double", f"test {i}", f"t{i}", "passed" if i < score_of_three else "failed") for i in range(3))
    return SubmissionResult(student, "toy", f"{student}.ipynb", 0, (QuestionResult("double", 3, True, tests),))


def test_progress_off_a_terminal_is_one_line_per_submission():
    stream = io.StringIO()
    with GradingProgress(3, stream) as progress:
        for student, score in (("ada", 3), ("ben", 1), ("cleo", 0)):
            progress.started(Submission(student, "toy", Path(f"{student}.ipynb")))
            time.sleep(0.01)
            progress.finished(_result(student, score))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[1/3] ada toy 3/3 (about 1 s left)"
    assert lines[1] == "[2/3] ben toy 1/3 (about 1 s left)"
    assert lines[2] == "[3/3] cleo toy 0/3"


def test_progress_on_a_terminal_is_a_bar_naming_who_is_being_graded():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    with GradingProgress(2, stream) as progress:
        progress.started(Submission("ada", "toy", Path("ada.ipynb")))
        progress.started(Submission("ben", "toy", Path("ben.ipynb")))
        progress.finished(_result("ada", 3))
        progress.bar.refresh()
        shown = stream.getvalue()
        progress.finished(_result("ben", 3))
    assert "1/2" in shown and "ben" in shown and "about 1 s left" in shown
    assert "2/2" in stream.getvalue()
    assert not _progress(stream.getvalue())
