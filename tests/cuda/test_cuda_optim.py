"""CUDA optimizer updates (``tapegrad.backends.cuda_optim``) against the CPU kernels compiled
from the same ``FusedKernel`` bodies, with the scalars and flags the optimizers compute.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_optim.py -q
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
from tapegrad.backends import cuda_optim as co
from tapegrad.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from tapegrad.optim._fused import FusedKernel
from tapegrad.optim.adagrad import _ADAGRAD
from tapegrad.optim.adam import _ADAM
from tapegrad.optim.rmsprop import _RMSPROP
from tapegrad.optim.sgd import _SGD

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]
# The simulator runs the body on NumPy scalars as the CPU kernel does: the same roundings.
# On a GPU, sqrt and division are correctly rounded too, but the compiler may fuse a
# multiply-add: an ulp or two.
TOL = {np.float32: 0 if SIMULATED else 1e-6, np.float64: 0 if SIMULATED else 1e-14}

# (optimizer class, options, fused kernel, buffers the options use)
CASES = [
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, _SGD, (True,)),
    (SGD, {"lr": 0.1, "maximize": True}, _SGD, (False,)),
    (Adam, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, _ADAM, (True, True, True)),
    (AdamW, {"lr": 0.01, "betas": (0.6, 0.9)}, _ADAM, (True, True, False)),
    (RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}, _RMSPROP, (True, True, True)),
    (RMSprop, {"lr": 0.01, "maximize": True}, _RMSPROP, (True, False, False)),
    (Adagrad, {"lr": 0.1, "weight_decay": 0.1, "lr_decay": 0.01}, _ADAGRAD, (True,)),
]


def _constants(optimizer: type, options: dict[str, Any], dtype: Any) -> tuple[np.ndarray, tuple[bool, ...]]:
    opt = optimizer([tapegrad.zeros(1, requires_grad=True)], **options)
    return opt._constants(opt.param_groups[0], np.dtype(dtype), 3.0)


def _state(shape: tuple[int, ...], dtype: Any, used: tuple[bool, ...], seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    param = rng.uniform(-1, 1, shape).astype(dtype)
    grad = rng.uniform(-1, 1, shape).astype(dtype)
    # Running squares are positive; centered RMSprop takes the root of buffer 0 minus the
    # square of buffer 1, so the first buffer is the larger.
    buffers = tuple(None if not u else rng.uniform(1.0, 2.0, shape).astype(dtype) if k == 0
                    else rng.uniform(0.0, 0.3, shape).astype(dtype) for k, u in enumerate(used))
    return param, grad, buffers


def _cpu_update(kernel: FusedKernel, flags: tuple[bool, ...], param: np.ndarray, grad: np.ndarray,
                buffers: tuple[np.ndarray | None, ...], scalars: np.ndarray) -> tuple[np.ndarray, ...]:
    param, buffers = param.copy(), tuple(None if b is None else b.copy() for b in buffers)
    empty = np.empty(0, param.dtype)
    kernel.module(flags).flat(param.reshape(-1), grad.reshape(-1),
                              *(empty if b is None else b.reshape(-1) for b in buffers), scalars)
    return (param, *(b for b in buffers if b is not None))


def _close(got: np.ndarray, want: np.ndarray, dtype: Any) -> None:
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda k: f"{CASES[k][0].__name__}{k}")
def test_update_matches_cpu_kernel(case: int, dtype: Any) -> None:
    optimizer, options, kernel, used = CASES[case]
    scalars, flags = _constants(optimizer, options, dtype)
    variants = [flags]
    if kernel is _SGD and flags[1]:
        variants.append(flags[:2] + (True,) + flags[3:])  # the first step writes the buffer
    for flags in variants:
        param, grad, buffers = _state((3, 5), dtype, used, seed=case)
        want = _cpu_update(kernel, flags, param, grad, buffers, scalars)
        device = [cuda.to_device(param), cuda.to_device(grad)] + [None if b is None else cuda.to_device(b)
                                                                 for b in buffers]
        co.update(kernel, flags, device[0], device[1], tuple(device[2:]), scalars)
        got = [device[0]] + [b for b in device[2:] if b is not None]
        for g, w in zip(got, want):
            _close(g.copy_to_host(), w, dtype)


def test_device_scalars_and_validation() -> None:
    scalars, flags = _constants(SGD, {"lr": 0.5}, np.float32)
    param, grad, _ = _state((4,), np.float32, (), seed=9)
    p = cuda.to_device(param)
    co.update(_SGD, flags, p, cuda.to_device(grad), (None,), cuda.to_device(scalars))
    _close(p.copy_to_host(), param - np.float32(0.5) * grad, np.float32)
    with pytest.raises(ValueError):
        co.update(_SGD, flags, p, cuda.to_device(grad[:3]), (None,), scalars)
    with pytest.raises(ValueError):
        co.update(_SGD, flags[:2], p, cuda.to_device(grad), (None,), scalars)
    with pytest.raises(ValueError):
        co.update(_SGD, flags, p, cuda.to_device(grad), (), scalars)
    co.update(_SGD, flags, cuda.device_array(0, np.float32), cuda.device_array(0, np.float32), (None,), scalars)


def test_unknown_numpy_function_is_refused() -> None:
    odd = FusedKernel("optim_odd", "param, grad", (), (), "    param[i] = np.clip(grad[i], 0, 1)\n")
    with pytest.raises(NotImplementedError, match="np.clip"):
        co.source(odd, ())


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_multi_tensor_update(dtype: Any) -> None:
    scalars, flags = _constants(Adam, {"lr": 0.01, "weight_decay": 0.1}, dtype)
    shapes = [(2, 3), (9,), (1,)] + [(2,)] * 7  # ten parameters: two launches of up to eight
    states = [_state(shape, dtype, (True, True, False), seed=k) for k, shape in enumerate(shapes)]
    rows = np.stack([scalars * (1 + 0.1 * k) for k in range(len(shapes))]).astype(dtype)  # per-parameter rows
    wants = [_cpu_update(_ADAM, flags, p, g, b, rows[k]) for k, (p, g, b) in enumerate(states)]
    params = [cuda.to_device(p) for p, _, _ in states]
    grads = [cuda.to_device(g) for _, g, _ in states]
    buffers = [tuple(None if x is None else cuda.to_device(x) for x in b) for _, _, b in states]
    co.update_many(_ADAM, flags, params, grads, buffers, rows, chunk=4)  # chunks split the tensors
    for k, want in enumerate(wants):
        _close(params[k].copy_to_host(), want[0], dtype)
        _close(buffers[k][0].copy_to_host(), want[1], dtype)
        _close(buffers[k][1].copy_to_host(), want[2], dtype)
