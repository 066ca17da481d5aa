"""The wire format: what student code returns arrives as plain data, and bad data is refused."""

import base64
import json
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

from d2lgrade import wire

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def roundtrip(value):
    """Encode ``value``, send it through JSON text as the pipe does, and decode it."""
    return wire.decode(json.loads(json.dumps(wire.encode(value))))


def tensor_data(tensor: torch.Tensor) -> dict:
    """The wire form of a plain tensor, to start a malformed variant from."""
    return json.loads(json.dumps(wire.encode(tensor)))


# ------------------------------------------------------------------ tensors

ALLOWED_DTYPES = [
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.bool,
]


def _sample(dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.bool:
        return torch.tensor([[True, False, True], [False, False, True]])
    if dtype.is_complex:
        return torch.tensor([[1 + 2j, -0.5j, 3], [0, 2.25, -1 - 1j]], dtype=dtype)
    if dtype.is_floating_point:
        return torch.tensor([[1.5, -2.25, 0.0], [1024.0, -0.125, 7.0]], dtype=dtype)
    return torch.tensor([[0, 1, 2], [3, 100, 127]], dtype=dtype)


@pytest.mark.parametrize("dtype", ALLOWED_DTYPES, ids=str)
def test_tensor_of_each_allowed_dtype_round_trips(dtype):
    tensor = _sample(dtype)
    got = roundtrip(tensor)
    assert type(got) is torch.Tensor
    assert got.dtype == dtype
    assert got.shape == (2, 3)
    assert got.device.type == "cpu"
    assert torch.equal(got, tensor)


def test_bfloat16_bytes_are_kept_exactly():
    tensor = torch.randn(17, dtype=torch.float32).to(torch.bfloat16)
    got = roundtrip(tensor)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got.view(torch.int16), tensor.view(torch.int16))


def test_zero_dimensional_tensor_round_trips():
    got = roundtrip(torch.tensor(3.5))
    assert got.shape == ()
    assert got.item() == 3.5


@pytest.mark.parametrize("shape", [(0,), (0, 3), (4, 0, 2)])
def test_empty_tensor_keeps_its_shape(shape):
    got = roundtrip(torch.zeros(shape, dtype=torch.float64))
    assert got.shape == shape
    assert got.dtype == torch.float64


def test_non_contiguous_tensor_round_trips_by_value():
    tensor = torch.arange(12.0).reshape(3, 4).t()[::2]
    assert not tensor.is_contiguous()
    assert torch.equal(roundtrip(tensor), tensor)


def test_requires_grad_and_grad_are_kept():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x**2).sum().backward()
    got = roundtrip(x)
    assert got.requires_grad
    assert torch.equal(got.grad, torch.tensor([2.0, 4.0, 6.0]))
    assert wire.origin(got) == wire.TensorOrigin(is_leaf=True, grad_fn=None)


def test_no_grad_stays_none():
    got = roundtrip(torch.ones(2, requires_grad=True))
    assert got.requires_grad
    assert got.grad is None


def test_origin_records_a_non_leaf_and_its_grad_fn():
    x = torch.ones(2, requires_grad=True)
    got = roundtrip(x * 2)
    assert wire.origin(got) == wire.TensorOrigin(is_leaf=False, grad_fn="MulBackward0")
    assert got.requires_grad
    assert got.is_leaf  # what arrives is a fresh leaf; only its origin tells how it was made


def test_encoding_a_non_leaf_tensor_warns_nothing():
    # a warning would land in the student's captured output, naming d2lgrade's own files
    x = torch.ones(2, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wire.encode(x * 2)


def test_retained_grad_of_a_non_leaf_is_kept():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * 3).sum().backward()
    assert torch.equal(roundtrip(y).grad, torch.full((2,), 3.0))


def test_origin_of_a_tensor_that_never_crossed_is_none():
    assert wire.origin(torch.ones(1)) is None


def test_parameter_keeps_its_grad_and_stays_a_leaf():
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    (weight * 3).sum().backward()
    got = roundtrip(weight)
    assert got.requires_grad
    assert got.grad is not None, "the Parameter's grad was lost on the wire"
    assert torch.equal(got.grad, torch.tensor([3.0, 3.0]))
    assert wire.origin(got) == wire.TensorOrigin(is_leaf=True, grad_fn=None)


class Liar(torch.Tensor):
    """A tensor whose every float operation answers 7s."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        if isinstance(result, torch.Tensor) and result.dtype.is_floating_point:
            return torch.full_like(result.as_subclass(torch.Tensor), 7.0)
        return result


def test_tensor_subclass_that_lies_is_encoded_with_its_real_data():
    liar = torch.tensor([1.0, 2.0, 3.0]).as_subclass(Liar)
    assert torch.equal((liar + 0).as_subclass(torch.Tensor), torch.full((3,), 7.0))  # it does lie
    got = roundtrip(liar)
    assert type(got) is torch.Tensor
    assert torch.equal(got, torch.tensor([1.0, 2.0, 3.0]))


class FakeCast(torch.Tensor):
    """A tensor that answers a conversion to a plain tensor with other data."""

    def as_subclass(self, cls):
        return torch.full((3,), 9.0)


def test_tensor_subclass_overriding_methods_is_encoded_with_its_real_data():
    got = roundtrip(torch.tensor([1.0, 2.0, 3.0]).as_subclass(FakeCast))
    assert torch.equal(got, torch.tensor([1.0, 2.0, 3.0]))


@pytest.mark.cuda
@cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool], ids=str)
def test_cuda_tensor_comes_back_on_cuda(dtype):
    tensor = _sample(dtype).to("cuda")
    data = json.loads(json.dumps(wire.encode(tensor)))
    assert data["device"] == "cuda:0"
    got = wire.decode(data)
    assert got.device == tensor.device
    assert torch.equal(got.cpu(), tensor.cpu())


@pytest.mark.cuda
@cuda_only
def test_cuda_grad_comes_back_on_cuda():
    x = torch.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    (x * x).sum().backward()
    got = roundtrip(x)
    assert got.requires_grad and got.device.type == "cuda"
    assert got.grad.device.type == "cuda"
    assert torch.equal(got.grad.cpu(), torch.tensor([2.0, 4.0]))


@pytest.mark.cuda
@cuda_only
def test_cuda_module_state_and_grads():
    net = torch.nn.Linear(2, 1).to("cuda")
    net(torch.ones(1, 2, device="cuda")).sum().backward()
    got = roundtrip(net)
    assert got.state["weight"].device.type == "cuda"
    assert got.parameters["bias"].grad is not None
    assert got.parameters["bias"].grad.device.type == "cuda"


# ------------------------------------------------------------------ numpy and containers


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float64).reshape(2, 3),
        np.array([1, -2, 3], dtype=np.int32),
        np.array([True, False]),
        np.array([1 + 1j, 2], dtype=np.complex64),
        np.arange(12.0).reshape(3, 4).T,  # not contiguous
        np.zeros((0, 2), dtype=np.float32),
        np.array(2.5),
    ],
    ids=["float64", "int32", "bool", "complex64", "transposed", "empty", "0-d"],
)
def test_numpy_array_round_trips(array):
    got = roundtrip(array)
    assert type(got) is np.ndarray
    assert got.dtype == array.dtype
    assert got.shape == array.shape
    assert np.array_equal(got, array)


@pytest.mark.parametrize(
    "scalar", [np.float32(1.5), np.float64(-2.0), np.int64(7), np.uint8(200), np.bool_(True)], ids=repr
)
def test_numpy_scalar_round_trips_with_its_type(scalar):
    got = roundtrip(scalar)
    assert type(got) is type(scalar)
    assert got == scalar


def test_object_array_arrives_as_a_description():
    got = roundtrip(np.array([object()], dtype=object))
    assert isinstance(got, wire.Opaque)
    assert got.type == "numpy.ndarray"


@pytest.mark.parametrize("value", [None, True, False, 0, -3, 2.5, float("inf"), "text", "ünïcødé", ""], ids=repr)
def test_plain_values_round_trip(value):
    got = roundtrip(value)
    assert type(got) is type(value)
    assert got == value


def test_tuples_and_lists_are_kept_apart():
    value = (1, [2, (3, [4])], ())
    got = roundtrip(value)
    assert got == value
    assert type(got) is tuple
    assert type(got[1]) is list
    assert type(got[1][1]) is tuple
    assert type(got[1][1][1]) is list
    assert type(got[2]) is tuple


def test_dict_with_float_keys_as_lr_sweep_returns():
    sweep = {0.03: [0.5, 0.1, 0.05], 0.1: [0.2, 0.01, 0.001], 1: [9.0]}
    got = roundtrip(sweep)
    assert got == sweep
    assert list(got) == [0.03, 0.1, 1]
    assert all(type(a) is type(b) for a, b in zip(got, sweep))


def test_dict_with_tuple_keys_and_tensor_values():
    value = {(1, 2): torch.ones(2), "name": {"nested": (3,)}}
    got = roundtrip(value)
    assert set(got) == {(1, 2), "name"}
    assert torch.equal(got[(1, 2)], torch.ones(2))
    assert got["name"] == {"nested": (3,)}


def test_dtype_and_device_round_trip():
    assert roundtrip(torch.float64) is torch.float64
    assert roundtrip(torch.device("cpu")) == torch.device("cpu")


# ------------------------------------------------------------------ iterators


def test_generator_is_drained_to_iterated():
    def batches():
        yield torch.zeros(2)
        yield torch.ones(1)

    got = roundtrip(batches())
    assert isinstance(got, wire.Iterated)
    assert got.type == "builtins.generator"
    assert got.exhausted
    assert len(got.items) == 2
    assert torch.equal(got.items[1], torch.ones(1))


def test_endless_generator_is_cut_at_max_items(monkeypatch):
    monkeypatch.setattr(wire, "MAX_ITEMS", 4)

    def count():
        n = 0
        while True:
            yield n
            n += 1

    got = roundtrip(count())
    assert got.items == (0, 1, 2, 3)
    assert got.exhausted is False


def test_iterator_that_is_not_a_generator():
    got = roundtrip(iter([1, 2]))
    assert got == wire.Iterated("builtins.list_iterator", (1, 2), True)


# ------------------------------------------------------------------ descriptions


def test_module_arrives_as_module_info():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 1))
    net.eval()
    got = roundtrip(net)
    assert isinstance(got, wire.ModuleInfo)
    assert got.type == "torch.nn.modules.container.Sequential"
    assert got.layers == (("", "torch.nn.modules.container.Sequential"), ("0", "torch.nn.modules.linear.Linear"))
    assert set(got.state) == {"0.weight", "0.bias"}
    assert torch.equal(got.state["0.weight"], net[0].weight.detach())
    assert all(p.requires_grad for p in got.parameters.values())
    assert got.training is False


def test_module_parameters_keep_their_grads():
    net = torch.nn.Linear(2, 1)
    net(torch.tensor([[1.0, 2.0]])).sum().backward()
    got = roundtrip(net)
    assert got.parameters["weight"].grad is not None, "get_grads-style checks need the parameters' grads"
    assert torch.equal(got.parameters["weight"].grad, torch.tensor([[1.0, 2.0]]))
    assert torch.equal(got.parameters["bias"].grad, torch.tensor([1.0]))
    assert wire.origin(got.parameters["weight"]).is_leaf


class Thing:
    def __repr__(self):
        return "thing " * 1000


class BadRepr:
    def __repr__(self):
        raise ValueError("student's repr breaks")


def test_unknown_object_arrives_as_opaque_with_a_bounded_repr():
    got = roundtrip(Thing())
    assert isinstance(got, wire.Opaque)
    assert got.type == f"{Thing.__module__}.Thing"
    assert len(got.repr) == wire.MAX_REPR
    assert got.repr.startswith("thing thing") and got.repr.endswith("...")


def test_repr_that_raises_still_gives_a_description():
    got = roundtrip(BadRepr())
    assert got == wire.Opaque(f"{BadRepr.__module__}.BadRepr", "<repr failed: ValueError>")


def test_function_and_int_subclass_arrive_as_descriptions():
    import enum

    class Level(enum.IntEnum):
        HIGH = 2

    assert roundtrip(len).type == "builtins.builtin_function_or_method"
    got = roundtrip(Level.HIGH)
    assert isinstance(got, wire.Opaque) and "HIGH" in got.repr


def test_opaque_repr_from_the_wire_is_cut():
    got = wire.decode({"$type": "opaque", "type": "x.Y", "repr": "z" * 10_000})
    assert len(got.repr) == wire.MAX_REPR


def _depth_until_opaque(value) -> int:
    depth = 0
    while isinstance(value, list):
        assert len(value) == 1
        value, depth = value[0], depth + 1
    assert isinstance(value, wire.Opaque), value
    return depth


def test_cyclic_list_is_cut_at_the_depth_limit():
    cycle = []
    cycle.append(cycle)
    got = roundtrip(cycle)
    assert _depth_until_opaque(got) == wire.MAX_DEPTH + 1


def test_cyclic_dict_is_cut_at_the_depth_limit():
    cycle = {}
    cycle["self"] = cycle
    got = roundtrip(cycle)
    depth = 0
    while isinstance(got, dict):
        assert len(got) == 1
        (got,) = got.values()  # past the limit even the key "self" is only described
        depth += 1
    assert isinstance(got, wire.Opaque)
    assert depth <= wire.MAX_DEPTH + 1


# ------------------------------------------------------------------ code


def test_code_is_decoded_only_with_run_code():
    code = wire.encode_argument([wire.Code("x + 1", inputs={"x": torch.ones(1)})])
    seen = []
    got = wire.decode(code, run_code=lambda c: seen.append(c) or "built")
    assert got == ["built"]
    assert seen[0].source == "x + 1" and seen[0].result is None
    assert torch.equal(seen[0].inputs["x"], torch.ones(1))


def test_plain_encode_never_lets_code_through():
    got = wire.encode(wire.Code("1"))
    assert got["$type"] == "opaque"


# ------------------------------------------------------------------ refusals


def _tensor(**changes) -> dict:
    return {**tensor_data(torch.ones(2, 3)), **changes}


def _nested_lists(depth: int):
    return json.loads("[" * depth + "]" * depth)


REFUSALS = [
    ("unknown type tag", {"$type": "pickle", "data": "gASV"}),
    ("missing type tag", {"items": []}),
    ("code without run_code", wire.encode_code(wire.Code("__import__('os')"))),
    ("code nested in a list", [1, wire.encode_code(wire.Code("1"))]),
    ("dtype outside the allowlist", _tensor(dtype="float8_e4m3fn")),
    ("dtype that is not a name", _tensor(dtype=["float32"])),
    ("data longer than shape", _tensor(shape=[2, 2])),
    ("data shorter than shape", _tensor(shape=[2, 4])),
    ("data not base64", _tensor(data="not base64!")),
    ("negative dimension", _tensor(shape=[-2, -3])),
    ("negative dimension of an empty tensor", {**tensor_data(torch.zeros(0)), "shape": [0, -1]}),
    ("infinite dimension", _tensor(shape=[float("inf")])),
    ("device that is not a device", _tensor(device="tpu")),
    ("device with a bad index", _tensor(device="cuda:x")),
    ("device with extra text", _tensor(device="cpu; import os")),
    ("device index that does not exist", _tensor(device="cuda:99")),
    ("device tag with a bad name", {"$type": "device", "name": "gpu"}),
    ("requires_grad on an int tensor", {**tensor_data(torch.ones(2, dtype=torch.int64)), "requires_grad": True}),
    ("requires_grad on a bool tensor", {**tensor_data(torch.ones(2, dtype=torch.bool)), "requires_grad": True}),
    ("grad of the wrong shape", _tensor(requires_grad=True, grad=tensor_data(torch.ones(3)))),
    ("grad of the wrong dtype", _tensor(requires_grad=True, grad=tensor_data(torch.ones(2, 3, dtype=torch.float64)))),
    ("grad that is not a tensor", _tensor(grad=[1, 2])),
    ("grad_fn that is not a string", _tensor(grad_fn=5)),
    ("tensor without data", {k: v for k, v in _tensor().items() if k != "data"}),
    ("array of objects", {"$type": "ndarray", "dtype": "O", "shape": [1], "data": ""}),
    ("array data not matching shape", {**wire.encode(np.zeros(3)), "shape": [4]}),
    ("numpy scalar of a string dtype", {"$type": "npscalar", "dtype": "U3", "value": "abc"}),
    ("numpy scalar out of its range", {"$type": "npscalar", "dtype": "int8", "value": 1000}),
    ("negative unsigned numpy scalar", {"$type": "npscalar", "dtype": "uint8", "value": -1}),
    ("unknown dtype tag name", {"$type": "dtype", "name": "float128"}),
    ("list as a dict key", {"$type": "dict", "items": [[[1], 2]]}),
    ("dict as a dict key", {"$type": "dict", "items": [[{"$type": "dict", "items": []}, 2]]}),
    ("dict items that are not pairs", {"$type": "dict", "items": [[1, 2, 3]]}),
    ("module with a list as its state", {"$type": "module", "type": "M", "layers": [], "state": [], "parameters": {}, "training": True}),
    ("module with a bad parameter", {"$type": "module", "type": "M", "layers": [], "state": {}, "parameters": {"w": _tensor(dtype="object")}, "training": True}),
    ("iterator whose items are not a list", {"$type": "iterator", "type": "g", "items": 5, "exhausted": True}),
    ("lists nested far too deeply", _nested_lists(600)),
]


@pytest.mark.parametrize("bad", [bad for _, bad in REFUSALS], ids=[name for name, _ in REFUSALS])
def test_decode_refuses_with_wire_error_only(bad):
    with pytest.raises(wire.WireError):
        wire.decode(bad)


def test_refusal_names_the_problem():
    with pytest.raises(wire.WireError, match="unknown wire type 'pickle'"):
        wire.decode({"$type": "pickle"})
    with pytest.raises(wire.WireError, match="only accepted on the student's side"):
        wire.decode(wire.encode_code(wire.Code("1")))
    with pytest.raises(wire.WireError, match="does not match its shape"):
        wire.decode(_tensor(shape=[5]))


def test_a_valid_tensor_is_accepted_by_the_same_decoder():
    # the refusals above start from this value; it must itself be fine
    assert torch.equal(wire.decode(_tensor()), torch.ones(2, 3))
    raw = base64.b64decode(_tensor()["data"])
    assert len(raw) == 2 * 3 * 4


def test_views_with_odd_strides_round_trip():
    solution = torch.linalg.lstsq(torch.tensor([[1.0, 1], [2, 1], [3, 1], [4, 1]]), torch.tensor([[3.0], [5], [7], [9]])).solution
    for view in (solution[:-1], solution[-1], solution[0]):
        assert torch.equal(wire.decode(wire.encode(view)), view)


@pytest.mark.parametrize("make", [
    lambda: torch.tensor([1.0, 2.0]).expand(3, 2),  # a stride of 0
    lambda: torch.tensor([1 + 2j, 3 - 4j]).conj(),  # a conjugate bit, no copy yet
    lambda: torch.tensor([1.0, -2.0]).neg().conj(),
    lambda: torch.tensor([[True, False]]).t(),
    lambda: torch.tensor([1.5, 2.5], dtype=torch.bfloat16),  # no numpy dtype
    lambda: torch.tensor(7, dtype=torch.int16),
])
def test_tensors_numpy_cannot_read_as_they_are_round_trip_by_value(make):
    tensor = make()
    got = wire.decode(wire.encode(tensor))
    assert got.dtype == tensor.dtype and got.shape == tensor.shape
    assert torch.equal(got, tensor.resolve_conj().resolve_neg())
    got.zero_()  # writable: a tensor of its own, not a view of read-only bytes
    assert not got.any()


# ------------------------------------------------------------------ size limits


def _nested_tuples(depth: int):
    data = []
    for _ in range(depth):
        data = {"$type": "tuple", "items": [data]}
    return data


def _module(**changes):
    empty = {"$type": "module", "type": "M", "layers": [], "state": {}, "parameters": {}, "training": True}
    return {**empty, **changes}


MILLIONS = 3_000_000
HUGE = [2**31, 2**31]
TOO_MANY_VALUES = "over 1,000,000 values"
TOO_DEEP = "nested over 128 levels"
TOO_MANY_ELEMENTS = "over 33,554,432 elements"
TOO_LARGE = [
    ("millions of empty lists", [[]] * MILLIONS, TOO_MANY_VALUES),
    ("a tuple of millions of items", {"$type": "tuple", "items": [0] * MILLIONS}, TOO_MANY_VALUES),
    ("a dict of millions of items", {"$type": "dict", "items": [[0, 0]] * MILLIONS}, TOO_MANY_VALUES),
    ("a module of millions of layers", _module(layers=[["a", "b"]] * MILLIONS), TOO_MANY_VALUES),
    ("lists nested deeply", _nested_lists(wire.MAX_DECODE_DEPTH + 1), TOO_DEEP),
    ("tuples nested deeply", _nested_tuples(600), TOO_DEEP),
    ("a tensor claiming a huge shape", _tensor(shape=HUGE, data=""), TOO_MANY_ELEMENTS),
    ("a tensor claiming millions of dimensions", _tensor(shape=[1] * MILLIONS), "over 32 dimensions"),
    ("a grad claiming a huge shape", _tensor(requires_grad=True, grad=_tensor(shape=HUGE)), TOO_MANY_ELEMENTS),
    ("a module's tensor claiming a huge shape", _module(state={"w": _tensor(shape=HUGE)}), TOO_MANY_ELEMENTS),
    ("an array claiming a huge shape", {**wire.encode(np.zeros(3)), "shape": HUGE}, TOO_MANY_ELEMENTS),
]


@pytest.mark.parametrize("data, detail", [case[1:] for case in TOO_LARGE], ids=[case[0] for case in TOO_LARGE])
def test_values_over_the_limits_are_refused_quickly_in_little_memory(data, detail):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(wire.TooLarge) as caught:
            wire.decode(data)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert detail in caught.value.detail
    assert seconds < 0.5
    assert peak < 2**20  # nothing is built before the refusal (a million empty lists alone are 64 MB)


def test_many_short_lists_are_refused_once_the_limit_is_spent():
    tracemalloc.start()
    try:
        with pytest.raises(wire.TooLarge, match="over 1,000,000 values"):
            wire.decode([[0] * 1000] * 1001)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # what was built before the limit ran out: a thousand lists of small ints


def test_the_largest_legitimate_answers_are_within_the_limits():
    def endless_batches():
        X, y = torch.randn(10, 2), torch.randn(10, 1)
        for _ in range(wire.MAX_ITEMS + 5):
            yield X, y

    drained = json.loads(json.dumps(wire.encode(endless_batches())))
    assert len(wire.decode(drained).items) == wire.MAX_ITEMS
    deepest = roundtrip(_nested_python_lists(wire.MAX_DEPTH + 5))
    assert isinstance(deepest, list)
    assert roundtrip(torch.ones(5000, 1)).shape == (5000, 1)


def _nested_python_lists(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value
