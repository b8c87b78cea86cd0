"""Indexing: ``__getitem__`` (basic → a view, advanced → a gather), ``gather``, ``index_select``,
and their backward partners that add gradients into zeros (repeats accumulate, via a Numba
scatter-add kernel). Each forward and its backward partner are each other's VJP.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import index_rules, trace
from ..tensor import Tensor, _wrap, _wrap_dim
from .movement import make_view
from .registry import OpDef, record
from ..user_warnings import warn_user


def _cuda_ops() -> Any:
    """``tapegrad.cuda._ops`` (imported only for CUDA tensors: it imports ``numba.cuda``)."""
    from ..cuda import _ops

    return _ops


def _is_device_array(data: Any) -> bool:
    # A CUDA buffer can exist only once tapegrad.cuda._arrays is imported.
    module = sys.modules.get("tapegrad.cuda._arrays")
    return module is not None and module.is_device_array(data)


def _normalize_key(key: Any) -> tuple[tuple, bool]:
    """The key as a tuple of ints/slices/None/Ellipsis/ndarrays, and whether it is advanced."""
    if not isinstance(key, tuple):
        key = (key,)
    parts = []
    advanced = False
    for k in key:
        if isinstance(k, Tensor):
            if k._data.dtype == np.uint8:
                # PyTorch still reads a uint8 index as a mask (its pre-bool masks), with a warning.
                warn_user("indexing with dtype tapegrad.uint8 is now deprecated, please use a dtype "
                          "tapegrad.bool instead.", UserWarning)
                k = k.bool()
            if k._data.dtype.kind in "iu" and k._data.ndim == 0:
                parts.append(int(k._data) if isinstance(k._data, np.ndarray) else int(k.item()))
                continue
            if k._data.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            parts.append(k._data)
            advanced = True
        elif isinstance(k, (list, tuple, np.ndarray)):  # a tuple within the key indexes as a list
            array = np.asarray(k)
            if array.size == 0 and not isinstance(k, np.ndarray):
                array = array.astype(np.int64)  # ``x[[]]``: no float array of nothing
            if array.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            parts.append(array)
            advanced = True
        elif isinstance(k, (bool, np.bool_)):
            parts.append(np.array(k))
            advanced = True
        elif isinstance(k, (int, np.integer)):
            parts.append(int(k))
        elif isinstance(k, slice):
            if k.step is not None and int(k.step) <= 0:
                raise ValueError("step must be greater than zero")
            parts.append(k)
        elif k is None or k is Ellipsis:
            parts.append(k)
        elif _is_device_array(k):
            # A CUDA tensor's index array, as a recorded step keeps it (double backward).
            parts.append(k)
            advanced = True
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                             f"Variables are valid indices (got {type(k).__name__})")
    return tuple(parts), advanced


def split_integer_selects(parts: tuple) -> tuple[tuple, tuple] | None:
    """For an advanced key with integers among its parts: (the basic key that selects with the
    integers alone, the rest of the key for the result of that). PyTorch applies integers as
    ``select`` before the advanced indices, so they never count among them: ``z[0, :, [1, 2]]``
    of a (2, 3, 4, 5) tensor is (3, 2, 5), where NumPy, which counts the 0 as an advanced index
    separated from the list by the slice, moves the indexed dims first and gives (2, 3, 5).
    None where the key has no integer."""
    if not any(type(k) is int for k in parts):
        return None
    selects: list[Any] = []
    for k in parts:
        if type(k) is int or k is Ellipsis:
            selects.append(k)
        elif k is None:
            continue  # a new dim: it consumes none of the input's
        elif isinstance(k, slice):
            selects.append(slice(None))
        else:  # an index array: a boolean mask spans as many dims as it has
            selects.extend([slice(None)] * (k.ndim if k.dtype == np.bool_ else 1))
    return tuple(selects), tuple(k for k in parts if type(k) is not int)


def _index_data(data: np.ndarray, key: tuple) -> np.ndarray:
    if not any(k is Ellipsis for k in key):
        # A trailing Ellipsis makes NumPy return a 0-d view rather than a scalar for x[i, j].
        key = key + (Ellipsis,)
    try:
        return data[key]
    except IndexError as error:
        message = str(error).replace("axis", "dimension")
        raise IndexError(message) from None


def _grad_name(key: tuple) -> OpDef:
    for k in reversed(key):
        if isinstance(k, int):
            return SELECT
        if isinstance(k, slice) and k != slice(None):
            return SLICE
        if k is None:
            return UNSQUEEZE_INDEX
    return SLICE if any(isinstance(k, slice) for k in key) else ALIAS


def _getitem_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    key, advanced = step.attrs
    return (embed(g, step.input_meta[0][0], key, advanced),)


SELECT = OpDef("select", "SelectBackward0", _getitem_vjp)
SLICE = OpDef("slice", "SliceBackward0", _getitem_vjp)
UNSQUEEZE_INDEX = OpDef("index_unsqueeze", "UnsqueezeBackward0", _getitem_vjp)
ALIAS = OpDef("alias", "AliasBackward0", _getitem_vjp)
INDEX = OpDef("index", "IndexBackward0", _getitem_vjp)
# The same step under the names PyTorch's split/unbind/index_select report.
SPLIT = OpDef("split", "SplitBackward0", _getitem_vjp)
SPLIT_WITH_SIZES = OpDef("split_with_sizes", "SplitWithSizesBackward0", _getitem_vjp)
UNBIND = OpDef("unbind", "UnbindBackward0", _getitem_vjp)
INDEX_SELECT = OpDef("index_select", "IndexSelectBackward0", _getitem_vjp)


def getitem(input: Tensor, key: Any, op: OpDef | None = None) -> Tensor:
    """``input[key]`` with PyTorch semantics (no negative steps); ``op`` names the step."""
    if input._data.ndim == 0 and not isinstance(key, (tuple, type(None), type(Ellipsis))) and \
            not isinstance(key, (Tensor, list, np.ndarray)):
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                         "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
    parts, advanced = _normalize_key(key)
    if advanced and (split := split_integer_selects(parts)) is not None:
        selects, rest = split
        return getitem(getitem(input, selects), rest, op)
    if advanced:
        given = parts
        if not isinstance(input._data, np.ndarray):
            # Checked and resolved (masks to coordinates) once: the backward reuses the key.
            parts = _cuda_ops().device_key(input.shape, parts)
            out = _wrap(cuda_take(input._data, parts))
        else:
            out = _wrap(np.asarray(_index_data(input._data, parts), order="C"))
        if trace.ACTIVE is not None:
            index_rules.emit_take(trace.ACTIVE, input, given, parts, out._data)
        op = op or INDEX
    else:
        out = make_view(input, _index_data(input._data, parts), getitem, (parts,))
        op = op or _grad_name(parts)
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out, (parts, advanced))
    return out


def cuda_take(data: Any, key: tuple) -> Any:
    """``data[key]`` for the device array ``data`` and an advanced key (``device_key`` checks
    and resolves one that is not resolved yet)."""
    ops = _cuda_ops()
    return ops.take(data, ops.index_positions(tuple(data.shape), ops.element_strides(data), key))


def _flat_positions(shape: tuple[int, ...], key: tuple) -> np.ndarray:
    return np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)[key]


def _embed_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    return (getitem(g, step.attrs[1]),)


EMBED = OpDef("index_backward", "IndexPutBackward0", _embed_vjp)


def embed(g: Tensor, shape: tuple[int, ...], key: tuple, advanced: bool) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``[key]`` (repeated positions accumulate)."""
    if not isinstance(g._data, np.ndarray):
        data = cuda_embed(g._data, shape, key, advanced)
    else:
        data = _cpu_embed(g._data, shape, key, advanced)
    if trace.ACTIVE is not None:
        index_rules.emit_embed(trace.ACTIVE, g, shape, key, advanced, data)
    out = _wrap(data)
    if grad_mode.state.enabled and g._requires_grad:
        return record(EMBED, (g,), out, (shape, key, advanced))
    return out


def _cpu_embed(g: np.ndarray, shape: tuple[int, ...], key: tuple, advanced: bool) -> np.ndarray:
    data = np.zeros(shape, g.dtype)
    if advanced:
        positions = _flat_positions(shape, key)
        src = np.ascontiguousarray(np.broadcast_to(g, positions.shape))
        cpu.scatter_add_flat(data, positions.reshape(-1), src.reshape(-1))
    else:
        data[key] = g
    return data


def cuda_embed(g: Any, shape: tuple[int, ...], key: tuple, advanced: bool) -> Any:
    """``_cpu_embed`` on the device: zeros, then an atomic scatter-add (advanced key) or a
    strided copy into the view ``zeros[key]`` (basic key: each position is written once)."""
    ops = _cuda_ops()
    data = ops.full(shape, 0, g.dtype)
    if advanced:
        ops.put(data, ops.index_positions(shape, ops.element_strides(data), key), g, accumulate=True)
    else:
        data[key] = g
    return data


# ---------------------------------------------------------------- gather along a dim

def _gather_positions(shape: tuple[int, ...], axis: int, index: np.ndarray) -> np.ndarray:
    """Flat positions in a C-contiguous array of ``shape`` of ``[..., index, ...]`` along ``axis``."""
    strides = np.cumprod((1,) + shape[::-1][:-1])[::-1]
    positions = index.astype(np.int64) * strides[axis]
    for d in range(index.ndim):
        if d != axis:
            ramp = np.arange(index.shape[d], dtype=np.int64) * strides[d]
            positions = positions + ramp.reshape((-1,) + (1,) * (index.ndim - d - 1))
    return positions


def _check_gather(name: str, input: Tensor, axis: int, index: Tensor) -> None:
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d in range(index.ndim):
        if d != axis and index.shape[d] > (input.shape[d] if input.ndim else 1):
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                               f"smaller than self {list(input.shape)} apart from dimension {axis}")
    if index.numel():
        check_gather_range(index._data, input.shape[axis] if input.ndim else 1, axis)


def check_gather_range(index: Any, size: int, axis: int) -> None:
    """Raise for an entry of the (non-empty) index array outside ``[0, size)``."""
    def error(bad: int) -> RuntimeError:
        return RuntimeError(f"index {bad} is out of bounds for dimension {axis} with size {size}")

    if not isinstance(index, np.ndarray):
        # The first offending entry (one number copied back; the CPU path names the extreme).
        _cuda_ops().check_range(index, 0, size, error)
        return
    low, high = int(index.min()), int(index.max())
    if not (0 <= low and high < size):
        raise error(high if high >= size else low)


def _gather_vjp(step: Step, g: Tensor) -> tuple[Tensor, None]:
    (axis,) = step.attrs
    (index,) = step.saved_values()
    return scatter_into_zeros(g, step.input_meta[0][0], axis, index), None


GATHER = OpDef("gather", "GatherBackward0", _gather_vjp)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` for dim 0 (and likewise for other dims)."""
    axis = _wrap_dim(dim, max(input.ndim, 1))
    _check_gather("gather", input, axis, index)
    index_data = index._data.reshape(index._data.shape or (1,))
    if not isinstance(input._data, np.ndarray):
        data = cuda_gather(input._data.reshape(input._data.shape or (1,)), axis, index_data)
    else:
        source = np.ascontiguousarray(input._data).reshape(input._data.shape or (1,))
        positions = _gather_positions(source.shape, axis, index_data)
        data = cpu.gather_flat(source.reshape(-1), positions.reshape(-1))
    out = _wrap(data.reshape(index._data.shape))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(index_rules.GATHER, (input, index), out, axis)
    if grad_mode.state.enabled and input._requires_grad:
        return record(GATHER, (input, index), out, (axis,), saved=(index,))
    return out


def cuda_gather(source: Any, axis: int, index: Any) -> Any:
    """``gather`` of the device array ``source`` (at least 1-d) with in-range indices."""
    ops = _cuda_ops()
    return ops.take(source, ops.gather_positions(tuple(source.shape), axis, index, ops.element_strides(source)))


def cuda_scatter_add(src: Any, shape: tuple[int, ...], axis: int, index: Any) -> Any:
    """Zeros of ``shape`` (a 0-d shape as one element) with the device array ``src`` added at
    ``index`` along ``axis``: ``cuda_gather``'s adjoint."""
    ops = _cuda_ops()
    data = ops.full(shape or (1,), 0, src.dtype)
    positions = ops.gather_positions(tuple(data.shape), axis, index, ops.element_strides(data))
    ops.put(data, positions, src.reshape(positions.shape), accumulate=True)
    return data.reshape(shape)


def _scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (axis,) = step.attrs
    (index,) = step.saved_values()
    return (gather(g, axis, index),)


SCATTER_ADD_ZEROS = OpDef("scatter_add_zeros", "ScatterAddBackward0", _scatter_vjp)


def scatter_into_zeros(src: Tensor, shape: tuple[int, ...], axis: int, index: Tensor) -> Tensor:
    """Zeros of ``shape`` with ``src`` added at ``index`` along ``axis`` (gather's adjoint)."""
    index_data = index._data.reshape(index._data.shape or (1,))
    if not isinstance(src._data, np.ndarray):
        data = cuda_scatter_add(src._data, shape, axis, index_data)
    else:
        data = np.zeros(shape or (1,), src._data.dtype)
        positions = _gather_positions(data.shape, axis, index_data)
        cpu.scatter_add_flat(data, positions.reshape(-1),
                             np.ascontiguousarray(src._data, dtype=data.dtype).reshape(-1))
    out = _wrap(data.reshape(shape))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(index_rules.SCATTER_ADD, (src, index), out, axis)
    if grad_mode.state.enabled and src._requires_grad:
        return record(SCATTER_ADD_ZEROS, (src,), out, (axis,), saved=(index,))
    return out


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    axis = _wrap_dim(dim, input.ndim)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    return getitem(input, (slice(None),) * axis + (index.reshape(-1),), INDEX_SELECT)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    if not isinstance(input._data, np.ndarray):
        ops = _cuda_ops()
        coordinates = ops.nonzero(input._data)
        if as_tuple:
            return tuple(_wrap(ops.contiguous_copy(coordinates[:, d])) for d in range(input.ndim))
        return _wrap(coordinates)
    found = np.nonzero(input._data)
    if as_tuple:
        return tuple(_wrap(f.astype(np.int64)) for f in found)
    return _wrap(np.stack(found, axis=1).astype(np.int64) if found else np.zeros((1, 0), np.int64))


def _masked_fill_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, Tensor | None]:
    (mask,) = step.saved_values()
    from .elementwise import where

    grad_input = where(mask, 0.0, g) if step.needs_input_grad(0) else None
    grad_value = where(mask, g, 0.0).sum() if step.needs_input_grad(2) else None
    return grad_input, None, grad_value


MASKED_FILL = OpDef("masked_fill", "MaskedFillBackward0", _masked_fill_vjp)
MASKED_FILL_TENSOR = OpDef("masked_fill_tensor", "MaskedFillBackward1", _masked_fill_vjp)


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``input`` with ``value`` wherever ``mask`` (broadcast to ``input``) is True."""
    from .composite import _without_grad
    from .elementwise import where

    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}")
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                           f"with {value.ndim} dimension(s).")
    fill = value.item() if isinstance(value, Tensor) else _dtypes.checked_scalar(value, input._data.dtype)
    result = _without_grad(where, mask, fill, input)
    if result.dtype is not input.dtype:
        result = _without_grad(lambda: result.to(input.dtype))
    value_grad = isinstance(value, Tensor) and value._requires_grad
    if grad_mode.state.enabled and (input._requires_grad or value_grad):
        op = MASKED_FILL_TENSOR if isinstance(value, Tensor) else MASKED_FILL
        return record(op, (input, mask, value if isinstance(value, Tensor) else None), result, saved=(mask,))
    return result


# ---------------------------------------------------------------- index_put (advanced setitem)

def _index_put_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    key, value_shape = step.attrs
    shape = step.input_meta[0][0]
    mask_data = np.ones(shape, np.bool_) if isinstance(g._data, np.ndarray) else _cuda_ops().full(shape, True, np.bool_)
    mask_data[key] = False
    grad_self = g * _wrap(mask_data) if step.needs_input_grad(0) else None
    grad_value = None
    if step.needs_input_grad(1):
        from .reduce import sum_to

        grad_value = sum_to(getitem(g, key), value_shape)
    return grad_self, grad_value


INDEX_PUT = OpDef("index_put", "IndexPutBackward0", _index_put_vjp)


def index_put(input: Tensor, key: tuple, value: Tensor) -> Tensor:
    """A copy of ``input`` with ``value`` written at ``[key]`` (an advanced key)."""
    if not isinstance(input._data, np.ndarray):
        key = _cuda_ops().device_key(input.shape, key)  # checked once; the backward reuses it
    data = input._data.copy()
    try:
        data[key] = value._data
    except ValueError as error:
        raise RuntimeError(f"shape mismatch: {error}") from None
    out = _wrap(data)
    if grad_mode.state.enabled and (input._requires_grad or value._requires_grad):
        return record(INDEX_PUT, (input, value), out, (key, value._data.shape))
    return out
