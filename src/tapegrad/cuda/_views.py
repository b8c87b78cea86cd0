"""Views of CUDA arrays: new shapes and strides over the same device memory.

The movement ops (``reshape``, ``transpose``, ``permute``, ``expand``, …) call these for CUDA
tensors where the CPU path calls NumPy's view functions.
"""
from __future__ import annotations

from typing import Any, Sequence

from ._arrays import CudaArray, contiguous_strides, view


def reshape_view(data: Any, shape: tuple[int, ...]) -> CudaArray | None:
    """``data`` viewed at ``shape`` without a copy, or None when no strides can express it."""
    strides = _view_strides(tuple(data.shape), tuple(data.strides), shape, data.dtype.itemsize)
    return None if strides is None else view(data, shape, strides)


def _view_strides(old_shape: tuple[int, ...], old_strides: tuple[int, ...], shape: tuple[int, ...],
                  itemsize: int) -> tuple[int, ...] | None:
    """PyTorch's ``computeStride``: split or merge runs of dimensions that are contiguous
    among themselves (byte strides in, byte strides out)."""
    numel = 1
    for size in old_shape:
        numel *= size
    if numel == 0 or not old_shape:
        return contiguous_strides(shape, itemsize)
    strides = [0] * len(shape)
    view_d = len(shape) - 1
    chunk_base = old_strides[-1]
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1
                             and old_strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                strides[view_d] = view_numel * chunk_base
                view_numel *= shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = old_strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(strides)


def permute(data: Any, axes: Sequence[int]) -> CudaArray:
    shape, strides = tuple(data.shape), tuple(data.strides)
    return view(data, tuple(shape[a] for a in axes), tuple(strides[a] for a in axes))


def swapaxes(data: Any, first: int, second: int) -> CudaArray:
    axes = list(range(len(data.shape)))
    axes[first], axes[second] = axes[second], axes[first]
    return permute(data, axes)


def broadcast_to(data: Any, shape: tuple[int, ...]) -> CudaArray:
    """``data`` seen at a broadcast ``shape``: stride 0 along new and size-1 dimensions."""
    lead = len(shape) - len(data.shape)
    strides = [0] * lead
    for size, target, stride in zip(data.shape, shape[lead:], data.strides):
        strides.append(stride if size == target else 0)
    return view(data, shape, tuple(strides))


def alias(data: Any) -> CudaArray:
    """A new array object over the same memory (what ``ndarray.view()`` is on the CPU)."""
    return view(data, tuple(data.shape), tuple(data.strides))
