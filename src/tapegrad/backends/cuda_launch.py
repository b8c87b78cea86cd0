"""Kernel launches without numba-cuda's dispatcher.

``kernel[blocks, threads, stream](*args)`` types every argument with numba's ``typeof``, looks
the overload up, converts each argument through ctypes and launches through ``cuda.core``.
Measured on an H100 host (``benchmarks/gpu_launch.py``) that is about 40 us a launch for one
kernel called over and over, and several times that inside a training step, where every
launch meets fresh arrays. A step of small tensors runs twenty to forty kernels of a few
microseconds each, so the dispatcher was the step's time.

:func:`launch` keeps, per kernel and per argument *kind* (dtype, rank and layout of each
array; the type of each scalar), the compiled overload's ``CUfunction`` and a struct format
for its parameters. A launch then packs the parameters with one ``struct.pack_into`` into a
buffer made once, and calls ``cuLaunchKernel`` (about 5 us on the same host). The overload is
the one numba compiles for the same types, through ``Dispatcher.compile``, so numba's disk
cache still serves it; an array's layout is computed as numba's ``DeviceNDArray`` computes it
(broadcast arrays are ``A``, else ``C`` or ``F`` where the strides say so). Under the
simulator, on a stream other than the default one, or for an argument of another kind, the
dispatcher launches the kernel as before.

:func:`prepared` packs a launch's parameters into a buffer of its own, once, and returns the
launch as a function to call as often as needed; a ``cuda_capture`` recording keeps launches
that way, so issuing a recorded launch again is one ``cuLaunchKernel`` call.
"""
from __future__ import annotations

import ctypes
import functools
import struct
import threading
from typing import Any, Callable

import numba
import numpy as np
from numba.core import config as numba_config

from . import cuda_capture

if numba_config.ENABLE_CUDASIM:
    from .cuda_simulator import quicken

    quicken()

# Each parameter gets its own 8-byte slot, so every slot is aligned for any scalar type.
_SCALAR_FORMATS: dict[type, str] = {
    bool: "?7x", int: "q", float: "d",
    np.bool_: "?7x", np.int8: "b7x", np.uint8: "B7x", np.int16: "h6x", np.uint16: "H6x",
    np.int32: "i4x", np.uint32: "I4x", np.int64: "q", np.uint64: "Q", np.float32: "f4x", np.float64: "d",
}
_ARRAY_FIELDS = 5  # numba's array struct: meminfo, parent, nitems, itemsize, data; then shape, strides


def _layout(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int, size: int) -> str:
    """numba's layout letter for a device array (``DeviceNDArray._numba_type_``'s rule)."""
    if size and 0 in strides:
        return "A"  # broadcast: numba must not hard-code strides
    if size == 0:
        return "C"
    for letter, order in (("C", range(len(shape) - 1, -1, -1)), ("F", range(len(shape)))):
        step = itemsize
        for d in order:
            if shape[d] != 1:
                if strides[d] != step:
                    break
                step *= shape[d]
        else:
            return letter
    return "A"


def _kind(x: Any, device_array: type) -> Any:
    """What decides ``x``'s numba type (a hashable key), or None for an argument this module
    leaves to the dispatcher."""
    cls = type(x)
    if cls in _SCALAR_FORMATS:
        return cls
    if cls is tuple:
        kinds = tuple(_kind(e, device_array) for e in x)
        return None if None in kinds else (tuple, kinds)
    if isinstance(x, device_array):
        shape = x.shape
        return x.dtype, len(shape), _layout(shape, x.strides, x.dtype.itemsize, x.size)
    return None


def _numba_type(x: Any, kind: Any) -> Any:
    if kind in _SCALAR_FORMATS:
        return numba.typeof(x)
    if kind[0] is tuple:
        return numba.types.BaseTuple.from_types([_numba_type(e, k) for e, k in zip(x, kind[1])])
    dtype, ndim, layout = kind
    return numba.types.Array(numba.from_dtype(dtype), ndim, layout)


def _format(kind: Any) -> str:
    if kind in _SCALAR_FORMATS:
        return _SCALAR_FORMATS[kind]
    if kind[0] is tuple:
        return "".join(_format(k) for k in kind[1])
    return "q" * (_ARRAY_FIELDS + 2 * kind[1])


def _values(args: Any, out: list[Any]) -> None:
    """The parameters' values in slot order (the order numba's ``_Kernel.launch`` passes them)."""
    for x in args:
        cls = type(x)
        if cls in _SCALAR_FORMATS:
            out.append(x)
        elif cls is tuple:
            _values(x, out)
        else:
            data = x.gpu_data
            out += (0, 0, x.size, x.dtype.itemsize, int(data.device_pointer) if data is not None else 0)
            out += x.shape
            out += x.strides


def _dims(dims: Any) -> tuple[int, int, int]:
    if isinstance(dims, tuple):
        return (*dims, 1, 1)[:3] if len(dims) < 3 else tuple(dims)
    return int(dims), 1, 1


class _Compiled:
    """One overload of a kernel, its ``CUfunction`` and its parameter buffer."""

    def __init__(self, dispatcher: Any, args: tuple, kinds: tuple) -> None:
        from numba.cuda.cudadrv.driver import binding

        kernel = dispatcher.compile(tuple(_numba_type(x, k) for x, k in zip(args, kinds)))
        handle = kernel._codelibrary.get_cufunc().handle
        if isinstance(handle, binding.CUkernel):  # cuda.core hands out library kernels
            error, handle = binding.cuKernelGetFunction(handle)
            _check(error, dispatcher)
        self.function = handle
        self.format = "<" + "".join(_format(k) for k in kinds)
        self.slots = max(struct.calcsize(self.format) // 8, 1)
        # The buffer is shared by every launch of this overload: one thread packs and launches
        # at a time (the driver copies the parameters during cuLaunchKernel).
        self.buffer, self.pointers, self.address = _parameter_buffer(self.slots)
        self.lock = threading.Lock()


def _parameter_buffer(slots: int) -> tuple[Any, Any, int]:
    """(buffer of ``slots`` 8-byte slots, the array of their addresses cuLaunchKernel takes,
    that array's address)."""
    buffer = ctypes.create_string_buffer(8 * slots)
    base = ctypes.addressof(buffer)
    pointers = (ctypes.c_void_p * slots)(*[base + 8 * k for k in range(slots)])
    return buffer, pointers, ctypes.addressof(pointers)


def _check(error: Any, dispatcher: Any) -> None:
    if int(error) != 0:
        name = getattr(getattr(dispatcher, "py_func", None), "__name__", repr(dispatcher))
        raise RuntimeError(f"CUDA kernel launch of {name!r} failed: {error}")


_compiled: dict[tuple, _Compiled] = {}
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _driver() -> tuple[Any, Any, type]:
    found = _state.get("driver")
    if found is None:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray
        from numba.cuda.cudadrv.driver import binding

        found = _state["driver"] = (binding.cuLaunchKernel, binding.CUstream(0), DeviceNDArray)
    return found


def _overload(kernel: Any, args: tuple) -> _Compiled | None:
    """The driver-level overload for these arguments, or None where the dispatcher launches."""
    _, _, device_array = _driver()
    kinds = tuple(_kind(x, device_array) for x in args)
    if None in kinds:
        return None
    key = (kernel, kinds)
    compiled = _compiled.get(key)
    if compiled is None:
        with _lock:
            compiled = _compiled.get(key) or _Compiled(kernel, args, kinds)
            _compiled[key] = compiled
    return compiled


def launch(kernel: Any, blocks: Any, threads: Any, stream: Any, *args: Any) -> None:
    """``kernel[blocks, threads, stream](*args)`` for a ``cuda.jit`` kernel, through the driver
    directly where it can (see the module docstring). While a ``cuda_capture`` recording is in
    progress the launch is recorded, its parameters packed once."""
    if cuda_capture.active() is not None:
        cuda_capture.run(prepared(kernel, blocks, threads, stream, *args))
        return
    compiled = None if numba_config.ENABLE_CUDASIM or stream else _overload(kernel, args)
    if compiled is None:
        kernel[blocks, threads, stream](*args)
        return
    values: list[Any] = []
    _values(args, values)
    cu_launch, default_stream, _ = _driver()
    with compiled.lock:
        struct.pack_into(compiled.format, compiled.buffer, 0, *values)
        error, = cu_launch(compiled.function, *_dims(blocks), *_dims(threads), 0, default_stream, compiled.address, 0)
    _check(error, kernel)


class _Packed:
    """One launch with its parameters packed into a buffer of its own, to issue as often as
    needed. It holds the arguments, so the memory its pointers name stays allocated."""

    __slots__ = ("kernel", "function", "dims", "buffer", "pointers", "address", "args")

    def __init__(self, kernel: Any, compiled: _Compiled, blocks: Any, threads: Any, args: tuple) -> None:
        values: list[Any] = []
        _values(args, values)
        self.kernel = kernel
        self.function = compiled.function
        self.dims = (*_dims(blocks), *_dims(threads))
        self.buffer, self.pointers, self.address = _parameter_buffer(compiled.slots)
        struct.pack_into(compiled.format, self.buffer, 0, *values)
        self.args = args

    def __call__(self) -> None:
        cu_launch, default_stream, _ = _driver()
        error, = cu_launch(self.function, *self.dims, 0, default_stream, self.address, 0)
        _check(error, self.kernel)


def prepared(kernel: Any, blocks: Any, threads: Any, stream: Any, *args: Any) -> Callable[[], None]:
    """The launch ``launch(kernel, blocks, threads, stream, *args)`` as a function of no
    arguments that issues it (not yet issued). Parameters are packed once where the driver
    launches; else the function calls the dispatcher with the same arguments."""
    compiled = None if numba_config.ENABLE_CUDASIM or stream else _overload(kernel, args)
    if compiled is None:
        return functools.partial(_dispatch, kernel, blocks, threads, stream, args)
    return _Packed(kernel, compiled, blocks, threads, args)


def _dispatch(kernel: Any, blocks: Any, threads: Any, stream: Any, args: tuple) -> None:
    kernel[blocks, threads, stream](*args)
