"""``sort``, ``argsort`` and ``topk`` along one dim.

Both devices order the same way: a stable sort (equal elements keep their order, which
PyTorch guarantees only with ``stable=True`` but its CPU kernel gives for distinct values
anyway), NaN the largest value. The CPU sorts with ``np.lexsort`` on (is-NaN, value,
position) keys; CUDA ranks each element within a short line, and merge-sorts longer ones in
log2(n) parallel passes (``cuda_reduce.sort``). The values' gradient is scattered back to the
sorted positions. Compiled steps do not record these ops.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from .. import return_types
from ..tensor import Tensor, _wrap, _wrap_dim
from .index import scatter_into_zeros
from .registry import OpDef, record

__all__: list[str] = ["argsort", "sort", "topk"]


def _sorted(data: Any, axis: int, descending: bool) -> tuple[Any, Any]:
    """(values, int64 indices) of ``data`` sorted along ``axis``."""
    if not isinstance(data, np.ndarray):
        from ..backends import cuda_reduce
        from ..cuda import _arrays, _ops

        if data.dtype == np.bool_:
            values, indices = _sorted(_ops.cast(data, np.uint8), axis, descending)
            return _ops.cast(values, np.bool_), indices
        contiguous = data if data.is_c_contiguous() else _ops.contiguous_copy(data)
        values, indices = cuda_reduce.sort(contiguous, axis, descending)
        return _arrays.adopt(values), _arrays.adopt(indices)
    moved = np.moveaxis(data, axis, -1)
    nan = np.isnan(moved) if moved.dtype.kind == "f" else np.zeros(moved.shape, np.bool_)
    if descending:
        # ~x reverses the order of integers and bools without overflow; NaN comes first.
        key, first = (-moved if moved.dtype.kind == "f" else ~moved), ~nan
    else:
        key, first = moved, nan
    positions = np.broadcast_to(np.arange(moved.shape[-1]), moved.shape)
    order = np.lexsort((positions, key, first), axis=-1) if moved.size else np.zeros(moved.shape, np.int64)
    values = np.take_along_axis(moved, order, -1)
    return np.ascontiguousarray(np.moveaxis(values, -1, axis)), np.ascontiguousarray(np.moveaxis(order, -1, axis))


def _scatter_back_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    axis, indices = step.attrs
    return (scatter_into_zeros(g, step.input_meta[0][0], axis, indices),)


SORT = OpDef("sort", "SortBackward0", _scatter_back_vjp)
SORT_STABLE = OpDef("sort_stable", "SortBackward1", _scatter_back_vjp)
TOPK = OpDef("topk", "TopkBackward0", _scatter_back_vjp)


def _axis(input: Tensor, dim: int) -> int:
    return _wrap_dim(dim, input.ndim) if input.ndim else _wrap_dim(dim, 1) * 0  # 0-d: dim 0 or -1


def _itself(input: Tensor) -> tuple[Any, Any]:
    """A 0-d tensor sorted: a copy of itself, at index 0."""
    from ..creation import zeros
    from ..dtypes import int64
    from .elementwise import clone

    with grad_mode.no_grad():
        return clone(input)._data, zeros((), dtype=int64, device=input.device)._data


def _finish(op: OpDef, input: Tensor, values: Any, indices: Any, axis: int, result: Any) -> tuple[Tensor, Tensor]:
    values_t, indices_t = _wrap(values), _wrap(indices)
    if grad_mode.state.enabled and input._requires_grad:
        record(op, (input,), values_t, (axis, indices_t))
    return result(values_t, indices_t)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> tuple[Tensor, Tensor]:
    """``(values, indices)`` of ``input`` sorted along ``dim`` (NaN the largest).

    >>> tapegrad.sort(tapegrad.tensor([3., 1., 2.]))
    tapegrad.return_types.sort(
    values=tensor([1., 2., 3.]),
    indices=tensor([1, 2, 0]))
    """
    axis = _axis(input, dim)
    values, indices = _sorted(input._data, axis, descending) if input.ndim else _itself(input)
    return _finish(SORT_STABLE if stable else SORT, input, values, indices, axis, return_types.sort)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim``.

    >>> tapegrad.argsort(tapegrad.tensor([3., 1., 2.]), descending=True)
    tensor([0, 2, 1])
    """
    return sort(input.detach(), dim, descending, stable=stable).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple[Tensor, Tensor]:
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``, in order.

    >>> tapegrad.topk(tapegrad.tensor([1., 4., 2., 3.]), 2)
    tapegrad.return_types.topk(
    values=tensor([4., 3.]),
    indices=tensor([1, 3]))
    """
    if input._data.dtype.kind == "b":
        raise RuntimeError("topk does not support bool dtypes on CPU")
    axis = _axis(input, dim)
    size = input.shape[axis] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    if input.ndim == 0:
        return _finish(TOPK, input, *_itself(input), axis, return_types.topk)
    values, indices = _sorted(input._data, axis, largest)
    if k < size:
        take = (slice(None),) * axis + (slice(0, k),)
        values, indices = values[take], indices[take]
        if isinstance(values, np.ndarray):
            values, indices = np.ascontiguousarray(values), np.ascontiguousarray(indices)
        else:
            from ..cuda._ops import contiguous_copy

            values, indices = contiguous_copy(values), contiguous_copy(indices)
    return _finish(TOPK, input, values, indices, axis, return_types.topk)
