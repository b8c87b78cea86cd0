"""CPU kernels of ``tapegrad.linalg``'s factorizations: LU, Cholesky and triangular solves, and the
spectral ones (QR, symmetric eigendecomposition, SVD).

The per-matrix algorithms are ``factor_source``'s (LAPACK's unblocked ``getf2``/``potf2``
orders, so the pivots chosen are LAPACK's) and ``spectral_source``'s; here they are compiled with ``njit`` into kernels
that loop over a batch of matrices, generated on first use and cached on disk like every CPU
kernel. They run on one core: matrices in practice are small, and a batch of them is
independent work that the 2-core machines this targets gain little from threading.

Every function takes and returns NumPy arrays shaped ``(batch, rows, cols)``; operands are
made C-contiguous and writable first (one compiled specialisation per dtype), and results
are new arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import cpu, factor_source, spectral_source

_DECORATOR = "@njit(cache=CACHE, error_model='numpy', nogil=True)"

_loaded: dict[str, Any] = {}


def _load(name: str, source: Any) -> Any:
    module = _loaded.get(name)
    if module is None:
        module = _loaded[name] = cpu._module(name, source.source(_DECORATOR, _DECORATOR, "0", "1"))
    return module


def kernels() -> Any:
    """The compiled kernel module, loaded (from the on-disk cache, or compiled) on first use."""
    return _load("linalg_factor", factor_source)


def spectral_kernels() -> Any:
    """The QR, eigh and SVD kernels: a module of their own, compiled only when first used."""
    return _load("linalg_spectral", spectral_source)


def _operand(x: np.ndarray) -> np.ndarray:
    """``x``, or a copy of it where it is not C-contiguous and writable (one specialisation)."""
    flags = x.flags
    return x if flags.c_contiguous and flags.writeable else np.array(x, order="C", copy=True)


_CONSTANTS: dict[Any, tuple[Any, Any]] = {}


def _constants(dtype: Any) -> tuple[Any, Any]:
    """``one`` and the smallest normal number, in ``dtype``."""
    found = _CONSTANTS.get(dtype)
    if found is None:
        info = np.finfo(dtype)
        found = _CONSTANTS[dtype] = (info.dtype.type(1), info.dtype.type(info.tiny))
    return found


def jacobi_constants(dtype: Any) -> tuple[Any, Any, Any]:
    """``one``, the precision and the rotation argument past which ``x * x`` may overflow, in
    ``dtype``: the Jacobi kernels' constants."""
    info = np.finfo(dtype)
    return info.dtype.type(1), info.dtype.type(info.eps), info.dtype.type(1.0 / info.eps)


def lu_factor(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(LU, pivots, info)`` of the ``(batch, m, n)`` array ``a``: pivots int32 and 1-based,
    ``(batch, min(m, n))``; info int32 ``(batch,)``, the first zero pivot (1-based) or 0."""
    lu = np.array(a, order="C", copy=True)
    batch, m, n = lu.shape
    piv = np.zeros((batch, min(m, n)), np.int32)
    info = np.zeros(batch, np.int32)
    if lu.size:
        kernels().lu_factor(lu, piv, info, *_constants(lu.dtype))
    return lu, piv, info


def lu_solve(lu: np.ndarray, piv: np.ndarray, b: np.ndarray, trans: bool) -> np.ndarray:
    """X with ``A X = B`` (``A^T X = B`` when ``trans``) for A given by its LU factorization;
    ``lu`` ``(batch, n, n)``, ``piv`` ``(batch, n)``, ``b`` ``(batch, n, k)``."""
    x = np.array(b, order="C", copy=True)
    if x.size:
        kernels().lu_solve(_operand(lu), _operand(piv), x, bool(trans))
    return x


def triangular_solve(t: np.ndarray, b: np.ndarray, upper: bool, unit: bool, trans: bool) -> np.ndarray:
    """X with ``op(T) X = B``: ``op(T)`` is T or, when ``trans``, its transpose; only T's upper
    (else lower) triangle is read, and its diagonal is taken as ones when ``unit``."""
    x = np.array(b, order="C", copy=True)
    if x.size:
        kernels().triangular_solve(_operand(t), x, bool(upper), bool(unit), bool(trans))
    return x


def cholesky(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(L, info)``: the lower Cholesky factors of the ``(batch, n, n)`` array ``a`` (from its
    lower triangle) and, per matrix, the order of the first leading minor that is not
    positive-definite (0: none)."""
    factor = np.array(a, order="C", copy=True)
    info = np.zeros(factor.shape[0], np.int32)
    if factor.size:
        kernels().cholesky(factor, info, _constants(factor.dtype)[0])
    return factor, info


def lu_det(lu: np.ndarray, piv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(det, sign, log|det|)``, each ``(batch,)``, of the factored matrices."""
    batch = lu.shape[0]
    out = tuple(np.empty(batch, lu.dtype) for _ in range(3))
    if batch:
        kernels().lu_det(_operand(lu), _operand(piv), _constants(lu.dtype)[0], *out)
    return out


def permutation(piv: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, inverse)``, int64 ``(batch, m)``: row i of L U is row ``perm[i]`` of A."""
    batch = piv.shape[0]
    perm = np.empty((batch, m), np.int64)
    inverse = np.empty((batch, m), np.int64)
    if perm.size:
        kernels().permutation(_operand(piv), perm, inverse)
    return perm, inverse


def qr(a: np.ndarray, q_cols: int, r_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Q, R)`` of the ``(batch, m, n)`` array ``a``: Q ``(batch, m, q_cols)`` (``q_cols`` is
    ``min(m, n)``, or ``m`` for the complete factorization, or 0), R ``(batch, r_rows, n)``."""
    work = np.array(a, order="C", copy=True)
    batch, m, n = work.shape
    tau = np.empty((batch, min(m, n)), work.dtype)
    q = np.empty((batch, m, q_cols), work.dtype)
    r = np.empty((batch, r_rows, n), work.dtype)
    if batch and (q.size or r.size):
        spectral_kernels().qr(work, tau, q, r, _constants(work.dtype)[0])
    return q, r


def eigh(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(eigenvalues, eigenvectors)`` of the symmetric ``(batch, n, n)`` matrices whose lower
    triangles ``a`` holds: values ascending ``(batch, n)``, vectors the columns of ``(batch, n, n)``."""
    work = np.array(a, order="C", copy=True)
    batch, n, _ = work.shape
    w = np.empty((batch, n), work.dtype)
    v = np.empty((batch, n, n), work.dtype)
    if work.size:
        spectral_kernels().eigh(work, w, v, *jacobi_constants(work.dtype))
    return w, v


def svd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(U, S, V)`` of the ``(batch, m, n)`` array ``a`` with ``m >= n``: U ``(batch, m, n)`` with
    orthonormal columns, S descending ``(batch, n)``, V ``(batch, n, n)``; ``A = U diag(S) V^T``."""
    u = np.array(a, order="C", copy=True)
    batch, _, n = u.shape
    s = np.empty((batch, n), u.dtype)
    v = np.empty((batch, n, n), u.dtype)
    if u.size:
        spectral_kernels().svd(u, s, v, *jacobi_constants(u.dtype))
    return u, s, v


def complete_basis(u: np.ndarray, cols: int) -> np.ndarray:
    """The ``(batch, m, n)`` orthonormal columns ``u`` extended to ``(batch, m, cols)`` orthonormal ones."""
    batch, m, n = u.shape
    out = np.zeros((batch, m, cols), u.dtype)
    out[:, :, :n] = u
    if batch and m and cols > n:
        spectral_kernels().complete_basis(out, n, _constants(u.dtype)[0])
    return out
