"""The buffers of CUDA tensors: numba device arrays behind a guard.

A CUDA tensor's ``_data`` is a :class:`CudaArray`: a subclass of numba's ``DeviceNDArray``
(of ``FakeCUDAArray`` under the simulator, ``NUMBA_ENABLE_CUDASIM=1``) that adds what
tapegrad's front end reads from any buffer (``flags.c_contiguous``, ``itemsize``, ``copy()``)
and turns every *other* NumPy-style use into a ``NotImplementedError`` naming the tapegrad op
that made it. Without the guard a CUDA tensor reaching a CPU-only code path would either be
copied to the host silently (NumPy calls ``DeviceNDArray.__array__``), or fail deep inside
Numba ("can't unbox array"). Under the simulator the guard also hides the NumPy array that
``FakeCUDAArray`` wraps, so simulated runs fail where a GPU would.

Views (reshape, transpose, expand, basic indexing) are new ``CudaArray`` objects over the same
memory (``gpu_data`` views on a GPU; NumPy views built from the pointer in the simulator),
made by :func:`view` from byte strides and a byte offset.

This module imports ``numba.cuda``; it is imported only when a CUDA tensor is first made.
"""
from __future__ import annotations

from collections import OrderedDict

import sys
from typing import Any, Sequence

import numba
import numpy as np
from numba import cuda

from ..backends import cuda_capture

SIMULATED = bool(numba.config.ENABLE_CUDASIM)

if SIMULATED:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as _DeviceBase

    from ..backends.cuda_simulator import quicken

    quicken()
else:
    from numba.cuda.cudadrv.devicearray import DeviceNDArray as _DeviceBase

    from ._memory import install

    install()  # before the first CUDA context: tensors' memory comes from the stream-ordered pool

# numba-cuda 0.30.4 registers an overload of np.row_stack when it first compiles, and
# NumPy 2.5 removed that alias of vstack (cuda_kernels restores it too, before compiling).
if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack


# ------------------------------------------------------------------ the guard's message

# Frames of these modules are machinery, not the op a user called.
_MACHINERY = ("tapegrad.cuda", "tapegrad.backends", "tapegrad.autograd", "tapegrad.compiler",
              "tapegrad.ops.registry", "tapegrad.ops.pointwise")
_GENERIC_NAMES = {"apply", "record", "method", "update", "update_elementwise", "make_view", "vjp",
                  "replay_view_chain", "backward", "grad", "forward", "__call__", "<lambda>",
                  "<listcomp>", "<genexpr>"}


def _calling_op() -> str:
    """The innermost public tapegrad function on the stack (the op that reached a CPU-only
    path), and the outermost one (what the user called) when they differ."""
    found = []
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        name = frame.f_code.co_name
        if (module.startswith("tapegrad.") and not module.startswith(_MACHINERY)
                and not name.startswith("_") and name not in _GENERIC_NAMES):
            found.append(name)
        frame = frame.f_back
    if not found:
        return "this operation"
    if found[-1] != found[0]:
        return f"'{found[0]}' (called by '{found[-1]}')"
    return f"'{found[0]}'"


def unsupported(what: str) -> NotImplementedError:
    """The error for a CUDA tensor that reached ``what``, a CPU-only code path."""
    op = _calling_op()
    return NotImplementedError(
        f"tapegrad: {op} is not implemented for CUDA tensors yet (device cuda:0; it reached {what}). "
        "Move its inputs to the CPU with .cpu() to run it there.")


# ------------------------------------------------------------------ flags and layout

class Flags(dict):
    """NumPy-style flags read both ways: ``flags.c_contiguous`` and ``flags["C_CONTIGUOUS"]``
    (numba-cuda reads the second form)."""

    @property
    def c_contiguous(self) -> bool:
        return self["C_CONTIGUOUS"]

    @property
    def f_contiguous(self) -> bool:
        return self["F_CONTIGUOUS"]

    @property
    def writeable(self) -> bool:
        return self["WRITEABLE"]


def contiguous_strides(shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """Byte strides of a C-contiguous array of ``shape``."""
    strides = []
    step = itemsize
    for size in reversed(tuple(shape)):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _is_contiguous(shape: Sequence[int], strides: Sequence[int], itemsize: int, order: str) -> bool:
    # NumPy's rule: dimensions of size 1 do not matter, and an empty array is contiguous.
    if 0 in shape:
        return True
    pairs = list(zip(shape, strides))
    if order == "C":
        pairs.reverse()
    step = itemsize
    for size, stride in pairs:
        if size != 1:
            if stride != step:
                return False
            step *= size
    return True


def layout_flags(shape: Sequence[int], strides: Sequence[int], itemsize: int) -> Flags:
    # A stride-0 dimension of size > 1 makes elements alias: writing through it is refused,
    # as NumPy refuses writes to np.broadcast_to views.
    aliased = any(stride == 0 and size > 1 for size, stride in zip(shape, strides))
    return Flags(C_CONTIGUOUS=_is_contiguous(shape, strides, itemsize, "C"),
                 F_CONTIGUOUS=_is_contiguous(shape, strides, itemsize, "F"),
                 WRITEABLE=not aliased, ALIGNED=True, OWNDATA=False)


# ------------------------------------------------------------------ basic indexing

def _index_layout(shape: tuple[int, ...], strides: tuple[int, ...], key: Any
                  ) -> tuple[tuple[int, ...], tuple[int, ...], int, bool]:
    """(shape, byte strides, byte offset, whether an element was picked) of ``array[key]``
    for a basic key: ints, slices with positive steps, None and one Ellipsis."""
    if not isinstance(key, tuple):
        key = (key,)
    for k in key:
        if not (k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))) or isinstance(k, bool):
            raise unsupported(f"indexing with {type(k).__name__} (only ints, slices, None and ... index a "
                              "CUDA array)")
    ellipses = sum(1 for k in key if k is Ellipsis)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but {used} were indexed")
    if ellipses:
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - used) + key[at + 1:]
    else:
        key = key + (slice(None),) * (len(shape) - used)
    out_shape: list[int] = []
    out_strides: list[int] = []
    offset = 0
    axis = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            out_strides.append(0)
            continue
        size, stride = shape[axis], strides[axis]
        if isinstance(k, slice):
            start, stop, step = k.indices(size)
            if step <= 0:
                raise unsupported("a slice with a negative step")
            count = max(0, -(-(stop - start) // step))
            out_shape.append(count)
            out_strides.append(stride * step)
            if count:
                offset += start * stride
        else:
            index = int(k)
            if not -size <= index < size:
                raise IndexError(f"index {index} is out of bounds for axis {axis} with size {size}")
            offset += (index % size) * stride
        axis += 1
    picked = ellipses == 0 and all(isinstance(k, (int, np.integer)) for k in key) and len(key) == len(shape)
    return tuple(out_shape), tuple(out_strides), offset, picked


class DeviceKey(tuple):
    """An advanced key made ready for ``_ops.index_positions`` by ``_ops.device_key``: kept by a
    recorded step, so its backward neither checks nor copies the indices again."""


def _advanced_key(key: Any) -> tuple | None:
    """``key`` as a tuple for ``_ops.index_positions`` when it holds index arrays (NumPy arrays,
    lists, device arrays or booleans), else None (a basic key: a view)."""
    if isinstance(key, DeviceKey):
        return key
    parts = key if isinstance(key, tuple) else (key,)
    if not any(isinstance(k, (np.ndarray, list, bool, np.bool_)) or is_device_array(k) for k in parts):
        return None
    return tuple(np.asarray(k) if isinstance(k, (list, bool, np.bool_)) else
                 int(k) if isinstance(k, np.integer) else k for k in parts)


# ------------------------------------------------------------------ the array class

_NUMPY_ATTRIBUTES = frozenset(name for name in dir(np.ndarray) if not name.startswith("__"))


class _Guarded:
    """What a CUDA tensor's buffer adds to numba's device array (see the module docstring)."""

    # ---- what the front end reads from any buffer
    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def flags(self) -> Flags:
        return layout_flags(self.shape, self.strides, self.dtype.itemsize)

    def is_c_contiguous(self) -> bool:
        return _is_contiguous(self.shape, self.strides, self.dtype.itemsize, "C")

    def copy(self) -> "CudaArray":
        """A C-contiguous copy on the device."""
        from ._ops import contiguous_copy

        return contiguous_copy(self)

    def reshape(self, *shape: Any, order: str = "C") -> "CudaArray":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        from ._views import reshape_view

        shape = tuple(int(s) for s in shape)
        if -1 in shape:
            # NumPy's inferred dimension: the size left over by the others.
            known = 1
            for s in shape:
                known *= s if s != -1 else 1
            shape = tuple(self.size // known if s == -1 else s for s in shape)
        result = reshape_view(self, shape)
        if result is None:
            raise unsupported("a reshape that needs a copy (DeviceNDArray.reshape)")
        return result

    def __getitem__(self, key: Any) -> Any:
        advanced = _advanced_key(key)
        if advanced is not None:
            from ._ops import element_strides, index_positions, take

            return take(self, index_positions(tuple(self.shape), element_strides(self), advanced))
        shape, strides, offset, picked = _index_layout(tuple(self.shape), tuple(self.strides), key)
        result = view(self, shape, strides, offset)
        return result.copy_to_host()[()] if picked else result

    def __setitem__(self, key: Any, value: Any) -> None:
        """``array[key] = value`` on the device: a fill kernel for a scalar, a copy otherwise
        (numba's own assignment takes neither ``...`` nor ``None``); a scatter for an advanced key."""
        advanced = _advanced_key(key)
        if advanced is not None:
            from ._ops import element_strides, index_positions, put

            put(self, index_positions(tuple(self.shape), element_strides(self), advanced), value)
            return
        shape, strides, offset, _ = _index_layout(tuple(self.shape), tuple(self.strides), key)
        target = view(self, shape, strides, offset)
        if not is_device_array(value) and np.ndim(value) == 0:
            from ._ops import _copy, elementwise

            # (elementwise writes a non-contiguous target through a strided copy)
            elementwise(_copy, [value], shape, self.dtype, self.dtype, out=target)
        else:
            _copyto(target, value, casting="unsafe")

    # ---- numba: a device array given to a CPU kernel is an unsupported op, not an unboxing crash
    @property
    def _numba_type_(self) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("numba.core"):
            raise unsupported("a CPU (numba.njit) kernel")
        found = self.__dict__.get("_tapegrad_numba_type")
        if found is None:
            found = self.__dict__["_tapegrad_numba_type"] = _base_numba_type(self)
        return found

    # ---- NumPy must not take device arrays
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise unsupported("a NumPy conversion")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        implementation = _ARRAY_FUNCTIONS.get(func)
        if implementation is None:
            raise unsupported(f"numpy.{getattr(func, '__name__', func)}")
        return implementation(*args, **kwargs)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        raise unsupported(f"numpy.{ufunc.__name__}")

    def __getattr__(self, name: str) -> Any:
        if name in _NUMPY_ATTRIBUTES:
            raise unsupported(f"numpy's ndarray.{name}")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # Identity semantics, as numba's DeviceNDArray (the simulator's compares elementwise).
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<tapegrad CudaArray shape={tuple(self.shape)} dtype={self.dtype} strides={tuple(self.strides)}>"


# ------------------------------------------------------------------ the NumPy functions device arrays take

def _copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    """``np.copyto`` with a device array on either side (what ``Tensor.copy_`` and in-place
    updates use): on the device, or across devices as an explicit transfer (as PyTorch's copy_)."""
    if where is not True:
        raise unsupported("numpy.copyto with where=")
    if isinstance(dst, np.ndarray):
        np.copyto(dst, to_host(src), casting=casting)
        return
    if isinstance(src, np.ndarray) or not is_device_array(src):
        host = np.asarray(np.broadcast_to(np.asarray(src), tuple(dst.shape)), dtype=dst.dtype, order="C")
        if not host.size:
            return
        if dst.is_c_contiguous():
            flat(dst).copy_to_device(host.reshape(-1))
            return
        src = to_device(host)
    from ._ops import copy_into

    # A strided copy whatever dst's layout (elementwise would need a C-contiguous output).
    copy_into(dst, src)


def _broadcast_to(array: Any, shape: Any, subok: bool = False) -> Any:
    from ._views import broadcast_to

    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    np.broadcast_shapes(tuple(array.shape), shape)  # NumPy's error for shapes that do not broadcast
    if len(shape) < len(array.shape) or any(
            size not in (1, target) for size, target in zip(array.shape, shape[len(shape) - len(array.shape):])):
        raise ValueError(f"cannot broadcast an array of shape {tuple(array.shape)} to {shape}")
    return broadcast_to(array, shape)


_ARRAY_FUNCTIONS = {np.copyto: _copyto, np.broadcast_to: _broadcast_to}


def _base_numba_type(array: Any) -> Any:
    """numba's own type of ``array`` (a property, or a cached_property on a base class)."""
    prop = next(klass.__dict__["_numba_type_"] for klass in _DeviceBase.__mro__
                if "_numba_type_" in klass.__dict__)
    getter = getattr(prop, "func", None) or prop.fget
    return getter(array)


if SIMULATED:
    _ELEMENT_KEYS = frozenset({int, np.int64, np.int32, np.intp, np.uint64, np.uint32})

    # The simulator's NumPy array stays reachable only for what numba's own simulator code reads.
    _SIMULATOR_ATTRIBUTES = frozenset({"dtype", "size", "ndim", "strides", "squeeze"})

    class CudaArray(_Guarded, _DeviceBase):
        """A simulated device array (a NumPy array in host memory behind the guard)."""

        def __getattr__(self, name: str) -> Any:
            if name in _SIMULATOR_ATTRIBUTES:
                return getattr(self.__dict__["_ary"], name)
            return _Guarded.__getattr__(self, name)

        def __getitem__(self, key: Any) -> Any:
            # Kernels index element by element (with ints or NumPy integers loaded from index
            # arrays): keep that path short.
            if type(key) in _ELEMENT_KEYS or (type(key) is tuple and all(type(k) in _ELEMENT_KEYS for k in key)
                                              and len(key) == self._ary.ndim):
                return self._ary[key]
            return _Guarded.__getitem__(self, key)

        def __setitem__(self, key: Any, value: Any) -> None:
            # Kernels store element by element: keep that path short.
            if type(key) in _ELEMENT_KEYS or (type(key) is tuple and all(type(k) in _ELEMENT_KEYS for k in key)
                                              and len(key) == self._ary.ndim):
                self._ary[key] = value
            else:
                _Guarded.__setitem__(self, key, value)

        def __len__(self) -> int:
            return self.shape[0]

        def copy_to_device(self, ary: Any, stream: Any = 0) -> None:
            # The simulator copies from another device array with NumPy: hand it the host array.
            if isinstance(ary, _DeviceBase):
                ary = ary.__dict__["_ary"]
            _DeviceBase.copy_to_device(self, ary, stream)

        @property
        def __cuda_array_interface__(self) -> dict[str, Any]:
            ary = self._ary
            return {"shape": tuple(ary.shape),
                    "strides": None if self.is_c_contiguous() else tuple(ary.strides),
                    "data": (int(ary.__array_interface__["data"][0]), False),
                    "typestr": ary.dtype.str, "stream": None, "version": 3}

        @property
        def device_ctypes_pointer(self) -> Any:
            import ctypes

            return ctypes.c_void_p(self.__cuda_array_interface__["data"][0])

        def ravel(self, order: str = "C") -> "CudaArray":
            return self.reshape(self.size)

        def view(self, dtype: Any) -> "CudaArray":
            raise unsupported("a dtype view of a CUDA array")

        def transpose(self, axes: Any = None) -> "CudaArray":
            raise unsupported("DeviceNDArray.transpose (use tapegrad's permute)")

        def _unsupported_operator(self, *args: Any) -> Any:
            raise unsupported("an arithmetic operator on a device array")

        __add__ = __sub__ = __mul__ = __truediv__ = __floordiv__ = __mod__ = __pow__ = _unsupported_operator
        __lt__ = __le__ = __gt__ = __ge__ = _unsupported_operator

    def _allocate(shape: tuple[int, ...], dtype: np.dtype) -> CudaArray:
        return CudaArray(np.empty(shape, dtype))

    def view(base: Any, shape: tuple[int, ...], strides: tuple[int, ...], offset: int = 0) -> CudaArray:
        """A view of ``base``'s memory: ``shape``, byte ``strides``, first element ``offset``
        bytes after ``base``'s first element."""
        ary = base._ary
        pointer = int(ary.__array_interface__["data"][0]) + offset
        return CudaArray(host_array_at(pointer, shape, strides, ary.dtype, owner=ary))

else:
    class CudaArray(_Guarded, _DeviceBase):  # type: ignore[no-redef]
        """A device array in GPU memory (numba's ``DeviceNDArray`` behind the guard)."""

        @property
        def __cuda_array_interface__(self) -> dict[str, Any]:
            # numba-cuda's own calls a broadcast view (a zero stride) contiguous and leaves its
            # strides out, so a consumer (CuPy, PyTorch, cuBLAS) would read it as a dense array.
            interface = _DeviceBase.__cuda_array_interface__.fget(self)
            if interface["strides"] is None and not self.is_c_contiguous():
                interface["strides"] = tuple(self.strides)
            return interface

    def _allocate(shape: tuple[int, ...], dtype: np.dtype) -> CudaArray:
        return CudaArray(shape, contiguous_strides(shape, dtype.itemsize), dtype)

    def view(base: Any, shape: tuple[int, ...], strides: tuple[int, ...], offset: int = 0) -> CudaArray:
        """A view of ``base``'s memory: ``shape``, byte ``strides``, first element ``offset``
        bytes after ``base``'s first element."""
        gpu_data = base.gpu_data
        if offset and base.size:
            gpu_data = gpu_data.view(offset)
        return CudaArray(shape, strides, base.dtype, stream=base.stream, gpu_data=gpu_data)


# Transfers take part in recordings of device work (``backends.cuda_capture``): copies are
# recorded, and a value read back to the host marks a recording as not replayable.
if SIMULATED:
    cuda_capture.install(_DeviceBase, CudaArray)
else:
    from numba.cuda.cudadrv import driver as _driver

    cuda_capture.install(_DeviceBase, CudaArray, _driver)


class _HostBuffer:
    """Exposes a raw host pointer to NumPy (``np.asarray`` keeps this object, so the owner too)."""

    def __init__(self, interface: dict[str, Any], owner: Any) -> None:
        self.__array_interface__ = interface
        self.owner = owner


def host_array_at(pointer: int, shape: Sequence[int], strides: Sequence[int] | None, dtype: Any,
                  owner: Any) -> np.ndarray:
    """A NumPy array over host memory at ``pointer`` (simulated device memory), kept alive by ``owner``."""
    interface = {"data": (pointer, False), "shape": tuple(shape), "typestr": np.dtype(dtype).str,
                 "strides": None if strides is None else tuple(strides), "version": 3}
    return np.asarray(_HostBuffer(interface, owner))


# ------------------------------------------------------------------ allocation and transfers

def empty(shape: Sequence[int], dtype: Any) -> CudaArray:
    """An uninitialised C-contiguous device array."""
    return _allocate(tuple(int(s) for s in shape), np.dtype(dtype))


def to_device(host: np.ndarray) -> CudaArray:
    """A C-contiguous device copy of a host array."""
    host = np.asarray(host, order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
    if 0 in host.strides and host.size:
        # A size-1 dim with stride 0 (``a[:, None]``) is C-contiguous to NumPy, but numba's copy
        # drops it from the source's shape and then refuses the copy: give it real strides.
        host = host.copy()
    out = _allocate(host.shape, host.dtype)
    if host.size:
        out.copy_to_device(host)
    return out


# Internal constants (index maps, interpolation weights, causal masks) repeat call after call
# with the same numbers; they are uploaded once and shared, saving an allocation and a
# host-to-device copy per op. Nothing writes to them: they never reach user code as tensors of
# their own. The least recently used go when the cache holds more than CONSTANT_BUDGET bytes.
CONSTANT_MAX_BYTES = 1 << 20
CONSTANT_BUDGET = 1 << 24
_constants: OrderedDict[tuple[str, tuple[int, ...], bytes], CudaArray] = OrderedDict()
_constant_bytes = [0]


def constant(host: np.ndarray) -> CudaArray:
    """A device copy of ``host`` for read-only use, shared with earlier calls for equal arrays
    of up to :data:`CONSTANT_MAX_BYTES`."""
    host = np.asarray(host, order="C")
    if host.nbytes > CONSTANT_MAX_BYTES:
        return to_device(host)
    key = (host.dtype.str, tuple(host.shape), host.tobytes())
    found = _constants.get(key)
    if found is not None:
        _constants.move_to_end(key)
        return found
    found = _constants[key] = to_device(host)
    _constant_bytes[0] += host.nbytes
    while _constant_bytes[0] > CONSTANT_BUDGET:
        (_, _, data), _ = _constants.popitem(last=False)
        _constant_bytes[0] -= len(data)
    return found


def to_host(data: Any) -> np.ndarray:
    """A C-contiguous host copy of a device array (any strides)."""
    if not data.is_c_contiguous():
        from ._ops import contiguous_copy

        data = contiguous_copy(data)
    if data.size == 0:
        return np.empty(tuple(data.shape), data.dtype)
    return data.copy_to_host()


def adopt(array: Any) -> CudaArray:
    """``array`` (any numba device array) as a :class:`CudaArray` over the same memory."""
    if isinstance(array, CudaArray):
        return array
    if SIMULATED:
        return CudaArray(array._ary)
    return CudaArray(tuple(array.shape), tuple(array.strides), array.dtype, stream=array.stream,
                     gpu_data=array.gpu_data)


def flat(data: Any) -> CudaArray:
    """A C-contiguous array as 1-D. (numba's transfers index away stride-0 dimensions, which
    a size-1 dimension may have, and then fail: a flat view has none.)"""
    return view(data, (data.size,), (data.dtype.itemsize,))


def is_device_array(data: Any) -> bool:
    return isinstance(data, _DeviceBase)


def synchronize() -> None:
    cuda.synchronize()
