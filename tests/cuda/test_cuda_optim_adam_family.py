"""Adamax, NAdam and RAdam on CUDA: each update kernel (generated from the same ``FusedKernel``
body as the CPU one) against the CPU kernel, with the scalars and flags the optimizers
compute, and whole training steps on CUDA tensors against the CPU; and the kernels compiled
to PTX for float32 and float64.

The launches run in the CUDA simulator or on a GPU, the PTX compilations without the simulator
(see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_optim_adam_family.py -q
    python -m pytest tests/cuda/test_cuda_optim_adam_family.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from numba import cuda, types

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON

import tapegrad
import tapegrad.nn as nn
from tapegrad.backends import cuda_optim as co
from tapegrad.nn import functional as F
from tapegrad.optim._fused import FusedKernel
from tapegrad.optim.adamax import _ADAMAX, Adamax
from tapegrad.optim.nadam import _NADAM, NAdam
from tapegrad.optim.radam import _RADAM, RAdam

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
# The PTX test needs neither; everything else launches kernels.
launches = pytest.mark.skipif(not HAVE_CUDA, reason=SKIP_REASON)
KERNELS = [_ADAMAX, _NADAM, _RADAM]

DTYPES = [np.float32, np.float64]
# The simulator runs the body on NumPy scalars as the CPU kernel does: the same roundings.
# On a GPU the compiler may fuse a multiply-add: an ulp or two.
TOL = {np.float32: 0 if SIMULATED else 1e-6, np.float64: 0 if SIMULATED else 1e-14}

# (optimizer class, options, fused kernel, step t the scalars are computed for)
CASES = [
    (Adamax, {"lr": 0.01, "weight_decay": 0.1}, _ADAMAX, 3.0),
    (Adamax, {"lr": 0.01, "betas": (0.3, 0.9), "maximize": True}, _ADAMAX, 3.0),
    (NAdam, {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}, _NADAM, 3.0),
    (NAdam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.3, 0.9)}, _NADAM, 4.0),
    (RAdam, {"lr": 0.01, "weight_decay": 0.1}, _RADAM, 3.0),  # rho_t <= 5: the momentum step
    (RAdam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}, _RADAM, 10.0),
]


def _constants(optimizer: type, options: dict[str, Any], dtype: Any, t: float) -> tuple[np.ndarray, tuple]:
    opt = optimizer([tapegrad.zeros(1, requires_grad=True)], **options)
    return opt._constants(opt.param_groups[0], np.dtype(dtype), t)


def _state(shape: tuple[int, ...], dtype: Any, seed: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """A parameter, its gradient, a first-moment buffer and a positive second one."""
    rng = np.random.default_rng(seed)
    param, grad, exp_avg = (rng.uniform(-1, 1, shape).astype(dtype) for _ in range(3))
    return param, grad, (exp_avg, rng.uniform(0.05, 1.0, shape).astype(dtype))


def _cpu_update(kernel: FusedKernel, flags: tuple[bool, ...], param: np.ndarray, grad: np.ndarray,
                buffers: tuple[np.ndarray, ...], scalars: np.ndarray) -> tuple[np.ndarray, ...]:
    param, buffers = param.copy(), tuple(b.copy() for b in buffers)
    kernel.module(flags).flat(param.reshape(-1), grad.reshape(-1), *(b.reshape(-1) for b in buffers), scalars)
    return (param, *buffers)


def _close(got: np.ndarray, want: np.ndarray, dtype: Any) -> None:
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@launches
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda k: f"{CASES[k][0].__name__}{k}")
def test_update_matches_cpu_kernel(case: int, dtype: Any) -> None:
    optimizer, options, kernel, t = CASES[case]
    scalars, flags = _constants(optimizer, options, dtype, t)
    if kernel is _RADAM:
        assert (scalars[kernel.scalars.index("rect")] > 0) == (t > 5)  # both branches are covered
    param, grad, buffers = _state((3, 5), dtype, seed=case)
    want = _cpu_update(kernel, flags, param, grad, buffers, scalars)
    device = [cuda.to_device(a) for a in (param, grad, *buffers)]
    co.update(kernel, flags, device[0], device[1], tuple(device[2:]), scalars)
    assert not np.array_equal(want[0], param)  # the update moved the parameter
    for got, expected in zip([device[0], *device[2:]], want):
        _close(got.copy_to_host(), expected, dtype)


@launches
@pytest.mark.parametrize("kernel, optimizer", [(_ADAMAX, Adamax), (_NADAM, NAdam), (_RADAM, RAdam)],
                         ids=["Adamax", "NAdam", "RAdam"])
def test_multi_tensor_update(kernel: FusedKernel, optimizer: type) -> None:
    dtype = np.float32
    scalars, flags = _constants(optimizer, {"lr": 0.01, "weight_decay": 0.1}, dtype, 7.0)
    shapes = [(2, 3), (9,), (1,)]
    states = [_state(shape, dtype, seed=k) for k, shape in enumerate(shapes)]
    rows = np.stack([scalars * (1 + 0.1 * k) for k in range(len(shapes))]).astype(dtype)  # per-parameter rows
    wants = [_cpu_update(kernel, flags, p, g, b, rows[k]) for k, (p, g, b) in enumerate(states)]
    params = [cuda.to_device(p) for p, _, _ in states]
    grads = [cuda.to_device(g) for _, g, _ in states]
    buffers = [tuple(cuda.to_device(x) for x in b) for _, _, b in states]
    co.update_many(kernel, flags, params, grads, buffers, rows, chunk=4)  # chunks split the tensors
    for k, want in enumerate(wants):
        _close(params[k].copy_to_host(), want[0], dtype)
        for got, expected in zip(buffers[k], want[1:]):
            _close(got.copy_to_host(), expected, dtype)


def _train(device: str, make_optimizer: Callable[[Any], Any], steps: int) -> tuple[list[float], list, Any]:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(device)
    optimizer = make_optimizer(model.parameters())
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = tapegrad.from_numpy(rng.standard_normal((5, 3)).astype(np.float32)).to(device)
        y = tapegrad.from_numpy(rng.integers(0, 2, 5)).to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, list(model.parameters()), optimizer


OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "adamax": lambda p: Adamax(p, lr=1e-2, weight_decay=0.01),
    "nadam": lambda p: NAdam(p, lr=1e-2, weight_decay=0.01),
    "radam": lambda p: RAdam(p, lr=1e-2, decoupled_weight_decay=True, weight_decay=0.01),
}


@launches
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_steps_on_cuda_match_cpu(name: str) -> None:
    # Seven steps take RAdam past its switch to rectified steps (t = 6).
    steps = 7 if name == "radam" else 3
    cpu_losses, cpu_params, cpu_opt = _train("cpu", OPTIMIZERS[name], steps)
    cuda_losses, cuda_params, cuda_opt = _train("cuda", OPTIMIZERS[name], steps)
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-5)
    for got, want in zip(cuda_params, cpu_params):
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
        cuda_state, cpu_state = cuda_opt.state[got], cpu_opt.state[want]
        assert list(cuda_state) == list(cpu_state)
        for key, value in cuda_state.items():
            # State buffers live with their parameter; step and mu_product stay on the CPU, as
            # PyTorch keeps them unless capturable.
            assert value.device.type == ("cuda" if value.ndim else "cpu"), key
            np.testing.assert_allclose(value.detach().cpu().numpy(), cpu_state[key].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [types.float32, types.float64], ids=str)
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
def test_kernels_compile_to_ptx(kernel: FusedKernel, dtype: Any) -> None:
    # The simulator runs the bodies as Python and never types them: this is what checks them.
    from ptx_helpers import CC  # skips this test under the simulator or without a PTX compiler

    def ptx(function: Any, *arg_types: Any) -> str:
        text, _ = cuda.compile_ptx(function.py_func, types.void(*arg_types), cc=CC)
        return text

    arrays = len(co._names(kernel))
    for flags in ((True,) * len(kernel.flags), (False,) * len(kernel.flags)):
        module = co.module(kernel, flags)
        flat = ptx(module.flat, *[dtype[::1]] * arrays, dtype[::1])
        column = types.UniTuple(dtype[::1], co.MULTI_WIDTH)
        ptx(module.multi, *[column] * arrays, dtype[:, ::1], types.int64[:, ::1])
        if dtype is types.float32:  # float32 parameters update in float32
            assert [line for line in flat.splitlines() if ".f64" in line and not line.strip().startswith(".reg")] == []
