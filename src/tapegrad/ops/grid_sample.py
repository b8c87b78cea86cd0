"""``affine_grid`` and ``grid_sample``: sampling an ``(N, C, H, W)`` or ``(N, C, D, H, W)`` input at
the points of a flow field, and the flow field of a batch of affine maps.

``affine_grid`` multiplies a constant base grid (each output pixel's normalised ``x, y[, z]``
followed by a 1, PyTorch's ``linspace_from_neg_one`` per dim) with ``theta`` transposed: one
``bmm``, whose gradient is the gradient to ``theta``.

``grid_sample`` is a composition of recorded ops, so it runs on either device, compiles, and has
gradients of any order without kernels of its own. Per spatial dim, the grid coordinate is
unnormalised to a pixel position and, for ``'border'`` and ``'reflection'``, folded back into the
input (``_clip``, ``_reflect``). The neighbours it mixes (two per dim for linear, one for nearest,
four for bicubic) are found from the *detached* position (floor or round: integers carry no
gradient), turned into int64 indices (0 where a neighbour lies outside the input) and combined
into one flat index per neighbour, with the batch offset added. One ``index_select`` on the
input's rows (``(N * D * H * W, C)``) gathers every neighbour of every point; outside neighbours
are masked to 0 with ``where``; the weights (linear distances, or Keys' cubic with ``A = -0.75``)
are computed from the position itself, so the gradient to the grid is the weights' derivative
times the gathered values, and the gradient to the input is ``index_select``'s scatter-add.

Matching PyTorch's kernels:

- Unnormalisation is ``(x + 1) * (size / 2) - 0.5`` (``(x + 1) * ((size - 1) / 2)`` with
  ``align_corners``), PyTorch's 4-D CPU formula; its 5-D kernel's ``((x + 1) * size - 1) / 2``
  differs only by exact scalings by 2, so both round alike and points on pixel centres or borders
  fall on the same side of a floor as in PyTorch.
- Clipping passes the gradient only strictly inside ``(0, size - 1)``: a clipped coordinate, one
  exactly on the border included, gets no gradient (PyTorch's ``clip_coordinates_set_grad``).
  Reflection flips the gradient's sign in mirrored stretches.
- Nearest rounds half to even (``nearbyint``); its gradient to the grid is zero, and stays
  connected (an exact zero through ``where``) so ``grid.grad`` is zeros, not None, as in PyTorch.
- Bicubic pads each of its 16 taps (not the continuous coordinate), mixes along x first, then
  along y, and its grid gradient goes through the cubic weights only.
- The sum over neighbours follows PyTorch's order; its last addition is recorded as
  ``GridSampler2DBackward0`` / ``GridSampler3DBackward0``, so ``grad_fn`` reads as in PyTorch.

Non-finite grid values give safe indices (the neighbour counts as outside) but are not meant to
reproduce PyTorch's results for them, which differ between its own kernels.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .. import creation
from ..tensor import Tensor
from . import elementwise as ew
from .index import INDEX_SELECT, getitem
from .matmul import _reshaped, bmm
from .movement import cat
from .registry import OpDef
from ..user_warnings import warn_user

__all__: list[str] = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")
_UNIT_WARNING = ("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when align_corners=True. "
                 "This is not an intended use case of affine_grid. See the documentation of affine_grid for details.")
_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")
_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic constant

# The reshape that ends affine_grid and the addition that ends grid_sample, under PyTorch's grad_fn names.
_AFFINE_GRID = OpDef("affine_grid_generator", "AffineGridGeneratorBackward0",
                     lambda step, g: (g.reshape(step.input_meta[0][0]),))
_SAMPLED = {2: ew.ADD.renamed("grid_sampler_2d", "GridSampler2DBackward0"),
            3: ew.ADD.renamed("grid_sampler_3d", "GridSampler3DBackward0")}


def _constant(like: Tensor, values: np.ndarray) -> Tensor:
    """``values`` on ``like``'s device; a recorded constant while a step is compiled."""
    return creation._constant_like(values, like)


# ---------------------------------------------------------------- affine_grid

def _line(steps: int, align_corners: bool, dtype: np.dtype) -> np.ndarray:
    """PyTorch's ``linspace_from_neg_one`` in ``dtype``: ``steps`` positions from -1 to 1, filled
    from both ends as its ``linspace`` does, pulled in by ``(steps - 1) / steps`` to the pixel
    centres without ``align_corners``; a single step is 0."""
    if steps <= 1:
        return np.zeros(steps, dtype)
    kind = dtype.type
    step = kind(2) / kind(steps - 1)
    index = np.arange(steps)
    values = np.where(index < steps // 2, kind(-1) + step * index.astype(dtype),
                      kind(1) - step * (steps - 1 - index).astype(dtype)).astype(dtype)
    if not align_corners:
        values = values * kind(steps - 1) / kind(steps)
    return values.astype(dtype)


def _base_grid(spatial: Sequence[int], align_corners: bool, dtype: np.dtype) -> np.ndarray:
    """``(prod(spatial), dims + 1)``: each position's ``x, y[, z]`` (x along the last dim) and a 1."""
    lines = np.meshgrid(*[_line(s, align_corners, dtype) for s in spatial], indexing="ij")
    columns = list(lines)[::-1] + [np.ones(tuple(spatial), dtype)]
    return np.stack(columns, -1).reshape(-1, len(spatial) + 1)


def _parse_sizes(size: Sequence[Any]) -> list[int]:
    """``size`` as ints, refused as PyTorch's argument parser refuses it."""
    for position, value in enumerate(size, 1):
        if not isinstance(value, (int, np.integer)):
            raise TypeError(f"affine_grid_generator(): argument 'size' failed to unpack the object at pos {position} "
                            f"with error \"type must be tuple of ints,but got {type(value).__name__}\"")
    return [int(value) for value in size]


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps: ``theta`` is ``(N, 2, 3)`` for a ``size`` of
    ``(N, C, H, W)`` (the grid is ``(N, H, W, 2)``) or ``(N, 3, 4)`` for ``(N, C, D, H, W)`` (the
    grid is ``(N, D, H, W, 3)``); each point is ``theta @ (x, y[, z], 1)`` for the output pixel's
    normalised position. Use it with ``grid_sample`` and the same ``align_corners``.

    >>> F.affine_grid(tapegrad.tensor([[[2., 0., 0.], [0., 1., 0.5]]]), (1, 1, 2, 2), align_corners=True)
    tensor([[[[-2.0000, -0.5000],
              [ 2.0000, -0.5000]],
    <BLANKLINE>
             [[-2.0000,  1.5000],
              [ 2.0000,  1.5000]]]])
    """
    if align_corners is None:
        warn_user(_ALIGN_WARNING)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    if len(size) == 4:
        if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                             f"Got {theta.shape}.")
    elif len(size) == 5:
        if theta.dim() != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                             f"Got {theta.shape}.")
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warn_user(_UNIT_WARNING)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    sizes = _parse_sizes(size)
    if not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError("affine_grid_generator(): argument 'align_corners' (position 3) must be bool, not "
                        f"{type(align_corners).__name__}")
    if sizes[0] < 0:
        shape = [sizes[0], *sizes[2:], len(sizes) - 1]
        raise RuntimeError(f"Trying to create tensor with negative dimension {sizes[0]}: {shape}")
    batch, spatial = sizes[0], sizes[2:]
    base = _base_grid(spatial, bool(align_corners), theta._data.dtype)
    # One copy of the base grid per batch entry, as PyTorch's bmm takes it (bmm checks the batch sizes).
    base = _constant(theta, np.ascontiguousarray(np.broadcast_to(base, (batch,) + base.shape)))
    product = bmm(base, theta.transpose(1, 2))
    return _reshaped(product, (batch, *spatial, len(spatial)), _AFFINE_GRID)


# ---------------------------------------------------------------- grid_sample: coordinates

def _unnormalize(coordinate: Tensor, size: int, align_corners: bool) -> Tensor:
    """Grid coordinates in [-1, 1] as pixel positions: -1 and 1 are the corner pixels' centres
    (``align_corners``) or their outer edges."""
    if align_corners:
        return (coordinate + 1) * ((size - 1) / 2)
    return (coordinate + 1) * (size / 2) - 0.5


def _clip(position: Tensor, size: int) -> Tensor:
    """``position`` clamped to ``[0, size - 1]``. The gradient passes only strictly inside (PyTorch
    counts the borders as clipped, which ``clamp``'s inclusive gradient would not); outside it is
    the incoming gradient times 0, as PyTorch computes it, so a NaN read from the input stays NaN.
    Infinite positions are clamped too (their product with 0 is taken on a finite stand-in)."""
    inside = (position > 0) & (position < size - 1)
    finite = ew.where(position.abs() < math.inf, position, 0.0)
    return ew.where(inside, position, finite * 0 + position.detach().clamp(0, size - 1))


def _reflect(position: Tensor, size: int, align_corners: bool) -> Tensor:
    """``position`` mirrored at the borders (the corner centres, or the outer edges) until it lies
    between them; the gradient changes sign in mirrored stretches."""
    low, twice_span = (0.0, 2 * (size - 1)) if align_corners else (-0.5, 2 * size)
    if twice_span == 0:  # one pixel with align_corners: the clip that follows makes every position 0
        return position
    distance = (position - low).abs() if low else position.abs()
    # Whole round trips (a constant: no gradient) come off first; past one span the way back is mirrored.
    extra = distance - (distance.detach() / twice_span).floor() * twice_span
    mirrored = twice_span - extra
    folded = ew.where(extra > mirrored, mirrored, extra)
    return folded + low if low else folded


def _pad(position: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    if padding_mode == "border":
        return _clip(position, size)
    if padding_mode == "reflection":
        return _clip(_reflect(position, size, align_corners), size)
    return position


def _indices(positions: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """int64 indices of integer-valued float positions, 0 where a position is outside ``[0, size)``
    (NaN included, so every index is safe to gather), and which positions are inside."""
    inside = (positions >= 0) & (positions <= size - 1)
    return ew.where(inside, positions, 0.0).long(), inside


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """Keys' cubic convolution weights of the four taps around a point ``t`` in [0, 1) past the
    second tap, in the operation order of PyTorch's ``get_cubic_coefficients``."""
    a = _CUBIC_A

    def far(x: Tensor) -> Tensor:  # 1 <= |x| < 2
        return ((x * a - 5 * a) * x + 8 * a) * x - 4 * a

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return (x * (a + 2) - (a + 3)) * x * x + 1

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(coordinate: Tensor, size: int, mode: str, padding_mode: str, align_corners: bool,
          dims: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """The neighbours along one spatial dim of ``size`` of the ``(N, 1, P)`` coordinates: their
    indices and whether each is inside, ``(N, K, P)``, and their weights (None for nearest)."""
    position = _unnormalize(coordinate, size, align_corners)
    if mode != "bicubic":  # bicubic pads each tap instead
        position = _pad(position, size, padding_mode, align_corners)
    fixed = position.detach()
    if mode == "nearest":
        index, inside = _indices(fixed.round(), size)
        return index, inside, None
    below = fixed.floor()
    if mode == "bilinear":
        index, inside = _indices(cat([below, below + 1], 1), size)
        if dims == 3:  # PyTorch's 5-D kernel measures both distances from the neighbours
            return index, inside, cat([(below + 1) - position, position - below], 1)
        upper = position - below
        return index, inside, cat([1 - upper, upper], 1)
    taps = _pad(cat([below - 1, below, below + 1, below + 2], 1), size, padding_mode, align_corners)
    index, inside = _indices(taps, size)
    return index, inside, cat(_cubic_weights(position - below), 1)


# ---------------------------------------------------------------- grid_sample

def _check_sample(input: Any, grid: Any, mode: str, align_corners: Any) -> None:
    """PyTorch's argument parsing and ``grid_sampler`` checks, in its order."""
    for position, (name, value) in enumerate((("input", input), ("grid", grid)), 1):
        if not isinstance(value, Tensor):
            raise TypeError(f"grid_sampler(): argument '{name}' (position {position}) must be Tensor, not "
                            f"{type(value).__name__}")
    if not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError("grid_sampler(): argument 'align_corners' (position 5) must be bool, not "
                        f"{type(align_corners).__name__}")
    if input.device != grid.device:
        raise RuntimeError("grid_sampler(): expected input and grid to be on same device, but input is on "
                           f"{input.device} and grid is on {grid.device}")
    if input.ndim == 0 or grid.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    sizes = f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got {sizes}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but got "
                           f"grid with sizes {list(grid.shape)}")
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError("grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                               f"sizes {list(input.shape)} with dimension {d} being empty")
    rank = 4 if input.ndim == 4 else 5
    if input.ndim != rank or grid.ndim != rank:
        raise RuntimeError(f"grid_sampler(): expected {rank}D input and grid with same number of dimensions, but got "
                           f"{sizes}")
    if rank == 5 and mode == "bicubic":
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if input._data.dtype.kind != "f":
        kernel = "grid_sampler_2d_cpu_kernel_impl" if rank == 4 else "grid_sampler3d_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{input.dtype.scalar_name}'")
    if grid._data.dtype != input._data.dtype:
        raise RuntimeError(f"expected scalar type {input.dtype.scalar_name} but found {grid.dtype.scalar_name}")


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` ``(N, C, H, W)`` at ``grid`` ``(N, H_out, W_out, 2)`` (or ``(N, C, D, H, W)``
    at ``(N, D_out, H_out, W_out, 3)``), whose last dim holds normalised ``x, y[, z]`` positions
    (-1 and 1 are the input's edges, or its corner pixels' centres with ``align_corners``).
    ``mode`` is ``'bilinear'`` (trilinear on 5-D), ``'nearest'`` or ``'bicubic'`` (4-D);
    ``padding_mode`` says what lies outside: ``'zeros'``, ``'border'`` (the nearest edge value) or
    ``'reflection'``. The result is ``(N, C, H_out, W_out)`` (``(N, C, D_out, H_out, W_out)``).

    >>> x = tapegrad.tensor([[[[1., 2.], [3., 4.]]]])
    >>> F.grid_sample(x, tapegrad.tensor([[[[0., 0.], [1., -1.]]]]), align_corners=True)
    tensor([[[[2.5000, 2.0000]]]])
    """
    if mode not in _MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but "
                         f"got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warn_user(_ALIGN_WARNING)
        align_corners = False
    _check_sample(input, grid, mode, align_corners)
    align_corners = bool(align_corners)
    dims = input.ndim - 2
    batch, channels, spatial = input.shape[0], input.shape[1], tuple(input.shape[2:])
    out_sizes = tuple(grid.shape[1:-1])
    points, length = math.prod(out_sizes), math.prod(spatial)
    coordinates = grid.reshape(batch, 1, points, dims)
    # Input dim a (D, H, W order) is read by grid component dims - 1 - a (x, y, z order).
    taps = [_taps(coordinates[..., dims - 1 - a], spatial[a], mode, padding_mode, align_corners, dims)
            for a in range(dims)]

    # One flat row index per (batch, neighbour, point): the neighbours' grid is (N, K_0, ..., K_dims-1, P).
    counts = tuple(index.shape[1] for index, _, _ in taps)

    def spread(x: Tensor, a: int) -> Tensor:
        return x.reshape((batch,) + tuple(counts[a] if b == a else 1 for b in range(dims)) + (points,))

    flat, inside = None, None
    for a, (index, ok, _) in enumerate(taps):
        stride = math.prod(spatial[a + 1:])
        term = spread(index, a) * stride if stride != 1 else spread(index, a)
        flat = term if flat is None else flat + term
        inside = spread(ok, a) if inside is None else inside & spread(ok, a)
    offsets = np.arange(batch, dtype=np.int64).reshape((batch,) + (1,) * (dims + 1)) * length
    flat = flat + _constant(input, offsets)
    rows = input.movedim(1, -1).reshape(batch * length, channels)
    values = getitem(rows, (flat.reshape(-1),), INDEX_SELECT)
    values = values.reshape((batch,) + counts + (points, channels)).movedim(-1, 1)  # (N, C, K_0, ..., P)
    # Neighbours outside the input read 0 (with 'border' and 'reflection' only a linear upper one can be).
    if padding_mode == "zeros" or mode == "bilinear":
        values = ew.where(inside.unsqueeze(1), values, 0.0)
    last = _SAMPLED[dims]
    if mode == "nearest":
        # The grid's gradient is zero, as in PyTorch, but reaches the grid (zeros, not None).
        zero = ew.where(_constant(input, np.zeros((), np.bool_)), coordinates[..., 0], 0.0)
        return last(values.reshape((batch, channels) + out_sizes), zero.reshape((batch, 1) + out_sizes))
    if mode == "bicubic":
        # Along x first, then along y, as PyTorch nests its sums.
        values = (values * taps[1][2].unsqueeze(1).unsqueeze(1)).sum(3)
        weights = taps[0][2]
    else:
        weights = spread(taps[dims - 1][2], dims - 1)
        for a in range(dims - 2, -1, -1):  # x's weight times y's (times z's), PyTorch's product order
            weights = weights * spread(taps[a][2], a)
        weights = weights.reshape(batch, math.prod(counts), points)
        values = values.reshape(batch, channels, math.prod(counts), points)
    count = weights.shape[1]
    terms = (values * weights.unsqueeze(1)).reshape((batch, channels, count) + out_sizes)
    head = terms[:, :, :count - 1].sum(2) if count > 2 else terms[:, :, 0]
    return last(head, terms[:, :, count - 1])
