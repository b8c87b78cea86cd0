"""Shared by the CUDA tensor tests: skip without a GPU or the simulator, and compare a
computation run on CUDA with the same computation on the CPU backend."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import pytest
from numba import cuda as numba_cuda

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
HAVE_CUDA = SIMULATED or numba_cuda.is_available()
SKIP_REASON = ("no CUDA GPU here: run these in the simulator with "
               "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda")

import tapegrad  # noqa: E402

# GPU libdevice against the CPU backend's polynomials: a few ulp apart at most.
RTOL = {np.dtype(np.float32): 4e-6, np.dtype(np.float64): 1e-12}


def values(shape: tuple[int, ...], dtype: Any = np.float64, low: float = -2.0, high: float = 2.0,
           seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


def assert_close(got: Any, want: Any) -> None:
    """``got`` (a tensor on any device, or an array) equals ``want`` in dtype, shape and values."""
    if isinstance(got, tapegrad.Tensor):
        got = got.detach().cpu().numpy()
    if isinstance(want, tapegrad.Tensor):
        want = want.detach().cpu().numpy()
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    if got.dtype.kind == "f":
        rtol = RTOL[got.dtype]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def run_both(fn: Callable[..., Any], arrays: Sequence[np.ndarray], grad: bool = True,
             extra: Sequence[Any] = ()) -> None:
    """``fn`` of tensors made from ``arrays`` on the CPU and on CUDA: equal results, and equal
    gradients (for a random output gradient) for the floating inputs."""
    results = {}
    for device in ("cpu", "cuda"):
        inputs = [tapegrad.tensor(a, device=device, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        out = fn(*inputs, *extra)
        assert out.device.type == device
        grads = []
        if grad and out.requires_grad:
            seed = tapegrad.tensor(values(tuple(out.shape), out.dtype.numpy, seed=99), device=device)
            out.backward(seed)
            grads = [x.grad for x in inputs if x.requires_grad]
            for g, x in zip(grads, [x for x in inputs if x.requires_grad]):
                assert g is None or g.device == x.device
        results[device] = (out, grads)
    (cpu_out, cpu_grads), (cuda_out, cuda_grads) = results["cpu"], results["cuda"]
    assert_close(cuda_out, cpu_out)
    assert (cpu_out.grad_fn is None) == (cuda_out.grad_fn is None)
    if cpu_out.grad_fn is not None:
        assert cuda_out.grad_fn.name() == cpu_out.grad_fn.name()
    assert len(cpu_grads) == len(cuda_grads)
    for g_cuda, g_cpu in zip(cuda_grads, cpu_grads):
        assert (g_cuda is None) == (g_cpu is None)
        if g_cpu is not None:
            assert_close(g_cuda, g_cpu)


def needs_cuda() -> Any:
    return pytest.mark.skipif(not HAVE_CUDA, reason=SKIP_REASON)
