"""Memory formats: ``contiguous_format``, ``preserve_format``, ``channels_last`` and
``channels_last_3d``, the layouts ``contiguous``, ``clone``, ``to`` and ``is_contiguous`` take.

A channels-last tensor keeps its (N, C, H, W) shape and indexing; only its strides differ,
with the channels innermost in memory. Every op reads strided buffers, so such a tensor
works everywhere; ops return contiguous results. ``preserve_format`` keeps a channels-last
layout and makes any other one contiguous (PyTorch also keeps other dense permuted layouts).
"""
from __future__ import annotations

from typing import Any

import numpy as np


class _Constant:
    """A named module-level constant, compared by identity as PyTorch's are."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickles as the module-level constant


class memory_format(_Constant):
    """One of the layouts above."""

    __slots__ = ()


class layout(_Constant):
    """A tensor's storage layout (``Tensor.layout``): tapegrad's tensors are all ``strided``
    (dense, with strides); PyTorch's sparse layouts have no counterpart here."""

    __slots__ = ()


strided = layout("strided")

contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")

# The dims from outermost to innermost in memory, and the rank each format needs.
ORDERS = {channels_last: (0, 2, 3, 1), channels_last_3d: (0, 2, 3, 4, 1)}


def check(value: Any, function: str) -> memory_format:
    """``value`` as a memory format (None: ``preserve_format``), or PyTorch's TypeError."""
    if value is None:
        return preserve_format
    if not isinstance(value, memory_format):
        raise TypeError(f"{function}(): argument 'memory_format' must be torch.memory_format, "
                        f"not {type(value).__name__}")
    return value


def order(fmt: memory_format, ndim: int) -> tuple[int, ...] | None:
    """The memory order a channels-last format asks of a rank-``ndim`` tensor (None: C order),
    or PyTorch's error when the rank is not the format's."""
    dims = ORDERS.get(fmt)
    if dims is not None and ndim != len(dims):
        raise RuntimeError(f"required rank {len(dims)} tensor to use {fmt.name} format")
    return dims


def is_in_order(data: Any, dims: tuple[int, ...]) -> bool:
    """Whether ``data`` is densely laid out with ``dims`` from outermost to innermost (a dim of
    size 1 may have any stride, as in PyTorch's check)."""
    expected = data.dtype.itemsize
    for d in reversed(dims):
        size = data.shape[d]
        if size != 1 and data.strides[d] != expected:
            return False
        expected *= size
    return True


def suggested(data: Any) -> tuple[int, ...] | None:
    """The channels-last order ``preserve_format`` keeps for ``data``, if it is in one."""
    dims = ORDERS.get(channels_last if data.ndim == 4 else channels_last_3d if data.ndim == 5 else None)
    if dims is not None and is_in_order(data, dims) and not is_in_order(data, tuple(range(data.ndim))):
        return dims
    return None


def laid_out(data: Any, dims: tuple[int, ...]) -> Any:
    """A copy of ``data`` (NumPy or CUDA) with the same shape, laid out in ``dims`` order."""
    inverse = tuple(int(i) for i in np.argsort(dims))
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data.transpose(dims)).transpose(inverse)
    from .cuda import _ops, _views

    return _views.permute(_ops.contiguous_copy(_views.permute(data, dims)), inverse)
