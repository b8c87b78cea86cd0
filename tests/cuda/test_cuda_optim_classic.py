"""Adadelta, Rprop and ASGD on CUDA: each update kernel (generated from the same ``FusedKernel``
body as the CPU one) against the CPU kernel, with the scalars and flags the optimizers compute,
and whole training steps on CUDA tensors against the CPU; and the kernels compiled to PTX for
float32 and float64.

The launches run in the CUDA simulator or on a GPU, the PTX compilations without the simulator
(see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_optim_classic.py -q
    python -m pytest tests/cuda/test_cuda_optim_classic.py -q
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
from tapegrad.optim.adadelta import _ADADELTA, Adadelta
from tapegrad.optim.asgd import _ASGD, ASGD
from tapegrad.optim.rprop import _RPROP, Rprop

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
# The PTX test needs neither; everything else launches kernels.
launches = pytest.mark.skipif(not HAVE_CUDA, reason=SKIP_REASON)
KERNELS = [_ADADELTA, _RPROP, _ASGD]

DTYPES = [np.float32, np.float64]
# The simulator runs the body on NumPy scalars as the CPU kernel does: the same roundings.
# On a GPU the compiler may fuse a multiply-add: an ulp or two.
TOL = {np.float32: 0 if SIMULATED else 1e-6, np.float64: 0 if SIMULATED else 1e-14}


def _scalars(optimizer: type, options: dict[str, Any], dtype: Any,
             eta_mu: tuple[float, float] | None = None) -> tuple[np.ndarray, tuple[bool, ...]]:
    opt = optimizer([tapegrad.zeros(1, requires_grad=True)], **options)
    group = opt.param_groups[0]
    if eta_mu is not None:  # ASGD's scalars come from its eta and mu
        return opt._scalars(group, np.dtype(dtype), np.float32(eta_mu[0]), np.float32(eta_mu[1]))
    return opt._constants(group, np.dtype(dtype), 3.0)


# (optimizer class, options, fused kernel, ASGD's (eta, mu))
CASES = [
    (Adadelta, {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}, _ADADELTA, None),
    (Adadelta, {"maximize": True}, _ADADELTA, None),
    (Rprop, {"lr": 0.01, "step_sizes": (0.2, 1.5)}, _RPROP, None),  # step sizes at both limits
    (Rprop, {"lr": 0.01, "etas": (0.3, 1.5), "maximize": True}, _RPROP, None),
    (ASGD, {"lr": 0.01, "weight_decay": 0.1, "lambd": 0.1}, _ASGD, (0.01, 1.0)),  # mu = 1: ax is a copy
    (ASGD, {"lr": 0.01, "maximize": True}, _ASGD, (0.008, 0.25)),  # averaging
]


def _state(kernel: FusedKernel, shape: tuple[int, ...], dtype: Any, seed: int) -> tuple[np.ndarray, ...]:
    """A parameter, its gradient (with exact zeros, for Rprop's signs) and the kernel's state
    buffers (Adadelta's running squares positive, Rprop's step sizes positive)."""
    rng = np.random.default_rng(seed)
    param = rng.uniform(-1, 1, shape).astype(dtype)
    grad = (rng.uniform(-1, 1, shape) * (rng.uniform(size=shape) > 0.2)).astype(dtype)
    if kernel is _ADADELTA:
        buffers = (rng.uniform(0.05, 1.0, shape).astype(dtype), rng.uniform(0.0, 0.01, shape).astype(dtype))
    elif kernel is _RPROP:
        prev = (rng.uniform(-1, 1, shape) * (rng.uniform(size=shape) > 0.2)).astype(dtype)
        buffers = (prev, rng.uniform(0.1, 2.0, shape).astype(dtype))
    else:
        buffers = (rng.uniform(-1, 1, shape).astype(dtype),)
    return param, grad, buffers


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
    optimizer, options, kernel, eta_mu = CASES[case]
    scalars, flags = _scalars(optimizer, options, dtype, eta_mu)
    if kernel is _ASGD:
        assert flags[2] == (eta_mu[1] != 1)  # both ways of keeping ax are covered
    param, grad, buffers = _state(kernel, (3, 5), dtype, seed=case)
    want = _cpu_update(kernel, flags, param, grad, buffers, scalars)
    device = [cuda.to_device(a) for a in (param, grad, *buffers)]
    co.update(kernel, flags, device[0], device[1], tuple(device[2:]), scalars)
    assert not np.array_equal(want[0], param)  # the update moved the parameter
    for got, expected in zip([device[0], *device[2:]], want):
        _close(got.copy_to_host(), expected, dtype)


@launches
@pytest.mark.parametrize("case", [0, 2, 5], ids=["Adadelta", "Rprop", "ASGD"])
def test_multi_tensor_update(case: int) -> None:
    dtype = np.float32
    optimizer, options, kernel, eta_mu = CASES[case]
    scalars, flags = _scalars(optimizer, options, dtype, eta_mu)
    shapes = [(2, 3), (9,), (1,)]
    states = [_state(kernel, shape, dtype, seed=k) for k, shape in enumerate(shapes)]
    rows = np.stack([scalars] * len(shapes)).astype(dtype)
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
    "adadelta": lambda p: Adadelta(p, weight_decay=0.01),
    "rprop": lambda p: Rprop(p, lr=0.05),
    "asgd": lambda p: ASGD(p, lr=0.1, lambd=0.1, t0=0),  # averages from step 3
}


@launches
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_steps_on_cuda_match_cpu(name: str) -> None:
    steps = 3
    cpu_losses, cpu_params, cpu_opt = _train("cpu", OPTIMIZERS[name], steps)
    cuda_losses, cuda_params, cuda_opt = _train("cuda", OPTIMIZERS[name], steps)
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-5)
    for got, want in zip(cuda_params, cpu_params):
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
        cuda_state, cpu_state = cuda_opt.state[got], cpu_opt.state[want]
        assert list(cuda_state) == list(cpu_state)
        for key, value in cuda_state.items():
            # State buffers live with their parameter; the 0-d step (and ASGD's eta and mu) stay
            # on the CPU.
            assert value.device.type == ("cuda" if value.ndim else "cpu"), key
            np.testing.assert_allclose(value.detach().cpu().numpy(), cpu_state[key].numpy(), rtol=1e-5, atol=1e-6)


@launches
def test_capturable_asgd_steps_on_cuda() -> None:
    # capturable=True refuses CPU parameters (as PyTorch does) but steps CUDA ones. Adadelta
    # and Rprop compute as before then; ASGD takes eta and mu in float32 tensor arithmetic and
    # always averages ax: a rounding apart from the plain run.
    def capturable(params: Any) -> Any:
        return ASGD(params, lr=0.1, lambd=0.1, capturable=True)

    plain_losses, plain_params, _ = _train("cpu", lambda params: ASGD(params, lr=0.1, lambd=0.1), 3)
    losses, params, optimizer = _train("cuda", capturable, 3)
    np.testing.assert_allclose(losses, plain_losses, rtol=1e-5)
    for got, want in zip(params, plain_params):
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
        state = optimizer.state[got]
        assert state["mu"].item() == 1.0
        np.testing.assert_allclose(state["ax"].cpu().numpy(), got.detach().cpu().numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(AssertionError, match="If capturable=True, params, mus, etas, and state_steps"):
        _train("cpu", capturable, 1)


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
