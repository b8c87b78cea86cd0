"""Scatters and the other index and mask ops: ``scatter``, ``scatter_add``, ``scatter_reduce``,
``index_add``, ``index_copy``, ``index_fill``, ``index_reduce``, ``masked_select``,
``masked_scatter``, ``take``, ``take_along_dim``, ``put``, ``repeat_interleave``, ``argwhere``
and ``count_nonzero``, with their in-place forms.

How they are built:

- Ops that only read and add (``scatter_add``, ``index_add``, ``put(accumulate=True)``,
  ``take``, ``take_along_dim``, ``index_fill``, ``repeat_interleave`` with an int) are made of
  the primitives of ``index.py`` (``gather``, ``scatter_into_zeros``, ``embed``, ``getitem``)
  and elementwise ops, so they run on both devices and ``tapegrad.compile`` records them.
- Ops that overwrite, or reduce with something other than a sum (``scatter``,
  ``scatter_reduce``, ``index_copy``, ``index_reduce``, ``put``, ``masked_scatter``), write
  through one primitive, :func:`reduce_into`: a contiguous copy of the input, flat positions in
  it, and the values to combine there. The CPU applies them in the order the index lists them
  (NumPy's ``ufunc.at``; overwrites through a small Numba loop); CUDA sorts the positions
  stably and reduces each run of equal positions in that same order
  (``backends/scatter_kernels.py``). Both devices give the same numbers, and a position written
  twice keeps the last value, as PyTorch's CPU kernels do. Compiled steps do not record this
  primitive: tracing it raises ``TraceError``.
- The ``index_*`` ops are the scatters of their 1-d index expanded to the source's shape along
  the other dims (``x.index_add(d, i, s)`` is ``x.scatter_add(d, expanded i, s)``), with their
  own checks, messages and grad_fn names.
- Each op records one step under PyTorch's grad_fn name, whose VJP is PyTorch's derivative
  formula written with tapegrad ops: gradients of any order follow.
- Ops whose output shape depends on values (``masked_select``, ``masked_scatter``'s count,
  ``repeat_interleave`` with a tensor, ``argwhere``) read what they need on the host, as
  ``nonzero`` does, and refuse to be traced.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import scatter_kernels as sk
from ..compiler import trace
from ..tensor import Tensor, _wrap, _wrap_dim
from . import elementwise as ew
from .index import _cuda_ops, _gather_positions, embed, gather, getitem, nonzero, scatter_into_zeros
from .movement import expand, movedim, reshape
from .registry import OUTPUT, OpDef, needs_grad, record

__all__ = ["argwhere", "count_nonzero", "index_add", "index_copy", "index_fill", "index_reduce", "masked_scatter",
           "masked_select", "put", "repeat_interleave", "scatter", "scatter_add", "scatter_reduce", "take",
           "take_along_dim"]

_REDUCTIONS = {"sum": sk.SUM, "prod": sk.PROD, "mean": sk.MEAN, "amax": sk.AMAX, "amin": sk.AMIN,
               # PyTorch takes these two in the forward too (its backward then refuses them).
               "max": sk.AMAX, "min": sk.AMIN}


# ---------------------------------------------------------------- shared pieces

def refuse_value_dependent(what: str) -> None:
    """Raise ``TraceError`` while a step is traced: ``what``'s output shape depends on values."""
    if trace.ACTIVE is not None:
        raise trace.TraceError(
            f"tapegrad.compile: {what} gives a result whose shape depends on the values of its input, so a "
            "recorded step could not replay it for other values. Call it outside the compiled function, or "
            "run this function eagerly.")


def _refuse_traced(what: str) -> None:
    if trace.ACTIVE is not None:
        raise trace.TraceError(
            f"tapegrad.compile does not record {what} (it overwrites or reduces through a kernel compiled "
            "steps do not have). Compiled steps can use scatter_add, index_add, index_fill, gather, "
            "take_along_dim and put(accumulate=True); or run this function eagerly.")


def _no_grad(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with grad_mode.no_grad():
        return fn(*args, **kwargs)


def _fresh(t: Tensor, shape: Sequence[int]) -> Tensor:
    """A new tensor (no view history) over ``t``'s contiguous buffer, reshaped."""
    data = t._data
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data)
    elif not data.is_c_contiguous():
        data = _cuda_ops().contiguous_copy(data)
    return _wrap(data.reshape(tuple(shape)))


def _element_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(tuple(shape)):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _size(t: Tensor, d: int) -> int:
    """PyTorch's ``ensure_nonempty_size``: a 0-d tensor has size 1 along dim 0."""
    return 1 if t.ndim == 0 else t.shape[_wrap_dim(d, t.ndim)]


def _type_name(t: Tensor) -> str:
    return t.dtype.scalar_name


def _first_outside(index: Any, low: int, high: int) -> int | None:
    """The first entry (C order) of the integer array ``index`` outside ``[low, high)``, or None."""
    if index.size == 0:
        return None
    if isinstance(index, np.ndarray):
        bad = np.flatnonzero((index < low) | (index >= high))
        return int(index.reshape(-1)[bad[0]]) if bad.size else None
    return _cuda_ops().out_of_range(index, low, high)


def _infer_size(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """PyTorch's ``infer_size``: ``a`` and ``b`` broadcast, naming them a and b in the error."""
    ndim = max(len(a), len(b))
    out = []
    for i in range(ndim - 1, -1, -1):
        offset = ndim - 1 - i
        size_a = a[len(a) - 1 - offset] if offset < len(a) else 1
        size_b = b[len(b) - 1 - offset] if offset < len(b) else 1
        if size_a != size_b and size_a != 1 and size_b != 1:
            raise RuntimeError(f"The size of tensor a ({size_a}) must match the size of tensor b ({size_b}) at "
                               f"non-singleton dimension {i}")
        out.append(size_b if size_a == 1 else size_a)
    return tuple(reversed(out))


def reduce_into(input: Tensor, positions: Any, values: Any, mode: int, include_self: bool = True) -> Tensor:
    """A new tensor of ``input``'s shape: a contiguous copy with ``values`` (an array with one
    element per position, or a Python scalar) combined at the flat ``positions`` (an int64 array
    on ``input``'s device), in the order the positions are listed. ``mode`` is one of
    ``scatter_kernels.SET`` (the last value wins), ``SUM``, ``PROD``, ``MEAN``, ``AMAX`` or
    ``AMIN``; without ``include_self`` a reduced position forgets its old value. Not
    differentiable itself: each op records its own step."""
    data = input._data
    if not isinstance(data, np.ndarray):
        return _wrap(sk.cuda_reduce_into(data, positions, values, mode, include_self))
    out = np.array(data, order="C")
    flat = out.reshape(-1)
    where = np.asarray(positions, np.int64).reshape(-1)
    if not where.size:
        return _wrap(out)
    if isinstance(values, np.ndarray):
        values = np.ascontiguousarray(values, dtype=out.dtype).reshape(-1)
    else:
        values = np.full(where.size, values, out.dtype)
    if mode == sk.SET:
        sk.put_flat(flat, where, values)
        return _wrap(out)
    if not include_self:
        flat[where] = sk.identity(mode, out.dtype)
    ufunc = {sk.SUM: np.add, sk.MEAN: np.add, sk.PROD: np.multiply, sk.AMAX: np.maximum, sk.AMIN: np.minimum}[mode]
    with np.errstate(invalid="ignore"):  # NaN propagates through maximum/minimum, as in PyTorch
        ufunc.at(flat, where, values)
    if mode == sk.MEAN:
        counts = np.bincount(where, minlength=flat.size) + int(include_self)
        counts[counts == 0] = 1
        if out.dtype.kind == "f":
            np.divide(flat, counts.astype(out.dtype), out=flat)
        else:
            np.floor_divide(flat, counts.astype(out.dtype), out=flat)
    return _wrap(out)


def _along_positions(shape: tuple[int, ...], axis: int, index: Tensor) -> Any:
    """Flat positions, in a C-contiguous array of ``shape`` (a 0-d shape as one element), of
    ``[..., index, ...]`` along ``axis`` with the other coordinates the index's own (in range)."""
    shape = shape or (1,)
    data = index._data.reshape(index._data.shape or (1,))
    if isinstance(data, np.ndarray):
        return _gather_positions(shape, axis, data)
    return _cuda_ops().gather_positions(shape, axis, data, _element_strides(shape))


def _index_shaped(src: Tensor, index: Tensor) -> Tensor:
    """The part of ``src`` a scatter reads: its elements at the index's coordinates, contiguous,
    in the index's shape."""
    if tuple(src.shape) == tuple(index.shape):
        return src
    part = src.reshape((1,) * max(index.ndim, 1)) if src.ndim == 0 else src
    part = getitem(part, tuple(slice(0, n) for n in (index.shape or (1,))))
    return reshape(part.contiguous(), tuple(index.shape))


def _as_src_grad(grad: Tensor, src_shape: tuple[int, ...]) -> Tensor:
    """A gradient for the index-shaped part of a src of ``src_shape``, padded with zeros to that
    shape (PyTorch's autograd refuses a src larger than the index at this point)."""
    if tuple(grad.shape) == tuple(src_shape):
        return grad
    if grad.numel() == int(np.prod(src_shape, dtype=np.int64)):
        return reshape(grad, src_shape)
    if grad.ndim != len(src_shape):
        grad = reshape(grad, (1,) * len(src_shape))
    return embed(grad, tuple(src_shape), tuple(slice(0, n) for n in grad.shape), False)


def _check_int_index(name: str, index: Tensor) -> None:
    if index.numel() and index._data.dtype not in (np.int32, np.int64):
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")


def _scatter_checks(input: Tensor, axis: int, index: Tensor, src: Tensor | None) -> None:
    """PyTorch's ``scatter_gather_dtype_check``, ``scatter_shape_check`` and range check, in
    its order and with its messages."""
    if not isinstance(index, Tensor):
        raise TypeError(f"scatter(): argument 'index' (position 2) must be Tensor, not {type(index).__name__}")
    _check_int_index("scatter", index)
    if src is not None and src.dtype is not input.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if index.numel() == 0:
        return
    dims = max(input.ndim, 1)
    if dims != max(index.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    wrong = any(_size(index, d) > _size(input, d) for d in range(dims) if d != axis)
    if src is not None:
        if not wrong:
            for d in range(dims):
                if _size(index, d) > _size(src, d):
                    wrong = True
                    break
        if max(src.ndim, 1) != max(index.ndim, 1):
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
        if wrong:
            raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(input.shape)} "
                               f"apart from dimension {axis} and to be no larger size than src {list(src.shape)}")
    elif wrong:
        raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(input.shape)} "
                           f"apart from dimension {axis}")
    size = _size(input, axis)
    # The first bad entry in the order PyTorch's kernel visits them: along ``axis`` innermost.
    visited = index if index.ndim == 0 else movedim(index, axis, -1).contiguous()
    bad = _first_outside(visited._data, 0, size)
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {axis} with size {size}")


def _scalar_of(value: Any, input: Tensor) -> Any:
    """A Python number cast to ``input``'s dtype, as PyTorch casts a fill value."""
    kind = input._data.dtype.kind
    if isinstance(value, Tensor):
        value = value.item()
    return bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)


# ---------------------------------------------------------------- scatter

def _overwrite_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    axis, src_shape = step.attrs
    (index,) = step.saved_values()
    grad_input = scatter(g, axis, index, 0) if step.needs_input_grad(0) else None
    grad_src = None
    if len(step.edges) > 2 and step.needs_input_grad(2):
        grad_src = _as_src_grad(gather(g, axis, index), src_shape)
    return grad_input, None, grad_src


SCATTER = OpDef("scatter", "ScatterBackward0", _overwrite_vjp)
SCATTER_VALUE = OpDef("scatter_value", "ScatterBackward1", _overwrite_vjp)
INDEX_COPY = OpDef("index_copy", "IndexCopyBackward0", _overwrite_vjp)


def _not_implemented(name: str) -> Any:
    def rule(step: Step, g: Tensor) -> Any:
        raise RuntimeError(f"derivative for aten::{name} is not implemented")

    return rule


SCATTER_LEGACY_REDUCE = OpDef("scatter_legacy_reduce", "torch::autograd::NotImplemented", _not_implemented("scatter"))


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """``input`` with ``src[i][j]`` written at ``[index[i][j]][j]`` (for ``dim=0``; likewise for
    other dims), or ``value`` everywhere the index points. ``reduce='add'`` / ``'multiply'``
    combines instead of overwriting. A position written twice keeps the last value.

    >>> tapegrad.zeros(3).scatter(0, tapegrad.tensor([2, 0]), tapegrad.tensor([5., 7.]))
    tensor([7., 0., 5.])
    """
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if src is None and value is None:
        raise TypeError("scatter() missing required argument 'src' or 'value'")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    _scatter_checks(input, axis, index, src)
    _refuse_traced("scatter")
    mode = sk.SET if reduce is None else sk.SUM if reduce == "add" else sk.PROD
    if index.numel() == 0:
        out = _no_grad(ew.clone, input)
    elif src is not None:
        values = _no_grad(_index_shaped, src, index)._data
        out = reduce_into(input, _along_positions(tuple(input.shape), axis, index), values, mode)
    else:
        out = reduce_into(input, _along_positions(tuple(input.shape), axis, index), _scalar_of(value, input), mode)
    if not needs_grad(input, src):
        return out
    if reduce is not None:
        return record(SCATTER_LEGACY_REDUCE, (input, index, src), out)
    if src is None:
        return record(SCATTER_VALUE, (input, index), out, (axis, None), saved=(index,))
    return record(SCATTER, (input, index, src), out, (axis, tuple(src.shape)), saved=(index,))


def _add_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    axis, src_shape, alpha = step.attrs
    (index,) = step.saved_values()
    grad_src = None
    if step.needs_input_grad(2):
        grad_src = _as_src_grad(gather(g, axis, index), src_shape)
        if alpha != 1:
            grad_src = grad_src * alpha
    return (g if step.needs_input_grad(0) else None), None, grad_src


SCATTER_ADD = OpDef("scatter_add", "ScatterAddBackward0", _add_vjp)
INDEX_ADD = OpDef("index_add", "IndexAddBackward0", _add_vjp)


def _added(input: Tensor, axis: int, index: Tensor, src: Tensor, alpha: Any = 1) -> Tensor:
    """``input`` plus ``alpha * src`` added at ``index`` along ``axis`` (checked), untracked."""
    with grad_mode.no_grad():
        if index.numel() == 0:
            return ew.clone(input)
        part = _index_shaped(src, index)
        if alpha != 1:
            part = ew.mul(part, alpha)
        if input.dtype.category > 0:
            if trace.ACTIVE is not None:
                gather(input, axis, index)  # the replay checks each call's indices (unused result)
            return ew.add(input, scatter_into_zeros(part.contiguous(), tuple(input.shape), axis, index))
        _refuse_traced("a scatter_add of bools")
        return reduce_into(input, _along_positions(tuple(input.shape), axis, index), part._data, sk.SUM)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``input`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (for ``dim=0``), repeats adding up.

    >>> tapegrad.zeros(3).scatter_add(0, tapegrad.tensor([2, 2, 0]), tapegrad.tensor([1., 2., 4.]))
    tensor([4., 0., 3.])
    """
    axis = _wrap_dim(dim, max(input.ndim, 1))
    _scatter_checks(input, axis, index, src)
    out = _added(input, axis, index, src)
    if needs_grad(input, src):
        return record(SCATTER_ADD, (input, index, src), out, (axis, tuple(src.shape), 1), saved=(index,))
    return out


# ---------------------------------------------------------------- scatter_reduce

def _delayed_error_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    raise RuntimeError(step.attrs)


DELAYED_ERROR = OpDef("delayed_error", "DelayedError", _delayed_error_vjp)


def _delayed_error(x: Tensor, message: str) -> Tensor:
    """``x``, whose own gradient raises ``message`` (PyTorch's ``DelayedError`` node)."""
    return record(DELAYED_ERROR, (x,), _no_grad(ew.clone, x), message)


def _reduce_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    """PyTorch's ``scatter_reduce_backward`` (and ``index_reduce_backward``, the same formulas
    for the expanded index)."""
    from ..creation import full_like, zeros_like
    from .index import masked_fill

    axis, reduce, include_self, src_shape, label = step.attrs
    input, index, src, result = step.saved_values()
    if src is not None:
        src = _index_shaped(src, index)
    if reduce == "sum":
        grad_input, grad_src = g, gather(g, axis, index)
    elif reduce == "prod":
        # The products without the element itself, written so that zeros divide nothing.
        masked_input = masked_fill(input, ew.eq(input, 0), 1)
        grad_input = g * _reduced(masked_input, axis, index, src, "prod", include_self) / masked_input
        src_zero = ew.eq(src, 0)
        src_zeros = gather(scatter_add(zeros_like(input), axis, index, src_zero.to(input.dtype)), axis, index)
        single_zero = ew.logical_and(src_zero, ew.eq(src_zeros, 1))
        masked_src_result = _reduced(input, axis, index, masked_fill(src, single_zero, 1), "prod", include_self)
        grad_src = ew.where(single_zero, gather(g * masked_src_result, axis, index),
                            gather(g * result, axis, index) / masked_fill(src, src_zero, 1))
        if grad_mode.state.enabled and bool((src_zeros > 1).any()):
            what = "src" if label == "scatter" else "source"
            grad_src = _delayed_error(grad_src, f"{label}_reduce(): Double backward is unsupported for {what} when >1 "
                                                f"zeros in {what} are scattered to the same position in self")
    elif reduce == "mean":
        counts = scatter_add(full_like(g, 1 if include_self else 0), axis, index, full_like(index, 1, dtype=g.dtype))
        counts = masked_fill(counts, ew.eq(counts, 0), 1)
        grad_input = g / counts
        grad_src = gather(g, axis, index) / gather(counts, axis, index)
    elif reduce in ("amax", "amin"):
        # Ties share the gradient evenly.
        value = gather(result, axis, index)
        input_is_result = ew.eq(input, result)
        src_is_result = ew.eq(src, value)
        shares = scatter_add(input_is_result.to(input.dtype), axis, index, src_is_result.to(input.dtype))
        distributed = g / shares
        grad_input = input_is_result * distributed
        grad_src = src_is_result * gather(distributed, axis, index)
    else:
        raise RuntimeError(f"Expected 'reduce' to be one of 'sum', 'prod', 'mean', 'amax', 'amin' but got {reduce}.")
    if not include_self:
        grad_input = scatter(grad_input, axis, index, 0)
    return (grad_input if step.needs_input_grad(0) else None), None, \
        (_as_src_grad(grad_src, src_shape) if step.needs_input_grad(2) else None)


SCATTER_REDUCE = OpDef("scatter_reduce", "ScatterReduceBackward0", _reduce_vjp)
INDEX_REDUCE = OpDef("index_reduce", "IndexReduceBackward0", _reduce_vjp)


def _reduced(input: Tensor, axis: int, index: Tensor, src: Tensor, reduce: str, include_self: bool,
             op: OpDef = SCATTER_REDUCE, label: str = "scatter") -> Tensor:
    """``scatter_reduce`` after its checks (``index`` in range, ``src`` of ``input``'s dtype)."""
    _refuse_traced(f"{label}_reduce")
    if index.numel() == 0:
        out = _no_grad(ew.clone, input)
    else:
        values = _no_grad(_index_shaped, src, index)._data
        out = reduce_into(input, _along_positions(tuple(input.shape), axis, index), values, _REDUCTIONS[reduce],
                          include_self)
    if not needs_grad(input, src):
        return out
    # Sums and means need only the index (an in-place form then overwrites nothing saved).
    saved = (input, index, src, OUTPUT) if reduce in ("prod", "amax", "amin") else (None, index, None, None)
    return record(op, (input, index, src), out, (axis, reduce, include_self, tuple(src.shape), label), saved=saved)


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """``input`` with ``src`` reduced into the positions ``index`` points at (as ``scatter``),
    ``reduce`` one of ``'sum'``, ``'prod'``, ``'mean'``, ``'amax'``, ``'amin'``; without
    ``include_self`` the old values at those positions are left out.

    >>> tapegrad.zeros(2).scatter_reduce(0, tapegrad.tensor([0, 0, 1]), tapegrad.tensor([1., 3., 2.]), 'amax')
    tensor([3., 2.])
    """
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' (position 3) must be Tensor, not {type(src).__name__}")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    _scatter_checks(input, axis, index, src)
    if reduce == "mean" and input.dtype.category == 0:
        raise NotImplementedError("\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'")
    return _reduced(input, axis, index, src, reduce, include_self)


# ---------------------------------------------------------------- index_add / index_copy / index_reduce

def _expanded(index: Tensor, axis: int, shape: tuple[int, ...]) -> Tensor:
    """The 1-d (or 0-d) ``index`` along ``axis`` as a scatter index of ``shape``: what makes
    ``x.index_add(d, i, s)`` the ``x.scatter_add(d, expanded, s)``."""
    with grad_mode.no_grad():
        if not shape:
            return reshape(index, ())
        view = [1] * len(shape)
        view[axis] = index.numel()
        return expand(reshape(index, tuple(view)), shape).contiguous()


def _index_func_checks(name: str, input: Tensor, axis: int, index: Tensor, source: Tensor) -> None:
    """PyTorch's ``index_func_meta_impl`` (``index_add``, ``index_reduce``)."""
    if index.ndim > 1:
        raise IndexError(f"{name}_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{_type_name(index)} and size: {list(index.shape)}")
    if index._data.dtype not in (np.int32, np.int64):
        raise RuntimeError(f"{name}_(): Expected dtype int32/int64 for index but got: {_type_name(index)}")
    if input.dtype is not source.dtype:
        raise RuntimeError(f"{name}_(): self ({_type_name(input)}) and source ({_type_name(source)}) must have the "
                           "same scalar type")
    if not (axis == 0 or axis < source.ndim):
        raise IndexError(f"{name}_(): Indexing dim {axis} is out of bounds of the source tensor with dim "
                         f"{source.ndim}")
    along = 1 if source.ndim == 0 else source.shape[axis]
    if index.numel() != along:
        raise RuntimeError(f"{name}_(): Number of indices ({index.numel()}) should be equal to source.size(dim): "
                           f"({along}), for dim: {axis}")
    self_sizes, source_sizes = list(input.shape), list(source.shape)
    if source.ndim and input.ndim:
        del self_sizes[axis], source_sizes[axis]
    if self_sizes != source_sizes:
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}")


def _source_shape(input: Tensor, source: Tensor) -> tuple[int, ...]:
    """The shape a source is read in: a 0-d source of a 1-d input is one slice."""
    return (1,) * input.ndim if source.ndim == 0 else tuple(source.shape)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """``input`` with ``alpha * source[k]`` added to the slice ``index[k]`` along ``dim``.

    >>> tapegrad.zeros(3, 1).index_add(0, tapegrad.tensor([2, 2]), tapegrad.ones(2, 1))
    tensor([[0.],
            [0.],
            [2.]])
    """
    axis = _wrap_dim(dim, max(input.ndim, 1))
    _index_func_checks("index_add", input, axis, index, source)
    bad = _first_outside(index._data, 0, _size(input, axis))
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {axis} with size {_size(input, axis)}")
    if input.dtype.category < 2:
        alpha = bool(alpha) if input.dtype.category == 0 else int(alpha)
    shape = _source_shape(input, source)
    expanded = _expanded(index, axis, shape)
    out = _added(input, axis, expanded, _no_grad(reshape, source, shape), alpha)
    if needs_grad(input, source):
        return record(INDEX_ADD, (input, index, source), out, (axis, tuple(source.shape), alpha), saved=(expanded,))
    return out


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with the slice ``index[k]`` along ``dim`` replaced by ``source``'s slice ``k``.

    >>> tapegrad.zeros(3).index_copy(0, tapegrad.tensor([2, 0]), tapegrad.tensor([5., 7.]))
    tensor([7., 0., 5.])
    """
    axis = _wrap_dim(dim, max(input.ndim, 1))
    if index.ndim >= 2:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
    count = index.numel()
    if source.ndim == 0 and count != 1:
        raise IndexError(f"index_copy_(): When source is scalar, index should have one element (got {count})")
    if source.ndim != input.ndim and source.ndim and input.ndim:
        raise IndexError("index_copy_(): When source and destination are not scalars, their dimensionality must "
                         f"match. Source dimensionality ({source.ndim}), destination dimensionality ({input.ndim})")
    if index._data.dtype != np.int64:
        raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got {_type_name(index)}")
    if input.dtype is not source.dtype:
        raise RuntimeError("index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{_type_name(input)} and (source) {_type_name(source)}")
    self_slice, source_slice = list(input.shape), list(source.shape)
    if self_slice:
        del self_slice[axis]
    if source_slice:
        del source_slice[axis]
    if self_slice != source_slice:
        raise RuntimeError("index_copy_(): Source/destination tensor must have same slice shapes. Destination slice "
                           f"shape: {_vector_text(self_slice)} at dimension {axis} and source slice shape: "
                           f"{_vector_text(source_slice)} at dimension 0.")
    if source.ndim and count != source.shape[axis]:
        raise IndexError(f"index_copy_(): Number of indices ({count}) should be equal to source.size(dim) "
                         f"({source.shape[axis]})")
    size = _size(input, axis)
    bad = _first_outside(index._data, 0, size)
    if bad is not None:
        raise IndexError(f"index_copy_(): index {bad} is out of bounds for dimension {axis} with size {size}")
    _refuse_traced("index_copy")
    shape = _source_shape(input, source)
    expanded = _expanded(index, axis, shape)
    if count == 0:
        out = _no_grad(ew.clone, input)
    else:
        values = _no_grad(lambda: reshape(source, shape).contiguous())._data
        out = reduce_into(input, _along_positions(tuple(input.shape), axis, expanded), values, sk.SET)
    if needs_grad(input, source):
        return record(INDEX_COPY, (input, index, source), out, (axis, tuple(source.shape)), saved=(expanded,))
    return out


def _vector_text(sizes: list[int]) -> str:
    """A size list as PyTorch's stream operator for vectors prints it."""
    return " ".join(str(s) for s in sizes)


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """``input`` with ``source``'s slices reduced into the slices ``index`` names along ``dim``
    (``reduce`` one of ``'prod'``, ``'mean'``, ``'amax'``, ``'amin'``).

    >>> tapegrad.ones(2).index_reduce(0, tapegrad.tensor([0, 0]), tapegrad.tensor([2., 3.]), 'prod')
    tensor([6., 1.])
    """
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    _index_func_checks("index_reduce", input, axis, index, source)
    if _first_outside(index._data, 0, _size(input, axis)) is not None:
        raise IndexError("index out of range in self")
    if reduce == "mean" and input.dtype.category == 0:
        raise NotImplementedError("\"index_reduce_func_cpu_\" not implemented for 'Bool'")
    shape = _source_shape(input, source)
    expanded = _expanded(index, axis, shape)
    return _reduced(input, axis, expanded, reshape(source, shape) if source.ndim == 0 else source, reduce,
                    include_self, INDEX_REDUCE, "index")


# ---------------------------------------------------------------- index_fill

def _fill_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    (mask,) = step.saved_values()
    grad_input = ew.where(mask, 0, g) if step.needs_input_grad(0) else None
    grad_value = None
    if len(step.edges) > 2 and step.needs_input_grad(2):
        # Each filled element once, however often the index names it (PyTorch de-duplicates).
        grad_value = ew.where(mask, g, 0).sum()
    return grad_input, None, grad_value


INDEX_FILL = OpDef("index_fill", "IndexFillBackward0", _fill_vjp)
INDEX_FILL_TENSOR = OpDef("index_fill_tensor", "IndexFillBackward1", _fill_vjp)


def _dim_mask(input: Tensor, axis: int, index: Tensor) -> Tensor:
    """A bool tensor broadcasting against ``input``: True on the slices ``index`` names along
    ``axis`` (negative entries counting from the end)."""
    from ..creation import _constant_like

    size = _size(input, axis)
    with grad_mode.no_grad():
        ones = _constant_like(np.ones(index.numel(), np.int64), input)
        hits = embed(ones, (size,), (index._data.reshape(-1),), True)
        if trace.ACTIVE is not None and input.ndim:
            # The replay checks each call's indices, naming the dim (the result goes unused).
            getitem(input, (slice(None),) * axis + (reshape(index, -1),))
        view = [1] * input.ndim
        if input.ndim:
            view[axis] = size
        return reshape(ew.gt(hits, 0), tuple(view))


def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    """``input`` with ``value`` on the slices ``index`` names along ``dim``.

    >>> tapegrad.zeros(2, 2).index_fill(1, tapegrad.tensor([1]), 3.)
    tensor([[0., 3.],
            [0., 3.]])
    """
    if index._data.dtype != np.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError("index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    size = _size(input, axis)
    bad = _first_outside(index._data, -size, size)
    if bad is not None:
        raise IndexError(f"index {bad} is out of bounds for dimension {axis} with size {size}")
    mask = _dim_mask(input, axis, index)
    with grad_mode.no_grad():
        if isinstance(value, Tensor):
            filled = value.to(input.dtype) if value.dtype is not input.dtype else value
        else:
            filled = _scalar_of(value, input)
        out = ew.where(mask, filled, input)
        if out.dtype is not input.dtype:
            out = out.to(input.dtype)
    if isinstance(value, Tensor) and needs_grad(input, value):
        return record(INDEX_FILL_TENSOR, (input, index, value), out, saved=(mask,))
    if needs_grad(input):
        return record(INDEX_FILL, (input, index), out, saved=(mask,))
    return out


# ---------------------------------------------------------------- masks

def _masked_select_vjp(step: Step, g: Tensor) -> tuple[Tensor, None]:
    from ..creation import zeros
    from .reduce import sum_to

    (mask,) = step.saved_values()
    shape = step.input_meta[0][0]
    spread = masked_scatter(zeros(tuple(mask.shape), dtype=g.dtype, device=g.device), mask, g)
    return sum_to(spread, shape), None


MASKED_SELECT = OpDef("masked_select", "MaskedSelectBackward0", _masked_select_vjp)


def _check_mask(mask: Any, message: str) -> None:
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError(message + (_type_name(mask) if isinstance(mask, Tensor) else type(mask).__name__))


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The 1-d tensor of ``input``'s elements where ``mask`` (broadcast with it) is True.

    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).masked_select(tapegrad.tensor([True, False]))
    tensor([1., 3.])
    """
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    shape = _infer_size(tuple(mask.shape), tuple(input.shape))
    refuse_value_dependent("masked_select")
    with grad_mode.no_grad():
        mask_b = expand(mask, shape) if tuple(mask.shape) != shape else mask
        out = getitem(expand(input, shape), mask_b)
    if needs_grad(input):
        return record(MASKED_SELECT, (input, mask), out, saved=(mask_b,))
    return out


def _masked_scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    from ..creation import zeros
    from .movement import cat
    from .reduce import sum_to

    (mask,) = step.saved_values()
    input_shape, source_shape = step.input_meta[0][0], step.input_meta[2][0]
    grad_input = sum_to(ew.where(mask, 0, g), input_shape) if step.needs_input_grad(0) else None
    grad_source = None
    if step.needs_input_grad(2):
        picked = masked_select(g, mask)
        missing = int(np.prod(source_shape, dtype=np.int64)) - picked.numel()
        if missing:
            picked = cat([picked, zeros(missing, dtype=g.dtype, device=g.device)])
        grad_source = reshape(picked, source_shape)
    return grad_input, None, grad_source


MASKED_SCATTER = OpDef("masked_scatter", "MaskedScatterBackward0", _masked_scatter_vjp)


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``input`` (broadcast with ``mask``) with the True positions of ``mask`` filled, in order,
    by ``source``'s first elements.

    >>> tapegrad.zeros(4).masked_scatter(tapegrad.tensor([True, False, True, False]), tapegrad.tensor([1., 2., 3.]))
    tensor([1., 0., 2., 0.])
    """
    _check_mask(mask, "masked_scatter_ only supports boolean masks, but got mask with dtype ")
    if input.dtype is not source.dtype:
        raise RuntimeError("masked_scatter: expected self and source to have same dtypes but got"
                           f"{_type_name(input)} and {_type_name(source)}")
    shape = _infer_size(tuple(mask.shape), tuple(input.shape))
    refuse_value_dependent("masked_scatter (the number of True entries of its mask)")
    with grad_mode.no_grad():
        mask_b = expand(mask, shape) if tuple(mask.shape) != shape else mask
        target = expand(input, shape) if tuple(input.shape) != shape else input
        positions = reshape(nonzero(reshape(mask_b, -1)), -1)
        count = positions.numel()
        if source.numel() < count:
            raise RuntimeError("Number of elements of source < number of ones in mask")
        values = reshape(source, -1)[:count].contiguous()._data
        out = reduce_into(target, positions._data, values, sk.SET)
    if needs_grad(input, source):
        return record(MASKED_SCATTER, (input, mask, source), out, saved=(mask_b,))
    return out


# ---------------------------------------------------------------- take / put / take_along_dim

def _take_vjp(step: Step, g: Tensor) -> tuple[Tensor, None]:
    from ..creation import zeros

    (index,) = step.saved_values()
    shape, dtype = step.input_meta[0]
    return put(zeros(shape, dtype=g.dtype, device=g.device), index, g, accumulate=True), None


TAKE = OpDef("take", "TakeBackward0", _take_vjp)


def _check_take_range(index: Tensor, count: int) -> None:
    bad = _first_outside(index._data, -count, count)
    if bad is not None:
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {count} elements.")


def take(input: Tensor, index: Tensor) -> Tensor:
    """``input`` read as 1-d at ``index`` (negative entries count from the end), in the index's shape.

    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).take(tapegrad.tensor([3, -4]))
    tensor([4., 1.])
    """
    if index._data.dtype != np.int64:
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {_type_name(index)}")
    count = input.numel()
    if count == 0 and index.numel():
        raise IndexError("take(): tried to take from an empty tensor")
    _check_take_range(index, count)
    with grad_mode.no_grad():
        picked = getitem(reshape(input, -1), (reshape(index, -1),))
        out = _fresh(picked, tuple(index.shape))
    if needs_grad(input):
        return record(TAKE, (input, index), out, saved=(index,))
    return out


def _put_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    from ..creation import zeros

    (accumulate,) = step.attrs
    (index,) = step.saved_values()
    source_shape, source_dtype = step.input_meta[2]
    grad_input = None
    if step.needs_input_grad(0):
        grad_input = g if accumulate else put(g, index, zeros(source_shape, dtype=g.dtype, device=g.device))
    grad_source = reshape(take(g, index), source_shape) if step.needs_input_grad(2) else None
    return grad_input, None, grad_source


PUT = OpDef("put", "PutBackward0", _put_vjp)
# ``index_put(..., accumulate=True)`` is a ``put`` at the flat positions its key selects;
# PyTorch names its node after index_put.
INDEX_PUT_ADD = OpDef("index_put_accumulate", "IndexPutBackward0", _put_vjp)


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False, *, _op: OpDef = PUT) -> Tensor:
    """``input`` read as 1-d with ``source``'s elements written (``accumulate``: added) at ``index``.

    >>> tapegrad.zeros(2, 2).put(tapegrad.tensor([3, 0]), tapegrad.tensor([5., 6.]))
    tensor([[6., 0.],
            [0., 5.]])
    """
    if index._data.dtype != np.int64:
        raise RuntimeError(f"put_(): Expected a long tensor for index, but got {_type_name(index)}")
    if input.dtype is not source.dtype:
        raise RuntimeError("put_(): self and source expected to have the same dtype, but got self.dtype = "
                           f"{_type_name(input)} and source.dtype = {_type_name(source)}")
    if source.numel() != index.numel():
        raise IndexError("put_(): Expected source and index to have the same number of elements, but got "
                         f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    count = input.numel()
    if count == 0 and index.numel():
        raise IndexError("put_(): Tried to put elements into an empty tensor")
    _check_take_range(index, count)
    shape = tuple(input.shape)
    with grad_mode.no_grad():
        flat_index = reshape(index, -1)
        if index.numel() == 0:
            out = ew.clone(input)
        elif accumulate and input.dtype.category > 0:
            if trace.ACTIVE is not None:
                getitem(reshape(input, -1), (flat_index,))  # the replay checks each call's indices
            added = embed(reshape(source, -1), (count,), (flat_index._data,), True)
            out = ew.add(input, reshape(added, shape))
        else:
            _refuse_traced("put (without accumulate)")
            positions = ew.where(ew.lt(flat_index, 0), ew.add(flat_index, count), flat_index)
            out = reduce_into(input, positions._data, reshape(source, -1).contiguous()._data,
                              sk.SUM if accumulate else sk.SET)
    if needs_grad(input, source):
        return record(_op, (input, index, source), out, (bool(accumulate),), saved=(index,))
    return out


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``input``'s elements at ``indices`` along ``dim`` (the two broadcast along the other dims);
    with no ``dim``, ``input`` read as 1-d.

    >>> tapegrad.tensor([[10., 30.], [20., 5.]]).take_along_dim(tapegrad.tensor([[1], [0]]), 1)
    tensor([[30.],
            [20.]])
    """
    if indices._data.dtype != np.int64:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got {_type_name(indices)}")
    if dim is None:
        return gather(reshape(input, -1), 0, reshape(indices, -1))
    if input.ndim != indices.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    self_sizes = list(input.shape)
    self_sizes[axis] = indices.shape[axis]
    shape = _infer_size(self_sizes, tuple(indices.shape))
    input_shape = list(shape)
    input_shape[axis] = input.shape[axis]
    size = input.shape[axis]
    bad = _first_outside(indices._data, -size, size)
    if bad is not None:
        raise RuntimeError(f"index {bad} is out of bounds for dimension {axis} with size {size}")
    with grad_mode.no_grad():
        # Negative indices count from the end, as in PyTorch when a dim is given.
        wrapped = ew.where(ew.lt(indices, 0), ew.add(indices, size), indices)
        if tuple(wrapped.shape) != shape:
            wrapped = expand(wrapped, shape)
    source = expand(input, tuple(input_shape)) if tuple(input.shape) != tuple(input_shape) else input
    return gather(source, axis, wrapped)


# ---------------------------------------------------------------- repeat_interleave, argwhere, count_nonzero

def _repeat_index(repeats: Tensor, output_size: int | None, device_like: Tensor) -> Tensor:
    """``torch.repeat_interleave(repeats)``: ``k`` repeated ``repeats[k]`` times (read on the host)."""
    from ..creation import _constant_like

    if repeats.ndim != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    _check_repeat_dtype(repeats)
    refuse_value_dependent("repeat_interleave with a tensor of repeats")
    counts = np.asarray(repeats.detach().cpu().numpy())
    if counts.size and counts.min() < 0:
        raise RuntimeError("repeats can not be negative")
    total = int(counts.sum())
    if output_size is not None and output_size != total:
        raise RuntimeError("allocated size does not match required size")
    return _constant_like(np.repeat(np.arange(counts.size, dtype=counts.dtype), counts), device_like)


def _check_repeat_dtype(repeats: Tensor) -> None:
    if repeats._data.dtype not in (np.int32, np.int64):
        where = "cpu" if isinstance(repeats._data, np.ndarray) else "cuda"
        raise NotImplementedError(f"\"repeat_interleave_{where}\" not implemented for '{_type_name(repeats)}'")


def repeat_interleave(input: Tensor, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each slice of ``input`` along ``dim`` (the flattened input when no ``dim``) repeated
    ``repeats`` times (an int, or a tensor with one count per slice). ``repeat_interleave(r)``
    alone gives ``k`` repeated ``r[k]`` times.

    >>> tapegrad.tensor([1, 2]).repeat_interleave(2)
    tensor([1, 1, 2, 2])
    """
    if repeats is None:
        return _repeat_index(input, output_size, input)
    x = reshape(input, -1) if dim is None else input
    given = 0 if dim is None else dim
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        _check_repeat_dtype(repeats)
        size = _size(x, given)
        if repeats.numel() == 1 and repeats.ndim <= 1:
            repeats = expand(reshape(repeats, (1,)), (size,))
        elif repeats.shape[0] != size:
            raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{repeats.shape[0]} and input.size({given}) = {size}")
        from .index import index_select

        return index_select(x, given, _repeat_index(repeats, output_size, x))
    repeats = int(repeats)
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    axis = _wrap_dim(given, x.ndim)
    expected = _size(x, axis) * repeats
    if output_size is not None and output_size != expected:
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {expected} but got {output_size}")
    # PyTorch's own composition, hence its grad_fn chain (View, Clone, Expand, Unsqueeze).
    spread = x.unsqueeze(axis + 1)
    sizes = list(spread.shape)
    sizes[axis + 1] = repeats
    shape = list(x.shape)
    shape[axis] = expected
    return ew.clone(expand(spread, tuple(sizes))).view(tuple(shape))


def argwhere(input: Tensor) -> Tensor:
    """The (count, ndim) int64 coordinates of ``input``'s nonzero elements, in C order.

    >>> tapegrad.argwhere(tapegrad.tensor([[0., 1.], [2., 0.]]))
    tensor([[0, 1],
            [1, 0]])
    """
    from ..creation import zeros

    refuse_value_dependent("argwhere")
    if input.ndim == 0:
        found = bool(input.detach().cpu().numpy() != 0)
        return zeros((int(found), 0), dtype=_int64(), device=input.device)
    return nonzero(input.detach())


def _int64() -> Any:
    from ..dtypes import int64

    return int64


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """The number of nonzero elements of ``input`` (int64), over ``dim`` (an int or several).

    >>> tapegrad.count_nonzero(tapegrad.tensor([[0., 1.], [2., 3.]]), dim=0)
    tensor([1, 2])
    """
    if dim is None:
        axes: Any = None
    elif isinstance(dim, (int, np.integer)):
        axes = _wrap_dim(int(dim), input.ndim)
    else:
        axes = []
        for d in dim:
            axis = _wrap_dim(int(d), input.ndim)
            if axis in axes:
                raise RuntimeError(f"dim {axis} appears multiple times in the list of dims")
            axes.append(axis)
        axes = tuple(axes)
    with grad_mode.no_grad():
        found = ew.ne(input, 0)
        return found.sum() if axes is None or input.ndim == 0 else found.sum(axes)


# ---------------------------------------------------------------- in place

def _in_place(compute: Any, others: tuple = (), uses_old: bool = False) -> Any:
    from .inplace import update

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return update(self, lambda t: compute(t, *args, **kwargs), others_of(args, kwargs), uses_old)

    def others_of(args: tuple, kwargs: dict) -> tuple:
        return tuple(a for a in args + tuple(kwargs.values()) if isinstance(a, Tensor))

    method.__name__ = compute.__name__ + "_"
    return method


scatter_ = _in_place(scatter)
scatter_add_ = _in_place(scatter_add)
index_add_ = _in_place(index_add)
index_copy_ = _in_place(index_copy)
index_fill_ = _in_place(index_fill)
put_ = _in_place(put)


def scatter_reduce_(self: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                    include_self: bool = True) -> Tensor:
    from .inplace import update

    return update(self, lambda t: scatter_reduce(t, dim, index, src, reduce, include_self=include_self), (src,),
                  reduce in ("prod", "amax", "amin"))


def index_reduce_(self: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                  include_self: bool = True) -> Tensor:
    from .inplace import update

    return update(self, lambda t: index_reduce(t, dim, index, source, reduce, include_self=include_self), (source,),
                  reduce != "mean")


def masked_scatter_(self: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    from .inplace import update

    _check_mask(mask, "masked_scatter_ only supports boolean masks, but got mask with dtype ")
    mask = expand(mask, tuple(self.shape)) if tuple(mask.shape) != tuple(self.shape) else mask
    return update(self, lambda t: masked_scatter(t, mask, source), (source,), False)
