"""PyTorch's ``*_with_indices`` names of the 1-d and 2-d max poolings: each is the pooling with
``return_indices=True``, whatever its own ``return_indices`` argument says (PyTorch's
``F.max_pool2d`` dispatches to these on that flag). The 3-d ones live in ``pool3d``.
"""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .adaptive_max import adaptive_max_pool1d, adaptive_max_pool2d
from .conv import max_pool2d
from .pool1d import max_pool1d

__all__: list[str] = ["adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
                      "max_pool1d_with_indices", "max_pool2d_with_indices"]


def max_pool1d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``max_pool1d`` and its indices.

    >>> F.max_pool1d_with_indices(tapegrad.tensor([[1., 3., 2., 5.]]), 2)
    (tensor([[3., 5.]]), tensor([[1, 3]]))
    """
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``max_pool2d`` and its indices (flat positions in each ``H * W`` plane).

    >>> F.max_pool2d_with_indices(tapegrad.arange(4.).reshape(1, 2, 2), 2)
    (tensor([[[3.]]]), tensor([[[3]]]))
    """
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size: Any,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool1d`` and its indices.

    >>> F.adaptive_max_pool1d_with_indices(tapegrad.tensor([[1., 3., 2., 5.]]), 2)
    (tensor([[3., 5.]]), tensor([[1, 3]]))
    """
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size: Any,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool2d`` and its indices (flat positions in each ``H * W`` plane).

    >>> F.adaptive_max_pool2d_with_indices(tapegrad.arange(4.).reshape(1, 2, 2), 1)
    (tensor([[[3.]]]), tensor([[[3]]]))
    """
    return adaptive_max_pool2d(input, output_size, True)
