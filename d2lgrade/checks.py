"""Checks for graders, each failing with a message written for the student.

Every check names what was checked (``what``: e.g. "`squared_loss(y_hat, y)`"),
says what was expected and what came back, and adds the grader's ``hint``
about the likely mistake. Failures use ``pytest.fail(pytrace=False)``, so no
grader code is ever shown.

What a student's function returns is checked for its type, dtype, shape and
device before any value is computed with it. By default an answer must hold
real floating-point numbers of at least single precision (float32 or
float64, whichever: graders do not demand a dtype be preserved); boolean,
integer, complex and half-precision answers are refused with a message that
names the likely mistake, as are NaN and infinity. A check that expects one of
those kinds says so with ``allow`` (``INTEGER``, ``BOOL``, ``COMPLEX``,
``HALF``); ``expect_close`` also accepts the kind of its expected value, and
compares magnitudes of complex numbers only when asked (``magnitudes=True``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence
from typing import Any, NoReturn

import numpy as np
import pytest
import torch

from d2lgrade import wire

__all__ = [
    "BOOL",
    "COMPLEX",
    "HALF",
    "INTEGER",
    "describe",
    "dtype_kind",
    "expect",
    "expect_close",
    "expect_floats",
    "expect_items",
    "expect_scalar",
    "expect_tensor",
    "fail",
]

#: Rows shown in a mismatch table.
TABLE_ROWS = 5

#: Kinds of dtype a check accepts only when told to (``allow=``); "float" (32 bits or more) is always accepted.
INTEGER, BOOL, COMPLEX, HALF = "integer", "bool", "complex", "half"
KINDS = frozenset({INTEGER, BOOL, COMPLEX, HALF})

#: The likely mistake behind an answer of each refused kind.
KIND_MISTAKES = {
    BOOL: "True and False come from a comparison such as a > b; return the numbers themselves.",
    INTEGER: "Integers drop the fractional part: look for .long(), .int(), dtype=torch.int64 or a tensor "
             "made from whole numbers (torch.tensor([1, 2]), torch.arange(n)), and compute in floating point.",
    COMPLEX: "Nothing in this answer is complex: look for a conversion to a complex dtype, torch.complex(...) "
             "or a fractional power of a negative number, and return real numbers.",
    HALF: "Half precision keeps only about three significant digits: compute in float32, "
          "without .half() or dtype=torch.float16.",
    "other": "Return real floating-point numbers (float32 or float64).",
}
NON_FINITE = ("NaN and infinity usually come from a division by zero, the log of zero or of a negative number, "
              "or an overflow.")
#: The likely mistake behind an answer of the wrong type, whatever the check's own hint is about.
NO_RETURN = "Is a `return` missing at the end of the function?"
NOT_A_TENSOR = "Compute the answer with tensor operations on the inputs rather than building a Python list or number."


def fail(message: str) -> NoReturn:
    """Fail the current test with ``message`` and nothing else."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


def _with_hint(message: str, hint: str) -> str:
    return f"{message} {hint}".strip() if hint else message


def expect(condition: bool, message: str, hint: str = "") -> None:
    """Fail with ``message`` (and ``hint``) unless ``condition`` holds."""
    __tracebackhide__ = True
    if not condition:
        fail(_with_hint(message, hint))


def _article(word: str) -> str:
    return "an" if word[:1] in "aeio" else "a"


def describe(value: Any) -> str:
    """A short, plain description of a value a student's function returned."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        return f"{_article(dtype)} {dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    if isinstance(value, np.ndarray):
        return f"a numpy {value.dtype} array of shape {value.shape}"
    if isinstance(value, wire.Opaque):
        return f"an object of type {value.type.rsplit('.', 1)[-1]}"
    if isinstance(value, wire.ModuleInfo):
        return f"a module of type {value.type.rsplit('.', 1)[-1]}"
    if isinstance(value, wire.Iterated):
        return f"an iterator that yielded {len(value.items)} items"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, np.generic):
        return f"numpy {value.dtype} {value.item()!r}"[:120]
    return f"{type(value).__name__} {value!r}"[:120]


# ------------------------------------------------------------------ dtypes


def dtype_kind(dtype: torch.dtype | np.dtype) -> str:
    """"float" (32 bits or more), "half", "integer", "bool", "complex" or "other"."""
    if isinstance(dtype, torch.dtype):
        if dtype == torch.bool:
            return BOOL
        if dtype.is_complex:
            return COMPLEX
        if dtype.is_floating_point:
            return "float" if torch.finfo(dtype).bits >= 32 else HALF
        return INTEGER if dtype in _TORCH_INTEGERS else "other"
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return "float" if dtype.itemsize >= 4 else HALF
    return {"b": BOOL, "i": INTEGER, "u": INTEGER, "c": COMPLEX}.get(dtype.kind, "other")


_TORCH_INTEGERS = frozenset(
    getattr(torch, name) for name in ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
    if hasattr(torch, name)
)


def _allowed(allow: Collection[str]) -> frozenset[str]:
    unknown = set(allow) - KINDS
    if unknown:
        raise ValueError(f"unknown dtype kinds {sorted(unknown)}; known: {sorted(KINDS)}")
    return frozenset(allow) | {"float"}


def _expect_kind(what: str, got: Any, kind: str, allow: Collection[str], *, scalar: bool = False) -> None:
    """Refuse ``got`` (of dtype kind ``kind``) unless its kind is allowed, naming the likely mistake."""
    __tracebackhide__ = True
    if kind in _allowed(allow):
        return
    wanted = "a real number" if scalar else "real floating-point numbers (float32 or float64)"
    verb = "be" if scalar else "hold"
    fail(f"{what} should {verb} {wanted}, but it is {describe(got)}. {KIND_MISTAKES[kind]}")


def _index(position: int, shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(position, tuple(shape))) if len(shape) else ()


def _show(value: Any) -> str:
    """A number for a message; complex numbers as a + bj."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, complex):
        return f"{value.real:.6g}{value.imag:+.6g}j"
    return f"{float(value):.6g}"


def _expect_finite(what: str, got: torch.Tensor) -> None:
    """Every value of ``got`` is finite."""
    __tracebackhide__ = True
    flat = got.detach().reshape(-1)
    if flat.dtype == torch.bool or flat.dtype in _TORCH_INTEGERS:
        return
    bad = ~torch.isfinite(flat)
    if bool(bad.any()):
        first = int(torch.nonzero(bad)[0, 0])
        fail(f"{what} should hold finite numbers, but {int(bad.sum())} of its {flat.numel()} values "
             f"are NaN or infinite (at index {_index(first, got.shape)} it is {_show(flat[first])}). {NON_FINITE}")


# ------------------------------------------------------------------ tensors and numbers


def expect_tensor(
    what: str,
    got: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    hint: str = "",
    allow: Collection[str] = (),
    finite: bool = True,
) -> torch.Tensor:
    """``got`` must be a tensor, with the given shape, dtype and device when named.

    Without ``dtype``, its values must be real floating point of 32 bits or
    more, or of a kind in ``allow``; unless ``finite`` is false, none may be
    NaN or infinite.
    """
    __tracebackhide__ = True
    if not isinstance(got, torch.Tensor):
        fail(_with_hint(f"{what} should be a tensor, but it is {describe(got)}.", NO_RETURN if got is None else hint))
    if shape is not None and tuple(got.shape) != tuple(shape):
        fail(_with_hint(f"{what} should have shape {tuple(shape)}, but it has shape {tuple(got.shape)}.", hint))
    if dtype is not None and got.dtype != dtype:
        kind = dtype_kind(got.dtype)
        mistake = KIND_MISTAKES[kind] if kind != dtype_kind(dtype) and kind in KIND_MISTAKES else hint
        fail(_with_hint(f"{what} should have dtype {dtype}, but it has dtype {got.dtype}.", mistake))
    if dtype is None:
        _expect_kind(what, got, dtype_kind(got.dtype), allow)
    if device is not None and got.device.type != torch.device(device).type:
        fail(
            _with_hint(
                f"{what} should be on the {torch.device(device).type} device like its inputs, but it is on {got.device}.",
                hint or "Create new tensors with device=... taken from the inputs.",
            )
        )
    if finite:
        _expect_finite(what, got)
    return got


def _float(what: str, got: Any) -> float:
    __tracebackhide__ = True
    try:
        return float(got)
    except OverflowError:
        fail(f"{what} should be a number that fits in a float, but it is {describe(got)}.")


def _scalar(what: str, got: Any, hint: str, allow: Collection[str]) -> float:
    """``got`` as a float, if it is one number of an allowed kind."""
    __tracebackhide__ = True
    if COMPLEX in allow:
        raise ValueError("a single real number cannot be complex; compare complex values with expect_close")
    if isinstance(got, (bool, np.bool_)):
        if BOOL not in allow:
            fail(f"{what} should be a number, but it is {describe(got)}. {KIND_MISTAKES[BOOL]}")
        return float(got)
    if isinstance(got, np.generic):
        _expect_kind(what, got, dtype_kind(got.dtype), allow, scalar=True)
        return _float(what, got)
    if isinstance(got, complex):
        _expect_kind(what, got, COMPLEX, allow, scalar=True)
    if isinstance(got, (int, float)) and not isinstance(got, np.generic):  # Python's own numbers
        return _float(what, got)
    if isinstance(got, (torch.Tensor, np.ndarray)) and _size(got) == 1:
        _expect_kind(what, got, dtype_kind(got.dtype), allow, scalar=True)
        if isinstance(got, torch.Tensor):
            return _float(what, got.detach().reshape(-1)[0].to("cpu"))
        return _float(what, got.reshape(-1)[0])
    fail(_with_hint(f"{what} should be a single number, but it is {describe(got)}.", hint))


def expect_scalar(
    what: str, got: Any, hint: str = "", *, allow: Collection[str] = (), finite: bool = True
) -> float:
    """A Python number, numpy scalar, or 0-d / one-element tensor, as a float.

    Python ints are numbers; integer (numpy or tensor) and boolean values are
    refused unless ``allow`` names them, complex ones always; NaN and
    infinity are refused unless ``finite`` is false.
    """
    __tracebackhide__ = True
    value = _scalar(what, got, hint, allow)
    if finite and not math.isfinite(value):
        fail(f"{what} should be a finite number, but it is {value}. {NON_FINITE}")
    return value


def expect_floats(
    what: str, got: Any, *, length: int | None = None, hint: str = "", allow: Collection[str] = ()
) -> list[float]:
    """Any sequence of numbers or one-element tensors, as a list of floats (see ``expect_scalar``)."""
    __tracebackhide__ = True
    if isinstance(got, (torch.Tensor, np.ndarray)) and got.ndim == 1:
        _expect_kind(what, got, dtype_kind(got.dtype), allow)
        got = list(got)
    if not isinstance(got, (list, tuple)):
        fail(_with_hint(f"{what} should be a list of numbers, but it is {describe(got)}.", hint))
    if length is not None and len(got) != length:
        fail(_with_hint(f"{what} should have {length} entries, but it has {len(got)}.", hint))
    return [expect_scalar(f"entry {i} of {what}", item, hint, allow=allow) for i, item in enumerate(got)]


def expect_items(what: str, got: Any, hint: str = "") -> list[Any]:
    """What an iterable returned: a generator's items, or a list's or tuple's."""
    __tracebackhide__ = True
    if isinstance(got, wire.Iterated):
        if not got.exhausted:
            fail(_with_hint(f"{what} yielded more than {wire.MAX_ITEMS} items; it should end.", hint))
        return list(got.items)
    if isinstance(got, (list, tuple)):
        return list(got)
    fail(_with_hint(f"{what} should be an iterable such as a generator or a list, but it is {describe(got)}.", hint))


# ------------------------------------------------------------------ comparing values


def _size(value: Any) -> int:
    return value.numel() if isinstance(value, torch.Tensor) else int(value.size)


def _dtype(value: Any) -> torch.dtype | np.dtype | None:
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return value.dtype
    return None


def _as_tensor(value: Any) -> torch.Tensor:
    """A tensor to compare: 64-bit real or 128-bit complex numbers (numpy's long doubles too)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    array = np.asarray(value)
    array = array.astype(np.complex128 if array.dtype.kind == "c" else np.float64)
    return torch.from_numpy(array)


def _mismatch_table(got: torch.Tensor, expected: torch.Tensor, bad: torch.Tensor) -> str:
    diff = (got - expected).abs()
    diff[~bad] = 0
    diff = torch.nan_to_num(diff, nan=math.inf)
    flat = diff.reshape(-1)
    count = int(bad.sum())
    worst = int(torch.argmax(flat))
    order = torch.argsort(flat, descending=True, stable=True)[: min(TABLE_ROWS, count)]
    rows = [(str(_index(position, got.shape)), _show(got.reshape(-1)[position]), _show(expected.reshape(-1)[position]))
            for position in order.tolist()]
    summary = f"Mismatched elements: {count} / {bad.numel()}; largest difference {float(flat[worst]):.4g}."
    return summary + "\n" + aligned_table(("Index", "Got", "Expected"), rows)


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns separated by " | ", each as wide as its widest entry: the first (an index) to the left,
    the others (numbers) to the right."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))]
        return " | ".join(cells).rstrip()

    return "\n".join(line(row) for row in (header, *rows))


def _expect_finite_where_expected(what: str, got: torch.Tensor, expected: torch.Tensor) -> None:
    """NaN or infinity in ``got`` only where ``expected`` has the same."""
    __tracebackhide__ = True
    same = (torch.isnan(got) & torch.isnan(expected)) | (got == expected)
    bad = (~torch.isfinite(got) & ~same).reshape(-1)
    if bool(bad.any()):
        first = int(torch.nonzero(bad)[0, 0])
        fail(f"{what} should hold finite numbers, but {int(bad.sum())} of its {bad.numel()} values "
             f"are NaN or infinite (at index {_index(first, got.shape)} it is {_show(got.reshape(-1)[first])} "
             f"where {_show(expected.reshape(-1)[first])} was expected). {NON_FINITE}")


def _close_numbers(
    what: str, got: Any, expected: Any, rtol: float, atol: float, hint: str, allow: Collection[str]
) -> None:
    """One number against one number; ``hint`` is for a wrong value only."""
    __tracebackhide__ = True
    target = float(expected)
    type_hint = NO_RETURN if got is None else ""
    value = expect_scalar(what, got, type_hint, allow=set(allow) - {COMPLEX}, finite=math.isfinite(target))
    both_nan = math.isnan(value) and math.isnan(target)
    if not (both_nan or math.isclose(value, target, rel_tol=rtol, abs_tol=atol)):
        fail(_with_hint(f"{what} should be {target:.6g}, but it is {value:.6g}.", hint))


def expect_close(
    what: str,
    got: Any,
    expected: Any,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    hint: str = "",
    allow: Collection[str] = (),
    magnitudes: bool = False,
) -> None:
    """``got`` must equal ``expected`` within tolerance, with the same shape.

    ``hint`` names the likely mistake behind wrong values; a wrong type or
    shape fails with its own words, without it.

    Both may be tensors, arrays or numbers; values are compared on the CPU in
    float64 (complex128 when ``expected`` is complex), so that float32 and
    float64 answers are graded alike. ``got`` must be real floating point,
    of ``expected``'s own kind, or of a kind in ``allow``; NaN and infinity
    pass only where ``expected`` has the same. Complex values are compared
    as they are, never by magnitude, unless ``magnitudes`` is true.
    """
    __tracebackhide__ = True
    if magnitudes and isinstance(got, torch.Tensor) and got.is_complex():
        got = got.abs()
    one_number = isinstance(expected, numbers.Real) or (
        isinstance(expected, torch.Tensor) and expected.numel() == 1 and not expected.is_complex()
    )
    if one_number and not (isinstance(got, (torch.Tensor, np.ndarray)) and _size(got) != 1):
        # a scalar may come back as a number, a 0-d or a one-element tensor
        own = {dtype_kind(expected.dtype)} & KINDS if isinstance(expected, torch.Tensor) else set()
        _close_numbers(what, got, expected, rtol, atol, hint, set(allow) | own)
        return
    if not isinstance(got, (torch.Tensor, np.ndarray)):
        mistake = NO_RETURN if got is None else NOT_A_TENSOR
        fail(_with_hint(f"{what} should be a tensor, but it is {describe(got)}.", mistake))
    expected_t = _as_tensor(expected)
    if tuple(got.shape) != tuple(expected_t.shape):
        fail(f"{what} should have shape {tuple(expected_t.shape)}, but it has shape {tuple(got.shape)}.")
    expected_dtype = _dtype(expected)
    own = {dtype_kind(expected_t.dtype if expected_dtype is None else expected_dtype)} & KINDS
    _expect_kind(what, got, dtype_kind(got.dtype), set(allow) | own | ({COMPLEX} if magnitudes else set()))
    got_t = _as_tensor(got)
    if magnitudes:
        got_t, expected_t = got_t.abs(), expected_t.abs()
    compare = torch.complex128 if got_t.is_complex() or expected_t.is_complex() else torch.float64
    got_t, expected_t = got_t.to("cpu", compare), expected_t.to("cpu", compare)
    _expect_finite_where_expected(what, got_t, expected_t)
    nan_mismatch = torch.isnan(got_t) != torch.isnan(expected_t)
    close = torch.isclose(got_t, expected_t, rtol=rtol, atol=atol, equal_nan=True)
    bad = ~close | nan_mismatch
    if bool(bad.any()):
        fail(_with_hint(f"{what} has wrong values.", hint) + "\n" + _mismatch_table(got_t, expected_t, bad))
