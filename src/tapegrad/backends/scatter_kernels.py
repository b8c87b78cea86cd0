"""Kernels for ``ops/scatter.py`` and ``ops/setops.py`` that the gather and scatter-add kernels
do not cover.

- ``segment_reduce`` (CUDA): combine values into a C-contiguous array at flat positions given
  in sorted order (a stable sort, so equal positions keep the order in which the index lists
  them). The first thread of each run of equal positions reduces the whole run, in that order.
  Overwrites (the last value wins), sums, products, means and NaN-propagating maxima and minima
  thus give exactly what the CPU gives, where NumPy's ``ufunc.at`` applies the values in the
  same order: no atomics, no reassociated floating-point sums.
- ``put_flat`` (CPU): the same overwrite in the index's order.
- ``searchsorted`` (CPU and CUDA, one search function in both modules): PyTorch's binary
  search, with its comparisons (``!(b >= v)`` for the left side, ``!(b > v)`` for the right),
  so that boundaries holding NaN give PyTorch's answers too (NumPy's search orders NaN
  differently).

Both modules are compiled on first use; importing this file imports no Numba.
"""
from __future__ import annotations

from typing import Any

import numpy as np

# Reductions, in the numbering the kernel reads.
SET, SUM, PROD, MEAN, AMAX, AMIN = range(6)

# PyTorch's binary search for one value in row ``b`` (read through ``sorter`` when it has rows),
# written once: each module defines ``device_function`` as its own inlined decorator.
_INSERTION_POINT = '''

@device_function
def insertion_point(boundaries, sorter, b, v, right):
    start = 0
    end = boundaries.shape[1]
    while start < end:
        mid = start + ((end - start) >> 1)
        if sorter.shape[0] > 0:
            w = boundaries[b, sorter[b, mid]]
        else:
            w = boundaries[b, mid]
        if right:
            go = not (w > v)
        else:
            go = not (w >= v)
        if go:
            start = mid + 1
        else:
            end = mid
    return start
'''

_CUDA_SOURCE = _INSERTION_POINT + '''

@kernel
def segment_reduce(out, positions, order, values, mode, include_self, identity, is_float):
    n = positions.size
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        p = positions[i]
        if i > 0 and positions[i - 1] == p:
            continue
        acc = out[p]
        if not include_self:
            acc = identity
        count = 0
        j = i
        while j < n and positions[j] == p:
            v = values[order[j]]
            if mode == 0:
                acc = v
            elif mode == 1 or mode == 3:
                acc = acc + v
            elif mode == 2:
                acc = acc * v
            elif mode == 4:
                if acc == acc and (v > acc or v != v):
                    acc = v
            elif acc == acc and (v < acc or v != v):
                acc = v
            count += 1
            j += 1
        if mode == 3:
            if include_self:
                count += 1
            if is_float:
                out[p] = acc / count
            else:
                out[p] = acc // count
        else:
            out[p] = acc


@kernel
def searchsorted(boundaries, sorter, values, right, out):
    m = values.shape[1]
    for t in range(cuda.grid(1), values.shape[0] * m, cuda.gridsize(1)):
        r = t // m
        c = t - r * m
        b = r if boundaries.shape[0] > 1 else 0
        out[r, c] = insertion_point(boundaries, sorter, b, values[r, c], right)
'''

_CPU_SOURCE = """
device_function = njit(inline="always", error_model='numpy', nogil=True)
""" + _INSERTION_POINT + """

@njit(cache=CACHE, error_model='numpy', nogil=True)
def put_flat(out, positions, values):
    # In order, so that the last write to a position wins (NumPy leaves repeats unspecified).
    for k in range(positions.shape[0]):
        out[positions[k]] = values[k]


@njit(cache=CACHE, error_model='numpy', nogil=True)
def searchsorted(boundaries, sorter, values, right, out):
    for r in range(values.shape[0]):
        b = r if boundaries.shape[0] > 1 else 0
        for c in range(values.shape[1]):
            out[r, c] = insertion_point(boundaries, sorter, b, values[r, c], right)
"""

_modules: list[Any] = []


def _cpu_module() -> Any:
    from . import cpu

    return cpu._module("scatter_kernels", _CPU_SOURCE)


def put_flat(out: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
    """``out[positions[k]] = values[k]`` in order of ``k`` (1-D arrays; positions in range)."""
    _cpu_module().put_flat(out, positions, values)


def _cuda_module() -> Any:
    from . import cuda_kernels as ck

    if not _modules:
        _modules.append(ck._load("scatter_kernels", ck._header() + _CUDA_SOURCE))
    return _modules[0]


def identity(mode: int, dtype: np.dtype) -> Any:
    """The value a reduction starts from when the target's own value is left out."""
    if mode in (SUM, MEAN, SET):
        return 0
    if mode == PROD:
        return 1
    if dtype.kind == "f":
        return -np.inf if mode == AMAX else np.inf
    if dtype.kind == "b":
        return mode == AMIN
    info = np.iinfo(dtype)
    return info.min if mode == AMAX else info.max


def cuda_reduce_into(data: Any, positions: Any, values: Any, mode: int, include_self: bool) -> Any:
    """A C-contiguous copy of the device array ``data`` with ``values`` (a device array with as
    many elements as ``positions``, or a Python scalar) combined at the flat ``positions``, in
    their order. Bool arrays work on uint8: a sum is then a maximum (or), a product a minimum."""
    from ..cuda import _ops
    from ..cuda._arrays import flat, is_device_array
    from . import cuda_kernels as ck
    from . import cuda_reduce

    out = _ops.contiguous_copy(data) if data.size else _ops.full(tuple(data.shape), 0, data.dtype)
    count = int(positions.size)
    if count == 0:
        return out
    boolean = out.dtype == np.bool_
    work = _ops.cast(out, np.uint8) if boolean else out
    if boolean:
        mode = {SUM: AMAX, PROD: AMIN}.get(mode, mode)
    where = _ops.as_int64(positions).reshape(count)
    if is_device_array(values):
        if values.dtype != work.dtype or not values.is_c_contiguous():
            values = _ops.cast(values, work.dtype)
        values = values.reshape(count)
    else:
        values = _ops.full((count,), values, work.dtype)
    ordered, order = cuda_reduce.sort(where, 0, False)
    blocks, threads = ck.launch_shape(count)
    ck.launch(_cuda_module().segment_reduce, blocks, threads, 0, flat(work), ordered, order, values, int(mode),
              bool(include_self), work.dtype.type(identity(mode, work.dtype)), work.dtype.kind == "f")
    return _ops.cast(work, np.bool_) if boolean else work


def searchsorted(boundaries: Any, sorter: Any, values: Any, right: bool, out_dtype: Any) -> Any:
    """For each row ``r`` of the 2-D ``values``, the insertion points of its entries in row
    ``r`` of the 2-D ``boundaries`` (row 0 when ``boundaries`` has one row), read in the order
    of ``sorter`` (same shape as ``boundaries``; None for none). Arrays on one device, of one
    dtype; the result has ``values``' shape and ``out_dtype``."""
    if isinstance(values, np.ndarray):
        out = np.empty(values.shape, out_dtype)
        by = np.zeros((0, 0), np.int64) if sorter is None else np.ascontiguousarray(sorter)
        if out.size:
            _cpu_module().searchsorted(
                np.ascontiguousarray(boundaries), by, np.ascontiguousarray(values), bool(right), out)
        return out
    from ..cuda import _ops
    from . import cuda_kernels as ck

    out = _ops.empty(tuple(values.shape), np.dtype(out_dtype))
    if out.size:
        by = _ops.full((0, 0), 0, np.int64) if sorter is None else _ops.as_int64(sorter)
        contiguous = [a if a.is_c_contiguous() else _ops.contiguous_copy(a) for a in (boundaries, values)]
        blocks, threads = ck.launch_shape(out.size)
        ck.launch(_cuda_module().searchsorted, blocks, threads, 0, contiguous[0], by, contiguous[1], bool(right), out)
    return out
