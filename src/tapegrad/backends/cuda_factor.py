"""CUDA kernels of ``tapegrad.linalg``'s factorizations (LU, Cholesky, triangular solves, QR,
eigh, SVD): the device twins of ``cpu_factor``'s functions (same names, arguments and results, device
arrays in and out), so ``ops/linalg_ops.py`` picks a module by the buffer's device.

The per-matrix algorithms are ``factor_source``'s and ``spectral_source``'s, compiled as ``cuda.jit`` device functions:
**one thread factors (or solves with) one whole matrix**, in place in global memory, threads
striding over the batch. That suits what these ops meet in practice, many small matrices
(a few to a few dozen rows); a large single matrix runs on one thread, correct but slow
(blocked, multi-thread factorizations are what cuSOLVER is for). The data never leaves the
device: only flags are read back to the host, where PyTorch synchronises too: the ``info`` of
ops that raise PyTorch's errors for singular or indefinite inputs, and which matrices are
singular where ``cholesky_inverse`` raises or ``det``'s graph-recording backward must choose
its formula.

Importing this module imports ``numba.cuda``: the ops import it only for CUDA tensors.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..cuda._arrays import empty
from ..cuda._ops import contiguous_copy, copy_into
from . import cuda_kernels as ck
from . import cpu_factor, factor_source, spectral_source

# A thread a matrix: small blocks spread a modest batch over more multiprocessors.
THREADS = 64

_loaded: dict[str, Any] = {}


def _module(name: str, source: Any) -> Any:
    module = _loaded.get(name)
    if module is None:
        text = ck._header() + source.source("@device_function", "@kernel", "cuda.grid(1)", "cuda.gridsize(1)")
        module = _loaded[name] = ck._load(name, text)
    return module


def module() -> Any:
    """The factorization kernels, generated and loaded on first use."""
    return _module("cuda_linalg_factor", factor_source)


def spectral_module() -> Any:
    """The QR, eigh and SVD kernels, generated and loaded on first use."""
    return _module("cuda_linalg_spectral", spectral_source)


def _launch(kernel: Any, batch: int, *args: Any) -> None:
    if batch:
        blocks, threads = ck.launch_shape(batch, THREADS)
        ck.launch(kernel, blocks, threads, 0, *args)


def _operand(x: Any) -> Any:
    return x if x.is_c_contiguous() else contiguous_copy(x)


def _constants(dtype: Any) -> tuple[Any, Any]:
    info = np.finfo(dtype)
    return info.dtype.type(1), info.dtype.type(info.tiny)


def _zeros(shape: tuple[int, ...], dtype: Any) -> Any:
    return ck.fill_zeros(empty(shape, dtype))


def lu_factor(a: Any) -> tuple[Any, Any, Any]:
    """``cpu_factor.lu_factor`` on the device."""
    lu = contiguous_copy(a)
    batch, m, n = tuple(lu.shape)
    piv = _zeros((batch, min(m, n)), np.int32)
    info = _zeros((batch,), np.int32)
    if lu.size:
        _launch(module().lu_factor, batch, lu, piv, info, *_constants(lu.dtype))
    return lu, piv, info


def lu_solve(lu: Any, piv: Any, b: Any, trans: bool) -> Any:
    """``cpu_factor.lu_solve`` on the device."""
    x = contiguous_copy(b)
    if x.size:
        _launch(module().lu_solve, x.shape[0], _operand(lu), _operand(piv), x, bool(trans))
    return x


def triangular_solve(t: Any, b: Any, upper: bool, unit: bool, trans: bool) -> Any:
    """``cpu_factor.triangular_solve`` on the device."""
    x = contiguous_copy(b)
    if x.size:
        _launch(module().triangular_solve, x.shape[0], _operand(t), x, bool(upper), bool(unit), bool(trans))
    return x


def cholesky(a: Any) -> tuple[Any, Any]:
    """``cpu_factor.cholesky`` on the device."""
    factor = contiguous_copy(a)
    info = _zeros((factor.shape[0],), np.int32)
    if factor.size:
        _launch(module().cholesky, factor.shape[0], factor, info, _constants(factor.dtype)[0])
    return factor, info


def lu_det(lu: Any, piv: Any) -> tuple[Any, Any, Any]:
    """``cpu_factor.lu_det`` on the device."""
    batch = lu.shape[0]
    out = tuple(empty((batch,), lu.dtype) for _ in range(3))
    _launch(module().lu_det, batch, _operand(lu), _operand(piv), _constants(lu.dtype)[0], *out)
    return out


def permutation(piv: Any, m: int) -> tuple[Any, Any]:
    """``cpu_factor.permutation`` on the device."""
    batch = piv.shape[0]
    perm = empty((batch, m), np.int64)
    inverse = empty((batch, m), np.int64)
    if batch and m:
        _launch(module().permutation, batch, _operand(piv), perm, inverse)
    return perm, inverse


def qr(a: Any, q_cols: int, r_rows: int) -> tuple[Any, Any]:
    """``cpu_factor.qr`` on the device."""
    work = contiguous_copy(a)
    batch, m, n = tuple(work.shape)
    tau = empty((batch, min(m, n)), work.dtype)
    q = empty((batch, m, q_cols), work.dtype)
    r = empty((batch, r_rows, n), work.dtype)
    if batch and (q.size or r.size):
        _launch(spectral_module().qr, batch, work, tau, q, r, _constants(work.dtype)[0])
    return q, r


def eigh(a: Any) -> tuple[Any, Any]:
    """``cpu_factor.eigh`` on the device."""
    work = contiguous_copy(a)
    batch, n, _ = tuple(work.shape)
    w = empty((batch, n), work.dtype)
    v = empty((batch, n, n), work.dtype)
    if work.size:
        _launch(spectral_module().eigh, batch, work, w, v, *cpu_factor.jacobi_constants(work.dtype))
    return w, v


def svd(a: Any) -> tuple[Any, Any, Any]:
    """``cpu_factor.svd`` on the device."""
    u = contiguous_copy(a)
    batch, _, n = tuple(u.shape)
    s = empty((batch, n), u.dtype)
    v = empty((batch, n, n), u.dtype)
    if u.size:
        _launch(spectral_module().svd, batch, u, s, v, *cpu_factor.jacobi_constants(u.dtype))
    return u, s, v


def complete_basis(u: Any, cols: int) -> Any:
    """``cpu_factor.complete_basis`` on the device."""
    batch, m, n = tuple(u.shape)
    out = _zeros((batch, m, cols), u.dtype)
    if batch and m:
        copy_into(out[:, :, :n], u)
        if cols > n:
            _launch(spectral_module().complete_basis, batch, out, n, _constants(u.dtype)[0])
    return out
