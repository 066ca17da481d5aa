"""The student's side, in this process: a Session answering requests about a plain dict namespace."""

import textwrap

import pytest
import torch

from d2lgrade import child, wire
from d2lgrade.child import Session

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

STUDENT = '''
import sys
import torch

def helper(x):
    raise ValueError("bad value " + str(x))

def fails(x):
    return helper(x)

def add(a, b=1):
    return a + b

def apply(f, x):
    return f(x)

def todo(x):
    raise NotImplementedError

def quits():
    sys.exit(3)

def chatty():
    print("hello")
    print("to stderr", file=sys.stderr)
    return 1

def floods():
    print("x" * 50_000)
    return 2

def scale_(t, factor, extra=None):
    t.mul_(factor)
    if extra is not None:
        extra.append("touched")

def noise():
    return torch.rand(3)

def batches(n):
    for i in range(n):
        if i == 2:
            raise RuntimeError("stopped at 2")
        yield i

def sgd(params, lr, batch_size):
    return "student sgd"

def data_iter(batch_size, features, labels):
    return "student data_iter"

def train():
    return [sgd.__module__, [[X.tolist(), y.tolist()] for X, y in data_iter(2, torch.arange(4.0), torch.arange(4.0))]]

def init_in_place(w):
    init(w)
    return w.requires_grad

from d2l import torch as d2l
borrowed = d2l.linreg

NOT_A_FUNCTION = 42
'''

#: What grading lends, and by whom (d2lgrade.book).
LENT = {"sgd": "d2l", "data_iter": "grader", "init": "grader", "linreg": "d2l", "train": "grader"}


class FakeLender:
    """The grading side's answers to the stand-ins: records each request, runs ``functions`` on values."""

    def __init__(self, **functions):
        self.functions, self.asked = functions, []

    def __call__(self, message: dict) -> dict:
        self.asked.append(message)
        args, kwargs = wire.decode(message["args"]), wire.decode(message["kwargs"])
        try:
            value = self.functions[message["name"]](*args, **kwargs)
        except Exception as exc:
            return {"status": "raised", "ename": type(exc).__name__, "evalue": str(exc)}
        return {"status": "ok", "value": wire.encode(value), "args": wire.encode(args), "kwargs": wire.encode(kwargs)}


def _book_batches(batch_size, features, labels):
    yield from zip(features.split(batch_size), labels.split(batch_size))


def _book_init(w):
    with torch.no_grad():
        w.fill_(7.0)


@pytest.fixture
def namespace() -> dict:
    """A student's namespace: the cell above, run as if from a notebook cell."""
    scope: dict = {}
    exec(compile(STUDENT, "<student-cell>", "exec"), scope)
    return scope


@pytest.fixture
def session(namespace) -> Session:
    """A Session over the student's namespace (no IPython shell needed for calls)."""
    return Session(namespace)


def call(session: Session, name: str, *args, lent=None, seed=0, **kwargs) -> dict:
    """Send a call request exactly as the grading side encodes it."""
    return session.handle(
        {
            "op": "call",
            "name": name,
            "args": wire.encode_argument(list(args)),
            "kwargs": wire.encode_argument(dict(kwargs)),
            "seed": seed,
            "lent": lent or {},
        }
    )


def test_call_ok_returns_the_encoded_value(session):
    answer = call(session, "add", torch.ones(2), b=2.0)
    assert answer["status"] == "ok"
    assert torch.equal(wire.decode(answer["value"]), torch.full((2,), 3.0))
    assert answer["stdout"] == ""
    assert answer["seconds"] >= 0


def test_call_of_a_missing_name(session):
    assert call(session, "does_not_exist") == {"status": "missing"}


def test_call_of_something_not_callable(session):
    assert call(session, "NOT_A_FUNCTION") == {"status": "not_callable", "type": "int"}


def test_call_that_raises_reports_only_the_student_frames(session):
    answer = call(session, "fails", 7)
    assert answer["status"] == "raised"
    error = answer["error"]
    assert error["ename"] == "ValueError"
    assert error["evalue"] == "bad value 7"
    assert "<student-cell>" in error["traceback"]
    assert "in fails" in error["traceback"] and "in helper" in error["traceback"]
    assert "d2lgrade" not in error["traceback"]
    assert "child.py" not in error["traceback"]


def test_not_implemented_error_is_reported_by_name(session):
    answer = call(session, "todo", 1)
    assert answer["status"] == "raised"
    assert answer["error"]["ename"] == "NotImplementedError"


def test_system_exit_inside_a_function_is_reported_as_raised(session):
    answer = call(session, "quits")
    assert answer["status"] == "raised"
    assert answer["error"]["ename"] == "SystemExit"
    assert answer["error"]["evalue"] == "3"


def test_generator_that_raises_while_drained_is_reported_as_raised(session):
    answer = call(session, "batches", 5)
    assert answer["status"] == "raised"
    assert answer["error"]["evalue"] == "stopped at 2"


def test_printing_is_captured(session):
    answer = call(session, "chatty")
    assert answer["status"] == "ok"
    assert answer["stdout"] == "hello\nto stderr\n"


def test_printing_is_bounded(session):
    answer = call(session, "floods")
    assert answer["status"] == "ok"
    assert wire.decode(answer["value"]) == 2
    assert len(answer["stdout"]) <= child.MAX_OUTPUT + len("\n[output cut]")
    assert answer["stdout"].startswith("x" * 100)
    assert answer["stdout"].endswith("[output cut]")


def test_arguments_mutated_in_place_come_back(session):
    answer = call(session, "scale_", torch.ones(2), 3.0, extra=["kept"])
    assert answer["status"] == "ok"
    assert wire.decode(answer["value"]) is None
    args = wire.decode(answer["args"])
    assert torch.equal(args[0], torch.full((2,), 3.0))
    assert args[1] == 3.0
    assert wire.decode(answer["kwargs"]) == {"extra": ["kept", "touched"]}


def test_call_is_seeded_from_the_request(session):
    first = wire.decode(call(session, "noise", seed=5)["value"])
    again = wire.decode(call(session, "noise", seed=5)["value"])
    other = wire.decode(call(session, "noise", seed=6)["value"])
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.cuda
@cuda_only
def test_cuda_arguments_and_results_stay_on_cuda(session):
    answer = call(session, "scale_", torch.ones(2, device="cuda"), 2.0)
    assert answer["status"] == "ok", answer
    after = wire.decode(answer["args"])[0]
    assert after.device.type == "cuda"
    assert torch.equal(after.cpu(), torch.full((2,), 2.0))
    value = wire.decode(call(session, "add", torch.ones(2, device="cuda"))["value"])
    assert value.device.type == "cuda"


# ------------------------------------------------------------------ lent functions


@pytest.fixture
def lender() -> FakeLender:
    return FakeLender(data_iter=_book_batches, init=_book_init)


def test_lent_functions_replace_helpers_during_the_call_but_not_the_function_under_test(namespace, lender):
    answer = call(Session(namespace, ask=lender), "train", lent=LENT)
    assert answer["status"] == "ok", answer
    module, batches = wire.decode(answer["value"])
    assert module == "d2l.torch"  # d2l's own sgd, taken from the student's process: no source crosses
    assert batches == [[[0.0, 1.0], [0.0, 1.0]], [[2.0, 3.0], [2.0, 3.0]]]  # the grading side's data_iter
    assert [m["name"] for m in lender.asked] == ["data_iter"]
    assert torch.equal(wire.decode(lender.asked[0]["args"])[1], torch.arange(4.0))


def test_lent_functions_are_put_back_after_the_call(namespace, lender):
    own_sgd, own_train = namespace["sgd"], namespace["train"]
    call(Session(namespace, ask=lender), "train", lent=LENT)
    assert namespace["sgd"] is own_sgd
    assert namespace["train"] is own_train
    assert "linreg" not in namespace  # a lent name the student never defined does not stay
    assert "init" not in namespace


def test_lent_functions_are_put_back_when_the_call_raises(namespace, lender):
    own_sgd = namespace["sgd"]
    answer = call(Session(namespace, ask=lender), "fails", 1, lent=LENT)
    assert answer["status"] == "raised"
    assert namespace["sgd"] is own_sgd


def test_the_function_under_test_is_the_students_even_if_it_is_lent(namespace, lender):
    answer = call(Session(namespace, ask=lender), "sgd", [], 0.1, 1, lent=LENT)
    assert wire.decode(answer["value"]) == "student sgd"


def test_a_lent_function_changes_the_callers_tensors_in_place(namespace, lender):
    w = torch.zeros(3, requires_grad=True)
    answer = call(Session(namespace, ask=lender), "init_in_place", w, lent=LENT)
    assert answer["status"] == "ok", answer
    after = wire.decode(answer["args"])[0]
    assert torch.equal(after.detach(), torch.full((3,), 7.0))
    assert after.requires_grad and wire.origin(after).is_leaf  # copied into the caller's leaf, not rebound


def test_a_refused_lent_call_raises_in_the_students_code(namespace):
    answer = call(Session(namespace, ask=FakeLender()), "train", lent=LENT)
    assert answer["status"] == "raised"
    assert answer["error"]["ename"] == "LentFunctionError"
    assert "data_iter" in answer["error"]["evalue"]


def test_without_a_lender_a_stand_in_raises(namespace):
    answer = call(Session(namespace), "train", lent=LENT)
    assert answer["status"] == "raised" and answer["error"]["ename"] == "LentFunctionError"


def test_d2ls_own_function_is_not_the_students(namespace):
    namespace["linreg"] = namespace["borrowed"]
    assert call(Session(namespace), "linreg", 1, 2, 3) == {"status": "library", "module": "d2l.torch"}


# ------------------------------------------------------------------ grader-written code


def test_evaluate_an_expression_with_inputs(namespace):
    code = wire.Code("add(a, b=10)", inputs={"a": 5})
    assert child.evaluate(code, namespace) == 15


def test_evaluate_statements_and_take_the_result(namespace):
    code = wire.Code(
        textwrap.dedent(
            """
            x = torch.tensor([2.0], requires_grad=True)
            (x ** 3).sum().backward()
            grad = x.grad * factor
            """
        ),
        result="grad",
        inputs={"factor": 2.0},
    )
    assert torch.equal(child.evaluate(code, namespace), torch.tensor([24.0]))


def test_evaluate_runs_in_a_copy_of_the_namespace(namespace):
    child.evaluate(wire.Code("leaked = 1\nadd = None", result="leaked"), namespace)
    assert "leaked" not in namespace
    assert callable(namespace["add"])


def test_code_argument_is_built_on_the_students_side(session):
    # what second_derivative(f, x) needs: a function the grader cannot send as a value
    answer = call(session, "apply", wire.Code("lambda v: v ** 2"), x=wire.Code("add(2)"))
    assert answer["status"] == "ok"
    assert wire.decode(answer["value"]) == 9


def test_run_op_returns_what_the_code_builds(session):
    answer = session.handle({"op": "run", "args": [wire.encode_code(wire.Code("[add(i) for i in range(3)]"))]})
    assert answer["status"] == "ok"
    assert wire.decode(answer["value"]) == [1, 2, 3]


def test_error_in_grader_code_hides_the_grader_frames(session):
    answer = session.handle({"op": "run", "args": [wire.encode_code(wire.Code("fails(2)"))]})
    assert answer["status"] == "raised"
    assert answer["error"]["ename"] == "ValueError"
    assert "<d2lgrade-code>" not in answer["error"]["traceback"]
    assert "in helper" in answer["error"]["traceback"]


# ------------------------------------------------------------------ requests and errors


def test_ping_and_unknown_ops(session):
    assert session.handle({"op": "ping"}) == {"status": "ok"}
    answer = session.handle({"op": "format_disk"})
    assert answer["status"] == "bad_request"
    assert "format_disk" in answer["detail"]


def test_exception_whose_message_cannot_be_printed():
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("no")

    described = child.describe_exception(Weird())
    assert described["ename"] == "Weird"
    assert described["evalue"] == "<message could not be printed>"


def test_long_exception_messages_are_cut():
    described = child.describe_exception(ValueError("v" * 10_000))
    assert len(described["evalue"]) == child.MAX_EVALUE


def test_bounded_text_keeps_the_first_characters():
    text = child.BoundedText(limit=5)
    text.write("abc")
    text.write("defgh")
    assert text.getvalue() == "abcde\n[output cut]"


def test_a_generator_that_raises_while_drained_is_the_students_error():
    session = Session({})
    exec("def gen(n):\n    yield 1\n    raise KeyError('boom')", session.namespace)
    answer = session.handle({"op": "call", "name": "gen", "args": [3], "kwargs": {"$type": "dict", "items": []}})
    assert answer["status"] == "raised" and answer["error"]["ename"] == "KeyError"


def test_a_value_that_cannot_be_sent_is_reported_as_such():
    session = Session({})
    exec("import torch\ndef meta():\n    return torch.empty(3, device='meta')", session.namespace)
    answer = session.handle({"op": "call", "name": "meta", "args": [], "kwargs": {"$type": "dict", "items": []}})
    assert answer["status"] == "unencodable" and answer["detail"]
