"""Launch every CUDA kernel kind and compare with NumPy and the CPU backend's kernels.

Runs in the CUDA simulator or on a GPU, in a process of its own (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda -q   # no GPU needed
    python -m pytest tests/cuda -q                          # on a machine with a GPU

Arrays stay tiny (at most 64 elements): the simulator runs each GPU thread as Python.
It evaluates ``math.*`` in Python too, so inputs stay inside each function's domain
(Python's ``math.log(0)`` raises); the special-value test runs on hardware only.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import pytest
from numba import cuda

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
if not SIMULATED and not cuda.is_available():
    pytest.skip("no CUDA GPU here: run these in the simulator with "
                "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda", allow_module_level=True)

from tapegrad.backends import cpu, scalar_math
from tapegrad.backends import cuda_kernels as ck
from tapegrad.ops import elementwise as ew

# Tiny grids are the point here; the message starts with a terminal colour code.
pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]
# GPU libdevice against the CPU backend's polynomials: a few ulp apart at most.
RTOL = {np.float32: 4e-6, np.float64: 1e-13}
BOOL_RESULT = {ew._eq, ew._ne, ew._lt, ew._le, ew._gt, ew._ge, ew._logical_and, ew._isnan}
SHAPE = (5, 7)


def _values(dtype: type, shape: tuple[int, ...] = SHAPE, domain: str = "any", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if domain == "positive":
        x = rng.uniform(0.1, 3.0, shape)
    else:
        x = rng.uniform(-3.0, 3.0, shape)
        flat = x.reshape(-1)
        if flat.size > 4:
            flat[1] = 0.0
            flat[3] = -flat[2]
            flat[4] = flat[0]  # ties, for the comparisons and maximum/minimum
    return x.astype(dtype)


def _device(x: Any) -> Any:
    return cuda.to_device(x) if isinstance(x, np.ndarray) else x


def _cpu_result(fn: Callable[..., Any], operands: Sequence[Any], dtype: type) -> np.ndarray:
    arrays = [x for x in operands if isinstance(x, np.ndarray)]
    shape = np.broadcast_shapes(*(x.shape for x in arrays))
    out_dtype = np.dtype(np.bool_ if fn in BOOL_RESULT else dtype)
    return cpu.elementwise(fn, list(operands), shape, out_dtype)


def _gpu_result(fn: Callable[..., Any], operands: Sequence[Any], dtype: type) -> np.ndarray:
    shape = np.broadcast_shapes(*(x.shape for x in operands if isinstance(x, np.ndarray)))
    out = cuda.device_array(shape, np.bool_ if fn in BOOL_RESULT else dtype)
    ck.elementwise(fn, out, [_device(x) for x in operands])
    return out.copy_to_host()


def _check(got: np.ndarray, want: np.ndarray, dtype: type) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype == np.bool_:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype], equal_nan=True)


# ------------------------------------------------------------------------ elementwise, flat

UNARY = [(ew._neg, "any"), (ew._abs, "any"), (ew._exp, "any"), (ew._expm1, "any"), (ew._tanh, "any"),
         (ew._sigmoid, "any"), (ew._relu, "any"), (ew._log, "positive"), (ew._log1p, "positive"),
         (ew._sqrt, "positive"),
         # The simulator runs the definition on NumPy scalars, which refuse bool - bool.
         pytest.param(ew._sign, "any", marks=pytest.mark.skipif(SIMULATED, reason="NumPy bool subtraction"))]
BINARY = [(ew._add, "any"), (ew._sub, "any"), (ew._mul, "any"), (ew._div, "any"), (ew._pow, "positive"),
          (ew._maximum, "any"), (ew._minimum, "any"), (ew._eq, "any"), (ew._ne, "any"), (ew._lt, "any"),
          (ew._ge, "any"), (ew._tanh_backward, "any"), (ew._sigmoid_backward, "any")]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn,domain", UNARY, ids=lambda v: getattr(v, "__name__", v))
def test_unary_flat_matches_cpu(fn: Callable[..., Any], domain: str, dtype: type) -> None:
    x = _values(dtype, domain=domain)
    _check(_gpu_result(fn, [x], dtype), _cpu_result(fn, [x], dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn,domain", BINARY, ids=lambda v: getattr(v, "__name__", v))
def test_binary_flat_matches_cpu(fn: Callable[..., Any], domain: str, dtype: type) -> None:
    x = _values(dtype, domain=domain, seed=1)
    y = _values(dtype, domain="positive" if fn is ew._div else domain, seed=2)
    _check(_gpu_result(fn, [x, y], dtype), _cpu_result(fn, [x, y], dtype), dtype)


def test_nan_semantics_match_cpu() -> None:
    x = np.array([np.nan, 1.0, -2.0, np.nan, 0.5], np.float32)
    y = np.array([1.0, np.nan, 3.0, np.nan, 0.5], np.float32)
    for fn in (ew._maximum, ew._minimum, ew._eq, ew._ne, ew._lt, ew._ge):
        _check(_gpu_result(fn, [x, y], np.float32), _cpu_result(fn, [x, y], np.float32), np.float32)
    for fn in (ew._relu,) if SIMULATED else (ew._relu, ew._sign):
        _check(_gpu_result(fn, [x], np.float32), _cpu_result(fn, [x], np.float32), np.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_scalar_operands(dtype: type) -> None:
    x = _values(dtype)
    half = dtype(0.5)
    for fn, operands in ((ew._add, [x, half]), (ew._mul, [half, x]), (ew._div, [x, dtype(3)]),
                         (ew._pow, [_values(dtype, domain="positive"), dtype(1.5)]),
                         (ew._clamp, [x, dtype(-1), dtype(2)]), (ew._gt, [x, half])):
        _check(_gpu_result(fn, operands, dtype), _cpu_result(fn, operands, dtype), dtype)


def test_where_takes_a_bool_condition() -> None:
    x, y = _values(np.float64, seed=3), _values(np.float64, seed=4)
    condition = x > y
    _check(_gpu_result(ew._where, [condition, x, y], np.float64), np.where(condition, x, y), np.float64)


def test_comparison_matches_numpy() -> None:
    x, y = _values(np.float32, seed=5), _values(np.float32, seed=6)
    np.testing.assert_array_equal(_gpu_result(ew._lt, [x, y], np.float32), x < y)


# ------------------------------------------------------------------- broadcasting, strided

BROADCASTS = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((2, 1, 3, 1), (1, 2, 1, 2)), ((5,), ()), ((3, 4), (3, 4))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_broadcasting_matches_numpy(shapes: tuple[tuple[int, ...], tuple[int, ...]], dtype: type) -> None:
    x = _values(dtype, shapes[0], seed=7)
    y = _values(dtype, shapes[1], seed=8)
    _check(_gpu_result(ew._mul, [x, y], dtype), x * y, dtype)
    _check(_gpu_result(ew._maximum, [x, y], dtype), _cpu_result(ew._maximum, [x, y], dtype), dtype)


def test_broadcast_with_scalar_operand() -> None:
    x = _values(np.float32, (2, 3), seed=9)
    bias = _values(np.float32, (3,), seed=10)
    got = _gpu_result(ew._clamp, [x, np.float32(-0.5), bias], np.float32)
    _check(got, _cpu_result(ew._clamp, [x, np.float32(-0.5), bias], np.float32), np.float32)


def test_strided_views_as_buffer_and_strides() -> None:
    a = _values(np.float64, (4, 3), seed=11)  # passed as its transpose: strides (1, 3)
    b = _values(np.float64, (3, 4), seed=12)
    big = _values(np.float64, (40,), seed=13)  # a (3, 4) view starting at element 5, rows 10 apart
    out = cuda.device_array((3, 4), np.float64)
    ck.run_chain(ck.elementwise_chain(ew._add, "aa"), [out],
                 [(cuda.to_device(a).reshape(12), (1, 3)), (cuda.to_device(big)[5:], (10, 2))])
    view = np.lib.stride_tricks.as_strided(big[5:], (3, 4), (80, 16))
    _check(out.copy_to_host(), a.T + view, np.float64)
    ck.run_chain(ck.elementwise_chain(ew._sub, "aa"), [out], [cuda.to_device(b), (cuda.to_device(a).reshape(12), (1, 3))])
    _check(out.copy_to_host(), b - a.T, np.float64)


def test_flat_and_strided_kernels_agree() -> None:
    x, y = _values(np.float32, (4, 4), seed=14), _values(np.float32, (4, 4), seed=15)
    chain = ck.elementwise_chain(ew._sigmoid_backward, "aa")
    flat, strided = cuda.device_array((4, 4), np.float32), cuda.device_array((4, 4), np.float32)
    ck.run_chain(chain, [flat], [cuda.to_device(x), cuda.to_device(y)])
    ck.run_chain(chain, [strided], [(cuda.to_device(x).reshape(16), (4, 1)), cuda.to_device(y)])
    np.testing.assert_array_equal(flat.copy_to_host(), strided.copy_to_host())


def test_broadcast_strides() -> None:
    assert ck.broadcast_strides((3, 1), (2, 3, 5)) == (0, 0, 1, 0)
    assert ck.broadcast_strides((), (2, 3)) == (0, 0, 0, 0)
    assert ck.broadcast_strides((2, 3, 4, 5), (2, 3, 4, 5)) == (60, 20, 5, 1)
    with pytest.raises(ValueError):
        ck.broadcast_strides((3,), (4,))
    with pytest.raises(ValueError):
        ck.broadcast_strides((1,), (1, 1, 1, 1, 1))


def test_empty_output_launches_nothing() -> None:
    out = cuda.device_array((0, 3), np.float32)
    ck.elementwise(ew._add, out, [cuda.device_array((0, 3), np.float32), np.float32(1)])


# ----------------------------------------------------------------------------- fused chains

def w2_chain() -> ck.Chain:
    """``y = tanh(x * c + d) * x + sigmoid(x)`` and ``dy/dx`` scaled by ``g``, one pass, built
    from the VJP rules autograd applies (inputs: x, c, d, g)."""
    x, c, d, g = 0, 1, 2, 3
    steps = [(ew._mul, (x, c)),                 # 4  u0 = x * c
             (ew._add, (4, d)),                 # 5  u = u0 + d
             (ew._tanh, (5,)),                  # 6  t
             (ew._mul, (6, x)),                 # 7  t * x
             (ew._sigmoid, (x,)),               # 8  s
             (ew._add, (7, 8)),                 # 9  y
             (ew._sigmoid_backward, (g, 8)),    # 10 g * s * (1 - s)
             (ew._mul, (g, x)),                 # 11 grad of t
             (ew._mul, (g, 6)),                 # 12 grad of x through t * x
             (ew._tanh_backward, (11, 6)),      # 13 grad of u
             (ew._mul, (13, c)),                # 14 grad of x through u0
             (ew._add, (12, 14)),               # 15
             (ew._add, (15, 10))]               # 16 dy/dx
    return ck.Chain("asss", steps, outputs=(9, 16))


def _run_chain_on_cpu(chain: ck.Chain, operands: Sequence[Any], dtype: type) -> list[np.ndarray]:
    values = list(operands)
    shape = next(x.shape for x in operands if isinstance(x, np.ndarray))
    for fn, args in chain.steps:
        values.append(cpu.elementwise(fn, [values[a] for a in args], shape, np.dtype(dtype)))
    return [values[ref] for ref in chain.outputs]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fused_w2_forward_and_derivative(dtype: type) -> None:
    x = np.linspace(-4, 4, 64).astype(dtype)
    operands = [x, dtype(0.5), dtype(1), dtype(1)]
    y, dy = cuda.device_array(64, dtype), cuda.device_array(64, dtype)
    chain = w2_chain()
    ck.run_chain(chain, [y, dy], [_device(v) for v in operands])
    want_y, want_dy = _run_chain_on_cpu(chain, operands, dtype)
    _check(y.copy_to_host(), want_y, dtype)
    _check(dy.copy_to_host(), want_dy, dtype)
    x64 = x.astype(np.float64)  # and against the calculus, in float64
    t, s = np.tanh(x64 * 0.5 + 1), 1 / (1 + np.exp(-x64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.copy_to_host(), t * x64 + s, rtol=tol, atol=tol)
    np.testing.assert_allclose(dy.copy_to_host(), (1 - t * t) * 0.5 * x64 + t + s * (1 - s), rtol=tol, atol=tol)


def test_fused_chain_with_broadcast_operand() -> None:
    x = _values(np.float32, (3, 4), seed=16)
    bias = _values(np.float32, (4,), seed=17)
    chain = ck.Chain("aa", [(ew._add, (0, 1)), (ew._relu, (2,)), (ew._gt, (2, 1))], outputs=(3, 4))
    out, mask = cuda.device_array((3, 4), np.float32), cuda.device_array((3, 4), np.bool_)
    ck.run_chain(chain, [out, mask], [cuda.to_device(x), cuda.to_device(bias)])
    _check(out.copy_to_host(), np.maximum(x + bias, 0), np.float32)
    np.testing.assert_array_equal(mask.copy_to_host(), x + bias > bias)


def _scale(x):
    return x * 2


_double = _scale


# A second function of the same name: a chain using both must keep them apart.
def _scale(x):
    return x * 3


def test_functions_sharing_a_name_stay_distinct() -> None:
    chain = ck.Chain("a", [(_double, (0,)), (_scale, (1,))], outputs=(1, 2))
    x = np.arange(4, dtype=np.float64)
    one, two = cuda.device_array(4), cuda.device_array(4)
    ck.run_chain(chain, [one, two], [cuda.to_device(x)])
    np.testing.assert_array_equal(one.copy_to_host(), x * 2)
    np.testing.assert_array_equal(two.copy_to_host(), x * 6)


def test_chain_validation() -> None:
    with pytest.raises(ValueError):
        ck.Chain("ax", [(ew._add, (0, 1))], outputs=(2,))
    with pytest.raises(ValueError):
        ck.Chain("a", [(ew._neg, (1,))], outputs=(1,))  # refers to its own result
    with pytest.raises(ValueError):
        ck.Chain("a", [(ew._neg, (0,))], outputs=(2,))
    chain = ck.elementwise_chain(ew._add, "aa")
    assert chain is ck.elementwise_chain(ew._add, "aa")
    with pytest.raises(ValueError):
        ck.run_chain(chain, [cuda.device_array(3)], [cuda.device_array(3)])


# --------------------------------------------------------------------------------- sums

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("blocks", [None, 2], ids=["block_per_row", "blocks_stride_rows"])
def test_sum_rows(dtype: type, blocks: int | None) -> None:
    x = _values(dtype, (3, 50), seed=18)  # wider than a block: threads stride over columns
    out = cuda.device_array(3, dtype)
    ck.sum_rows(cuda.to_device(x), out, block=32, blocks=blocks)
    want = x.astype(np.float64).sum(axis=1).astype(dtype)  # float64 accumulation, as on the CPU
    np.testing.assert_allclose(out.copy_to_host(), want, rtol=RTOL[dtype])


def test_sum_rows_of_ints_and_bools_accumulate_in_int64() -> None:
    x = np.arange(24, dtype=np.int32).reshape(2, 12) * 1000
    out = cuda.device_array(2, np.int64)
    ck.sum_rows(cuda.to_device(x), out, block=16)
    np.testing.assert_array_equal(out.copy_to_host(), x.sum(axis=1))
    flags = x % 3 == 0
    ck.sum_rows(cuda.to_device(flags), out, block=16)
    np.testing.assert_array_equal(out.copy_to_host(), flags.sum(axis=1))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sum_all(dtype: type) -> None:
    x = _values(dtype, (8, 8), seed=19)
    want = x.astype(np.float64).sum().astype(dtype)
    for blocks in (None, 1):  # two partials, or one block striding over everything
        total = ck.sum_all(cuda.to_device(x), block=16, blocks=blocks)
        assert total.shape == (1,) and total.dtype == dtype
        np.testing.assert_allclose(total.copy_to_host()[0], want, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_sum_all_float32_accumulator_and_empty_inputs() -> None:
    x = _values(np.float32, (40,), seed=20)
    total = ck.sum_all(cuda.to_device(x), acc="float32", block=16)
    np.testing.assert_allclose(total.copy_to_host()[0], x.sum(dtype=np.float64), rtol=1e-5)
    assert ck.sum_all(cuda.device_array(0, np.float32), block=16).copy_to_host()[0] == 0
    out = cuda.device_array(2, np.float32)
    ck.sum_rows(cuda.device_array((2, 0), np.float32), out, block=16)
    np.testing.assert_array_equal(out.copy_to_host(), [0, 0])
    with pytest.raises(ValueError):
        ck.sum_module(block=48)


# --------------------------------------------------------------------- the CUDA math names

def test_cuda_math_covers_scalar_math() -> None:
    # Every name a scalar definition may call must exist on both targets.
    assert set(ck.CUDA_MATH_NAMES) == set(scalar_math.__all__) - {"FASTMATH_FLAGS"}


@pytest.mark.skipif(SIMULATED, reason="the simulator runs Python's math, which raises on inf and 0")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_special_values_match_cpu(dtype: type) -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-40, -1e-40, 100.0, -100.0, 1e4, -1e4, -1.0, -2.0],
                 dtype)
    for fn in (ew._exp, ew._expm1, ew._log, ew._log1p, ew._tanh, ew._sigmoid):
        with np.errstate(all="ignore"):
            want = _cpu_result(fn, [x], dtype)
        np.testing.assert_allclose(_gpu_result(fn, [x], dtype), want, rtol=RTOL[dtype],
                                   atol=np.finfo(dtype).tiny, equal_nan=True, err_msg=fn.__name__)
