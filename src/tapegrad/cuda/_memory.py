"""Device memory for CUDA tensors: numba's allocations served from the driver's stream-ordered
pool (``cuMemAllocAsync``/``cuMemFreeAsync`` on the default stream).

numba-cuda's own manager calls ``cuMemAlloc`` for every array and queues ``cuMemFree``,
flushing the queue every ten frees; ``cuMemFree`` waits for the whole device, so a training
step of small tensors stalled the host on the GPU several times a step. The stream-ordered
pool frees without waiting: a block freed on the stream is reused by an allocation queued
after the free on the same stream, and every tapegrad kernel and copy runs on the default
stream. A release threshold of "never" keeps the pool's memory across synchronizations (by
default the driver hands it back at each one), as PyTorch's caching allocator keeps its own.

:func:`install` puts the pool in place before the first CUDA context is made. It leaves numba's
manager alone where a context already exists, where ``NUMBA_CUDA_MEMORY_MANAGER`` names another
manager, and where ``TAPEGRAD_CUDA_ALLOCATOR=numba`` asks for numba's.
"""
from __future__ import annotations

import os
import weakref
from typing import Any, Callable

from numba.cuda.core import config
from numba.cuda.cudadrv import driver as numba_driver
from numba.cuda.cudadrv.driver import (GetIpcHandleMixin, HostOnlyCUDAMemoryManager, MemoryInfo, MemoryPointer,
                                       binding, driver)

# The legacy default stream: numba launches and copies with ``stream=0`` run there.
_STREAM = binding.CUstream(0)
_NEVER = 2**64 - 1


def _free_async(pointer: Any) -> Callable[[], None]:
    def free() -> None:
        # After the context is gone (interpreter exit) the driver answers with an error code,
        # which there is nothing left to do about.
        binding.cuMemFreeAsync(pointer, _STREAM)

    return free


class PoolMemoryManager(GetIpcHandleMixin, HostOnlyCUDAMemoryManager):
    """numba's External Memory Management plugin over the device's default memory pool."""

    def initialize(self) -> None:
        # Pinned and mapped host memory stay numba's (HostOnlyCUDAMemoryManager), and its
        # queue of their frees needs a capacity, as numba's own manager sets it.
        if self.deallocations.memory_capacity == numba_driver._SizeNotSet:
            self.deallocations.memory_capacity = self.get_memory_info().total
        pool = driver.cuDeviceGetDefaultMemPool(binding.CUdevice(self.context.device.id))
        driver.cuMemPoolSetAttribute(pool, binding.CUmemPool_attribute.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                     binding.cuuint64_t(_NEVER))

    def memalloc(self, size: int) -> MemoryPointer:
        pointer = self._attempt_allocation(lambda: driver.cuMemAllocAsync(max(size, 1), _STREAM))
        return MemoryPointer(weakref.proxy(self.context), pointer, size, finalizer=_free_async(pointer))

    def get_memory_info(self) -> MemoryInfo:
        free, total = driver.cuMemGetInfo()
        return MemoryInfo(free=free, total=total)

    @property
    def interface_version(self) -> int:
        return numba_driver._SUPPORTED_EMM_INTERFACE_VERSION


def install() -> bool:
    """Make :class:`PoolMemoryManager` numba's manager for the contexts it makes from now on.
    Returns whether it is (see the module docstring for when numba's is kept)."""
    if numba_driver._memory_manager is PoolMemoryManager:
        return True
    if (numba_driver._memory_manager is not None or config.CUDA_MEMORY_MANAGER != "default"
            or os.environ.get("TAPEGRAD_CUDA_ALLOCATOR", "pool") == "numba"):
        return False
    numba_driver.set_memory_manager(PoolMemoryManager)
    return True
