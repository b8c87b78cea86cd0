"""Ops whose CUDA kernels needed more than the CPU's scalar definitions, against the CPU backend
(values, dtype, grad_fn name and gradients), in float32 and float64:

- rounding (floor, ceil, round and what is built on them: floor_divide, remainder, trunc
  division), whose CUDA kernels use libdevice (NumPy in the simulator);
- sign and what differentiates through it (abs, L1 losses), written without bool arithmetic;
- products over axes (``cuda_reduce.prod_axes``) and their gradient, zeros included;
- binary cross entropy's range check, done on the device;
- cross entropy with label smoothing, class weights, ignored targets and probability targets.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_math.py -q
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

FLOATS = [np.float32, np.float64]
# Halves (round half to even), signed zeros, non-finite values and magnitudes past 2**24 and 2**53.
SPECIAL = [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 3.7, -3.2, np.nan, np.inf, -np.inf, 1e20, -16777217.0,
           2.0 ** 52 + 0.5]


def _special(dtype: Any) -> np.ndarray:
    return np.array(SPECIAL, dtype)


# ------------------------------------------------------------------ rounding

ROUNDING: list[tuple[str, Callable[..., Any]]] = [
    ("floor", tapegrad.floor), ("ceil", tapegrad.ceil), ("round", tapegrad.round),
    ("floor_divide", lambda x: x // 2), ("remainder", lambda x: x % 2),
    ("trunc-division", lambda x: tapegrad.div(x, 3, rounding_mode="trunc")),
    ("floor-division", lambda x: tapegrad.div(x, -0.75, rounding_mode="floor")),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn", ROUNDING, ids=[name for name, _ in ROUNDING])
def test_rounding_and_its_gradient_match_cpu(name: str, fn: Callable[..., Any], dtype: Any) -> None:
    run_both(fn, [values((3, 5), dtype, -4, 4, seed=3)])


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["floor", "ceil", "round"])
def test_rounding_special_values_bit_for_bit(name: str, dtype: Any) -> None:
    data = _special(dtype)
    got = getattr(tapegrad.tensor(data, device="cuda"), name)().cpu().numpy()
    want = getattr(tapegrad.tensor(data), name)().numpy()
    assert got.dtype == want.dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # floor(-0.5) is -0.0


def test_rounding_half_to_even_as_numpy() -> None:
    data = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32)
    np.testing.assert_array_equal(tapegrad.tensor(data, device="cuda").round().cpu().numpy(), np.round(data))


def test_floor_divide_and_remainder_of_tensors_match_cpu() -> None:
    x = values((2, 4), np.float64, -5, 5, seed=4)
    y = values((4,), np.float64, 0.5, 2, seed=5) * np.array([1, -1, 1, -1])
    run_both(lambda a, b: a // b, [x, y])
    run_both(lambda a, b: a % b, [x, y])
    run_both(lambda a, b: tapegrad.remainder(a, b), [x, y])


def test_rounding_of_integers_keeps_the_dtype() -> None:
    data = np.array([[-7, -1, 0, 3, 8]], np.int64)
    for fn in (tapegrad.floor, tapegrad.ceil, tapegrad.round, lambda x: x // 3, lambda x: x % 3):
        run_both(fn, [data])


# ------------------------------------------------------------------ sign and |x|

SIGNS: list[tuple[str, Callable[..., Any], str]] = [
    ("sign", tapegrad.sign, "any"),
    ("abs", tapegrad.abs, "any"),
    ("abs-pow", lambda x: x.abs() ** 1.5, "any"),
    ("l1_loss", lambda x: F.l1_loss(x, x.detach() * 0.5), "any"),
    ("l1_loss-sum", lambda x: F.l1_loss(x, x.detach() * -0.25, reduction="sum"), "any"),
    ("smooth_l1_loss", lambda x: F.smooth_l1_loss(x, x.detach() * 0.5), "any"),
    ("smooth_l1_loss-beta", lambda x: F.smooth_l1_loss(x, x.detach() * -1, beta=0.5, reduction="none"), "any"),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn,domain", SIGNS, ids=[name for name, _, _ in SIGNS])
def test_sign_and_what_differentiates_through_it_match_cpu(name: str, fn: Callable[..., Any], domain: str,
                                                           dtype: Any) -> None:
    run_both(fn, [values((3, 4), dtype, seed=6)])


@pytest.mark.parametrize("dtype", FLOATS + [np.int32, np.int64, np.bool_], ids=lambda d: d.__name__)
def test_sign_of_special_values_and_other_dtypes(dtype: Any) -> None:
    data = _special(np.float64)[:10].astype(dtype) if dtype != np.bool_ else np.array([True, False])
    got = tapegrad.tensor(data, device="cuda").sign()
    assert_close(got, tapegrad.tensor(data).sign())


def test_sign_of_nan_is_zero() -> None:
    got = tapegrad.tensor([np.nan, -np.inf, np.inf], device="cuda").sign().cpu().numpy()
    np.testing.assert_array_equal(got, np.array([0.0, -1.0, 1.0], np.float32))


# ------------------------------------------------------------------ products

def _with_zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    # Values near 1 keep long products finite; zeros exercise the gradient's special cases
    # (one zero in a row, two zeros in a row).
    data = values(shape, dtype, 0.6, 1.4, seed=7)
    flat = data.reshape(-1)
    flat[1] = 0
    flat[-1] = 0
    flat[-2] = 0
    return data


PRODUCTS: list[tuple[str, Callable[..., Any]]] = [
    ("all", lambda x: x.prod()),
    ("dim0", lambda x: x.prod(0)),
    ("dim1", lambda x: x.prod(1)),
    ("last-keepdim", lambda x: x.prod(-1, keepdim=True)),
    ("negative-values", lambda x: (x - 1).prod(1)),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn", PRODUCTS, ids=[name for name, _ in PRODUCTS])
def test_products_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], dtype: Any) -> None:
    run_both(fn, [_with_zeros((3, 4, 5), dtype)])
    run_both(fn, [values((2, 6), dtype, 0.5, 1.5, seed=8)])


def test_long_products_use_segments() -> None:
    # Long enough for the reduction to cut each row into segments and multiply the partials.
    # (One dtype, one gradient: the simulator runs each of the 4200 threads in Python.)
    data = values((2, 2100), np.float32, 0.999, 1.001, seed=9)
    run_both(lambda x: x.prod(1), [data])
    run_both(lambda x: x.prod(), [data], grad=False)


def test_products_of_other_dtypes_and_empty_tensors() -> None:
    ints = np.arange(-3, 9, dtype=np.int32).reshape(3, 4)
    run_both(lambda x: x.prod(1), [ints])
    run_both(lambda x: x.prod(), [ints])
    run_both(lambda x: x.prod(0, dtype=tapegrad.float32), [ints])
    run_both(lambda x: x.prod(1), [np.array([[True, False], [True, True]])])
    run_both(lambda x: x.prod(1, dtype=tapegrad.float64), [values((2, 3), np.float32, seed=10)])
    run_both(lambda x: x.prod(), [np.zeros((0, 3), np.float32)])
    run_both(lambda x: x.prod(0), [np.zeros((0, 3), np.float64)])
    run_both(lambda x: x.prod(0), [values((1, 3), np.float64, seed=11)])  # only a size-1 axis


def test_product_of_a_view_matches_cpu() -> None:
    run_both(lambda x: x.transpose(0, 1)[1:].prod(1), [values((4, 3), np.float64, 0.5, 1.5, seed=12)])


# ------------------------------------------------------------------ binary cross entropy

@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_cpu(reduction: str, dtype: Any) -> None:
    p = values((3, 4), dtype, 0.05, 0.95, seed=13)
    if not SIMULATED:  # the simulator's math.log refuses 0
        p[0, 0], p[0, 1] = 0.0, 1.0  # saturated predictions: logs clamped at -100
    target = values((3, 4), dtype, 0, 1, seed=14)
    run_both(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [p, target])
    weight = values((3, 4), dtype, 0, 2, seed=15)
    run_both(lambda a, b, w: F.binary_cross_entropy(a, b, weight=w, reduction=reduction), [p, target, weight])


@pytest.mark.parametrize("bad", [-0.1, 1.5, -np.inf, np.nan])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_binary_cross_entropy_rejects_inputs_outside_0_1(device: str, bad: float) -> None:
    p = values((2, 3), np.float32, 0.1, 0.9, seed=16)
    p[1, 2] = bad
    with pytest.raises(RuntimeError, match="^all elements of input should be between 0 and 1$"):
        F.binary_cross_entropy(tapegrad.tensor(p, device=device), tapegrad.tensor(p.clip(0, 1), device=device))


# ------------------------------------------------------------------ cross entropy

REDUCTIONS = ["mean", "sum", "none"]
LABELS = np.array([0, 1, 3, 2, 1])


# Each reduction once, the dtypes alternating (the simulator runs every thread in Python).
REDUCTION_DTYPES = [pytest.param(reduction, dtype, id=f"{reduction}-{dtype.__name__}")
                    for reduction, dtype in zip(REDUCTIONS, [np.float32, np.float64, np.float32])]


@pytest.mark.parametrize("reduction, dtype", REDUCTION_DTYPES)
def test_cross_entropy_with_label_smoothing_matches_cpu(reduction: str, dtype: Any) -> None:
    x = values((5, 4), dtype, seed=19)
    weight = np.array([1.0, 2.0, 0.5, 1.5], dtype)
    run_both(lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1, reduction=reduction), [x, LABELS])
    run_both(lambda a, t, w: F.cross_entropy(a, t, weight=w, label_smoothing=0.25, reduction=reduction),
             [x, LABELS, weight])
    run_both(lambda a, t: F.cross_entropy(a, t, label_smoothing=0.2, ignore_index=1, reduction=reduction),
             [x, LABELS])
    run_both(lambda a, t, w: F.cross_entropy(a, t, weight=w, label_smoothing=1.0, ignore_index=3,
                                             reduction=reduction), [x, LABELS, weight])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_label_smoothing_over_spatial_dims_and_unbatched(reduction: str) -> None:
    x = values((2, 4, 3), np.float32, seed=20)
    labels = np.array([[0, 1, 3], [2, 2, 1]])
    run_both(lambda a, t: F.cross_entropy(a, t, label_smoothing=0.3, reduction=reduction), [x, labels])
    run_both(lambda a, t: F.cross_entropy(a, t, label_smoothing=0.3, reduction=reduction),
             [values((4,), np.float64, seed=21), np.array(2)])


def test_cross_entropy_with_every_target_ignored_matches_cpu() -> None:
    # The mean then divides by a zero total weight: nan, with zero gradients, on both devices.
    run_both(lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1, ignore_index=1),
             [values((2, 3), np.float32, seed=22), np.array([1, 1])])


@pytest.mark.parametrize("reduction, dtype", REDUCTION_DTYPES)
def test_cross_entropy_with_probability_targets_matches_cpu(reduction: str, dtype: Any) -> None:
    x = values((5, 4), dtype, seed=23)
    probabilities = values((5, 4), dtype, 0, 1, seed=24)
    weight = np.array([1.0, 2.0, 0.5, 1.5], dtype)
    run_both(lambda a, p: F.cross_entropy(a, p, reduction=reduction), [x, probabilities])
    run_both(lambda a, p: F.cross_entropy(a, p, label_smoothing=0.2, reduction=reduction), [x, probabilities])
    run_both(lambda a, p, w: F.cross_entropy(a, p, weight=w, label_smoothing=0.1, reduction=reduction),
             [x, probabilities, weight])


def test_cross_entropy_with_class_weights_matches_cpu() -> None:
    weight = np.array([0.2, 1.0, 3.0, 0.7], np.float32)
    for reduction in REDUCTIONS:
        run_both(lambda a, t, w, reduction=reduction: F.cross_entropy(a, t, weight=w, reduction=reduction),
                 [values((5, 4), np.float32, seed=25), LABELS, weight])
