"""Exports: feedback pages, the class report, JUnit XML, the CSV and write_all, from hand-made results."""

import argparse
import base64
import csv
import dataclasses
import io
import re
import types
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from d2lgrade.execute import CellReport
from d2lgrade.export import read_json, write_all, write_csv, write_feedback, write_json, write_junit, write_report
from d2lgrade.export.command import add_export_command
from d2lgrade.export.csv_grades import NBGRADER_COLUMNS
from d2lgrade.export.report import BAR_COLOUR, common_failures
from d2lgrade.export.shared import HIDDEN_OUTCOME_NOTES
from d2lgrade.results import QuestionResult, SubmissionResult, TestResult

#: Text a student's exception can carry: markup, an entity, quotes, an ANSI colour and a NUL.
HOSTILE = '<script>alert("pwned")</script><style>body{background:#ff0000 !important}</style> & \'quoted\' \x1b[31mred\x00'
#: HOSTILE as every export shows it: the control characters written out.
SHOWN_HOSTILE = HOSTILE.replace("\x1b", "\\x1b").replace("\x00", "\\x00")
#: The message of a hidden test: it must reach no export.
SECRET = "HIDDEN-SECRET: expected 42 for X=[[1, 2]]"
STAFF_ONLY = "Traceback (most recent call last): STAFF-ONLY grader bug"
PUBLIC_MESSAGE = "squared_loss returned shape (4, 4); expected (4, 1). Reshape y to the shape of y_hat."


def _test(question, name, outcome, message="", *, hidden=False, seconds=0.25, case=""):
    kind = "hidden" if hidden else "public"
    return TestResult(question, name, f"{kind}/linreg_scratch::test_{name.split()[0]}[{case}]", outcome, message, seconds, hidden,
                      STAFF_ONLY if outcome == "grader_error" else "")


def _scratch(student, squared_loss, sgd, **extra):
    return SubmissionResult(
        student=student, assignment="linreg_scratch", path=f"submitted/{student}/linreg_scratch/linreg_scratch.ipynb", seed=7,
        questions=(QuestionResult("squared_loss", 2.0, True, squared_loss), QuestionResult("sgd", 3.0, True, sgd),
                   QuestionResult("zero_init", 1.0, False)),
        **extra,
    )


def class_results():
    """Three students of linreg_scratch (all right, typical mistakes, not gradable) and one of linreg_concise."""
    ada = _scratch(
        "student_ada",
        (_test("squared_loss", "shape public", "passed"), _test("squared_loss", "shape hidden", "passed", hidden=True)),
        (_test("sgd", "update public", "passed"), _test("sgd", "update hidden", "passed", hidden=True, case="T=1"),
         _test("sgd", "update hidden", "passed", hidden=True, case="T=2"), _test("sgd", "on cuda", "skipped", "no CUDA device on this machine")),
    )
    ben = _scratch(
        "student_ben",
        (_test("squared_loss", "shape public", "failed", PUBLIC_MESSAGE), _test("squared_loss", "shape hidden", "passed", hidden=True)),
        (_test("sgd", "update public", "error", HOSTILE), _test("sgd", "update hidden (T=1)", "failed", SECRET, hidden=True, case="T=1"),
         _test("sgd", "update hidden (T=2)", "failed", SECRET, hidden=True, case="T=2"),
         _test("sgd", "zeroes grads", "grader_error", "The grader could not check this answer because of a problem on our side."),
         _test("sgd", "on cuda", "skipped", "no CUDA device on this machine", hidden=True)),
        cells=(CellReport(0, "ok"), CellReport(43, "raised", "ValueError", HOSTILE), CellReport(50, "timeout", "Timeout", "the cell ran longer than 60 s")),
    )
    cleo = SubmissionResult.from_error(
        student="student_cleo", assignment="linreg_scratch", path="submitted/student_cleo/linreg_scratch/linreg_scratch.ipynb", seed=7,
        error=f"not a notebook: {HOSTILE}", questions=ada.questions,
    )
    concise = SubmissionResult(
        student="student_ada", assignment="linreg_concise", path="submitted/student_ada/linreg_concise/linreg_concise.ipynb", seed=7,
        questions=(QuestionResult("HuberLoss", 3.0, True, (_test("HuberLoss", "huber public", "passed"), _test("HuberLoss", "huber hidden", "failed", SECRET, hidden=True))),),
    )
    return [ada, ben, cleo, concise]


def _by(results, student, assignment="linreg_scratch"):
    return next(r for r in results if r.student == student and r.assignment == assignment)


class _Tags(HTMLParser):
    """The start tags of a page and the text it would show."""

    def __init__(self, html):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


# ------------------------------------------------------------------ feedback


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedback")
    written = write_feedback(class_results(), folder)
    return folder, written


def test_feedback_is_one_html_and_one_text_file_per_student_and_assignment(feedback):
    folder, written = feedback
    expected = {f"{a}/{s}.{ext}" for a, s in [("linreg_scratch", "student_ada"), ("linreg_scratch", "student_ben"),
                                              ("linreg_scratch", "student_cleo"), ("linreg_concise", "student_ada")] for ext in ("html", "txt")}
    assert {str(p.relative_to(folder)) for p in folder.rglob("*.*")} == expected
    assert {str(p.relative_to(folder)) for p in written} == expected


@pytest.mark.parametrize("ext", ["html", "txt"])
def test_feedback_shows_each_question_with_its_points(feedback, ext):
    text = _shown(feedback[0] / "linreg_scratch" / f"student_ben.{ext}", ext)
    assert "Autograded score: 1/5" in text  # squared_loss 1/2 (one of two tests), sgd 0/3 (grader error and skip do not pass)
    assert re.search(r"squared_loss\W*1/2", text)
    assert re.search(r"sgd\W*0/3", text)
    assert re.search(r"zero_init\W*graded by hand, 1 point", text)
    assert _shown(feedback[0] / "linreg_scratch" / f"student_ada.{ext}", ext).count("5/5") == 1


@pytest.mark.parametrize("ext", ["html", "txt"])
def test_feedback_shows_public_messages_and_names_hidden_tests_without_their_message(feedback, ext):
    text = _shown(feedback[0] / "linreg_scratch" / f"student_ben.{ext}", ext)
    assert PUBLIC_MESSAGE in text
    assert "no CUDA device on this machine" not in text, "a hidden test's skip reason is its message too"
    for name in ("shape hidden", "update hidden (T=1)", "update hidden (T=2)", "on cuda"):
        assert name in text
    assert HIDDEN_OUTCOME_NOTES["failed"] in text
    for folder in feedback[0].iterdir():
        for path in folder.iterdir():
            assert "HIDDEN-SECRET" not in path.read_text(encoding="utf-8"), path
            assert "STAFF-ONLY" not in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize("ext", ["html", "txt"])
def test_feedback_shows_why_a_notebook_was_not_graded_and_which_cells_stopped(feedback, ext):
    ben = _shown(feedback[0] / "linreg_scratch" / f"student_ben.{ext}", ext)
    assert "cell 44: ValueError: <script>" in ben
    assert "cell 51: Timeout: the cell ran longer than 60 s" in ben
    assert "cell 1:" not in ben
    assert SHOWN_HOSTILE in ben
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", ben), "control characters are written out, not sent to a terminal"
    cleo = _shown(feedback[0] / "linreg_scratch" / f"student_cleo.{ext}", ext)
    assert "could not be graded" in cleo and "not a notebook: <script>" in cleo
    assert "Autograded score: 0/5" in cleo


def test_feedback_html_escapes_student_text_and_fetches_nothing(feedback):
    html = (feedback[0] / "linreg_scratch" / "student_ben.html").read_text(encoding="utf-8")
    tags = _Tags(html).tags
    assert [tag for tag, _ in tags if tag in ("script", "img", "link", "iframe")] == []
    assert sum(tag == "style" for tag, _ in tags) == 1, "only the page's own inline style"
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html
    assert not re.search(r"(src|href)=", html)


def test_feedback_refuses_a_student_name_that_leaves_its_folder(tmp_path):
    outside = SubmissionResult(student="../../escaped", assignment="linreg_scratch", path="x.ipynb", seed=0)
    with pytest.raises(ValueError, match="file name"):
        write_feedback([outside], tmp_path / "feedback")
    assert not list(tmp_path.rglob("*.html"))


def _shown(path, ext):
    """What a reader sees: the text file as it is, the page's text with entities decoded."""
    text = path.read_text(encoding="utf-8")
    return text if ext == "txt" else "".join(_Tags(text).text)


# ------------------------------------------------------------------ JUnit


def test_junit_counts_match_the_results(tmp_path):
    results = class_results()
    write_junit(results, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    outcomes = [t.outcome for r in results for q in r.questions for t in q.tests]
    not_graded = sum(1 for r in results if r.error)
    assert root.tag == "testsuites"
    assert int(root.get("tests")) == len(outcomes) + not_graded == len(root.findall(".//testcase"))
    assert int(root.get("failures")) == outcomes.count("failed") == len(root.findall(".//failure"))
    assert int(root.get("errors")) == outcomes.count("error") + outcomes.count("grader_error") + not_graded
    assert int(root.get("skipped")) == outcomes.count("skipped")
    assert float(root.get("time")) == pytest.approx(0.25 * len(outcomes), abs=0.01)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"{r.student}: {r.assignment}" for r in results]
    for suite, result in zip(suites, results):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert properties["seed"] == "7" and properties["score"] == f"{result.score:g}"
        tests = [t for q in result.questions for t in q.tests]
        test_cases = cases[1:] if result.error else cases
        assert [c.get("classname") for c in test_cases] == [f"{result.student}.{result.assignment}.{t.question}" for t in tests]


def test_junit_escapes_messages_and_keeps_hidden_ones_out(tmp_path):
    write_junit(class_results(), tmp_path / "junit.xml")
    text = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert "HIDDEN-SECRET" not in text and "STAFF-ONLY" not in text
    root = ET.fromstring(text.encode())
    ben = next(s for s in root.findall("testsuite") if s.get("name") == "student_ben: linreg_scratch")
    errors = {c.get("name"): c.find("error") for c in ben.findall("testcase") if c.find("error") is not None}
    assert errors["update public"].get("message") == SHOWN_HOSTILE == errors["update public"].text
    assert errors["zeroes grads"].get("type") == "grader_error"
    failures = {c.get("name"): c.find("failure") for c in ben.findall("testcase") if c.find("failure") is not None}
    assert failures["update hidden (T=1)"].get("message") == HIDDEN_OUTCOME_NOTES["failed"]
    assert "cell 44: ValueError: <script>" in ben.find("system-err").text
    cleo = next(s for s in root.findall("testsuite") if s.get("name") == "student_cleo: linreg_scratch")
    assert cleo.find("testcase/error").get("type") == "not_graded"


# ------------------------------------------------------------------ CSV


def _nbgrader_header(tmp_path):
    """The header ``nbgrader export`` writes: nbgrader's own exporter, on a gradebook with nobody in it."""
    from nbgrader.plugins.export import CsvExportPlugin

    CsvExportPlugin(to=str(tmp_path / "nbgrader.csv")).export(types.SimpleNamespace(assignments=[], students=[]))
    return (tmp_path / "nbgrader.csv").read_text().splitlines()[0].split(",")


def test_csv_starts_with_nbgrader_columns_then_one_per_question(tmp_path):
    write_csv(class_results(), tmp_path / "grades.csv")
    header = next(csv.reader(io.StringIO((tmp_path / "grades.csv").read_text(encoding="utf-8"))))
    nbgrader = _nbgrader_header(tmp_path)
    assert NBGRADER_COLUMNS == nbgrader
    assert header == [*nbgrader, "squared_loss", "sgd", "HuberLoss", "error"], "hand-graded zero_init has no column"


def test_csv_values_match_the_results(tmp_path):
    results = class_results()
    write_csv(results, tmp_path / "grades.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text(encoding="utf-8"))))
    assert [(r["assignment"], r["student_id"]) for r in rows] == [
        ("linreg_scratch", "student_ada"), ("linreg_scratch", "student_ben"), ("linreg_scratch", "student_cleo"), ("linreg_concise", "student_ada")]
    for row in rows:
        result = _by(results, row["student_id"], row["assignment"])
        assert row["score"] == row["raw_score"] == f"{result.score:g}"
        assert row["max_score"] == f"{result.possible:g}"
        assert row["late_submission_penalty"] == "0"
        assert row["error"] == (result.error or "").replace(HOSTILE, SHOWN_HOSTILE)
        for question in ("squared_loss", "sgd", "HuberLoss"):
            scores = {q.name: f"{q.score:g}" for q in result.questions}
            assert row[question] == scores.get(question, "")
    assert [rows[1][q] for q in ("squared_loss", "sgd", "score")] == ["1", "0", "1"]


# ------------------------------------------------------------------ class report


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    written = write_report(class_results(), folder)
    return {path.stem: path.read_text(encoding="utf-8") for path in written}


def _images(html):
    return [attrs for tag, attrs in _Tags(html).tags if tag == "img"]


def test_report_is_one_self_contained_page_per_assignment(reports):
    assert sorted(reports) == ["linreg_concise", "linreg_scratch"]
    for html in reports.values():
        tags = _Tags(html).tags
        assert [tag for tag, _ in tags if tag in ("script", "link", "iframe", "object")] == []
        assert all(attrs["src"].startswith("data:image/svg+xml;base64,") for attrs in _images(html))
        assert not re.search(r"(src|href)=[\"']?(https?:|//|file:)", html)


def test_report_has_one_drawn_plot_for_the_totals_and_one_per_question(reports):
    images = _images(reports["linreg_scratch"])
    assert [i["alt"] for i in images] == ["distribution of total scores", "scores on squared_loss", "scores on sgd"]
    for attrs in images:
        svg = ET.fromstring(base64.b64decode(attrs["src"].split(",", 1)[1]))
        assert svg.tag == "{http://www.w3.org/2000/svg}svg" and (svg.get("width"), svg.get("height")) == (attrs["width"], attrs["height"])
        bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("fill") == BAR_COLOUR]
        assert sum(float(e.get("width")) * float(e.get("height")) for e in bars) > 100, f"{attrs['alt']}: no bars drawn"
    assert len(_images(reports["linreg_concise"])) == 2


def test_report_lists_common_failures_public_verbatim_hidden_by_name(reports):
    text = "".join(_Tags(reports["linreg_scratch"]).text)
    assert PUBLIC_MESSAGE in text and SHOWN_HOSTILE in text
    assert "update hidden (2 cases)" in text, "the cases of one hidden test are one row"
    assert "HIDDEN-SECRET" not in reports["linreg_scratch"] and "STAFF-ONLY" not in reports["linreg_scratch"]
    assert "student_" not in reports["linreg_scratch"], "the report counts students, never names them"
    assert "<script>" not in reports["linreg_scratch"] and "<style>body" not in reports["linreg_scratch"]
    assert "3 submission(s)" in text and "1 could not be graded" in text


def test_common_failures_counts_students_not_tests():
    failures = common_failures(class_results()[:3])
    counted = {(f.question, f.text, f.hidden): len(f.students) for f in failures}
    assert counted == {
        ("squared_loss", PUBLIC_MESSAGE, False): 1,
        ("sgd", HOSTILE, False): 1,
        ("sgd", "update hidden (2 cases)", True): 1,
    }
    twice = class_results()[:2] + [dataclasses.replace(class_results()[1], student="student_dan")]
    assert {len(f.students) for f in common_failures(twice)} == {2}


# ------------------------------------------------------------------ write_all and the command


def test_write_all_writes_every_export(tmp_path):
    results = class_results()
    written = write_all(results, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["feedback", "grades.csv", "junit.xml", "report", "results.json"]
    assert sorted(p.name for p in written) == sorted(p.name for p in (tmp_path / "out").iterdir())
    assert read_json(tmp_path / "out" / "results.json") == results
    assert (tmp_path / "out" / "report" / "linreg_scratch.html").is_file()
    assert (tmp_path / "out" / "feedback" / "linreg_concise" / "student_ada.txt").is_file()


def test_json_keeps_text_that_utf8_cannot_encode(tmp_path):
    results = [dataclasses.replace(r, error="lone surrogate \ud800 and NUL \x00") for r in class_results()]
    write_json(results, tmp_path / "results.json")
    assert read_json(tmp_path / "results.json") == results
    write_all(results, tmp_path / "out")  # every other export writes it, written out
    assert "lone surrogate \ufffd and NUL \\x00" in (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8")


def _export(argv):
    parser = argparse.ArgumentParser()
    add_export_command(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_export_command_rewrites_every_export_from_a_results_file(tmp_path, capsys):
    write_json(class_results(), tmp_path / "results.json")
    assert _export(["export", str(tmp_path / "results.json"), "--out", str(tmp_path / "again")]) == 0
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["feedback", "grades.csv", "junit.xml", "report", "results.json"]
    assert f"wrote {tmp_path / 'again' / 'report'}" in capsys.readouterr().out
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    assert _export(["export", str(tmp_path / "other.json")]) == 2
    assert "not a d2lgrade results file" in capsys.readouterr().err


def test_feedback_says_which_cells_did_not_run():
    from d2lgrade.export.feedback import feedback_html, feedback_text
    from d2lgrade.results import SubmissionResult

    sliced = SubmissionResult(student="ada", assignment="toy", path="ada.ipynb", seed=0, skipped_cells=(4, 9))
    assert "2 cell(s) that no check needs did not run (cells 5, 10" in feedback_text(sliced)
    assert "cells 5, 10" in feedback_html(sliced)
    again = SubmissionResult(student="ada", assignment="toy", path="ada.ipynb", seed=0, all_cells_again=True)
    assert "Every cell of your notebook ran" in feedback_text(again)
    assert "did not run" not in feedback_text(SubmissionResult(student="ada", assignment="toy", path="ada.ipynb", seed=0))
