"""The spectral factorizations behind ``tapegrad.linalg``, written once for both devices:
Householder QR, the symmetric eigendecomposition and the singular value decomposition.

Like ``factor_source``, each ``*_matrix`` function works in place on one matrix in the
matrix's own dtype (constants arrive as arguments), and ``source`` writes them, with kernels
looping over a batch, into the generated modules of ``cpu_factor`` and ``cuda_factor``.

- ``qr_matrix`` is LAPACK's unblocked ``geqr2`` (reflectors from ``larfg``: ``beta`` takes the
  sign opposite to the diagonal entry) followed by ``org2r`` for Q, so Q and R are the ones
  PyTorch (LAPACK's ``geqrf``/``orgqr``) returns, to rounding: the factorization is unique once
  the reflectors' sign convention is fixed.
- ``eigh_matrix`` is the cyclic Jacobi method, and ``svd_matrix`` the one-sided (Hestenes)
  Jacobi method. PyTorch calls LAPACK's divide-and-conquer drivers instead; eigenvalues and
  singular values agree to rounding, while eigenvectors and singular vectors are unique only up
  to sign (and within repeated values), as PyTorch documents. Jacobi methods were chosen
  because they are short loops of plane rotations that a single CUDA thread can run, they are
  accurate for small singular values, and they converge in a handful of sweeps for the small
  matrices these kernels are meant for. A rotation is applied only while the pair it mixes is
  not orthogonal to the dtype's precision, so the loops stop by themselves; a cap on the number
  of sweeps bounds the work for NaN input.
"""
from __future__ import annotations

import math

from . import factor_source

__all__: list[str] = ["source"]

# Jacobi sweeps before giving up: convergence is quadratic, so well-conditioned problems need
# fewer than 10; the cap only bounds the work for NaN or infinite input.
MAX_SWEEPS = 60


def _rotation(x, one, big):  # pragma: no cover - compiled, never called from Python
    # (c, s) of the plane rotation for cot(2 phi) = x: t = tan(phi), the smaller root of
    # t^2 + 2 x t - 1 = 0, without overflow for huge x.
    if abs(x) > big:
        t = (one / (x + x))
    else:
        t = one / (abs(x) + math.sqrt(x * x + one))
        if x < 0:
            t = -t
    c = one / math.sqrt(t * t + one)
    return c, t * c


def _rotate_columns(x, p, q, c, s):  # pragma: no cover - compiled
    # Columns p and q of ``x`` become c x_p - s x_q and s x_p + c x_q.
    for k in range(x.shape[0]):
        xp = x[k, p]
        xq = x[k, q]
        x[k, p] = c * xp - s * xq
        x[k, q] = s * xp + c * xq


def _rotate_rows(x, p, q, c, s):  # pragma: no cover - compiled
    # Rows p and q of ``x`` become c x_p - s x_q and s x_p + c x_q.
    for k in range(x.shape[1]):
        xp = x[p, k]
        xq = x[q, k]
        x[p, k] = c * xp - s * xq
        x[q, k] = s * xp + c * xq


def _swap_columns(x, i, j):  # pragma: no cover - compiled
    for k in range(x.shape[0]):
        held = x[k, i]
        x[k, i] = x[k, j]
        x[k, j] = held


def qr_matrix(a, tau, q, r, one):  # pragma: no cover - compiled
    # Q R of the (m, n) ``a``: Householder vectors below a's diagonal and R on and above it (geqr2),
    # R copied into ``r`` (rows beyond a's are zeros), then Q formed in ``q`` (org2r; its column
    # count is min(m, n), or m for the complete factorization, or 0 when Q is not wanted).
    m = a.shape[0]
    n = a.shape[1]
    k = min(m, n)
    zero = one - one
    for i in range(k):
        xnorm2 = zero
        for row in range(i + 1, m):
            xnorm2 = xnorm2 + a[row, i] * a[row, i]
        alpha = a[i, i]
        tau[i] = zero
        if xnorm2 != 0:
            beta = math.sqrt(alpha * alpha + xnorm2)
            if alpha >= 0:
                beta = -beta
            tau[i] = (beta - alpha) / beta
            scale = one / (alpha - beta)
            for row in range(i + 1, m):
                a[row, i] = a[row, i] * scale
            a[i, i] = beta
            # H = I - tau v v^T (v = [1, a[i+1:, i]]) applied to the columns on the right.
            for j in range(i + 1, n):
                w = a[i, j]
                for row in range(i + 1, m):
                    w = w + a[row, i] * a[row, j]
                w = w * tau[i]
                a[i, j] = a[i, j] - w
                for row in range(i + 1, m):
                    a[row, j] = a[row, j] - w * a[row, i]
    for i in range(r.shape[0]):
        for j in range(n):
            r[i, j] = a[i, j] if i <= j and i < m else zero
    cols = q.shape[1]
    if cols == 0:
        return
    for j in range(cols):
        for row in range(m):
            q[row, j] = a[row, j] if j < k and row > j else zero
        if j >= k:
            q[j, j] = one
    for step in range(k):
        i = k - 1 - step
        if i < cols - 1:
            q[i, i] = one
            for j in range(i + 1, cols):
                w = zero
                for row in range(i, m):
                    w = w + q[row, i] * q[row, j]
                w = w * tau[i]
                for row in range(i, m):
                    q[row, j] = q[row, j] - w * q[row, i]
        for row in range(i + 1, m):
            q[row, i] = -tau[i] * q[row, i]
        q[i, i] = one - tau[i]
        for row in range(i):
            q[row, i] = zero


def eigh_matrix(a, w, v, one, eps, big):  # pragma: no cover - compiled
    # Eigenvalues (ascending, into ``w``) and eigenvectors (the columns of ``v``) of the symmetric
    # matrix whose lower triangle is ``a``'s; ``a`` is overwritten.
    n = a.shape[0]
    zero = one - one
    for i in range(n):
        for j in range(i + 1, n):
            a[i, j] = a[j, i]
        for j in range(n):
            v[i, j] = zero
        v[i, i] = one
    for _sweep in range(MAX_SWEEPS):
        rotated = False
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = a[p, q]
                # Rotate while a_pq is not negligible next to the diagonal entries it couples.
                if not abs(apq) > eps * math.sqrt(abs(a[p, p]) * abs(a[q, q])):
                    continue
                rotated = True
                c, s = _rotation((a[q, q] - a[p, p]) / (apq + apq), one, big)
                # A <- J^T A J zeroes a_pq (exactly, below); V <- V J accumulates the rotations.
                _rotate_columns(a, p, q, c, s)
                _rotate_rows(a, p, q, c, s)
                a[p, q] = zero
                a[q, p] = zero
                _rotate_columns(v, p, q, c, s)
        if not rotated:
            break
    for i in range(n):
        w[i] = a[i, i]
    for i in range(n):
        low = i
        for j in range(i + 1, n):
            if w[j] < w[low]:
                low = j
        if low != i:
            held = w[i]
            w[i] = w[low]
            w[low] = held
            _swap_columns(v, i, low)


def complete_basis_matrix(u, start, one):  # pragma: no cover - compiled
    # Fill columns start.. of ``u`` with unit vectors orthogonal to every column before them (the
    # first ``start`` columns orthonormal): each from the coordinate vector that the columns so far
    # leave longest, orthogonalized twice (Gram-Schmidt loses orthogonality once, never twice).
    m = u.shape[0]
    zero = one - one
    for j in range(start, u.shape[1]):
        best = -one
        pick = 0
        for row in range(m):
            left = one
            for i in range(j):
                left = left - u[row, i] * u[row, i]
            if left > best:
                best = left
                pick = row
        for row in range(m):
            u[row, j] = zero
        u[pick, j] = one
        for _repeat in range(2):
            for i in range(j):
                d = zero
                for row in range(m):
                    d = d + u[row, i] * u[row, j]
                for row in range(m):
                    u[row, j] = u[row, j] - d * u[row, i]
        norm = zero
        for row in range(m):
            norm = norm + u[row, j] * u[row, j]
        norm = math.sqrt(norm)
        for row in range(m):
            u[row, j] = u[row, j] / norm


def svd_matrix(u, s, v, one, eps, big):  # pragma: no cover - compiled
    # A = U diag(s) V^T for the (m, n) ``u`` (m >= n), overwritten by U: singular values descending
    # into ``s``, the right singular vectors as the columns of ``v``. Columns are rotated in pairs
    # until every pair is orthogonal to ``eps``; their norms are then the singular values.
    m = u.shape[0]
    n = u.shape[1]
    zero = one - one
    for i in range(n):
        for j in range(n):
            v[i, j] = zero
        v[i, i] = one
    for _sweep in range(MAX_SWEEPS):
        rotated = False
        for p in range(n - 1):
            for q in range(p + 1, n):
                alpha = zero
                beta = zero
                gamma = zero
                for k in range(m):
                    alpha = alpha + u[k, p] * u[k, p]
                    beta = beta + u[k, q] * u[k, q]
                    gamma = gamma + u[k, p] * u[k, q]
                if not abs(gamma) > eps * math.sqrt(alpha * beta):
                    continue
                rotated = True
                c, t = _rotation((beta - alpha) / (gamma + gamma), one, big)
                _rotate_columns(u, p, q, c, t)
                _rotate_columns(v, p, q, c, t)
        if not rotated:
            break
    for j in range(n):
        norm = zero
        for k in range(m):
            norm = norm + u[k, j] * u[k, j]
        s[j] = math.sqrt(norm)
    for i in range(n):
        high = i
        for j in range(i + 1, n):
            if s[j] > s[high]:
                high = j
        if high != i:
            held = s[i]
            s[i] = s[high]
            s[high] = held
            _swap_columns(u, i, high)
            _swap_columns(v, i, high)
    rank = 0
    for j in range(n):
        if s[j] > 0:
            rank += 1
            scale = one / s[j]
            for k in range(m):
                u[k, j] = u[k, j] * scale
    # Zero singular values leave zero columns: any orthonormal completion is a valid U.
    complete_basis_matrix(u, rank, one)


SPECTRAL_FUNCTIONS = (_rotation, _rotate_columns, _rotate_rows, _swap_columns, qr_matrix, eigh_matrix,
                      complete_basis_matrix, svd_matrix)

_KERNELS = '''
{kernel}
def qr(a, tau, q, r, one):
    for b in range({first}, a.shape[0], {stride}):
        qr_matrix(a[b], tau[b], q[b], r[b], one)


{kernel}
def eigh(a, w, v, one, eps, big):
    for b in range({first}, a.shape[0], {stride}):
        eigh_matrix(a[b], w[b], v[b], one, eps, big)


{kernel}
def svd(u, s, v, one, eps, big):
    for b in range({first}, u.shape[0], {stride}):
        svd_matrix(u[b], s[b], v[b], one, eps, big)


{kernel}
def complete_basis(u, start, one):
    for b in range({first}, u.shape[0], {stride}):
        complete_basis_matrix(u[b], start, one)
'''


def source(function_decorator: str, kernel_decorator: str, first: str, stride: str) -> str:
    """The spectral matrix functions and their batch kernels (``factor_source.source``'s layout)."""
    text = factor_source.source(function_decorator, kernel_decorator, first, stride, SPECTRAL_FUNCTIONS, _KERNELS)
    return f"MAX_SWEEPS = {MAX_SWEEPS}\n\n{text}"
