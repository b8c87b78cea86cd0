"""The spectral part of ``tapegrad.linalg`` on CUDA (QR, eigh, SVD and what is built on them)
against the CPU backend: values and gradients for tiny batched float32 and float64 matrices, and
the kernels themselves.

Eigenvectors and singular vectors are unique only up to sign, so the cases compare quantities
that do not depend on it (``V * V``, ``U @ Vh``); QR's factors are unique and compared as they are.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_linalg_spectral.py -q
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

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]
ids = {"ids": lambda d: np.dtype(d).name}
linalg = tapegrad.linalg


def _sym(x: Any) -> Any:
    return x + x.mT


def _svd_invariants(A: Any) -> Any:
    U, S, Vh = linalg.svd(A, full_matrices=False)
    return tapegrad.cat([(U @ Vh).flatten(-2), S], -1)


CASES: list[tuple[str, Callable[..., Any], Callable[[Any], list[np.ndarray]]]] = [
    ("qr Q", lambda A: linalg.qr(A).Q, lambda d: [values((2, 4, 3), d)]),
    ("qr R wide", lambda A: linalg.qr(A).R, lambda d: [values((2, 3), d)]),
    ("qr complete", lambda A: linalg.qr(A, mode="complete").Q, lambda d: [values((2, 3), d)]),
    ("eigvalsh", lambda A: linalg.eigvalsh(_sym(A)), lambda d: [values((2, 3, 3), d)]),
    ("eigh vectors", lambda A: linalg.eigh(_sym(A), UPLO="U").eigenvectors ** 2, lambda d: [values((3, 3), d)]),
    ("svd tall", _svd_invariants, lambda d: [values((2, 4, 3), d)]),
    ("svd wide", _svd_invariants, lambda d: [values((3, 4), d)]),
    ("svdvals", lambda A: linalg.svdvals(A), lambda d: [values((2, 2, 3), d)]),
    ("pinv", lambda A: linalg.pinv(A), lambda d: [values((2, 4, 3), d)]),
    ("pinv hermitian", lambda A: linalg.pinv(_sym(A), hermitian=True), lambda d: [values((3, 3), d)]),
    ("lstsq", lambda A, B: linalg.lstsq(A, B).solution, lambda d: [values((2, 4, 3), d), values((2, 4, 2), d, seed=1)]),
    ("matrix_exp", lambda A: linalg.matrix_exp(A), lambda d: [values((2, 3, 3), d)]),
    ("matrix_norm nuc", lambda A: linalg.matrix_norm(A, "nuc"), lambda d: [values((2, 3, 4), d)]),
    ("matrix_norm 2", lambda A: linalg.matrix_norm(A, 2), lambda d: [values((2, 3, 4), d)]),
    ("cond", lambda A: linalg.cond(A), lambda d: [values((2, 3, 3), d)]),
]


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("name, fn, make", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_cpu(name: str, fn: Callable[..., Any], make: Callable[[Any], list[np.ndarray]],
                                        dtype: Any) -> None:
    run_both(fn, make(dtype))


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_matrix_rank_matches_cpu(dtype: Any) -> None:
    a = values((3, 4, 3), dtype)
    a[1, :, 2] = a[1, :, 0] + a[1, :, 1]
    a[2] = 0
    got = linalg.matrix_rank(tapegrad.tensor(a, device="cuda"))
    assert got.device.type == "cuda"
    assert got.tolist() == linalg.matrix_rank(tapegrad.tensor(a)).tolist() == [3, 2, 0]


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("shape", [(3, 4, 3), (2, 3, 3), (1, 1, 1)], ids=str)
def test_spectral_kernels_match_cpu(shape: tuple[int, ...], dtype: Any) -> None:
    a = values(shape, dtype, seed=5)
    for complete in (False, True):
        q_cols = shape[1] if complete else min(shape[1:])
        for got, want in zip(cuda_factor.qr(_arrays.to_device(a), q_cols, q_cols), cpu_factor.qr(a, q_cols, q_cols)):
            assert_close(_arrays.to_host(got), want)
    for got, want in zip(cuda_factor.svd(_arrays.to_device(a)), cpu_factor.svd(a)):
        assert_close(_arrays.to_host(got), want)
    u = cpu_factor.svd(a)[0]
    assert_close(_arrays.to_host(cuda_factor.complete_basis(_arrays.to_device(u), shape[1])),
                 cpu_factor.complete_basis(u, shape[1]))
    if shape[1] == shape[2]:
        s = a + np.swapaxes(a, -1, -2)
        for got, want in zip(cuda_factor.eigh(_arrays.to_device(s)), cpu_factor.eigh(s)):
            assert_close(_arrays.to_host(got), want)
