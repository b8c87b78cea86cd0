"""The LU and Cholesky part of ``tapegrad.linalg`` on CUDA (``tapegrad.backends.cuda_factor``)
against the CPU backend: values, gradients, pivots, ``info`` flags and errors, for tiny batched
float32 and float64 matrices.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_linalg_lu.py -q
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad
from tapegrad.backends import cpu_factor, cuda_factor
from tapegrad.cuda import _arrays

pytestmark = [pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization"),
              # The simulator runs kernels as NumPy scalar arithmetic, which warns where singular
              # matrices divide by zero (a GPU gives the same infinities and NaNs silently).
              pytest.mark.filterwarnings("ignore:divide by zero encountered"),
              pytest.mark.filterwarnings("ignore:invalid value encountered")]

DTYPES = [np.float32, np.float64]
ids = {"ids": lambda d: np.dtype(d).name}


def general(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    """Well-conditioned matrices: random entries plus n times the identity."""
    n = shape[-1]
    return (values(shape, np.float64, seed=seed) + n * np.eye(n)).astype(dtype)


def spd(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    b = values(shape, np.float64, seed=seed)
    return (b @ np.swapaxes(b, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _sym(x: Any) -> Any:
    return (x + x.mT) * 0.5


CASES: list[tuple[str, Callable[..., Any], Callable[[Any], list[np.ndarray]]]] = [
    ("det", lambda A: tapegrad.linalg.det(A), lambda d: [general((2, 3, 3), d)]),
    ("slogdet", lambda A: tapegrad.linalg.slogdet(A).logabsdet, lambda d: [-general((2, 3, 3), d)]),
    ("slogdet sign", lambda A: tapegrad.linalg.slogdet(A.detach()).sign, lambda d: [-general((3, 3, 3), d)]),
    ("inv", lambda A: tapegrad.linalg.inv(A), lambda d: [general((2, 3, 3), d)]),
    ("inv_ex", lambda A: tapegrad.linalg.inv_ex(A.mT).inverse, lambda d: [general((3, 3), d)]),
    ("solve", lambda A, B: tapegrad.linalg.solve(A, B),
     lambda d: [general((2, 3, 3), d), values((2, 3, 2), d, seed=1)]),
    ("solve vector broadcast", lambda A, B: tapegrad.linalg.solve(A, B),
     lambda d: [general((2, 3, 3), d), values((3,), d, seed=1)]),
    ("solve left=False", lambda A, B: tapegrad.linalg.solve(A, B, left=False),
     lambda d: [general((3, 3), d), values((2, 2, 3), d, seed=1)]),
    ("cholesky", lambda A: tapegrad.linalg.cholesky(_sym(A)), lambda d: [spd((2, 3, 3), d)]),
    ("cholesky upper", lambda A: tapegrad.linalg.cholesky(_sym(A), upper=True), lambda d: [spd((3, 3), d)]),
    ("lu_factor", lambda A: tapegrad.linalg.lu_factor(A).LU, lambda d: [values((2, 3, 3), d)]),
    ("lu_factor wide", lambda A: tapegrad.linalg.lu_factor(A).LU, lambda d: [values((2, 4), d)]),
    ("lu_solve", lambda A, B: tapegrad.linalg.lu_solve(*tapegrad.linalg.lu_factor(A), B, adjoint=True),
     lambda d: [general((2, 3, 3), d), values((2, 3, 2), d, seed=1)]),
    ("solve_triangular", lambda A, B: tapegrad.linalg.solve_triangular(A, B, upper=False, left=False),
     lambda d: [general((3, 3), d), values((2, 2, 3), d, seed=1)]),
    ("cholesky_solve", lambda L, B: tapegrad.cholesky_solve(B, L.tril()),
     lambda d: [np.linalg.cholesky(spd((2, 3, 3), np.float64)).astype(d), values((2, 3, 2), d, seed=1)]),
    ("cholesky_inverse", lambda U: tapegrad.cholesky_inverse(U.triu(), upper=True),
     lambda d: [np.linalg.cholesky(spd((3, 3), np.float64)).T.astype(d)]),
    ("logdet", lambda A: tapegrad.logdet(A), lambda d: [spd((2, 3, 3), d)]),
    ("matrix_power -2", lambda A: tapegrad.linalg.matrix_power(A, -2), lambda d: [general((3, 3), d)]),
    ("matrix_norm 1", lambda A: tapegrad.linalg.matrix_norm(A, 1), lambda d: [values((2, 3, 4), d)]),
    ("matrix_norm -inf", lambda A: tapegrad.linalg.matrix_norm(A, -float("inf")), lambda d: [values((2, 3, 4), d)]),
]


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("name, fn, make", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_cpu(name: str, fn: Callable[..., Any], make: Callable[[Any], list[np.ndarray]],
                                        dtype: Any) -> None:
    run_both(fn, make(dtype))


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_second_derivatives_match_cpu(dtype: Any) -> None:
    a = general((2, 3, 3), dtype)
    results = {}
    for device in ("cpu", "cuda"):
        A = tapegrad.tensor(a, device=device, requires_grad=True)
        g, = tapegrad.autograd.grad(tapegrad.linalg.det(A).sum(), [A], create_graph=True)
        h, = tapegrad.autograd.grad((g * g).sum(), [A])
        results[device] = (g, h)
    for got, want in zip(results["cuda"], results["cpu"]):
        assert got.device.type == "cuda"
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(),
                                   rtol=2e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("shape", [(3, 4, 4), (2, 3), (3, 2), (1, 1)], ids=str)
def test_factor_kernels_match_cpu(shape: tuple[int, ...], dtype: Any) -> None:
    a = values(shape, dtype, seed=5).reshape((-1,) + shape[-2:])
    device = _arrays.to_device(a)
    for got, want in zip(cuda_factor.lu_factor(device), cpu_factor.lu_factor(a)):
        assert_close(_arrays.to_host(got), want)
    if shape[-1] == shape[-2]:
        lu, piv, _ = cpu_factor.lu_factor(a)
        for got, want in zip(cuda_factor.lu_det(_arrays.to_device(lu), _arrays.to_device(piv)),
                             cpu_factor.lu_det(lu, piv)):
            assert_close(_arrays.to_host(got), want)
        for got, want in zip(cuda_factor.permutation(_arrays.to_device(piv), shape[-1]), cpu_factor.permutation(piv,
                                                                                                                 shape[-1])):
            assert_close(_arrays.to_host(got), want)
        s = spd(a.shape, dtype)
        for got, want in zip(cuda_factor.cholesky(_arrays.to_device(s)), cpu_factor.cholesky(s)):
            assert_close(_arrays.to_host(got), want)
        b = values(a.shape[:-1] + (2,), dtype, seed=6)
        for trans in (False, True):
            assert_close(_arrays.to_host(cuda_factor.lu_solve(_arrays.to_device(lu), _arrays.to_device(piv),
                                                              _arrays.to_device(b), trans)),
                         cpu_factor.lu_solve(lu, piv, b, trans))
            for upper in (False, True):
                for unit in (False, True):
                    t = general(a.shape, dtype)
                    assert_close(_arrays.to_host(cuda_factor.triangular_solve(
                        _arrays.to_device(t), _arrays.to_device(b), upper, unit, trans)),
                        cpu_factor.triangular_solve(t, b, upper, unit, trans))


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_pivots_and_info_match_cpu(dtype: Any) -> None:
    a = np.stack([values((3, 3), np.float64, seed=7), np.arange(1.0, 10.0).reshape(3, 3), np.zeros((3, 3))])
    a = a.astype(dtype)
    cpu = tapegrad.linalg.lu_factor_ex(tapegrad.tensor(a))
    gpu = tapegrad.linalg.lu_factor_ex(tapegrad.tensor(a, device="cuda"))
    for got, want in zip(gpu, cpu):
        assert got.device.type == "cuda"
        assert_close(got, want)
    cpu = tapegrad.linalg.inv_ex(tapegrad.tensor(a))
    gpu = tapegrad.linalg.inv_ex(tapegrad.tensor(a, device="cuda"))
    assert_close(gpu.info, cpu.info)
    np.testing.assert_array_equal(np.isfinite(gpu.inverse.cpu().numpy()), np.isfinite(cpu.inverse.numpy()))
    cpu = tapegrad.linalg.cholesky_ex(tapegrad.tensor(a))
    gpu = tapegrad.linalg.cholesky_ex(tapegrad.tensor(a, device="cuda"))
    assert_close(gpu.info, cpu.info)


ERRORS = {
    "inv": lambda device: tapegrad.linalg.inv(
        tapegrad.stack([tapegrad.eye(2), tapegrad.tensor([[1.0, 2.0], [2.0, 4.0]])]).to(device)),
    "solve": lambda device: tapegrad.linalg.solve(tapegrad.zeros(2, 2, device=device), tapegrad.ones(2, device=device)),
    "cholesky": lambda device: tapegrad.linalg.cholesky(-tapegrad.eye(3, device=device)),
    "lu_factor": lambda device: tapegrad.linalg.lu_factor(tapegrad.zeros(1, 3, 3, device=device)),
    "cholesky_inverse": lambda device: tapegrad.cholesky_inverse(tapegrad.zeros(2, 2, device=device)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_cpu(name: str) -> None:
    with pytest.raises(RuntimeError) as on_cpu:
        ERRORS[name]("cpu")
    with pytest.raises(type(on_cpu.value)) as on_cuda:
        ERRORS[name]("cuda")
    assert str(on_cuda.value) == str(on_cpu.value)


def test_operands_on_two_devices_are_refused() -> None:
    A = tapegrad.eye(2, device="cuda")
    for call in (lambda: tapegrad.linalg.solve(A, tapegrad.ones(2)),
                 lambda: tapegrad.linalg.solve_triangular(A, tapegrad.ones(2, 1), upper=True),
                 lambda: tapegrad.linalg.lu_solve(*tapegrad.linalg.lu_factor(A), tapegrad.ones(2, 1))):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            call()
