"""``flip``, ``roll``, ``repeat``, ``tile``, ``tril`` and ``triu``: new tensors that move (or
mask) an input's elements by a map fixed by the shape and the Python arguments; and
``diagonal`` (a view), with ``diag`` and ``trace`` built on it.

Each forward is made of recorded ops (a gather along a dim with a constant index, broadcast
views and a copy, a ``where`` with a constant mask), so it runs on either device and compiled
steps record it; each is one step under PyTorch's grad_fn name, its VJP the adjoint map
(flip and roll by the opposite amounts, repeat a sum over the copies, tril/triu the same mask).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..tensor import Tensor, _wrap_dim
from .composite import _without_grad
from .registry import OpDef, record

__all__: list[str] = ["diag", "diagonal", "flip", "roll", "tile", "trace", "tril", "triu"]


def _constant(data: np.ndarray, like: Tensor) -> Tensor:
    """``data`` on ``like``'s device (a recorded constant while a step is compiled)."""
    from ..creation import _constant_like

    return _constant_like(data, like)


def _gather(input: Tensor, dim: int, positions: np.ndarray) -> Tensor:
    from .index import index_select

    return index_select(input, dim, _constant(positions.astype(np.int64), input))


def _recorded(op: OpDef, input: Tensor, out: Tensor, attrs: Any) -> Tensor:
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out, attrs)
    return out


def _flip_dims(dims: Any, ndim: int) -> tuple[int, ...]:
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    wrapped = tuple(_wrap_dim(int(d), max(ndim, 1)) for d in dims)
    for k, d in enumerate(wrapped):
        if d in wrapped[:k]:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return wrapped


# ================================================================ flip and roll

def _flip_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (dims,) = step.attrs
    return (flip(g, dims),)


FLIP = OpDef("flip", "FlipBackward0", _flip_vjp)


def _flipped(input: Tensor, dims: tuple[int, ...]) -> Tensor:
    out = input
    for d in dims:
        out = _gather(out, d, np.arange(input.shape[d] - 1, -1, -1))
    return out.clone() if out is input else out


def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:
    """``input`` with the order of its elements along ``dims`` reversed (a copy).

    >>> tapegrad.flip(tapegrad.tensor([[1, 2], [3, 4]]), [1])
    tensor([[2, 1],
            [4, 3]])
    """
    dims = _flip_dims(dims, input.ndim) if input.ndim else ()
    out = _without_grad(_flipped, input, dims)
    return _recorded(FLIP, input, out, (dims,))


def _roll_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    shifts, dims = step.attrs
    return (roll(g, tuple(-s for s in shifts), dims),)


ROLL = OpDef("roll", "RollBackward0", _roll_vjp)


def _rolled(input: Tensor, shifts: tuple[int, ...], dims: tuple[int, ...] | None) -> Tensor:
    if dims is None:
        return _rolled(input.reshape(-1), shifts, (0,)).reshape(tuple(input.shape))
    out = input
    for shift, d in zip(shifts, dims):
        size = input.shape[d]
        if size:
            out = _gather(out, d, (np.arange(size) - shift) % size)
    return out.clone() if out is input else out


def roll(input: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """Elements shifted by ``shifts`` along ``dims``, those past the end coming back at the
    start (over the flattened tensor when ``dims`` is None).

    >>> tapegrad.roll(tapegrad.tensor([1, 2, 3, 4]), 1)
    tensor([4, 1, 2, 3])
    """
    shifts = (int(shifts),) if isinstance(shifts, (int, np.integer)) else tuple(int(s) for s in shifts)
    if not shifts:
        raise RuntimeError("`shifts` required")
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        dims_t = None
    else:
        dims_t = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        if len(shifts) != len(dims_t):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims_t)}")
        if input.ndim == 0:
            raise IndexError(f"Dimension specified as {dims_t[0]} but tensor has no dimensions")
        dims_t = tuple(_wrap_dim(int(d), input.ndim) for d in dims_t)
    out = _without_grad(_rolled, input, shifts, dims_t)
    return _recorded(ROLL, input, out, (shifts, dims_t))


# ================================================================ repeat and tile

def _repeat_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (repeats,) = step.attrs
    shape = step.input_meta[0][0]
    padded = (1,) * (len(repeats) - len(shape)) + tuple(shape)
    split = tuple(n for pair in zip(repeats, padded) for n in pair)
    summed = g.reshape(split).sum(tuple(range(0, 2 * len(repeats), 2)))
    return (summed.reshape(shape),)


REPEAT = OpDef("repeat", "RepeatBackward0", _repeat_vjp)


def _repeated(input: Tensor, repeats: tuple[int, ...]) -> Tensor:
    padded = (1,) * (len(repeats) - input.ndim) + tuple(input.shape)
    # Each dim d becomes a pair (copies, size): broadcast along the copies, then merge the pairs.
    pairs = tuple(n for size in padded for n in (1, size))
    expanded = tuple(n for pair in zip(repeats, padded) for n in pair)
    final = tuple(r * s for r, s in zip(repeats, padded))
    return input.reshape(pairs).expand(expanded).clone().reshape(final)  # a copy even for all-ones


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """``input`` copied ``sizes[d]`` times along each dim (leading sizes add dims).

    >>> tapegrad.tensor([1, 2]).repeat(2, 2)
    tensor([[1, 2, 1, 2],
            [1, 2, 1, 2]])
    """
    repeats = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    repeats = tuple(int(r) for r in repeats)
    if len(repeats) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of "
                           "tensor")
    padded = (1,) * (len(repeats) - input.ndim) + tuple(input.shape)
    sizes_out = [r * s for r, s in zip(repeats, padded)]
    if min(sizes_out, default=0) < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(sizes_out)}: {sizes_out}")
    out = _without_grad(_repeated, input, repeats)
    return _recorded(REPEAT, input, out, (repeats,))


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    """``repeat`` with ``dims`` padded with leading ones to the input's rank.

    >>> tapegrad.tile(tapegrad.tensor([[1, 2]]), (2,))
    tensor([[1, 2, 1, 2]])
    """
    dims = tuple(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


# ================================================================ tril and triu

def _triangle_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    lower, diagonal = step.attrs
    return (_triangle(g, diagonal, lower),)


TRIL = OpDef("tril", "TrilBackward0", _triangle_vjp)
TRIU = OpDef("triu", "TriuBackward0", _triangle_vjp)


def _triangle(input: Tensor, diagonal: int, lower: bool) -> Tensor:
    from . import elementwise as ew

    if input.ndim < 2:
        raise RuntimeError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions")
    rows, cols = input.shape[-2], input.shape[-1]
    keep = np.tri(rows, cols, diagonal, dtype=np.bool_)
    mask = _constant(keep if lower else ~np.tri(rows, cols, diagonal - 1, dtype=np.bool_), input)
    zero = False if input._data.dtype == np.bool_ else 0
    out = _without_grad(ew.where, mask, input, zero)
    return _recorded(TRIL if lower else TRIU, input, out, (lower, int(diagonal)))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims: elements above diagonal ``diagonal`` zeroed.

    >>> tapegrad.tril(tapegrad.ones(2, 3))
    tensor([[1., 0., 0.],
            [1., 1., 0.]])
    """
    return _triangle(input, diagonal, True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims: elements below diagonal ``diagonal`` zeroed.

    >>> tapegrad.triu(tapegrad.ones(2, 3), 1)
    tensor([[0., 1., 1.],
            [0., 0., 1.]])
    """
    return _triangle(input, diagonal, False)


# ================================================================ diagonals

def _diagonal_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    offset, dim1, dim2 = step.attrs
    return (diagonal_scatter_zeros(g, tuple(step.input_meta[0][0]), offset, dim1, dim2),)


DIAGONAL = OpDef("diagonal", "DiagonalBackward0", _diagonal_vjp)


def _diagonal_scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    offset, dim1, dim2 = step.attrs
    return (diagonal(g, offset, dim1, dim2),)


DIAGONAL_SCATTER = OpDef("diagonal_backward", "DiagonalBackwardBackward0", _diagonal_scatter_vjp)
DIAG_EMBED = OpDef("diag_embed", "DiagEmbedBackward0", _diagonal_scatter_vjp)
DIAGONAL_COPY = OpDef("diagonal_copy", "DiagonalBackward0_copy", _diagonal_vjp)  # diag() of a matrix


def _trace_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    shape = tuple(step.input_meta[0][0])
    return (diagonal_scatter_zeros(g.expand((min(shape),)), shape, 0, 0, 1),)


TRACE = OpDef("trace", "TraceBackward0", _trace_vjp)


def _diagonal_layout(shape: tuple[int, ...], offset: int, d1: int, d2: int) -> tuple[int, int, int]:
    """(length, first row, first column) of the diagonal ``offset`` of dims ``d1``, ``d2``."""
    row, col = max(-offset, 0), max(offset, 0)
    length = max(0, min(shape[d1] - row, shape[d2] - col))
    return length, row, col


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A view of the diagonal ``offset`` (above the main one when positive) of dims ``dim1`` and
    ``dim2``, as the last dim.

    >>> tapegrad.tensor([[1, 2], [3, 4]]).diagonal()
    tensor([1, 4])
    """
    from .movement import make_view

    d1, d2 = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    data = input._data
    length, row, col = _diagonal_layout(tuple(data.shape), int(offset), d1, d2)
    kept = [d for d in range(data.ndim) if d not in (d1, d2)]
    shape = tuple(data.shape[d] for d in kept) + (length,)
    strides = tuple(data.strides[d] for d in kept) + (data.strides[d1] + data.strides[d2],)
    start = (row * data.strides[d1] + col * data.strides[d2]) if length else 0
    if isinstance(data, np.ndarray):
        # as_strided counts from its argument's first element: start from the diagonal's own.
        first = tuple(slice(row if d == d1 else col if d == d2 else 0, None) for d in range(data.ndim))
        view = np.lib.stride_tricks.as_strided(data[first] if length else data, shape, strides,
                                               writeable=data.flags.writeable)
    else:
        from ..cuda._arrays import view as cuda_view

        view = cuda_view(data, shape, strides, start)
    out = make_view(input, view, diagonal, (int(offset), d1, d2))
    if grad_mode.state.enabled and input._requires_grad:
        return record(DIAGONAL, (input,), out, (int(offset), d1, d2))
    return out


_diagonal_view = diagonal  # for ``diag``, whose argument shadows the name


def diagonal_scatter_zeros(src: Tensor, shape: tuple[int, ...], offset: int, dim1: int, dim2: int,
                           op: OpDef = DIAGONAL_SCATTER) -> Tensor:
    """Zeros of ``shape`` with ``src`` (shaped as ``diagonal``'s result) on the diagonal
    ``offset`` of dims ``dim1``, ``dim2``: a gather of ``src`` along the rows (a constant
    index), broadcast along the columns and masked to the diagonal, so it is recorded ops."""
    from . import elementwise as ew

    length, row, col = _diagonal_layout(shape, offset, dim1, dim2)
    rows, cols = shape[dim1], shape[dim2]

    def scatter() -> Tensor:
        picked = _gather(src, src.ndim - 1, np.clip(np.arange(rows) - row, 0, max(length - 1, 0)))
        grid = picked.unsqueeze(-1).expand(tuple(picked.shape) + (cols,))  # (..., rows, cols)
        on = (np.arange(cols)[None, :] - np.arange(rows)[:, None]) == offset
        on &= (np.arange(rows)[:, None] >= row) & (np.arange(rows)[:, None] < row + length)
        zero = False if src._data.dtype == np.bool_ else 0
        full = ew.where(_constant(on, src), grid, zero)
        kept = [d for d in range(len(shape)) if d not in (dim1, dim2)]
        order = kept + [dim1, dim2]  # the dims of ``full``, in order: move them into place
        return full.permute(tuple(order.index(d) for d in range(len(shape)))).contiguous()

    out = _without_grad(scatter) if length else _without_grad(lambda: _zeros(shape, src))
    if grad_mode.state.enabled and src._requires_grad:
        return record(op, (src,), out, (offset, dim1, dim2))
    return out


def _zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    from ..creation import zeros

    return zeros(shape, dtype=like.dtype, device=like.device)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as the diagonal ``diagonal`` of a square matrix, or a 2-D tensor's diagonal.

    >>> tapegrad.diag(tapegrad.tensor([1, 2]))
    tensor([[1, 0],
            [0, 2]])
    """
    if input.ndim == 1:
        n = input.shape[0] + abs(diagonal)
        return diagonal_scatter_zeros(input, (n, n), int(diagonal), 0, 1, DIAG_EMBED)
    if input.ndim == 2:
        out = _without_grad(lambda: _diagonal_view(input, diagonal, 0, 1).clone())
        return _recorded(DIAGONAL_COPY, input, out, (int(diagonal), 0, 1))
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace(input: Tensor) -> Tensor:
    """The sum of a matrix's main diagonal.

    >>> tapegrad.trace(tapegrad.tensor([[1., 2.], [3., 4.]]))
    tensor(5.)
    """
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    out = _without_grad(lambda: diagonal(input).sum())
    return _recorded(TRACE, input, out, ())
