"""Set-like and counting ops: ``unique``, ``unique_consecutive``, ``bincount``, ``histc``,
``searchsorted``, ``bucketize``, ``tril_indices`` and ``triu_indices``.

None of them has a gradient. They are compositions of tapegrad ops, so they run on both
devices without code of their own: ``unique`` is a stable ``sort``, a comparison of neighbours
and ``nonzero`` of the run starts (slices along a dim are sorted lexicographically by one
stable sort per column, last column first); ``bincount`` and ``histc`` scatter-add into zeros
(``histc`` computes each element's bin as PyTorch does, in the input's dtype). The exception
is ``searchsorted``, a binary search per value with PyTorch's comparisons
(``backends/scatter_kernels.py``). Output sizes that depend on values (``unique``'s, and
``bincount``'s length) are read on the host, as in PyTorch; those ops refuse to be traced by
``tapegrad.compile``, and so do ``histc`` when it has to find the input's range itself and
``searchsorted`` (no compile rule for its kernel). ``histc`` with a given range, and
``tril_indices`` / ``triu_indices`` (constants), are recorded.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import scatter_kernels as sk
from ..compiler import trace
from ..tensor import Tensor, _wrap, _wrap_dim
from . import elementwise as ew
from .index import getitem, nonzero, scatter_into_zeros
from .movement import cat, movedim, reshape
from .registry import OpDef, needs_grad, record
from .scatter import refuse_value_dependent

__all__ = ["bincount", "bucketize", "histc", "histogram", "searchsorted", "tril_indices", "triu_indices", "unique",
           "unique_consecutive"]


def _not_implemented(error: type, message: str) -> Any:
    def rule(step: Step, g: Tensor) -> Any:
        raise error(message)

    return rule


# PyTorch's nodes for these outputs, whose backward raises.
UNIQUE = OpDef("unique", "Unique2Backward0",
               _not_implemented(NotImplementedError, "the derivative for '_unique2' is not implemented."))
UNIQUE_DIM = OpDef("unique_dim", "UniqueDimBackward0",
                   _not_implemented(NotImplementedError, "the derivative for 'unique_dim' is not implemented."))
UNIQUE_CONSECUTIVE = OpDef("unique_consecutive", "UniqueConsecutiveBackward0",
                           _not_implemented(NotImplementedError,
                                            "the derivative for 'unique_consecutive' is not implemented."))
BINCOUNT = OpDef("bincount", "torch::autograd::NotImplemented",
                 _not_implemented(RuntimeError, "derivative for aten::bincount is not implemented"))


def _int64() -> _dtypes.dtype:
    return _dtypes.int64


def _full(shape: tuple[int, ...], value: Any, dtype: Any, like: Tensor) -> Tensor:
    from ..creation import full

    return full(shape, value, dtype=dtype, device=like.device)


# ---------------------------------------------------------------- unique

def _runs(distinct: Tensor, count: int) -> tuple[Tensor, Tensor, Tensor]:
    """For the bool vector ``distinct`` (True where a new run starts; entry 0 True): the run
    starts, each element's run number, and the run lengths (all int64)."""
    starts = reshape(nonzero(distinct), -1)
    group = ew.sub(distinct.cumsum(0), 1)
    ends = cat([starts[1:], _full((1,), count, _int64(), distinct)])
    return starts, group, ew.sub(ends, starts)


def _neighbours_differ(rows: Tensor) -> Tensor:
    """True at 0 and wherever row ``k`` differs from row ``k - 1`` (rows: a 1-d or 2-d tensor).
    NaN differs from everything, itself included, as in PyTorch."""
    differ = ew.ne(rows[1:], rows[:-1])
    if rows.ndim == 2:
        differ = differ.any(1) if rows.shape[1] else _full((rows.shape[0] - 1,), False, _dtypes.bool_, rows)
    return cat([_full((1,), True, _dtypes.bool_, rows), differ])


def _lexical_order(rows: Tensor) -> Tensor:
    """The stable order sorting the rows of the 2-d ``rows`` lexicographically: one stable sort
    per column, last column first (NaN sorting last, as in ``sort``)."""
    from ..creation import arange
    from .sort import sort

    order = arange(rows.shape[0], device=rows.device)
    for column in range(rows.shape[1] - 1, -1, -1):
        keys = getitem(rows[:, column], (order,))
        order = getitem(order, (sort(keys, stable=True).indices,))
    return order


def _finish_unique(values: Tensor, inverse: Tensor, counts: Tensor, return_inverse: bool, return_counts: bool,
                   input: Tensor, op: OpDef) -> Any:
    if needs_grad(input):
        record(op, (input,), values)
    if not (return_inverse or return_counts):
        return values
    return (values,) + ((inverse,) if return_inverse else ()) + ((counts,) if return_counts else ())


def _unique_dim_rows(input: Tensor, dim: int) -> tuple[int, Tensor]:
    """``input``'s slices along ``dim`` as the rows of a 2-d tensor, after PyTorch's checks."""
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    axis = _wrap_dim(dim, input.ndim)
    if input.numel() == 0:
        if list(input.shape).count(0) != 1:
            raise RuntimeError("Number of zero sized dimensions is more than one, so unique cannot be applied ")
        if input.shape[axis] != 0:
            raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    moved = movedim(input, axis, 0)
    return axis, reshape(moved, (moved.shape[0], int(np.prod(moved.shape[1:], dtype=np.int64))))


def _from_rows(rows: Tensor, input: Tensor, axis: int) -> Tensor:
    moved_shape = list(movedim(input, axis, 0).shape)
    moved_shape[0] = rows.shape[0]
    return movedim(reshape(rows, tuple(moved_shape)), 0, axis).contiguous()


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None) -> Any:
    """The distinct elements of ``input`` in ascending order (NaNs each their own, last), or the
    distinct slices along ``dim``; with ``return_inverse``, where each element went, and with
    ``return_counts``, how often each occurs. (The result is sorted whatever ``sorted`` says,
    as PyTorch's CPU gives it.)

    >>> tapegrad.unique(tapegrad.tensor([3, 1, 3, 2]), return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 1, 2]))
    """
    refuse_value_dependent("unique")
    with grad_mode.no_grad():
        values, inverse, counts = _unique(input.detach(), dim)
    return _finish_unique(values, inverse, counts, return_inverse, return_counts, input,
                          UNIQUE if dim is None else UNIQUE_DIM)


def _unique(x: Tensor, dim: int | None) -> tuple[Tensor, Tensor, Tensor]:
    from .sort import sort

    if dim is None:
        flat = reshape(x, -1)
        count = flat.shape[0]
        if count == 0:
            empty = _full((0,), 0, _int64(), x)
            return ew.clone(flat), reshape(empty, tuple(x.shape)), empty
        ordered, order = sort(flat, stable=True)
        starts, group, counts = _runs(_neighbours_differ(ordered), count)
        inverse = reshape(scatter_into_zeros(group, (count,), 0, order), tuple(x.shape))
        return getitem(ordered, (starts,)), inverse, counts
    axis, rows = _unique_dim_rows(x, dim)
    count = rows.shape[0]
    if count == 0:
        empty = _full((0,), 0, _int64(), x)
        return x.clone(), empty, empty
    order = _lexical_order(rows)
    ordered = getitem(rows, (order,))
    starts, group, counts = _runs(_neighbours_differ(ordered), count)
    return _from_rows(getitem(ordered, (starts,)), x, axis), scatter_into_zeros(group, (count,), 0, order), counts


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    """``input`` with each run of equal consecutive elements (slices along ``dim``) kept once;
    ``return_inverse`` and ``return_counts`` as in :func:`unique`.

    >>> tapegrad.unique_consecutive(tapegrad.tensor([1, 1, 2, 1]))
    tensor([1, 2, 1])
    """
    refuse_value_dependent("unique_consecutive")
    with grad_mode.no_grad():
        values, inverse, counts = _unique_consecutive(input.detach(), dim)
    return _finish_unique(values, inverse, counts, return_inverse, return_counts, input, UNIQUE_CONSECUTIVE)


def _unique_consecutive(x: Tensor, dim: int | None) -> tuple[Tensor, Tensor, Tensor]:
    if dim is None:
        flat = reshape(x, -1)
        count = flat.shape[0]
        if count == 0:
            empty = _full((0,), 0, _int64(), x)
            return ew.clone(flat), reshape(empty, tuple(x.shape)), empty
        starts, group, counts = _runs(_neighbours_differ(flat), count)
        return getitem(flat, (starts,)), reshape(group, tuple(x.shape)), counts
    axis, rows = _unique_dim_rows(x, dim)
    count = rows.shape[0]
    if count == 0:
        empty = _full((0,), 0, _int64(), x)
        return x.clone(), empty, empty
    starts, inverse, counts = _runs(_neighbours_differ(rows), count)
    return _from_rows(getitem(rows, (starts,)), x, axis), inverse, counts


# ---------------------------------------------------------------- bincount / histc

def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value ``0 .. max(input)`` occurs in the 1-d non-negative integer ``input``
    (at least ``minlength`` bins); with ``weights``, their sums instead (float64, or the weights'
    float dtype).

    >>> tapegrad.bincount(tapegrad.tensor([1, 3, 3]))
    tensor([0, 1, 0, 2])
    """
    where = "cpu" if isinstance(input._data, np.ndarray) else "cuda"
    if input._data.dtype.kind not in "iu":
        raise NotImplementedError(f"\"bincount_{where}\" not implemented for '{input.dtype.scalar_name}'")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if input.ndim == 1 and input.numel() == 0:
        return _full((minlength,), 0, _int64(), input)
    refuse_value_dependent("bincount")
    low = int(input.detach().min().cpu().numpy()) if input.ndim == 1 else 0
    if input.ndim != 1 or low < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and (weights.ndim != 1 or weights.shape[0] != input.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    length = max(int(input.detach().max().cpu().numpy()) + 1, minlength)
    with grad_mode.no_grad():
        if weights is None:
            added = _full((input.shape[0],), 1, _int64(), input)
        else:
            dtype = weights.dtype if weights.dtype.is_floating_point else _dtypes.float64
            added = weights.detach().to(dtype).contiguous()
        out = scatter_into_zeros(added, (length,), 0, input)
    if weights is not None and needs_grad(weights):
        return record(BINCOUNT, (input, weights), out)
    return out



def _number_text(x: float) -> str:
    """A double as C++'s stream prints it (6 significant digits)."""
    return f"{x:g}"


def histc(input: Tensor, bins: int = 100, min: Any = 0, max: Any = 0) -> Tensor:
    """A histogram of ``input``'s elements in ``bins`` equal bins over ``[min, max]`` (the
    input's own range when ``min == max``); elements outside, and NaNs, are left out.

    >>> tapegrad.histc(tapegrad.tensor([1., 2., 1.]), bins=4, min=0, max=3)
    tensor([0., 2., 1., 0.])
    """
    if not input.is_floating_point():
        where = "cpu" if isinstance(input._data, np.ndarray) else "cuda"
        raise NotImplementedError(f"\"histogram_{where}\" not implemented for '{input.dtype.scalar_name}'")
    low, high = float(min), float(max)
    x = reshape(input.detach(), -1)
    if low == high and x.numel() > 0:
        if trace.ACTIVE is not None:
            raise trace.TraceError("tapegrad.compile: histc with min == max reads the input's range on the host, so "
                                   "a recorded step could not replay it; pass min and max, or run it eagerly.")
        low, high = float(x.min().cpu().numpy()), float(x.max().cpu().numpy())
    if low == high:
        low, high = low - 1, high + 1
    if not (np.isfinite(low) and np.isfinite(high)):
        raise RuntimeError(f"torch.histc: range of [{_number_text(low)}, {_number_text(high)}] is not finite")
    if not low < high:
        raise RuntimeError("torch.histc: max must be larger than min")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    dtype = input._data.dtype.type
    # The edges and the bin arithmetic in the input's dtype, as PyTorch computes them.
    first, last = dtype(low), dtype(high)
    width = float(last - first)
    with grad_mode.no_grad():
        inside = ew.logical_and(ew.ge(x, float(first)), ew.le(x, float(last)))
        position = ew.div(ew.mul(ew.sub(x, float(first)), bins), width)
        position = ew.where(inside, position, 0.0).to(_int64())
        position = ew.clamp_max(position, bins - 1)
        return scatter_into_zeros(inside.to(input.dtype), (bins,), 0, position)


def histogram(input: Tensor, bins: Any, *, range: Any = None, weight: Tensor | None = None,
              density: bool = False) -> Any:
    """``(hist, bin_edges)``: counts (or summed ``weight``s, or with ``density`` a density) of
    ``input``'s elements in ``bins`` equal bins over ``range`` (the input's own range by default),
    or in the bins between the edges of a 1-D tensor ``bins``. The last bin includes its right
    edge; elements outside, and NaNs, are left out.

    >>> tapegrad.histogram(tapegrad.tensor([1., 2., 1.]), bins=4, range=(0., 3.))
    tapegrad.return_types.histogram(
    hist=tensor([0., 2., 1., 0.]),
    bin_edges=tensor([0.0000, 0.7500, 1.5000, 2.2500, 3.0000]))
    """
    from .. import return_types
    from ..creation import linspace, tensor

    if not input.is_floating_point():
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{input.dtype.scalar_name}'")
    if trace.ACTIVE is not None:
        raise trace.TraceError("tapegrad.compile: histogram's bins depend on the values, so a recorded step could "
                               "not replay it; run it eagerly.")
    x = input.detach().cpu().numpy().reshape(-1)
    dtype = x.dtype.type
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the same shape as the input "
                           f"tensor excluding its innermost dimension, but got input with shape {[x.size, 1]} and "
                           f"weight with shape {list(weight.shape)}")
    if isinstance(bins, Tensor):
        edges = bins.detach().cpu().numpy().astype(x.dtype, copy=False).reshape(-1)
        count = edges.size - 1
    else:
        count = int(bins)
        if count <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {count} for dimension 0")
        if range is not None:
            low, high = dtype(range[0]), dtype(range[1])
        elif x.size:
            low, high = x.min(), x.max()
        else:
            low, high = dtype(0), dtype(1)
        if low > high:
            raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {_number_text(low)} max "
                               f"{_number_text(high)} for dimension 0")
        if not (np.isfinite(low) and np.isfinite(high)):
            raise RuntimeError(f"torch.histogramdd: dimension 0's range [{_number_text(low)}, {_number_text(high)}] "
                               "is not finite")
        if low == high:
            low, high = low - dtype(0.5), high + dtype(0.5)
        edges = linspace(float(low), float(high), count + 1, dtype=input.dtype).numpy()
    hist = np.zeros(max(count, 0), np.float64)
    if count > 0 and x.size:
        # The bin of each element: the last edge at or below it (the rightmost edge belongs to
        # the last bin), found by binary search, which is what PyTorch's edge comparisons give.
        inside = (x >= edges[0]) & (x <= edges[-1])
        position = np.minimum(np.searchsorted(edges, x[inside], side="right") - 1, count - 1)
        weights = None if weight is None else weight.detach().cpu().numpy().reshape(-1)[inside]
        hist = np.bincount(position, weights, minlength=count)[:count]
    hist = hist.astype(x.dtype)
    if density and count > 0:
        with np.errstate(all="ignore"):
            hist = (hist / (hist.sum(dtype=x.dtype) * np.diff(edges))).astype(x.dtype)
    device = input.device
    return return_types.histogram(tensor(hist, device=device), tensor(edges, device=device))


# ---------------------------------------------------------------- searchsorted / bucketize

def _as_values(value: Any, like: Tensor) -> Tensor:
    """A Python number as a 0-d tensor on ``like``'s device (int64 or float64, as PyTorch wraps it)."""
    from ..creation import tensor

    dtype = _dtypes.bool_ if isinstance(value, bool) else _int64() if isinstance(value, int) else _dtypes.float64
    return tensor(value, dtype=dtype, device=like.device)


def searchsorted(sorted_sequence: Tensor, input: Any, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """For each value of ``input``, the index at which it would be inserted into the innermost
    dim of ``sorted_sequence`` to keep it sorted (the first such index; with ``right``, the
    last). ``sorter`` gives the order of an unsorted sequence.

    >>> tapegrad.searchsorted(tapegrad.tensor([1., 3., 5.]), tapegrad.tensor([3., 6.]))
    tensor([1, 3])
    """
    boundaries = sorted_sequence
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side != "right":
            raise RuntimeError(f"torch.searchsorted(): side and right can't be set to opposites, got side of {side} "
                               "while right was True")
        right = side == "right"
    values = input if isinstance(input, Tensor) else _as_values(input, boundaries)
    if values.device.type != boundaries.device.type:
        raise RuntimeError("torch.searchsorted(): boundaries and input value tensors should have same device type, "
                           f"but we got boundaries tensor device type {boundaries.device.type} and input value "
                           f"tensor device type {values.device.type}")
    if sorter is not None and tuple(sorter.shape) != tuple(boundaries.shape):
        raise RuntimeError("torch.searchsorted(): boundary and sorter must have the same size, but got boundary "
                           f"tensor {list(boundaries.shape)}and got sorter tensor {list(sorter.shape)}")
    if boundaries.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
                           "dimension")
    if boundaries.ndim != 1 and (boundaries.ndim != values.ndim or boundaries.shape[:-1] != values.shape[:-1]):
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           "of boundaries tensor and input value tensor must match, but we got boundaries tensor "
                           f"{list(boundaries.shape)} and input value tensor {list(values.shape)}")
    if sorter is not None:
        if sorter._data.dtype != np.int64:
            raise RuntimeError("torch.searchsorted(): sorter must be a tensor of long dtype but got dtype "
                               f"{sorter.dtype.scalar_name}")
        size = boundaries.shape[-1]
        if sorter.numel() and bool(ew.logical_or(ew.lt(sorter, 0), ew.ge(sorter, size)).any().detach().cpu().numpy()):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
    if trace.ACTIVE is not None:
        raise trace.TraceError("tapegrad.compile does not record searchsorted or bucketize (a search kernel compiled "
                               "steps do not have); call it outside the compiled function, or run it eagerly.")
    common = _dtypes._promote_two(boundaries.dtype, values.dtype)
    with grad_mode.no_grad():
        b = boundaries.detach().to(common) if boundaries.dtype is not common else boundaries.detach()
        v = values.detach().to(common) if values.dtype is not common else values.detach()
        n = b.shape[-1]
        rows = 1 if b.ndim == 1 else int(np.prod(b.shape[:-1], dtype=np.int64))
        b2 = reshape(b, (rows, n))._data
        v2 = reshape(v, (rows, -1) if b.ndim > 1 else (1, -1))._data
        by = None if sorter is None else reshape(sorter, (rows, n))._data
        found = sk.searchsorted(b2, by, v2, right, np.int32 if out_int32 else np.int64)
    return _wrap(found.reshape(tuple(values.shape)))


def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` among the 1-d ``boundaries`` (``searchsorted`` of
    the values into them).

    >>> tapegrad.bucketize(tapegrad.tensor([1., 4.]), tapegrad.tensor([1., 3., 5.]))
    tensor([0, 2])
    """
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# ---------------------------------------------------------------- tril_indices / triu_indices

def _triangle_indices(name: str, lower: bool, row: int, col: int, offset: int, dtype: Any, device: Any) -> Tensor:
    from ..creation import _check_device, _from_numbers

    chosen = _int64() if dtype is None else _dtypes.as_dtype(dtype)
    if chosen.category != 1:
        raise NotImplementedError(f"\"{name}\" not implemented for '{chosen.scalar_name}'")
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    found = np.tril_indices(row, offset, col) if lower else np.triu_indices(row, offset, col)
    data = np.stack(found).astype(chosen.numpy).reshape(2, -1)
    return _from_numbers(data, False, _check_device(device))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None,
                 layout: Any = None) -> Tensor:
    """The (2, N) coordinates of the lower triangle (diagonal ``offset`` included) of a
    ``row`` x ``col`` matrix, row by row.

    >>> tapegrad.tril_indices(2, 2)
    tensor([[0, 1, 1],
            [0, 0, 1]])
    """
    return _triangle_indices("tril_indices", True, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None,
                 layout: Any = None) -> Tensor:
    """The (2, N) coordinates of the upper triangle (from diagonal ``offset``) of a ``row`` x
    ``col`` matrix, row by row.

    >>> tapegrad.triu_indices(2, 2)
    tensor([[0, 0, 1],
            [0, 1, 1]])
    """
    return _triangle_indices("triu_indices", False, row, col, offset, dtype, device)
