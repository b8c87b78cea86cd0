"""``F.unfold`` (im2col) and ``F.fold`` (col2im), as recorded ops.

``unfold`` pads the input with zeros and gathers each sliding block with two ``index_select``
calls (rows, then columns, by constant index maps), then lays the blocks out as PyTorch does:
``(N, C * kh * kw, L)``, channel-major, blocks in row-major order. ``fold`` is its adjoint:
the same maps scatter-add each block's values into zeros (overlaps add up), and the padding is
cropped. Each is a composition of ops with gradients, so the two are each other's gradient,
run on either device, and compiled steps record them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..tensor import Tensor
from .conv import _FLOAT_KINDS
from .index import scatter_into_zeros
from .padding import pad

__all__: list[str] = ["fold", "unfold"]


def _pair(name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of ints, as PyTorch's ``_pair`` and the kernels' size check take it."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2:
        raise RuntimeError(f"It is expected {name} equals to 2, but got size {len(values)}")
    return int(values[0]), int(values[1])


def _check_geometry(kernel: tuple[int, int], dilation: tuple[int, int], padding: tuple[int, int],
                    stride: tuple[int, int], stride_first: bool) -> None:
    """PyTorch's argument checks, in its order (``col2im`` checks the stride before the dilation)."""
    checks = [(min(kernel) > 0, f"kernel size should be greater than zero, but got kernel_height: {kernel[0]} "
                                f"kernel_width: {kernel[1]}"),
              (min(dilation) > 0, f"dilation should be greater than zero, but got dilation_height: {dilation[0]} "
                                  f"dilation_width: {dilation[1]}"),
              (min(padding) >= 0, f"padding should be non-negative, but got pad_height: {padding[0]} "
                                  f"pad_width: {padding[1]}"),
              (min(stride) > 0, f"stride should be greater than zero, but got stride_height: {stride[0]} "
                                f"stride_width: {stride[1]}")]
    if stride_first:
        checks = [checks[0], checks[3], checks[1], checks[2]]
    for ok, message in checks:
        if not ok:
            raise RuntimeError(message)


def _blocks(size: int, kernel: int, dilation: int, padding: int, stride: int) -> int:
    """The number of sliding blocks along a dim (floor division, as PyTorch's ``div_rtn``)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _block_rows(blocks: int, kernel: int, dilation: int, stride: int) -> np.ndarray:
    """Positions in the padded dim of each block's elements, block-major: (blocks * kernel,)."""
    return (np.arange(blocks)[:, None] * stride + np.arange(kernel)[None, :] * dilation).reshape(-1)


def _check_dtype(name: str, input: Tensor, bool_ok: bool) -> None:
    if input._data.dtype not in _FLOAT_KINDS and not (bool_ok and input._data.dtype == np.bool_):
        raise NotImplementedError(f"\"{name}\" not implemented for '{input.dtype.scalar_name}'")


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """The sliding ``kernel_size`` blocks of an ``(N, C, H, W)`` or ``(C, H, W)`` input as
    columns: ``(N, C * kh * kw, L)`` with ``L`` blocks.

    >>> F.unfold(tapegrad.arange(9.).reshape(1, 1, 3, 3), 2)
    tensor([[[0., 1., 3., 4.],
             [1., 2., 4., 5.],
             [3., 4., 6., 7.],
             [4., 5., 7., 8.]]])
    """
    kernel, dilation, padding, stride = (_pair(name, value) for name, value in (
        ("kernel_size", kernel_size), ("dilation", dilation), ("padding", padding), ("stride", stride)))
    _check_geometry(kernel, dilation, padding, stride, stride_first=False)
    shape = tuple(input.shape)
    if input.ndim < 3:
        rank = max(input.ndim, 1)
        raise IndexError(f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {rank})")
    if input.ndim not in (3, 4) or 0 in shape[-3:]:
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
                           f"dimensions for input, but got: {list(shape)}")
    height, width = shape[-2:]
    counts = tuple(_blocks(size, *args) for size, *args in zip((height, width), kernel, dilation, padding, stride))
    if min(counts) < 1:
        raise RuntimeError(f"Given input with spatial size ({height}, {width}), kernel_size={kernel}, "
                           f"dilation={dilation}, padding={padding}, calculated shape of the array of sliding "
                           f"blocks as {counts}, but its components must be at least one.")
    _check_dtype("im2col_out_cpu", input, bool_ok=True)
    from ..creation import _constant_like

    padded = pad(input, (padding[1], padding[1], padding[0], padding[0])) if max(padding) else input
    rows = _block_rows(counts[0], kernel[0], dilation[0], stride[0])
    cols = _block_rows(counts[1], kernel[1], dilation[1], stride[1])
    blocks = padded.index_select(-2, _constant_like(rows, input)).index_select(-1, _constant_like(cols, input))
    lead = shape[:-3]
    blocks = blocks.reshape(lead + (shape[-3], counts[0], kernel[0], counts[1], kernel[1]))
    order = tuple(range(len(lead))) + tuple(len(lead) + d for d in (0, 2, 4, 1, 3))  # C, kh, kw, oh, ow
    return blocks.permute(order).reshape(lead + (shape[-3] * kernel[0] * kernel[1], counts[0] * counts[1]))


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """Sum sliding blocks (columns of an ``(N, C * kh * kw, L)`` or ``(C * kh * kw, L)`` input)
    into an ``(N, C, *output_size)`` tensor: ``unfold``'s adjoint.

    >>> F.fold(tapegrad.ones(1, 4, 4), (3, 3), 2)
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    """
    size, kernel, dilation, padding, stride = (_pair(name, value) for name, value in (
        ("output_size", output_size), ("kernel_size", kernel_size), ("dilation", dilation), ("padding", padding),
        ("stride", stride)))
    _check_geometry(kernel, dilation, padding, stride, stride_first=True)
    shape = tuple(input.shape)
    if input.ndim not in (2, 3) or 0 in shape[-2:]:
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                           f"dimensions for input, but got: {list(shape)}")
    # PyTorch checks the rest on the input as a batch of one, so its dims are named 1 and 2.
    planes, length = shape[-2:]
    if planes % (kernel[0] * kernel[1]):
        raise RuntimeError("Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={planes} and kernel_size={kernel}.")
    counts = tuple(_blocks(n, *args) for n, *args in zip(size, kernel, dilation, padding, stride))
    given = (f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, padding={padding}, "
             f"stride={stride}, ")
    if length != counts[0] * counts[1]:
        raise RuntimeError(f"{given}expected size of input's dimension 2 to match the calculated number of sliding "
                           f"blocks {counts[0]} * {counts[1]} = {counts[0] * counts[1]}, but got "
                           f"input.size(2)={length}.")
    if min(counts) < 1:
        raise RuntimeError(f"{given}calculated shape of the array of sliding blocks as {counts}, which is too "
                           "small (non-positive)")
    _check_dtype("col2im_out_cpu", input, bool_ok=True)
    geometry = (size, kernel, dilation, padding, stride, counts)
    if input._data.dtype == np.bool_:  # overlapping blocks combine by "or", as in PyTorch
        return _fold(input.to(_dtypes.int64), *geometry) != 0
    return _fold(input, *geometry)


def _fold(input: Tensor, size: tuple[int, int], kernel: tuple[int, int], dilation: tuple[int, int],
          padding: tuple[int, int], stride: tuple[int, int], counts: tuple[int, int]) -> Tensor:
    """The blocks of ``input`` scatter-added into zeros of the padded output, then cropped."""
    from ..creation import _constant_like

    shape = tuple(input.shape)
    lead, channels = shape[:-2], shape[-2] // (kernel[0] * kernel[1])
    blocks = input.reshape(lead + (channels, kernel[0], kernel[1], counts[0], counts[1]))
    order = tuple(range(len(lead))) + tuple(len(lead) + d for d in (0, 3, 1, 4, 2))  # C, oh, kh, ow, kw
    blocks = blocks.permute(order).reshape(lead + (channels, counts[0] * kernel[0], counts[1] * kernel[1]))
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    # scatter_add takes an index of its source's shape: the maps broadcast over the other dims.
    rows = np.broadcast_to(_block_rows(counts[0], kernel[0], dilation[0], stride[0])[:, None], blocks.shape)
    summed = scatter_into_zeros(blocks, lead + (channels, padded[0], blocks.shape[-1]), input.ndim - 1,
                                _constant_like(np.ascontiguousarray(rows), input))
    cols = np.broadcast_to(_block_rows(counts[1], kernel[1], dilation[1], stride[1]), summed.shape)
    summed = scatter_into_zeros(summed, lead + (channels,) + padded, input.ndim,
                                _constant_like(np.ascontiguousarray(cols), input))
    return summed[..., padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]
