"""Elementwise ops and views on CUDA tensors against the CPU backend: values, dtypes,
broadcasting, type promotion, grad_fn names and gradients.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_elementwise.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

# (name, function, domain of the inputs): "any" is [-2, 2], "positive" is [0.5, 2].
UNARY: list[tuple[str, Callable[..., Any], str]] = [
    ("neg", lambda x: -x, "any"), ("exp", tapegrad.exp, "any"), ("log", tapegrad.log, "positive"),
    ("log1p", tapegrad.log1p, "positive"), ("expm1", tapegrad.expm1, "any"), ("sqrt", tapegrad.sqrt, "positive"),
    ("rsqrt", tapegrad.rsqrt, "positive"), ("sin", tapegrad.sin, "any"), ("cos", tapegrad.cos, "any"),
    ("tanh", tapegrad.tanh, "any"), ("sigmoid", tapegrad.sigmoid, "any"), ("relu", tapegrad.relu, "any"),
    ("reciprocal", tapegrad.reciprocal, "positive"), ("erf", tapegrad.erf, "any"),
    ("square", tapegrad.square, "any"), ("pow-scalar", lambda x: x ** 3, "any"),
    ("pow-float", lambda x: x ** 1.5, "positive"), ("rpow", lambda x: 2 ** x, "any"),
    ("add-scalar", lambda x: x + 1.5, "any"), ("rsub", lambda x: 1 - x, "any"),
    ("div-scalar", lambda x: x / 4, "any"), ("rdiv", lambda x: 2 / x, "positive"),
    ("clamp", lambda x: x.clamp(-0.5, 1.0), "any"), ("clamp-min", lambda x: x.clamp(min=0.1), "any"),
    ("gelu", F.gelu, "any"), ("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), "any"),
    ("silu", F.silu, "any"), ("elu", F.elu, "any"), ("selu", F.selu, "any"), ("celu", F.celu, "any"),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), "any"), ("softplus", F.softplus, "any"),
    ("hardtanh", F.hardtanh, "any"), ("logsigmoid", F.logsigmoid, "any"),
    ("hardsigmoid", lambda x: F.hardsigmoid(x * 2), "any"), ("hardswish", lambda x: F.hardswish(x * 2), "any"),
    ("mish", F.mish, "any"), ("softsign", F.softsign, "any"), ("tanhshrink", F.tanhshrink, "any"),
    ("softshrink", lambda x: F.softshrink(x, 0.7), "any"), ("hardshrink", F.hardshrink, "any"),
    ("glu", lambda x: F.glu(x, 0), "any"),
    ("abs", tapegrad.abs, "any"), ("sign", tapegrad.sign, "any"),
]

BINARY: list[tuple[str, Callable[..., Any], str]] = [
    ("add", lambda x, y: x + y, "any"), ("sub", lambda x, y: x - y, "any"), ("mul", lambda x, y: x * y, "any"),
    ("div", lambda x, y: x / y, "positive"), ("pow", lambda x, y: x ** y, "positive"),
    ("maximum", tapegrad.maximum, "any"), ("minimum", tapegrad.minimum, "any"),
    ("add-alpha", lambda x, y: tapegrad.add(x, y, alpha=2), "any"),
    ("where", lambda x, y: tapegrad.where(x > y, x, y), "any"),
    ("clamp-tensor", lambda x, y: x.clamp(min=y), "any"),
]

BOUNDS = {"any": (-2.0, 2.0), "positive": (0.5, 2.0)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name,fn,domain", UNARY, ids=[u[0] for u in UNARY[:-2]] + [None, None])
def test_unary_ops_match_cpu(name: str, fn: Callable[..., Any], domain: str, dtype: type) -> None:
    run_both(fn, [values((2, 3), dtype, *BOUNDS[domain], seed=1)])


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3), (3,)), ((3, 1), (1, 4)), ((4,), ())],
                         ids=str)
@pytest.mark.parametrize("name,fn,domain", BINARY, ids=[b[0] for b in BINARY])
def test_binary_ops_broadcast_and_match_cpu(name: str, fn: Callable[..., Any], domain: str,
                                            shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    low, high = BOUNDS[domain]
    run_both(fn, [values(shapes[0], np.float64, low, high, seed=2), values(shapes[1], np.float64, low, high, seed=3)])


COMPARISONS = [lambda x, y: x == y, lambda x, y: x != y, lambda x, y: x < y, lambda x, y: x <= y,
               lambda x, y: x > y, lambda x, y: x >= y, lambda x, y: tapegrad.logical_and(x > 0, y > 0),
               lambda x, y: tapegrad.logical_or(x > 0, y > 0), lambda x, y: tapegrad.logical_xor(x > 0, y > 0),
               lambda x, y: ~(x > y), lambda x, y: (x > 0) & (y > 0), lambda x, y: tapegrad.isnan(x / y)]


@pytest.mark.parametrize("compare", COMPARISONS)
def test_comparisons_and_logic_give_bools(compare: Callable[..., Any]) -> None:
    x = values((2, 4), np.float32, seed=4)
    y = values((4,), np.float32, seed=5)
    x[0, :2] = y[:2]  # ties
    run_both(compare, [x, y], grad=False)


PROMOTIONS = [
    (np.int64, np.float32), (np.int32, np.int64), (np.float32, np.float64), (np.bool_, np.int32),
    (np.bool_, np.float64), (np.int32, np.float32),
]


@pytest.mark.parametrize("dtypes", PROMOTIONS, ids=lambda d: f"{np.dtype(d[0]).name}-{np.dtype(d[1]).name}")
def test_type_promotion_matches_cpu(dtypes: tuple[type, type]) -> None:
    x = (values((2, 3), seed=6) * 3).astype(dtypes[0])
    y = (values((3,), seed=7) * 3 + 4).astype(dtypes[1])
    run_both(lambda a, b: a * b, [x, y], grad=False)
    run_both(lambda a, b: a + b, [x, y])
    run_both(lambda a, b: a / b, [x, y], grad=False)


@pytest.mark.parametrize("scalar", [2, 2.5, True], ids=["int", "float", "bool"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32], ids=["int32", "int64", "float32"])
def test_python_scalars_promote_as_pytorch(scalar: Any, dtype: type) -> None:
    x = (values((3,), seed=8) * 3).astype(dtype)
    run_both(lambda a: a * scalar, [x], grad=False)
    run_both(lambda a: a + scalar, [x], grad=False)
    run_both(lambda a: a > scalar, [x], grad=False)


def test_integer_ops() -> None:
    x = np.array([[3, -7, 8], [5, 0, -2]], np.int64)
    y = np.array([2, 3, -4], np.int64)
    for fn in (lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a ** 2, lambda a, b: tapegrad.maximum(a, b), lambda a, b: a / b,
               lambda a, b: (a & b), lambda a, b: a.clamp(-3, 3), lambda a, b: a.float() * 0.5):
        run_both(fn, [x, y], grad=False)


def test_casts_match_cpu() -> None:
    x = values((2, 3), np.float64, -3, 3, seed=9)
    for dtype in (tapegrad.float32, tapegrad.int32, tapegrad.int64, tapegrad.bool):
        run_both(lambda a: a.to(dtype), [x], grad=dtype.is_floating_point)
    run_both(lambda a: a.float() * a, [x])
    run_both(lambda a: a.clone() * 2, [x])


def test_in_place_ops_without_grad() -> None:
    results = []
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(values((2, 3), seed=10), device=device)
        x += 1
        x.mul_(tapegrad.tensor(values((3,), seed=11), device=device))
        x.sub_(0.5).div_(2)
        x.clamp_(-0.5, 0.5)
        x.tanh_()
        results.append(x)
    assert_close(results[1], results[0])
    z = tapegrad.ones(2, 2, device="cuda")
    z.zero_()
    assert z.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    z.fill_(2.5)
    assert z.tolist() == [[2.5, 2.5], [2.5, 2.5]]


def test_gradient_accumulates_on_the_device() -> None:
    x = tapegrad.tensor(values((3,), seed=12), device="cuda", requires_grad=True)
    for _ in range(2):
        (x * x).backward(tapegrad.ones(3, dtype=tapegrad.float64, device="cuda"))
    assert x.grad.device.type == "cuda"
    assert_close(x.grad, tapegrad.tensor(4 * values((3,), seed=12)))


def test_a_leaf_used_twice_gets_the_sum_of_its_gradients() -> None:
    run_both(lambda x, y: x * y + x.exp() * y - x, [values((2, 3), seed=13), values((2, 3), seed=14)])


# ------------------------------------------------------------------ views

VIEWS: list[tuple[str, Callable[..., Any]]] = [
    ("reshape", lambda x: x.reshape(3, 4) * 2), ("view", lambda x: x.view(2, 2, 3).sigmoid()),
    ("flatten", lambda x: x.flatten() + 1), ("transpose", lambda x: x.transpose(0, 1).tanh()),
    ("t", lambda x: x.t() * x.t()), ("T", lambda x: x.T.exp()), ("mT", lambda x: x.mT - 1),
    ("permute", lambda x: x.reshape(2, 2, 3).permute(2, 0, 1) * 3),
    ("unsqueeze", lambda x: x.unsqueeze(1).tanh()), ("squeeze", lambda x: x.reshape(1, 4, 1, 3).squeeze() * 2),
    ("expand", lambda x: x.reshape(4, 1, 3).expand(4, 2, 3).sigmoid()),
    ("expand_as", lambda x: x.reshape(1, 12).expand_as(tapegrad.ones(2, 12)) * 2),
    ("transpose-reshape", lambda x: x.t().reshape(12) * 2),
    ("contiguous", lambda x: x.t().contiguous() + 0),
    ("strided-operands", lambda x: x.t() * x.t().contiguous() + x.t()),
    ("broadcast-view", lambda x: x.t().unsqueeze(0) * x.reshape(4, 1, 3).transpose(1, 2)),
    ("unflatten", lambda x: x.unflatten(1, (3, 1)).exp()),
    ("movedim", lambda x: x.reshape(2, 2, 3).movedim(0, 2).tanh()),
]


@pytest.mark.parametrize("name,fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_views_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any]) -> None:
    run_both(fn, [values((4, 3), seed=15)])


def test_views_share_memory_and_version() -> None:
    x = tapegrad.zeros(2, 3, device="cuda")
    v = x.view(3, 2)
    t = x.t()
    assert v.data_ptr() == x.data_ptr() == t.data_ptr() and v._counter is x._counter
    x.add_(1)
    assert v.tolist() == [[1.0, 1.0]] * 3 and t.tolist() == [[1.0, 1.0]] * 3
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(6)
    assert t.reshape(6).data_ptr() != x.data_ptr()  # a copy where no strides express it


def test_forward_slicing_selects_views() -> None:
    data = values((4, 3, 2), seed=16)
    x = tapegrad.tensor(data, device="cuda")
    checks = [(x[1], data[1]), (x[:, 1:], data[:, 1:]), (x[::2, :, 1], data[::2, :, 1]), (x[..., 0], data[..., 0]),
              (x[None, 2], data[None, 2]), (x[-1, -1], data[-1, -1]), (x[1, 2, 1], data[1, 2, 1])]
    for got, want in checks:
        assert got.device.type == "cuda"
        assert_close(got, want)
    assert_close(x.narrow(1, 1, 2), data[:, 1:3])
    assert_close(x.select(2, 1), data[:, :, 1])
    parts = x.split(2)
    assert len(parts) == 2 and all(p.device.type == "cuda" for p in parts)
    assert_close(parts[1], data[2:])
    assert [p.shape for p in x.chunk(3, 1)] == [(4, 1, 2)] * 3
    assert_close(x.unbind(2)[1], data[:, :, 1])
    with pytest.raises(IndexError):
        x[4]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_match_cpu(dim: int) -> None:
    run_both(lambda a, b: tapegrad.cat([a, b * 2, a], dim), [values((2, 3), seed=17), values((2, 3), seed=18)])
    run_both(lambda a, b: tapegrad.stack([a, b], dim), [values((2, 3), seed=19), values((2, 3), seed=20)])


def test_cat_promotes_dtypes() -> None:
    run_both(lambda a, b: tapegrad.cat([a, b]), [np.array([1, 2], np.int32), np.array([0.5], np.float32)],
             grad=False)


def test_equal_compares_on_the_host() -> None:
    a = tapegrad.tensor([1.0, 2.0], device="cuda")
    assert tapegrad.equal(a, a.clone()) and not tapegrad.equal(a, a * 2)
    assert a.equal(a) and not tapegrad.equal(a, tapegrad.ones(3, device="cuda"))


def test_many_dimensions() -> None:
    # Six dimensions, contiguous: merged into one for the kernel.
    run_both(lambda x: x.reshape(1, 2, 1, 2, 3, 2).tanh(), [values((24,), seed=21)])
    # A permuted six-dimensional view that no merge brings under the kernels' four dimensions.
    run_both(lambda x: x.reshape(2, 2, 2, 2, 2, 2).permute(5, 3, 1, 4, 2, 0) * 2, [values((64,), seed=22)])
    run_both(lambda x: x.reshape(2, 2, 2, 2, 2, 2).permute(5, 3, 1, 4, 2, 0).contiguous(), [values((64,), seed=23)])


def test_empty_tensors() -> None:
    run_both(lambda x: x * 2 + 1, [np.zeros((0, 3))])
    run_both(lambda x, y: x + y, [np.zeros((0, 3)), np.ones((3,))])


def test_in_place_ops_with_grad_match_cpu() -> None:
    def update(x: tapegrad.Tensor) -> tapegrad.Tensor:
        y = x * 1.5
        y.clamp_(-1.0, 1.0)
        y.tanh_()
        y.mul_(x)
        return y

    run_both(update, [values((2, 3), seed=24)])


def test_copy_between_devices() -> None:
    on_cuda = tapegrad.zeros(2, 3, device="cuda")
    on_cuda.copy_(tapegrad.tensor([1.0, 2.0, 3.0]))  # host to device, broadcast
    assert on_cuda.device.type == "cuda" and on_cuda.tolist() == [[1.0, 2.0, 3.0]] * 2
    on_cuda.copy_(tapegrad.tensor([[4, 5, 6]], device="cuda"))  # on the device, cast
    assert on_cuda.tolist() == [[4.0, 5.0, 6.0]] * 2
    on_cpu = tapegrad.zeros(2, 3, dtype=tapegrad.float64)
    on_cpu.copy_(on_cuda)  # device to host
    assert on_cpu.device.type == "cpu" and on_cpu.tolist() == [[4.0, 5.0, 6.0]] * 2


def test_load_state_dict_into_a_cuda_module() -> None:
    model = tapegrad.nn.Linear(3, 2).cuda()
    source = tapegrad.nn.Linear(3, 2)
    weight = model.weight
    model.load_state_dict(source.state_dict())
    assert model.weight is weight and weight.device.type == "cuda"
    assert_close(model.weight, source.weight)
    state = model.state_dict()
    assert state["bias"].device.type == "cuda"
    assert_close(state["bias"], source.bias)


def test_assignment_into_cuda_buffers() -> None:
    x = tapegrad.zeros(2, 3, device="cuda")
    x._data[...] = 1.5
    x._data[1] = 2
    x._data[0, 1:] = tapegrad.tensor([7.0, 8.0], device="cuda")._data
    x._data[None, 0, 0] = np.array([9.0])
    assert x.tolist() == [[9.0, 7.0, 8.0], [2.0, 2.0, 2.0]]
    x._data[:, 0] = 1.0  # a non-contiguous region: the strided copy kernel
    assert x.tolist() == [[1.0, 7.0, 8.0], [1.0, 2.0, 2.0]]
