"""The nbgrader-versus-d2lgrade benchmark: the class it builds, how it compares scores, and a quick run."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "nbgrader_vs_d2lgrade.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("nbgrader_vs_d2lgrade", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def test_the_class_is_the_reference_then_correct_and_wrong_answers_in_turn():
    students = bench.make_class(5)
    assert [s.name.split("-")[0] for s in students] == ["reference", "correct", "wrong", "correct", "wrong"]
    assert [s.honest for s in students] == [True, True, False, True, False]
    assert len({s.name for s in students}) == 5
    sources = {s.name: "".join(c.source for c in s.notebook.cells) for s in students}
    assert len(set(sources.values())) == 5, "each submission differs from the reference in its own cell"


def test_a_disagreement_on_an_honest_submission_fails_the_comparison(capsys):
    students = bench.make_class(3)
    honest, other = students[1].name, students[2].name
    scores = {s.name: {"sgd": 2.0, "train": 2.0} for s in students}
    assert bench.compare_scores(students, scores, {**scores, other: {"sgd": 0.0, "train": 2.0}})
    assert bench.compare_scores(students, scores, {**scores, honest: {"sgd": 2.0}}) is False
    out = capsys.readouterr().out
    assert f"disagree on {other} (wrong answer; nbgrader vs d2lgrade): sgd 2 vs 0" in out
    assert f"disagree on {honest} (honest; nbgrader vs d2lgrade): train 2 vs missing" in out
    assert "agree on 1 of 2 honest submissions and 1 of 1 others" in out


@pytest.mark.slow
def test_quick_benchmark_agrees_on_honest_scores_and_prints_the_ratio():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    ratio = re.search(r"^ratio: d2lgrade grades ([\d.]+) times as many submissions per second as nbgrader$", done.stdout, re.MULTILINE)
    assert ratio and float(ratio[1]) > 0, done.stdout
    agree = re.search(r"agree on (\d+) of (\d+) honest submissions", done.stdout)
    assert agree and agree[1] == agree[2] and int(agree[2]) >= 2, done.stdout
    assert re.search(r"overhead per submission .*: -?\d+ ms", done.stdout), done.stdout
    assert re.search(r"^d2lgrade check --question squared_loss: [\d.]+ s", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^in-kernel check\('squared_loss'\): \d+ ms the first time, \d+ ms after$", done.stdout, re.MULTILINE), done.stdout
