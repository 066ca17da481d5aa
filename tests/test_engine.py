"""The engine end to end on a toy course written into a temporary folder, the way pytest tests itself."""

import dataclasses
import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from d2lgrade.cli import EXIT_GRADER_ERROR, main
from d2lgrade.course import Course
from d2lgrade.grade import Submission, grade
from d2lgrade.plugin import GRADER_BROKE

SECRET = "HIDDEN_GRADER_SECRET_7311"

PUBLIC = '''
import pytest
from d2lgrade.checks import expect_close

@pytest.mark.question("double")
def test_double_two(student):
    """double(2) is 4"""
    expect_close("`double(2)`", student.double(2.0), 4.0, hint="Multiply by two.")
'''

HIDDEN = f'''
import pytest
import torch
from d2lgrade.checks import expect_close, expect_tensor

@pytest.mark.question("double")
def test_double_tensor(student, reference):
    """double doubles a tensor"""
    x = torch.arange(4.0)
    # {SECRET}
    got = student.double(x)
    expect_tensor("`double(x)`", got, shape=(4,))
    expect_close("`double(x)`", got, reference.double(x))

@pytest.mark.question("scale")
def test_scale_in_place(student):
    """scale multiplies the tensor in place"""
    x = torch.ones(3)
    after = student.call("scale", x, 3.0).args[0]
    expect_close("x after `scale(x, 3)`", after, torch.full((3,), 3.0), hint="Change x itself: x.mul_(factor).")
'''


def _solution(name, body, points):
    source = f"def {name}{body}"
    meta = {"nbgrader": {"grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True, "task": False}}
    test = {"nbgrader": {"grade": True, "grade_id": f"test_{name}", "locked": True, "points": points, "schema_version": 3, "solution": False, "task": False}}
    return [new_code_cell(source, metadata=meta), new_code_cell(f"# checks for {name}", metadata=test)]


def _notebook(double_body, scale_body, extra=()):
    cells = [new_markdown_cell("# Toy"), new_code_cell("%matplotlib inline\nimport torch", metadata={"tags": ["setup"]})]
    cells += _solution("double", double_body, 2)
    cells += list(extra)
    cells += _solution("scale", scale_body, 1)
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


REFERENCE = ("(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
             "(x, factor):\n    ### BEGIN SOLUTION\n    x.mul_(factor)\n    ### END SOLUTION\n")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    root = tmp_path_factory.mktemp("course")
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(_notebook(*REFERENCE), root / "solutions" / "toy" / "toy.ipynb")
    for kind, text in (("public", PUBLIC), ("hidden", HIDDEN)):
        (root / "graders" / kind).mkdir(parents=True)
        (root / "graders" / kind / "toy.py").write_text(textwrap.dedent(text))
    return Course(root)


SUBMISSIONS = {
    "reference": _notebook(*REFERENCE),
    "stub": _notebook("(x):\n    raise NotImplementedError()\n", "(x, factor):\n    raise NotImplementedError()\n"),
    "wrong": _notebook("(x):\n    return 3 * x\n", "(x, factor):\n    x = x * factor\n"),
    "raises": _notebook("(x):\n    raise ValueError('no doubling today')\n", REFERENCE[1]),
    "broken_cell": _notebook(*REFERENCE, extra=[new_code_cell("1 / 0")]),
    "hangs": _notebook("(x):\n    while True:\n        pass\n", REFERENCE[1]),
    "reads_a_later_global": _notebook("(x):\n    return FACTOR * x\n", REFERENCE[1],
                                      extra=[new_code_cell("print(double(torch.ones(2)))"), new_code_cell("FACTOR = 2")]),
}


@pytest.fixture(scope="module")
def results(course, tmp_path_factory, grading_zygote):
    folder = tmp_path_factory.mktemp("submissions")
    submissions = []
    for name, notebook in SUBMISSIONS.items():
        nbformat.write(notebook, folder / f"{name}.ipynb")
        submissions.append(Submission(name, "toy", folder / f"{name}.ipynb"))
    (folder / "garbage.ipynb").write_text("{not json")
    submissions.append(Submission("garbage", "toy", folder / "garbage.ipynb"))
    return {r.student: r for r in grade(submissions, course=course, seed=3, call_timeout=5.0, zygote=grading_zygote)}


def test_each_result_records_what_confined_the_students_process(results):
    for name in ("reference", "stub", "wrong"):
        assert set(results[name].sandbox) >= {"network", "filesystem", "own_uid"}
        if os.geteuid() == 0:  # as CI runs
            assert all(results[name].sandbox[p] is True for p in ("network", "filesystem", "own_uid"))
    assert results["garbage"].sandbox == {}  # never ran


def _outcomes(result, question):
    return sorted(t.outcome for t in result.question(question).tests)


def test_reference_earns_full_marks(results):
    assert results["reference"].score == results["reference"].possible == 3


def test_stub_earns_nothing_and_says_not_implemented(results):
    stub = results["stub"]
    assert stub.score == 0
    messages = {t.message for q in stub.questions for t in q.tests}
    assert messages == {"`double` is not implemented yet (it raises NotImplementedError).",
                        "`scale` is not implemented yet (it raises NotImplementedError)."}


def test_wrong_answers_fail_with_expected_and_got(results):
    wrong = results["wrong"]
    assert wrong.score == 0
    tensor_test = next(t for t in wrong.question("double").tests if t.name == "double doubles a tensor")
    assert tensor_test.outcome == "failed"
    rows = [[cell.strip() for cell in line.split("|")] for line in tensor_test.message.splitlines()]
    assert "wrong values" in tensor_test.message and any(row[1:] == ["3", "2"] for row in rows)
    scale = wrong.question("scale").tests[0]
    assert scale.outcome == "failed" and "x.mul_(factor)" in scale.message


def test_student_exceptions_are_their_own_outcome(results):
    raised = results["raises"]
    assert _outcomes(raised, "double") == ["error", "error"]
    assert raised.question("double").tests[0].message == "`double` raised ValueError: no doubling today"
    assert raised.question("scale").score == 1


def test_a_cell_no_check_needs_is_skipped(results):
    broken = results["broken_cell"]
    assert broken.skipped_cells == (4,)  # the `1 / 0` demonstration
    assert [c.status for c in broken.cells] == ["ok", "ok", "ok"]
    assert broken.score == 3 and not broken.all_cells_again


def test_a_cell_that_binds_what_a_function_reads_runs_even_after_it(results):
    later = results["reads_a_later_global"]
    assert later.skipped_cells == (4,)  # the demonstration call, not the cell that sets FACTOR
    assert later.score == 3


def test_with_all_cells_every_cell_runs_and_a_failing_one_is_recorded(course, tmp_path, grading_zygote):
    path = tmp_path / "broken_cell.ipynb"
    nbformat.write(SUBMISSIONS["broken_cell"], path)
    (broken,) = grade([Submission("broken_cell", "toy", path)], course=course, seed=3, call_timeout=5.0, all_cells=True,
                      zygote=grading_zygote)
    assert [c.status for c in broken.cells] == ["ok", "ok", "raised", "ok"]
    assert broken.cells[2].ename == "ZeroDivisionError"
    assert broken.skipped_cells == () and broken.score == 3


def test_a_failure_a_skipped_cell_could_explain_is_graded_again_with_every_cell(course, tmp_path, monkeypatch,
                                                                                grading_zygote):
    """Were the slice ever wrong (here: made to skip the cell that sets FACTOR), the score would not change."""
    from d2lgrade import slicing

    path = tmp_path / "reads_a_later_global.ipynb"
    nbformat.write(SUBMISSIONS["reads_a_later_global"], path)
    found = slicing.needed_cells

    def missing_factor(cells, graded):
        right = found(cells, graded)
        return dataclasses.replace(right, run=tuple(i for i in right.run if i != 5), skipped=tuple(sorted(right.skipped + (5,))))

    monkeypatch.setattr(slicing, "needed_cells", missing_factor)
    (again,) = grade([Submission("reads_a_later_global", "toy", path)], course=course, seed=3, call_timeout=5.0,
                     zygote=grading_zygote)
    assert again.all_cells_again and again.skipped_cells == ()
    assert again.score == 3


def test_a_hanging_function_costs_only_its_own_tests(results):
    hangs = results["hangs"]
    assert _outcomes(hangs, "double") == ["error", "error"]
    assert "did not finish within 5 s" in hangs.question("double").tests[0].message
    assert hangs.question("scale").score == 1


def test_a_broken_notebook_is_a_result_not_a_crash(results):
    garbage = results["garbage"]
    assert garbage.score == 0 and "not valid notebook JSON" in garbage.error
    assert [q.name for q in garbage.questions] == ["double", "scale"]


def test_hidden_grader_code_never_reaches_results(results):
    text = json.dumps([r.to_dict() for r in results.values()])
    assert SECRET not in text
    assert "expect_tensor" not in text and "reference.double" not in text


def test_same_seed_same_results(course, results, tmp_path, grading_zygote):
    path = tmp_path / "wrong.ipynb"
    nbformat.write(SUBMISSIONS["wrong"], path)
    again = grade([Submission("wrong", "toy", path)], course=course, seed=3, zygote=grading_zygote)[0]
    strip = lambda r: [(t.test_id, t.outcome, t.message) for q in r.questions for t in q.tests]  # noqa: E731
    assert strip(again) == strip(results["wrong"])


def test_a_broken_grader_is_flagged_for_staff(course, tmp_path, capsys):
    broken = tmp_path / "course"
    import shutil

    shutil.copytree(course.root, broken)
    (broken / "graders" / "hidden" / "toy.py").write_text(textwrap.dedent(HIDDEN).replace("x = torch.arange(4.0)", "x = {}['missing']"))
    path = tmp_path / "reference.ipynb"
    nbformat.write(SUBMISSIONS["reference"], path)
    status = main(["--course", str(broken), "autograde", str(path), "--assignment", "toy", "--out", str(tmp_path / "out")])
    assert status == EXIT_GRADER_ERROR
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    tests = [t for q in data["submissions"][0]["questions"] for t in q["tests"]]
    broken_test = next(t for t in tests if t["name"] == "double doubles a tensor")
    assert broken_test["outcome"] == "grader_error"
    assert broken_test["message"] == GRADER_BROKE
    assert "KeyError" in broken_test["staff_detail"]
    assert "GRADER ERROR" in capsys.readouterr().out


def test_unknown_question_marker_stops_the_run(course, tmp_path):
    import shutil

    from d2lgrade.plugin import GraderError

    broken = tmp_path / "course"
    shutil.copytree(course.root, broken)
    (broken / "graders" / "public" / "toy.py").write_text(textwrap.dedent(PUBLIC).replace('question("double")', 'question("tripple")'))
    path = tmp_path / "reference.ipynb"
    nbformat.write(SUBMISSIONS["reference"], path)
    with pytest.raises(GraderError, match="tripple"):
        grade([Submission("r", "toy", path)], course=Course(broken))


MIXED = '''

@pytest.fixture
def two():
    return 2.0


@pytest.mark.question("double")
def test_double_through_a_fixture_of_its_own(student, two, tmp_path):
    """double(2) is 4, asked through the grader's own fixture"""
    expect_close("`double(2)`", student.double(two), 4.0)


@pytest.mark.question("scale")
@pytest.mark.skipif(True, reason="not on this machine")
def test_scale_skipped_by_a_mark(student):
    """never runs"""
'''


@pytest.fixture(scope="module")
def mixed_course(course, tmp_path_factory) -> Course:
    """The toy course with two tests only pytest's own run can run: a fixture of the grader's own, a skipif mark."""
    import shutil

    root = tmp_path_factory.mktemp("mixed") / "course"
    shutil.copytree(course.root, root)
    hidden = root / "graders" / "hidden" / "toy.py"
    hidden.write_text(hidden.read_text() + textwrap.dedent(MIXED))
    return Course(root)


def test_the_lean_way_and_pytests_own_run_grade_alike(mixed_course, tmp_path, monkeypatch, grading_zygote):
    """Tests that need only the plugin's fixtures skip pytest's per-test machinery (GradingPlugin.lean);
    the others, mixed in with them for the same submission, run pytest's way. Every result is the same."""
    from d2lgrade import plugin

    submissions = []
    for name, notebook in SUBMISSIONS.items():
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")
        submissions.append(Submission(name, "toy", tmp_path / f"{name}.ipynb"))
    lean_way, decided = plugin._lean, {}

    def spy(item, own):
        decided[item.originalname] = lean_way(item, own)
        return decided[item.originalname]

    monkeypatch.setattr(plugin, "_lean", spy)

    def graded() -> dict:
        results = grade(submissions, course=mixed_course, seed=3, call_timeout=2.0, zygote=grading_zygote)
        return {r.student: ([(t.test_id, t.name, t.outcome, t.message, t.hidden) for q in r.questions for t in q.tests],
                            r.score, [c.status for c in r.cells], r.skipped_cells) for r in results}

    lean = graded()
    assert decided == {"test_double_two": True, "test_double_tensor": True, "test_scale_in_place": True,
                       "test_double_through_a_fixture_of_its_own": False, "test_scale_skipped_by_a_mark": False}
    monkeypatch.setattr(plugin.GradingPlugin, "lean", False)
    assert graded() == lean
    tests = {t[0].split("::")[1].split("[")[0]: t for t in lean["reference"][0]}
    assert tests["test_double_through_a_fixture_of_its_own"][2] == "passed"
    assert tests["test_scale_skipped_by_a_mark"][2:4] == ("skipped", "not on this machine")
    assert lean["reference"][1] == 3 and lean["wrong"][1] == 0
    assert [t[2] for t in lean["hangs"][0] if "double" in t[0]] == ["error", "error", "error"]
