"""Tensor creation: ``tensor``, ``zeros``/``ones``/``full``/``empty`` (and ``*_like``), ``arange``,
``linspace``, ``eye``, random tensors, ``from_numpy``, ``from_dlpack``, and the legacy
``Tensor(...)``, ``FloatTensor(...)`` constructors.

``device="cuda"`` makes the tensor on the GPU (``tapegrad.cuda``): filled tensors are filled
there; the others are made on the host and copied. Random CUDA tensors come from the CUDA
generator, drawn on the host (see ``tapegrad.cuda.random``). Without a usable GPU a CUDA
request raises ``RuntimeError``, as PyTorch does.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from . import dtypes as _dtypes
from . import memory_formats as _formats
from .autograd import grad_mode
from .device import as_device, device as Device
from .dtypes import dtype as DType
from .compiler import trace
from .compiler import rules
from .tensor import Size, Tensor, _wrap
from .user_warnings import warn_user


def _check_device(device: Any) -> Device | None:
    """None for the CPU; ``cuda:0`` for a CUDA device (after checking that CUDA is usable)."""
    if device is None:
        return None
    place = as_device(device)
    if place.type == "cpu":
        return None
    from . import cuda

    return cuda.check_device(place)


def _to_device(data: np.ndarray) -> Any:
    from .cuda._arrays import to_device

    return to_device(data)


def _finish(data: Any, requires_grad: bool, place: Device | None = None) -> Tensor:
    """The new tensor over ``data``; a host array is copied to ``place`` when that is CUDA."""
    if place is not None and isinstance(data, np.ndarray):
        data = _to_device(data)
    out = _wrap(data)
    if requires_grad:
        if data.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        out._requires_grad = True
    return out


def _size_arg(size: Sequence[Any]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, but got an element of type {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def _dtype_or_default(dtype: Any) -> np.dtype:
    return (_dtypes.as_dtype(dtype) if dtype is not None else _dtypes.get_default_dtype()).numpy


def _infer_array(data: Any, dtype: Any) -> np.ndarray:
    """``data`` as a fresh array of the dtype PyTorch would infer (or the one given)."""
    if isinstance(data, Tensor):
        array = data._data.copy()
    elif isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data, copy=True)
        if dtype is None:
            array = array.astype(_dtypes.from_numpy_dtype(array.dtype).numpy, copy=False)
    else:
        typed = None
        if isinstance(data, (list, tuple)):
            data, typed = _typed_leaves(data)
        try:
            array = np.array(data)
        except ValueError as error:
            raise ValueError(f"expected sequence of equal-length sequences: {error}") from None
        # Python ints beyond int64 (NumPy makes them uint64 or objects): PyTorch's error, not a
        # silent wrap-around.
        if array.dtype.kind == "u" or array.dtype == object or array.dtype.kind == "f" and array.size and \
                np.abs(array).max() >= 2.0 ** 63:
            kinds = _leaf_kinds(data)
            if "huge" in kinds and kinds <= {"huge", "int"}:
                raise ValueError("Overflow when unpacking long long")
            if array.dtype == object:
                if not kinds <= {"huge", "int", "float"}:
                    raise TypeError(f"Could not infer dtype of {type(data).__name__}")
                array = np.array(data, dtype=np.float64)  # with a float among them, all are floats
        if dtype is None and typed is not None:
            array = array.astype(typed)
        elif dtype is None:
            if array.dtype.kind == "f" or array.size == 0 and array.dtype.kind != "b":
                with np.errstate(over="ignore"):  # beyond float32: inf, as in PyTorch
                    array = array.astype(_dtypes.get_default_dtype().numpy)
            elif array.dtype.kind in "iu":
                array = array.astype(np.int64)
            elif array.dtype.kind not in "b":
                raise TypeError(f"Could not infer dtype of {type(data).__name__}")
        else:
            _check_integer_range(array, _dtypes.as_dtype(dtype).numpy)
    if dtype is not None:
        with np.errstate(over="ignore"):  # beyond float32: inf, as in PyTorch
            array = array.astype(_dtypes.as_dtype(dtype).numpy)
    return np.asarray(array, order="C")


_NUMBER_TYPES = frozenset((float, int, bool))


def _typed_leaves(data: list | tuple) -> tuple[Any, np.dtype | None]:
    """Nested sequences ``data`` ready for ``np.array``, and the dtype PyTorch infers when they
    hold NumPy scalars or arrays or tensors (None when they hold only Python numbers: the common
    case, told apart by the leaves' types alone).

    Each leaf counts by its own dtype (a Python float as the default float, an int as int64)
    and the widest wins within the highest kind, as PyTorch's inference: ``[np.float64(1), 2]``
    is float64, ``[np.int32(1), 2]`` int64. A tensor leaf is read as the number it holds; one
    with more than one element is PyTorch's ValueError. A NumPy array leaf is a sequence."""
    level: Any = data
    while True:
        types = set(map(type, level))
        if types <= _NUMBER_TYPES:
            return data, None
        if not types <= {list, tuple}:
            break
        level = [item for sequence in level for item in sequence]
    dtypes: list[np.dtype] = []

    def leaves(item: Any) -> Any:
        if isinstance(item, (list, tuple)):
            return [leaves(i) for i in item]
        if isinstance(item, Tensor):
            if item._data.size != 1:
                raise ValueError("only one element tensors can be converted to Python scalars")
            dtypes.append(item._data.dtype)
            return item.item()
        if isinstance(item, (np.ndarray, np.generic)):
            dtypes.append(item.dtype)
        elif isinstance(item, bool):
            dtypes.append(np.dtype(np.bool_))
        elif isinstance(item, int):
            dtypes.append(np.dtype(np.int64))
        elif isinstance(item, float):
            dtypes.append(_dtypes.get_default_dtype().numpy)
        else:
            dtypes.append(np.dtype(object))
        return item

    data = leaves(data)
    kinds = {d.kind for d in dtypes}
    if not dtypes or not kinds <= set("biuf"):
        return data, None  # strings and other objects: np.array's own result, refused below
    if "f" in kinds:
        wide = any(d.kind == "f" and d.itemsize >= 8 for d in dtypes)
        return data, np.dtype(np.float64 if wide else np.float32)
    if kinds & set("iu"):
        narrow = all(d.kind == "b" or d.kind == "i" and d.itemsize <= 4 for d in dtypes)
        return data, np.dtype(np.int32 if narrow else np.int64)
    return data, np.dtype(np.bool_)


def _leaf_kinds(data: Any) -> set[str]:
    """What the leaves of nested sequences ``data`` are: "float", "int" (a bool or an int within
    int64), "huge" (an int beyond it), "other"."""
    kinds = set()
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, (float, np.floating)):
            kinds.add("float")
        elif isinstance(item, (bool, np.bool_, np.integer)) or type(item) is int and -(1 << 63) <= item < 1 << 63:
            kinds.add("int")
        else:
            kinds.add("huge" if type(item) is int else "other")
    return kinds


def _check_integer_range(array: np.ndarray, target: np.dtype) -> None:
    """PyTorch's error for Python numbers that an integer ``target`` dtype cannot hold."""
    if target.kind in "iu" and array.dtype.kind in "iuf" and array.size:
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if target.kind == "u" and array.dtype.kind in "iu":
            low += info.max  # PyTorch lets an int wrap into an unsigned type (-1 is 255 in uint8)
        if not (info.min <= low and high <= info.max):  # (NaN fails too)
            raise RuntimeError(f"value cannot be converted to type {target.name} without overflow")


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested sequence or array).

    >>> tapegrad.tensor([[1, 2], [3, 4]]).dtype
    tapegrad.int64
    """
    place = _check_device(device)
    if isinstance(data, Tensor) and not isinstance(data._data, np.ndarray):
        copied = data.detach().to(device if device is not None else data.device, dtype, copy=True)
        return _finish(copied._data, requires_grad)
    return _finish(_infer_array(data, dtype), requires_grad, place)


def _on(tensor: Tensor, device: Any) -> bool:
    """Whether ``tensor`` is on ``device`` (None: anywhere)."""
    return device is None or as_device(device).type == tensor.device.type


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing its memory where dtype and device allow: tensors, NumPy
    arrays, and GPU arrays of other libraries (objects with ``__cuda_array_interface__``)."""
    _check_device(device)
    if isinstance(data, Tensor):
        if (dtype is None or _dtypes.as_dtype(dtype) is data.dtype) and _on(data, device):
            return data
        return data.to(device=device, dtype=dtype)
    if isinstance(data, np.ndarray):
        if (dtype is None or _dtypes.as_dtype(dtype).numpy == data.dtype) and data.dtype in _dtypes._BY_NUMPY \
                and device is None:
            return _wrap(data)
    elif hasattr(data, "__cuda_array_interface__"):
        from .cuda._interop import from_cuda_array_interface

        shared = from_cuda_array_interface(data)
        return shared if dtype is None and _on(shared, device) else shared.to(device=device, dtype=dtype)
    return tensor(data, dtype=dtype, device=device)


def _memory_address(obj: Any) -> int | None:
    """Where a tensor's, NumPy array's or CUDA array's memory starts (None: not an array)."""
    if isinstance(obj, Tensor):
        return obj.data_ptr()
    if isinstance(obj, np.ndarray):
        return int(obj.__array_interface__["data"][0])
    interface = getattr(obj, "__cuda_array_interface__", None)
    return int(interface["data"][0] or 0) if interface is not None else None


def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None,
            requires_grad: bool | None = None) -> Tensor:
    """``obj`` as a tensor: ``as_tensor``, with the array API's ``copy`` (True: always a copy;
    False: shared memory or ValueError; None: a copy only where dtype or device make one).
    ``requires_grad`` None keeps a tensor's history, False detaches, True marks the result (``obj``
    itself when that is what is returned, as in PyTorch)."""
    address = _memory_address(obj)
    if copy is False and address is None:
        raise ValueError("can't alias arbitrary sequence into a tensor.")
    out = as_tensor(obj, dtype, device)
    shared = out is obj if isinstance(obj, Tensor) else address is not None and out.data_ptr() == address
    if copy is False and not shared:
        source = obj.dtype if isinstance(obj, Tensor) else _dtypes.from_numpy_dtype(np.dtype(str(obj.dtype)))
        raise ValueError(f"can't alias tensor with dtype '{source.scalar_name}' on {getattr(obj, 'device', 'cpu')} "
                         f"into dtype '{out.dtype.scalar_name}' on {out.device}.")
    if copy and shared:
        out = out.clone()
    if requires_grad is False and out._requires_grad:
        out = out.detach()
    elif requires_grad and not out._requires_grad:
        out.requires_grad_(True)
    return out


def from_dlpack(ext_tensor: Any) -> Tensor:
    """A tensor sharing the memory of ``ext_tensor`` (an object with ``__dlpack__``, or a DLPack
    capsule): CPU memory as a CPU tensor, CUDA memory as a CUDA tensor.

    >>> import numpy as np
    >>> tapegrad.from_dlpack(np.arange(3.0))
    tensor([0., 1., 2.], dtype=tapegrad.float64)
    """
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    from .cuda._interop import from_dlpack as _from_dlpack

    return _from_dlpack(ext_tensor)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if array.dtype not in _dtypes._BY_NUMPY:
        raise TypeError(f"can't convert np.ndarray of type numpy.{array.dtype}. The only supported types are: "
                        f"{_dtypes.SUPPORTED}.")
    return _wrap(array)


def legacy_new(cls: type, dtype: DType, args: tuple, kwargs: dict) -> Tensor:
    """``Tensor(2, 3)`` (uninitialised sizes), ``Tensor([1, 2])`` (data), or ``Tensor()``."""
    device = kwargs.pop("device", None)
    if device is not None and as_device(device).type != "cpu":
        raise RuntimeError(f"legacy constructor expects device type: cpu but device type: {as_device(device).type} "
                           "was passed")
    if kwargs:
        raise TypeError(f"new() received invalid keyword arguments {sorted(kwargs)}")
    if not args:
        return _wrap(np.empty((0,), dtype.numpy))
    if len(args) == 1 and isinstance(args[0], Size):  # a Size is sizes; any other tuple is data
        args = tuple(args[0])
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        return _wrap(np.zeros(_size_arg(args), dtype.numpy))
    if len(args) == 1:
        if isinstance(args[0], Tensor):
            if args[0].dtype is not dtype:
                raise TypeError(f"expected {dtype} (got {args[0].dtype})")
            return args[0].detach()
        return _wrap(_infer_array(args[0], dtype))
    raise TypeError(f"new() received an invalid combination of arguments: {args}")


class _LegacyTensorType(type):
    """The type of ``FloatTensor`` and its kin: calling one is the legacy constructor of its
    dtype, and ``isinstance(t, FloatTensor)`` asks whether ``t`` is a float32 CPU tensor."""

    dtype: DType

    def __call__(cls, *args: Any, **kwargs: Any) -> Tensor:  # type: ignore[override]
        return legacy_new(Tensor, cls.dtype, args, kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return (isinstance(instance, Tensor) and instance.dtype is cls.dtype
                and isinstance(instance._data, np.ndarray))

    def __repr__(cls) -> str:
        return f"<class 'tapegrad.{cls.__name__}'>"


class FloatTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.float32


class DoubleTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.float64


class LongTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.int64


class IntTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.int32


class ShortTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.int16


class CharTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.int8


class ByteTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.uint8


class BoolTensor(metaclass=_LegacyTensorType):
    dtype = _dtypes.bool_


def new(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``Tensor.new``: the legacy constructor with this tensor's dtype (and device)."""
    if "device" not in kwargs and not isinstance(self._data, np.ndarray):
        return legacy_new(Tensor, self.dtype, args, kwargs).to(self.device)
    return legacy_new(Tensor, self.dtype, args, kwargs)


# ---------------------------------------------------------------- filled tensors

def _filled(size: Sequence[Any], fill: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    if not isinstance(fill, Tensor):
        fill = _dtypes.checked_scalar(fill, _dtype_or_default(dtype))
    if _check_device(device) is not None:
        from .cuda._ops import full as cuda_full

        if isinstance(fill, Tensor):
            fill = fill.item()
        data = cuda_full(_size_arg(size), fill, _dtype_or_default(dtype))
    else:
        data = np.full(_size_arg(size), fill, _dtype_or_default(dtype))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.FULL, (), data, data.dtype.type(fill).item())
    return _finish(data, requires_grad)


def _into_out(out: Any, function: str, shape: tuple[int, ...], fill: Any, dtype: Any) -> Tensor:
    """``out=`` of a factory: ``out`` given ``shape`` (a plain tensor is resized, with PyTorch's
    warning when it had elements) and filled with ``fill`` (None: left as it is), in place."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{function}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if dtype is not None and _dtypes.as_dtype(dtype) != out.dtype:
        raise RuntimeError(f"dtype {_dtypes.as_dtype(dtype).scalar_name} does not match dtype of out parameter "
                           f"({out.dtype.scalar_name})")
    if out._requires_grad and grad_mode.state.enabled:
        raise RuntimeError(f"{function}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad.")
    if tuple(out._data.shape) != shape:
        if out._base is not None or not isinstance(out._data, np.ndarray):
            raise RuntimeError(f"{function}(): cannot resize out= of shape {list(out._data.shape)} to {list(shape)}: "
                               "it is a view or on CUDA")
        if out._data.size:
            warn_user("An output with one or more elements was resized since it had shape "
                      f"{list(out._data.shape)}, which does not match the required output shape {list(shape)}.",
                      UserWarning)
        out._data = np.empty(shape, out._data.dtype)
        out._counter.value += 1
    if fill is not None:
        from .ops.inplace import fill_

        fill_(out, fill)
    return out


def zeros(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          out: Any = None) -> Tensor:
    if out is not None:
        return _into_out(out, "zeros", _size_arg(sizes if size is None else (size,)), 0, dtype)
    return _filled(sizes if size is None else (size,), 0, dtype, device, requires_grad)


def ones(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         out: Any = None) -> Tensor:
    if out is not None:
        return _into_out(out, "ones", _size_arg(sizes if size is None else (size,)), 1, dtype)
    return _filled(sizes if size is None else (size,), 1, dtype, device, requires_grad)


def empty(*sizes: Any, size: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None,
          memory_format: Any = None) -> Tensor:
    shape = _size_arg(sizes if size is None else (size,))
    if out is not None:
        return _into_out(out, "empty", shape, None, dtype)
    if _check_device(device) is not None:
        from .cuda._arrays import empty as cuda_empty

        data = cuda_empty(shape, _dtype_or_default(dtype))
    else:
        data = np.empty(shape, _dtype_or_default(dtype))
    return _finish(_in_format(data, memory_format, "empty", None), requires_grad)


def _in_format(data: Any, memory_format: Any, function: str, like: Any) -> Any:
    """``data`` (new and uninitialised or filled) laid out as ``memory_format`` asks: for the
    default ``preserve_format``, as ``like`` (a ``*_like`` input's buffer) is if it is channels-last."""
    if memory_format is None or memory_format is _formats.preserve_format:
        dims = _formats.suggested(like) if like is not None and like.ndim >= 4 else None
    else:
        dims = _formats.order(_formats.check(memory_format, function), data.ndim)
    return data if dims is None else _formats.laid_out(data, dims)


def full(size: Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    if dtype is None:
        # A NumPy integer fills as the int it holds (a NumPy bool, as in PyTorch, as a float).
        dtype = _dtypes.scalar_dtype(fill_value.item() if isinstance(fill_value, (Tensor, np.integer))
                                     else fill_value)
    return _filled((tuple(size),) if not isinstance(size, int) else (size,), fill_value, dtype, device,
                   requires_grad)


def _like_format(result: Tensor, memory_format: Any, function: str, input: Tensor) -> Tensor:
    """A new ``*_like`` tensor, relaid as ``memory_format`` asks (the default keeps ``input``'s
    channels-last layout)."""
    if memory_format is None and input._data.ndim < 4:
        return result  # the common case, kept to one test
    data = _in_format(result._data, memory_format, function, input._data)
    if data is not result._data:
        result = _finish(data, result._requires_grad)
    return result


def _like(input: Tensor, dtype: Any, device: Any = None) -> tuple[tuple[int, ...], Any, Any]:
    """Shape, dtype and device of a ``*_like`` result: ``input``'s unless given."""
    return (tuple(input.shape), dtype if dtype is not None else input.dtype,
            device if device is not None else input.device)


# ``Tensor.new_*``: a new tensor with this tensor's dtype and device unless given.

def _new(self: Tensor, sizes: tuple, fill: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    _, dtype, device = _like(self, dtype, device)
    return _filled(sizes, fill, dtype, device, requires_grad)


def new_tensor(self: Tensor, data: Any, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    _, dtype, device = _like(self, dtype, device)
    if isinstance(data, Tensor):
        data = data.detach()
    return tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def new_zeros(self: Tensor, *sizes: Any, size: Any = None, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    return _new(self, sizes if size is None else (size,), 0, dtype, device, requires_grad)


def new_ones(self: Tensor, *sizes: Any, size: Any = None, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _new(self, sizes if size is None else (size,), 1, dtype, device, requires_grad)


def new_empty(self: Tensor, *sizes: Any, size: Any = None, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    return _new(self, sizes if size is None else (size,), 0, dtype, device, requires_grad)


def new_full(self: Tensor, size: Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _new(self, (tuple(size),) if not isinstance(size, int) else (size,), fill_value, dtype, device,
                requires_grad)


def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
               memory_format: Any = None) -> Tensor:
    shape, dtype, device = _like(input, dtype, device)
    return _like_format(_filled((shape,), 0, dtype, device, requires_grad), memory_format, "zeros_like", input)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
              memory_format: Any = None) -> Tensor:
    shape, dtype, device = _like(input, dtype, device)
    return _like_format(_filled((shape,), 1, dtype, device, requires_grad), memory_format, "ones_like", input)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
               memory_format: Any = None) -> Tensor:
    shape, dtype, device = _like(input, dtype, device)
    return _like_format(empty(shape, dtype=dtype, device=device, requires_grad=requires_grad), memory_format,
                        "empty_like", input)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    shape, dtype, device = _like(input, dtype, device)
    return _like_format(_filled((shape,), fill_value, dtype, device, requires_grad), memory_format, "full_like", input)


def _from_numbers(data: np.ndarray, requires_grad: bool, place: Device | None) -> Tensor:
    """A tensor computed from Python numbers; while a step is compiled, a recorded constant."""
    out = _finish(data, requires_grad, place)
    if trace.ACTIVE is not None:
        trace.ACTIVE.constant(out._data)
    return out


def _constant_like(data: np.ndarray, like: Tensor) -> Tensor:
    """``data`` on ``like``'s device for an op's internal use (an index map, weights, a mask:
    read, never written), recorded as a constant while a step is compiled. On CUDA equal small
    constants share one upload (``cuda._arrays.constant``)."""
    if isinstance(like._data, np.ndarray):
        return _from_numbers(data, False, None)
    from .cuda._arrays import constant

    out = _wrap(constant(data))
    if trace.ACTIVE is not None:
        trace.ACTIVE.constant(out._data)
    return out


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in values)
        dtype = _dtypes.get_default_dtype() if is_float else _dtypes.int64
    start, end, step = values
    count = max(0, math.ceil((end - start) / step))
    data = (start + np.arange(count, dtype=np.float64) * step) if _dtypes.as_dtype(dtype).is_floating_point \
        else np.arange(start, end, step, dtype=np.int64)
    place = _check_device(device)
    return _from_numbers(data.astype(_dtypes.as_dtype(dtype).numpy), requires_grad, place)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    place = _check_device(device)
    index = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    # Fill from both ends, as PyTorch does, so the last value is exactly ``end``.
    half = steps // 2
    data = np.where(index < half, start + index * step, end - (steps - 1 - index) * step)
    if steps == 1:
        data = np.array([start], np.float64)
    return _from_numbers(data.astype(_dtype_or_default(dtype)), requires_grad, place)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    place = _check_device(device)
    return _from_numbers(np.eye(n, n if m is None else m, dtype=_dtype_or_default(dtype)), requires_grad, place)


# ---------------------------------------------------------------- random tensors

def _generator(generator: Any, place: Device | None = None) -> Any:
    """The generator to draw from: ``generator`` (checked against the device) or the device's default."""
    if generator is None:
        if place is None:
            from . import random as _random

            return _random.default_generator
        from .cuda import random as cuda_random

        return cuda_random.default_generator()
    wanted = "cpu" if place is None else "cuda"
    if generator.device.type != wanted:
        raise RuntimeError(f"Expected a '{wanted}' device type for generator but found '{generator.device.type}'")
    return generator


def rand(*sizes: Any, size: Any = None, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1); after ``manual_seed`` the same numbers as PyTorch's CPU generator."""
    place = _check_device(device)
    data = _generator(generator, place).uniform(_size_arg(sizes if size is None else (size,)), 0.0, 1.0,
                                                _dtype_or_default(dtype))
    return _finish(data, requires_grad, place)


def randn(*sizes: Any, size: Any = None, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    place = _check_device(device)
    data = _generator(generator, place).normal(_size_arg(sizes if size is None else (size,)), 0.0, 1.0,
                                               _dtype_or_default(dtype))
    return _finish(data, requires_grad, place)


def randint(*args: Any, low: Any = None, high: Any = None, size: Any = None, generator: Any = None,
            dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """PyTorch's two forms: ``randint(high, size)`` and ``randint(low, high, size)``, each
    argument positional or by keyword (``randint(5, size=(3,))`` is the first)."""
    numbers = list(args)
    if size is None and numbers and isinstance(numbers[-1], (tuple, list)):
        size = numbers.pop()
    if len(numbers) > 2 or len(numbers) == 2 and (low is not None or high is not None):
        raise TypeError("randint() received an invalid combination of arguments")
    if len(numbers) == 2:
        low, high = numbers
    elif numbers and high is None:
        (high,) = numbers
    elif numbers:
        if low is not None:
            raise TypeError("randint() received an invalid combination of arguments")
        (low,) = numbers
    low = 0 if low is None else low
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: high and size")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    place = _check_device(device)
    np_dtype = _dtypes.as_dtype(dtype).numpy if dtype is not None else np.dtype(np.int64)
    from .ops.sampling import _check_in_range

    _check_in_range(int(low), int(high) - 1, np_dtype)  # PyTorch's errors, naming the C++ type
    data = _generator(generator, place).randint(int(low), int(high), _size_arg((tuple(size),)), np_dtype)
    return _finish(data, requires_grad, place)


def randperm(n: int, *, generator: Any = None, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    place = _check_device(device)
    np_dtype = _dtypes.as_dtype(dtype).numpy if dtype is not None else np.dtype(np.int64)
    return _finish(_generator(generator, place).randperm(int(n), np_dtype), requires_grad, place)


def rand_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype, device = _like(input, dtype, device)
    return rand(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dtype, device = _like(input, dtype, device)
    return randn(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Sequence[int] | None = None, *, generator: Any = None,
           dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples: ``normal(mean, std, size)`` with numbers, or with a tensor ``mean`` and/or
    ``std`` one sample per element of their broadcast shape (drawn as PyTorch draws them: a
    standard normal sample, scaled by ``std`` and shifted by ``mean``). Samples carry no
    gradient (PyTorch's is zero for both tensors), so they never require grad."""
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments: with a float mean and a float "
                            "std, size is required")
        place = _check_device(device)
        data = _generator(generator, place).normal(_size_arg((tuple(size),)), float(mean), float(std),
                                                   _dtype_or_default(dtype))
        return _finish(data, requires_grad, place)
    return _normal_of_tensors(mean, std, generator)


def _normal_of_tensors(mean: Any, std: Any, generator: Any) -> Tensor:
    from .autograd.grad_mode import no_grad
    from .ops import elementwise as ew
    from .ops.scatter import _infer_size

    like = mean if isinstance(mean, Tensor) else std
    for t in (mean, std):
        if isinstance(t, Tensor) and not t.is_floating_point():
            raise NotImplementedError(f'"normal_kernel_cpu" not implemented for \'{t.dtype.scalar_name}\'')
    if isinstance(std, Tensor):
        if std.numel() and bool((std < 0).any().item()):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    shapes = [tuple(t.shape) for t in (mean, std) if isinstance(t, Tensor)]
    shape = _infer_size(*shapes) if len(shapes) == 2 else shapes[0]
    with no_grad():
        sample = normal_(empty(shape, dtype=like.dtype, device=like.device), generator=generator)
        return ew.add(ew.mul(sample, std), mean)


def _place_of(input: Tensor) -> Device | None:
    return None if isinstance(input._data, np.ndarray) else input.device


def _fill_in_place(self: Tensor, sample: np.ndarray) -> Tensor:
    """Write host ``sample`` over ``self``'s values (no autograd record, as ``torch.nn.init``)."""
    from .ops.inplace import copy_

    from .autograd.grad_mode import no_grad

    if isinstance(self._data, np.ndarray):
        with no_grad():
            return copy_(self, _wrap(sample))
    if not self.is_contiguous():
        # Uploaded in its logical layout, then written through the view by the CUDA copy kernel.
        from .cuda._arrays import to_device

        with no_grad():
            return copy_(self, _wrap(to_device(np.ascontiguousarray(sample))))
    if sample.size:
        from .cuda._arrays import flat

        flat(self._data).copy_to_device(np.asarray(sample, order="C").reshape(-1))
    self._counter.value += 1
    return self


def _check_fill_target(self: Tensor) -> None:
    """PyTorch's refusal to fill a leaf that requires grad while recording, before any draw."""
    from .ops.inplace import check_not_leaf

    check_not_leaf(self)


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
    _check_fill_target(self)
    sample = _generator(generator, _place_of(self)).uniform(self._data.size, float(a), float(b), self._data.dtype)
    return write_sample(self, sample)


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
    _check_fill_target(self)
    sample = _generator(generator, _place_of(self)).normal(self._data.size, float(mean), float(std),
                                                            self._data.dtype, serial=not self.is_contiguous())
    return write_sample(self, sample)


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    _check_fill_target(self)
    if self._data.dtype.kind != "f":
        raise RuntimeError("Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {self.dtype.scalar_name}")
    sample = _generator(generator, _place_of(self)).exponential(self._data.size, float(lambd), self._data.dtype)
    return write_sample(self, sample)


def memory_order(self: Tensor) -> list[int] | None:
    """The dims of ``self`` from the slowest-varying in memory to the fastest, when that differs from
    their logical order (a transposed tensor, say); PyTorch draws into such a tensor in memory order."""
    strides = self.stride()
    order = sorted(range(self.ndim), key=lambda d: -strides[d])
    return None if order == sorted(order) else order


def write_sample(self: Tensor, sample: np.ndarray, logical: bool = False) -> Tensor:
    """Write host ``sample`` (drawn for an in-place random fill) over ``self``: drawn in ``self``'s
    memory order, or already in its logical layout when ``logical``. On a tensor with history the
    overwrite is recorded, so that history gets a zero gradient as in PyTorch."""
    from .ops.inplace import check_not_leaf, copy_

    check_not_leaf(self)
    sample = np.asarray(sample).astype(self._data.dtype, copy=False)
    order = None if logical else memory_order(self)
    if order is None:
        sample = sample.reshape(self._data.shape)
    else:
        sample = sample.reshape([self.shape[d] for d in order]).transpose(np.argsort(order))
    if grad_mode.state.enabled and self._requires_grad:
        return copy_(self, _constant_like(np.ascontiguousarray(sample), self))
    return _fill_in_place(self, sample)


def manual_seed(seed: int) -> Any:
    """Seed the default generator (the same stream as ``torch.manual_seed`` on the CPU) and the
    CUDA generator, as ``torch.manual_seed`` seeds every device."""
    from . import random as _random
    from .cuda import random as cuda_random

    cuda_random.manual_seed(int(seed))
    return _random.manual_seed(int(seed))
