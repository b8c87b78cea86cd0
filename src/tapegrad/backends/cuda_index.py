"""CUDA kernels for indexing: strided copies, index arithmetic, bounds checks, scatters and
``nonzero``. The array-level index ops built on them live in ``tapegrad.cuda._ops``.

- ``strided_copy``: ``dst[c] = src[c]`` for every coordinate ``c`` of ``shape``, both sides
  given as (1-D buffer, element strides): what writes into a non-contiguous view (an in-place
  op on ``y[:, 0]``, ``y[0, 1:] = v``, the gradient of a basic index).
- ``offsets``: ``out[c] = base + sum(c * strides)``, the flat positions a strided layout
  reaches; advanced indexing adds ``index * stride`` terms to them (elementwise kernels).
- ``first_out_of_range``: the first (C-order) position of an index outside ``[low, high)``,
  so an error names the same entry as the CPU path.
- ``scatter_flat``: ``out[positions[i]] = src[i]`` (advanced assignment; with repeated
  positions one write wins, unspecified which, as on PyTorch's GPU backend).
- ``nonzero_counts`` / ``nonzero_write``: ``nonzero`` in two passes over contiguous chunks,
  one per thread: count, then (after an exclusive scan of the counts) write the coordinates
  in order. The result's size must reach the host to allocate it, as PyTorch syncs there too.

Shapes and strides are passed as tuples of int64 (Numba specialises per length).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import cuda_kernels as ck

_INDEX_SOURCE = '''

@kernel
def strided_copy(dst, dst_strides, src, src_strides, shape, size):
    for i in range(cuda.grid(1), size, cuda.gridsize(1)):
        rest = i
        d_at = 0
        s_at = 0
        for d in range(len(shape) - 1, -1, -1):
            c = rest % shape[d]
            rest //= shape[d]
            d_at += c * dst_strides[d]
            s_at += c * src_strides[d]
        dst[d_at] = src[s_at]


@kernel
def offsets(out, shape, strides, base):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        rest = i
        at = base
        for d in range(len(shape) - 1, -1, -1):
            at += (rest % shape[d]) * strides[d]
            rest //= shape[d]
        out[i] = at


@kernel
def first_out_of_range(index, low, high, found):
    # found[0] starts at index.size; the smallest offending position wins.
    for i in range(cuda.grid(1), index.size, cuda.gridsize(1)):
        v = index[i]
        if v < low or v >= high:
            cuda.atomic.min(found, 0, i)


@kernel
def scatter_flat(out, positions, src):
    for i in range(cuda.grid(1), positions.size, cuda.gridsize(1)):
        out[positions[i]] = src[i]


@kernel
def nonzero_counts(x, chunk, counts):
    t = cuda.grid(1)
    if t < counts.size:
        found = 0
        for i in range(t * chunk, min(x.size, (t + 1) * chunk)):
            if x[i] != 0:
                found += 1
        counts[t] = found


@kernel
def nonzero_write(x, chunk, starts, shape, out):
    # out[k, :] = the coordinates of the k-th nonzero element (C order).
    t = cuda.grid(1)
    if t < starts.size:
        k = starts[t]
        for i in range(t * chunk, min(x.size, (t + 1) * chunk)):
            if x[i] != 0:
                rest = i
                for d in range(len(shape) - 1, -1, -1):
                    out[k, d] = rest % shape[d]
                    rest //= shape[d]
                k += 1
'''

_modules: list[Any] = []

# Threads (= chunks) nonzero uses at most: its counts travel to the host.
NONZERO_THREADS = 1 << 14


def module() -> Any:
    """The indexing kernels, generated and loaded on first use."""
    if not _modules:
        _modules.append(ck._load("cuda_index", ck._header() + _INDEX_SOURCE))
    return _modules[0]


def _ints(values: Any) -> tuple[int, ...]:
    # Python ints: typed int64 on the GPU, and the simulator's fast element access takes them.
    return tuple(int(v) for v in values)


def strided_copy(dst: Any, dst_strides: tuple[int, ...], src: Any, src_strides: tuple[int, ...],
                 shape: tuple[int, ...]) -> None:
    """``dst[c * dst_strides] = src[c * src_strides]`` over ``shape`` (1-D buffers of one dtype)."""
    size = int(np.prod(shape, dtype=np.int64))
    if size:
        blocks, threads = ck.launch_shape(size)
        ck.launch(module().strided_copy, blocks, threads, 0, dst, _ints(dst_strides), src, _ints(src_strides),
                  _ints(shape), size)


def offsets(out: Any, shape: tuple[int, ...], strides: tuple[int, ...], base: int) -> Any:
    """Fill the int64 1-D ``out`` with ``base + sum(coordinates * strides)`` over ``shape``."""
    if out.size:
        blocks, threads = ck.launch_shape(out.size)
        ck.launch(module().offsets, blocks, threads, 0, out, _ints(shape), _ints(strides), int(base))
    return out


def first_out_of_range(index: Any, low: int, high: int) -> int:
    """The position of the first entry of the int64 1-D ``index`` outside ``[low, high)``, or -1
    (a device-to-host copy of one number: the error must be raised before results are used)."""
    if index.size == 0:
        return -1
    found = ck.upload(np.array([index.size], np.int64))
    blocks, threads = ck.launch_shape(index.size)
    ck.launch(module().first_out_of_range, blocks, threads, 0, index, int(low), int(high), found)
    position = int(found.copy_to_host()[0])
    return -1 if position == index.size else position


def scatter_flat(out: Any, positions: Any, src: Any) -> None:
    """``out[positions[i]] = src[i]`` for 1-D ``out``, int64 ``positions`` and ``src`` (in range)."""
    if positions.size:
        blocks, threads = ck.launch_shape(positions.size)
        ck.launch(module().scatter_flat, blocks, threads, 0, out, positions, src)


def nonzero_chunks(x: Any) -> tuple[int, int, Any]:
    """(chunk length, threads, per-thread counts on the host) for :func:`nonzero_write`."""
    threads = max(1, min(x.size, NONZERO_THREADS))
    chunk = -(-x.size // threads)
    counts = ck._cuda().device_array(threads, np.int64)
    blocks, per_block = ck.launch_shape(threads)
    ck.launch(module().nonzero_counts, blocks, per_block, 0, x, int(chunk), counts)
    return chunk, threads, counts.copy_to_host()


def nonzero_write(x: Any, chunk: int, starts: np.ndarray, shape: tuple[int, ...], out: Any) -> None:
    """Write the coordinates of ``x``'s nonzero elements (``x`` flat, C-contiguous, of ``shape``)
    into ``out`` (count, ndim), each thread from ``starts[thread]`` on."""
    if out.size:
        device_starts = ck.upload(starts)
        blocks, threads = ck.launch_shape(starts.size)
        ck.launch(module().nonzero_write, blocks, threads, 0, x, int(chunk), device_starts, _ints(shape), out)
