"""Padding modules: ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``, ``ReplicationPad`` and
``CircularPad`` for one, two and three trailing dims, each ``F.pad`` with a fixed mode. A
padding given as one int pads every side by it."""
from __future__ import annotations

from typing import Sequence

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__: list[str] = ["CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
                      "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
                      "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]


class _PadNd(Module):
    mode: str = "constant"
    dims: int

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * (2 * self.dims)
        padding = tuple(int(p) for p in padding)
        if len(padding) != 2 * self.dims:
            raise ValueError(f"{type(self).__name__} expects a padding of {2 * self.dims} ints or one int, "
                             f"got {list(padding)}")
        self.padding = padding

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``.

    >>> nn.ConstantPad1d(1, 3.5)(tapegrad.tensor([[1., 2.]]))
    tensor([[3.5000, 1.0000, 2.0000, 3.5000]])
    """

    dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``."""

    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with ``value``."""

    dims = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros.

    >>> nn.ZeroPad1d((1, 2))
    ZeroPad1d((1, 2))
    """

    dims = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros."""

    dims = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros."""

    dims = 3


class ReflectionPad1d(_PadNd):
    """Pad the last dim with its reflection (the edge not repeated).

    >>> nn.ReflectionPad1d(2)(tapegrad.tensor([[1., 2., 3.]]))
    tensor([[3., 2., 1., 2., 3., 2., 1.]])
    """

    mode, dims = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Pad the last two dims with their reflection."""

    mode, dims = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Pad the last three dims with their reflection."""

    mode, dims = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating its edge values."""

    mode, dims = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Pad the last two dims by repeating their edge values."""

    mode, dims = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Pad the last three dims by repeating their edge values."""

    mode, dims = "replicate", 3


class CircularPad1d(_PadNd):
    """Pad the last dim by wrapping around."""

    mode, dims = "circular", 1


class CircularPad2d(_PadNd):
    """Pad the last two dims by wrapping around."""

    mode, dims = "circular", 2


class CircularPad3d(_PadNd):
    """Pad the last three dims by wrapping around."""

    mode, dims = "circular", 3
