"""Power-average pooling: ``lp_pool1d``, ``lp_pool2d`` and ``lp_pool3d``.

Written as PyTorch writes them, so values and gradients follow the same steps: the average
pooling of ``x ** p``, then ``sign(out) * relu(|out|)`` (equal to ``out``, but its gradient is
part of PyTorch's), times the kernel's size (making the window's sum), to the power ``1 / p``
(a negative sum, from an odd power of negative inputs, gives NaN there too). ``p = inf`` is
the max pooling of ``|x|`` and ``p = -inf`` minus that of ``-|x|``.
Compositions of recorded ops: either device, compiled steps and gradients of any order.
"""
from __future__ import annotations

import math
from typing import Any

from ..tensor import Tensor
from . import elementwise as ew
from .conv import avg_pool2d, max_pool2d
from .pool1d import avg_pool1d, max_pool1d
from .pool3d import avg_pool3d, max_pool3d

__all__: list[str] = ["lp_pool1d", "lp_pool2d", "lp_pool3d"]


def _tuple(value: Any, n: int) -> tuple[Any, ...]:
    """PyTorch's ``_pair``/``_triple``: a sequence as a tuple, anything else repeated."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _lp(input: Tensor, norm_type: float, kernel_size: Any, stride: Any, ceil_mode: bool, size: Any,
        avg_pool: Any, max_pool: Any) -> Tensor:
    """The shared recipe; ``size`` multiplies the average back to a sum."""
    if isinstance(norm_type, (int, float)):
        if norm_type == math.inf:
            return max_pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -math.inf:
            return -max_pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if isinstance(size, (tuple, list)):
        # PyTorch's 1-d version multiplies by kernel_size as given.
        raise TypeError(f"mul(): argument 'other' (position 1) must be Tensor, not {type(size).__name__}")
    if stride is not None:
        out = avg_pool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return (ew.sign(out) * ew.relu(ew.abs(out))).mul(size).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """``(sum over each window of x ** p) ** (1 / p)`` over an ``(N, C, L)`` or ``(C, L)`` input.

    >>> F.lp_pool1d(tapegrad.tensor([[3., 4., 1., 1.]]), 2, 2)
    tensor([[5.0000, 1.4142]])
    """
    return _lp(input, norm_type, kernel_size, stride, ceil_mode, kernel_size, avg_pool1d, max_pool1d)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """``(sum over each window of x ** p) ** (1 / p)`` over an ``(N, C, H, W)`` or ``(C, H, W)``
    input.

    >>> F.lp_pool2d(tapegrad.ones(1, 2, 2), 2, 2)
    tensor([[[2.]]])
    """
    kw, kh = _tuple(kernel_size, 2)
    return _lp(input, norm_type, kernel_size, stride, ceil_mode, kw * kh, avg_pool2d, max_pool2d)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """``(sum over each window of x ** p) ** (1 / p)`` over an ``(N, C, D, H, W)`` or ``(C, D, H,
    W)`` input.

    >>> F.lp_pool3d(tapegrad.ones(1, 2, 2, 2), 1, 2)
    tensor([[[[8.]]]])
    """
    kd, kw, kh = _tuple(kernel_size, 3)
    return _lp(input, norm_type, kernel_size, stride, ceil_mode, kd * kw * kh, avg_pool3d, max_pool3d)
