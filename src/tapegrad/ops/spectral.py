"""The spectral part of ``torch.linalg``: ``qr``, ``eigh`` and ``svd`` as recorded primitives, and
``pinv``, whose backward does not go through the SVD it is computed with.

Kernels are ``spectral_source``'s (``cpu_factor`` / ``cuda_factor``): Householder QR in LAPACK's
order, so Q and R are PyTorch's; Jacobi methods for ``eigh`` and ``svd``, whose values are
PyTorch's to rounding and whose vectors are unique only up to sign (PyTorch's documentation
says the same of its own).

**Several outputs, one step.** A factorization's outputs (``Q`` and ``R``; eigenvalues and
eigenvectors; ``U``, ``S`` and ``Vh``) are flattened into one buffer recorded as a single step,
and each output is a part of it recorded with the factorization's grad_fn name. The VJP thus
sees all the outputs' gradients at once (zeros for outputs that had none), saves the outputs
once, and has no reference cycle between the outputs' histories; higher-order gradients flow
through the saved buffer. Because an unused output's gradient arrives as zeros rather than as
"undefined", the divisions of PyTorch's formulas (by differences of eigenvalues or squared
singular values, and by singular values) give 0 where the divisor is exactly 0: an unused
output contributes nothing even at repeated or zero values. Where its gradient is nonzero
there, PyTorch's result is infinite or NaN, the derivative being undefined.

The VJPs are PyTorch's formulas (``FunctionsManual.cpp``: ``linalg_qr_backward``,
``linalg_eig_backward`` for Hermitian input, ``svd_backward``, ``pinv_backward``), written with
tapegrad ops. Compiled steps do not record these ops (``TraceError``).
"""
from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.tape import Step
from ..tensor import Tensor, _wrap
from . import elementwise as ew
from .linalg_ops import (_adopt, _backend, _stacked, _without_grad, check_floating, check_matrix, check_square,
                         refuse_traced, solve_triangular)
from .movement import cat
from .registry import OUTPUT, OpDef, needs_grad, record

__all__: list[str] = ["eigh", "pinv", "qr", "svd"]

linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])


# ---------------------------------------------------------------- outputs recorded as parts of one step

def _part_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # The part's gradient placed in a zero gradient of the whole buffer.
    offset, size, total = step.attrs
    batch = tuple(step.input_meta[0][0][:-1])
    flat = g.reshape(batch + (size,))
    pieces = []
    if offset:
        pieces.append(flat.new_zeros(batch + (offset,)))
    pieces.append(flat)
    if total - offset - size:
        pieces.append(flat.new_zeros(batch + (total - offset - size,)))
    return (cat(pieces, -1) if len(pieces) > 1 else flat,)


_PART_OPS: dict[str, OpDef] = {}


def _part_op(grad_name: str) -> OpDef:
    op = _PART_OPS.get(grad_name)
    if op is None:
        op = _PART_OPS[grad_name] = OpDef(f"part_of_{grad_name}", grad_name, _part_vjp)
    return op


def _record_parts(op: OpDef, A: Tensor, parts: Sequence[Any], attrs: Any, saved: Sequence[Any] = ()) -> list[Tensor]:
    """``parts`` (buffers shaped ``batch + shape_i``) as tensors; when ``A`` needs a gradient, the
    parts are recorded as pieces of one step of ``op`` made from ``A`` (see the module's notes)."""
    tensors = [_wrap(_adopt(p)) for p in parts]
    if not needs_grad(A):
        return tensors
    batch = tuple(A.shape[:-2])
    with_batch = [t.reshape(batch + (-1,)) for t in tensors]
    whole = record(op, (A,), _without_grad(lambda: cat(with_batch, -1)), attrs, saved=(OUTPUT, *saved))
    out = []
    offset = 0
    total = whole.shape[-1]
    part_op = _part_op(op.grad_name)
    for t in tensors:
        size = math.prod(tuple(t.shape)[len(batch):])
        out.append(record(part_op, (whole,), t, (offset, size, total)))
        offset += size
    return out


def _split(whole: Tensor, shapes: Sequence[tuple[int, ...]]) -> list[Tensor]:
    """The pieces of a whole buffer (or of its gradient), shaped ``batch + shape``."""
    batch = tuple(whole.shape[:-1])
    out = []
    offset = 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(whole[..., offset:offset + size].reshape(batch + tuple(shape)))
        offset += size
    return out


def _safe_reciprocal(x: Tensor) -> Tensor:
    """``1 / x``, and 0 where ``x`` is exactly 0 (see the module's notes)."""
    zero = ew.eq(x, 0)
    return ew.where(zero, ew.mul(x, 0), ew.reciprocal(ew.where(zero, ew.add(x, 1), x)))


def _diag_embed(values: Tensor) -> Tensor:
    from .linalg_ops import eye_like

    return ew.mul(eye_like(values.shape[-1], values), values.unsqueeze(-2))


# ---------------------------------------------------------------- QR

def _qr_square_vjp(Q: Tensor, R: Tensor, gQ: Tensor | None, gR: Tensor | None) -> Tensor:
    # m >= n: M = R gR^T - gQ^T Q; gA = (gQ + Q copyltu(M)) R^{-T}, copyltu(M) the symmetric matrix
    # with M's lower triangle.
    if gR is not None:
        M = R.matmul(gR.mT)
        if gQ is not None:
            M = ew.sub(M, gQ.mT.matmul(Q))
    else:
        M = ew.neg(gQ.mT.matmul(Q))
    sym = ew.add(M.tril(), M.tril(-1).mT)
    inner = Q.matmul(sym)
    if gQ is not None:
        inner = ew.add(inner, gQ)
    return solve_triangular(R.mT, inner, upper=False, left=False)


def _qr_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    whole, *source = step.saved_values()
    m, n, mode = step.attrs
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use "
                           "linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    k = min(m, n)
    shapes = [(m, k), (k, n)]
    Q, R = _split(whole, shapes)
    gQ, gR = _split(g, shapes)
    if m >= n:
        return (_qr_square_vjp(Q, R, gQ, gR),)
    # A = [X | Y] with X square: Q U = X and V = Q^T Y, so Y's gradient is Q gV and X's is the square
    # case's, with Q's gradient gaining Y gV^T.
    Y = source[0][..., m:]
    gU, gV = gR[..., :m], gR[..., m:]
    gX = _qr_square_vjp(Q, R[..., :m], ew.add(gQ, Y.matmul(gV.mT)), gU)
    return (cat([gX, Q.matmul(gV)], -1),)


QR = OpDef("linalg_qr", "LinalgQrBackward0", _qr_vjp)


def qr(A: Tensor, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """``(Q, R)`` with ``A = Q R``: Q with orthonormal columns, R upper triangular, from Householder
    reflections in LAPACK's order (so Q and R are PyTorch's, signs included). ``mode``: 'reduced'
    (Q ``(*, m, k)``, R ``(*, k, n)``, k = min(m, n)), 'complete' (Q ``(*, m, m)``, R ``(*, m, n)``)
    or 'r' (R only; Q empty).

    >>> Q, R = tapegrad.linalg.qr(tapegrad.tensor([[3., 1.], [4., 2.]]))
    >>> R
    tensor([[-5.0000, -2.2000],
            [ 0.0000, -0.4000]])
    """
    name = "linalg.qr"
    refuse_traced(name)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or "
                           "'complete'")
    check_matrix(A, name, "A")
    check_floating(A, name)
    shape = tuple(A.shape)
    m, n = shape[-2:]
    k = min(m, n)
    q_cols = 0 if mode == "r" else (m if mode == "complete" else k)
    r_rows = m if mode == "complete" else k
    q, r = _backend(A._data).qr(_stacked(A._data), q_cols, r_rows)
    batch = shape[:-2]
    # Without Q, PyTorch returns an empty (0,) tensor in its place, whatever the batch.
    q, r = q.reshape(batch + (m, q_cols) if q_cols else (0,)), r.reshape(batch + (r_rows, n))
    if mode == "r":
        R, = _record_parts(QR, A, [r], (m, n, mode))
        return linalg_qr(_wrap(_adopt(q)), R)
    saved = (A,) if m < n else ()
    Q, R = _record_parts(QR, A, [q, r], (m, n, mode), saved=saved)
    return linalg_qr(Q, R)


# ---------------------------------------------------------------- symmetric eigendecomposition

def _eigh_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's linalg_eig_backward for Hermitian A: gA = V (diag(gL) + skew(V^T gV) / E) V^T, with
    # skew(X) = (X - X^T) / 2 and E_ij = L_j - L_i.
    whole, = step.saved_values()
    n, = step.attrs
    shapes = [(n,), (n, n)]
    L, V = _split(whole, shapes)
    gL, gV = _split(g, shapes)
    VhgV = V.mT.matmul(gV)
    skew = ew.mul(ew.sub(VhgV, VhgV.mT), 0.5)
    inner = ew.add(ew.mul(skew, _safe_reciprocal(ew.sub(L.unsqueeze(-2), L.unsqueeze(-1)))), _diag_embed(gL))
    return (V.matmul(inner.matmul(V.mT)),)


EIGH = OpDef("linalg_eigh", "LinalgEighBackward0", _eigh_vjp)


def eigh(A: Tensor, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix of ``A``, read from its lower
    (``UPLO='U'``: upper) triangle: values ascending, vectors as the columns of an orthogonal
    matrix, each unique up to sign for distinct values.

    >>> tapegrad.linalg.eigh(tapegrad.tensor([[2., 1.], [1., 2.]])).eigenvalues
    tensor([1., 3.])
    """
    name = "linalg.eigh"
    refuse_traced(name)
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    check_square(A, name)
    if A._data.dtype.kind != "f":
        raise NotImplementedError(f"\"linalg_eigh_{A.device.type}\" not implemented for '{A.dtype.scalar_name}'")
    source = _without_grad(lambda: A.mT) if UPLO in ("U", "u") else A
    w, v = _backend(A._data).eigh(_stacked(source._data))
    shape = tuple(A.shape)
    L, V = _record_parts(EIGH, A, [w.reshape(shape[:-1]), v.reshape(shape)], (shape[-1],))
    return linalg_eigh(L, V)


# ---------------------------------------------------------------- singular value decomposition

def _svd_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's svd_backward on the reduced factors (full U and Vh are narrowed to their first k
    # columns and rows, as PyTorch does).
    whole, = step.saved_values()
    m, n, u_cols, vh_rows = step.attrs
    k = min(m, n)
    shapes = [(m, u_cols), (k,), (vh_rows, n)]
    U, S, Vh = _split(whole, shapes)
    gU, gS, gVh = _split(g, shapes)
    U, Vh, gU, gVh = U[..., :, :k], Vh[..., :k, :], gU[..., :, :k], gVh[..., :k, :]
    UhgU = U.mT.matmul(gU)
    UhgU = ew.sub(UhgU, UhgU.mT)
    VhgV = Vh.matmul(gVh.mT)
    VhgV = ew.sub(VhgV, VhgV.mT)
    S2 = ew.mul(S, S)
    inverse_gaps = _safe_reciprocal(ew.sub(S2.unsqueeze(-2), S2.unsqueeze(-1)))
    inner = ew.mul(ew.add(ew.mul(UhgU, S.unsqueeze(-2)), ew.mul(S.unsqueeze(-1), VhgV)), inverse_gaps)
    inner = ew.add(inner, _diag_embed(gS))
    if m > n:
        # gA = [U inner + (I - U U^T) gU S^{-1}] Vh
        gUSinv = ew.mul(gU, _safe_reciprocal(S).unsqueeze(-2))
        gA = ew.sub(ew.add(U.matmul(inner), gUSinv), U.matmul(U.mT.matmul(gUSinv)))
        return (gA.matmul(Vh),)
    if m < n:
        # gA = U [inner Vh + S^{-1} gVh (I - V Vh)]
        SinvgVh = ew.mul(gVh, _safe_reciprocal(S).unsqueeze(-1))
        gA = ew.sub(ew.add(inner.matmul(Vh), SinvgVh), SinvgVh.matmul(Vh.mT).matmul(Vh))
        return (U.matmul(gA),)
    return (U.matmul(inner.matmul(Vh)),)


SVD = OpDef("linalg_svd", "LinalgSvdBackward0", _svd_vjp)


def svd_data(A: Tensor, full_matrices: bool) -> tuple[Any, Any, Any]:
    """The backend's ``(U, S, Vh)`` of ``A`` (``(*, m, n)``), shaped as ``linalg.svd`` returns them."""
    shape = tuple(A.shape)
    m, n = shape[-2:]
    batch = shape[:-2]
    backend = _backend(A._data)
    tall = m >= n
    # The kernel wants m >= n: a wide A is factored as A^T = U' S V'^T, so U = V' and Vh = U'^T.
    source = A if tall else _without_grad(lambda: A.mT)
    u, s, v = backend.svd(_stacked(source._data))
    if full_matrices and max(m, n) > min(m, n):
        u = backend.complete_basis(u, max(m, n))
    if tall:
        U, Vh = u, _transposed(v)
    else:
        U, Vh = v, _transposed(u)
    return (U.reshape(batch + tuple(U.shape[1:])), s.reshape(batch + (min(m, n),)),
            Vh.reshape(batch + tuple(Vh.shape[1:])))


def _transposed(x: Any) -> Any:
    """``(batch, r, c)`` to a C-contiguous ``(batch, c, r)`` buffer."""
    return _without_grad(lambda: _wrap(_adopt(x)).mT.contiguous())._data


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``: singular values descending, singular vectors unique up
    to sign for distinct values. ``full_matrices``: U ``(*, m, m)`` and Vh ``(*, n, n)``, else
    ``(*, m, k)`` and ``(*, k, n)`` with k = min(m, n).

    >>> tapegrad.linalg.svd(tapegrad.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    name = "linalg.svd"
    refuse_traced(name)
    check_matrix(A, name, "A")
    check_floating(A, name)
    if driver is not None:
        raise RuntimeError("torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with "
                           "cuSOLVER backend.")
    U, S, Vh = svd_data(A, full_matrices)
    m, n = tuple(A.shape[-2:])
    parts = _record_parts(SVD, A, [U, S, Vh], (m, n, tuple(U.shape)[-1], tuple(Vh.shape)[-2]))
    return linalg_svd(*parts)


# ---------------------------------------------------------------- pseudoinverse

def _pinv_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's pinv_backward: gA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A), P = pinv(A),
    # grouped so that the products have the smaller of A's dims.
    A, P = step.saved_values()
    m, n = A.shape[-2], A.shape[-1]
    Ph, gh = P.mT, g.mT
    if m <= n:
        K = gh.matmul(P)
        KPh = K.matmul(Ph)
        return (ew.add(ew.sub(ew.sub(KPh, P.matmul(K).mT), A.matmul(P).matmul(KPh)),
                       Ph.matmul(P).matmul(ew.sub(gh, K.matmul(A)))),)
    K = P.matmul(gh)
    PhK = Ph.matmul(K)
    return (ew.sub(ew.add(ew.sub(ew.sub(gh, A.matmul(K)).matmul(P).matmul(Ph), K.matmul(P).mT), PhK),
                   PhK.matmul(P).matmul(A)),)


PINV = OpDef("linalg_pinv", "LinalgPinvBackward0", _pinv_vjp)


def tolerance(largest: Tensor, atol: Any, rtol: Any, shape: tuple[int, ...], dtype: Any) -> Tensor:
    """max(atol, rtol * largest), ``largest`` a column of each matrix's largest singular value (or
    eigenvalue magnitude), with PyTorch's default rtol: eps * max(m, n) where atol is not given or
    not positive, else 0. Tensor tolerances hold one value per matrix."""
    atol = _as_column(atol)
    rtol = _as_column(rtol)
    if rtol is None:
        default = float(np.finfo(dtype).eps) * max(shape[-2:])
        if isinstance(atol, Tensor):
            rtol = ew.where(ew.gt(atol, 0), ew.mul(atol, 0), ew.add(ew.mul(atol, 0), default))
        else:
            rtol = 0.0 if atol is not None and atol > 0 else default
    floor = ew.mul(largest, 0) if atol is None else ew.add(ew.mul(largest, 0), atol)
    return ew.maximum(floor, ew.mul(largest, rtol))


def pinv(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False,
         name: str = "linalg.pinv") -> Tensor:
    """The Moore-Penrose pseudoinverse of each matrix of ``A``, from its SVD (``hermitian``: its
    eigendecomposition), singular values at or below ``max(atol, rtol * largest)`` treated as 0.

    >>> tapegrad.linalg.pinv(tapegrad.tensor([[2., 0.], [0., 0.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    refuse_traced(name)
    check_matrix(A, name, "A")
    check_floating(A, name)
    with _no_grad():
        if hermitian:
            check_square(A, name)
            L, V = eigh(A.detach())
            largest = ew.abs(L).amax(-1, keepdim=True) if L.shape[-1] else ew.abs(L).sum(-1, keepdim=True)
            keep = ew.gt(ew.abs(L), tolerance(largest, atol, rtol, tuple(A.shape), A._data.dtype))
            scale = ew.where(keep, _safe_reciprocal(L), ew.mul(L, 0))
            out = ew.mul(V, scale.unsqueeze(-2)).matmul(V.mT)
        else:
            U, S, Vh = (_wrap(_adopt(x)) for x in svd_data(A, False))
            largest = S[..., :1] if S.shape[-1] else S.sum(-1, keepdim=True)
            keep = ew.gt(S, tolerance(largest, atol, rtol, tuple(A.shape), A._data.dtype))
            scale = ew.where(keep, _safe_reciprocal(S), ew.mul(S, 0))
            out = ew.mul(Vh.mT, scale.unsqueeze(-2)).matmul(U.mT)
    out = out.contiguous()
    if needs_grad(A):
        return record(PINV, (A,), out, None, saved=(A, OUTPUT))
    return out


def _as_column(tol: Any) -> Any:
    """A tensor tolerance (one per matrix) as a column that broadcasts against the values."""
    return tol.unsqueeze(-1) if isinstance(tol, Tensor) else tol


def _no_grad() -> Any:
    from ..autograd import grad_mode

    return grad_mode.no_grad()
