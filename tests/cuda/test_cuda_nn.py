"""CUDA softmax, NLL and row gather/scatter (``tapegrad.backends.cuda_nn``) against the CPU
backend and NumPy.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_nn.py -q
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numba import cuda

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON  # noqa: E402

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad
from tapegrad.backends import cpu
from tapegrad.backends import cuda_nn as cn
from tapegrad.nn import functional as F

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-6, np.float64: 1e-13}
ids = {"ids": lambda d: np.dtype(d).name}


def _values(shape: tuple[int, ...], dtype: Any, seed: int, scale: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-scale, scale, shape).astype(dtype)


def _close(got: Any, want: Any, dtype: Any) -> None:
    host = got.copy_to_host() if hasattr(got, "copy_to_host") else got
    want = np.asarray(want)
    assert host.shape == want.shape and host.dtype == want.dtype, (host.shape, want.shape, host.dtype, want.dtype)
    np.testing.assert_allclose(host, want, rtol=TOL[dtype], atol=TOL[dtype], equal_nan=True)


# ----------------------------------------------------------------------------- softmax

@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (1, 1), (2, 40)], ids=str)
def test_softmax_matches_cpu(shape: tuple[int, ...], dtype: Any) -> None:
    x = _values(shape, dtype, seed=len(shape))
    for log in (False, True):
        _close(cn.softmax(cuda.to_device(x), log=log), cpu.softmax(x, x.ndim - 1, log), dtype)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_softmax_special_values() -> None:
    x = np.array([[np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0], [-np.inf, 0.0, 1.0]])
    for log in (False, True):
        if log and SIMULATED:
            x = x[[0, 2, 3]]  # the simulator runs Python's math.log, which raises on log(0)
        with np.errstate(invalid="ignore"):
            want = cpu.softmax(x, 1, log)
        _close(cn.softmax(cuda.to_device(x), log=log), want, np.float64)


def test_softmax_float32_accumulator() -> None:
    x = _values((3, 7), np.float32, seed=9)
    got = cn.softmax(cuda.to_device(x), acc="float32").copy_to_host()
    np.testing.assert_allclose(got, cpu.softmax(x, 1, False), rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_softmax_backward_matches_autograd(dtype: Any) -> None:
    x, g = _values((3, 5), dtype, 1), _values((3, 5), dtype, 2)
    for log, fn in ((False, F.softmax), (True, F.log_softmax)):
        t = tapegrad.tensor(x, requires_grad=True)
        y = fn(t, dim=1)
        y.backward(tapegrad.tensor(g))
        got = cn.softmax_backward(cuda.to_device(g), cuda.to_device(y.detach().numpy()), log=log)
        _close(got, t.grad.numpy(), dtype)


# --------------------------------------------------------------------------------- NLL

def _cpu_nll(lp: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore: int, reduction: str
             ) -> tuple[np.ndarray, np.ndarray]:
    t = tapegrad.tensor(lp, requires_grad=True)
    w = tapegrad.tensor(weight) if weight is not None else None
    loss = F.nll_loss(t, tapegrad.tensor(target), weight=w, ignore_index=ignore, reduction=reduction)
    g = np.linspace(0.5, 1.5, loss.numel()).reshape(loss.shape).astype(lp.dtype)
    loss.backward(tapegrad.tensor(g))
    return loss.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
def test_nll_forward_and_backward_match_cpu(reduction: str, weighted: bool, dtype: Any) -> None:
    lp = _values((5, 4), dtype, 3)
    target = np.array([1, 3, -100, 0, 3], np.int64)  # one ignored
    weight = np.array([0.5, 2.0, 1.0, 0.25], dtype) if weighted else None
    want_loss, want_grad = _cpu_nll(lp, target, weight, -100, reduction)
    w_dev = cuda.to_device(weight) if weighted else None
    loss, total = cn.nll_loss(cuda.to_device(lp), cuda.to_device(target), weight=w_dev, reduction=reduction)
    _close(loss, want_loss, dtype)
    g = np.linspace(0.5, 1.5, want_loss.size).reshape(want_loss.shape).astype(dtype)
    grad = cn.nll_loss_backward(cuda.to_device(g), lp.shape, cuda.to_device(target), total, weight=w_dev,
                                reduction=reduction)
    _close(grad, want_grad, dtype)


def test_nll_with_spatial_dims_and_unbatched() -> None:
    lp = _values((2, 3, 2, 2), np.float64, 4)
    target = np.array([[[0, 2], [1, 1]], [[2, 0], [5, 1]]], np.int64)
    for reduction in ("mean", "none"):
        want_loss, want_grad = _cpu_nll(lp, target, None, 5, reduction)
        loss, total = cn.nll_loss(cuda.to_device(lp), cuda.to_device(target), ignore_index=5, reduction=reduction)
        _close(loss, want_loss, np.float64)
        g = np.linspace(0.5, 1.5, want_loss.size).reshape(want_loss.shape)
        _close(cn.nll_loss_backward(cuda.to_device(g), lp.shape, cuda.to_device(target), total, ignore_index=5,
                                    reduction=reduction), want_grad, np.float64)
    single = _values((4,), np.float32, 5)
    loss, _ = cn.nll_loss(cuda.to_device(single), cuda.to_device(np.array(2, np.int64)))
    _close(loss, np.float32(-single[2]), np.float32)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the mean over no target is 0 / 0
def test_nll_all_ignored_and_bad_targets() -> None:
    lp = _values((2, 3), np.float32, 6)
    target = np.array([-100, -100], np.int64)
    loss, total = cn.nll_loss(cuda.to_device(lp), cuda.to_device(target))
    assert np.isnan(loss.copy_to_host())
    grad = cn.nll_loss_backward(cuda.to_device(np.ones((), np.float32)), lp.shape, cuda.to_device(target), total)
    np.testing.assert_array_equal(grad.copy_to_host(), np.zeros((2, 3), np.float32))  # not NaN
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        cn.nll_loss(cuda.to_device(lp), cuda.to_device(np.array([0, 3], np.int64)))
    with pytest.raises(ValueError):
        cn.nll_loss(cuda.to_device(lp), cuda.to_device(target), reduction="average")
    with pytest.raises(RuntimeError):
        cn.nll_loss(cuda.to_device(lp), cuda.to_device(np.zeros(3, np.int64)))


# ------------------------------------------------------------------- gather and scatter

@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_index_select_and_scatter_add(dtype: Any) -> None:
    table = _values((5, 3), dtype, 7)
    index = np.array([4, 0, 4, 2], np.int64)
    rows = cn.index_select(cuda.to_device(table), cuda.to_device(index))
    _close(rows, table[index], dtype)
    grad = _values((4, 3), dtype, 8)
    out = cuda.to_device(np.zeros((5, 3), dtype))
    cn.scatter_add(out, cuda.to_device(index), cuda.to_device(grad))
    want = np.zeros((5, 3), dtype)
    np.add.at(want, index, grad)  # repeated index 4 accumulates
    _close(out, want, dtype)


def test_flat_gather_scatter_match_cpu() -> None:
    src = _values((7,), np.float64, 9)
    positions = np.array([6, 0, 3, 3], np.int64)
    _close(cn.gather_flat(cuda.to_device(src), cuda.to_device(positions)), cpu.gather_flat(src, positions), np.float64)
    out_cpu = np.zeros((2, 4))
    flat = np.array([1, 7, 1, 0], np.int64)
    values = _values((4,), np.float64, 10)
    cpu.scatter_add_flat(out_cpu, flat, values)
    out = cuda.to_device(np.zeros((2, 4)))
    cn.scatter_add_flat(out, cuda.to_device(flat), cuda.to_device(values))
    _close(out, out_cpu, np.float64)


def test_index_edge_cases() -> None:
    table = cuda.to_device(_values((3, 2), np.float32, 11))
    assert cn.index_select(table, cuda.to_device(np.zeros(0, np.int64))).shape == (0, 2)
    with pytest.raises(IndexError, match="index 3 is out of range"):
        cn.index_select(table, cuda.to_device(np.array([0, 3], np.int64)))
    with pytest.raises(IndexError):
        cn.scatter_add(table, cuda.to_device(np.array([-1], np.int64)), cuda.to_device(np.ones((1, 2), np.float32)))
    with pytest.raises(ValueError):
        cn.index_select(table, cuda.to_device(np.zeros(2, np.int32)))


@pytest.mark.parametrize("inplace", [False, True], ids=["dropout", "inplace"])
def test_dropout_on_cuda_draws_the_cuda_generator_and_backpropagates(inplace: bool) -> None:
    """The CUDA generator gives the CPU generator's numbers for the same seed, so a dropout
    mask drawn first after seeding is the CPU's; the gradient is the mask."""
    results = {}
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(np.linspace(0.5, 2.0, 24).reshape(4, 6).astype(np.float32), device=device,
                            requires_grad=True)
        tapegrad.manual_seed(3)
        out = F.dropout(x * 1.0, 0.4, inplace=inplace)
        out.sum().backward()
        assert out.device.type == device and x.grad.device.type == device
        results[device] = out.detach().cpu().numpy(), x.grad.cpu().numpy()
    np.testing.assert_array_equal(results["cuda"][0], results["cpu"][0])
    np.testing.assert_array_equal(results["cuda"][1], results["cpu"][1])
    kept = results["cuda"][1] != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(results["cuda"][1][kept], np.float32(1) / np.float32(0.6))
