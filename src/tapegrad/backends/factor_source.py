"""The matrix factorizations and substitutions behind ``tapegrad.linalg``, written once for both
devices: LU with partial pivoting, Cholesky, triangular and LU solves, and the determinant
read off an LU factorization.

Each ``*_matrix`` function below works on one matrix (a 2-D view) in place, in plain
arithmetic on the matrix's own dtype, so that float32 stays float32 as it does in LAPACK:
constants of the dtype arrive as arguments (``one``, ``sfmin``) instead of Python literals,
which Numba would type as float64. ``source`` writes their text, and kernels looping over a
batch of matrices, into the generated modules of ``cpu_factor`` (``njit``, one loop over the
batch) and ``cuda_factor`` (``cuda.jit`` device functions, one thread per matrix in a
grid-stride loop). These functions are never called from Python themselves.

The orders of operations follow LAPACK's unblocked routines, so that results (and the
pivots chosen) match PyTorch's, which calls LAPACK:

- ``lu_matrix`` is ``getf2``: for each column, the first row of largest magnitude is the
  pivot (``idamax``; a NaN is never larger, so a NaN column keeps its diagonal), the rows
  are swapped, the column is scaled by the pivot's reciprocal (divided, below the smallest
  normal number), and the trailing block gets the rank-1 update. A zero pivot is recorded in
  ``info`` (1-based, the first one) and the factorization goes on, as in LAPACK.
- ``cholesky_matrix`` is the left-looking ``potf2`` (lower): each diagonal entry is the
  input's minus a dot product; one that is not positive (or NaN) is stored as is, ``info``
  names its order, and the rest of the matrix is left as it was.
- ``triangular_solve_matrix`` is column-oriented substitution without skipping zeros, so a
  singular factor gives the infinities and NaNs PyTorch gives (``inv_ex`` of a singular
  matrix).
"""
from __future__ import annotations

import inspect
import math
import textwrap
from typing import Any

__all__: list[str] = ["source"]


def lu_matrix(a, piv, one, sfmin):  # pragma: no cover - compiled, never called from Python
    # P L U of the (m, n) ``a``, in place: U on and above the diagonal, L's multipliers below.
    # ``piv[k]`` is the 1-based row swapped with row k. Returns the first zero pivot (1-based), or 0.
    m = a.shape[0]
    n = a.shape[1]
    info = 0
    for k in range(min(m, n)):
        p = k
        best = abs(a[k, k])
        for i in range(k + 1, m):
            value = abs(a[i, k])
            if value > best:
                best = value
                p = i
        piv[k] = p + 1
        pivot = a[p, k]
        if pivot != 0:
            if p != k:
                for j in range(n):
                    held = a[k, j]
                    a[k, j] = a[p, j]
                    a[p, j] = held
            if abs(pivot) >= sfmin:
                scale = one / pivot
                for i in range(k + 1, m):
                    a[i, k] = a[i, k] * scale
            else:
                for i in range(k + 1, m):
                    a[i, k] = a[i, k] / pivot
        elif info == 0:
            info = k + 1
        for i in range(k + 1, m):
            factor = a[i, k]
            for j in range(k + 1, n):
                a[i, j] = a[i, j] - factor * a[k, j]
    return info


def triangular_solve_matrix(t, b, upper, unit, trans):  # pragma: no cover - compiled
    # Solve op(T) X = B in place of the (n, r) ``b``: op(T) is T, or T transposed when ``trans``;
    # only T's ``upper`` (else lower) triangle is read, its diagonal taken as ones when ``unit``.
    n = b.shape[0]
    r = b.shape[1]
    forward = upper == trans  # op(T) is lower triangular: solve from the first row down
    for step in range(n):
        i = step if forward else n - 1 - step
        if not unit:
            d = t[i, i]
            for c in range(r):
                b[i, c] = b[i, c] / d
        low = i + 1 if forward else 0
        high = n if forward else i
        for row in range(low, high):
            f = t[i, row] if trans else t[row, i]
            for c in range(r):
                b[row, c] = b[row, c] - f * b[i, c]


def swap_rows_matrix(b, piv, reverse):  # pragma: no cover - compiled
    # Apply the row interchanges of an LU factorization to ``b`` (in reverse order: undo them).
    count = piv.shape[0]
    r = b.shape[1]
    for s in range(count):
        k = count - 1 - s if reverse else s
        p = piv[k] - 1
        if p != k:
            for c in range(r):
                held = b[k, c]
                b[k, c] = b[p, c]
                b[p, c] = held


def lu_solve_matrix(lu, piv, b, trans):  # pragma: no cover - compiled
    # Solve A X = B (A^T X = B when ``trans``) in place of ``b``, for A = P L U given as (lu, piv).
    if trans:
        triangular_solve_matrix(lu, b, True, False, True)
        triangular_solve_matrix(lu, b, False, True, True)
        swap_rows_matrix(b, piv, True)
    else:
        swap_rows_matrix(b, piv, False)
        triangular_solve_matrix(lu, b, False, True, False)
        triangular_solve_matrix(lu, b, True, False, False)


def cholesky_matrix(a, one):  # pragma: no cover - compiled
    # The lower Cholesky factor of the (n, n) ``a`` in place, from its lower triangle; the strict
    # upper triangle is zeroed. Returns the order of the first leading minor that is not
    # positive-definite, or 0.
    n = a.shape[0]
    info = 0
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s = s - a[j, k] * a[j, k]
        if not s > 0:
            a[j, j] = s
            info = j + 1
            break
        d = math.sqrt(s)
        a[j, j] = d
        scale = one / d
        for i in range(j + 1, n):
            v = a[i, j]
            for k in range(j):
                v = v - a[i, k] * a[j, k]
            a[i, j] = v * scale
    for i in range(n):
        for j in range(i + 1, n):
            a[i, j] = 0
    return info


def lu_det_matrix(lu, piv, one, det, sign_out, logabs_out, b):  # pragma: no cover - compiled
    # det, sign and log|det| of A = P L U into det[b], sign_out[b], logabs_out[b]: det is the
    # permutation's sign times the product of U's diagonal, as in PyTorch.
    n = lu.shape[0]
    flips = 0
    for k in range(piv.shape[0]):
        if piv[k] != k + 1:
            flips += 1
    parity = 1 - 2 * (flips % 2)
    product = one
    sign = parity
    logabs = one - one
    zero = False
    for i in range(n):
        u = lu[i, i]
        product = product * u
        if u < 0:
            sign = -sign
        elif not u > 0:
            sign = 0
        if u == 0:
            zero = True
        else:
            logabs = logabs + math.log(abs(u))
    det[b] = product * parity
    sign_out[b] = sign
    # A zero on the diagonal adds log(0) = -inf (NaN with a NaN or +inf already in the sum).
    logabs_out[b] = logabs - math.inf if zero else logabs


def permutation_matrix(piv, perm, inverse):  # pragma: no cover - compiled
    # The row order of an LU factorization: row i of L U is row perm[i] of A; inverse[perm[i]] = i.
    m = perm.shape[0]
    for i in range(m):
        perm[i] = i
    for k in range(piv.shape[0]):
        p = piv[k] - 1
        if p != k:
            held = perm[k]
            perm[k] = perm[p]
            perm[p] = held
    for i in range(m):
        inverse[perm[i]] = i


MATRIX_FUNCTIONS = (lu_matrix, triangular_solve_matrix, swap_rows_matrix, lu_solve_matrix, cholesky_matrix,
                    lu_det_matrix, permutation_matrix)

# The kernels: each runs its matrix function on matrices b = {first}, {first} + {stride}, ...
# ({first}, {stride}: 0 and 1 on the CPU; the thread's index and the grid's size on CUDA).
_KERNELS = '''
{kernel}
def lu_factor(a, piv, info, one, sfmin):
    for b in range({first}, a.shape[0], {stride}):
        info[b] = lu_matrix(a[b], piv[b], one, sfmin)


{kernel}
def lu_solve(lu, piv, x, trans):
    for b in range({first}, x.shape[0], {stride}):
        lu_solve_matrix(lu[b], piv[b], x[b], trans)


{kernel}
def triangular_solve(t, x, upper, unit, trans):
    for b in range({first}, x.shape[0], {stride}):
        triangular_solve_matrix(t[b], x[b], upper, unit, trans)


{kernel}
def cholesky(a, info, one):
    for b in range({first}, a.shape[0], {stride}):
        info[b] = cholesky_matrix(a[b], one)


{kernel}
def lu_det(lu, piv, one, det, sign, logabs):
    for b in range({first}, lu.shape[0], {stride}):
        lu_det_matrix(lu[b], piv[b], one, det, sign, logabs, b)


{kernel}
def permutation(piv, perm, inverse):
    for b in range({first}, perm.shape[0], {stride}):
        permutation_matrix(piv[b], perm[b], inverse[b])
'''


def source(function_decorator: str, kernel_decorator: str, first: str, stride: str,
           functions: tuple[Any, ...] = MATRIX_FUNCTIONS, kernels: str = _KERNELS) -> str:
    """The matrix ``functions`` under ``function_decorator`` and the batch ``kernels`` under
    ``kernel_decorator``, looping from ``first`` in steps of ``stride`` (Python source)."""
    parts = []
    for fn in functions:
        text = textwrap.dedent(inspect.getsource(fn))
        text = text.replace("  # pragma: no cover - compiled, never called from Python", "")
        text = text.replace("  # pragma: no cover - compiled", "")
        parts.append(f"{function_decorator}\n{text}")
    parts.append(kernels.format(kernel=kernel_decorator, first=first, stride=stride))
    return "\n\n".join(parts)
