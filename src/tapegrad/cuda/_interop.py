"""Sharing memory with other array libraries, without copies.

- **CUDA array interface** (v3): a CUDA tensor exposes numba's ``__cuda_array_interface__``
  (``Tensor.__cuda_array_interface__``); :func:`from_cuda_array_interface` wraps another
  library's GPU array (CuPy, PyTorch, JAX, Numba) as a CUDA tensor over the same memory,
  keeping the producer alive.
- **DLPack**: ``Tensor.__dlpack__`` gives NumPy's capsule for a CPU tensor and, for a CUDA
  tensor, a legacy (unversioned) ``DLManagedTensor`` capsule built here with ``ctypes`` (numba
  device arrays have no DLPack support of their own). :func:`from_dlpack` takes CPU memory
  through NumPy and CUDA memory through the producer's CUDA array interface when it has one,
  else by reading its capsule.

Under Numba's CUDA simulator "device" memory is host memory, so the capsules and interfaces
of simulated CUDA tensors carry host pointers labelled as CUDA: they round-trip through
tapegrad but must not be handed to a real GPU library.
"""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..tensor import Tensor, _wrap

KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED = 1, 2, 3, 13
# DLPack dtype codes by NumPy kind.
_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}
_KINDS = {code: kind for kind, code in _CODES.items()}


# ------------------------------------------------------------------ the CUDA array interface

def _supported_dtype(dtype: np.dtype) -> np.dtype:
    if dtype not in _dtypes._BY_NUMPY:
        raise TypeError(f"tapegrad cannot share an array of dtype {dtype}: the supported dtypes are "
                        f"{_dtypes.SUPPORTED}")
    return dtype


def from_cuda_array_interface(obj: Any) -> Tensor:
    """A CUDA tensor over the GPU memory that ``obj.__cuda_array_interface__`` describes (no copy)."""
    from . import check_device
    from ._arrays import SIMULATED, CudaArray, adopt, host_array_at

    check_device("cuda")
    desc = obj.__cuda_array_interface__
    if desc.get("mask") is not None:
        raise NotImplementedError("tapegrad cannot share masked arrays (__cuda_array_interface__ with a mask)")
    dtype = _supported_dtype(np.dtype(desc["typestr"]))
    if SIMULATED:
        array = CudaArray(host_array_at(desc["data"][0], desc["shape"], desc.get("strides"), dtype, owner=obj))
    else:
        from numba import cuda

        array = adopt(cuda.from_cuda_array_interface(desc, owner=obj, sync=True))
    return _wrap(array)


# ------------------------------------------------------------------ DLPack structures

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]


_CAPSULE_NAME = b"dltensor"
_USED_NAME = b"used_dltensor"



def _capi(name: str, restype: Any, *argtypes: Any) -> Any:
    # Private prototypes: setting argtypes on ctypes.pythonapi's shared function objects could
    # clash with another library's.
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


_capsule_new = _capi("PyCapsule_New", ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
_capsule_is_valid = _capi("PyCapsule_IsValid", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_capsule_get_pointer = _capi("PyCapsule_GetPointer", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)
_capsule_set_name = _capi("PyCapsule_SetName", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)

# address of an exported DLManagedTensor -> what it points into, kept alive until its deleter runs
_exported: dict[int, tuple[Any, ...]] = {}


@_DELETER
def _delete_exported(address: int) -> None:
    _exported.pop(address, None)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule: int) -> None:
    # A capsule that was never consumed still owns its tensor: release it. (A consumer
    # renames the capsule and calls the deleter itself when it is done.)
    if _capsule_is_valid(capsule, _CAPSULE_NAME):
        _delete_exported(_capsule_get_pointer(capsule, _CAPSULE_NAME))


def dlpack_device(tensor: Tensor) -> tuple[int, int]:
    return (KDL_CPU, 0) if isinstance(tensor._data, np.ndarray) else (KDL_CUDA, 0)


def to_dlpack(tensor: Tensor, stream: Any = None, *, max_version: Any = None, dl_device: Any = None,
              copy: Any = None) -> Any:
    """A DLPack capsule over ``tensor``'s memory (see the module docstring)."""
    if tensor._requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    data = tensor._data
    if isinstance(data, np.ndarray):
        return data.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)
    if copy:
        raise BufferError("tapegrad exports CUDA tensors without copying (copy=True is not supported)")
    if dl_device is not None and tuple(dl_device) != (KDL_CUDA, 0):
        raise BufferError(f"tapegrad cannot export a cuda:0 tensor to DLPack device {tuple(dl_device)}")
    # Kernels run on the legacy default stream, which a consumer's blocking stream waits for;
    # any other stream the consumer names is made to wait by finishing the work here.
    if stream not in (None, 1, 2):
        from ._arrays import synchronize

        synchronize()
    return _export_cuda(tensor)


def _export_cuda(tensor: Tensor) -> Any:
    data = tensor._data
    interface = data.__cuda_array_interface__
    dtype = data.dtype
    itemsize = dtype.itemsize
    ndim = len(data.shape)
    shape = (ctypes.c_int64 * max(ndim, 1))(*data.shape)
    strides = (ctypes.c_int64 * max(ndim, 1))(*(s // itemsize for s in data.strides))
    managed = _DLManagedTensor()
    managed.dl_tensor.data = interface["data"][0] or None
    managed.dl_tensor.device = _DLDevice(KDL_CUDA, 0)
    managed.dl_tensor.ndim = ndim
    managed.dl_tensor.dtype = _DLDataType(_CODES[dtype.kind], itemsize * 8, 1)
    managed.dl_tensor.shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
    managed.dl_tensor.strides = ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64))
    managed.dl_tensor.byte_offset = 0
    managed.manager_ctx = None
    managed.deleter = _delete_exported
    address = ctypes.addressof(managed)
    # The struct, its arrays and the tensor (hence the device memory) live until the deleter runs.
    _exported[address] = (managed, shape, strides, tensor._data)
    return _capsule_new(address, _CAPSULE_NAME, ctypes.cast(_capsule_destructor, ctypes.c_void_p))


# ------------------------------------------------------------------ from DLPack

class _Consumed:
    """Owns a consumed capsule's tensor: runs the producer's deleter when collected."""

    def __init__(self, capsule: Any, address: int) -> None:
        self.capsule = capsule
        self.address = address

    def __del__(self) -> None:
        managed = _DLManagedTensor.from_address(self.address)
        if managed.deleter:
            managed.deleter(self.address)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor over the memory of ``obj`` (an object with ``__dlpack__``, or a capsule)."""
    if hasattr(obj, "__dlpack_device__"):
        device_type = int(obj.__dlpack_device__()[0])
        if device_type == KDL_CPU:
            return _wrap(_host_array(obj))
        if device_type not in (KDL_CUDA, KDL_CUDA_MANAGED):
            raise RuntimeError(f"tapegrad.from_dlpack: unsupported DLPack device type {device_type}")
        if hasattr(obj, "__cuda_array_interface__") and not isinstance(obj, Tensor):
            return from_cuda_array_interface(obj)
        capsule = obj.__dlpack__(stream=1)  # the legacy default stream, which tapegrad launches on
    else:
        capsule = obj
    return _from_capsule(capsule)


def _host_array(obj: Any) -> np.ndarray:
    array = np.from_dlpack(obj)
    _supported_dtype(array.dtype)
    return array


def _from_capsule(capsule: Any) -> Tensor:
    pointer = ctypes.c_void_p(id(capsule))
    if not _capsule_is_valid(pointer, _CAPSULE_NAME):
        raise TypeError("tapegrad.from_dlpack expects an object with __dlpack__ or an unconsumed 'dltensor' "
                        f"capsule, got {type(capsule).__name__}")
    address = _capsule_get_pointer(pointer, _CAPSULE_NAME)
    tensor = _DLManagedTensor.from_address(address).dl_tensor
    kind = _KINDS.get(tensor.dtype.code)
    if kind is None or tensor.dtype.lanes != 1:
        raise TypeError(f"tapegrad.from_dlpack: unsupported DLPack dtype code {tensor.dtype.code}")
    dtype = _supported_dtype(np.dtype(f"{kind}{tensor.dtype.bits // 8}") if kind != "b" else np.dtype(np.bool_))
    ndim = tensor.ndim
    shape = tuple(tensor.shape[d] for d in range(ndim))
    strides = None if not tensor.strides else tuple(tensor.strides[d] * dtype.itemsize for d in range(ndim))
    data_pointer = (tensor.data or 0) + tensor.byte_offset
    device_type = tensor.device.device_type
    _capsule_set_name(pointer, _USED_NAME)
    owner = _Consumed(capsule, address)
    if device_type == KDL_CPU:
        from ._arrays import host_array_at

        return _wrap(host_array_at(data_pointer, shape, strides, dtype, owner=owner))
    if device_type not in (KDL_CUDA, KDL_CUDA_MANAGED):
        raise RuntimeError(f"tapegrad.from_dlpack: unsupported DLPack device type {device_type}")
    interface = {"shape": shape, "strides": strides, "data": (data_pointer, False), "typestr": dtype.str,
                 "version": 3, "stream": None}
    return from_cuda_array_interface(_Interface(interface, owner))


class _Interface:
    """A CUDA array interface for memory some owner keeps alive."""

    def __init__(self, interface: dict[str, Any], owner: Any) -> None:
        self.__cuda_array_interface__ = interface
        self.owner = owner
