"""The matrix functions PyTorch has outside ``torch.linalg`` (``torch.det``, ``logdet``,
``slogdet``, ``inverse``, ``cholesky``, ``cholesky_solve``, ``cholesky_inverse``,
``matrix_power``, ``matrix_exp``, ``pinverse``, ``svd``, ``qr``, ``lu``, ``lu_unpack``, ``lu_solve``,
``triangular_solve``, ``ger``, ``chain_matmul``, ``frobenius_norm``, ``nuclear_norm``), with their own names
in errors and PyTorch's deprecation warnings, built on ``tapegrad.linalg``.

``cholesky_solve`` and ``cholesky_inverse`` compute with two triangular solves each, and record
PyTorch's own backward formulas: like PyTorch, they differentiate ``A = L L^T`` as a product of
the whole ``L`` (so a gradient can reach the unread triangle), not the triangle the solves read.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from .. import linalg
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..tensor import Tensor
from . import elementwise as ew
from .linalg_ops import (CHOLESKY_LEGACY, LinAlgError, broadcast_batch, check_floating, check_square, cholesky_ex,
                         eye_like, lu_unpack, refuse_traced, solve_triangular)
from .matmul import outer
from .reduce import sum_to
from .registry import OUTPUT, OpDef, needs_grad, record
from ..user_warnings import warn_user

__all__: list[str] = ["chain_matmul", "cholesky", "cholesky_inverse", "cholesky_solve", "det", "frobenius_norm", "ger",
                      "inverse", "logdet", "lu", "lu_solve", "lu_unpack", "matrix_exp", "matrix_power",
                      "nuclear_norm", "pinverse", "qr", "slogdet", "svd", "triangular_solve"]

slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])
svd_result = namedtuple("svd", ["U", "S", "V"])
qr_result = namedtuple("qr", ["Q", "R"])
triangular_solve_result = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])

det = linalg.det
inverse = linalg.inv
matrix_power = linalg.matrix_power
matrix_exp = linalg.matrix_exp


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudoinverse, singular values at or below ``rcond`` times the largest counting as zero."""
    return linalg.pinv(input, rtol=rcond)


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``(U, S, V)`` with ``input = U diag(S) V^T`` (``torch.svd``: V, not its transpose; reduced
    unless ``some`` is false; without ``compute_uv``, U and V are zero ``(*, m, m)`` and ``(*, n, n)``).

    >>> tapegrad.svd(tapegrad.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    if not compute_uv:
        S = linalg.svdvals(input)
        m, n = input.shape[-2], input.shape[-1]
        batch = tuple(input.shape[:-2])
        return svd_result(input.new_zeros(batch + (m, m)), S, input.new_zeros(batch + (n, n)))
    U, S, Vh = linalg.svd(input, full_matrices=not some)
    return svd_result(U, S, Vh.mT)


def qr(input: Tensor, some: bool = True) -> tuple[Tensor, Tensor]:
    """``(Q, R)`` (``torch.qr``: reduced unless ``some`` is false)."""
    _warn_once("qr", "torch.qr is deprecated in favor of torch.linalg.qr and will be removed in a future PyTorch "
               "release.\nThe boolean parameter 'some' has been replaced with a string parameter 'mode'.\nQ, R = "
               "torch.qr(A, some)\nshould be replaced with\nQ, R = torch.linalg.qr(A, 'reduced' if some else "
               "'complete')")
    return qr_result(*linalg.qr(input, "reduced" if some else "complete"))


def slogdet(A: Tensor) -> tuple[Tensor, Tensor]:
    """``(sign, logabsdet)`` of each matrix's determinant (``torch.slogdet``)."""
    return slogdet_result(*linalg.slogdet(A))


def logdet(A: Tensor) -> Tensor:
    """The log of each matrix's determinant: NaN for a negative determinant, -inf for a singular
    matrix.

    >>> tapegrad.logdet(tapegrad.tensor([[2., 0.], [0., 3.]]))
    tensor(1.7918)
    """
    check_square(A, "logdet")
    check_floating(A, "logdet")
    sign, logabsdet = linalg.slogdet(A)
    return ew.where(ew.eq(sign, -1), float("nan"), logabsdet)


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    """PyTorch's deprecation warning, once per process as PyTorch's TORCH_WARN_ONCE gives it."""
    if key not in _warned:
        _warned.add(key)
        warn_user(message, UserWarning)


def cholesky(A: Tensor, upper: bool = False) -> Tensor:
    """The Cholesky factor (``torch.cholesky``, deprecated in PyTorch for ``linalg.cholesky``)."""
    _warn_once("cholesky", "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed in a "
               "future PyTorch release.\nL = torch.cholesky(A)\nshould be replaced with\nL = torch.linalg.cholesky(A)"
               "\nand\nU = torch.cholesky(A, upper=True)\nshould be replaced with\nU = torch.linalg.cholesky(A).mH"
               "\nThis transform will produce equivalent results for all valid (symmetric positive definite) "
               "inputs.")
    check_square(A, "cholesky")
    if A._data.dtype.kind != "f":
        raise NotImplementedError(f"\"cholesky_{A.device.type}\" not implemented for '{A.dtype.scalar_name}'")
    factor, _ = cholesky_ex(A, upper=upper, check_errors=True, api="cholesky", name="cholesky", op=CHOLESKY_LEGACY)
    return factor


def _check_solve_operands(B: Tensor, factor: Tensor, name: str) -> None:
    """PyTorch's ``linearSolveCheckInputs`` for ``B`` and a factor."""
    if B.ndim < 2:
        raise RuntimeError(f"b should have at least 2 dimensions, but has {B.ndim} dimensions instead")
    if factor.ndim < 2:
        raise RuntimeError(f"u should have at least 2 dimensions, but has {factor.ndim} dimensions instead")
    if B.device != factor.device:
        raise RuntimeError(f"Expected b and A to be on the same device, but found b on {B.device} and A on "
                           f"{factor.device} instead.")
    if B.dtype != factor.dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type {B.dtype.scalar_name} and A "
                           f"of type {factor.dtype.scalar_name} instead.")
    n = factor.shape[-1]
    if factor.shape[-2] != n:
        raise RuntimeError(f"A must be batches of square matrices, but they are {factor.shape[-2]} by {n} matrices")
    if B.shape[-2] != n:
        raise RuntimeError(f"Incompatible matrix sizes for {name}: each A matrix is {n} by {n} but each b matrix is "
                           f"{B.shape[-2]} by {B.shape[-1]}")
    broadcast_batch(B, factor)


def _cholesky_solve(B: Tensor, factor: Tensor, upper: bool) -> Tensor:
    # A = L L^T: L Y = B, then L^T X = Y (A = U^T U: U^T Y = B, then U X = Y). Not recorded.
    with grad_mode.no_grad():
        if upper:
            return solve_triangular(factor, solve_triangular(factor.mT, B, upper=False), upper=True)
        return solve_triangular(factor.mT, solve_triangular(factor, B, upper=False), upper=True)


def _cholesky_solve_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    # PyTorch's cholesky_solve_backward: G_B = A^{-1} G_X, G_L = -(C + C^T) L with C = G_B X^T.
    factor, X = step.saved_values()
    upper, = step.attrs
    gB = cholesky_solve(g, factor, upper)
    gL = None
    if step.needs_input_grad(1):
        common = gB.matmul(X.mT)
        common = ew.add(common, common.mT)
        gL = sum_to(ew.neg(factor.matmul(common) if upper else common.matmul(factor)), step.input_meta[1][0])
    return (sum_to(gB, step.input_meta[0][0]) if step.needs_input_grad(0) else None), gL


CHOLESKY_SOLVE = OpDef("cholesky_solve", "CholeskySolveBackward0", _cholesky_solve_vjp)


def _cholesky_inverse_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's cholesky_inverse_backward: G_L = -(A^{-1} (G + G^T) A^{-1}) L (L on the left if upper).
    factor, inverse = step.saved_values()
    upper, = step.attrs
    common = inverse.matmul(ew.add(g, g.mT).matmul(inverse))
    return (ew.neg(factor.matmul(common) if upper else common.matmul(factor)),)


CHOLESKY_INVERSE = OpDef("cholesky_inverse", "CholeskyInverseBackward0", _cholesky_inverse_vjp)


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """X with ``A X = B`` for ``A = L L^T`` given by its Cholesky factor ``L`` (``upper``: ``U``
    with ``A = U^T U``). Batch dims broadcast.

    >>> L = tapegrad.tensor([[2., 0.], [1., 2.]])
    >>> tapegrad.cholesky_solve(tapegrad.tensor([[4.], [5.]]), L)
    tensor([[0.6250],
            [0.7500]])
    """
    refuse_traced("cholesky_solve")
    _check_solve_operands(B, L, "cholesky_solve")
    if B._data.dtype.kind != "f":
        raise NotImplementedError(f"\"cholesky_solve_{B.device.type}\" not implemented for '{B.dtype.scalar_name}'")
    out = _cholesky_solve(B, L, upper)
    if needs_grad(B, L):
        return record(CHOLESKY_SOLVE, (B, L), out, (upper,), saved=(L, OUTPUT))
    return out


def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:
    """The inverse of ``A = L L^T`` (``upper``: ``A = U^T U``) from its Cholesky factor; a zero on
    the factor's diagonal raises ``LinAlgError``.

    >>> tapegrad.cholesky_inverse(tapegrad.tensor([[2., 0.], [0., 4.]]))
    tensor([[0.2500, 0.0000],
            [0.0000, 0.0625]])
    """
    refuse_traced("cholesky_inverse")
    check_square(L, "cholesky_inverse")
    if L._data.dtype.kind != "f":
        raise NotImplementedError(f"\"cholesky_inverse_out_{L.device.type}\" not implemented for "
                                  f"'{L.dtype.scalar_name}'")
    flags = ew.eq(L.detach().diagonal(0, -2, -1), 0).cpu().numpy()
    flags = flags.reshape(flags.size // L.shape[-1], L.shape[-1]) if flags.size else flags.reshape(0, 0)
    bad = [(b, int(row.argmax()) + 1) for b, row in enumerate(flags) if row.any()]
    if bad:
        where = "" if L.ndim == 2 else f": (Batch element {bad[0][0]})"
        raise LinAlgError(f"cholesky_inverse{where}: The diagonal element {bad[0][1]} is zero, the inversion could not "
                          "be completed because the input matrix is singular.")
    identity = eye_like(L.shape[-1], L).expand(tuple(L.shape))
    out = _cholesky_solve(identity, L, upper)
    if needs_grad(L):
        return record(CHOLESKY_INVERSE, (L,), out, (upper,), saved=(L, OUTPUT))
    return out


# ---------------------------------------------------------------- LU, triangular solves and products (older names)

def lu(A: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:
    """``(LU, pivots)`` (and ``infos`` with ``get_infos``): ``torch.lu``, deprecated in PyTorch
    for ``linalg.lu_factor``."""
    _warn_once("lu", "torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex and will "
               "be removed in a future PyTorch release.\nLU, pivots = torch.lu(A, compute_pivots)\nshould be replaced "
               "with\nLU, pivots = torch.linalg.lu_factor(A, compute_pivots)\nand\nLU, pivots, info = torch.lu(A, "
               "compute_pivots, get_infos=True)\nshould be replaced with\nLU, pivots, info = "
               "torch.linalg.lu_factor_ex(A, compute_pivots)")
    LU, pivots, infos = linalg.lu_factor_ex(A, pivot=pivot)
    return (LU, pivots, infos) if get_infos else (LU, pivots)


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """X with ``A X = b`` for A given by ``lu``: ``torch.lu_solve``, deprecated in PyTorch for
    ``linalg.lu_solve`` (whose arguments are in the other order)."""
    _warn_once("lu_solve", "torch.lu_solve is deprecated in favor of torch.linalg.lu_solveand will be removed in a "
               "future PyTorch release.\nNote that torch.linalg.lu_solve has its arguments reversed.\nX = "
               "torch.lu_solve(B, LU, pivots)\nshould be replaced with\nX = torch.linalg.lu_solve(LU, pivots, B)")
    return linalg.lu_solve(LU_data, LU_pivots, b)


def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> tuple[Tensor, Tensor]:
    """``(solution, cloned_coefficient)`` of ``op(A) X = b`` for triangular A (``op`` transposes
    when ``transpose``): ``torch.triangular_solve``, deprecated in PyTorch for
    ``linalg.solve_triangular``."""
    _warn_once("triangular_solve", "torch.triangular_solve is deprecated in favor of torch.linalg.solve_triangularand "
               "will be removed in a future PyTorch release.\ntorch.linalg.solve_triangular has its arguments "
               "reversed and does not return a copy of one of the inputs.\nX = torch.triangular_solve(B, "
               "A).solution\nshould be replaced with\nX = torch.linalg.solve_triangular(A, B).")
    coefficient = A.mT if transpose else A
    solution = solve_triangular(coefficient, b, upper=upper != transpose, unitriangular=unitriangular)
    return triangular_solve_result(solution, ew.clone(A))


def ger(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors (``torch.ger``, PyTorch's older name of ``outer``)."""
    return outer(input, vec2)


def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of the matrices in the cheapest order: ``torch.chain_matmul``, deprecated in
    PyTorch for ``linalg.multi_dot``."""
    _warn_once("chain_matmul", "torch.chain_matmul is deprecated and will be removed in a future PyTorch release. "
               "Use torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
               "multiple parameters.")
    if len(matrices) == 1:
        return ew.clone(matrices[0])
    return linalg.multi_dot(list(matrices))


def frobenius_norm(input: Tensor, dim: Any = (-2, -1), keepdim: bool = False) -> Tensor:
    """The 2-norm over ``dim``: ``torch.frobenius_norm``, kept by PyTorch for old scripts."""
    _warn_once("frobenius_norm", "at::frobenius_norm is deprecated and it is just left for JIT compatibility. It will "
               "be removed in a future PyTorch release. Please use `linalg.vector_norm(A, 2., dim, keepdim)` instead")
    return linalg.vector_norm(input, 2.0, dim, keepdim)


def nuclear_norm(input: Tensor, dim: Any = (-2, -1), keepdim: bool = False) -> Tensor:
    """The sum of the singular values over ``dim``: ``torch.nuclear_norm``, kept by PyTorch for old
    scripts."""
    if isinstance(dim, bool):  # nuclear_norm(input, keepdim)
        dim, keepdim = (-2, -1), dim
    _warn_once("nuclear_norm", "at::nuclear_norm is deprecated and it is just left for JIT compatibility. It will be "
               "removed in a future PyTorch release. Please use `linalg.matrix_norm(A, 'nuc', dim, keepdim)` instead")
    return linalg.matrix_norm(input, "nuc", dim, keepdim)
