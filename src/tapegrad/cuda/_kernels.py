"""The tensor ops' entry points into the CUDA kernels of ``tapegrad.backends.cuda_reduce``,
``cuda_linalg``, ``cuda_nn`` and ``cuda_optim``.

Those kernels take numba device arrays; tensors hold :class:`~tapegrad.cuda._arrays.CudaArray`
buffers. The functions here make operands C-contiguous where a kernel needs it, wrap results
as ``CudaArray`` and apply the conventions the CPU backend's functions of the same names
follow (reduced dimensions dropped, float32 sums accumulated in float64), so an op's CUDA
branch is one call. Ops reach this module only for CUDA tensors: ``import tapegrad`` never
imports it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..backends import cuda_linalg, cuda_nn, cuda_optim, cuda_reduce
from ._arrays import adopt
from ._ops import contiguous_copy
from ._views import permute


def _contiguous(data: Any) -> Any:
    return data if data.is_c_contiguous() else contiguous_copy(data)


def reduce_sum(data: Any, axes: tuple[int, ...], dtype: np.dtype) -> Any:
    """The sum over ``axes`` in ``dtype`` (reduced dimensions dropped), as ``cpu.reduce_sum``."""
    return adopt(cuda_reduce.sum_axes(_contiguous(data), axes, dtype=dtype))


def reduce_prod(data: Any, axes: tuple[int, ...], dtype: np.dtype) -> Any:
    """The product over ``axes`` in ``dtype`` (reduced dimensions dropped), as ``cpu.reduce_prod``."""
    return adopt(cuda_reduce.prod_axes(_contiguous(data), axes, dtype=dtype))


def reduce_mean(data: Any, axes: tuple[int, ...], dtype: np.dtype) -> Any:
    """The mean over ``axes`` in ``dtype``: the sum rounded to ``dtype`` divided by the count
    (NaN for none), as ``ops.reduce.mean`` computes it on the CPU."""
    return adopt(cuda_reduce.mean_axes(_contiguous(data), axes, dtype=dtype))


def reduce_extreme(data: Any, axes: tuple[int, ...], largest: bool) -> tuple[Any, Any]:
    """``(values, int64 indices)`` of the max or min over ``axes`` (reduced dimensions dropped),
    as ``cpu.reduce_extreme``; over several axes they are moved last and read as one, so an
    index counts positions in that flattened block."""
    if not axes:
        # Nothing reduced (a 0-d input): each element is its own extreme, at index 0.
        return contiguous_copy(data), adopt(cuda_reduce.sum_axes(_contiguous(data), (), dtype=np.int64))
    if len(axes) == 1:
        values, indices = cuda_reduce.extreme(_contiguous(data), axes[0], largest)
        return adopt(values), adopt(indices)
    kept = [d for d in range(data.ndim) if d not in axes]
    moved = contiguous_copy(permute(data, kept + list(axes)))
    rows = moved.reshape(tuple(data.shape[d] for d in kept) + (-1,))
    values, indices = cuda_reduce.extreme(rows, len(kept), largest)
    return adopt(values), adopt(indices)


def scan(data: Any, axis: int, dtype: np.dtype, reverse: bool, product: bool) -> Any:
    """The cumulative sum (product with ``product``) along ``axis`` in ``dtype`` (from the end
    with ``reverse``), as ``ops.reduce.cumsum``/``cumprod`` compute it on the CPU."""
    return adopt(cuda_reduce.scan(_contiguous(data), axis, dtype, reverse, product))


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D or stacked 3-D float operands of any strides."""
    return adopt(cuda_linalg.matmul(a, b))


def addmm(bias: Any, a: Any, b: Any, beta: Any, alpha: Any) -> Any:
    """``beta * bias + alpha * (a @ b)`` with ``bias`` broadcast to the product."""
    return adopt(cuda_linalg.addmm(bias, a, b, beta=float(beta), alpha=float(alpha)))


def softmax(data: Any, axis: int, log: bool) -> Any:
    """(Log-)softmax along ``axis``: the row kernel runs over the last axis, so another axis
    is moved last in a copy and the result moved back (as ``cpu.softmax`` does)."""
    last = data.ndim - 1
    if axis == last:
        return adopt(cuda_nn.softmax(_contiguous(data), log=log))
    order = [d for d in range(data.ndim) if d != axis] + [axis]
    moved = adopt(cuda_nn.softmax(contiguous_copy(permute(data, order)), log=log))
    back = [0] * data.ndim
    for position, d in enumerate(order):
        back[d] = position
    return contiguous_copy(permute(moved, back))


def nll(log_probs: Any, target: Any, weight: Any, ignore_index: int, reduction: str) -> tuple[Any, Any]:
    """``(loss, total weight)`` of class-index targets, as ``cuda_nn.nll_loss`` defines them
    (raises ``IndexError`` for a target out of range, as the CPU path does)."""
    loss, total = cuda_nn.nll_loss(_contiguous(log_probs), _contiguous(target),
                                   weight=None if weight is None else _contiguous(weight),
                                   ignore_index=ignore_index, reduction=reduction)
    return adopt(loss), None if total is None else adopt(total)


def nll_backward(grad: Any, shape: tuple[int, ...], target: Any, total: Any, weight: Any, ignore_index: int,
                 reduction: str) -> Any:
    """The gradient of :func:`nll` with respect to the log-probabilities."""
    return adopt(cuda_nn.nll_loss_backward(_contiguous(grad), shape, _contiguous(target), total,
                                           weight=None if weight is None else _contiguous(weight),
                                           ignore_index=ignore_index, reduction=reduction))


def optimizer_update(kernel: Any, flags: Sequence[bool], param: Any, grad: Any, buffers: Sequence[Any],
                     scalars: np.ndarray) -> None:
    """One parameter's fused optimizer update, generated from the same body as the CPU kernel."""
    cuda_optim.update(kernel, flags, param, _contiguous(grad), buffers, scalars)
