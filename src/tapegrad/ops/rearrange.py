"""``flip``, ``roll``, ``repeat``, ``tile``, ``tril`` and ``triu``: new tensors that move (or
mask) an input's elements by a map fixed by the shape and the Python arguments.

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

__all__: list[str] = ["flip", "roll", "tile", "tril", "triu"]


def _constant(data: np.ndarray, like: Tensor) -> Tensor:
    """``data`` on ``like``'s device (a recorded constant while a step is compiled)."""
    from ..creation import _from_numbers, _place_of

    return _from_numbers(data, False, _place_of(like))


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
