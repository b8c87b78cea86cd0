"""The LU and Cholesky part of ``torch.linalg``: the primitives that run factorization kernels.

- ``lu_factor_ex``: P L U with partial pivoting (LAPACK's row choices, PyTorch's 1-based int32
  pivots), any ``(*, m, n)`` shape; ``det``, ``slogdet``, ``inv_ex`` and ``solve`` factor and
  then read the determinant off U's diagonal, or substitute (``lu_solve`` kernels).
- ``cholesky_ex``: the lower (or upper) factor of a positive-definite matrix.
- ``solve_triangular``: forward or back substitution, the building block of the VJPs.

Kernels live in ``backends/cpu_factor.py`` and ``backends/cuda_factor.py`` (the same
algorithms, ``backends/factor_source.py``); CUDA data stays on the device, and only flags come
back to the host: the ``info`` of an op that must raise PyTorch's error for a singular or
indefinite input, and which matrices are singular in ``det``'s graph-recording backward.

As in PyTorch, ``det`` and ``slogdet`` factor a contiguous ``A`` as ``A^T`` (whose buffer is
then already laid out as LAPACK reads it), and their backward substitutes with that transposed
factorization, while ``solve`` and ``inv`` factor ``A``: the same pivots, values (exact zeros
of singular matrices included) and error positions as PyTorch's.

The public ``lu_solve`` is built from row gathers and ``solve_triangular``, so its gradients
with respect to ``LU`` and ``B`` come from theirs; ``lu_factor_ex`` records PyTorch's backward
of the factorization, for square, wide and tall matrices.

Each VJP is written with tapegrad ops (PyTorch's formulas, ``FunctionsManual.cpp``), so
gradients of any order come from recording them. Where no graph is recorded, the VJPs of
``det``, ``slogdet`` and ``solve`` reuse the saved factorization instead of factoring again,
as PyTorch does. ``det``'s gradient at a singular matrix follows PyTorch too: without a graph
it is ``det(A) A^{-T}`` through the factorization with zero pivots nudged to ``eps`` (so 0
when det is exactly 0); with a graph, the matrices with ``|det| < 100 eps`` take the exact
cofactor matrix, which tapegrad builds from the determinants of the minors (PyTorch uses an
SVD; the values agree, the cost is O(n^5) for those matrices only).

Compiled steps (``tapegrad.compile``) do not record these ops: tracing one raises
``TraceError``.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..compiler import trace
from ..tensor import Tensor, _wrap
from . import elementwise as ew
from .index import gather, index_select
from .movement import cat, expand
from .reduce import sum_to
from .registry import OUTPUT, OpDef, needs_grad, record

__all__: list[str] = ["LinAlgError", "cholesky_ex", "det", "inv_ex", "lu_factor_ex", "lu_solve", "lu_unpack", "slogdet",
                      "solve", "solve_triangular"]


class LinAlgError(RuntimeError):
    """A singular or not positive-definite input (``torch.linalg.LinAlgError``)."""


linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_inv_ex = namedtuple("linalg_inv_ex", ["inverse", "info"])
linalg_cholesky_ex = namedtuple("linalg_cholesky_ex", ["L", "info"])
linalg_lu_factor_ex = namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
linalg_lu_unpack = namedtuple("lu_unpack", ["P", "L", "U"])


# ---------------------------------------------------------------- checks and plumbing

def refuse_traced(name: str) -> None:
    """Raise ``TraceError`` while a step is traced: compiled steps have no factorization kernels."""
    if trace.ACTIVE is not None:
        raise trace.TraceError(
            f"tapegrad.compile does not record {name} (matrix factorizations and solves run kernels compiled "
            "steps do not have, and some read error flags on the host). Call it outside the compiled function, "
            "or run this function eagerly.")


def check_floating(x: Tensor, name: str) -> None:
    if x._data.dtype.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got {x.dtype.scalar_name}")


def check_square(x: Tensor, name: str, arg: str = "A") -> None:
    if x.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")
    if x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"{name}: {arg} must be batches of square matrices, but they are {x.shape[-2]} by "
                           f"{x.shape[-1]} matrices")


def check_same_device(a: Tensor, b: Tensor) -> None:
    if isinstance(a._data, np.ndarray) != isinstance(b._data, np.ndarray):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           "cuda:0 and cpu!")


def check_matrix(x: Tensor, name: str, arg: str = "B") -> None:
    if x.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")


_backends: dict[bool, Any] = {}


def _backend(data: Any) -> Any:
    """``cpu_factor`` for a NumPy buffer, else ``cuda_factor`` (imported on first use)."""
    on_host = isinstance(data, np.ndarray)
    module = _backends.get(on_host)
    if module is None:
        if on_host:
            from ..backends import cpu_factor as module
        else:
            from ..backends import cuda_factor as module
        _backends[on_host] = module
    return module


def _adopt(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return data
    from ..cuda._arrays import adopt

    return adopt(data)


def _stacked(data: Any) -> Any:
    """``data`` (any strides) as a ``(batch, rows, cols)`` array (a copy where it must be)."""
    shape = tuple(data.shape)
    count = math.prod(shape[:-2])
    if not isinstance(data, np.ndarray) and not data.is_c_contiguous():
        from ..cuda._ops import contiguous_copy

        data = contiguous_copy(data)
    return data.reshape((count,) + shape[-2:])


def _host(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data
    from ..cuda._arrays import to_host

    return to_host(data)


def raise_for_info(info: Any, api: str, is_matrix: bool) -> None:
    """Raise PyTorch's error for the first nonzero ``info`` flag (``_linalg_check_errors``)."""
    flags = _host(info).reshape(-1)
    bad = np.flatnonzero(flags)
    if not bad.size:
        return
    first = int(bad[0])
    code = int(flags[first])
    where = "" if is_matrix else f": (Batch element {first})"
    if "inv" in api:
        raise LinAlgError(f"{api}{where}: The diagonal element {code} is zero, the inversion could not be completed "
                          "because the input matrix is singular.")
    if "solve" in api:
        raise LinAlgError(f"{api}{where}: The solver failed because the input matrix is singular.")
    if "cholesky" in api:
        raise LinAlgError(f"{api}{where}: The factorization could not be completed because the input is not "
                          f"positive-definite (the leading minor of order {code} is not positive-definite).")
    raise RuntimeError(f"{api}{where}: U[{code},{code}] is zero and using it on lu_solve would result in a division "
                       "by zero. If you still want to perform the factorization, consider calling linalg.lu(A, pivot) "
                       "or linalg.lu_factor_ex(A, pivot)")


def _eps(x: Tensor) -> float:
    return float(np.finfo(x._data.dtype).eps)


def eye_like(n: int, like: Tensor) -> Tensor:
    from ..creation import eye

    return eye(n, dtype=like.dtype, device=like.device)


def broadcast_batch(a: Tensor, b: Tensor) -> tuple[int, ...]:
    """The broadcast of the batch dims (all but the last two) of ``a`` and ``b``, with
    PyTorch's message when they do not broadcast."""
    shape_a, shape_b = tuple(a.shape[:-2]), tuple(b.shape[:-2])
    out = []
    for k in range(1, max(len(shape_a), len(shape_b)) + 1):
        sa = shape_a[-k] if k <= len(shape_a) else 1
        sb = shape_b[-k] if k <= len(shape_b) else 1
        if sa != sb and sa != 1 and sb != 1:
            raise RuntimeError(f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at non-singleton "
                               f"dimension {max(len(shape_a), len(shape_b)) - k}")
        out.append(sa if sb == 1 else sb)
    return tuple(reversed(out))


def _expanded(x: Tensor, batch: tuple[int, ...]) -> Tensor:
    shape = batch + tuple(x.shape[-2:])
    return x if tuple(x.shape) == shape else expand(x, shape)


def _without_grad(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with grad_mode.no_grad():
        return fn(*args, **kwargs)


def _factor(x: Tensor) -> tuple[Any, Any, Any]:
    """The backend's ``(LU, pivots, info)`` of ``x`` (any shape ``(*, m, n)``), reshaped to ``x``'s batch."""
    shape = tuple(x.shape)
    lu, piv, info = _backend(x._data).lu_factor(_stacked(x._data))
    batch = shape[:-2]
    return (_adopt(lu.reshape(shape)), _adopt(piv.reshape(batch + (min(shape[-2:]),))),
            _adopt(info.reshape(batch)))


def _lu_solve_data(lu: Tensor, piv: Tensor, b: Tensor, trans: bool) -> Tensor:
    """X with ``A X = B`` (``A^T X = B`` when ``trans``), A given by ``(lu, piv)``; ``b``
    ``(*, n, k)`` with the batch of ``lu`` broadcast to it. Not recorded."""
    batch = tuple(b.shape[:-2])
    lu_full = _expanded(lu, batch)
    piv_full = piv if tuple(piv.shape[:-1]) == batch else expand(piv, batch + tuple(piv.shape[-1:]))
    x = _backend(b._data).lu_solve(_stacked(lu_full._data), _piv_rows(piv_full._data), _stacked(b._data), trans)
    return _wrap(_adopt(x.reshape(tuple(b.shape))))


def _piv_rows(piv: Any) -> Any:
    """``(*, k)`` pivots as a ``(batch, k)`` array."""
    shape = tuple(piv.shape)
    count = math.prod(shape[:-1])
    if not isinstance(piv, np.ndarray) and not piv.is_c_contiguous():
        from ..cuda._ops import contiguous_copy

        piv = contiguous_copy(piv)
    return piv.reshape((count, shape[-1]))


def permutation(piv: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """``(perm, inverse)`` int64 ``(*, m)`` of LU pivots: row i of L U is row ``perm[i]`` of A."""
    batch = tuple(piv.shape[:-1])
    perm, inverse = _backend(piv._data).permutation(_piv_rows(piv._data), m)
    return _wrap(_adopt(perm.reshape(batch + (m,)))), _wrap(_adopt(inverse.reshape(batch + (m,))))


def take_rows(x: Tensor, rows: Tensor) -> Tensor:
    """``x[..., rows[..., i], :]`` for each i: rows picked per matrix (``rows`` ``(*, m)``)."""
    index = expand(rows.unsqueeze(-1), tuple(x.shape[:-2]) + (rows.shape[-1], x.shape[-1]))
    return gather(x, -2, index)


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``(P, L, U)`` with ``A = P L U`` from ``lu_factor``'s ``(LU, pivots)``: L unit lower
    triangular ``(*, m, k)``, U upper triangular ``(*, k, n)``, P the ``(*, m, m)`` permutation
    (empty tensors for what is not unpacked). L and U carry LU's gradient.

    >>> P, L, U = tapegrad.lu_unpack(*tapegrad.linalg.lu_factor(tapegrad.tensor([[1., 2.], [3., 4.]])))
    >>> P
    tensor([[0., 1.],
            [1., 0.]])
    """
    m, n = LU_data.shape[-2], LU_data.shape[-1]
    k = min(m, n)
    empty = LU_data.new_zeros((0,))
    L = U = P = empty
    if unpack_data:
        L = ew.add(LU_data[..., :, :k].tril(-1), eye_like(max(m, n), LU_data)[:m, :k])
        U = LU_data[..., :k, :].triu()
    if unpack_pivots:
        from ..creation import arange

        perm, _ = permutation(LU_pivots, m)
        # Row i of L U is row perm[i] of A, so A = P (L U) with P[perm[i], i] = 1.
        P = ew.eq(perm.unsqueeze(-2), arange(m, device=perm.device).unsqueeze(-1)).to(LU_data.dtype)
    return linalg_lu_unpack(P, L, U)


# ---------------------------------------------------------------- solve_triangular

def _solve_triangular_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    # G_B = op(A)^{-T} G_X; G_A = -G_B X^T (left) or -X^T G_B (right), projected onto A's triangle.
    A, X = step.saved_values()
    upper, left, unit = step.attrs
    gB = solve_triangular(A.mT, g, upper=not upper, left=left, unitriangular=unit)
    gA = None
    if step.needs_input_grad(0):
        gA = ew.neg(gB.matmul(X.mT) if left else X.mT.matmul(gB))
        gA = gA.triu(int(unit)) if upper else gA.tril(-int(unit))
        gA = sum_to(gA, step.input_meta[0][0])
    return gA, (sum_to(gB, step.input_meta[1][0]) if step.needs_input_grad(1) else None)


SOLVE_TRIANGULAR = OpDef("linalg_solve_triangular", "LinalgSolveTriangularBackward0", _solve_triangular_vjp)


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with ``A X = B`` (``X A = B`` when not ``left``) for triangular ``A``: only its upper
    (else lower) triangle is read, its diagonal taken as ones when ``unitriangular``. Batch dims
    broadcast.

    >>> A = tapegrad.tensor([[2., 1.], [0., 4.]])
    >>> tapegrad.linalg.solve_triangular(A, tapegrad.tensor([[4.], [8.]]), upper=True)
    tensor([[1.],
            [2.]])
    """
    refuse_traced("linalg.solve_triangular")
    name = "linalg.solve_triangular"
    if A._data.dtype.kind != "f" or B._data.dtype.kind != "f":
        bad = A if A._data.dtype.kind != "f" else B
        raise NotImplementedError(f"\"triangular_solve_{A.device.type}\" not implemented for '{bad.dtype.scalar_name}'")
    check_same_device(A, B)
    check_square(A, name)
    check_matrix(B, name)
    if left and A.shape[-2] != B.shape[-2] or not left and A.shape[-1] != B.shape[-1]:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    if A._data.dtype != B._data.dtype:
        wide = A.dtype if A._data.dtype.itemsize > B._data.dtype.itemsize else B.dtype
        A, B = A.to(wide), B.to(wide)
    batch = broadcast_batch(B, A)
    t_data = _expanded(A, batch)._data
    b_data = _expanded(B, batch)._data
    backend = _backend(b_data)
    if left:
        x = backend.triangular_solve(_stacked(t_data), _stacked(b_data), upper, unitriangular, False)
        out = _wrap(_adopt(x.reshape(batch + tuple(B.shape[-2:]))))
    else:
        # X A = B is A^T X^T = B^T: solve with A transposed for the rows of B^T.
        b_t = _without_grad(lambda: _expanded(B, batch).mT)
        x = backend.triangular_solve(_stacked(t_data), _stacked(b_t._data), upper, unitriangular, True)
        out = _without_grad(lambda: _wrap(_adopt(x.reshape(batch + (B.shape[-1], B.shape[-2])))).mT.contiguous())
    if needs_grad(A, B):
        return record(SOLVE_TRIANGULAR, (A, B), out, (upper, left, unitriangular), saved=(A, OUTPUT))
    return out


# ---------------------------------------------------------------- LU factorization

def _lu_factor_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's lu_factor_ex_backward / linalg_lu_backward, for square, wide and tall matrices.
    LU, piv = step.saved_values()
    m, n = LU.shape[-2], LU.shape[-1]
    k = min(m, n)
    _, L, U = lu_unpack(LU, piv, unpack_pivots=False)
    gL, gU = g[..., :, :k], g[..., :k, :]
    if m == n:
        gA = ew.add(L.mT.matmul(gL).tril(-1), gU.matmul(U.mT).triu())
        gA = solve_triangular(U.mT, gA, upper=False, left=False)
        gA = solve_triangular(L.mT, gA, upper=True, left=True, unitriangular=True)
    elif m < n:
        gA = ew.sub(L.mT.matmul(gL), gU.triu().matmul(U.mT))
        gA = solve_triangular(U[..., :, :m].mT, gA.tril(-1), upper=False, left=False)
        gA = cat([ew.add(gA, gU[..., :, :m].triu()), gU[..., :, m:]], -1)
        gA = solve_triangular(L.mT, gA, upper=True, left=True, unitriangular=True)
    else:
        gA = ew.sub(gU.matmul(U.mT), L.mT.matmul(gL.tril(-1)))
        gA = solve_triangular(L[..., :n, :].mT, gA.triu(), upper=True, left=True, unitriangular=True)
        gA = cat([ew.add(gA, gL[..., :n, :].tril(-1)), gL[..., n:, :]], -2)
        gA = solve_triangular(U.mT, gA, upper=False, left=False)
    _, inverse = permutation(piv, m)
    return (take_rows(gA, inverse),)


LU_FACTOR = OpDef("linalg_lu_factor_ex", "LinalgLuFactorExBackward0", _lu_factor_vjp)


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False,
                 api: str = "torch.linalg.lu_factor_ex") -> tuple[Tensor, Tensor, Tensor]:
    """``(LU, pivots, info)``: ``A = P L U`` with partial pivoting, L (unit diagonal) below and U
    on and above the diagonal of ``LU``; ``pivots`` are PyTorch's (1-based int32 row swaps),
    ``info`` the first zero pivot of each matrix (1-based; 0 for none).

    >>> LU, pivots, info = tapegrad.linalg.lu_factor_ex(tapegrad.tensor([[1., 2.], [3., 4.]]))
    >>> pivots
    tensor([2, 2], dtype=tapegrad.int32)
    """
    refuse_traced("linalg.lu_factor")
    if A.ndim < 2:
        raise RuntimeError(f"torch.lu_factor: Expected tensor with 2 or more dimensions. Got size: {list(A.shape)} "
                           "instead")
    if A._data.dtype.kind != "f":
        raise NotImplementedError(f"\"lu_{A.device.type}\" not implemented for '{A.dtype.scalar_name}'")
    if not pivot:
        raise RuntimeError(f"linalg.lu_factor: LU without pivoting is not implemented on the "
                           f"{'CPU' if A.device.type == 'cpu' else 'GPU by tapegrad'}")
    lu, piv, info = _factor(A)
    if check_errors:
        raise_for_info(info, api, A.ndim == 2)
    LU = _wrap(lu)
    pivots, infos = _wrap(piv), _wrap(info)
    if needs_grad(A):
        LU = record(LU_FACTOR, (A,), LU, None, saved=(OUTPUT, pivots))
    return linalg_lu_factor_ex(LU, pivots, infos)


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with ``A X = B`` (``X A = B`` when not ``left``; ``A^T`` for ``A`` when ``adjoint``) for
    ``A`` given by ``lu_factor``. Built from row gathers and two triangular solves, so it has
    gradients with respect to ``LU`` and ``B`` of any order.

    >>> A = tapegrad.tensor([[2., 1.], [1., 3.]])
    >>> tapegrad.linalg.lu_solve(*tapegrad.linalg.lu_factor(A), A @ tapegrad.tensor([[1.], [2.]]))
    tensor([[1.],
            [2.]])
    """
    refuse_traced("linalg.lu_solve")
    name = "linalg.lu_solve"
    check_floating(LU, name)
    check_same_device(LU, B)
    check_square(LU, name, "LU")
    check_matrix(B, name)
    if LU._data.dtype != B._data.dtype:
        raise RuntimeError(f"{name}: Expected LU and B to have the same dtype, but found LU of type "
                           f"{LU.dtype.scalar_name} and B of type {B.dtype.scalar_name} instead")
    if pivots._data.dtype != np.int32:
        raise RuntimeError(f"{name}: pivots should be a Tensor of scalar type tapegrad.int32")
    if tuple(pivots.shape[:-1]) != tuple(LU.shape[:-2]) or pivots.shape[-1] != LU.shape[-1]:
        raise RuntimeError(f"{name}: Number of pivots per batch should be same as the dimension of the matrix")
    n = LU.shape[-1]
    if left and n != B.shape[-2] or not left and n != B.shape[-1]:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {B.shape[-2]}x{B.shape[-1]})")
    if not left:
        # X A = B is A^T X^T = B^T.
        return lu_solve(LU, pivots, B.mT, left=True, adjoint=not adjoint).mT
    batch = broadcast_batch(B, LU)
    B = _expanded(B, batch)
    perm, inverse = permutation(_without_grad(lambda: pivots.expand(batch + (n,))), n)
    if adjoint:
        # A^T = U^T L^T P^T: solve with U^T, then L^T, then undo the row swaps.
        Z = solve_triangular(LU.mT, B, upper=False)
        W = solve_triangular(LU.mT, Z, upper=True, unitriangular=True)
        return take_rows(W, inverse)
    Y = take_rows(B, perm)
    Z = solve_triangular(LU, Y, upper=False, unitriangular=True)
    return solve_triangular(LU, Z, upper=True)


# ---------------------------------------------------------------- determinants

def _lu_of(A: Tensor, transposable: bool = True) -> tuple[bool, Any, Any, Any]:
    """``(use_A_T, LU, pivots, info)``: when ``transposable``, a contiguous ``A`` is factored as
    ``A^T``, as PyTorch's ``det`` and ``slogdet`` do (its ``solve`` and ``inv`` factor ``A``)."""
    use_a_t = transposable and A.is_contiguous()
    lu, piv, info = _factor(_without_grad(lambda: A.mT) if use_a_t else A)
    return use_a_t, lu, piv, info


def _diagonal_matrix(values: Tensor, n: int) -> Tensor:
    """``(*, n, n)`` with ``values`` (shape ``(*)``) on every diagonal entry."""
    return ew.mul(eye_like(n, values), values.unsqueeze(-1).unsqueeze(-1))


def _cofactors(A: Tensor) -> Tensor:
    """The cofactor matrix of each matrix of ``A`` (the gradient of det), from the determinants
    of its (n-1) x (n-1) minors: defined at singular matrices, where ``det(A) A^{-T}`` is not."""
    n = A.shape[-1]
    batch = tuple(A.shape[:-2])
    index = np.empty((n, n, n - 1, n - 1), np.int64)
    for i in range(n):
        rows = [r for r in range(n) if r != i]
        for j in range(n):
            cols = [c for c in range(n) if c != j]
            index[i, j] = np.array(rows, np.int64)[:, None] * n + np.array(cols, np.int64)[None, :]
    from ..creation import tensor

    flat = A.reshape(batch + (n * n,))
    minors = index_select(flat, -1, tensor(index.reshape(-1), device=A.device)).reshape(batch + index.shape)
    signs = tensor(1.0 - 2.0 * (np.add.outer(np.arange(n), np.arange(n)) % 2), dtype=A.dtype, device=A.device)
    return ew.mul(det(minors, exact=True), signs)


def _det_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's linalg_det_backward: G = det(A) A^{-T} g, the cofactor matrix times g.
    A, d, lu, piv, use_a_t = step.saved_values()
    n = A.shape[-1]
    if A.numel() == 0:
        return (ew.mul(A, 0),)
    if n == 1:
        return (expand(g.unsqueeze(-1).unsqueeze(-1), tuple(A.shape)),)
    scaled = _diagonal_matrix(ew.mul(g, d), n)
    if not grad_mode.state.enabled and step.attrs != "exact":
        # A singular matrix's zero pivots nudged to eps: a finite det(A) A^{-T} (0 when det is 0).
        nudge = ew.mul(ew.eq(lu.diagonal(0, -2, -1), 0).to(lu.dtype), _eps(A))
        nudged = ew.add(lu, _diagonal_matrix_of(nudge))
        return (_lu_solve_data(nudged, piv, scaled, not use_a_t),)
    singular = ew.lt(ew.abs(d), 100.0 * _eps(A))
    flags = _host(singular._data)
    if not flags.any():
        return (solve(A.mT, scaled),)
    cofactors = ew.mul(_cofactors(A), g.unsqueeze(-1).unsqueeze(-1))
    if flags.all():
        return (cofactors,)
    # A batch of both kinds: the solve sees the identity in place of each singular matrix.
    mask = singular.unsqueeze(-1).unsqueeze(-1)
    stand_in = ew.where(mask, eye_like(n, A), A)
    return (ew.where(mask, cofactors, solve(stand_in.mT, scaled)),)


def _diagonal_matrix_of(values: Tensor) -> Tensor:
    """``(*, n, n)`` with ``values`` (``(*, n)``) on the diagonal."""
    return ew.mul(eye_like(values.shape[-1], values), values.unsqueeze(-2))


DET = OpDef("linalg_det", "LinalgDetBackward0", _det_vjp)


def det(A: Tensor, *, name: str = "linalg.det", exact: bool = False) -> Tensor:
    """The determinant of each matrix of ``A`` (``(*, n, n)``).

    >>> tapegrad.linalg.det(tapegrad.tensor([[1., 2.], [3., 4.]]))
    tensor(-2.)
    """
    refuse_traced(name)
    check_floating(A, name)
    check_square(A, name)
    use_a_t, lu, piv, _ = _lu_of(A)
    values = _backend(lu).lu_det(_stacked(lu), _piv_rows(piv))
    out = _wrap(_adopt(values[0].reshape(tuple(A.shape[:-2]))))
    if needs_grad(A):
        # ``exact`` (the minors of a cofactor matrix): singular matrices take the cofactor path even
        # when no graph is recorded, so that second derivatives of det are exact there too.
        return record(DET, (A,), out, "exact" if exact else None, saved=(A, OUTPUT, _wrap(lu), _wrap(piv), use_a_t))
    return out


def _slogdet_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's slogdet_backward (real case): G = g A^{-T}; the sign has no gradient.
    A, lu, piv, use_a_t = step.saved_values()
    scaled = _diagonal_matrix(g, A.shape[-1])
    if not grad_mode.state.enabled:
        return (_lu_solve_data(lu, piv, scaled, not use_a_t),)
    return (solve(A.mT, scaled),)


SLOGDET = OpDef("linalg_slogdet", "LinalgSlogdetBackward0", _slogdet_vjp)
SLOGDET_SIGN = OpDef("linalg_slogdet_sign", "LinalgSlogdetBackward0", lambda step, g: (None,))


def slogdet(A: Tensor, *, name: str = "linalg.slogdet") -> tuple[Tensor, Tensor]:
    """``(sign, logabsdet)`` of the determinant of each matrix of ``A`` (sign 0 and -inf for a
    singular matrix).

    >>> tapegrad.linalg.slogdet(tapegrad.tensor([[1., 2.], [3., 4.]]))
    linalg_slogdet(sign=tensor(-1.), logabsdet=tensor(0.6931))
    """
    refuse_traced(name)
    check_floating(A, name)
    check_square(A, name)
    use_a_t, lu, piv, _ = _lu_of(A)
    values = _backend(lu).lu_det(_stacked(lu), _piv_rows(piv))
    batch = tuple(A.shape[:-2])
    sign, logabsdet = _wrap(_adopt(values[1].reshape(batch))), _wrap(_adopt(values[2].reshape(batch)))
    if needs_grad(A):
        record(SLOGDET_SIGN, (A,), sign)
        record(SLOGDET, (A,), logabsdet, None, saved=(A, _wrap(lu), _wrap(piv), use_a_t))
    return linalg_slogdet(sign, logabsdet)


# ---------------------------------------------------------------- inverse and solve

def _inv_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    inverse, = step.saved_values()
    return (ew.neg(inverse.mT.matmul(g.matmul(inverse.mT))),)


INV = OpDef("linalg_inv_ex", "LinalgInvExBackward0", _inv_vjp)


def inv_ex(A: Tensor, *, check_errors: bool = False, api: str = "linalg.inv_ex",
           name: str = "linalg.inv") -> tuple[Tensor, Tensor]:
    """``(inverse, info)``: ``info`` is nonzero for a singular matrix (the first zero pivot,
    1-based), whose inverse is then made of infinities and NaNs.

    >>> tapegrad.linalg.inv_ex(tapegrad.tensor([[2., 0.], [0., 4.]])).inverse
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    refuse_traced(name)
    check_floating(A, name)
    check_square(A, name)
    use_a_t, lu, piv, info = _lu_of(A, False)
    if check_errors:
        raise_for_info(info, api, A.ndim == 2)
    identity = _without_grad(lambda: expand(eye_like(A.shape[-1], A), tuple(A.shape)))
    out = _lu_solve_data(_wrap(lu), _wrap(piv), identity, use_a_t)
    if needs_grad(A):
        out = record(INV, (A,), out, None, saved=(OUTPUT,))
    return linalg_inv_ex(out, _wrap(info))


def is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """PyTorch's rule: B is a (batch of) vector(s) when 1-D, or shaped as ``A.shape[:-1]``."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _solve_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    # PyTorch's linalg_solve_backward (left): G_B = A^{-T} G_X, G_A = -G_B X^T, summed to A's batch.
    A, X, lu, piv, use_a_t = step.saved_values()
    vector, = step.attrs
    g_matrix = g.unsqueeze(-1) if vector else g
    if grad_mode.state.enabled:
        gB = solve(A.mT, g_matrix)
    else:
        gB = _lu_solve_data(lu, piv, g_matrix, not use_a_t)
    gA = None
    if step.needs_input_grad(0):
        gA = sum_to(ew.neg(gB.matmul((X.unsqueeze(-1) if vector else X).mT)), step.input_meta[0][0])
    return gA, ((gB.squeeze(-1) if vector else gB) if step.needs_input_grad(1) else None)


SOLVE = OpDef("linalg_solve", "LinalgSolveExBackward0", _solve_vjp)


def solve(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = True,
          api: str = "torch.linalg.solve") -> Tensor:
    """X with ``A X = B`` (``X A = B`` when not ``left``). ``B`` is a (batch of) vector(s) when
    it is 1-D or shaped as ``A.shape[:-1]``, else of matrices; batch dims broadcast.

    >>> tapegrad.linalg.solve(tapegrad.tensor([[2., 0.], [0., 4.]]), tapegrad.tensor([2., 2.]))
    tensor([1.0000, 0.5000])
    """
    name = "linalg.solve"
    refuse_traced(name)
    check_floating(A, name)
    check_same_device(A, B)
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"{name}: Expected A and B to have the same dtype, but found A of type "
                           f"{A.dtype.scalar_name} and B of type {B.dtype.scalar_name} instead")
    vector = A.ndim >= 1 and is_vector_rhs(A, B)
    B_matrix = _without_grad(lambda: B.unsqueeze(-1)) if vector else B
    check_square(A, name)
    check_matrix(B_matrix, name)
    n = A.shape[-1]
    if left and n != B_matrix.shape[-2] or not left and n != B_matrix.shape[-1]:
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
                           f"({n}x{n} and {B_matrix.shape[-2]}x{B_matrix.shape[-1]})")
    batch = broadcast_batch(B_matrix, A)
    if not left:
        if vector:
            raise RuntimeError(f"{name}: Vector broadcasting of the left hand side is not supported for left=False. "
                               "In this case linalg.solve is equivalent to B / A.squeeze(-1)")
        return solve(A.mT, B.mT, check_errors=check_errors, api=api).mT
    use_a_t, lu, piv, info = _lu_of(A, False)
    if check_errors:
        raise_for_info(info, api, A.ndim == 2)
    B_full = expand(B.unsqueeze(-1), batch + (n, 1)) if vector else _expanded(B, batch)
    out = _lu_solve_data(_wrap(lu), _wrap(piv), _without_grad(lambda: B_full.detach()), use_a_t)
    if vector:
        out = _wrap(out._data.reshape(batch + (n,)))
    if needs_grad(A, B_full):
        source = B_full.squeeze(-1) if vector else B_full
        return record(SOLVE, (A, source), out, (vector,), saved=(A, OUTPUT, _wrap(lu), _wrap(piv), use_a_t))
    return out


# ---------------------------------------------------------------- Cholesky

def _cholesky_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's cholesky_backward (Murray 2016): symmetric, from the lower factor L.
    factor, = step.saved_values()
    upper, = step.attrs
    L, gL = (factor.mT, g.mT) if upper else (factor, g)
    gA = L.mT.matmul(gL).tril()
    gA = ew.mul(ew.add(gA, gA.tril(-1).mT), 0.5)
    gA = solve_triangular(L.mT, gA, upper=True, left=True)
    return (solve_triangular(L, gA, upper=False, left=False),)


CHOLESKY = OpDef("linalg_cholesky_ex", "LinalgCholeskyExBackward0", _cholesky_vjp)
CHOLESKY_LEGACY = OpDef("cholesky", "CholeskyBackward0", _cholesky_vjp)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False, api: str = "linalg.cholesky_ex",
                name: str = "linalg.cholesky", op: OpDef = CHOLESKY) -> tuple[Tensor, Tensor]:
    """``(L, info)``: the lower Cholesky factor of each (symmetric positive-definite) matrix of
    ``A`` from its lower triangle (``upper``: the upper factor, from the upper triangle), and the
    order of the first leading minor that is not positive-definite (0: none).

    >>> tapegrad.linalg.cholesky_ex(tapegrad.tensor([[4., 2.], [2., 5.]])).L
    tensor([[2., 0.],
            [1., 2.]])
    """
    refuse_traced(name)
    check_floating(A, name)
    check_square(A, name)
    source = _without_grad(lambda: A.mT) if upper else A
    factor, info = _backend(A._data).cholesky(_stacked(source._data))
    factor, info = _adopt(factor.reshape(tuple(A.shape))), _adopt(info.reshape(tuple(A.shape[:-2])))
    if check_errors:
        raise_for_info(info, api, A.ndim == 2)
    out = _wrap(factor)
    if upper:
        out = _without_grad(lambda: out.mT.contiguous())
    if needs_grad(A):
        out = record(op, (A,), out, (upper,), saved=(OUTPUT,))
    return linalg_cholesky_ex(out, _wrap(info))
