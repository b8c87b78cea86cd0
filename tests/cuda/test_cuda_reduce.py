"""CUDA reductions (``tapegrad.backends.cuda_reduce``) against NumPy and the CPU backend.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); shapes stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_reduce.py -q
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numba import cuda

from cuda_helpers import HAVE_CUDA, SKIP_REASON  # noqa: E402

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from tapegrad.backends import cpu
from tapegrad.backends import cuda_reduce as cr

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-6, np.float64: 1e-13}
ids = {"ids": lambda d: np.dtype(d).name}


def _values(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-3, 3, shape).astype(dtype)


# --------------------------------------------------------------------------- sum and mean

SUM_CASES = [((3, 5), (1,)), ((3, 5), (0,)), ((2, 3, 4), (1,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (0, 1, 2)),
             ((2, 1, 3, 1), (1, 3)), ((2, 3, 4, 5), (0, 2)), ((1, 5), (0,)), ((4,), (-1,))]


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("shape,axes", SUM_CASES, ids=str)
def test_sum_matches_cpu(shape: tuple[int, ...], axes: tuple[int, ...], dtype: Any) -> None:
    x = _values(shape, dtype, seed=len(shape))
    got = cr.sum_axes(cuda.to_device(x), axes).copy_to_host()
    want = cpu.reduce_sum(x, tuple(a % x.ndim for a in axes), np.dtype(dtype))
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_mean_matches_cpu_mean(dtype: Any) -> None:
    x = _values((2, 3, 4), dtype, seed=3)
    for axes in ((1,), (0, 2), (0, 1, 2)):
        got = cr.mean_axes(cuda.to_device(x), axes).copy_to_host()
        total = cpu.reduce_sum(x, axes, np.dtype(dtype))
        want = np.asarray(total / int(np.prod([x.shape[a] for a in axes]))).astype(dtype)
        np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("shape,axes", [((3, 50), (1,)), ((40, 3), (0,)), ((2, 37, 3), (1,)), ((45,), (0,))], ids=str)
def test_segmented_sums(shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    # Forced short segments: partial sums per segment, then a second pass over them.
    x = _values(shape, np.float32, seed=4)
    got = cr.sum_axes(cuda.to_device(x), axes, segment=16).copy_to_host()
    np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=axes).astype(np.float32), rtol=2e-6)


def test_integer_and_bool_sums_are_int64() -> None:
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4) * 1000
    got = cr.sum_axes(cuda.to_device(x), (0, 2)).copy_to_host()
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, x.sum(axis=(0, 2)))
    flags = x % 3 == 0
    np.testing.assert_array_equal(cr.sum_axes(cuda.to_device(flags), (1,)).copy_to_host(), flags.sum(axis=1))


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the mean of nothing is 0 / 0
def test_sum_edge_cases() -> None:
    x = _values((3, 1), np.float32)
    # Only size-1 axes: a copy; an empty axis list: a copy too.
    np.testing.assert_array_equal(cr.sum_axes(cuda.to_device(x), (1,)).copy_to_host(), x[:, 0])
    np.testing.assert_array_equal(cr.sum_axes(cuda.to_device(x), ()).copy_to_host(), x)
    empty = cuda.device_array((0, 4), np.float32)
    np.testing.assert_array_equal(cr.sum_axes(empty, (0,)).copy_to_host(), np.zeros(4, np.float32))
    assert cr.sum_axes(empty, (1,)).shape == (0,)
    assert np.isnan(cr.mean_axes(empty, (0,)).copy_to_host()).all()
    with pytest.raises(ValueError):
        cr.sum_axes(cuda.to_device(x), (2,))
    with pytest.raises(TypeError):
        cr.mean_axes(cuda.to_device(np.arange(3)), (0,))


def test_sum_into_given_out_and_dtype() -> None:
    x = _values((3, 5), np.float32, seed=5)
    out = cuda.device_array(3, np.float64)
    assert cr.sum_axes(cuda.to_device(x), (1,), out) is out
    np.testing.assert_allclose(out.copy_to_host(), x.astype(np.float64).sum(axis=1), rtol=1e-12)
    with pytest.raises(ValueError):
        cr.sum_axes(cuda.to_device(x), (1,), cuda.device_array(5, np.float32))


# ---------------------------------------------------------------- broadcast gradient sums

@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("grad_shape,shape", [((3, 5), (5,)), ((3, 5), (3, 1)), ((2, 3, 4), (1, 3, 1)),
                                              ((2, 3, 4), ()), ((2, 3, 4), (4,)), ((3, 5), (3, 5))], ids=str)
def test_sum_to_shape(grad_shape: tuple[int, ...], shape: tuple[int, ...], dtype: Any) -> None:
    g = _values(grad_shape, dtype, seed=6)
    got = cr.sum_to_shape(cuda.to_device(g), shape).copy_to_host()
    lead = len(grad_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + d for d, s in enumerate(shape) if s == 1 and grad_shape[lead + d] != 1)
    want = g.astype(np.float64).sum(axis=axes).reshape(shape).astype(dtype)
    assert got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
    with pytest.raises(ValueError):
        cr.sum_to_shape(cuda.to_device(g), (7,))


# ----------------------------------------------------------------------- max, min, amax

@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("shape,axis", [((3, 5), 1), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), 2), ((1, 7), 1),
                                        ((4, 1), 1), ((40,), 0)], ids=str)
def test_max_min_match_cpu(shape: tuple[int, ...], axis: int, dtype: Any) -> None:
    x = np.round(_values(shape, dtype, seed=7))  # rounding makes ties: the first one must win
    for largest in (True, False):
        values, indices = cr.extreme(cuda.to_device(x), axis, largest)
        want_values, want_indices = cpu.reduce_extreme(x, (axis,), largest)
        np.testing.assert_array_equal(values.copy_to_host(), want_values)
        np.testing.assert_array_equal(indices.copy_to_host(), want_indices)
        assert indices.dtype == np.int64


def test_nan_wins_first_nan_reported() -> None:
    x = np.array([[1.0, np.nan, 5.0, np.nan], [2.0, 2.0, -1.0, 0.0], [np.inf, 1.0, np.nan, -np.inf]], np.float32)
    for axis in (0, 1):
        for largest in (True, False):
            values, indices = cr.extreme(cuda.to_device(x), axis, largest)
            want_values, want_indices = cpu.reduce_extreme(x, (axis,), largest)
            np.testing.assert_array_equal(values.copy_to_host(), want_values)
            np.testing.assert_array_equal(indices.copy_to_host(), want_indices)


def test_extreme_of_integers_and_bools() -> None:
    x = np.array([[3, -7, 3, 9], [0, 0, -2, 5]], np.int32)
    values, indices = cr.extreme(cuda.to_device(x), 1, False)
    np.testing.assert_array_equal(values.copy_to_host(), [-7, -2])
    np.testing.assert_array_equal(indices.copy_to_host(), [1, 2])
    flags = x > 0
    values, indices = cr.extreme(cuda.to_device(flags), 1, True)
    np.testing.assert_array_equal(values.copy_to_host(), [True, True])
    np.testing.assert_array_equal(indices.copy_to_host(), [0, 3])
    with pytest.raises(ValueError):
        cr.extreme(cuda.device_array((2, 0), np.float32), 1, True)


def test_amax_amin() -> None:
    x = _values((2, 3, 4), np.float64, seed=8)
    np.testing.assert_array_equal(cr.amax(cuda.to_device(x), 1).copy_to_host(), x.max(axis=1))
    np.testing.assert_array_equal(cr.amax(cuda.to_device(x), -1, largest=False).copy_to_host(), x.min(axis=-1))
