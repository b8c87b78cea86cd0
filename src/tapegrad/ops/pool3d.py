"""``adaptive_avg_pool3d``: average pooling of ``(N, C, D, H, W)`` inputs to a fixed size, as
recorded ops.

An adaptive window is a product of one interval per dim (``floor(i*L/n)`` to ``ceil((i+1)*L/n)``,
as ``adaptive_max_pool2d``'s), so its average is the average along each dim in turn: each dim
mixes its window's positions with equal weights (``interpolate``'s gather, product and sum),
the last addition recorded under PyTorch's name. It runs on either device, compiles, and has
gradients of any order; the result differs from PyTorch's one-pass sum by rounding only.
"""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .adaptive_max import _windows
from .conv import _check_float, _int_list, _keep_none_sizes
from .elementwise import ADD
from .interpolate import _mix

__all__: list[str] = ["adaptive_avg_pool3d"]

_LAST = ADD.renamed("adaptive_avg_pool3d", "AdaptiveAvgPool3DBackward0")


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input to ``output_size`` (an
    int, or a triple whose None entries keep the input's size).

    >>> F.adaptive_avg_pool3d(tapegrad.arange(8.).reshape(1, 2, 2, 2), (1, 2, 1))
    tensor([[[[2.5000],
              [4.5000]]]])
    """
    fn = "adaptive_avg_pool3d"
    output_size = _keep_none_sizes(input, output_size)
    sizes = _int_list(fn, "output_size", 2, output_size)
    if len(sizes) == 1:
        sizes = sizes * 3
    if len(sizes) != 3:
        raise RuntimeError(f"{fn}: output_size must be 3")
    if min(sizes) < 0:
        raise RuntimeError(f"{fn}: elements of output_size must be greater than or equal to 0 but received "
                           f"{{{sizes[0]}, {sizes[1]},{sizes[2]}}}")
    if sizes == [1, 1, 1]:
        return input.mean((-1, -2, -3), keepdim=True)  # as in PyTorch (the step reads MeanBackward1)
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{fn}(): Expected 4D or 5D tensor, but got {list(input.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {list(input.shape)} with dimension {d} being empty")
    _check_float(f"{fn}_cpu", input)
    out = input
    for k, size in enumerate(sizes):
        axis = input.ndim - 3 + k
        positions, own = _windows(input.shape[axis], size)  # (cells, width)
        weights = own / own.sum(1, keepdims=True)
        out = _mix(out, axis, positions.T, weights.T.astype(input._data.dtype), _LAST if k == 2 else None)
    return out
