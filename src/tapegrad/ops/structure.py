"""Tensor methods PyTorch has beyond the op modules' own, and functions that build, embed,
compare or describe structure: in-place products and shape changes, diagonal and slice
embedding, covariance, windows, integration, Vandermonde matrices, set membership, the mode,
and dtype introspection.

Almost everything here is a composite of recorded ops, so gradients, compiled steps and CUDA
come from those ops; the in-place forms write through ``ops.inplace.update`` (PyTorch's
version counting and ``CopySlices``). The in-place shape methods (``t_``, ``transpose_``,
``squeeze_``, ``unsqueeze_``, …) change the tensor's own view of its buffer and move its
history to a step named as PyTorch names it (``TBackward1``, ``TransposeBackward1``, …).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..compiler import trace
from .. import return_types
from ..tensor import Tensor, _wrap, _wrap_dim
from . import elementwise as ew
from . import inplace, matmul, matrix_functions, movement, rearrange
from .composite import _without_grad
from .registry import OUTPUT, OpDef, record
from ..user_warnings import warn_user

__all__: list[str] = [
    "adjoint", "bartlett_window", "blackman_window", "can_cast", "combinations", "corrcoef", "cov",
    "cumulative_trapezoid", "diag_embed", "diagflat", "diagonal_scatter", "dist", "hamming_window", "hann_window",
    "index_put", "index_put_",
    "is_nonzero", "is_same_size", "is_signed", "isin", "kaiser_window", "logspace", "mode", "msort", "promote_types",
    "renorm", "result_type", "select_scatter", "slice_scatter", "trapezoid", "trapz", "unravel_index", "vander",
]


# ================================================================ methods over existing functions

def _product_shape(name: str, a: Tensor, b: Tensor) -> tuple[int, ...] | None:
    """The shape of the product part of ``name`` (``addmm``, …), None for operands it refuses."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if name == "addmm" and len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]:
        return (sa[0], sb[1])
    if name == "addmv" and len(sa) == 2 and len(sb) == 1 and sa[1] == sb[0]:
        return (sa[0],)
    if name in ("addbmm", "baddbmm") and len(sa) == 3 and len(sb) == 3 and sa[0] == sb[0] and sa[2] == sb[1]:
        return (sa[1], sb[2]) if name == "addbmm" else (sa[0], sa[1], sb[2])
    if name == "addr" and len(sa) == 1 and len(sb) == 1:
        return (sa[0], sb[0])
    return None


def _in_place_product(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``self = fn(self, a, b, beta=, alpha=)`` in place (``addmm_``, ``addmv_``, …)."""
    name = fn.__name__

    def method(self: Tensor, first: Tensor, second: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        shape, own = _product_shape(name, first, second), tuple(self.shape)
        if shape is not None and shape != own:
            # PyTorch's checks differ by op: addr_ and addmv_ name the operands, the others the sizes.
            if name == "addr":
                raise RuntimeError(f"size mismatch, input: {list(own)}, v1: {list(first.shape)}, "
                                   f"v2: {list(second.shape)}")
            if name == "addmv" and (len(own) != 1 or own[0] not in (1, shape[0])):
                size = f"({own[0]})" if len(own) == 1 else str(list(own))
                raise RuntimeError(f"size mismatch, got input {size}, mat ({first.shape[0]}x{first.shape[1]}), "
                                   f"vec ({second.shape[0]})")
            raise RuntimeError(f"Bad in-place call: input tensor size {list(own)} and output tensor "
                               f"size {list(shape)} should match")
        # The products save their factors, never ``self``: no copy of the old value is needed.
        return inplace.update(self, lambda t: fn(t, first, second, beta=beta, alpha=alpha), (first, second),
                              uses_old=False)

    method.__name__ = fn.__name__ + "_"
    return method


def _check_matrices(input: Tensor, name: str) -> None:
    if input.ndim < 2:
        raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of matrices. "
                           f"Got {input.ndim}-D tensor.")


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims, a view (the transpose for real dtypes).

    >>> tapegrad.adjoint(tapegrad.tensor([[1, 2], [3, 4]]))
    tensor([[1, 3],
            [2, 4]])
    """
    _check_matrices(input, "adjoint()")
    return movement.transpose(input, -2, -1)


def _mH(input: Tensor) -> Tensor:
    _check_matrices(input, "mH")
    return movement.transpose(input, -2, -1)


def _mT(input: Tensor) -> Tensor:
    _check_matrices(input, "mT")
    return movement.transpose(input, -2, -1)


def _T(input: Tensor) -> Tensor:
    """``x.T``: all dims reversed, which PyTorch deprecates for anything but a matrix."""
    if input.ndim == 0:
        warn_user("Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
                  UserWarning)
    elif input.ndim != 2:
        warn_user("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
                  "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
                  "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
                  "tensor.", UserWarning)
    return movement.reversed_dims(input)


def _H(input: Tensor) -> Tensor:
    """``x.H``: the conjugate transpose of a matrix (the transpose for real dtypes)."""
    if input.ndim == 0:
        warn_user("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().", UserWarning)
        return movement.reversed_dims(input)
    if input.ndim != 2:
        hint = " For batches of matrices, consider using tensor.mH" if input.ndim > 2 else ""
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {input.ndim}-D tensor.{hint}")
    return movement.transpose(input, 0, 1)


def _sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A broadcast gradient summed back to an operand's ``shape``, on either device."""
    if isinstance(g._data, np.ndarray):
        from .reduce import sum_to

        return sum_to(g, shape)
    from .pointwise import cuda_sum_to

    return cuda_sum_to(g, shape)


def _dist_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    from .composite import _norm_vjp

    input, other, out = step.saved_values()
    (p,) = step.attrs
    difference = ew.sub(input, other)
    (grad,) = _norm_vjp(_NormAt(difference, out, (p, tuple(range(difference.ndim)), False)), g)
    return (_sum_to(grad, step.input_meta[0][0]) if step.needs_input_grad(0) else None,
            _sum_to(ew.neg(grad), step.input_meta[1][0]) if step.needs_input_grad(1) else None)


DIST = OpDef("dist", "DistBackward0", _dist_vjp)


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other`` (broadcast).

    >>> tapegrad.dist(tapegrad.tensor([0., 3.]), tapegrad.tensor([4., 0.]))
    tensor(5.)
    """
    from .composite import norm

    difference = _without_grad(ew.sub, input, other)
    if not difference.is_floating_point():
        raise RuntimeError(f"norm(): input dtype should be either floating point or complex. "
                           f"Got {difference.dtype.scalar_name} instead.")
    p = float(p)
    out = _without_grad(norm, difference, p)
    if grad_mode.state.enabled and (input._requires_grad or other._requires_grad):
        return record(DIST, (input, other), out, (p,), saved=(input, other, OUTPUT))
    return out


# ================================================================ in-place shape changes

def _reshape_back_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    return (g.reshape(step.input_meta[0][0]),)


def _transpose_back_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    d0, d1 = step.attrs
    return (g.transpose(d0, d1),)


T_INPLACE = OpDef("t_", "TBackward1", _transpose_back_vjp)
TRANSPOSE_INPLACE = OpDef("transpose_", "TransposeBackward1", _transpose_back_vjp)
SQUEEZE_ALL_INPLACE = OpDef("squeeze_", "SqueezeBackward3", _reshape_back_vjp)
SQUEEZE_DIM_INPLACE = OpDef("squeeze_dim_", "SqueezeBackward4", _reshape_back_vjp)
SQUEEZE_DIMS_INPLACE = OpDef("squeeze_dims_", "SqueezeBackward5", _reshape_back_vjp)
UNSQUEEZE_INPLACE = OpDef("unsqueeze_", "UnsqueezeBackward1", _reshape_back_vjp)


def _restride(self: Tensor, fn: Callable[..., Tensor], args: tuple, op: OpDef, attrs: Any,
              undo: tuple[Callable[..., Tensor], tuple]) -> Tensor:
    """Make ``self`` the view ``fn(self, *args)`` of its own buffer, as PyTorch's in-place view ops;
    ``undo`` is the view op taking the new layout back to the old one.

    The data do not move, but the shape does: ``self``'s version goes up, so that a step that
    saved it refuses to run backward and views of it remake their history, and its history
    moves to a step under ``op``.
    """
    inplace.check_not_leaf(self)
    view = _without_grad(fn, self, *args)  # checks the arguments before anything changes
    if grad_mode.state.enabled and self._requires_grad:
        record(op, (self,), view, attrs)  # the edge goes to self's history as it was
        self.grad_fn = view.grad_fn
    self._data = view._data
    if self._base is not None:
        # A view stays a view of its base, which keeps its layout: the chain remakes the new
        # shape from the base, and the other views of the base remain right.
        self._view_chain = view._view_chain
    else:
        # Views made earlier have chains written for the old layout: they undo this change
        # first when they remake their history (Tensor._effective_chain).
        self._layout_undo = self._layout_undo + (undo,)
    self._counter.value += 1
    if self._base is not None:
        self._view_version = self._counter.value
    return self


def _unsqueeze_all(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Insert size-one dims at ``dims`` (ascending, in the result's numbering): undoes a squeeze."""
    for d in dims:
        x = movement.unsqueeze(x, d)
    return x


def t_(self: Tensor) -> Tensor:
    if self.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return _restride(self, movement.t, (), T_INPLACE, (0, 1) if self.ndim == 2 else (0, 0), (movement.t, ()))


def transpose_(self: Tensor, dim0: int, dim1: int) -> Tensor:
    d0, d1 = (_wrap_dim(dim0, self.ndim), _wrap_dim(dim1, self.ndim)) if self.ndim else (0, 0)
    return _restride(self, movement.transpose, (dim0, dim1), TRANSPOSE_INPLACE, (d0, d1),
                     (movement.transpose, (d0, d1)))


def squeeze_(self: Tensor, dim: Any = None) -> Tensor:
    op = (SQUEEZE_ALL_INPLACE if dim is None else SQUEEZE_DIM_INPLACE if isinstance(dim, int)
          else SQUEEZE_DIMS_INPLACE)
    shape = tuple(self.shape)
    asked = range(len(shape)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    # The dims that go (size one among those asked for), where unsqueezing puts them back.
    ones = {d for d, n in enumerate(shape) if n == 1}
    removed = sorted({_wrap_dim(d, len(shape)) if shape else 0 for d in asked} & ones)
    return _restride(self, movement.squeeze, (dim,), op, None, (_unsqueeze_all, (tuple(removed),)))


def unsqueeze_(self: Tensor, dim: int) -> Tensor:
    where = _wrap_dim(dim, self.ndim + 1)
    return _restride(self, movement.unsqueeze, (dim,), UNSQUEEZE_INPLACE, None, (movement.squeeze, (where,)))


def tril_(self: Tensor, diagonal: int = 0) -> Tensor:
    return inplace.update(self, lambda t: rearrange.tril(t, diagonal), uses_old=False)


def triu_(self: Tensor, diagonal: int = 0) -> Tensor:
    return inplace.update(self, lambda t: rearrange.triu(t, diagonal), uses_old=False)


def _diagonal_mask(shape: tuple[int, ...], wrap: bool) -> np.ndarray:
    """Where ``fill_diagonal_`` writes: PyTorch's positions ``i * (sum of strides)`` in the
    flattened tensor (for a tall matrix with ``wrap``, they run on past the first square)."""
    if len(shape) < 2:
        raise RuntimeError("dimensions must larger than 1")
    if len(shape) > 2 and any(s != shape[0] for s in shape):
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(shape, np.bool_)
    numel = mask.size
    if not numel:
        return mask
    contiguous_strides = np.cumprod((1,) + tuple(shape[:0:-1]))[::-1]
    step = int(contiguous_strides.sum())
    count = min(shape)
    if wrap and len(shape) == 2 and shape[0] > shape[1]:
        positions = np.arange(0, numel, step)
    else:
        positions = np.arange(count) * step
    mask.reshape(-1)[positions] = True
    return mask


def fill_diagonal_(self: Tensor, fill_value: Any, wrap: bool = False) -> Tensor:
    """Fill the main diagonal (all dims equal) in place; ``wrap`` continues a tall matrix's
    diagonal below its first ``N`` rows after one skipped row, as NumPy's ``fill_diagonal``."""
    from ..creation import full_like

    if isinstance(fill_value, Tensor):
        if fill_value.ndim:
            raise TypeError("fill_diagonal_(): argument 'fill_value' (position 1) must be Number, not Tensor")
        fill_value = fill_value.item()  # a 0-d tensor is taken as its number, as in PyTorch
    mask = _diagonal_mask(tuple(self.shape), wrap)
    constant = rearrange._constant(mask, self)
    # The value is made in self's dtype first: a float fills an integer tensor truncated, as in PyTorch.
    return inplace.update(self, lambda t: ew.where(constant, full_like(t, fill_value), t), uses_old=False)


class _NormAt:
    """What the vector norm's VJP reads from its step (input, norm, attributes), for reusing
    that VJP inside ``renorm``'s."""

    __slots__ = ("values", "attrs")

    def __init__(self, x: Tensor, norms: Tensor, attrs: tuple) -> None:
        self.values = (x, norms)
        self.attrs = attrs

    def saved_values(self) -> tuple[Tensor, Tensor]:
        return self.values


def _renorm_pieces(x: Tensor, p: float, axis: int, maxnorm: float) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    from .composite import norm

    others = tuple(d for d in range(x.ndim) if d != axis)
    norms = norm(x, p, others, keepdim=True)
    # PyTorch's factor: maxnorm / (norm + 1e-7) where the norm is too large, else 1.
    factor = ew.where(ew.gt(norms, maxnorm), ew.div(maxnorm, ew.add(norms, 1e-7)), 1.0)
    return norms, factor, others


def _renorm_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    from .composite import _norm_vjp
    from .reduce import sum as total

    (x,) = step.saved_values()
    p, axis, maxnorm = step.attrs
    norms, _, others = _renorm_pieces(x, p, axis, maxnorm)
    # PyTorch's renorm_backward: factor * (g - nb / (norm + 1e-7)) where the slice was scaled,
    # nb being the norm's VJP of sum(x * g) over the slice.
    (nb,) = _norm_vjp(_NormAt(x, norms, (p, others, True)), total(ew.mul(x, g), others, keepdim=True))
    inverse = ew.reciprocal(ew.add(norms, 1e-7))
    scaled = ew.mul(ew.mul(inverse, maxnorm), ew.sub(g, ew.mul(inverse, nb)))
    return (ew.where(ew.gt(norms, maxnorm), scaled, g),)


RENORM = OpDef("renorm", "RenormBackward0", _renorm_vjp)


def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to norm ``maxnorm``.

    >>> tapegrad.renorm(tapegrad.tensor([[3., 4.], [0.3, 0.4]]), 2, 0, 1.0)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {_number(maxnorm)}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    axis = _wrap_dim(dim, input.ndim)
    if not input.is_floating_point():
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {input.dtype.scalar_name}")
    p, maxnorm = float(p), float(maxnorm)
    out = _without_grad(lambda: ew.mul(input, _renorm_pieces(input, p, axis, maxnorm)[1]))
    if grad_mode.state.enabled and input._requires_grad:
        return record(RENORM, (input,), out, (p, axis, maxnorm), saved=(input,))
    return out


def renorm_(self: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    return inplace.update(self, lambda t: renorm(t, p, dim, maxnorm))


def _number(value: Any) -> str:
    """A number as PyTorch prints a Scalar in messages (``-1``, ``0.5``)."""
    return str(int(value)) if float(value).is_integer() else str(value)


# ================================================================ diagonals and embedding

def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Each last-dim vector of ``input`` on the diagonal ``offset`` of dims ``dim1``, ``dim2``
    of a new tensor (zeros elsewhere).

    >>> tapegrad.diag_embed(tapegrad.tensor([1, 2]))
    tensor([[1, 0],
            [0, 2]])
    """
    ndim = input.ndim + 1
    d1, d2 = _wrap_dim(dim1, ndim), _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    size = (input.shape[-1] if input.ndim else 1) + abs(int(offset))
    lead = iter(tuple(input.shape[:-1]))
    shape = tuple(size if d in (d1, d2) else next(lead) for d in range(ndim))
    src = input if input.ndim else movement.reshape(input, (1,))
    return rearrange.diagonal_scatter_zeros(src, shape, int(offset), d1, d2, rearrange.DIAG_EMBED)


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """The flattened ``input`` as the diagonal ``offset`` of a square matrix.

    >>> tapegrad.diagflat(tapegrad.tensor([[1, 2]]))
    tensor([[1, 0],
            [0, 2]])
    """
    return rearrange.diag(movement.reshape(input, (-1,)), offset)


def _check_region(src: Tensor, region: tuple[int, ...]) -> None:
    if not isinstance(src, Tensor):
        raise TypeError(f"expected Tensor as argument 'src', but got {type(src).__name__}")
    if tuple(src.shape) != region:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(region)}")


def _placed(input: Tensor, src: Tensor, axis: int, positions: np.ndarray) -> Tensor:
    """``input`` with its entries ``positions`` along ``axis`` taken from ``src`` (which has
    ``len(positions)`` there): a gather from ``cat([input, src])``, so recorded ops on any device."""
    from .index import index_select

    size = input.shape[axis]
    order = np.arange(size, dtype=np.int64)
    order[positions] = size + np.arange(len(positions), dtype=np.int64)
    joined = movement.cat([input, src if src.dtype is input.dtype else src.to(input.dtype)], axis)
    return index_select(joined, axis, rearrange._constant(order, input))


def _scatter_result(op: OpDef, input: Tensor, src: Tensor, out: Tensor, attrs: Any) -> Tensor:
    if grad_mode.state.enabled and (input._requires_grad or src._requires_grad):
        return record(op, (input, src), out, attrs)
    return out


def _src_grad(step: Step, g: Tensor) -> Tensor:
    """``g``'s region in the source's dtype (a float64 source of a float32 tensor gets float64)."""
    dtype = _dtypes.from_numpy_dtype(step.input_meta[1][1])
    return g if dtype is g.dtype else g.to(dtype)


def _zeros_of_src(step: Step, g: Tensor) -> Tensor:
    from ..creation import zeros

    return zeros(step.input_meta[1][0], dtype=g.dtype, device=g.device)


def _slice_scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    from .index import getitem

    axis, start, end, stride = step.attrs
    grad_input = slice_scatter(g, _zeros_of_src(step, g), axis, start, end, stride) if step.needs_input_grad(0) \
        else None
    region = getitem(g, (slice(None),) * axis + (slice(start, end, stride),))
    return grad_input, _src_grad(step, region) if step.needs_input_grad(1) else None


def _select_scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    axis, index = step.attrs
    grad_input = select_scatter(g, _zeros_of_src(step, g), axis, index) if step.needs_input_grad(0) else None
    return grad_input, _src_grad(step, movement.select(g, axis, index)) if step.needs_input_grad(1) else None


def _diagonal_scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    offset, d1, d2 = step.attrs
    grad_input = diagonal_scatter(g, _zeros_of_src(step, g), offset, d1, d2) if step.needs_input_grad(0) else None
    region = rearrange.diagonal(g, offset, d1, d2)
    return grad_input, _src_grad(step, region) if step.needs_input_grad(1) else None


SLICE_SCATTER = OpDef("slice_scatter", "SliceScatterBackward0", _slice_scatter_vjp)
SELECT_SCATTER = OpDef("select_scatter", "SelectScatterBackward0", _select_scatter_vjp)
DIAGONAL_SCATTER = OpDef("diagonal_scatter", "DiagonalScatterBackward0", _diagonal_scatter_vjp)


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """``input`` with its diagonal (as ``diagonal(input, offset, dim1, dim2)``) replaced by ``src``.

    >>> tapegrad.diagonal_scatter(tapegrad.zeros(2, 2), tapegrad.ones(2))
    tensor([[1., 0.],
            [0., 1.]])
    """
    d1, d2 = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    shape = tuple(input.shape)
    offset = int(offset)
    length, _, _ = rearrange._diagonal_layout(shape, offset, d1, d2)
    _check_region(src, tuple(s for d, s in enumerate(shape) if d not in (d1, d2)) + (length,))
    rows, cols = shape[d1], shape[d2]
    on = (np.arange(cols)[None, :] - np.arange(rows)[:, None]) == offset
    placement = [1] * len(shape)
    placement[d1], placement[d2] = rows, cols
    mask = np.ascontiguousarray(np.broadcast_to((on if d1 < d2 else on.T).reshape(placement), shape))

    def forward() -> Tensor:
        cast = src if src.dtype is input.dtype else src.to(input.dtype)
        placed = rearrange.diagonal_scatter_zeros(cast, shape, offset, d1, d2)
        return ew.where(rearrange._constant(mask, input), placed, input)

    return _scatter_result(DIAGONAL_SCATTER, input, src, _without_grad(forward), (offset, d1, d2))


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """``input`` with ``input.select(dim, index)`` replaced by ``src``.

    >>> tapegrad.select_scatter(tapegrad.zeros(2, 2), tapegrad.ones(2), 0, 0)
    tensor([[1., 1.],
            [0., 0.]])
    """
    axis = _wrap_dim(dim, input.ndim)
    size = input.shape[axis]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
                         f"dimension {axis}")
    index = int(index) % size
    _check_region(src, tuple(s for d, s in enumerate(input.shape) if d != axis))
    out = _without_grad(lambda: _placed(input, movement.unsqueeze(src, axis), axis, np.array([index])))
    return _scatter_result(SELECT_SCATTER, input, src, out, (axis, index))


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start: int | None = None, end: int | None = None,
                  step: int = 1) -> Tensor:
    """``input`` with ``input[..., start:end:step, ...]`` (along ``dim``) replaced by ``src``.

    >>> tapegrad.slice_scatter(tapegrad.zeros(3), tapegrad.ones(2), start=1)
    tensor([0., 1., 1.])
    """
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    axis = _wrap_dim(dim, input.ndim)
    positions = np.arange(*slice(start, end, step).indices(input.shape[axis]), dtype=np.int64)
    region = tuple(len(positions) if d == axis else s for d, s in enumerate(input.shape))
    _check_region(src, region)
    out = _without_grad(lambda: _placed(input, src, axis, positions))
    return _scatter_result(SLICE_SCATTER, input, src, out, (axis, start, end, step))


# ================================================================ covariance and correlation

def _check_weights(name: str, weights: Tensor, observations: int, integral: bool) -> None:
    if weights.ndim > 1:
        raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions but got {name} with "
                           f"{weights.ndim} dimensions")
    if weights.numel() != observations:
        raise RuntimeError(f"cov(): expected {name} to have the same numel as there are observations in the "
                           f"input but got {weights.numel()} != {observations}")
    if integral and weights.dtype.is_floating_point:
        raise RuntimeError(f"cov(): expected {name} to have integral dtype but got {name} with "
                           f"{weights.dtype.scalar_name} dtype")
    if not integral and not weights.dtype.is_floating_point:
        raise RuntimeError(f"cov(): expected {name} to have floating point dtype but got {name} with "
                           f"{weights.dtype.scalar_name} dtype")
    # A compiled step cannot read values while it is recorded: there the check is left to eager runs.
    if weights.numel() and trace.ACTIVE is None and bool(ew.lt(weights, 0).any()):
        raise RuntimeError(f"cov(): {name} cannot be negative")


def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None,
        aweights: Tensor | None = None) -> Tensor:
    """The covariance matrix of the variables in ``input``'s rows (observations in columns),
    with frequency and observation weights as ``numpy.cov``.

    >>> tapegrad.cov(tapegrad.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    import warnings

    from .reduce import sum as total

    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = input if input.ndim == 2 else movement.reshape(input, (1, -1))
    observations = x.shape[1]
    if input.dtype is _dtypes.bool_:
        raise RuntimeError("cov(): bool dtype is not supported for input")
    weights = None
    if fweights is not None:
        _check_weights("fweights", fweights, observations, True)
        weights = fweights
    if aweights is not None:
        _check_weights("aweights", aweights, observations, False)
        weights = aweights if weights is None else ew.mul(weights, aweights)
    if not x.is_floating_point():
        x = x.to(_dtypes.float32 if weights is None or not weights.is_floating_point() else weights.dtype)
    if weights is None:
        average = ew.div(total(x, 1), observations) if observations else total(x, 1) * math.nan
        weight_sum = observations
        norm_factor = observations - correction
    else:
        weight_sum = total(weights)
        average = ew.div(total(ew.mul(x, weights), 1), weight_sum)
        if correction == 0:
            norm_factor = weight_sum
        elif aweights is None:
            norm_factor = ew.sub(weight_sum, correction)
        else:
            norm_factor = ew.sub(weight_sum, ew.div(ew.mul(total(ew.mul(weights, aweights)), correction),
                                                    weight_sum))
    if isinstance(norm_factor, Tensor):
        if trace.ACTIVE is None and bool(ew.le(norm_factor, 0)):
            warn_user("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number "
                      "of observations.", UserWarning)
        norm_factor = ew.clamp_min(norm_factor, 0)  # PyTorch zeroes a non-positive factor
    elif norm_factor <= 0:
        warn_user("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                  "observations.", UserWarning)
        norm_factor = 0
    centred = ew.sub(x, movement.unsqueeze(average, 1))
    weighted = centred if weights is None else ew.mul(centred, weights)
    product = matmul.mm(weighted, movement.t(centred))
    return movement.squeeze(ew.div(product, norm_factor))


def corrcoef(input: Tensor) -> Tensor:
    """Pearson correlation coefficients of the variables in ``input``'s rows, clipped to [-1, 1].

    >>> tapegrad.corrcoef(tapegrad.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if input.ndim > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    c = cov(input)
    if c.ndim == 0:
        return ew.div(c, c)  # a single variable: 1, or NaN where its variance is 0 or NaN
    stddev = ew.sqrt(rearrange.diagonal(c))
    c = ew.div(ew.div(c, movement.unsqueeze(stddev, 1)), movement.unsqueeze(stddev, 0))
    return ew.clamp(c, -1, 1)


# ================================================================ sequences and windows

def logspace(start: float, end: float, steps: int, base: float = 10.0, *, out: Any = None, dtype: Any = None,
             layout: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``steps`` values ``base ** e`` for ``e`` evenly spaced from ``start`` to ``end``.

    >>> tapegrad.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    from ..creation import _check_device, _from_numbers

    if out is not None:
        raise RuntimeError("logspace(out=...) is not supported by tapegrad")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    target = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    place = _check_device(device)
    # PyTorch evaluates the exponents in the result's dtype, from both ends towards the middle.
    kind = target.numpy if target.is_floating_point else np.dtype(np.float64)
    index = np.arange(steps, dtype=kind)
    step = kind.type((end - start) / (steps - 1)) if steps > 1 else kind.type(0)
    half = steps // 2
    with np.errstate(over="ignore"):
        exponents = np.where(index < half, kind.type(start) + step * index,
                             kind.type(end) - step * (kind.type(steps - 1) - index))
        values = np.power(kind.type(base), exponents.astype(kind))
    if not target.is_floating_point:
        values = values.astype(np.float64)
        values = np.trunc(values) if target is not _dtypes.bool_ else values
    return _from_numbers(values.astype(target.numpy), requires_grad, place)


def _window(name: str, window_length: int, periodic: bool, dtype: Any, device: Any, requires_grad: bool,
            values: Callable[[np.ndarray, int, Any], np.ndarray]) -> Tensor:
    """A window of ``window_length`` values; ``values(n, N, t)`` computes the symmetric window of
    length ``N`` at positions ``n`` (of NumPy type ``t``) in that type, in PyTorch's order of
    operations (a periodic window is the symmetric one of length + 1, cut)."""
    from ..creation import _check_device, _from_numbers

    target = _dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()
    if not target.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {target}")
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
    place = _check_device(device)
    if window_length <= 1:
        return _from_numbers(np.ones(window_length, target.numpy), requires_grad, place)
    length = window_length + 1 if periodic else window_length
    kind = target.numpy.type
    window = values(np.arange(window_length, dtype=kind), length, kind)
    return _from_numbers(np.asarray(window).astype(target.numpy), requires_grad, place)


def _bartlett(n: np.ndarray, N: int, t: Any) -> np.ndarray:
    window = n * t(2.0 / (N - 1))
    first_half = ((N - 1) >> 1) + 1
    window[first_half:] = t(2) - window[first_half:]
    return window


def hann_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None,
                layout: Any = None, requires_grad: bool = False) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi n / (N - 1))``.

    >>> tapegrad.hann_window(4, periodic=False)
    tensor([0.0000, 0.7500, 0.7500, 0.0000])
    """
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N, t: np.cos(n * t(2 * np.pi / (N - 1))) * t(-0.5) + t(0.5))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
                   dtype: Any = None, device: Any = None, layout: Any = None, requires_grad: bool = False) -> Tensor:
    """The generalised Hamming window ``alpha - beta cos(2 pi n / (N - 1))``.

    >>> tapegrad.hamming_window(3, periodic=False)
    tensor([0.0800, 1.0000, 0.0800])
    """
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N, t: np.cos(n * t(2 * np.pi / (N - 1))) * t(-beta) + t(alpha))


def blackman_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None,
                    layout: Any = None, requires_grad: bool = False) -> Tensor:
    """The Blackman window ``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))``.

    >>> tapegrad.blackman_window(3, periodic=False).sum().round()
    tensor(1.)
    """
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N, t: (np.cos(n * t(np.pi / (N - 1)) * t(4)) * t(0.08)
                                    - np.cos(n * t(np.pi / (N - 1)) * t(2)) * t(0.5)) + 0.42)


def bartlett_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None,
                    layout: Any = None, requires_grad: bool = False) -> Tensor:
    """The triangular Bartlett window ``1 - |2 n / (N - 1) - 1|``.

    >>> tapegrad.bartlett_window(5, periodic=False)
    tensor([0.0000, 0.5000, 1.0000, 0.5000, 0.0000])
    """
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   _bartlett)


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None,
                  device: Any = None, layout: Any = None, requires_grad: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - (2 n / (N - 1) - 1)^2)) / I0(beta)``.

    >>> tapegrad.kaiser_window(3, periodic=False, beta=0.0)
    tensor([1., 1., 1.])
    """
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N, t: np.i0(beta * np.sqrt(np.clip(1 - (2 * n.astype(np.float64) / (N - 1) - 1) ** 2,
                                                                0, None))) / np.i0(float(beta)))


# ================================================================ integration

def _sliced(y: Tensor, axis: int, start: int | None, stop: int | None) -> Tensor:
    from .index import getitem

    return getitem(y, (slice(None),) * axis + (slice(start, stop),))


def _spacing(y: Tensor, x: Tensor, axis: int) -> Tensor:
    """The differences of the sample points ``x``, shaped to multiply ``y``'s pairs along ``axis``."""
    if x.ndim == 1:
        if x.shape[0] != y.shape[axis]:
            raise RuntimeError("trapezoid: There must be one `x` value for each sample point")
        dx = ew.sub(x[1:], x[:-1])
        return movement.reshape(dx, (-1,) + (1,) * (y.ndim - axis - 1))
    return ew.sub(_sliced(x, _wrap_dim(axis - y.ndim, x.ndim), 1, None),
                  _sliced(x, _wrap_dim(axis - y.ndim, x.ndim), None, -1))


def trapezoid(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: at sample points ``x``, or spaced ``dx`` (default 1).

    >>> tapegrad.trapezoid(tapegrad.tensor([1., 2., 3.]))
    tensor(4.)
    """
    from .reduce import sum as total

    if isinstance(x, Tensor) and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments: pass `x` or `dx`, not both")
    axis = _wrap_dim(dim, y.ndim)
    if isinstance(x, Tensor):
        if y.shape[axis] == 0:
            return ew.mul(total(y, axis), 0)
        return ew.div(total(ew.mul(_spacing(y, x, axis), ew.add(_sliced(y, axis, 1, None),
                                                                 _sliced(y, axis, None, -1))), axis), 2.0)
    spacing = 1 if x is None and dx is None else (x if dx is None else dx)
    if y.shape[axis] == 0:
        return ew.mul(total(y, axis), 0)
    # PyTorch's form: (sum - (first + last) / 2) * dx.
    ends = ew.mul(ew.add(movement.select(y, axis, 0), movement.select(y, axis, -1)), 0.5)
    return ew.mul(ew.sub(total(y, axis), ends), spacing)


def trapz(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """``trapezoid`` under its older name (``trapz(y, x)`` or ``trapz(y, dx=...)``)."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The running trapezoidal integral along ``dim`` (one value fewer than ``y`` has).

    >>> tapegrad.cumulative_trapezoid(tapegrad.tensor([1., 2., 3.]))
    tensor([1.5000, 4.0000])
    """
    from .reduce import cumsum

    if isinstance(x, Tensor) and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments: pass `x` or `dx`, "
                        "not both")
    axis = _wrap_dim(dim, y.ndim)
    pairs = ew.add(_sliced(y, axis, 1, None), _sliced(y, axis, None, -1))
    if isinstance(x, Tensor):
        return cumsum(ew.div(ew.mul(_spacing(y, x, axis), pairs), 2.0), axis)
    spacing = 1 if x is None and dx is None else (x if dx is None else dx)
    return cumsum(ew.div(ew.mul(pairs, spacing), 2.0), axis)


# ================================================================ more constructions

def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of the vector ``x``: columns ``x ** (N - 1)``, …, ``x ** 0``
    (the other way round with ``increasing``); integers and bools give int64.

    >>> tapegrad.vander(tapegrad.tensor([1, 2, 3]))
    tensor([[1, 1, 1],
            [4, 2, 1],
            [9, 3, 1]])
    """
    from ..creation import ones
    from .reduce import cumprod

    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    count = x.shape[0] if N is None else int(N)
    if count < 0:
        raise RuntimeError("N must be non-negative.")
    dtype = x.dtype if x.is_floating_point() else _dtypes.int64
    first = ones((x.shape[0], min(count, 1)), dtype=dtype, device=x.device)
    if count > 1:
        column = movement.unsqueeze(x.to(dtype), 1)
        powers = cumprod(movement.expand(column, (x.shape[0], count - 1)), 1)
        result = movement.cat([first, powers], 1)
    else:
        result = first
    return result if increasing else rearrange.flip(result, (1,))


def unravel_index(indices: Any, shape: Any) -> tuple[Tensor, ...]:
    """The coordinates in an array of ``shape`` of flat ``indices`` (integer), one tensor per dim.

    >>> tapegrad.unravel_index(tapegrad.tensor(5), (2, 3))
    (tensor(1), tensor(2))
    """
    from ..creation import tensor

    if not isinstance(indices, Tensor):
        indices = tensor(indices)
    if indices.dtype.is_floating_point or indices.dtype is _dtypes.bool_:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    sizes = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in sizes):
        raise ValueError(f"'shape' cannot have negative values, but got {tuple(sizes)}")
    flat = indices.to(_dtypes.int64)
    coordinates = []
    # From the last dim: each coordinate is the floor remainder, as PyTorch (negative indices wrap).
    for size in reversed(sizes):
        coordinates.append(ew.remainder(flat, size) if size else ew.mul(flat, 0))
        flat = ew.floor_divide(flat, size) if size else flat
    return tuple(reversed(coordinates))


def isin(elements: Any, test_elements: Any, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each of ``elements`` is among ``test_elements`` (either may be a number).

    >>> tapegrad.isin(tapegrad.tensor([1, 2, 3]), tapegrad.tensor([2, 4]))
    tensor([False,  True, False])
    """
    from ..creation import tensor

    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError(f"isin() received an invalid combination of arguments - got ({type(elements).__name__}, "
                        f"{type(test_elements).__name__}), but expected a Tensor for elements or test_elements")
    like = elements if isinstance(elements, Tensor) else test_elements
    values = elements if isinstance(elements, Tensor) else tensor(elements, device=like.device)
    tests = test_elements if isinstance(test_elements, Tensor) else tensor(test_elements, device=like.device)
    for t in (values, tests):
        if t.dtype is _dtypes.bool_:
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
    values, flat = values.detach(), movement.reshape(tests.detach(), (-1,))
    if not flat.shape[0]:
        from ..creation import zeros

        hits = zeros(tuple(values.shape), dtype=_dtypes.bool_, device=values.device)
    elif values.numel() * flat.shape[0] <= _ISIN_PAIRS or trace.ACTIVE is not None:
        # Every pair compared at once: recorded elementwise ops, on any device and in compiled steps.
        hits = ew.eq(movement.unsqueeze(values, -1), flat).any(-1)
    else:
        # Many pairs: a binary search of each value among the sorted test elements.
        from .setops import searchsorted
        from .sort import sort

        common = _dtypes._promote_two(values.dtype, flat.dtype)
        ordered = sort(flat.to(common))[0]
        values = values.to(common)
        positions = ew.clamp_max(searchsorted(ordered, values), flat.shape[0] - 1)
        hits = ew.eq(movement.reshape(ordered[positions.reshape(-1)], tuple(values.shape)), values)
    return ew.logical_not(hits) if invert else hits


_ISIN_PAIRS = 1 << 16  # above this many (element, test element) pairs isin searches instead


def msort(input: Tensor) -> Tensor:
    """``input`` sorted along its first dim (``sort(input, 0).values``).

    >>> tapegrad.msort(tapegrad.tensor([[2, 1], [1, 3]]))
    tensor([[1, 1],
            [2, 3]])
    """
    from .sort import sort

    return sort(input, 0)[0]


def _mode_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    from .reduce import _select_vjp

    return _select_vjp(step, g)


MODE = OpDef("mode", "ModeBackward0", _mode_vjp)


def _modes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most frequent value of each row (the smallest among equally frequent ones) and the
    last position where it occurs, as PyTorch's CPU kernel reports."""
    rows = data.reshape(-1, data.shape[-1])
    values = np.empty(rows.shape[0], data.dtype)
    indices = np.empty(rows.shape[0], np.int64)
    for r, row in enumerate(rows):
        order = np.argsort(row, kind="stable")
        ordered = row[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        counts = np.diff(np.r_[starts, ordered.size])
        best = int(np.argmax(counts))  # the first of the longest runs: the smallest value
        values[r] = ordered[starts[best]]
        indices[r] = order[starts[best]:starts[best] + counts[best]].max()
    return values.reshape(data.shape[:-1]), indices.reshape(data.shape[:-1])


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """(values, indices): the most frequent value along ``dim`` and where it last occurs.

    >>> tapegrad.mode(tapegrad.tensor([1, 2, 2, 3])).values
    tensor(2)
    """
    from .statistics import _selected

    if input.ndim == 0:
        values = input.detach().clone()
        indices = movement.to(_wrap(np.zeros((), np.int64)), input.device)
        if grad_mode.state.enabled and input._requires_grad:
            record(MODE, (input,), values, (0, keepdim), saved=(indices,))
        return return_types.mode(values, indices)
    axis = _wrap_dim(dim, input.ndim)
    if input.shape[axis] == 0:
        raise IndexError(f"mode(): Expected reduction dim {axis} to have non-zero size.")
    if trace.ACTIVE is not None:
        raise trace.TraceError("tapegrad.compile does not record mode (it counts values on the host). Call it "
                               "outside the compiled function, or run this function eagerly.")
    host = np.moveaxis(input.detach().cpu().numpy(), axis, -1)
    if host.size:
        values, indices = _modes(host)
    else:
        values, indices = np.empty(host.shape[:-1], host.dtype), np.empty(host.shape[:-1], np.int64)
    # Fresh tensors, not shared constants: the values are the caller's to change.
    values = movement.to(_wrap(np.ascontiguousarray(np.expand_dims(values, axis))), input.device)
    indices = movement.to(_wrap(np.ascontiguousarray(np.expand_dims(indices, axis))), input.device)
    return _selected(input, values, indices, axis, keepdim, MODE, return_types.mode)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of the vector ``input``'s elements, one per row (as
    ``itertools.combinations``, or ``combinations_with_replacement``).

    >>> tapegrad.combinations(tapegrad.tensor([1, 2, 3]))
    tensor([[1, 2],
            [1, 3],
            [2, 3]])
    """
    from .index import index_select

    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return movement.reshape(index_select(input, 0, _index_constant(np.zeros(0, np.int64), input)), (0,))
    choose = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    positions = np.array(list(choose(range(input.shape[0]), r)), np.int64).reshape(-1, r)
    picked = index_select(input, 0, _index_constant(positions.reshape(-1), input))
    return movement.reshape(picked, (positions.shape[0], r))


def _index_constant(positions: np.ndarray, like: Tensor) -> Tensor:
    from ..creation import _constant_like

    return _constant_like(positions, like)


# ================================================================ index_put and in-place running ops

def index_put(input: Tensor, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with ``values`` written (``accumulate``: added, repeated indices
    adding up) at ``input[indices]``; ``indices`` is a tuple of index tensors.

    >>> tapegrad.zeros(3).index_put((tapegrad.tensor([0, 2, 0]),), tapegrad.tensor(1.), accumulate=True)
    tensor([2., 0., 1.])
    """
    key = _index_put_key(indices)
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if values.dtype is not input.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{input.dtype.scalar_name} for the destination and {values.dtype.scalar_name} for the "
                           "source.")
    if not accumulate:
        from .index import index_put as put_at

        return put_at(input, key, values)
    from .scatter import INDEX_PUT_ADD, put

    # The flat position of every element the key selects: duplicates then add up through
    # ``put``'s accumulation, on either device and with its gradient.
    from ..creation import arange

    with grad_mode.no_grad():
        positions = movement.reshape(arange(input.numel(), device=input.device), tuple(input.shape))[key]
    target = tuple(positions.shape)
    try:
        expanded = movement.expand(values, target)
    except RuntimeError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(target)}") from None
    return put(input, positions, expanded, accumulate=True, _op=INDEX_PUT_ADD)


def _index_put_key(indices: Any) -> tuple[Any, ...]:
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): argument 'indices' (position 1) must be tuple of Tensors, not "
                        f"{'Tensor' if isinstance(indices, Tensor) else type(indices).__name__}")
    for k, index in enumerate(indices):
        if not isinstance(index, Tensor):
            raise TypeError(f"expected Tensor as element {k} in argument 'indices', but got {type(index).__name__}")
        if index.dtype.is_floating_point:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return tuple(indices)


def index_put_(self: Tensor, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
    """``index_put`` written into ``self``."""
    return inplace.update(self, lambda t: index_put(t, indices, values, accumulate), (values,), uses_old=False)


def cumsum_(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """``cumsum`` written into ``self`` (the sums cast back to ``self``'s dtype)."""
    from .reduce import cumsum

    return inplace.update(self, lambda t: cumsum(t, dim, dtype=dtype), uses_old=False)


def cumprod_(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """``cumprod`` written into ``self``."""
    from .reduce import cumprod

    return inplace.update(self, lambda t: cumprod(t, dim, dtype=dtype))


# ================================================================ introspection

def is_nonzero(input: Tensor) -> bool:
    """Whether a one-element tensor is not zero (an error for any other size).

    >>> tapegrad.is_nonzero(tapegrad.tensor([0.5]))
    True
    """
    return bool(input)


def is_same_size(input: Tensor, other: Tensor) -> bool:
    """Whether two tensors have the same shape.

    >>> tapegrad.is_same_size(tapegrad.ones(2), tapegrad.ones(1, 2))
    False
    """
    return tuple(input.shape) == tuple(other.shape)


def is_signed(input: Tensor) -> bool:
    """Whether the tensor's dtype is signed (every dtype but bool).

    >>> tapegrad.is_signed(tapegrad.tensor([True]))
    False
    """
    return input.dtype.is_signed


def _dtype_argument(name: str, argument: str, position: int, value: Any) -> _dtypes.dtype:
    if not isinstance(value, _dtypes.dtype):
        raise TypeError(f"{name}(): argument '{argument}' (position {position}) must be tapegrad.dtype, "
                        f"not {type(value).__name__}")
    return value


def promote_types(type1: _dtypes.dtype, type2: _dtypes.dtype) -> _dtypes.dtype:
    """The smallest dtype both dtypes convert to without losing their kind.

    >>> tapegrad.promote_types(tapegrad.int32, tapegrad.float32)
    tapegrad.float32
    """
    first = _dtype_argument("promote_types", "type1", 1, type1)
    second = _dtype_argument("promote_types", "type2", 2, type2)
    return _dtypes._promote_two(first, second)


def result_type(tensor: Any, other: Any) -> _dtypes.dtype:
    """The dtype an arithmetic op on ``tensor`` and ``other`` (tensors or numbers) gives.

    >>> tapegrad.result_type(tapegrad.tensor([1, 2]), 1.0)
    tapegrad.float32
    """
    groups: tuple[list[_dtypes.dtype], list[_dtypes.dtype], list[_dtypes.dtype]] = ([], [], [])
    numbers = (bool, int, float, np.number, np.bool_)
    for value in (tensor, other):
        if isinstance(value, Tensor):
            groups[0 if value.ndim else 1].append(value.dtype)
        elif isinstance(value, numbers):
            groups[2].append(_dtypes.scalar_dtype(value.item() if isinstance(value, np.generic) else value))
        else:
            got = ", ".join("Tensor" if isinstance(v, Tensor) else type(v).__name__ for v in (tensor, other))
            raise TypeError(f"result_type() received an invalid combination of arguments - got ({got}), but expected "
                            "one of:\n (Tensor tensor, Tensor other)\n (Tensor tensor, Number other)\n"
                            " (Number scalar, Tensor tensor)\n (Number scalar1, Number scalar2)")
    return _dtypes.result_type(*groups)


def can_cast(from_: _dtypes.dtype, to: _dtypes.dtype) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` to ``to`` (never to a lower kind:
    float to integer or bool, integer to bool).

    >>> tapegrad.can_cast(tapegrad.float64, tapegrad.int64)
    False
    """
    source = _dtype_argument("can_cast", "from_", 1, from_)
    target = _dtype_argument("can_cast", "to", 2, to)
    return source.category <= target.category


METHODS: dict[str, Any] = {
    "addmm": matmul.addmm, "addmm_": _in_place_product(matmul.addmm),
    "addmv_": _in_place_product(matmul.addmv), "addbmm_": _in_place_product(matmul.addbmm),
    "baddbmm_": _in_place_product(matmul.baddbmm), "addr_": _in_place_product(matmul.addr),
    "ger": matrix_functions.ger, "lu": matrix_functions.lu, "lu_solve": matrix_functions.lu_solve,
    "triangular_solve": matrix_functions.triangular_solve, "prelu": ew.prelu, "hardshrink": ew.hardshrink,
    "dist": dist, "adjoint": adjoint, "mH": property(_mH), "mT": property(_mT), "T": property(_T), "H": property(_H),
    "t_": t_, "transpose_": transpose_, "swapaxes_": transpose_, "swapdims_": transpose_,
    "squeeze_": squeeze_, "unsqueeze_": unsqueeze_, "tril_": tril_, "triu_": triu_,
    "fill_diagonal_": fill_diagonal_, "renorm": renorm, "renorm_": renorm_,
    "diag_embed": diag_embed, "diagflat": diagflat, "diagonal_scatter": diagonal_scatter,
    "select_scatter": select_scatter, "slice_scatter": slice_scatter, "cov": cov, "corrcoef": corrcoef,
    "msort": msort, "mode": mode, "index_put": index_put, "index_put_": index_put_, "cumsum_": cumsum_,
    "cumprod_": cumprod_,
    "nbytes": property(lambda self: self._data.size * self._data.dtype.itemsize),
    "itemsize": property(lambda self: self._data.dtype.itemsize),
    "is_cpu": property(lambda self: isinstance(self._data, np.ndarray)),
    "is_signed": is_signed, "is_same_size": is_same_size, "is_nonzero": is_nonzero,
}
