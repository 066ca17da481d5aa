"""The student's self-check: ``check()``/``check_all()`` in the kernel and ``d2lgrade check`` on the command line.

The in-kernel tests run the checks against a namespace built the way a
kernel builds one: every cell's source executed into one dict, with the
sources kept in ``In``.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from d2lgrade import notebook as nb
from d2lgrade.catalogue import find
from d2lgrade.cli import main
from d2lgrade.course import Course
from d2lgrade.fill import filled_stub
from d2lgrade.release import build_release
from d2lgrade.selfcheck import SelfCheck, checks_for
from d2lgrade.student import Missing
from d2lgrade.zygote import Zygote

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)
CATALOGUE = ROOT / "tests" / "catalogue"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _kernel(assignment: str, *extra: str, fill: bool = True) -> dict:
    """A kernel's namespace after running the setup and every graded function's cell
    (the reference's, or the stub's when not ``fill``), then the ``extra`` cells."""
    spec = COURSE.assignment(assignment)
    stub = nb.load_notebook(COURSE.stub(assignment))
    functions = [c.source for c in stub.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    cells = [*spec.setup_sources, *(spec.solution_sources.values() if fill else functions), *extra]
    namespace: dict = {"__name__": "__main__", "In": []}
    for source in cells:
        exec(compile(source, "<cell>", "exec"), namespace)
        namespace["In"].append(source)
    return namespace


def _wrong(assignment: str, name: str) -> str:
    return find(CATALOGUE, assignment, "wrong", name).source


def _report(assignment: str, question: str, namespace: dict, course: Course = COURSE, capsys=None) -> str:
    check, _ = checks_for(assignment, namespace, course=course, colour=False)
    check(question)
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Course:
    out = tmp_path_factory.mktemp("release") / "release"
    build_release(COURSE, COURSE.assignment_names(), out)
    return Course(out)


# --------------------------------------------------------------------------- in the kernel
def test_check_shows_a_green_line_per_passed_check(capsys):
    out = _report("linreg_scratch", "squared_loss", _kernel("linreg_scratch"), capsys=capsys)
    header, *lines = out.strip().splitlines()
    assert re.fullmatch(r"squared_loss: (\d+) of \1 public checks passed \(1/1 points\)", header), header
    assert lines and all(line.startswith("  ✓ squared_loss") for line in lines), out


def test_check_explains_a_wrong_answer_without_grader_code(capsys):
    namespace = _kernel("linreg_scratch", _wrong("linreg_scratch", "squared_loss_no_half"))
    out = _report("linreg_scratch", "squared_loss", namespace, capsys=capsys)
    assert out.startswith("squared_loss: 0 of 3 public checks passed (0/1 points)"), out
    assert "  ✗ squared_loss is (y_hat - y)**2 / 2 for each example" in out
    # what was expected, what came back (the table of mismatches), and no pytest or grader internals
    assert "has wrong values" in out and "Index  | Got | Expected" in out and "(2, 0) |   9 |      4.5" in out
    for internal in ("Traceback", "assert ", "expect_close(", "def test_", "graders/", ".py:"):
        assert internal not in out


def test_check_on_the_stub_says_not_implemented_yet(capsys):
    out = _report("linreg_scratch", "sgd", _kernel("linreg_scratch", fill=False), capsys=capsys)
    assert out.startswith("sgd: 0 of 2 public checks passed (0/2 points)")
    assert "`sgd` is not implemented yet (it raises NotImplementedError)." in out


def test_check_before_the_functions_cell_ran_asks_to_run_it(capsys):
    namespace = _kernel("linreg_scratch")
    del namespace["squared_loss"]
    out = _report("linreg_scratch", "squared_loss", namespace, capsys=capsys)
    assert "`squared_loss` is not defined in this kernel: run the cell that defines it first" in out, out
    assert "after the notebook ran" not in out


def test_a_function_missing_from_a_run_notebook_is_worded_for_the_run():
    assert "is not defined after the notebook ran (cell 3 stopped)" in Missing("f", " (cell 3 stopped)").feedback
    assert Missing("f", kernel=True).feedback.startswith("`f` is not defined in this kernel: run the cell that defines it first")


def test_check_renders_as_an_html_table_with_marks_points_and_messages():
    namespace = _kernel("linreg_scratch", _wrong("linreg_scratch", "squared_loss_no_half"))
    checker = SelfCheck("linreg_scratch", namespace, course=COURSE, colour=False, html=True)
    one = checker.report("squared_loss")
    assert one.text.startswith("squared_loss: 0 of 3 public checks passed") and one._repr_html_() == one.html
    assert "<table" in one.html and "✗" in one.html and "(0/1 points)" in one.html
    assert "<code>squared_loss(y_hat, y)</code> has wrong values" in one.html
    assert "<pre" in one.html and "(2, 0) |   9 |      4.5" in one.html
    every = checker.report_all()
    spec = COURSE.assignment("linreg_scratch")
    assert every.html.count("✓") == len(spec.autograded) - 1 and every.html.count("✗") == 4  # the row and its three checks
    assert "total: 23/24 points from the public checks" in every.html


def test_html_escapes_what_the_students_code_returned():
    markup = "<style>body{background:red}</style><script>alert(1)</script>"
    namespace = _kernel("linreg_scratch", f"def squared_loss(y_hat, y):\n    return {markup!r}\n")
    report = SelfCheck("linreg_scratch", namespace, course=COURSE, colour=False, html=True).report("squared_loss")
    assert "<style>" not in report.html and "<script>" not in report.html and "&lt;style&gt;" in report.html


def test_check_all_sums_up_the_public_points(capsys):
    spec = COURSE.assignment("linreg_scratch")
    _, check_all = checks_for("linreg_scratch", _kernel("linreg_scratch", _wrong("linreg_scratch", "squared_loss_no_half")), course=COURSE, colour=False)
    check_all()
    out = capsys.readouterr().out
    possible = sum(q.points for q in spec.autograded)
    assert f"total: {possible - spec.question('squared_loss').points:g}/{possible:g} points from the public checks" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith(("  ✓ ", "  ✗ "))}
    assert set(rows) == {q.name for q in spec.autograded}
    assert [name for name, row in rows.items() if row.startswith("  ✗")] == ["squared_loss"]
    assert "0/1 points" in rows["squared_loss"] and "has wrong values" in out


def test_a_release_names_the_students_own_helpers_when_they_may_be_the_cause(capsys, release):
    # An sgd that never updates the caller's tensors: it fails its own check, and train cannot learn with it.
    namespace = _kernel("linreg_scratch", _wrong("linreg_scratch", "sgd_rebinds_param"))
    out = _report("linreg_scratch", "train", namespace, course=release, capsys=capsys)
    assert out.startswith("train: 0 of 1 public checks passed")
    assert "Note: `train` calls your own `sgd`, whose checks fail too: fix it first." in out
    # With the book's sources at hand (a course checkout, or grading) train gets the book's sgd and passes.
    out = _report("linreg_scratch", "train", namespace, capsys=capsys)
    assert out.startswith("train: 1 of 1 public checks passed") and "Note" not in out


def test_colours_are_optional(capsys):
    namespace = _kernel("linreg_scratch", _wrong("linreg_scratch", "squared_loss_no_half"))
    for question, colour in (("linreg", "\x1b[32m"), ("squared_loss", "\x1b[31m")):
        SelfCheck("linreg_scratch", namespace, course=COURSE, colour=True).check(question)
        coloured = capsys.readouterr().out
        SelfCheck("linreg_scratch", namespace, course=COURSE, colour=False).check(question)
        plain = capsys.readouterr().out
        assert colour in coloured and "\x1b" not in plain
        assert ANSI.sub("", coloured) == plain


def test_an_unknown_function_is_named_with_the_known_ones(capsys):
    out = _report("linreg_scratch", "squared_los", _kernel("linreg_scratch"), capsys=capsys)
    assert "linreg_scratch has no graded function 'squared_los'" in out and "squared_loss" in out


def test_one_check_takes_under_a_second_after_the_first():
    checker = SelfCheck("linreg_scratch", _kernel("linreg_scratch"), course=COURSE, colour=False)
    checker.report("squared_loss")  # the first call loads the reference and imports the graders
    times = []
    for _ in range(3):
        started = time.perf_counter()
        checker.report("squared_loss")
        times.append(time.perf_counter() - started)
    assert min(times) < 1.0, f"check('squared_loss') took {min(times):.2f} s at best"


# --------------------------------------------------------------------------- the notebooks' check cells
@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_every_graded_function_is_followed_by_its_check_cell(assignment):
    stub = nb.load_notebook(COURSE.stub(assignment))
    cells = stub.cells
    checks = [c for c in cells if nb.is_check_cell(c)]
    assert f'checks_for("{assignment}")' in checks[0].source
    assert cells[-1].source == "check_all()" and nb.is_check_cell(cells[-1])
    for index, cell in enumerate(cells):
        if nb.is_test_cell(cell):
            name = cell.metadata["nbgrader"]["grade_id"].removeprefix("test_")
            assert cells[index + 1].source == f'check("{name}")' and nb.is_check_cell(cells[index + 1])
    # grading never runs them: they would import the graders inside the student's process
    assert not {c.index for c in nb.code_cells(stub)} & {i for i, c in enumerate(cells) if nb.is_check_cell(c)}


# --------------------------------------------------------------------------- on the command line
def _write(tmp_path: Path, notebook) -> Path:
    path = tmp_path / "linreg_concise.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_check_command_fails_on_a_wrong_answer(tmp_path, capsys):
    path = _write(tmp_path, filled_stub(COURSE, "linreg_concise", {"HuberLoss": _wrong("linreg_concise", "huber_sums")}))
    assert main(["--course", str(ROOT), "check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"checking {path.name}: running it in a sandbox from the top, as grading does")
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith(("  ✓ ", "  ✗ "))}
    assert set(rows) == {q.name for q in COURSE.assignment("linreg_concise").autograded}
    assert [name for name, row in rows.items() if row.startswith("  ✗")] == ["HuberLoss"]
    assert "0/3 points" in rows["HuberLoss"] and "but it is 4.125" in out
    assert "total: 10/13 points from the public checks" in out


@pytest.mark.slow
def test_check_command_on_one_question_judges_that_question_only(tmp_path, capsys, monkeypatch):
    path = _write(tmp_path, filled_stub(COURSE, "linreg_concise", {"HuberLoss": _wrong("linreg_concise", "huber_sums")}))
    launched = []
    monkeypatch.setattr(Zygote, "start", lambda self, *a, _start=Zygote.start, **k: launched.append(k) or _start(self, *a, **k))
    assert main(["--course", str(ROOT), "check", str(path), "--question", "make_net"]) == 0
    assert launched == [{"wait": False, "shares": 0}], "the check started its zygote other than early, or twice"
    out = capsys.readouterr().out
    assert re.search(r"^make_net: (\d+) of \1 public checks passed \(2/2 points\)$", out, re.MULTILINE), out
    assert "HuberLoss" not in out and "✗" not in out


@pytest.mark.slow
def test_the_check_program_exits_quickly_with_its_status_and_all_it_printed(tmp_path):
    """``d2lgrade`` as a program leaves without tearing torch down, but after the atexit functions."""
    path = _write(tmp_path, filled_stub(COURSE, "linreg_concise", {"HuberLoss": _wrong("linreg_concise", "huber_sums")}))
    marker = tmp_path / "atexit-ran"
    program = ("import atexit, pathlib, sys; from d2lgrade import cli; "
               f"atexit.register(pathlib.Path({str(marker)!r}).touch); sys.argv[1:] = sys.argv[2:]; cli.run()")
    done = subprocess.run([sys.executable, "-c", program, "d2lgrade", "--course", str(ROOT), "check", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "total: 10/13 points from the public checks" in done.stdout, done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("Your notebook ran for"), "the output was cut short"
    assert done.stderr.startswith(f"checking {path.name}"), done.stderr
    assert marker.exists(), "the atexit functions did not run"


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_check_command_rejects_an_unknown_question(tmp_path, capsys):
    path = _write(tmp_path, filled_stub(COURSE, "linreg_concise"))
    assert main(["--course", str(ROOT), "check", str(path), "--question", "huber"]) == 2
    assert "linreg_concise has no graded function huber" in capsys.readouterr().out


@pytest.mark.usefixtures("cli_on_grading_zygote")
def test_a_torch_other_than_the_locks_is_noted_once_before_the_results(release, tmp_path, capsys):
    copy = tmp_path / "release"
    shutil.copytree(release.root, copy)
    lock = copy / "requirements.lock"
    lock.write_text(re.sub(r"(?m)^torch==.*$", "torch==1.13.1", lock.read_text()))
    check, _ = checks_for("linreg_scratch", _kernel("linreg_scratch"), course=Course(copy), colour=False)
    check("linreg")
    first = capsys.readouterr().out.splitlines()
    torch = importlib.metadata.version("torch")
    assert first[0] == (f"Note: this Python has torch {torch}, but the checks were made with torch 1.13.1; results may differ. "
                        "To install those: python -m pip install torch==1.13.1")
    assert first[1].startswith("linreg: 2 of 2 public checks passed")
    check("linreg")
    assert capsys.readouterr().out.startswith("linreg: 2 of 2 public checks passed")  # once is enough
    check, _ = checks_for("linreg_scratch", _kernel("linreg_scratch"), course=release, colour=False)
    check("linreg")
    assert "Note" not in capsys.readouterr().out  # the release's own lock: this venv's versions
    # d2lgrade check says it too, first
    path = tmp_path / "linreg_scratch.ipynb"
    nbformat.write(filled_stub(COURSE, "linreg_scratch"), path)
    assert main(["--course", str(copy), "check", str(path), "--question", "linreg"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == first[0] and out[1].startswith("linreg: 2 of 2 public checks passed")
