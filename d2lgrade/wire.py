"""The wire format: tagged plain values that cross between student code and graders.

Everything a grader learns from student code arrives through ``decode``: JSON
with a ``"$type"`` tag on every value that JSON cannot say by itself. Tensors
carry their bytes, dtype, shape, device, ``requires_grad`` and ``grad``;
anything outside the allowlist arrives as a description (``Opaque``,
``ModuleInfo``), never as a live object, and nothing is ever unpickled.

``decode`` refuses ``code`` values unless it is told where to run them: code
travels only from the graders to the student's side (see ``Code``).
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import numpy as np
import torch

__all__ = [
    "Code",
    "Iterated",
    "ModuleInfo",
    "Opaque",
    "TensorOrigin",
    "TooLarge",
    "WireError",
    "decode",
    "encode",
    "origin",
]

#: Items taken from a generator or iterator before it is cut off.
MAX_ITEMS = 10_000
#: Nesting deeper than this arrives as an ``Opaque`` description.
MAX_DEPTH = 32
#: Characters kept of a ``repr`` in a description.
MAX_REPR = 300
#: Values (lists, dicts, numbers, strings, tensors) one ``decode`` builds at most. The graders' largest
#: answers hold under 200 and a generator of (X, y) batches cut at MAX_ITEMS 50,000; a million empty
#: lists, the cheapest to send, cost 64 MB. (Answers are bounded before parsing: framing.ANSWER_BOUNDS.)
MAX_VALUES = 1_000_000
#: Nesting that ``decode`` follows: ``encode`` cuts at MAX_DEPTH, and each level is one of these.
MAX_DECODE_DEPTH = 4 * MAX_DEPTH
#: Dimensions and elements of one decoded tensor or array, checked before its data is read: the
#: chapter's tensors have at most 2 dimensions and the graders' largest 10,000 elements.
MAX_TENSOR_DIMS = 32
MAX_TENSOR_ELEMENTS = 2**25

_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float16, torch.bfloat16, torch.float32, torch.float64,
        torch.complex64, torch.complex128,
        torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
        torch.bool,
    )
}
_DEVICE = re.compile(r"^(cpu|cuda(:\d{1,2})?|mps(:\d)?)$")


class WireError(ValueError):
    """A value could not be encoded or decoded."""


class TooLarge(WireError):
    """A value over one of the decoding limits, refused before it was built whole."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"value too large: {detail}")
        self.detail = detail
        """what was over, in words for the student, e.g. ``over 1,000,000 values``"""


class IterationError(Exception):
    """An iterator being drained raised; the original exception is the cause."""


@dataclasses.dataclass(frozen=True)
class Opaque:
    """A value the wire does not carry: its type and a short repr."""

    type: str
    """qualified type name, e.g. ``torch.utils.data.dataloader.DataLoader``"""
    repr: str
    """the object's repr, cut to ``MAX_REPR`` characters"""


@dataclasses.dataclass(frozen=True)
class ModuleInfo:
    """An ``nn.Module`` described by its layers and its state."""

    type: str
    """qualified type name of the module"""
    layers: tuple[tuple[str, str], ...]
    """``(name, qualified type)`` of every submodule, in ``named_modules`` order"""
    state: Mapping[str, torch.Tensor]
    """the module's ``state_dict``"""
    parameters: Mapping[str, torch.Tensor]
    """the module's parameters with ``requires_grad`` and ``grad``"""
    training: bool
    """whether the module was in training mode"""


@dataclasses.dataclass(frozen=True)
class Iterated:
    """What an iterator or generator yielded, drained up to ``MAX_ITEMS``."""

    type: str
    """qualified type name of the iterable, e.g. ``builtins.generator``"""
    items: tuple[Any, ...]
    """the items, decoded"""
    exhausted: bool
    """False when draining stopped at ``MAX_ITEMS``"""


@dataclasses.dataclass(frozen=True)
class TensorOrigin:
    """How a tensor was made on the student's side (a decoded tensor is a fresh leaf)."""

    is_leaf: bool
    grad_fn: str | None
    """name of the autograd node that made it, e.g. ``SubBackward0``, or None"""


@dataclasses.dataclass(frozen=True)
class Code:
    """Grader-written source that the student's side runs to build a value.

    ``source`` is an expression when ``result`` is None; otherwise it is
    statements, and the value is the variable named ``result`` afterwards.
    It runs in a copy of the student's namespace (so it can use the
    student's functions) with ``inputs`` bound as variables.
    """

    source: str
    result: str | None = None
    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def origin(tensor: torch.Tensor) -> TensorOrigin | None:
    """How a decoded tensor was made on the student's side, if it came over the wire."""
    return getattr(tensor, "_d2lgrade_origin", None)


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a student's __repr__ may raise
        text = f"<repr failed: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."


# ----------------------------------------------------------------- encoding


def encode(value: Any, *, depth: int = 0) -> Any:
    """Turn ``value`` into JSON-ready data; never fails on strange objects."""
    if depth > MAX_DEPTH:
        return _opaque(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int or type(value) is float:
        return value
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"$type": "npscalar", "dtype": value.dtype.name, "value": value.item()}
    if isinstance(value, (int, float)):  # subclasses such as IntEnum
        return {"$type": "opaque", "type": _type_name(value), "repr": _short_repr(value)}
    if type(value) is list:
        return [encode(item, depth=depth + 1) for item in value]
    if type(value) is tuple:
        return {"$type": "tuple", "items": [encode(item, depth=depth + 1) for item in value]}
    if type(value) is dict:
        return {
            "$type": "dict",
            "items": [[encode(k, depth=depth + 1), encode(v, depth=depth + 1)] for k, v in value.items()],
        }
    if isinstance(value, torch.dtype):
        return {"$type": "dtype", "name": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"$type": "device", "name": str(value)}
    if isinstance(value, torch.nn.Module):
        return _encode_module(value)
    if isinstance(value, Iterator):
        return _encode_iterator(value, depth)
    return _opaque(value)


def _opaque(value: Any) -> dict:
    return {"$type": "opaque", "type": _type_name(value), "repr": _short_repr(value)}


#: numpy's dtype for each torch dtype whose bytes numpy reads as they are, without the copy and views
#: the others (bfloat16) need
_NUMPY_DTYPES = {
    dtype: torch.empty((), dtype=dtype).numpy().dtype
    for dtype in (torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128, torch.uint8,
                  torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)
}


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    tensor = tensor.detach()
    if (tensor.device.type == "cpu" and tensor.layout is torch.strided and tensor.dtype in _NUMPY_DTYPES
            and not (tensor.is_conj() or tensor.is_neg())):
        return tensor.numpy().tobytes()  # in C order, whatever the strides: 4 us, a fifth of the way below
    # clone: a view such as lstsq(...).solution[-1] can keep a stride that view(uint8) refuses
    flat = tensor.to("cpu").reshape(-1).clone(memory_format=torch.contiguous_format)
    return flat.view(torch.uint8).numpy().tobytes()


def _encode_tensor(value: torch.Tensor) -> dict:
    # A subclass may lie through __torch_function__; read the plain tensor.
    with torch._C.DisableTorchFunctionSubclass():
        # Parameters are read as they are (an alias would lose grad and leafness);
        # other subclasses through torch's own as_subclass, which they cannot override.
        tensor = value if type(value) in (torch.Tensor, torch.nn.Parameter) else torch.Tensor.as_subclass(value, torch.Tensor)
        grad = tensor.grad if tensor.is_leaf or tensor.retains_grad else None
        return {
            "$type": "tensor",
            "dtype": str(tensor.dtype).removeprefix("torch."),
            "shape": list(tensor.shape),
            "device": str(tensor.device),
            "requires_grad": bool(tensor.requires_grad),
            "is_leaf": bool(tensor.is_leaf),
            "grad_fn": type(tensor.grad_fn).__name__ if tensor.grad_fn is not None else None,
            "data": base64.b64encode(_tensor_bytes(tensor)).decode("ascii"),
            "grad": _encode_tensor(grad) if isinstance(grad, torch.Tensor) else None,
        }


def _encode_array(value: np.ndarray) -> dict:
    if value.dtype.kind not in "biufc":
        return _opaque(value)
    array = np.asarray(value, order="C")  # ascontiguousarray would turn 0-d into 1-d
    return {
        "$type": "ndarray",
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode("ascii"),
    }


def _encode_module(module: torch.nn.Module) -> dict:
    return {
        "$type": "module",
        "type": _type_name(module),
        "layers": [[name, _type_name(layer)] for name, layer in module.named_modules()],
        "state": {name: _encode_tensor(t) for name, t in module.state_dict().items()},
        "parameters": {name: _encode_tensor(p) for name, p in module.named_parameters()},
        "training": bool(module.training),
    }


def _encode_iterator(iterator: Iterator, depth: int) -> dict:
    items, exhausted = [], False
    for _ in range(MAX_ITEMS + 1):  # one more, to tell "exactly MAX_ITEMS" from "more"
        try:
            item = next(iterator)
        except StopIteration:
            exhausted = True
            break
        except Exception as exc:  # the student's generator raised: their error, not the wire's
            raise IterationError() from exc
        if len(items) == MAX_ITEMS:
            break
        items.append(encode(item, depth=depth + 1))
    return {"$type": "iterator", "type": _type_name(iterator), "items": items, "exhausted": exhausted}


# ----------------------------------------------------------------- decoding


def decode(data: Any, *, run_code: Callable[[Code], Any] | None = None) -> Any:
    """Rebuild a value from wire data, checking every field and the decoding limits.

    ``run_code`` turns a ``code`` value into the value it builds; without it
    a ``code`` value is refused (the graders' side never runs code it gets).
    A value over ``MAX_VALUES``, ``MAX_DECODE_DEPTH`` or a tensor limit raises ``TooLarge``.
    """
    return _Reader(run_code).decode(data)


class _Reader:
    """One ``decode``: where code may run, and how much of the limits it has used."""

    def __init__(self, run_code: Callable[[Code], Any] | None) -> None:
        self.run_code = run_code
        self.values_left = MAX_VALUES
        self.depth = 0

    def spend(self, values: int = 1) -> None:
        self.values_left -= values
        if self.values_left < 0:
            raise TooLarge(f"over {MAX_VALUES:,} values")

    def room_for(self, items: Any) -> Any:
        """``items``, once it is clear they fit: a list too long is refused before any is built."""
        if len(items) > self.values_left:
            raise TooLarge(f"over {MAX_VALUES:,} values")
        return items

    def decode(self, data: Any) -> Any:
        self.spend()
        if data is None or isinstance(data, (bool, str, int, float)):
            return data
        if self.depth >= MAX_DECODE_DEPTH:
            raise TooLarge(f"nested over {MAX_DECODE_DEPTH} levels deep")
        self.depth += 1
        try:
            return self._decode_nested(data)
        finally:
            self.depth -= 1

    def _decode_nested(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.decode(item) for item in self.room_for(data)]
        if not isinstance(data, dict):
            raise WireError(f"unexpected JSON value of type {type(data).__name__}")
        tag = data.get("$type")
        decoder = _DECODERS.get(tag)
        if decoder is None:
            raise WireError(f"unknown wire type {tag!r}")
        if tag == "code":  # errors from the student's code inside it are the student's, not the wire's
            return _decode_code(data, self)
        try:
            return decoder(data, self)
        except WireError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, ArithmeticError) as exc:
            raise WireError(f"malformed {tag} value: {type(exc).__name__}: {exc}") from None


def _shape(data: Any) -> list[int]:
    """A tensor's or array's shape, refused before its data is read when it is over the limits."""
    if len(data) > MAX_TENSOR_DIMS:
        raise TooLarge(f"a tensor of over {MAX_TENSOR_DIMS} dimensions")
    shape = [int(n) for n in data]
    if any(n < 0 for n in shape):
        raise WireError("negative tensor dimension")
    if math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise TooLarge(f"a tensor of over {MAX_TENSOR_ELEMENTS:,} elements")
    return shape


def _decode_tensor(data: dict, reader: _Reader) -> torch.Tensor:
    reader.spend()  # a module's tensors and a grad are reached without reader.decode
    dtype = _DTYPES.get(data["dtype"])
    if dtype is None:
        raise WireError(f"unsupported tensor dtype {data['dtype']!r}")
    shape = _shape(data["shape"])
    raw = base64.b64decode(data["data"], validate=True)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise WireError("tensor data does not match its shape and dtype")
    tensor = _tensor_from(raw, dtype, shape)
    device = str(data["device"])
    if not _DEVICE.match(device):
        raise WireError(f"unknown device {device!r}")
    if device != "cpu":
        tensor = tensor.to(device)
    if data["requires_grad"]:
        if not (dtype.is_floating_point or dtype.is_complex):
            raise WireError("only floating point tensors can require grad")
        tensor.requires_grad_(True)
    if data.get("grad") is not None:
        grad = _decode_tensor(data["grad"], reader)
        if grad.shape != tensor.shape or grad.dtype != tensor.dtype:
            raise WireError("a tensor's grad does not match its shape or dtype")
        tensor.grad = grad.to(tensor.device)
    tensor._d2lgrade_origin = TensorOrigin(bool(data["is_leaf"]), _optional_str(data.get("grad_fn")))
    return tensor


def _tensor_from(raw: bytes, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    """A new tensor holding ``raw``, whose size was checked against ``dtype`` and ``shape``."""
    if not raw:
        return torch.empty(shape, dtype=dtype)
    if dtype in _NUMPY_DTYPES:  # numpy's small-array steps are a third of torch's
        return torch.from_numpy(np.frombuffer(bytearray(raw), dtype=_NUMPY_DTYPES[dtype]).reshape(shape))
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise WireError("expected a string or null")


def _decode_array(data: dict, reader: _Reader) -> np.ndarray:
    dtype = np.dtype(data["dtype"])
    if dtype.kind not in "biufc":
        raise WireError(f"unsupported array dtype {data['dtype']!r}")
    shape = _shape(data["shape"])
    raw = base64.b64decode(data["data"], validate=True)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise WireError("array data does not match its shape and dtype")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _decode_npscalar(data: dict, reader: _Reader) -> np.generic:
    dtype = np.dtype(data["dtype"])
    if dtype.kind not in "biuf":
        raise WireError(f"unsupported scalar dtype {data['dtype']!r}")
    return dtype.type(data["value"])


def _decode_dict(data: dict, reader: _Reader) -> dict:
    result = {}
    for key, value in reader.room_for(data["items"]):
        key = reader.decode(key)
        if isinstance(key, list):
            raise WireError("a list cannot be a dict key")
        result[key] = reader.decode(value)
    return result


def _decode_module(data: dict, reader: _Reader) -> ModuleInfo:
    reader.spend(len(data["layers"]) + len(data["state"]) + len(data["parameters"]))
    return ModuleInfo(
        type=str(data["type"]),
        layers=tuple((str(name), str(kind)) for name, kind in data["layers"]),
        state={str(k): _decode_tensor(v, reader) for k, v in data["state"].items()},
        parameters={str(k): _decode_tensor(v, reader) for k, v in data["parameters"].items()},
        training=bool(data["training"]),
    )


def _decode_code(data: dict, reader: _Reader) -> Any:
    if reader.run_code is None:
        raise WireError("code values are only accepted on the student's side")
    if not isinstance(data.get("inputs"), dict) or not isinstance(data.get("source"), str):
        raise WireError("malformed code value")
    inputs = {str(k): reader.decode(v) for k, v in data["inputs"].items()}
    return reader.run_code(Code(data["source"], _optional_str(data.get("result")), inputs))


def _decode_iterated(data: dict, reader: _Reader) -> Iterated:
    items = tuple(reader.decode(item) for item in reader.room_for(data["items"]))
    return Iterated(str(data["type"]), items, bool(data["exhausted"]))


_DECODERS: dict[str, Callable[[dict, _Reader], Any]] = {
    "tensor": _decode_tensor,
    "ndarray": _decode_array,
    "npscalar": _decode_npscalar,
    "tuple": lambda d, reader: tuple(reader.decode(item) for item in reader.room_for(d["items"])),
    "dict": _decode_dict,
    "dtype": lambda d, reader: _DTYPES[d["name"]],
    "device": lambda d, reader: torch.device(d["name"]) if _DEVICE.match(d["name"]) else _bad_device(d["name"]),
    "module": _decode_module,
    "iterator": _decode_iterated,
    "opaque": lambda d, reader: Opaque(str(d["type"]), str(d["repr"])[:MAX_REPR]),
    "code": _decode_code,
}


def _bad_device(name: str):
    raise WireError(f"unknown device {name!r}")


def encode_code(code: Code) -> dict:
    """The wire form of grader-written code (sent to the student's side only)."""
    return {
        "$type": "code",
        "source": code.source,
        "result": code.result,
        "inputs": {name: encode_argument(value) for name, value in code.inputs.items()},
    }


def encode_argument(value: Any) -> Any:
    """Encode an argument for a call, letting ``Code`` through (graders' side only)."""
    if isinstance(value, Code):
        return encode_code(value)
    if type(value) is list:
        return [encode_argument(item) for item in value]
    if type(value) is tuple:
        return {"$type": "tuple", "items": [encode_argument(item) for item in value]}
    if type(value) is dict:
        return {"$type": "dict", "items": [[encode(k), encode_argument(v)] for k, v in value.items()]}
    return encode(value)
