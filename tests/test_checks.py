"""Checks fail with a message for the student (expected and got); rules read source with ast."""

import ast
import math
import textwrap

import numpy as np
import pytest
import torch

from d2lgrade import checks, rules, wire
from d2lgrade.checks import expect, expect_close, expect_floats, expect_items, expect_scalar, expect_tensor
from d2lgrade.plugin import forfeit
from d2lgrade.results import TestResult

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

Failed = pytest.fail.Exception


def failure(check, *args, **kwargs) -> str:
    """The message ``check`` fails with; the test fails if it passes instead."""
    with pytest.raises(Failed) as caught:
        check(*args, **kwargs)
    assert caught.value.pytrace is False, "grader code must never be shown"
    return caught.value.msg


# ------------------------------------------------------------------ fail, expect, describe


def test_fail_hides_the_traceback():
    assert failure(checks.fail, "plain words") == "plain words"


def test_expect_passes_and_fails_with_the_hint():
    expect(True, "never shown")
    assert failure(expect, False, "`f` is wrong.", "Try again.") == "`f` is wrong. Try again."


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (torch.zeros(2, 3), "a float32 tensor of shape (2, 3) on cpu"),
        (np.zeros(4), "a numpy float64 array of shape (4,)"),
        (torch.zeros(1, dtype=torch.int64), "an int64 tensor of shape (1,) on cpu"),
        (np.float32(2.5), "numpy float32 2.5"),
        (wire.Opaque("torch.utils.data.dataloader.DataLoader", "<...>"), "an object of type DataLoader"),
        (wire.ModuleInfo("torch.nn.modules.linear.Linear", (), {}, {}, True), "a module of type Linear"),
        (wire.Iterated("builtins.generator", (1, 2), True), "an iterator that yielded 2 items"),
        (None, "None"),
        ((1, 2), "a tuple of 2 items"),
        (2.5, "float 2.5"),
    ],
)
def test_describe(value, words):
    assert checks.describe(value) == words


# ------------------------------------------------------------------ expect_tensor


def test_expect_tensor_passes_and_returns_the_tensor():
    x = torch.ones(2, 3, dtype=torch.float64)
    assert expect_tensor("`f(x)`", x, shape=(2, 3), dtype=torch.float64, device="cpu") is x


@pytest.mark.parametrize(
    ("got", "options", "words"),
    [
        ([1.0, 2.0], {}, "`f(x)` should be a tensor, but it is a list of 2 items."),
        (torch.ones(2), {"shape": (2, 1)}, "`f(x)` should have shape (2, 1), but it has shape (2,)."),
        (torch.ones(2), {"dtype": torch.float64}, "`f(x)` should have dtype torch.float64, but it has dtype torch.float32."),
        (torch.ones(2), {"device": "cuda"}, "`f(x)` should be on the cuda device like its inputs, but it is on cpu."),
    ],
    ids=["not a tensor", "shape", "dtype", "device"],
)
def test_expect_tensor_fails_naming_expected_and_got(got, options, words):
    assert failure(expect_tensor, "`f(x)`", got, **options).startswith(words)


def test_expect_tensor_adds_the_hint():
    assert failure(expect_tensor, "`w`", (1.0, 2.0), hint="Return w.").endswith("but it is a tuple of 2 items. Return w.")


def test_expect_tensor_on_none_asks_for_the_return():
    assert failure(expect_tensor, "`w`", None, hint="Return w as a column.") == f"`w` should be a tensor, but it is None. {checks.NO_RETURN}"


# ------------------------------------------------------------------ expect_scalar


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        (2.5, 2.5),
        (2, 2.0),
        (np.float32(2.5), 2.5),
        (np.float64(-2.5), -2.5),
        (torch.tensor(2.5), 2.5),
        (torch.tensor([2.5]), 2.5),
        (torch.tensor([[3.5]], dtype=torch.float64), 3.5),
        (np.array([2.5]), 2.5),
    ],
    ids=["float", "int", "np.float32", "np.float64", "0-d tensor", "1-element tensor", "1x1 tensor", "1-element array"],
)
def test_expect_scalar_accepts_any_single_number(got, expected):
    value = expect_scalar("`b`", got)
    assert type(value) is float
    assert value == expected


def test_expect_scalar_reads_a_tensor_that_requires_grad():
    assert expect_scalar("`loss`", torch.tensor(1.5, requires_grad=True) * 2) == 3.0


@pytest.mark.parametrize(
    ("got", "words"),
    [
        (True, "`b` should be a number, but it is bool True."),
        (np.True_, "`b` should be a number, but it is numpy bool True. True and False come from a comparison"),
        (torch.ones(2), "`b` should be a single number, but it is a float32 tensor of shape (2,) on cpu."),
        (torch.ones(0), "`b` should be a single number, but it is a float32 tensor of shape (0,) on cpu."),
        (np.ones(3), "`b` should be a single number, but it is a numpy float64 array of shape (3,)."),
        ([2.5], "`b` should be a single number, but it is a list of 1 items."),
        ("2.5", "`b` should be a single number, but it is str '2.5'."),
        (None, "`b` should be a single number, but it is None."),
        (1 + 2j, "`b` should be a real number, but it is complex (1+2j). Nothing in this answer is complex"),
    ],
    ids=["bool", "numpy bool", "2 elements", "empty", "array", "list", "str", "None", "complex"],
)
def test_expect_scalar_refuses(got, words):
    assert failure(expect_scalar, "`b`", got).startswith(words)


# ------------------------------------------------------------------ expect_floats


def test_expect_floats_accepts_numbers_and_one_element_tensors():
    got = [1, 2.5, np.float32(3.0), torch.tensor(4.0), torch.tensor([5.0])]
    assert expect_floats("`train(...)`", got, length=5) == [1.0, 2.5, 3.0, 4.0, 5.0]
    assert expect_floats("`train(...)`", (1.0, 2.0)) == [1.0, 2.0]
    assert expect_floats("`train(...)`", torch.tensor([0.5, 0.25])) == [0.5, 0.25]


@pytest.mark.parametrize(
    ("got", "options", "words"),
    [
        (0.5, {}, "`train(...)` should be a list of numbers, but it is float 0.5."),
        (torch.ones(2, 2), {}, "`train(...)` should be a list of numbers, but it is a float32 tensor of shape (2, 2)"),
        ([0.5, 0.4], {"length": 3}, "`train(...)` should have 3 entries, but it has 2."),
        ([0.5, torch.ones(2)], {}, "entry 1 of `train(...)` should be a single number"),
        ([0.5, None], {}, "entry 1 of `train(...)` should be a single number, but it is None."),
    ],
    ids=["a number", "2-d tensor", "length", "a bigger tensor inside", "None inside"],
)
def test_expect_floats_refuses(got, options, words):
    assert failure(expect_floats, "`train(...)`", got, **options).startswith(words)


# ------------------------------------------------------------------ expect_items


def test_expect_items_reads_a_drained_generator_and_sequences():
    assert expect_items("`data_iter(...)`", wire.Iterated("builtins.generator", (1, 2), True)) == [1, 2]
    assert expect_items("`data_iter(...)`", [3]) == [3]
    assert expect_items("`data_iter(...)`", (4, 5)) == [4, 5]


def test_expect_items_refuses_an_endless_iterator():
    words = failure(expect_items, "`data_iter(...)`", wire.Iterated("builtins.generator", (1,) * 3, False))
    assert words == f"`data_iter(...)` yielded more than {wire.MAX_ITEMS} items; it should end."


@pytest.mark.parametrize(
    ("got", "kind"),
    [
        (wire.Opaque("torch.utils.data.dataloader.DataLoader", "<...>"), "an object of type DataLoader"),
        (torch.ones(3), "a float32 tensor of shape (3,) on cpu"),
        (None, "None"),
    ],
    ids=["opaque", "tensor", "None"],
)
def test_expect_items_refuses_other_values(got, kind):
    words = failure(expect_items, "`data_iter(...)`", got, hint="Use yield.")
    assert words == f"`data_iter(...)` should be an iterable such as a generator or a list, but it is {kind}. Use yield."


# ------------------------------------------------------------------ expect_close


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-6])),
        (torch.tensor([1.0, 2.0], dtype=torch.float32), torch.tensor([1.0, 2.0], dtype=torch.float64)),
        (np.array([[1.0, 2.0]]), torch.tensor([[1.0, 2.0]])),
        (torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0])),
        (torch.tensor(2.0), 2.0),
        (3, 3.0),
        (torch.tensor([0.5]), 0.5),
        (2.0, torch.tensor([2.0])),
        (torch.tensor([1 + 1j]), torch.tensor([1 + 1j])),
    ],
    ids=["within rtol", "dtype ignored", "array vs tensor", "nan equals nan", "0-d vs number", "int vs float",
         "1-element vs number", "number vs 1-element", "complex"],
)
def test_expect_close_passes(got, expected):
    expect_close("`f(x)`", got, expected)


def test_expect_close_mismatch_table():
    words = failure(expect_close, "`f(x)`", torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 2.0, 30.0, 4.0]), hint="Check the sign.")
    assert words.splitlines() == [
        "`f(x)` has wrong values. Check the sign.",
        "Mismatched elements: 1 / 4; largest difference 27.",
        "Index | Got | Expected",
        "(2,)  |   3 |       30",
    ]


def test_expect_close_mismatch_table_is_aligned():
    words = failure(expect_close, "`f(x)`", torch.tensor([[0.0], [4.0], [9.0]]), torch.tensor([[0.0], [2.0], [4.5]]))
    table = words.splitlines()[2:]
    assert table == [
        "Index  | Got | Expected",
        "(2, 0) |   9 |      4.5",
        "(1, 0) |   4 |        2",
    ]
    assert len({line.index("|") for line in table}) == 1 and len({line.rindex("|") for line in table}) == 1


def test_expect_close_table_is_capped_and_sorted_by_difference():
    got = torch.arange(20.0).reshape(4, 5)
    words = failure(expect_close, "`f(x)`", got, torch.zeros(4, 5))
    lines = words.splitlines()
    assert lines[1] == "Mismatched elements: 19 / 20; largest difference 19."
    rows = lines[3:]
    assert len(rows) == checks.TABLE_ROWS
    assert rows[0].split() == ["(3,", "4)", "|", "19", "|", "0"]
    assert rows[-1].split() == ["(3,", "0)", "|", "15", "|", "0"]


def test_expect_close_a_nan_where_a_number_belongs_is_refused():
    words = failure(expect_close, "`f(x)`", torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]))
    assert words.startswith("`f(x)` should hold finite numbers, but 1 of its 2 values are NaN or infinite "
                            "(at index (0,) it is nan where 0 was expected). NaN and infinity usually come from")


def test_expect_close_shape_mismatch_says_both_shapes_without_the_value_hint():
    words = failure(expect_close, "`squared_loss(y_hat, y)`", torch.zeros(4, 4), torch.zeros(4, 1), hint="Mind the / 2.")
    assert words == "`squared_loss(y_hat, y)` should have shape (4, 1), but it has shape (4, 4)."


VALUE_HINT = "Each example's loss is half its squared error: mind the / 2."


@pytest.mark.parametrize(
    ("got", "expected", "words"),
    [
        ([0.0, 2.0, 4.5], torch.tensor([[0.0], [2.0], [4.5]]),
         "`f(x)` should be a tensor, but it is a list of 3 items. " + checks.NOT_A_TENSOR),
        (None, torch.tensor([[0.0], [2.0], [4.5]]), "`f(x)` should be a tensor, but it is None. " + checks.NO_RETURN),
        (None, 2.0, "`f(x)` should be a single number, but it is None. " + checks.NO_RETURN),
        ("2.0", 2.0, "`f(x)` should be a single number, but it is str '2.0'."),
        (torch.zeros(3, dtype=torch.int64), torch.zeros(3), "`f(x)` should hold real floating-point numbers"),
    ],
    ids=["a list", "None for a tensor", "None for a number", "a string for a number", "integers"],
)
def test_a_wrong_type_names_its_own_cause_not_the_value_hint(got, expected, words):
    message = failure(expect_close, "`f(x)`", got, expected, hint=VALUE_HINT)
    assert message.startswith(words)
    assert VALUE_HINT not in message


def test_wrong_values_get_the_value_hint():
    assert failure(expect_close, "`f(x)`", 3.0, 2.0, hint=VALUE_HINT) == f"`f(x)` should be 2, but it is 3. {VALUE_HINT}"
    assert VALUE_HINT in failure(expect_close, "`f(x)`", torch.ones(3), torch.zeros(3), hint=VALUE_HINT).splitlines()[0]


def test_expect_close_scalar_mismatch_says_both_values():
    assert failure(expect_close, "`best_constant(x)`", 3.0, 2.0) == "`best_constant(x)` should be 2, but it is 3."


def test_expect_close_refuses_something_that_is_not_a_tensor():
    words = failure(expect_close, "`linreg(X, w, b)`", [1.0, 2.0], torch.tensor([1.0, 2.0]))
    assert words == "`linreg(X, w, b)` should be a tensor, but it is a list of 2 items. " + checks.NOT_A_TENSOR


def test_expect_close_respects_tolerances():
    expect_close("`f`", torch.tensor([1.0]), torch.tensor([1.05]), rtol=0.1)
    failure(expect_close, "`f`", torch.tensor([1.0]), torch.tensor([1.05]), rtol=0.01)


# ------------------------------------------------------------------ wrong dtypes and non-finite values
#
# A wrong answer of the wrong dtype must fail with a message, before any value is compared:
# a complex answer has the magnitudes of its real part, so comparing abs() passed a negated answer.

X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
LINREG = torch.tensor([[-0.5], [-1.5]])


def test_expect_close_refuses_a_negated_answer_as_complex():
    words = failure(expect_close, "`linreg(X, w, b)`", (-LINREG).to(torch.complex64), LINREG, hint="The model is X @ w + b.")
    assert words == (
        "`linreg(X, w, b)` should hold real floating-point numbers (float32 or float64), but it is a complex64 tensor "
        "of shape (2, 1) on cpu. Nothing in this answer is complex: look for a conversion to a complex dtype, "
        "torch.complex(...) or a fractional power of a negative number, and return real numbers."
    )


def test_expect_close_refuses_even_the_right_answer_as_complex():
    assert "complex64 tensor" in failure(expect_close, "`f(x)`", LINREG.to(torch.complex64), LINREG)


def test_expect_close_compares_magnitudes_only_when_asked():
    expect_close("`f(x)`", (-LINREG).to(torch.complex64), LINREG, magnitudes=True)
    words = failure(expect_close, "`f(x)`", torch.tensor([1 + 1j]), torch.tensor([1 - 1j]))
    assert words.splitlines()[2:] == ["Index |  Got | Expected", "(0,)  | 1+1j |     1-1j"]


@pytest.mark.parametrize(
    ("dtype", "words"),
    [
        (torch.int64, "but it is an int64 tensor of shape (2, 1) on cpu. Integers drop the fractional part"),
        (torch.int32, "but it is an int32 tensor of shape (2, 1) on cpu. Integers drop the fractional part"),
        (torch.uint8, "but it is a uint8 tensor of shape (2, 1) on cpu. Integers drop the fractional part"),
        (torch.bool, "but it is a bool tensor of shape (2, 1) on cpu. True and False come from a comparison"),
        (torch.float16, "but it is a float16 tensor of shape (2, 1) on cpu. Half precision keeps only about three"),
        (torch.bfloat16, "but it is a bfloat16 tensor of shape (2, 1) on cpu. Half precision keeps only about three"),
    ],
)
def test_expect_close_refuses_other_dtypes_before_comparing(dtype, words):
    got = torch.tensor([[0.0], [2.0]]).to(dtype)
    assert words in failure(expect_close, "`f(x)`", got, torch.tensor([[0.0], [2.0]]))


def test_expect_close_accepts_float64_for_float32_and_the_expected_kind():
    expect_close("`f(x)`", LINREG.double(), LINREG)
    expect_close("`f(x)`", torch.tensor([1, 2]), torch.tensor([1, 2]))
    expect_close("`f(x)`", torch.tensor([1, 2]), torch.tensor([1.0, 2.0]), allow={checks.INTEGER})
    expect_close("`f(x)`", np.array([1.0, 2.0], dtype=np.longdouble), torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize(
    ("got", "words"),
    [
        (np.array([1, 2]), "but it is a numpy int64 array of shape (2,). Integers drop"),
        (np.array([True, False]), "but it is a numpy bool array of shape (2,). True and False"),
        (np.array([1.0, 2.0], dtype=np.float16), "but it is a numpy float16 array of shape (2,). Half precision"),
        (np.array([1.0, 2.0], dtype=np.complex64), "but it is a numpy complex64 array of shape (2,). Nothing"),
    ],
    ids=["int", "bool", "float16", "complex"],
)
def test_expect_close_refuses_numpy_arrays_of_other_dtypes(got, words):
    assert words in failure(expect_close, "`normal(x, 0, 1)`", got, np.array([1.0, 2.0]))


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_expect_close_refuses_infinity(value):
    words = failure(expect_close, "`f(x)`", torch.tensor([1.0, value, 3.0]), torch.tensor([1.0, 2.0, 3.0]))
    assert f"1 of its 3 values are NaN or infinite (at index (1,) it is {value} where 2 was expected)" in words


def test_expect_close_accepts_nan_and_infinity_where_expected():
    special = torch.tensor([float("nan"), float("inf"), 1.0])
    expect_close("`f(x)`", special.clone(), special)
    assert "NaN or infinite" in failure(expect_close, "`f(x)`", -special, special)


@pytest.mark.parametrize(
    ("got", "words"),
    [
        (torch.tensor(True), "`b` should be a real number, but it is a bool tensor of shape () on cpu. True and False"),
        (np.bool_(False), "`b` should be a number, but it is numpy bool False. True and False"),
        (torch.tensor([3]), "`b` should be a real number, but it is an int64 tensor of shape (1,) on cpu. Integers drop"),
        (np.int64(3), "`b` should be a real number, but it is numpy int64 3. Integers drop"),
        (torch.tensor(1.5, dtype=torch.float16), "`b` should be a real number, but it is a float16 tensor"),
        (torch.tensor(-1.5 + 0j), "`b` should be a real number, but it is a complex64 tensor of shape () on cpu. Nothing"),
        (float("nan"), "`b` should be a finite number, but it is nan. NaN and infinity usually come from"),
        (torch.tensor(float("-inf")), "`b` should be a finite number, but it is -inf."),
        (10**400, "`b` should be a number that fits in a float"),
    ],
    ids=["bool tensor", "numpy bool", "int tensor", "numpy int", "float16", "complex tensor", "nan", "-inf", "huge int"],
)
def test_expect_scalar_refuses_wrong_kinds_and_non_finite(got, words):
    assert failure(expect_scalar, "`b`", got).startswith(words)


def test_expect_scalar_takes_integers_when_allowed_and_non_finite_when_told():
    assert expect_scalar("`size`", torch.tensor(7), allow={checks.INTEGER}) == 7.0
    assert expect_scalar("`size`", np.int64(7), allow={checks.INTEGER}) == 7.0
    assert expect_scalar("`size`", 7) == 7.0  # a Python int is a number
    assert math.isinf(expect_scalar("`x`", float("inf"), finite=False))


def test_expect_close_of_one_number_refuses_a_bool_and_an_int_tensor():
    assert "bool True" in failure(expect_close, "`b`", True, 1.0)
    assert "an int64 tensor" in failure(expect_close, "`b`", torch.tensor(3), 3.0)
    assert "complex64 tensor" in failure(expect_close, "`b`", torch.tensor(-3 + 0j), 3.0)
    expect_close("`b`", torch.tensor(-3 + 0j), 3.0, magnitudes=True)


def test_expect_floats_refuses_bools_complex_and_non_finite():
    assert failure(expect_floats, "the losses", [0.5, True]).startswith("entry 1 of the losses should be a number, but it is bool True.")
    assert "int64 tensor of shape (2,)" in failure(expect_floats, "the losses", torch.tensor([1, 2]))
    assert "NaN and infinity" in failure(expect_floats, "the losses", [0.5, float("nan")])
    assert "complex64 tensor" in failure(expect_floats, "the losses", [torch.tensor(0.5 + 0j)])
    assert expect_floats("sizes", [10, np.int64(3)], allow={checks.INTEGER}) == [10.0, 3.0]


@pytest.mark.parametrize(
    ("got", "words"),
    [
        (torch.tensor([1, 2]), "`X` should hold real floating-point numbers (float32 or float64), but it is an int64 tensor"),
        (torch.tensor([True]), "`X` should hold real floating-point numbers (float32 or float64), but it is a bool tensor"),
        (torch.ones(2, dtype=torch.complex64), "but it is a complex64 tensor of shape (2,) on cpu. Nothing"),
        (torch.ones(2, dtype=torch.float16), "but it is a float16 tensor of shape (2,) on cpu. Half precision"),
        (torch.tensor([0.0, float("nan")]), "`X` should hold finite numbers, but 1 of its 2 values are NaN or infinite (at index (1,) it is nan)."),
    ],
    ids=["int", "bool", "complex", "float16", "nan"],
)
def test_expect_tensor_refuses_what_is_not_real_floating_point(got, words):
    assert words in failure(expect_tensor, "`X`", got)


def test_expect_tensor_with_a_dtype_names_the_mistake_of_another_kind():
    words = failure(expect_tensor, "`X`", torch.ones(2, dtype=torch.complex64), dtype=torch.float32, hint="Use torch.normal.")
    assert words.startswith("`X` should have dtype torch.float32, but it has dtype torch.complex64. Nothing in this answer is complex")
    words = failure(expect_tensor, "`X`", torch.ones(2, dtype=torch.float64), dtype=torch.float32, hint="Use torch.normal.")
    assert words == "`X` should have dtype torch.float32, but it has dtype torch.float64. Use torch.normal."


def test_expect_tensor_allows_other_kinds_when_told():
    expect_tensor("`X`", torch.tensor([1, 2]), allow={checks.INTEGER})
    expect_tensor("`X`", torch.tensor([1, 2]), dtype=torch.int64)
    expect_tensor("`X`", torch.tensor([float("nan")]), finite=False)
    expect_tensor("`X`", torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown dtype kinds"):
        expect_tensor("`X`", torch.ones(2), allow={"strings"})


@pytest.mark.cuda
@cuda_only
def test_checks_read_cuda_values():
    got = torch.tensor([1.0, 2.0], device="cuda")
    expect_tensor("`f(x)`", got, shape=(2,), device="cuda")
    expect_close("`f(x)`", got, torch.tensor([1.0, 2.0]))
    assert expect_scalar("`b`", torch.tensor([2.5], device="cuda")) == 2.5
    assert expect_floats("`l`", got) == [1.0, 2.0]
    words = failure(expect_close, "`f(x)`", got, torch.tensor([1.0, 5.0]))
    assert "(1,) | 2 | 5" in words
    assert failure(expect_tensor, "`f(x)`", got, device="cpu").startswith("`f(x)` should be on the cpu device")


# ------------------------------------------------------------------ rules


def definitions(source: str) -> dict[str, ast.AST]:
    from d2lgrade.notebook import CodeCell, top_level_definitions

    return top_level_definitions([CodeCell(0, textwrap.dedent(source))])


class FakeStudent:
    """Just what the rules read: the submission's top-level definitions."""

    def __init__(self, source: str) -> None:
        self._definitions = definitions(source)

    def definitions(self):
        return dict(self._definitions)


THROUGH_HELPERS = """
import torch

def fit(current, voltage):
    return _solve(current, voltage)

def _solve(x, y):
    A = torch.stack([x, torch.ones_like(x)], dim=1)
    return _lstsq(A, y)

def _lstsq(A, y):
    return torch.linalg.lstsq(A, y[:, None]).solution

def unrelated():
    return torch.linalg.inv(torch.eye(2))

def recursive(n):
    return recursive(n - 1) if n else fit(1, 2)
"""


def test_reachable_follows_helpers_transitively():
    defs = definitions(THROUGH_HELPERS)
    assert {getattr(node, "name", "import") for node in rules.reachable("fit", defs)} == {"fit", "_solve", "_lstsq", "import"}
    assert rules.reachable("fit", defs)[0].name == "fit"


def test_reachable_survives_recursion_and_unknown_names():
    defs = definitions(THROUGH_HELPERS)
    assert {getattr(node, "name", "import") for node in rules.reachable("recursive", defs)} == {"recursive", "fit", "_solve", "_lstsq", "import"}
    assert rules.reachable("nowhere", defs) == []


def test_called_names_through_helpers():
    names = rules.called_names(rules.reachable("fit", definitions(THROUGH_HELPERS)))
    assert {"torch.linalg.lstsq", "lstsq", "torch.stack", "ones_like", "_solve", "_lstsq"} <= names
    assert "inv" not in names  # only in a function that fit never reaches


def test_a_variable_named_inv_is_not_flagged():
    source = """
    def fit(x, y):
        inv = 1.0 / x.var()
        lstsq_done = False
        return (inv * (x * y).mean(), lstsq_done)
    """
    names = rules.called_names(rules.reachable("fit", definitions(source)))
    assert "inv" not in names
    assert "lstsq_done" not in names
    rules.expect_no_calls(FakeStudent(source), "fit", {"inv", "lstsq", "solve"}, hint="Use autograd.")


@pytest.mark.parametrize(
    "body",
    [
        "from torch.linalg import lstsq\n    return lstsq(A, y)",
        "from torch.linalg import lstsq as ls\n    return ls(A, y)",
        "import torch.linalg as la\n    return la.lstsq(A, y)",
        "return torch.linalg.lstsq(A, y)",
    ],
    ids=["from import", "from import as", "module alias", "attribute"],
)
def test_imported_solver_is_flagged(body):
    source = f"import torch\ndef fit(A, y):\n    {body}\n"
    with pytest.raises(Failed) as caught:
        rules.expect_no_calls(FakeStudent(source), "fit", {"lstsq"}, hint="Fit with gradient descent.")
    assert caught.value.msg == "`fit` uses lstsq, which this exercise does not allow. Fit with gradient descent."


def test_obfuscated_calls_are_flagged():
    source = "def fit(A, y):\n    return getattr(__import__('torch').linalg, 'lst' + 'sq')(A, y)\n"
    words = failure(rules.expect_no_calls, FakeStudent(source), "fit", {"lstsq"}, hint="")
    assert "__import__" in words and "getattr" in words


def test_expect_calls_finds_autograd_in_a_helper():
    source = """
    def fit(x, y):
        return _step(x, y)
    def _step(x, y):
        loss = ((x - y) ** 2).sum()
        loss.backward()
    """
    rules.expect_calls(FakeStudent(source), "fit", {"backward", "grad"}, hint="")
    words = failure(rules.expect_calls, FakeStudent("def fit(x, y):\n    return x\n"), "fit", {"backward", "grad"}, hint="Use autograd.")
    assert words == "`fit` does not use backward or grad. Use autograd."


def test_loop_rules():
    loop = FakeStudent("def add_loop(a, b):\n    return [x + y for x, y in zip(a, b)]\n")
    plain = FakeStudent("def add_vectorized(a, b):\n    return a + b\n")
    rules.expect_loop(loop, "add_loop", hint="")
    rules.expect_no_loop(plain, "add_vectorized", hint="")
    costs = " Until `{}` follows this rule, its question earns no points, even for right answers."
    assert failure(rules.expect_loop, plain, "add_vectorized", hint="Loop.") == (
        "`add_vectorized` has no Python loop. Loop." + costs.format("add_vectorized"))
    assert failure(rules.expect_no_loop, loop, "add_loop", hint="No loop.") == (
        "`add_loop` uses a Python loop. No loop." + costs.format("add_loop"))
    with pytest.raises(rules.RuleBroken) as caught:
        rules.expect_loop(plain, "add_vectorized", hint="")
    assert caught.value.function == "add_vectorized"


def test_a_broken_rule_fails_every_passed_test_of_its_question_only():
    def result(question, outcome, message=""):
        return TestResult(question=question, name=f"{question} {outcome}", test_id=f"{question}-{outcome}",
                          outcome=outcome, message=message)

    tests = [result("add_loop", "passed"), result("add_loop", "failed", "no loop"), result("add_loop", "skipped"),
             result("add_vectorized", "passed")]
    forfeit(tests, {"add_loop": "`add_loop` has no Python loop."})
    assert [(t.question, t.outcome) for t in tests] == [
        ("add_loop", "failed"), ("add_loop", "failed"), ("add_loop", "skipped"), ("add_vectorized", "passed")]
    assert tests[0].message == "The answer was right, but it earns nothing: `add_loop` has no Python loop."
    assert tests[1].message == "no loop"


def test_rules_on_a_missing_definition_fail_for_the_student():
    words = failure(rules.expect_no_loop, FakeStudent("x = 1\n"), "add_vectorized", hint="")
    assert "Could not find `add_vectorized` defined at the top level" in words
    with pytest.raises(rules.RuleBroken):  # `add_loop = _helper` hides the loop rule: that costs the question
        rules.expect_loop(FakeStudent("def _helper(a, b):\n    return a + b\nadd_loop = _helper\n"), "add_loop", hint="")
    words = failure(rules.expect_no_calls, FakeStudent("x = 1\n"), "fit", {"lstsq"}, hint="")
    assert "Could not find `fit`" in words and "earns no points" not in words



def test_rules_see_aliases_made_outside_the_function():
    student = FakeStudent("from torch.linalg import lstsq as ls\nsolve = torch.linalg.solve\ndef fit(I, V):\n    return ls(I, V)\ndef fit2(A, b):\n    return solve(A, b)")
    with pytest.raises(pytest.fail.Exception, match="lstsq"):
        rules.expect_no_calls(student, "fit", {"lstsq"}, "")
    with pytest.raises(pytest.fail.Exception, match="solve"):
        rules.expect_no_calls(student, "fit2", {"solve"}, "")
