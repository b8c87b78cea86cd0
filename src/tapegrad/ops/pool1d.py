"""1-d pooling: ``max_pool1d``, ``avg_pool1d`` and ``adaptive_avg_pool1d``.

As in PyTorch, each is its 2-d twin over a unit height: the input gains a dim before its last,
the 2-d op runs (its kernels, its compile rules, its gradients), and the result loses that dim
again, so its step reads ``SqueezeBackward1``. The checks are PyTorch's 1-d ones, made before
the 2-d op sees the lifted arguments.
"""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .conv import _check_float, _int_list, _pool_output_size, adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__: list[str] = ["adaptive_avg_pool1d", "avg_pool1d", "max_pool1d"]


def _one(fn: str, name: str, value: Any, position: int, default: int | None = None) -> int:
    """A 1-d pooling argument as one int (``default`` for an omitted or empty stride)."""
    if default is not None and (value is None or (isinstance(value, (tuple, list)) and len(value) == 0)):
        return default
    values = _int_list(fn, name, position, value)
    if len(values) != 1:
        raise RuntimeError(f"{fn}() {name} must be an int, list of ints or tuple of ints of size 1 but got size "
                           f"{len(values)}")
    return values[0]


def _check_rank(fn: str, input: Tensor) -> None:
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 "
                           f"'self' (while checking arguments for {fn})")


def _one_int(fn: str, name: str, value: Any, position: int) -> int:
    """An argument PyTorch's 1-d average poolings take as exactly one int."""
    values = _int_list(fn, name, position, value)
    if len(values) != 1:
        raise RuntimeError(f"{fn}() argument '{name}' should contain one int (got {len(values)})")
    return values[0]


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over ``kernel_size`` windows of an ``(N, C, L)`` or ``(C, L)`` input (``stride``
    defaults to ``kernel_size``); with ``return_indices`` also each maximum's position in ``L``.

    >>> F.max_pool1d(tapegrad.tensor([[1., 3., 2., 5.]]), 2)
    tensor([[3., 5.]])
    """
    fn = "max_pool1d"
    if input.ndim not in (2, 3) or 0 in input.shape[-1:]:
        raise RuntimeError(f"{fn}: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, "
                           f"but got:{list(input.shape)}")
    kernel = _one(fn, "kernel_size", kernel_size, 2)
    step = _one(fn, "stride", stride, 3, default=kernel)
    pad = _one(fn, "padding", padding, 4)
    spread = _one(fn, "dilation", dilation, 5)
    if kernel <= 0:
        raise RuntimeError(f"{fn}() kernel_size must be greater than zero, but got {kernel}")
    if step <= 0:
        raise RuntimeError(f"{fn}() stride must be greater than zero, but got {step}")
    if pad < 0:
        raise RuntimeError(f"{fn}() padding must be non-negative, but got {pad}")
    if pad > kernel // 2:
        raise RuntimeError(f"{fn}() padding should be at most half of kernel size, but got padding={pad} and "
                           f"kernel_size={kernel}")
    if spread <= 0:
        raise RuntimeError(f"{fn}() dilation must be greater than zero, but got {spread}")
    size = _pool_output_size(input.shape[-1], kernel, pad, step, spread, ceil_mode)
    if size <= 0:
        raise RuntimeError(f"{fn}() Invalid computed output size: {size}")
    _check_float("max_pool1d_impl", input)
    out = max_pool2d(input.unsqueeze(-2), (1, kernel), (1, step), (0, pad), (1, spread), ceil_mode, return_indices)
    if return_indices:
        values, indices = out
        return values.squeeze(-2), indices.squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over ``kernel_size`` windows of an ``(N, C, L)`` or ``(C, L)`` input; padding counts
    in the divisor unless ``count_include_pad=False``.

    >>> F.avg_pool1d(tapegrad.tensor([[1., 3., 2., 6.]]), 2)
    tensor([[2., 4.]])
    """
    fn = "avg_pool1d"
    _check_rank(fn, input)
    kernel = _one_int(fn, "kernel_size", kernel_size, 2)
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    step = kernel if empty else _one_int(fn, "stride", stride, 3)
    pad = _one_int(fn, "padding", padding, 4)
    return avg_pool2d(input.unsqueeze(-2), (1, kernel), (1, step), (0, pad), ceil_mode,
                      count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of an ``(N, C, L)`` or ``(C, L)`` input to ``output_size`` positions.

    >>> F.adaptive_avg_pool1d(tapegrad.tensor([[1., 3., 2., 6.]]), 2)
    tensor([[2., 4.]])
    """
    fn = "adaptive_avg_pool1d"
    _check_rank(fn, input)
    size = _one_int(fn, "output_size", output_size, 2)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)
