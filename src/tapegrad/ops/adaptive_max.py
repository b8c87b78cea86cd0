"""Adaptive max pooling: ``adaptive_max_pool2d`` and ``adaptive_max_pool1d``, as recorded ops.

Output cell ``i`` of ``n`` along a dim of size ``L`` covers positions ``floor(i*L/n)`` to
``ceil((i+1)*L/n)`` (exclusive), as in PyTorch; windows differ in width and may overlap. Each
dim's windows are gathered to the widest window's width with ``index_select``, positions past
a window's end become ``-inf``, and each cell takes the max of its window (the first maximum in
row-major order; a NaN wins). The index PyTorch returns, a position in the ``H * W`` plane,
is read from a constant table at the maximum's place in its window.

Being made of ``index_select``, ``where`` and ``max``, it runs on either device and compiled
steps record it. The gradient reaches each cell's maximum through ``max`` and is added up over
overlapping windows by ``index_select``'s backward, which is PyTorch's backward too.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor
from . import elementwise as ew
from .conv import _check_float, _int_list, _keep_none_sizes
from .pool1d import _check_rank, _one_int

__all__: list[str] = ["adaptive_max_pool1d", "adaptive_max_pool2d"]


def _windows(size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """For each cell along a dim of ``size``: its window's positions, padded to the widest
    window's width with the last position, and which of them are the window's own."""
    first = np.arange(cells) * size // cells
    end = -(-(np.arange(cells) + 1) * size // cells)
    width = int((end - first).max()) if cells else 1
    positions = first[:, None] + np.arange(width)
    return np.minimum(positions, size - 1), positions < end[:, None]


def _pool(input: Tensor, out_hw: tuple[int, int], return_indices: bool) -> Any:
    from ..creation import _constant_like

    lead, (height, width) = tuple(input.shape[:-2]), tuple(input.shape[-2:])
    rows, row_own = _windows(height, out_hw[0])
    cols, col_own = _windows(width, out_hw[1])
    (oh, kh), (ow, kw) = rows.shape, cols.shape
    windows = input.index_select(-2, _constant_like(rows.reshape(-1), input))
    windows = windows.index_select(-1, _constant_like(cols.reshape(-1), input)).reshape(lead + (oh, kh, ow, kw))
    own = (row_own[:, :, None, None] & col_own[None, None, :, :]).transpose(0, 2, 1, 3)  # (oh, ow, kh, kw)
    windows = ew.where(_constant_like(own, input), windows.movedim(-3, -2), -math.inf)
    values, place = windows.reshape(lead + (oh, ow, kh * kw)).max(-1)
    if not return_indices:
        return values
    plane = (rows[:, None, :, None] * width + cols[None, :, None, :]).reshape(oh, ow, kh * kw)
    table = _constant_like(plane, input).expand(lead + (oh, ow, kh * kw))
    return values, table.gather(-1, place.unsqueeze(-1)).squeeze(-1)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of an ``(N, C, H, W)`` or ``(C, H, W)`` input to a fixed ``output_size`` (an
    int, or a pair whose None entries keep the input's size); with ``return_indices`` also each
    maximum's flat index in its ``H * W`` plane.

    >>> F.adaptive_max_pool2d(tapegrad.arange(9.).reshape(1, 3, 3), 2, return_indices=True)
    (tensor([[[4., 5.],
             [7., 8.]]]), tensor([[[4, 5],
             [7, 8]]]))
    """
    fn = "adaptive_max_pool2d"
    output_size = _keep_none_sizes(input, output_size)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{fn}(): Expected 3D or 4D tensor, but got: {list(input.shape)}")
    sizes = _int_list(fn, "output_size", 2, output_size)
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2:
        raise RuntimeError(f"{fn}(): internal error: output_size.size() must be 2")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {list(input.shape)} with dimension {d} being empty")
    if min(sizes) < 0:
        shape = list(input.shape[:-2]) + sizes
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(sizes)}: {shape}")
    _check_float(fn, input)
    return _pool(input, (sizes[0], sizes[1]), return_indices)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of an ``(N, C, L)`` or ``(C, L)`` input to ``output_size`` positions; with
    ``return_indices`` also each maximum's position in ``L``.

    >>> F.adaptive_max_pool1d(tapegrad.tensor([[1., 3., 2., 6., 5.]]), 2)
    tensor([[3., 6.]])
    """
    fn = "adaptive_max_pool1d"
    _check_rank(fn, input)
    size = _one_int(fn, "output_size", output_size, 2)
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {list(input.shape)} with dimension {d} being empty")
    result = adaptive_max_pool2d(input.unsqueeze(-2), (1, size), return_indices)
    if not return_indices:
        return result.squeeze(-2)
    return result[0].squeeze(-2), result[1].squeeze(-2)
