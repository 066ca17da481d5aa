"""The libraries a grade depends on: the course's lock, the versions every result records, and what
changes when torch or numpy is another major.minor version."""

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from test_engine import SUBMISSIONS, course  # noqa: F401 - course: the toy course fixture
from test_pool import _progress, _write_class

import d2lgrade
from d2lgrade.cli import main
from d2lgrade.environment import (LOCK, installed, lock_mismatches, lock_warning, read_lock, same_series,
                                  versions)
from d2lgrade.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
LOCKED = read_lock(ROOT / LOCK)


# --------------------------------------------------------------------------- the lock
def test_this_environment_has_exactly_the_locked_versions():
    """What `bash scripts/setup` installs: every locked package at the lock's version (after a refresh of the
    lock, run scripts/setup again)."""
    assert lock_mismatches(LOCKED) == {}


def test_the_lock_holds_what_grading_depends_on_with_exact_versions():
    assert {"torch", "numpy", "d2l", "nbgrader", "pandas", "matplotlib", "pytest"} <= set(LOCKED)
    assert "d2lgrade" not in LOCKED and "pip" not in LOCKED  # the project itself, and pip, are not constrained
    assert all("+" not in version for version in LOCKED.values())  # ==2.14.1 lets 2.14.1+cpu in, ==2.14.1+cu130 would not


def test_a_doctored_lock_is_caught():
    doctored = {**LOCKED, "torch": "1.13.1", "no-such-package": "1.0"}
    assert lock_mismatches(doctored) == {"torch": (installed("torch"), "1.13.1"), "no-such-package": (None, "1.0")}


def test_local_labels_do_not_count_and_names_may_be_restricted():
    have = {"torch": "2.14.1+cpu", "d2l": "1.0.3+d2lgrade", "numpy": "2.4.5"}.get
    locked = {"torch": "2.14.1", "d2l": "1.0.3", "numpy": "2.4.6", "pandas": "3.0.0"}
    assert lock_mismatches(locked, have) == {"numpy": ("2.4.5", "2.4.6"), "pandas": (None, "3.0.0")}
    assert lock_mismatches(locked, have, ("torch", "d2l")) == {}


def test_a_lock_line_that_is_not_an_exact_version_is_refused(tmp_path):
    path = tmp_path / LOCK
    path.write_text("# a comment\nJinja2==3.1.6\nrequests_oauthlib==2.0\n\ntorch>=2\n")
    with pytest.raises(ValueError, match=r"line 5: 'torch>=2' is not name==version"):
        read_lock(path)
    path.write_text("Jinja2==3.1.6  # why\nrequests_oauthlib==2.0\n")
    assert read_lock(path) == {"jinja2": "3.1.6", "requests-oauthlib": "2.0"}


def test_setup_installs_again_when_the_lock_changes_and_always_with_it(tmp_path):
    """scripts/setup with a stand-in python that records what pip was asked: nothing while its stamp is newer
    than requirements.txt, requirements.lock and pyproject.toml; all of it, constrained by the lock, once one changed."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/../calls"\n')
    python.chmod(0o755)
    for name in ("requirements.txt", LOCK, "pyproject.toml"):
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (1_000_000, 1_000_000))
    stamp = tmp_path / ".venv" / ".d2lgrade-installed"
    stamp.touch()
    calls = tmp_path / ".venv" / "calls"

    subprocess.run(["bash", tmp_path / "scripts" / "setup"], check=True, timeout=30)
    assert not calls.exists()
    (tmp_path / LOCK).write_text("torch==2.14.1\n")  # newer than the stamp
    subprocess.run(["bash", tmp_path / "scripts" / "setup"], check=True, timeout=30, capture_output=True)
    installs = [line for line in calls.read_text().splitlines() if line.startswith("-m pip install") and "--upgrade pip" not in line]
    assert len(installs) == 3 and all(line.endswith(f"-c {LOCK}") for line in installs), installs
    assert stamp.stat().st_mtime > (tmp_path / LOCK).stat().st_mtime


# --------------------------------------------------------------------------- students told early
def test_a_student_with_another_torch_gets_one_line_with_the_command(tmp_path):
    (tmp_path / LOCK).write_text("torch==2.14.1\nnumpy==2.4.6\nd2l==1.0.3\npandas==3.1.1\n")
    matching = {"torch": "2.14.1+cpu", "numpy": "2.4.6", "d2l": "1.0.3+d2lgrade", "pandas": "2.0.0"}
    assert lock_warning(tmp_path, matching.get) is None  # pandas is not what students are told about
    note = lock_warning(tmp_path, {**matching, "torch": "2.9.0", "d2l": None}.get)
    assert "\n" not in note
    assert note == ("Note: this Python has torch 2.9.0, no d2l, but the checks were made with torch 2.14.1, d2l 1.0.3; "
                    "results may differ. To install those: python -m pip install torch==2.14.1 d2l-1.0.3+d2lgrade-py3-none-any.whl")
    assert lock_warning(tmp_path / "no-course-here", matching.get) is None  # a release from before the lock


# --------------------------------------------------------------------------- recorded, and compared
def test_versions_are_read_from_the_installed_packages():
    found = versions()
    assert found == {"python": platform.python_version(), "torch": installed("torch"), "numpy": installed("numpy"),
                     "d2l": installed("d2l"), "nbgrader": installed("nbgrader"), "d2lgrade": d2lgrade.__version__}
    assert all(found.values())


@pytest.mark.parametrize("before, now, same", [("2.14.1", "2.14.0", True), ("2.14.1+cpu", "2.14.1", True),
                                               ("2.13.1", "2.14.1", False), ("1.26.4", "2.4.6", False), (None, "2.4.6", False)])
def test_only_a_major_or_minor_change_counts(before, now, same):
    assert same_series(before, now) is same


def _autograde(course, folder, out, *extra):  # noqa: F811 - the fixture
    return main(["--course", str(course.root), "autograde", str(folder), "--out", str(out), "--jobs", "1", "--timeout", "5",
                 "--submission-timeout", "60", *extra])


def _change_torch(out: Path, student: str, torch: str) -> None:
    """As if the shard in ``out`` had been graded with another torch: its record and the stored result say so."""
    summary = out / "results.json"
    data = json.loads(summary.read_text())
    data["shard"]["environment"]["torch"] = torch
    summary.write_text(json.dumps(data))
    stored = ResultStore(out).path("toy", student)
    data = json.loads(stored.read_text())
    data["graded_with"]["torch"] = torch
    stored.write_text(json.dumps(data))


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_another_torch_in_one_shard_stops_merge_and_is_graded_again(course, tmp_path, capsys):  # noqa: F811
    """A class of two dealt into two shards: ada's toy notebook, and a notebook of no assignment (dealt first,
    to shard 0, and not run: the test grades one notebook at a time)."""
    folder = tmp_path / "class"
    _write_class(folder, {"ada": SUBMISSIONS["reference"]})
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), folder / "stranger.ipynb")
    outs = [tmp_path / f"shard-{k}" for k in range(2)]
    for k, out in enumerate(outs):
        assert _autograde(course, folder, out, "--shard", f"{k}/2") == 0
    shards = [json.loads((out / "results.json").read_text()) for out in outs]
    assert [[r["student"] for r in shard["submissions"]] for shard in shards] == [["stranger"], ["ada"]]
    assert [shard["shard"]["environment"] for shard in shards] == [versions()] * 2
    (ada,) = shards[1]["submissions"]
    assert ada["environment"] == {**versions(), "device": ada["environment"]["device"]}
    assert ada["environment"]["device"] in ("cpu", "cpu and cuda")
    merge = ["merge", *(str(out / "results.json") for out in outs), "--out"]
    torch, numpy = installed("torch"), installed("numpy")

    patch = ".".join([*torch.split("+")[0].split(".")[:2], "99"])  # another patch: still comparable
    _change_torch(outs[1], "ada", patch)
    assert main([*merge, str(tmp_path / "merged-patch")]) == 0
    assert _autograde(course, folder, outs[1], "--shard", "1/2", "--resume") == 0
    assert "resuming: 1 of 1" in capsys.readouterr().err

    _change_torch(outs[1], "ada", "1.13.1")
    assert main([*merge, str(tmp_path / "merged-old")]) == 2
    refused = capsys.readouterr().err
    assert ("the shards were graded on different torch or numpy versions, which can change results: "
            f"{outs[0] / 'results.json'} on torch {torch} and numpy {numpy}, "
            f"{outs[1] / 'results.json'} on torch 1.13.1 and numpy {numpy}; grade every shard on one install") in refused
    assert not (tmp_path / "merged-old").exists()

    assert _autograde(course, folder, outs[1], "--shard", "1/2", "--resume") == 0
    err = capsys.readouterr().err
    assert (f"grading again: ada (toy): it was graded with torch 1.13.1 and torch is {torch} now, "
            "another major or minor version that can change results") in err
    assert [line[2] for line in _progress(err)] == ["ada"]
    assert main([*merge, str(tmp_path / "merged")]) == 0
