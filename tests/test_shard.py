"""Grading across machines: ``autograde --shard K/N`` deals out a class, ``merge`` joins the shards."""

import collections
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from test_engine import SUBMISSIONS, course  # noqa: F401 - course: the toy course fixture
from test_pool import _without_times

from d2lgrade.cli import build_parser, main
from d2lgrade.export import read_json, write_json
from d2lgrade.grade import Submission
from d2lgrade.results import QuestionResult, SubmissionResult, TestResult
from d2lgrade.shard import Shard, deal, select, shard_record, submission_key

ROOT = Path(__file__).resolve().parent.parent


def _class(size: int) -> list[Submission]:
    """Students spread over three assignments, and some notebooks that match none."""
    assignments = ["linear_regression", "linreg_scratch", "linreg_concise", None]
    return [Submission(f"student{i:02d}", assignments[i % len(assignments)], Path(f"student{i:02d}.ipynb")) for i in range(size)]


# --------------------------------------------------------------------------- who is in which shard
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_every_submission_is_in_exactly_one_shard_and_the_shards_are_even(count):
    everyone = _class(23)
    shards = [select(everyone, Shard(index, count)) for index in range(count)]
    assert sorted(s.student for shard in shards for s in shard) == sorted(s.student for s in everyone)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for assignment in {s.assignment for s in everyone}:
        sizes = [sum(s.assignment == assignment for s in shard) for shard in shards]
        assert max(sizes) - min(sizes) <= 1, f"{assignment} is dealt unevenly: {sizes}"


def test_a_shard_keeps_the_order_it_was_given():
    everyone = _class(12)
    shard = select(everyone, Shard(1, 3))
    assert shard == [s for s in everyone if s in shard]


def test_the_deal_does_not_depend_on_the_order_the_paths_were_given():
    everyone = _class(23)
    first = {submission_key(s): index for index in range(4) for s in select(everyone, Shard(index, 4))}
    for seed in range(5):
        shuffled = random.Random(seed).sample(everyone, len(everyone))
        assert {submission_key(s): index for index in range(4) for s in select(shuffled, Shard(index, 4))} == first


def test_the_deal_does_not_depend_on_pythons_hash_seed():
    """Machines of a cluster each run their own Python: the deal must not use hash()."""
    keys = [submission_key(s) for s in _class(23)]
    program = f"import json; from d2lgrade.shard import deal; print(json.dumps(sorted(deal([tuple(k) for k in {json.dumps(keys)}], 4).items())))"
    here = json.loads(json.dumps(sorted(deal(keys, 4).items())))
    for hash_seed in ("1", "2"):
        other = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=True,
                               env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert json.loads(other.stdout) == here


def test_a_bigger_class_is_dealt_again():
    """The deal is of the whole class: the record of it lets merge refuse shards of two different classes."""
    small, big = _class(10), _class(11)
    assert shard_record(Shard(0, 3), small, seed=0, questions=None, public_only=False, graders={})["class"] != \
        shard_record(Shard(0, 3), big, seed=0, questions=None, public_only=False, graders={})["class"]
    assert set(deal(map(submission_key, small), 3)) < set(deal(map(submission_key, big), 3))


@pytest.mark.parametrize("text, complaint", [
    ("a/b", "is not K/N"),
    ("1", "is not K/N"),
    ("-1/3", "is not K/N"),
    ("1/3/4", "is not K/N"),
    ("3/3", "there is no shard 3/3: K counts from 0 to N-1"),
    ("4/3", "there is no shard 4/3"),
    ("0/0", "must be at least 1"),
])
def test_a_shard_that_does_not_exist_is_refused_by_the_parser(text, complaint, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["autograde", "submitted", f"--shard={text}"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--shard" in error and complaint in error


@pytest.mark.parametrize("text, shard", [("0/3", Shard(0, 3)), ("2/3", Shard(2, 3)), ("0/1", Shard(0, 1))])
def test_shards_count_from_zero_as_slurm_and_kubernetes_do(text, shard):
    assert build_parser().parse_args(["autograde", "submitted", f"--shard={text}"]).shard == shard


# --------------------------------------------------------------------------- merge refuses what is not one class
def _result(submission: Submission, seed: int = 0) -> SubmissionResult:
    passed = len(submission.student) % 2 == 0
    test = TestResult("double", "double(2) is 4", "t::double", "passed" if passed else "failed", "" if passed else "expected 4, got 6")
    return SubmissionResult(submission.student, submission.assignment or "?", str(submission.path), seed, (QuestionResult("double", 2, True, (test,)),))


GRADERS = {"toy": "a1" * 32}


def _write_shards(folder: Path, everyone: list[Submission], count: int = 3, *, seed: int = 0, public_only: bool = False,
                  graders: dict = GRADERS) -> list[Path]:
    """The results.json of every shard of ``everyone``, as ``autograde --shard K/count`` writes them."""
    paths = []
    for index in range(count):
        shard = Shard(index, count)
        tag = "" if graders == GRADERS else "-graders-" + "-".join(v[:4] for v in graders.values())
        path = folder / f"shard-{index}-of-{count}-seed{seed}{'-public' if public_only else ''}{tag}.json"
        record = shard_record(shard, everyone, seed=seed, questions=None, public_only=public_only, graders=graders)
        write_json([_result(s, seed) for s in select(everyone, shard)], path, shard=record)
        paths.append(path)
    return paths


def _merge(paths, out, capsys) -> tuple[int, str]:
    status = main(["merge", *map(str, paths), "--out", str(out)])
    return status, capsys.readouterr().err


def test_the_shards_of_a_class_merge_into_the_whole_class(tmp_path, capsys):
    everyone = _class(10)
    status, error = _merge(_write_shards(tmp_path, everyone)[::-1], tmp_path / "all", capsys)
    assert (status, error) == (0, "")
    merged = read_json(tmp_path / "all" / "results.json")
    assert merged == sorted((_result(s) for s in everyone), key=lambda r: (r.assignment, r.student))
    assert "shard" not in json.loads((tmp_path / "all" / "results.json").read_text())  # the merge is the whole class
    assert {p.name for p in (tmp_path / "all").iterdir()} >= {"results.json", "grades.csv", "junit.xml", "feedback", "report"}


def test_a_missing_shard_is_named(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10), count=4)
    status, error = _merge([paths[0], paths[2]], tmp_path / "all", capsys)
    assert status == 2 and "missing shard(s) 1/4, 3/4" in error
    assert not (tmp_path / "all").exists()


def test_a_shard_given_twice_is_refused(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10))
    status, error = _merge([*paths, paths[1]], tmp_path / "all", capsys)
    assert status == 2 and f"shard 1/3 is given 2 times: {paths[1]}, {paths[1]}" in error


def test_shards_of_different_classes_are_refused(tmp_path, capsys):
    (tmp_path / "small").mkdir(), (tmp_path / "big").mkdir()
    small, big = _write_shards(tmp_path / "small", _class(10)), _write_shards(tmp_path / "big", _class(11))
    status, error = _merge([small[0], small[1], big[2]], tmp_path / "all", capsys)
    assert status == 2 and "the shards are of different classes" in error
    assert f"{small[0]}, {small[1]}: a class of 10 submission(s)" in error and f"{big[2]}: a class of 11 submission(s)" in error


@pytest.mark.parametrize("other, shown", [({"seed": 1}, "seed 1, every question, public and hidden checks"),
                                          ({"public_only": True}, "seed 0, every question, public checks only")])
def test_shards_graded_with_different_settings_are_refused(tmp_path, capsys, other, shown):
    everyone = _class(10)
    usual, unusual = _write_shards(tmp_path, everyone), _write_shards(tmp_path, everyone, **other)
    status, error = _merge([usual[0], unusual[1], usual[2]], tmp_path / "all", capsys)
    assert status == 2 and "the shards were graded with different settings" in error
    assert f"{unusual[1]}: {shown}" in error and "seed 0, every question, public and hidden checks" in error


def test_shards_graded_with_different_graders_are_refused(tmp_path, capsys):
    """An instructor fixed a grader between shards: merged, half the class would be graded one way."""
    everyone = _class(10)
    before, after = _write_shards(tmp_path, everyone), _write_shards(tmp_path, everyone, graders={"toy": "b2" * 32})
    status, error = _merge([before[0], after[1], before[2]], tmp_path / "all", capsys)
    assert status == 2 and "the shards were graded with different graders (or reference notebooks)" in error
    assert f"{after[1]}: toy {'b2' * 6}" in error and f"toy {'a1' * 6}" in error
    assert _merge(before, tmp_path / "all", capsys)[0] == 0


def test_shards_of_different_splits_are_refused(tmp_path, capsys):
    everyone = _class(10)
    thirds, halves = _write_shards(tmp_path, everyone, count=3), _write_shards(tmp_path, everyone, count=2)
    status, error = _merge([*thirds, halves[0]], tmp_path / "all", capsys)
    assert status == 2 and "the shards split the class differently" in error and f"{halves[0]}: 2 shards" in error


def test_a_results_file_graded_without_shard_is_refused(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10))
    whole = tmp_path / "whole.json"
    write_json([_result(s) for s in _class(10)], whole)
    status, error = _merge([*paths, whole], tmp_path / "all", capsys)
    assert status == 2 and f"{whole} is not a shard: it was graded without --shard" in error


def test_a_file_that_is_not_results_is_refused(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10))
    paths[1].write_text("{not json")
    status, error = _merge(paths, tmp_path / "all", capsys)
    assert status == 2 and f"cannot read {paths[1]}" in error


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data["submissions"])
    path.write_text(json.dumps(data))


def test_a_result_in_two_shards_is_refused(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10))
    stolen = json.loads(paths[0].read_text())["submissions"][0]
    _edit(paths[1], lambda submissions: submissions.append(stolen))
    status, error = _merge(paths, tmp_path / "all", capsys)
    assert status == 2 and f"{stolen['student']} ({stolen['assignment']}) is in both {paths[0]} and {paths[1]}" in error


def test_a_result_missing_from_its_shard_is_refused(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10))
    _edit(paths[2], lambda submissions: submissions.pop())
    status, error = _merge(paths, tmp_path / "all", capsys)
    assert status == 2 and "the shards hold 9 submission(s), not the 10 of the class" in error


def test_a_result_moved_to_another_shard_is_refused(tmp_path, capsys):
    paths = _write_shards(tmp_path, _class(10))
    moved = json.loads(paths[0].read_text())["submissions"][0]
    _edit(paths[0], lambda submissions: submissions.pop(0))
    _edit(paths[1], lambda submissions: submissions.append(moved))
    status, error = _merge(paths, tmp_path / "all", capsys)
    assert status == 2 and f"{moved['student']} ({moved['assignment']}) is in {paths[1]}, shard 1/3, but is dealt to shard 0/3" in error


def test_merge_will_not_overwrite_a_shard(tmp_path, capsys):
    paths = [tmp_path / f"shard-{k}" / "results.json" for k in range(3)]
    for path, written in zip(paths, _write_shards(tmp_path, _class(10))):
        path.parent.mkdir()
        written.rename(path)
    before = paths[0].read_bytes()
    status, error = _merge(paths, tmp_path / "shard-0", capsys)
    assert status == 2 and "would overwrite the shard" in error
    assert paths[0].read_bytes() == before


# --------------------------------------------------------------------------- three machines, end to end
def _by_submission(results_json: Path) -> dict:
    """Each submission's result without timings, by (assignment, student)."""
    return {(r["assignment"], r["student"]): _without_times(r) for r in json.loads(results_json.read_text())["submissions"]}


@pytest.mark.slow
def test_three_shards_graded_apart_merge_into_what_one_run_grades(course, tmp_path):  # noqa: F811 - the fixture
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("reference", "stub", "wrong", "raises", "broken_cell"):
        nbformat.write(SUBMISSIONS[name], folder / f"{name}.ipynb")
        nbformat.write(SUBMISSIONS[name], folder / f"{name}_again.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), folder / "stranger.ipynb")  # for no assignment: "?"
    (folder / "garbage.ipynb").write_text("{not json")
    autograde = [sys.executable, "-m", "d2lgrade.cli", "--course", str(course.root), "autograde", str(folder), "--seed", "3",
                 "--timeout", "5", "--jobs", "1"]

    shards = [subprocess.Popen([*autograde, "--shard", f"{k}/3", "--out", str(tmp_path / f"shard-{k}")], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) for k in range(3)]
    try:
        whole = subprocess.run([*autograde, "--out", str(tmp_path / "whole")], cwd=ROOT, capture_output=True, text=True, timeout=600)
        finished = [shard.communicate(timeout=600) for shard in shards]
    finally:
        for shard in shards:
            if shard.poll() is None:  # the test failed half-way: leave no grading behind
                os.killpg(shard.pid, signal.SIGKILL)
                shard.wait()
    assert whole.returncode == 0, whole.stderr
    for shard, (_, stderr) in zip(shards, finished):
        assert shard.returncode == 0, stderr

    graded = [json.loads((tmp_path / f"shard-{k}" / "results.json").read_text()) for k in range(3)]
    assert [(g["shard"]["index"], g["shard"]["count"]) for g in graded] == [(0, 3), (1, 3), (2, 3)]
    assert [len(g["submissions"]) for g in graded] == [4, 4, 4]  # 12 notebooks, dealt evenly
    students = collections.Counter(r["student"] for g in graded for r in g["submissions"])
    assert len(students) == 12 and set(students.values()) == {1}

    merged = subprocess.run([sys.executable, "-m", "d2lgrade.cli", "merge", *(str(tmp_path / f"shard-{k}" / "results.json") for k in range(3)),
                             "--out", str(tmp_path / "merged")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert merged.returncode == 0, merged.stderr
    assert _by_submission(tmp_path / "merged" / "results.json") == _by_submission(tmp_path / "whole" / "results.json")
    merged_csv, whole_csv = ((tmp_path / run / "grades.csv").read_text().splitlines() for run in ("merged", "whole"))
    assert merged_csv[0] == whole_csv[0] and sorted(merged_csv) == sorted(whole_csv)
