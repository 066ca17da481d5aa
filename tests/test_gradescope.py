"""The Gradescope autograder: its zip, and the results.json that run_autograder writes."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from d2lgrade.catalogue import read_case
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.gradescope import build

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
ASSIGNMENT = "linreg_scratch"
SPEC = COURSE.assignment(ASSIGNMENT)
WRONG = read_case(ROOT / "tests" / "catalogue" / ASSIGNMENT / "wrong" / "squared_loss_no_reshape.py")
#: https://gradescope-autograders.readthedocs.io/en/latest/specs/
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build(COURSE, ASSIGNMENT, tmp_path_factory.mktemp("gradescope") / "autograder.zip")


def autograder_root(bundle: Path, root: Path) -> Path:
    """A folder laid out as Gradescope lays out /autograder once the image is built."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for info in zipfile.ZipFile(bundle).infolist():  # extractall drops the permission bits
        (root / "source" / info.filename).chmod(info.external_attr >> 16)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> dict:
    """Run it as Gradescope does, from the root, with this project's venv in place of setup.sh's."""
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), D2LGRADE_PYTHON=sys.executable)
    env.pop("D2LGRADE_COURSE", None)
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def assert_gradescope_results(data: dict, possible: float) -> None:
    """results.json as Gradescope's specification has it, with its scores adding up."""
    assert isinstance(data, dict)
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], (int, float))
    assert isinstance(data["output"], str) and data["visibility"] in VISIBILITIES and data["stdout_visibility"] in VISIBILITIES
    assert isinstance(data["tests"], list) and data["tests"]
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= test.keys(), test
        assert set(test) <= {"name", "score", "max_score", "status", "output", "visibility", "number", "tags", "extra_data", "output_format", "name_format"}
        assert isinstance(test["name"], str) and isinstance(test["output"], str) and isinstance(test.get("number", ""), str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed"), test
        assert test["visibility"] in VISIBILITIES
    numbers = [t["number"] for t in data["tests"]]
    assert len(set(numbers)) == len(numbers)
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]), abs=1e-3)
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(possible)


def test_the_zip_holds_the_scripts_and_this_assignment_only(bundle):
    with zipfile.ZipFile(bundle) as archive:
        entries = {info.filename: info for info in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        runner = archive.read("run_autograder").decode()
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(entries[script].external_attr >> 16) & 0o111, f"{script} must be executable"
    assert runner.startswith("#!") and f"d2lgrade.gradescope \"$root\" {ASSIGNMENT}" in runner
    for installs in ("-m venv", "pip install -c requirements.lock -r requirements.txt",
                     "pip install -c requirements.lock --no-deps d2l==1.0.3", "pip install --no-deps ."):
        assert installs in setup
    assert "pip install --index-url https://download.pytorch.org/whl/cpu $(grep -E '^torch(vision)?==' requirements.lock)" in setup
    pinned = subprocess.run(["bash", "-c", "grep -E '^torch(vision)?==' requirements.lock"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    assert [line.split("==")[0] for line in pinned] == ["torch", "torchvision"]
    for needed in (f"solutions/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", f"assignments/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
                   f"graders/public/{ASSIGNMENT}.py", f"graders/hidden/{ASSIGNMENT}.py", "nbgrader_config.py",
                   "requirements.txt", "requirements.lock", "pyproject.toml", "d2lgrade/__init__.py", "d2lgrade/gradescope.py", "d2lgrade/grade.py"):
        assert needed in entries, needed
    others = set(COURSE.assignment_names()) - {ASSIGNMENT}
    assert not [name for name in entries if any(other in name for other in others) or "__pycache__" in name]


def test_the_same_course_builds_the_same_zip(bundle, tmp_path):
    assert build(COURSE, ASSIGNMENT, tmp_path / "again.zip").read_bytes() == bundle.read_bytes()


SUBMISSIONS = {
    "reference": lambda: filled_stub(COURSE, ASSIGNMENT),
    "wrong": lambda: filled_stub(COURSE, ASSIGNMENT, {WRONG.question: WRONG.source}),
    "stub": lambda: filled_stub(COURSE, ASSIGNMENT, fill=False),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", SUBMISSIONS)
def test_run_autograder_writes_gradescopes_results(bundle, tmp_path, kind):
    root = autograder_root(bundle, tmp_path / "autograder")
    nbformat.write(SUBMISSIONS[kind](), root / "submission" / f"{ASSIGNMENT}.ipynb")

    data = run_autograder(root)

    possible = sum(q.points for q in SPEC.autograded)
    assert_gradescope_results(data, possible)
    tests = data["tests"]
    assert {t["visibility"] for t in tests} == {"visible", "after_due_date"}, "public checks show now, hidden ones after the due date"
    if kind == "reference":
        assert data["score"] == possible and all(t["status"] == "passed" for t in tests)
    elif kind == "stub":
        assert data["score"] == 0 and all(t["status"] == "failed" for t in tests)
    else:
        lost = {t["name"].split(":")[0] for t in tests if t["status"] == "failed"}
        assert lost == {WRONG.question}
        failed = [t for t in tests if t["status"] == "failed"]
        assert all(t["output"] for t in failed), "a failed check says why"
        assert 0 < data["score"] < possible


@pytest.mark.slow
def test_run_autograder_without_a_notebook_fails_every_question_and_says_why(bundle, tmp_path):
    root = autograder_root(bundle, tmp_path / "autograder")
    (root / "submission" / "notes.txt").write_text("forgot the notebook")

    data = run_autograder(root)

    assert_gradescope_results(data, sum(q.points for q in SPEC.autograded))
    assert data["score"] == 0
    assert [t["name"] for t in data["tests"]] == [q.name for q in SPEC.autograded]
    assert all("upload linreg_scratch.ipynb" in t["output"] and t["visibility"] == "visible" for t in data["tests"])


def test_the_command_writes_the_zip(tmp_path, capsys):
    from d2lgrade.cli import main

    assert main(["--course", str(ROOT), "gradescope", ASSIGNMENT, "-o", str(tmp_path / "out" / "autograder.zip")]) == 0
    assert "run_autograder" in zipfile.ZipFile(tmp_path / "out" / "autograder.zip").namelist()
    assert main(["--course", str(ROOT), "gradescope", "no_such_assignment", "-o", str(tmp_path / "x.zip")]) == 2
    assert "no assignment 'no_such_assignment'" in capsys.readouterr().err
