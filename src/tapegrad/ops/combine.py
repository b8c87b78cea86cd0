"""Joining, splitting and arranging tensors: ``atleast_1d/2d/3d``, ``hstack``, ``vstack``
(``row_stack``), ``dstack``, ``column_stack``, ``meshgrid``, ``cartesian_prod``, ``block_diag``,
``broadcast_tensors``, ``broadcast_shapes``, ``tensor_split``, ``hsplit``, ``vsplit``,
``dsplit``, ``rot90``, ``fliplr``, ``flipud`` and ``Tensor.unfold``.

Each is a composition of reshapes, expands, ``cat``, ``narrow``, ``flip``, ``transpose`` and
``index_select``, so it runs on either device, compiled steps record it, and gradients of any
order come with it. ``Tensor.unfold`` gathers its windows (a copy, where PyTorch returns a
view: writing to the result does not change the input).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import dtypes as _dtypes
from ..tensor import Size, Tensor, _wrap_dim
from .movement import cat, expand, narrow, stack, transpose
from .rearrange import flip
from ..user_warnings import warn_user

__all__: list[str] = ["atleast_1d", "atleast_2d", "atleast_3d", "block_diag", "broadcast_shapes",
                      "broadcast_tensors", "cartesian_prod", "column_stack", "dsplit", "dstack", "fliplr", "flipud",
                      "hsplit", "hstack", "meshgrid", "rot90", "row_stack", "tensor_split", "vsplit", "vstack"]


def _tensors(args: tuple) -> tuple[list[Tensor], bool]:
    """The tensors of ``f(t1, t2, ...)`` or ``f([t1, t2, ...])``, and whether one was given alone."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return list(args[0]), False
    return list(args), len(args) == 1


def _at_least(args: tuple, rank: int) -> Any:
    tensors, alone = _tensors(args)
    shaped = []
    for t in tensors:
        if t.ndim == 0:
            t = t.reshape((1,) * rank)
        elif t.ndim == 1 and rank >= 2:
            t = t.unsqueeze(0) if rank == 2 else t.reshape(1, -1, 1)
        elif t.ndim == 2 and rank == 3:
            t = t.unsqueeze(-1)
        shaped.append(t)
    return shaped[0] if alone else tuple(shaped)


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least one dim (a 0-d one as ``(1,)``).

    >>> tapegrad.atleast_1d(tapegrad.tensor(2.))
    tensor([2.])
    """
    return _at_least(tensors, 1)


def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least two dims (``(n,)`` as ``(1, n)``)."""
    return _at_least(tensors, 2)


def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least three dims (``(n,)`` as ``(1, n, 1)``, ``(m, n)`` as ``(m, n, 1)``)."""
    return _at_least(tensors, 3)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 1 (dim 0 for 1-d tensors).

    >>> tapegrad.hstack([tapegrad.tensor([1, 2]), tapegrad.tensor([3])])
    tensor([1, 2, 3])
    """
    shaped = atleast_1d(list(tensors))
    return cat(shaped, 0 if shaped and shaped[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 0 after making each at least 2-d.

    >>> tapegrad.vstack([tapegrad.tensor([1, 2]), tapegrad.tensor([3, 4])])
    tensor([[1, 2],
            [3, 4]])
    """
    return cat(atleast_2d(list(tensors)), 0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 2 after making each at least 3-d."""
    return cat(atleast_3d(list(tensors)), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Join along dim 1, 0-d and 1-d tensors taken as columns.

    >>> tapegrad.column_stack([tapegrad.tensor([1, 2]), tapegrad.tensor([3, 4])])
    tensor([[1, 3],
            [2, 4]])
    """
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors], 1)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids of 0-d or 1-d tensors: ``indexing='ij'`` (matrix, the default, with
    PyTorch's warning when not given) or ``'xy'`` (Cartesian: the first two dims swapped)."""
    inputs, _ = _tensors(tensors)
    if indexing is None:
        warn_user("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                  UserWarning)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in inputs:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    swap = indexing == "xy" and len(inputs) >= 2
    if swap:
        inputs[0], inputs[1] = inputs[1], inputs[0]
    shape = tuple(t.numel() for t in inputs)
    grids = []
    for d, t in enumerate(inputs):
        view = t.reshape(tuple(-1 if k == d else 1 for k in range(len(inputs))))
        grids.append(expand(view, *shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of one element from each 1-d tensor, as rows.

    >>> tapegrad.cartesian_prod(tapegrad.tensor([1, 2]), tapegrad.tensor([3, 4]))
    tensor([[1, 3],
            [1, 4],
            [2, 3],
            [2, 4]])
    """
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def block_diag(*tensors: Tensor) -> Tensor:
    """A block-diagonal matrix of the given matrices (0-d and 1-d tensors as one row).

    >>> tapegrad.block_diag(tapegrad.tensor([[1, 2]]), tapegrad.tensor([[3]]))
    tensor([[1, 2, 0],
            [0, 0, 3]])
    """
    from .padding import pad

    blocks = []
    for k, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {k} has "
                               f"{t.ndim} dimensions")
        blocks.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not blocks:
        from ..creation import empty

        return empty((1, 0))
    dtype = _dtypes.result_type([b.dtype for b in blocks], [], [])
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        rows.append(pad(b.to(dtype), (left, width - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


def broadcast_shapes(*shapes: Any) -> Size:
    """The shape ``shapes`` broadcast to, PyTorch's rules (ints count as 1-d shapes).

    >>> tapegrad.broadcast_shapes((2, 1), (3,))
    tapegrad.Size([2, 3])
    """
    dims: list[int] = []
    for shape in shapes:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        for k, size in enumerate(reversed(shape)):
            if size < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {size}: {list(shape)}")
            if k == len(dims):
                dims.append(size)
            elif dims[k] == 1 or dims[k] == size:
                dims[k] = size if dims[k] == 1 else dims[k]
            elif size != 1:
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape.  Mismatch is "
                                   f"between arg {shapes.index(shape) if shape in shapes else 0} and arg 0.")
    return Size(tuple(reversed(dims)))


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape.

    >>> [tuple(t.shape) for t in tapegrad.broadcast_tensors(tapegrad.ones(2, 1), tapegrad.ones(3))]
    [(2, 3), (2, 3)]
    """
    inputs, _ = _tensors(tensors)
    shape = broadcast_shapes(*[tuple(t.shape) for t in inputs])
    return tuple(expand(t, *shape) for t in inputs)


# ---------------------------------------------------------------- splitting

def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of ``input`` split along ``dim`` into ``n`` near-equal parts (the first
    ``size % n`` one longer) or at the given indices.

    >>> [t.tolist() for t in tapegrad.tensor_split(tapegrad.arange(5), 2)]
    [[0, 1, 2], [3, 4]]
    """
    if input.ndim == 0:
        raise RuntimeError(f"tensor_split expected at least a 1-dimensional tensor, but got a tensor with "
                           f"{input.ndim} dims")
    axis = _wrap_dim(dim, input.ndim)
    size = input.shape[axis]
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dtype.scalar_name != "Long":
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                               f"{indices_or_sections.dtype.scalar_name}")
        if indices_or_sections.ndim > 1:
            raise RuntimeError(f"tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {indices_or_sections.ndim} dims")
        values = indices_or_sections.cpu().tolist()
        indices_or_sections = values
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        base, extra = divmod(size, sections)
        bounds = np.cumsum([0] + [base + (1 if k < extra else 0) for k in range(sections)]).tolist()
    else:
        points = [min(max(int(i) if i >= 0 else int(i) + size, 0), size) for i in indices_or_sections]
        bounds = [0] + points + [size]
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        start = min(start, size)
        parts.append(narrow(input, axis, start, max(stop - start, 0)))
    return tuple(parts)


def _split_along(name: str, input: Tensor, sections: Any, axis: int, min_dims: int) -> tuple[Tensor, ...]:
    if input.ndim < min_dims:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a tensor "
                           f"with {input.ndim} dimensions!")
    if isinstance(sections, (int, np.integer)):
        size = input.shape[axis]
        if sections != 0 and size % sections:
            raise RuntimeError(f"torch.{name} attempted to split along dimension {axis}, but the size of the "
                               f"dimension {size} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, axis)


def hsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """``tensor_split`` along dim 1 (dim 0 for 1-d tensors), equal parts only."""
    return _split_along("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """``tensor_split`` along dim 0 of a tensor of at least 2 dims, equal parts only."""
    return _split_along("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """``tensor_split`` along dim 2 of a tensor of at least 3 dims, equal parts only."""
    return _split_along("dsplit", input, indices_or_sections, 2, 3)


# ---------------------------------------------------------------- arranging

def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by ``k`` quarter turns in the plane of ``dims``, from the first towards the second.

    >>> tapegrad.rot90(tapegrad.tensor([[1, 2], [3, 4]]))
    tensor([[2, 4],
            [1, 3]])
    """
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    first, second = (_wrap_dim(d, input.ndim) for d in dims)
    if first == second:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    turns = k % 4
    if turns == 1:
        return transpose(flip(input, [second]), first, second)
    if turns == 2:
        return flip(input, [first, second])
    if turns == 3:
        return transpose(flip(input, [first]), first, second)
    return input.clone()


def fliplr(input: Tensor) -> Tensor:
    """``flip`` along dim 1."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, [1])


def flipud(input: Tensor) -> Tensor:
    """``flip`` along dim 0."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, [0])


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """The windows of ``size`` elements every ``step`` along ``dimension``, that dim replaced by
    the window count and the window's elements added as the last dim.

    >>> tapegrad.arange(5.).unfold(0, 2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    from ..creation import _constant_like

    axis = _wrap_dim(dimension, max(input.ndim, 1))
    length = input.shape[axis] if input.ndim else 1
    if size > length:
        raise RuntimeError(f"maximum size for tensor at dimension {axis} is {length} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if input.ndim == 0:
        return input.reshape(1)
    windows = (length - size) // step + 1
    positions = (np.arange(windows)[:, None] * step + np.arange(size)).reshape(-1)
    gathered = input.index_select(axis, _constant_like(positions, input))
    shape = tuple(input.shape[:axis]) + (windows, size) + tuple(input.shape[axis + 1:])
    return gathered.reshape(shape).movedim(axis + 1, -1)
