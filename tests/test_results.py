"""Results: points shared out per question, totals computed, and a lossless dict form."""

import json

import pytest

from d2lgrade.execute import CellReport
from d2lgrade.notebook import Question
from d2lgrade.results import OUTCOMES, QuestionResult, SubmissionResult, TestResult, share_points


@pytest.mark.parametrize(
    ("points", "outcomes", "score"),
    [
        (2.0, ["passed", "passed"], 2.0),
        (2.0, ["passed", "failed"], 1.0),
        (3.0, ["passed", "error", "failed"], 1.0),
        (1.0, ["passed", "failed", "failed"], 0.3333),
        (2.0, ["passed", "skipped"], 2.0),
        (2.0, ["failed", "skipped", "skipped"], 0.0),
        (2.0, ["passed", "grader_error"], 1.0),
        (2.0, ["grader_error"], 0.0),
        (2.0, ["skipped", "skipped"], 0.0),
        (2.0, [], 0.0),
    ],
    ids=["all passed", "half", "third", "rounded", "skipped ignored", "skipped ignored when failing",
         "grader error is not a pass", "only a grader error", "only skipped", "no tests"],
)
def test_share_points(points, outcomes, score):
    assert share_points(points, outcomes) == score


def test_share_points_reads_any_iterable_once():
    assert share_points(4.0, (o for o in ["passed", "skipped", "failed"])) == 2.0


def _test(question: str, outcome: str, **extra) -> TestResult:
    return TestResult(question=question, name=f"{question} {outcome}", test_id=f"public/x::test_{question}[]", outcome=outcome, **extra)


def _submission() -> SubmissionResult:
    return SubmissionResult(
        student="ada",
        assignment="linreg_scratch",
        path="submitted/ada/linreg_scratch/linreg_scratch.ipynb",
        seed=7,
        questions=(
            QuestionResult("squared_loss", 2.0, True, (_test("squared_loss", "passed"), _test("squared_loss", "failed", message="should have shape (4, 1)"))),
            QuestionResult("sgd", 3.0, True, (_test("sgd", "passed"), _test("sgd", "skipped"), _test("sgd", "grader_error", staff_detail="Traceback ..."))),
            QuestionResult("train", 1.0, True, ()),
            QuestionResult("zero_init", 5.0, False, ()),
        ),
        cells=(CellReport(0, "ok", seconds=0.5), CellReport(3, "raised", "ValueError", "bad", 0.1), CellReport(4, "timeout", "Timeout", "the cell ran longer than 60 s")),
        seconds=2.5,
    )


def test_question_totals():
    sgd = _submission().question("sgd")
    assert sgd.score == 1.5
    assert sgd.passed == 1
    assert sgd.counted == 2


def test_a_written_answer_scores_nothing_automatically():
    question = QuestionResult("zero_init", 5.0, False, (_test("zero_init", "passed"),))
    assert question.score == 0.0


def test_submission_totals():
    result = _submission()
    assert result.score == 1.0 + 1.5 + 0.0
    assert result.possible == 2.0 + 3.0 + 1.0  # the hand-graded question is not counted
    assert [t.outcome for t in result.grader_errors] == ["grader_error"]


def test_question_lookup():
    result = _submission()
    assert result.question("train").points == 1.0
    with pytest.raises(KeyError):
        result.question("nope")


def test_to_dict_adds_the_computed_totals():
    data = _submission().to_dict()
    assert data["score"] == 2.5
    assert data["possible"] == 6.0
    assert [q["score"] for q in data["questions"]] == [1.0, 1.5, 0.0, 0.0]


def test_to_dict_from_dict_round_trip_through_json():
    result = _submission()
    again = SubmissionResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert isinstance(again.questions, tuple) and isinstance(again.questions[0].tests, tuple)
    assert isinstance(again.cells[1], CellReport) and not again.cells[1].ok


def test_from_error_gives_zero_on_every_question_with_the_reason():
    questions = (Question("squared_loss", "test_squared_loss", 2.0, True), Question("zero_init", "zero_init", 1.0, False))
    result = SubmissionResult.from_error(
        student="ben", assignment="linreg_scratch", path="ben.ipynb", seed=0, error="ben.ipynb is empty", questions=questions
    )
    assert result.error == "ben.ipynb is empty"
    assert result.score == 0.0
    assert result.possible == 2.0
    assert [(q.name, q.points, q.autograded, q.tests) for q in result.questions] == [
        ("squared_loss", 2.0, True, ()),
        ("zero_init", 1.0, False, ()),
    ]
    assert SubmissionResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_from_error_without_questions():
    result = SubmissionResult.from_error(student="x", assignment="?", path="x.ipynb", seed=1, error="no assignment")
    assert result.questions == () and result.score == 0.0 and result.possible == 0


def test_results_are_frozen():
    with pytest.raises(AttributeError):
        _submission().seed = 1  # type: ignore[misc]


def test_every_outcome_is_known():
    assert set(OUTCOMES) == {"passed", "failed", "error", "grader_error", "skipped"}
