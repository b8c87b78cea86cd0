"""Compile the factorization kernels (``backends/cuda_factor.py``: LU, Cholesky, triangular and
LU solves, determinants, pivot permutations, QR, eigh, SVD) to PTX for float32 and float64: no
GPU needed.

Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_linalg.py -q

The simulator runs kernels as Python, so only these compilations check their typing: in
particular that float32 matrices are factored in float32 arithmetic (no float64 instructions
from constants typed by Python literals).
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_factor


FLOATS = [types.float32, types.float64]
I32 = types.int32
I64 = types.int64
B = types.boolean


def _ptx(kernel: Any, *arg_types: Any) -> str:
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(*arg_types), cc=CC)
    assert ptx.count(".entry") == 1  # one kernel, every device function inlined
    return ptx


def _float64_arithmetic(ptx: str) -> list[str]:
    """The PTX lines doing float64 arithmetic (not loads, stores or conversions)."""
    return [line for line in ptx.splitlines()
            if re.search(r"\b(add|sub|mul|div|fma|sqrt|neg|abs|setp\.\w+)\.(rn\.)?f64\b", line)]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_lu_factor_compiles(dtype: Any) -> None:
    ptx = _ptx(cuda_factor.module().lu_factor, dtype[:, :, ::1], I32[:, ::1], I32[::1], dtype, dtype)
    if dtype == types.float32:
        assert not _float64_arithmetic(ptx)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_solves_compile(dtype: Any) -> None:
    ptx = _ptx(cuda_factor.module().lu_solve, dtype[:, :, ::1], I32[:, ::1], dtype[:, :, ::1], B)
    ptx += _ptx(cuda_factor.module().triangular_solve, dtype[:, :, ::1], dtype[:, :, ::1], B, B, B)
    if dtype == types.float32:
        assert not _float64_arithmetic(ptx)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_cholesky_compiles(dtype: Any) -> None:
    ptx = _ptx(cuda_factor.module().cholesky, dtype[:, :, ::1], I32[::1], dtype)
    if dtype == types.float32:
        assert not _float64_arithmetic(ptx)
        assert "sqrt.rn.f32" in ptx


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_determinant_compiles(dtype: Any) -> None:
    _ptx(cuda_factor.module().lu_det, dtype[:, :, ::1], I32[:, ::1], dtype, dtype[::1], dtype[::1], dtype[::1])


def test_permutation_compiles() -> None:
    _ptx(cuda_factor.module().permutation, I32[:, ::1], I64[:, ::1], I64[:, ::1])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_spectral_kernels_compile(dtype: Any) -> None:
    module = cuda_factor.spectral_module()
    matrices = dtype[:, :, ::1]
    ptx = _ptx(module.qr, matrices, dtype[:, ::1], matrices, matrices, dtype)
    ptx += _ptx(module.eigh, matrices, dtype[:, ::1], matrices, dtype, dtype, dtype)
    ptx += _ptx(module.svd, matrices, dtype[:, ::1], matrices, dtype, dtype, dtype)
    ptx += _ptx(module.complete_basis, matrices, I64, dtype)
    if dtype == types.float32:
        assert not _float64_arithmetic(ptx)
        assert "sqrt.rn.f32" in ptx
