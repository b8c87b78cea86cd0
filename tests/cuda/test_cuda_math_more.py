"""The trigonometric, hyperbolic, exponential and special functions and the IEEE helpers on CUDA,
against the CPU backend (values, dtype, grad_fn name and gradients) in float32 and float64; their
integer forms, special values, and in-place forms.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_math_more.py -q

The simulator runs scalar definitions as Python, whose ``math`` raises where libdevice returns
nan or inf (``math.tan(inf)``, ``math.log(0)``): special values are sent only to the ops whose
definitions answer them before calling ``math``; on a GPU every op could take them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

FLOATS = [np.float32, np.float64]

# (name, function, the bounds its inputs are drawn from)
UNARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("tan", tapegrad.tan, (-1.4, 1.4)), ("asin", tapegrad.asin, (-0.9, 0.9)), ("acos", tapegrad.acos, (-0.9, 0.9)),
    ("atan", tapegrad.atan, (-3, 3)), ("sinh", tapegrad.sinh, (-3, 3)), ("cosh", tapegrad.cosh, (-3, 3)),
    ("asinh", tapegrad.asinh, (-3, 3)), ("acosh", tapegrad.acosh, (1.1, 4)), ("atanh", tapegrad.atanh, (-0.9, 0.9)),
    ("log2", tapegrad.log2, (0.1, 4)), ("log10", tapegrad.log10, (0.1, 4)), ("exp2", tapegrad.exp2, (-4, 4)),
    ("trunc", tapegrad.trunc, (-4, 4)), ("frac", tapegrad.frac, (-4, 4)), ("erfc", tapegrad.erfc, (-3, 3)),
    ("erfinv", tapegrad.erfinv, (-0.99, 0.99)), ("lgamma", tapegrad.lgamma, (0.1, 5)),
    ("lgamma-negative", tapegrad.lgamma, (-2.9, -2.1)), ("digamma", tapegrad.digamma, (0.1, 12)),
    ("digamma-negative", tapegrad.digamma, (-3.9, -3.1)), ("polygamma1", lambda x: tapegrad.polygamma(1, x), (-0.9, 8)),
    ("polygamma3", lambda x: x.polygamma(3), (0.2, 12)), ("logit", tapegrad.logit, (0.05, 0.95)),
    ("logit-eps", lambda x: tapegrad.logit(x, eps=0.2), (0.05, 0.95)), ("sinc", tapegrad.sinc, (-3, 3)),
    ("deg2rad", tapegrad.deg2rad, (-360, 360)), ("rad2deg", tapegrad.rad2deg, (-4, 4)),
    ("sgn", lambda x: tapegrad.sgn(x) + x, (-2, 2)), ("nan_to_num", tapegrad.nan_to_num, (-2, 2)),
    ("copysign-number", lambda x: x.copysign(-1.0), (-2, 2)), ("fmod-number", lambda x: x.fmod(0.7), (-3, 3)),
    ("float_power-number", lambda x: tapegrad.float_power(x, 2.5), (0.5, 2)),
    ("xlogy-number", lambda x: tapegrad.xlogy(x, 2.5), (-2, 2)),
]

BINARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("atan2", tapegrad.atan2, (-2, 2)), ("fmod", tapegrad.fmod, (0.5, 3)), ("hypot", tapegrad.hypot, (-2, 2)),
    ("logaddexp", tapegrad.logaddexp, (-3, 3)), ("logaddexp2", tapegrad.logaddexp2, (-3, 3)),
    ("copysign", tapegrad.copysign, (-2, 2)), ("nextafter", tapegrad.nextafter, (-2, 2)),
    ("float_power", tapegrad.float_power, (0.5, 2)),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn,bounds", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], bounds: tuple[float, float],
                                                 dtype: Any) -> None:
    run_both(fn, [values((2, 3), dtype, *bounds, seed=1)])


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn,bounds", BINARY, ids=[b[0] for b in BINARY])
def test_binary_ops_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], bounds: tuple[float, float],
                                                  dtype: Any) -> None:
    # Broadcast (the gradient of the second operand is summed back to its shape), signs mixed.
    other = values((3,), dtype, *bounds, seed=3)
    if name == "fmod":
        other = other * np.array([1, -1, 1], dtype)
    run_both(fn, [values((2, 3), dtype, *bounds, seed=2), other])


def test_classifications_of_floats_and_integers_match_cpu() -> None:
    floats = np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, -np.nan, 1e-310])
    for data in (floats, floats.astype(np.float32), np.array([-3, 0, 5], np.int64), np.array([True, False])):
        for fn in (tapegrad.signbit, tapegrad.isfinite, tapegrad.isinf, tapegrad.isposinf, tapegrad.isneginf,
                   tapegrad.isreal):
            run_both(fn, [data], grad=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's, for inf - inf in the simulator
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
def test_special_values_match_cpu(dtype: Any) -> None:
    data = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, -2.0, 0.5, -2.5, 1e-30, 1e30], dtype)
    ops = [tapegrad.trunc, tapegrad.frac, tapegrad.erfinv, tapegrad.digamma, tapegrad.nan_to_num,
           lambda x: tapegrad.nan_to_num(x, 1.5, 2.5, -3.5), lambda x: x.copysign(-0.0),
           lambda x: tapegrad.heaviside(x, x.flip(0)), lambda x: tapegrad.nextafter(x, x.flip(0)),
           lambda x: tapegrad.copysign(x, x.flip(0)), lambda x: tapegrad.logaddexp(x, x.flip(0)),
           lambda x: tapegrad.hypot(x, x.flip(0)), lambda x: tapegrad.atan2(x, x.flip(0))]
    for fn in ops:
        got = fn(tapegrad.tensor(data, device="cuda")).cpu().numpy()
        want = fn(tapegrad.tensor(data)).numpy()
        assert_close(got, want)
        zeros = want == 0
        np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


def test_integer_forms_keep_their_dtype() -> None:
    a = np.array([[-7, -1, 0, 3, 8]], np.int64)
    b = np.array([2, -3, 2, 5, -2], np.int64)
    for dtype in (np.int64, np.int32):
        run_both(tapegrad.trunc, [a.astype(dtype)], grad=False)
        run_both(tapegrad.nan_to_num, [a.astype(dtype)], grad=False)
        run_both(tapegrad.fmod, [a.astype(dtype), b.astype(dtype)], grad=False)
        run_both(lambda x: x.fmod(-3), [a.astype(dtype)], grad=False)
        run_both(tapegrad.heaviside, [a.astype(dtype), b.astype(dtype)], grad=False)
        run_both(tapegrad.sgn, [a.astype(dtype)], grad=False)
        run_both(tapegrad.float_power, [a.astype(dtype), np.abs(b).astype(dtype)], grad=False)
        run_both(tapegrad.tan, [a.astype(dtype)], grad=False)  # integers give the default float dtype
    run_both(tapegrad.heaviside, [np.array([True, False]), np.array([False, True])], grad=False)


IN_PLACE: list[tuple[str, Callable[..., Any]]] = [
    ("tan_", lambda x, y: x.tan_()), ("erfinv_", lambda x, y: x.mul_(0.4).erfinv_()),
    ("digamma_", lambda x, y: x.add_(3).digamma_()), ("logit_", lambda x, y: x.mul_(0.4).add_(0.5).logit_(0.1)),
    ("polygamma_", lambda x, y: x.add_(3).polygamma_(2)), ("atan2_", lambda x, y: x.atan2_(y)),
    ("hypot_", lambda x, y: x.hypot_(y)), ("fmod_", lambda x, y: x.fmod_(y)),
    ("copysign_", lambda x, y: x.copysign_(y)),
    ("nextafter_", lambda x, y: x.nextafter_(y)), ("nan_to_num_", lambda x, y: x.nan_to_num_()),
    ("trunc_", lambda x, y: x.mul_(3).trunc_()), ("sinc_", lambda x, y: x.sinc_()), ("exp2_", lambda x, y: x.exp2_()),
]


@pytest.mark.parametrize("name,fn", IN_PLACE, ids=[p[0] for p in IN_PLACE])
def test_in_place_forms_match_cpu(name: str, fn: Callable[..., Any]) -> None:
    # On a non-leaf, with a gradient through the in-place step; and under no_grad.
    def step(x: Any, y: Any) -> Any:
        return fn(x * 1, y)

    operands = [values((2, 3), seed=4), values((3,), np.float64, 0.5, 2, seed=5)]
    run_both(step, operands)
    results = []
    for device in ("cpu", "cuda"):
        x, y = (tapegrad.tensor(a, device=device) for a in operands)
        with tapegrad.no_grad():
            results.append(fn(x, y))
    assert_close(results[1], results[0])
