"""Checks for graders, each failing with a message written for the student.

Every check names what was checked (``what``: e.g. "`squared_loss(y_hat, y)`"),
says what was expected and what came back, and adds the grader's ``hint``
about the likely mistake. Failures use ``pytest.fail(pytrace=False)``, so no
grader code is ever shown.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import pytest
import torch

from d2lgrade import wire

__all__ = [
    "describe",
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


def describe(value: Any) -> str:
    """A short, plain description of a value a student's function returned."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)} on {value.device}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
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
    return f"{type(value).__name__} {value!r}"[:120]


def expect_tensor(
    what: str,
    got: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    hint: str = "",
) -> torch.Tensor:
    """``got`` must be a tensor, with the given shape, dtype and device when named."""
    __tracebackhide__ = True
    if not isinstance(got, torch.Tensor):
        fail(_with_hint(f"{what} should be a tensor, but it is {describe(got)}.", hint))
    if shape is not None and tuple(got.shape) != tuple(shape):
        fail(_with_hint(f"{what} should have shape {tuple(shape)}, but it has shape {tuple(got.shape)}.", hint))
    if dtype is not None and got.dtype != dtype:
        fail(_with_hint(f"{what} should have dtype {dtype}, but it has dtype {got.dtype}.", hint))
    if device is not None and got.device.type != torch.device(device).type:
        fail(
            _with_hint(
                f"{what} should be on the {torch.device(device).type} device like its inputs, but it is on {got.device}.",
                hint or "Create new tensors with device=... taken from the inputs.",
            )
        )
    return got


def expect_scalar(what: str, got: Any, hint: str = "") -> float:
    """A Python number, numpy scalar, or 0-d / one-element tensor, as a float."""
    __tracebackhide__ = True
    if isinstance(got, bool):
        fail(_with_hint(f"{what} should be a number, but it is {describe(got)}.", hint))
    if isinstance(got, (numbers.Real, np.floating, np.integer)):
        return float(got)
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_complex() and got.dtype != torch.bool:
        return float(got.detach().reshape(-1)[0].to("cpu"))
    if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "biuf":
        return float(got.reshape(-1)[0])
    fail(_with_hint(f"{what} should be a single number, but it is {describe(got)}.", hint))


def expect_floats(what: str, got: Any, *, length: int | None = None, hint: str = "") -> list[float]:
    """Any sequence of numbers or one-element tensors, as a list of floats."""
    __tracebackhide__ = True
    if isinstance(got, (torch.Tensor, np.ndarray)) and got.ndim == 1:
        got = list(got)
    if not isinstance(got, (list, tuple)):
        fail(_with_hint(f"{what} should be a list of numbers, but it is {describe(got)}.", hint))
    if length is not None and len(got) != length:
        fail(_with_hint(f"{what} should have {length} entries, but it has {len(got)}.", hint))
    return [expect_scalar(f"entry {i} of {what}", item, hint) for i, item in enumerate(got)]


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


def _size(value: Any) -> int:
    return value.numel() if isinstance(value, torch.Tensor) else int(value.size)


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    return torch.as_tensor(np.asarray(value))


def _mismatch_table(got: torch.Tensor, expected: torch.Tensor, bad: torch.Tensor) -> str:
    diff = (got - expected).abs()
    diff[~bad] = 0
    flat = diff.reshape(-1)
    count = int(bad.sum())
    worst = int(torch.argmax(flat))
    lines = [
        f"Mismatched elements: {count} / {bad.numel()}; largest difference {float(flat[worst]):.4g}.",
        "Index | Got | Expected",
    ]
    order = torch.argsort(flat, descending=True)[: min(TABLE_ROWS, count)]
    for position in order.tolist():
        index = tuple(int(i) for i in np.unravel_index(position, tuple(got.shape))) if got.dim() else ()
        lines.append(f"{index} | {float(got.reshape(-1)[position]):.6g} | {float(expected.reshape(-1)[position]):.6g}")
    return "\n".join(lines)


def expect_close(
    what: str,
    got: Any,
    expected: Any,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    hint: str = "",
) -> None:
    """``got`` must equal ``expected`` within tolerance, with the same shape.

    Both may be tensors, arrays or numbers; values are compared on the CPU in
    float64 so that dtype alone never fails a check.
    """
    __tracebackhide__ = True
    one_number = isinstance(expected, numbers.Real) or (
        isinstance(expected, torch.Tensor) and expected.numel() == 1 and not expected.is_complex()
    )
    if one_number and not (isinstance(got, (torch.Tensor, np.ndarray)) and _size(got) != 1):
        # a scalar may come back as a number, a 0-d or a one-element tensor
        value = expect_scalar(what, got, hint)
        target = float(expected)
        if not math.isclose(value, target, rel_tol=rtol, abs_tol=atol):
            fail(_with_hint(f"{what} should be {target:.6g}, but it is {value:.6g}.", hint))
        return
    if not isinstance(got, (torch.Tensor, np.ndarray)):
        fail(_with_hint(f"{what} should be a tensor, but it is {describe(got)}.", hint))
    got_t, expected_t = _as_tensor(got), _as_tensor(expected)
    if tuple(got_t.shape) != tuple(expected_t.shape):
        fail(_with_hint(f"{what} should have shape {tuple(expected_t.shape)}, but it has shape {tuple(got_t.shape)}.", hint))
    if got_t.is_complex() or expected_t.is_complex():
        got_t, expected_t = got_t.abs(), expected_t.abs()
    got_t = got_t.to("cpu", torch.float64)
    expected_t = expected_t.to("cpu", torch.float64)
    nan_mismatch = torch.isnan(got_t) != torch.isnan(expected_t)
    close = torch.isclose(got_t, expected_t, rtol=rtol, atol=atol, equal_nan=True)
    bad = ~close | nan_mismatch
    if bool(bad.any()):
        fail(_with_hint(f"{what} has wrong values.", hint) + "\n" + _mismatch_table(got_t, expected_t, bad))
