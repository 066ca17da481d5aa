"""Lending the book's functions: what is lent to whom, in what order, and what the grading side runs.

The end-to-end proofs are elsewhere: tests/test_no_answers_sent.py scans what
grading writes to the student's process, and tests/exploits/keep_what_grading_sends.py
keeps everything that reaches it and still earns nothing.
"""

from pathlib import Path

import pytest
import torch

from d2lgrade import book, wire
from d2lgrade.course import Course
from d2lgrade.grade import load_reference
from d2lgrade.notebook import CodeCell, top_level_definitions

ROOT = Path(__file__).resolve().parent.parent
COURSE = Course(ROOT)


@pytest.fixture(scope="module")
def scratch():
    return COURSE.assignment("linreg_scratch")


@pytest.fixture(scope="module")
def reference(scratch):
    return load_reference(scratch)


def test_train_borrows_what_the_books_train_calls(scratch):
    lent = book.lent_functions(scratch, "train")
    assert lent == {"data_iter": "grader", "linreg": "d2l", "squared_loss": "d2l", "sgd": "d2l"}


def test_a_lent_question_is_never_lent_to_its_own_tests(scratch):
    for question in scratch.lent_names:
        assert question not in book.lent_functions(scratch, question)


def test_an_exercise_borrows_every_lent_function(scratch):
    assert set(book.lent_functions(scratch, "lr_sweep")) == scratch.lent_names


@pytest.mark.parametrize("assignment", COURSE.assignment_names())
def test_a_question_is_tested_before_any_question_it_is_lent_to(assignment):
    spec = COURSE.assignment(assignment)
    rank = book.test_rank(spec)
    assert sorted(rank) == sorted(q.name for q in spec.autograded)
    for question in rank:
        for lent in book.lent_functions(spec, question):
            assert rank[lent] < rank[question], f"{lent} is lent to {question} but tested after it"


def _call(name, *args, **kwargs):
    return {"status": "lend", "name": name, "args": wire.encode(list(args)), "kwargs": wire.encode(kwargs)}


def test_the_grading_side_runs_the_reference_on_values(scratch, reference):
    features, labels = torch.arange(10.0).reshape(5, 2), torch.arange(5.0).reshape(5, 1)
    lent = book.lent_functions(scratch, "train")
    answer = book.serve(reference, lent, "train", _call("data_iter", 2, features, labels))
    assert answer["status"] == "ok", answer
    batches = wire.decode(answer["value"]).items
    assert [len(X) for X, _ in batches] == [2, 2, 1]
    assert sorted(float(y) for _, ys in batches for y in ys) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_a_lent_function_changes_tensors_in_place_and_they_come_back(scratch, reference):
    features, labels = torch.randn(20, 2), torch.randn(20, 1)
    w, b = torch.zeros(2, 1, requires_grad=True), torch.zeros(1, requires_grad=True)
    lent = book.lent_functions(scratch, "lr_sweep")
    answer = book.serve(reference, lent, "lr_sweep", _call("train", features, labels, w, b, lr=0.1, num_epochs=2))
    assert answer["status"] == "ok", answer
    assert len(wire.decode(answer["value"])) == 2
    w_after = wire.decode(answer["args"])[2]
    assert not torch.equal(w_after.detach(), torch.zeros(2, 1))


@pytest.mark.parametrize("name, keep", [
    ("data_iter", "data_iter"),  # the function under test is never run for the student
    ("init_params", "train"),  # not lent to train
    ("linreg", "train"),  # lent by d2l, in the student's own process
    ("fit_temperature", "lr_sweep"),  # an exercise is never lent
])
def test_the_grading_side_refuses_what_is_not_lent_to_the_call(scratch, reference, name, keep):
    lent = book.lent_functions(scratch, keep)
    answer = book.serve(reference, lent, keep, _call(name, 3))
    assert answer["status"] == "raised"
    assert "not lent" in answer["evalue"]


def test_the_grading_side_bounds_the_work_it_does_for_a_student(scratch, reference):
    lent = book.lent_functions(scratch, "lr_sweep")
    w, b = torch.zeros(2, 1, requires_grad=True), torch.zeros(1, requires_grad=True)
    for epochs in (10**9, float("inf")):
        answer = book.serve(reference, lent, "lr_sweep", _call("train", torch.randn(100, 2), torch.randn(100, 1), w, b, num_epochs=epochs))
        assert answer["status"] == "raised" and "element-epochs" in answer["evalue"], answer


def test_bad_arguments_become_the_students_error(scratch, reference):
    lent = book.lent_functions(scratch, "lr_sweep")
    raised = book.serve(reference, lent, "lr_sweep", _call("data_iter", 0, torch.ones(3, 1), torch.ones(3, 1)))
    assert raised["status"] == "raised" and raised["ename"] == "ValueError"
    code = {"status": "lend", "name": "init_params", "args": [wire.encode_code(wire.Code("2"))], "kwargs": wire.encode({})}
    assert "could not be read" in book.serve(reference, lent, "lr_sweep", code)["evalue"]
    garbage = {"status": "lend", "name": "init_params", "args": {"$type": "tensor"}, "kwargs": 5}
    assert book.serve(reference, lent, "lr_sweep", garbage)["status"] == "raised"


def _definitions(source):
    return top_level_definitions([CodeCell(0, "from d2l import torch as d2l\nimport torch"), CodeCell(1, source)])


@pytest.mark.parametrize("source, copied", [
    ("from d2l.torch import sgd", True),
    ("sgd = d2l.sgd", True),
    ("def sgd(params, lr, batch_size):\n    return d2l.sgd(params, lr, batch_size)", True),
    ("from d2l import torch as book\ndef sgd(params, lr, batch_size):\n    return book.sgd(params, lr, batch_size)", True),
    ("def sgd(params, lr, batch_size):\n    step(params)\ndef step(params):\n    d2l.sgd(params, 1, 1)", True),
    ("def sgd(params, lr, batch_size):\n    with torch.no_grad():\n        for p in params:\n            p -= lr * p.grad / batch_size", False),
    ("def sgd(params, lr, batch_size):\n    return d2l.linreg(params)", False),
])
def test_a_function_that_is_d2ls_own_is_found_in_the_source(source, copied):
    assert book.copied_from_d2l("sgd", _definitions(source)) is copied


def test_a_function_that_calls_its_own_name_on_something_else_is_not_a_copy():
    assert not book.copied_from_d2l("sgd", _definitions("def sgd(params, lr, batch_size):\n    return optimiser.sgd(params)"))
