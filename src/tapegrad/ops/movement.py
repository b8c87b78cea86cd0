"""Movement ops: views (reshape, transpose, permute, squeeze, unsqueeze, expand, …) and the
copies that join or split tensors (cat, stack, split).

A view shares its base's buffer and version counter, and remembers how it was made from
the base (``_view_chain``) so that an in-place change through the view can be recorded on
the base (PyTorch's ``CopySlices``). A CUDA tensor's views are device arrays over the same
memory with new strides (``tapegrad.cuda._views``), made where the CPU path asks NumPy.

``to`` converts dtypes and moves tensors between the CPU and CUDA, recording a step whose
VJP converts and moves the gradient back.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from .. import memory_formats as _formats
from ..device import as_device
from ..compiler import rules, trace
from ..tensor import Tensor, _wrap, _wrap_dim
from .registry import OpDef, record


def _cuda_views() -> Any:
    from ..cuda import _views

    return _views


_NDARRAY = np.ndarray


def make_view(x: Tensor, data: np.ndarray, fn: Callable[..., Tensor], args: tuple) -> Tensor:
    """A tensor viewing ``x``'s buffer; ``fn(x, *args)`` remakes it from ``x``."""
    out = _wrap(data)
    out._counter = x._counter
    out._view_version = x._counter.value
    if x._base is None:
        out._base = x
        out._view_chain = ((fn, args),)
        if x._layout_undo:
            out._view_epoch = len(x._layout_undo)
    else:
        out._base = x._base
        out._view_chain = x._view_chain + ((fn, args),)
        if x._view_epoch:
            out._view_epoch = x._view_epoch
    return out


def replay_view_chain(base: Tensor, chain: Sequence[tuple[Callable[..., Tensor], tuple]]) -> Tensor:
    for fn, args in chain:
        base = fn(base, *args)
    return base


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def infer_shape(shape: tuple[int, ...], numel: int) -> tuple[int, ...]:
    known = 1
    unknown = None
    for i, s in enumerate(shape):
        if s == -1:
            if unknown is not None:
                raise RuntimeError("only one dimension can be inferred")
            unknown = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
        else:
            known *= s
    if unknown is not None:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:unknown] + (numel // known,) + shape[unknown + 1:]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _reshape_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    return (g.reshape(step.input_meta[0][0]),)


VIEW = OpDef("view", "ViewBackward0", _reshape_vjp)
RESHAPE_ALIAS = OpDef("reshape_alias", "ReshapeAliasBackward0", _reshape_vjp)  # a view of strided input
RESHAPE_COPY = OpDef("reshape_copy", "UnsafeViewBackward0", _reshape_vjp)


def view(input: Tensor, *shape: Any) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (_dtypes.dtype, str, type, np.dtype)):
        raise RuntimeError("view(dtype) is not supported by tapegrad")
    shape = infer_shape(_shape_arg(shape), input._data.size)
    if isinstance(input._data, _NDARRAY):
        data = input._data.view()
        try:
            data.shape = shape
        except AttributeError:
            data = None
    else:
        data = _cuda_views().reshape_view(input._data, shape)
    if data is None:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one dimension "
            "spans across two contiguous subspaces). Use .reshape(...) instead.")
    out = make_view(input, data, view, (shape,))
    if grad_mode.state.enabled and input._requires_grad:
        return record(VIEW, (input,), out)
    return out


def reshape(input: Tensor, *shape: Any) -> Tensor:
    shape = infer_shape(_shape_arg(shape), input._data.size)
    if not isinstance(input._data, _NDARRAY):
        return _reshape_cuda(input, shape)
    if shape == input._data.shape:
        data = input._data.view()
    else:
        data = input._data.reshape(shape)
    if data.size == 0 or np.may_share_memory(data, input._data):
        out = make_view(input, data, reshape, (shape,))
        op = VIEW if input._data.flags.c_contiguous else RESHAPE_ALIAS
    else:
        out = _reshaped_copy(input, data)
        op = RESHAPE_COPY
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out)
    return out


def _reshaped_copy(input: Tensor, data: Any) -> Tensor:
    """``data``, a new array holding ``input`` reshaped, as a tensor (reported to the tracer)."""
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.RESHAPE_COPY, (input,), data)
    return _wrap(data)


def _reshape_cuda(input: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``reshape`` of a CUDA tensor: a view where strides allow, else a contiguous copy."""
    data = _cuda_views().reshape_view(input._data, shape)
    if data is not None:
        out = make_view(input, data, reshape, (shape,))
        op = VIEW if input.is_contiguous() else RESHAPE_ALIAS
    else:
        out = _reshaped_copy(input, input._data.copy().reshape(shape))
        op = RESHAPE_COPY
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out)
    return out


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if input.ndim == 0:
        return reshape(input, (1,))
    start = _wrap_dim(start_dim, input.ndim)
    end = _wrap_dim(end_dim, input.ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input.shape
    middle = 1
    for s in shape[start:end + 1]:
        middle *= s
    return reshape(input, tuple(shape[:start]) + (middle,) + tuple(shape[end + 1:]))


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    d = _wrap_dim(dim, input.ndim)
    inner = infer_shape(tuple(sizes), input.shape[d])
    return view(input, tuple(input.shape[:d]) + inner + tuple(input.shape[d + 1:]))


def _transpose_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    d0, d1 = step.attrs
    return (g.transpose(d0, d1),)


TRANSPOSE = OpDef("transpose", "TransposeBackward0", _transpose_vjp)
T_OP = OpDef("t", "TBackward0", _transpose_vjp)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    ndim = input._data.ndim
    d0, d1 = _wrap_dim(dim0, ndim), _wrap_dim(dim1, ndim)
    if isinstance(input._data, _NDARRAY):
        data = np.swapaxes(input._data, d0, d1) if ndim else input._data.view()
    else:
        data = _cuda_views().swapaxes(input._data, d0, d1) if ndim else _cuda_views().alias(input._data)
    out = make_view(input, data, transpose, (d0, d1))
    if grad_mode.state.enabled and input._requires_grad:
        return record(TRANSPOSE, (input,), out, (d0, d1))
    return out


def t(input: Tensor) -> Tensor:
    source = input._data
    ndim = source.ndim
    if ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {ndim}D")
    if isinstance(source, _NDARRAY):
        data = source.T
    else:
        data = _cuda_views().permute(source, tuple(range(ndim - 1, -1, -1)))
    out = make_view(input, data, t, ())
    if grad_mode.state.enabled and input._requires_grad:
        return record(T_OP, (input,), out, (0, 1) if ndim == 2 else (0, 0))
    return out


def _permute_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (dims,) = step.attrs
    return (g.permute(tuple(np.argsort(dims))),)


PERMUTE = OpDef("permute", "PermuteBackward0", _permute_vjp)


def permute(input: Tensor, *dims: Any) -> Tensor:
    dims = _shape_arg(dims)
    ndim = input._data.ndim
    if len(dims) != ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {ndim} is not "
                           f"equal to len(dims) = {len(dims)}")
    dims = tuple(_wrap_dim(d, ndim) for d in dims)
    if len(set(dims)) != ndim:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if isinstance(input._data, _NDARRAY):
        data = input._data.transpose(dims)
    else:
        data = _cuda_views().permute(input._data, dims)
    out = make_view(input, data, permute, (dims,))
    if grad_mode.state.enabled and input._requires_grad:
        return record(PERMUTE, (input,), out, (dims,))
    return out


def reversed_dims(input: Tensor) -> Tensor:
    """``x.T``: all dims reversed."""
    return permute(input, tuple(range(input.ndim - 1, -1, -1)))


def movedim(input: Tensor, source: int, destination: int) -> Tensor:
    ndim = input.ndim
    order = [d for d in range(ndim) if d != _wrap_dim(source, ndim)]
    order.insert(_wrap_dim(destination, ndim), _wrap_dim(source, ndim))
    return permute(input, tuple(order))


SQUEEZE_ALL = OpDef("squeeze", "SqueezeBackward0", _reshape_vjp)
SQUEEZE_DIM = OpDef("squeeze_dim", "SqueezeBackward1", _reshape_vjp)
SQUEEZE_DIMS = OpDef("squeeze_dims", "SqueezeBackward2", _reshape_vjp)
UNSQUEEZE = OpDef("unsqueeze", "UnsqueezeBackward0", _reshape_vjp)


def _reshape_view(input: Tensor, shape: tuple[int, ...], op: OpDef, fn: Callable, args: tuple) -> Tensor:
    if isinstance(input._data, _NDARRAY):
        data = input._data.view()
        data.shape = shape
    else:
        data = _cuda_views().reshape_view(input._data, shape)  # only size-1 dims change: always a view
    out = make_view(input, data, fn, args)
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out)
    return out


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    shape = input._data.shape
    if dim is None:
        axes = {d for d, s in enumerate(shape) if s == 1}
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        axes = {_wrap_dim(d, len(shape)) for d in dims if shape and shape[_wrap_dim(d, len(shape))] == 1}
    new_shape = tuple(s for d, s in enumerate(shape) if d not in axes)
    op = SQUEEZE_ALL if dim is None else SQUEEZE_DIM if isinstance(dim, int) else SQUEEZE_DIMS
    return _reshape_view(input, new_shape, op, squeeze, (dim,))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    ndim = input._data.ndim
    d = _wrap_dim(dim, ndim + 1)
    shape = input._data.shape
    return _reshape_view(input, shape[:d] + (1,) + shape[d:], UNSQUEEZE, unsqueeze, (d,))


def _expand_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    if not isinstance(g._data, _NDARRAY):
        from .pointwise import cuda_sum_to

        return (cuda_sum_to(g, step.input_meta[0][0]),)
    from .reduce import sum_to

    return (sum_to(g, step.input_meta[0][0]),)


EXPAND = OpDef("expand", "ExpandBackward0", _expand_vjp)


def expand(input: Tensor, *sizes: Any) -> Tensor:
    sizes = _shape_arg(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand(torch.FloatTensor{{{list(shape)}}}, size={list(sizes)}): the number of sizes "
                           f"provided ({len(sizes)}) must be greater or equal to the number of dimensions in the "
                           f"tensor ({len(shape)})")
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        own = shape[i - lead] if i >= lead else None
        if s == -1:
            if own is None:
                raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                                   f"non-existing dimension {i}")
            s = own
        elif own is not None and own != 1 and own != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({own}) at "
                               f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}")
        target.append(s)
    target_shape = tuple(target)
    if not isinstance(input._data, _NDARRAY):
        views = _cuda_views()
        data = views.alias(input._data) if target_shape == shape else views.broadcast_to(input._data, target_shape)
    elif target_shape == shape:
        data = input._data.view()
    else:
        data = np.broadcast_to(input._data, target_shape)
    out = make_view(input, data, expand, (target_shape,))
    if grad_mode.state.enabled and input._requires_grad:
        return record(EXPAND, (input,), out)
    return out


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, tuple(other.shape))


def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:
    return expand(input, tuple(shape))


def contiguous(input: Tensor, memory_format: Any = None) -> Tensor:
    """``input`` if it is laid out in ``memory_format`` (default: C order), else a copy that is."""
    from .elementwise import clone

    if memory_format is None or _formats.order(_formats.check(memory_format, "contiguous"), input.ndim) is None:
        return input if input.is_contiguous() else clone(input, memory_format=_formats.contiguous_format)
    return input if input.is_contiguous(memory_format) else clone(input, memory_format=memory_format)


# ---------------------------------------------------------------- joining and splitting

def _cat_vjp(step: Step, g: Tensor) -> tuple[Tensor, ...]:
    axis, sizes = step.attrs
    grads = []
    start = 0
    for size, meta in zip(sizes, step.input_meta):
        if meta is not None and len(meta[0]) == 1 and meta[0][0] == 0 and g.ndim != 1:
            grads.append(_wrap(np.zeros((0,), g._data.dtype)))  # a legacy empty (0,) input
            continue
        grads.append(g.narrow(axis, start, size))
        start += size
    return tuple(grads)


CAT = OpDef("cat", "CatBackward0", _cat_vjp)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, out: Any = None) -> Tensor:
    """Join tensors along an existing dimension."""
    if out is not None:
        raise RuntimeError("cat(out=...) is not supported by tapegrad")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(x).__name__}")
    # PyTorch skips 1-d empty tensors in cat (legacy behaviour).
    parts = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    ref = parts[0]
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    axis = _wrap_dim(dim, ref.ndim)
    for i, x in enumerate(tensors):
        if x.ndim == 1 and x.shape[0] == 0 and ref.ndim != 1:
            continue
        if x.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {x.ndim}")
        for d in range(ref.ndim):
            if d != axis and x.shape[d] != ref.shape[d]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {axis}. Expected size "
                                   f"{ref.shape[d]} but got size {x.shape[d]} for tensor number {i} in the list.")
    dtype = _dtypes.result_type([x.dtype for x in tensors], [], [])
    _same_device(tensors)
    data = joined([x._data for x in parts], axis, False, dtype.numpy)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.JOIN, parts, data, (axis, False))
    result = _wrap(data)
    if grad_mode.state.enabled and any(x._requires_grad for x in tensors):
        sizes = tuple(x.shape[axis] if not (x.ndim == 1 and x.shape[0] == 0 and ref.ndim != 1) else 0
                      for x in tensors)
        return record(CAT, tensors, result, (axis, sizes))
    return result


concat = cat
concatenate = cat


def _same_device(tensors: Sequence[Tensor]) -> bool:
    """True when every tensor is on the CPU, False when every one is on CUDA; raises otherwise."""
    on_cpu = [isinstance(x._data, _NDARRAY) for x in tensors]
    if all(on_cpu):
        return True
    if any(on_cpu):
        from .pointwise import _SAME_DEVICE

        raise RuntimeError(_SAME_DEVICE)
    return False


def joined(arrays: Sequence[Any], axis: int, stacked: bool, dtype: np.dtype) -> Any:
    """``arrays`` (on one device) concatenated along ``axis``, or stacked along a new ``axis``,
    in ``dtype``: the work of ``cat`` and ``stack``, and of their compiled replays on CUDA."""
    if isinstance(arrays[0], _NDARRAY):
        join = np.stack if stacked else np.concatenate
        return join(list(arrays), axis=axis).astype(dtype, copy=False)
    if stacked:
        arrays = [_cuda_views().reshape_view(a, a.shape[:axis] + (1,) + a.shape[axis:]) for a in arrays]
    return _cat_cuda(arrays, axis, dtype)


def _cat_cuda(arrays: Sequence[Any], axis: int, dtype: np.dtype) -> Any:
    """``np.concatenate`` on CUDA: each part is copied (and cast) into its slab of a result laid
    out with ``axis`` first, where every slab is contiguous; the result is then that array's
    view with ``axis`` back in place, made contiguous."""
    from ..cuda import _arrays, _ops

    views = _cuda_views()
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    order = [axis] + [d for d in range(len(shape)) if d != axis]
    moved = _arrays.empty(tuple(shape[d] for d in order), dtype)
    start = 0
    for part in arrays:
        length = part.shape[axis]
        if length:
            slab = moved[start:start + length]
            source = views.permute(part, order)
            _ops.elementwise(_ops._copy, [source], tuple(source.shape), part.dtype, dtype, out=slab)
        start += length
    back = [order.index(d) for d in range(len(shape))]
    result = views.permute(moved, back)
    return result if result.is_c_contiguous() else _ops.contiguous_copy(result)


def _stack_vjp(step: Step, g: Tensor) -> tuple[Tensor, ...]:
    (axis,) = step.attrs
    return tuple(g.select(axis, i) for i in range(len(step.input_meta)))


STACK = OpDef("stack", "StackBackward0", _stack_vjp)


def stack(tensors: Sequence[Tensor], dim: int = 0, *, out: Any = None) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                               f"entry 0 and {list(x.shape)} at entry {i}")
    axis = _wrap_dim(dim, tensors[0].ndim + 1)
    dtype = _dtypes.result_type([x.dtype for x in tensors], [], [])
    _same_device(tensors)
    data = joined([x._data for x in tensors], axis, True, dtype.numpy)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.JOIN, tensors, data, (axis, True))
    result = _wrap(data)
    if grad_mode.state.enabled and any(x._requires_grad for x in tensors):
        return record(STACK, tensors, result, (axis,))
    return result


def narrow(input: Tensor, dim: int, start: int, length: int, op: OpDef | None = None) -> Tensor:
    from .index import getitem

    axis = _wrap_dim(dim, input.ndim)
    if start < 0:
        start += input.shape[axis]
    if not 0 <= start <= input.shape[axis] - length or length < 0:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({input.shape[axis]}).")
    key = (slice(None),) * axis + (slice(start, start + length),)
    return getitem(input, key, op)


def select(input: Tensor, dim: int, index: int, op: OpDef | None = None) -> Tensor:
    from .index import getitem

    axis = _wrap_dim(dim, input.ndim)
    return getitem(input, (slice(None),) * axis + (index,), op)


def split(input: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    axis = _wrap_dim(dim, input.ndim)
    size = input.shape[axis]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sections = [min(step, size - s) for s in range(0, size, step)] if size else [0]
    else:
        sections = list(split_size_or_sections)
        if sum(sections) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size "
                               f"at dimension {axis}), but got split_sizes={sections}")
    from .index import SPLIT, SPLIT_WITH_SIZES

    op = SPLIT if isinstance(split_size_or_sections, int) else SPLIT_WITH_SIZES
    parts = []
    start = 0
    for length in sections:
        parts.append(narrow(input, axis, start, length, op))
        start += length
    return tuple(parts)


def split_with_sizes(input: Tensor, split_sizes: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``split`` into parts of the given sizes (a list only, as PyTorch's)."""
    if isinstance(split_sizes, int):
        raise TypeError("split_with_sizes(): argument 'split_sizes' (position 1) must be tuple of ints, not int")
    return split(input, list(split_sizes), dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    size = input.shape[_wrap_dim(dim, input.ndim)]
    return split(input, max(1, -(-size // chunks)), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    from .index import UNBIND

    axis = _wrap_dim(dim, input.ndim)
    return tuple(select(input, axis, i, UNBIND) for i in range(input.shape[axis]))


# ---------------------------------------------------------------- conversion

def to(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other)``; ``copy=True`` forces a copy.

    A move between the CPU and CUDA is recorded (``ToCopyBackward0``), so the gradient flows
    back to the source device.
    """
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    memory_format = kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    if memory_format is not None and memory_format is not _formats.preserve_format:
        moved = to(input, *args, dtype=dtype, device=device, copy=copy)
        return contiguous(moved, _formats.check(memory_format, "to"))
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (_dtypes.dtype, type, np.dtype)) or (isinstance(a, str) and a in _dtypes._ALIASES):
            dtype = a
        elif a is not None and not isinstance(a, bool):
            device = a
    target = _dtypes.as_dtype(dtype) if dtype is not None else input.dtype
    if device is not None:
        on_cpu = isinstance(input._data, np.ndarray)
        place = as_device(device)
        if place.type == "cuda":
            from .. import cuda

            cuda.check_device(place)
            if on_cpu:
                return _move(input, target, to_cuda=True)
        elif not on_cpu:
            return _move(input, target, to_cuda=False)
    if target is input.dtype and not copy:
        return input
    from .elementwise import cast, clone

    return cast(input, target) if target is not input.dtype else clone(input)


def _move(input: Tensor, dtype: _dtypes.dtype, to_cuda: bool) -> Tensor:
    """A copy of ``input`` in ``dtype`` on the other device (the cast on the source side)."""
    from ..cuda import _arrays, _ops
    from ..device import CPU, CUDA0
    from .elementwise import TO_COPY

    if trace.ACTIVE is not None:
        raise NotImplementedError("tapegrad.compile does not support moving tensors between devices yet: "
                                  "move them before calling the compiled function")
    data = input._data
    if to_cuda:
        moved = _arrays.to_device(data if data.dtype == dtype.numpy else data.astype(dtype.numpy))
        source = CPU
    else:
        moved = _arrays.to_host(data if data.dtype == dtype.numpy else _ops.cast(data, dtype.numpy))
        source = CUDA0
    result = _wrap(moved)
    if dtype.is_floating_point and grad_mode.state.enabled and input._requires_grad:
        return record(TO_COPY, (input,), result, source)
    return result
