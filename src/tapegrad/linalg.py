"""``tapegrad.linalg``: ``torch.linalg`` for real tensors, with PyTorch's signatures, batching over
leading dims, errors and gradients.

- factorizations and solvers (``ops/linalg_ops.py``, kernels in ``backends/cpu_factor.py`` and
  ``backends/cuda_factor.py``): ``det``, ``slogdet``, ``inv``, ``inv_ex``, ``solve``,
  ``solve_triangular``, ``cholesky``, ``cholesky_ex``, ``lu_factor``, ``lu_factor_ex``, ``lu_solve``;
- spectral factorizations (``ops/spectral.py``): ``qr``, ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``
  and ``pinv``;
- composites of tapegrad ops, defined here: ``matrix_norm``, ``norm``, ``cond``, ``matrix_rank``,
  ``lstsq``, ``matrix_exp``, ``matrix_power`` and ``multi_dot`` (PyTorch's cheapest order of products),
  and the vector functions ``cross``, ``vector_norm`` and ``vecdot``.

Not implemented: complex tensors, so neither the general eigendecomposition (``eig``,
``eigvals``), whose results are complex.
"""
from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from . import dtypes as _dtypes
from .ops import elementwise as ew
from .ops import linalg_ops as _ops
from .ops import spectral as _spectral
from .ops.composite import norm as _vector_norm
from .ops.distance import linalg_cross as cross
from .ops.linalg_ops import LinAlgError, lu_solve, lu_unpack, solve_triangular
from .ops.linalg_ops import cholesky_ex as _cholesky_ex
from .ops.linalg_ops import det as _det
from .ops.linalg_ops import inv_ex as _inv_ex
from .ops.linalg_ops import lu_factor_ex as _lu_factor_ex
from .ops.linalg_ops import slogdet as _slogdet
from .ops.linalg_ops import solve as _solve
from .ops.matmul import matmul as _matmul
from .ops.matmul import mm as _mm
from .ops.reduce import amax as _amax
from .ops.reduce import amin as _amin
from .tensor import Tensor, _wrap_dim

__all__: list[str] = ["LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "eigh", "eigvalsh", "inv",
                      "inv_ex", "lstsq", "lu", "lu_factor", "lu_factor_ex", "lu_solve", "matrix_exp", "matrix_norm",
                      "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve",
                      "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm"]

linalg_lu_factor = namedtuple("linalg_lu_factor", ["LU", "pivots"])
linalg_lu = namedtuple("linalg_lu", ["P", "L", "U"])
linalg_lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


# ---------------------------------------------------------------- vectors

def _check_norm_dtype(dtype: Any, input: Tensor, name: str) -> Any:
    """``dtype`` as a tapegrad dtype, checked as PyTorch's ``check_linalg_norm_dtype`` does."""
    if dtype is None:
        return None
    dtype = _dtypes.as_dtype(dtype)
    if not dtype.is_floating_point:
        raise RuntimeError(f"{name}: dtype should be floating point or complex, but got {dtype.scalar_name}")
    if dtype.itemsize < input.dtype.itemsize:
        raise RuntimeError(f"{name}: the dtype of the input ({input.dtype.scalar_name}) should be convertible without "
                           f"narrowing to the specified dtype ({dtype.scalar_name})")
    return dtype


def vector_norm(x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (all elements by default) as a vector.

    >>> tapegrad.linalg.vector_norm(tapegrad.tensor([3., 4.]))
    tensor(5.)
    """
    _ops.check_floating(x, "linalg.vector_norm")
    dtype = _check_norm_dtype(dtype, x, "linalg.vector_norm")
    if dtype is not None:
        x = x.to(dtype)
    return _vector_norm(x, ord, dim, keepdim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of ``x`` and ``y`` along ``dim``, broadcasting the other dims."""
    return ew.mul(x, y).sum(dim)


# ---------------------------------------------------------------- determinants, inverses, solvers

def det(A: Tensor) -> Tensor:
    """The determinant of each matrix of ``A`` (``(*, n, n)``).

    >>> tapegrad.linalg.det(tapegrad.tensor([[1., 2.], [3., 4.]]))
    tensor(-2.)
    """
    return _det(A)


def slogdet(A: Tensor) -> tuple[Tensor, Tensor]:
    """``(sign, logabsdet)`` of each matrix's determinant; a singular matrix gives ``(0, -inf)``.

    >>> tapegrad.linalg.slogdet(tapegrad.tensor([[1., 2.], [3., 4.]])).sign
    tensor(-1.)
    """
    return _slogdet(A)


def inv_ex(A: Tensor, *, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """``(inverse, info)``; ``info`` (int32) is nonzero for a singular matrix, whose inverse is
    then infinities and NaNs, unless ``check_errors`` raises instead.

    >>> tapegrad.linalg.inv_ex(tapegrad.tensor([[2., 0.], [0., 4.]])).info
    tensor(0, dtype=tapegrad.int32)
    """
    return _inv_ex(A, check_errors=check_errors)


def inv(A: Tensor) -> Tensor:
    """The inverse of each matrix of ``A``; a singular one raises ``LinAlgError``.

    >>> tapegrad.linalg.inv(tapegrad.tensor([[2., 0.], [0., 4.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    inverse, info = _inv_ex(A)
    _ops.raise_for_info(info._data, "linalg.inv", A.ndim == 2)
    return inverse


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with ``A X = B`` (``X A = B`` when not ``left``): ``B`` is a (batch of) vector(s) when it
    is 1-D or shaped as ``A.shape[:-1]``, else of matrices; batch dims broadcast. A singular
    ``A`` raises ``LinAlgError``.

    >>> tapegrad.linalg.solve(tapegrad.tensor([[2., 0.], [0., 4.]]), tapegrad.tensor([2., 2.]))
    tensor([1.0000, 0.5000])
    """
    return _solve(A, B, left=left)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> tuple[Tensor, Tensor]:
    """``(L, info)``: the Cholesky factor (``upper``: ``U`` with ``A = U^T U``) and, per matrix, the
    order of the first leading minor that is not positive-definite (0: none).

    >>> tapegrad.linalg.cholesky_ex(tapegrad.tensor([[4., 2.], [2., 5.]])).L
    tensor([[2., 0.],
            [1., 2.]])
    """
    return _cholesky_ex(A, upper=upper, check_errors=check_errors)


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor ``L`` (``A = L L^T``, from ``A``'s lower triangle; ``upper``: ``U`` with
    ``A = U^T U``, from the upper one). An input that is not positive-definite raises ``LinAlgError``.

    >>> tapegrad.linalg.cholesky(tapegrad.tensor([[4., 2.], [2., 5.]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    factor, info = _cholesky_ex(A, upper=upper)
    _ops.raise_for_info(info._data, "linalg.cholesky", A.ndim == 2)
    return factor


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``(LU, pivots, info)`` of ``A = P L U`` (any ``(*, m, n)``): see ``lu_factor``; ``info`` is
    the first zero pivot of each matrix (1-based; 0 for none).

    >>> tapegrad.linalg.lu_factor_ex(tapegrad.tensor([[1., 2.], [3., 4.]])).info
    tensor(0, dtype=tapegrad.int32)
    """
    return _lu_factor_ex(A, pivot=pivot, check_errors=check_errors)


def lu_factor(A: Tensor, *, pivot: bool = True) -> tuple[Tensor, Tensor]:
    """``(LU, pivots)``: ``A = P L U`` with partial pivoting, ``L`` (unit diagonal, not stored)
    below and ``U`` on and above the diagonal of ``LU``; ``pivots`` (int32, 1-based) are the row
    swaps, as LAPACK and PyTorch give them. A zero pivot raises ``RuntimeError``.

    >>> tapegrad.linalg.lu_factor(tapegrad.tensor([[1., 2.], [3., 4.]])).pivots
    tensor([2, 2], dtype=tapegrad.int32)
    """
    LU, pivots, _ = _lu_factor_ex(A, pivot=pivot, check_errors=True, api="torch.linalg.lu_factor")
    return linalg_lu_factor(LU, pivots)


# ---------------------------------------------------------------- spectral factorizations

def qr(A: Tensor, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """``(Q, R)`` with ``A = Q R`` (Householder reflections, LAPACK's signs): ``mode`` 'reduced',
    'complete' or 'r' (R only).

    >>> tapegrad.linalg.qr(tapegrad.tensor([[3., 1.], [4., 2.]])).R
    tensor([[-5.0000, -2.2000],
            [ 0.0000, -0.4000]])
    """
    return _spectral.qr(A, mode)


def eigh(A: Tensor, UPLO: str = "L") -> tuple[Tensor, Tensor]:
    """``(eigenvalues, eigenvectors)`` of symmetric matrices (from the ``UPLO`` triangle): values
    ascending, vectors the columns of an orthogonal matrix.

    >>> tapegrad.linalg.eigh(tapegrad.tensor([[2., 1.], [1., 2.]])).eigenvalues
    tensor([1., 3.])
    """
    return _spectral.eigh(A, UPLO)


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of symmetric matrices, ascending.

    >>> tapegrad.linalg.eigvalsh(tapegrad.tensor([[2., 1.], [1., 2.]]))
    tensor([1., 3.])
    """
    return _spectral.eigh(A, UPLO).eigenvalues


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values descending.

    >>> tapegrad.linalg.svd(tapegrad.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    return _spectral.svd(A, full_matrices, driver=driver)


def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:
    """The singular values of each matrix of ``A``, descending.

    >>> tapegrad.linalg.svdvals(tapegrad.tensor([[3., 0.], [0., -4.]]))
    tensor([4., 3.])
    """
    return _spectral.svd(A, False, driver=driver).S


def _check_pinv_input(A: Tensor, name: str) -> None:
    if A.ndim < 2 or A._data.dtype.kind != "f":
        raise RuntimeError(f"{name}({A.dtype.scalar_name.capitalize()}{{{list(A.shape)}}}): expected a tensor with 2 "
                           "or more dimensions of float, double, cfloat or cdouble types")


def pinv(A: Tensor, rcond: Any = None, hermitian: bool = False, *, atol: Any = None, rtol: Any = None) -> Tensor:
    """The pseudoinverse of each matrix of ``A``: singular values (``hermitian``: eigenvalue
    magnitudes) at or below ``max(atol, rtol * largest)`` count as zero; ``rtol`` defaults to
    ``eps * max(m, n)`` when ``atol`` is not positive. ``rcond`` is the older name of ``rtol``.

    >>> tapegrad.linalg.pinv(tapegrad.tensor([[2., 0.], [0., 0.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    _check_pinv_input(A, "linalg.pinv")
    if rcond is not None:
        rtol = rcond
    return _spectral.pinv(A, atol=atol, rtol=rtol, hermitian=hermitian)


def matrix_rank(A: Tensor, tol: Any = None, hermitian: bool = False, *, atol: Any = None,
                rtol: Any = None) -> Tensor:
    """The number of singular values (``hermitian``: eigenvalue magnitudes) of each matrix above
    ``max(atol, rtol * largest)`` (int64); ``tol`` is the older name of ``atol``.

    >>> tapegrad.linalg.matrix_rank(tapegrad.tensor([[1., 2.], [2., 4.]]))
    tensor(1)
    """
    name = "torch.linalg.matrix_rank"
    if A.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor input must have at least 2 dimensions.")
    _ops.check_floating(A, "linalg.matrix_rank")
    if tol is not None:
        atol, rtol = tol, 0.0
    from .autograd import grad_mode

    with grad_mode.no_grad():
        A = A.detach()
        if hermitian:
            _ops.check_square(A, "linalg.matrix_rank")
            values = ew.abs(eigvalsh(A))
            largest = values.amax(-1, keepdim=True) if values.shape[-1] else values.sum(-1, keepdim=True)
        else:
            values = svdvals(A)
            largest = values[..., :1] if values.shape[-1] else values.sum(-1, keepdim=True)
        cut = _spectral.tolerance(largest, atol, rtol, tuple(A.shape), A._data.dtype)
        return ew.gt(values, cut).sum(-1)


_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> tuple[Any, ...]:
    """``(solution, residuals, rank, singular_values)`` of the least-squares problems min ||A X - B||:
    the minimum-norm solution (singular values at or below ``rcond`` times the largest count as
    zero, ``rcond`` defaulting to ``eps * max(m, n)``). As in PyTorch, ``rank`` is returned by the
    drivers 'gelsy' (the CPU default), 'gelsd' and 'gelss', ``singular_values`` by 'gelsd' and
    'gelss', and ``residuals`` (squared residual norms) where ``m > n``, every matrix has full rank
    and the driver is not 'gelsy'; the others are empty. ``B`` is a (batch of) vector(s) when it has
    one dim fewer than ``A``. The solution is ``pinv(A) @ B``, so its gradient is ``pinv``'s.

    >>> tapegrad.linalg.lstsq(tapegrad.tensor([[1.], [1.]]), tapegrad.tensor([[1.], [3.]])).solution
    tensor([[2.]])
    """
    name = "torch.linalg.lstsq"
    _ops.check_same_device(A, B)
    _ops.check_floating(A, "linalg.lstsq")
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(f"{name}: Expected input and other to have the same dtype, but got input's dtype "
                           f"{_DTYPE_WORDS[A.dtype.name]} and other's dtype {_DTYPE_WORDS[B.dtype.name]}")
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if not (A.ndim >= B.ndim and A.ndim - B.ndim <= 1):
        raise RuntimeError(f"{name}: input.dim() must be greater or equal to other.dim() and (input.dim() - "
                           "other.dim()) <= 1")
    vector = A.ndim == B.ndim + 1
    B_matrix = B.unsqueeze(-1) if vector else B
    _ops.broadcast_batch(A, B_matrix)
    if A.shape[-2] != B_matrix.shape[-2]:
        raise RuntimeError(f"{name}: input.size(-2) should match other.size(-{1 if vector else 2})")
    on_cuda = A.device.type == "cuda"
    if driver is None:
        driver = "gels" if on_cuda else "gelsy"
    elif on_cuda and driver != "gels":
        raise RuntimeError(f"{name}: `driver` other than `gels` is not supported on CUDA")
    elif driver not in _LSTSQ_DRIVERS:
        raise RuntimeError(f"{name}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    m, n = A.shape[-2], A.shape[-1]
    if rcond is None:
        rcond = float(_np_eps(A)) * max(m, n)
    solution = _matmul(_spectral.pinv(A, atol=0.0, rtol=rcond, name="linalg.lstsq"), B_matrix)
    from .autograd import grad_mode
    from .creation import empty

    with grad_mode.no_grad():
        values = svdvals(A.detach())
        largest = values[..., :1] if values.shape[-1] else values.sum(-1, keepdim=True)
        rank = ew.gt(values, ew.mul(largest, rcond)).sum(-1)
    none = empty(0, dtype=A.dtype, device=A.device)
    residuals = none
    if m > n and driver != "gelsy" and bool((rank == n).all()):
        residuals = ew.sub(_matmul(A, solution), B_matrix).pow(2).sum(-2)
    if vector:
        solution = solution.squeeze(-1)
    return linalg_lstsq(solution, residuals,
                        rank if driver != "gels" else empty(0, dtype=_dtypes.int64, device=A.device),
                        values if driver in ("gelsd", "gelss") else none)


_DTYPE_WORDS = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}


def _np_eps(A: Tensor) -> float:
    import numpy as np

    return float(np.finfo(A._data.dtype).eps)


def cond(A: Tensor, p: Any = None) -> Tensor:
    """The condition number of each matrix of ``A`` in the ``p``-norm: for ``None``, 2 and -2 the
    ratio of its extreme singular values (any shape), for 'fro', 'nuc', 1, -1, inf and -inf
    ``norm(A) * norm(inv(A))`` (square matrices; inf where singular).

    >>> tapegrad.linalg.cond(tapegrad.tensor([[1., 0.], [0., 4.]]))
    tensor(4.)
    """
    numeric = not isinstance(p, (str, bool)) and p is not None
    if not (p is None or p in ("fro", "nuc") or numeric and abs(float(p)) in (1.0, 2.0, math.inf)):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {_order_text(p)}")
    _ops.check_matrix(A, "linalg.cond", "A")
    _ops.check_floating(A, "linalg.cond")
    if p is None or (not isinstance(p, str) and abs(float(p)) == 2.0):
        values = svdvals(A)
        if values.shape[-1] == 0:
            return values.sum(-1)
        high, low = values[..., 0], values[..., -1]
        return ew.div(low, high) if p == -2 else ew.div(high, low)
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.cond(ord={_order_text(p)}): A must be batches of square matrices, but they are "
                           f"{A.shape[-2]} by {A.shape[-1]} matrices")
    inverse, info = _inv_ex(A)
    value = ew.mul(matrix_norm(A, p), matrix_norm(inverse, p))
    return ew.where(ew.gt(info, 0), ew.add(ew.mul(value, 0), math.inf), value)


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential of each matrix of ``A``: a Taylor polynomial of ``A / 2^s`` (Horner's
    rule, degree 15 for float64 and 10 for float32) squared ``s`` times, ``s`` chosen so that the
    scaled 1-norm is at most 1/2. Built from tapegrad ops, so its gradient (of any order) is the
    chain rule through them.

    >>> tapegrad.linalg.matrix_exp(tapegrad.zeros(2, 2))
    tensor([[1., 0.],
            [0., 1.]])
    """
    _ops.check_square(A, "linalg.matrix_exp")
    _ops.check_floating(A, "linalg.matrix_exp")
    n = A.shape[-1]
    if A.numel() == 0:
        return ew.clone(A)
    from .autograd import grad_mode

    with grad_mode.no_grad():
        norm1 = float(_amax(ew.abs(A.detach()).sum(-2), -1).max())
    squarings = 0
    if math.isfinite(norm1) and norm1 > 0.5:
        squarings = math.ceil(math.log2(norm1 / 0.5))
    scaled = ew.mul(A, 0.5 ** squarings) if squarings else A
    identity = _ops.eye_like(n, A)
    degree = 15 if A._data.dtype.itemsize == 8 else 10
    result = ew.add(identity, ew.div(scaled, degree))
    for k in range(degree - 1, 0, -1):
        result = ew.add(identity, ew.div(_matmul(scaled, result), k))
    for _ in range(squarings):
        result = _matmul(result, result)
    return result


def lu(A: Tensor, *, pivot: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``(P, L, U)`` with ``A = P L U``: ``lu_factor`` unpacked (``lu_unpack``), so L and U carry
    the factorization's gradient.

    >>> tapegrad.linalg.lu(tapegrad.tensor([[1., 2.], [3., 4.]])).U
    tensor([[3.0000, 4.0000],
            [0.0000, 0.6667]])
    """
    LU, pivots, _ = _lu_factor_ex(A, pivot=pivot)
    return linalg_lu(*lu_unpack(LU, pivots))


# ---------------------------------------------------------------- norms

def _order_text(ord: Any) -> str:
    return ord if isinstance(ord, str) else f"{float(ord):g}"


def matrix_norm(A: Tensor, ord: Any = "fro", dim: Sequence[int] = (-2, -1), keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """The ``ord``-norm of the matrices in dims ``dim`` of ``A``: ``'fro'`` (Frobenius), ``'nuc'``
    (the sum of the singular values), 2 / -2 (the largest / smallest singular value), 1 / -1
    (largest / smallest column sum of absolute values), ``inf`` / ``-inf`` (the same over rows).

    >>> tapegrad.linalg.matrix_norm(tapegrad.tensor([[1., -2.], [3., 4.]]), ord=1)
    tensor(6.)
    """
    name = "linalg.matrix_norm"
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise RuntimeError(f"{name}: Order {ord} not supported.")
    elif abs(float(ord)) not in (1.0, 2.0, math.inf):
        raise RuntimeError(f"{name}: Order {_order_text(ord)} not supported.")
    _ops.check_matrix(A, name, "A")
    _ops.check_floating(A, name)
    dims = [dim] if isinstance(dim, int) else list(dim)
    if len(dims) != 2:
        raise RuntimeError(f"{name}: dim must be a 2-tuple. Got {' '.join(str(d) for d in dims)}")
    first, second = (_wrap_dim(d, A.ndim) for d in dims)
    if first == second:
        raise RuntimeError(f"{name}: dims must be different. Got ({first}, {second})")
    dtype = _check_norm_dtype(dtype, A, name)
    if dtype is not None:
        A = A.to(dtype)
    if ord == "nuc" or (not isinstance(ord, str) and abs(float(ord)) == 2.0):
        # The matrices' dims moved last, as PyTorch does, then reduced over their singular values.
        values = svdvals(A.permute([d for d in range(A.ndim) if d not in (first, second)] + [first, second]))
        out = values.sum(-1) if ord == "nuc" else (_amax if float(ord) > 0 else _amin)(values, -1)
        if keepdim:
            for d in sorted((first, second)):
                out = out.unsqueeze(d)
        return out
    if ord == "fro":
        return _vector_norm(A, 2, (first, second), keepdim)
    largest = float(ord) > 0
    if abs(float(ord)) == math.inf:
        # The inf-norm is the 1-norm of the transpose: sum along the rows' dim instead.
        first, second = second, first
    if not keepdim and first < second:
        second -= 1  # the first reduction removed a dim before it
    sums = _vector_norm(A, 1, (first,), keepdim)
    return _amax(sums, second, keepdim) if largest else _amin(sums, second, keepdim)


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """A vector norm (``vector_norm``) or a matrix norm (``matrix_norm``), chosen as PyTorch does:
    a matrix norm for a string ``ord``, or a numeric ``ord`` with two ``dim`` (or a 2-D ``A`` and
    no ``dim``); without ``ord``, the 2-norm of the flattened dims.

    >>> tapegrad.linalg.norm(tapegrad.tensor([[1., -2.], [3., 4.]]), 1)
    tensor(6.)
    """
    dims = None if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    if dims is not None:
        if len(dims) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    elif ord is not None and A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.ndim}D.")
    if isinstance(ord, str):
        return matrix_norm(A, ord, (0, 1) if dims is None else dims, keepdim, dtype=dtype)
    if ord is not None and (len(dims) == 2 if dims is not None else A.ndim == 2):
        return matrix_norm(A, ord, (0, 1) if dims is None else dims, keepdim, dtype=dtype)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)


# ---------------------------------------------------------------- powers and chains of products

def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` multiplied by itself ``n`` times (the identity for 0; powers of the inverse for
    negative ``n``), by repeated squaring as PyTorch does.

    >>> tapegrad.linalg.matrix_power(tapegrad.tensor([[1., 1.], [0., 1.]]), 3)
    tensor([[1., 3.],
            [0., 1.]])
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"linalg_matrix_power(): argument 'n' (position 2) must be int, not {type(n).__name__}")
    _ops.check_square(A, "linalg.matrix_power")
    if n == 0:
        # The identity, but in A's graph with a zero gradient (as PyTorch's copy into a clone).
        from .creation import zeros

        keep = zeros(tuple(A.shape), dtype=_dtypes.bool_, device=A.device)
        return ew.where(keep, A, _ops.eye_like(A.shape[-1], A))
    if n == 1:
        return ew.clone(A)
    if n == -1:
        return inv(A)
    a = inv(A) if n < 0 else A
    n = abs(n)
    if n == 2:
        return _matmul(a, a)
    if n == 3:
        return _matmul(_matmul(a, a), a)
    # The bits of n from the lowest: square z each step, multiply it in where the bit is set.
    z = result = None
    while n > 0:
        bit, n = n % 2, n // 2
        z = a if z is None else _matmul(z, z)
        if bit:
            result = z if result is None else _matmul(result, z)
    return result


_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int", "bool": "bool"}


def _chain_order(dims: list[int]) -> list[list[int]]:
    """``split[i][j]``: where the cheapest product of matrices i..j splits (``dims[i]`` by
    ``dims[i + 1]`` is matrix i), by PyTorch's dynamic programme (ties keep the first split)."""
    count = len(dims) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = -1
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] < 0 or q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """The product of two or more matrices, multiplied in the cheapest order; the first may be
    a row vector and the last a column vector (1-D).

    >>> tapegrad.linalg.multi_dot([tapegrad.ones(2), tapegrad.ones(2, 3), tapegrad.ones(3)])
    tensor(6.)
    """
    count = len(tensors)
    if count < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {count}")
    first, last = tensors[0], tensors[-1]
    out_shape: list[int] = []
    if first.ndim not in (1, 2):
        raise RuntimeError(f"multi_dot(): the first tensor must be 1D or 2D but got {first.ndim}D")
    if first.ndim == 2:
        out_shape.append(first.shape[0])
    if last.ndim not in (1, 2):
        raise RuntimeError(f"multi_dot(): the last tensor must be 1D or 2D but got {last.ndim}D")
    if last.ndim == 2:
        out_shape.append(last.shape[1])
    for i in range(1, count - 1):
        if tensors[i].ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {tensors[i].ndim}D")
    matrices = [first.unsqueeze(0) if first.ndim == 1 else first, *tensors[1:-1],
                last.unsqueeze(-1) if last.ndim == 1 else last]
    for i in range(1, count):
        if matrices[i].dtype != matrices[0].dtype:
            raise RuntimeError(f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                               f"{_TYPE_NAMES[matrices[0].dtype.name]} and tensor {i} "
                               f"{_TYPE_NAMES[matrices[i].dtype.name]}")
        if matrices[i].device != matrices[0].device:
            raise RuntimeError(f"multi_dot(): all tensors must be on the same device but tensor 0 is on "
                               f"{matrices[0].device} and tensor {i} on {matrices[i].device}")
        if matrices[i - 1].shape[-1] != matrices[i].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {i - 1} and {i} with shapes {list(tensors[i - 1].shape)} and "
                               f"{list(tensors[i].shape)} cannot be multiplied")
    if count == 2:
        result = _mm(matrices[0], matrices[1])
    elif count == 3:
        a, b = matrices[0].shape
        c, d = matrices[2].shape
        if a * c * (b + d) > b * d * (a + c):
            result = _mm(matrices[0], _mm(matrices[1], matrices[2]))
        else:
            result = _mm(_mm(matrices[0], matrices[1]), matrices[2])
    else:
        split = _chain_order([m.shape[0] for m in matrices] + [matrices[-1].shape[1]])

        def product(i: int, j: int) -> Tensor:
            return matrices[i] if i == j else _mm(product(i, split[i][j]), product(split[i][j] + 1, j))

        result = product(0, count - 1)
    return result.reshape(tuple(out_shape))
