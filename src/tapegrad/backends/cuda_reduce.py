"""CUDA reductions along axes: sum, mean and product over any set of axes, max/min (values and int64
indices) and amax/amin along one axis, the reduction of a broadcast gradient to its operand's
shape, cumulative sums along one axis, and sorts along one axis.

Functions take C-contiguous numba device arrays and return the reduced shape (the kept
dimensions, in order; ``keepdim`` is a reshape the caller does). Semantics follow the CPU
backend (``cpu.reduce_sum``, ``cpu.reduce_extreme``, ``ops.reduce.sum_to``): floats accumulate
in float64 and integers/bools in int64, rounded once on the final store; a mean is that sum
rounded to the output dtype, then divided by the count in the output dtype; max/min report
the first NaN if there is one, else the first of equal extremes.

How a sum over axes runs. Size-1 dimensions are dropped and adjacent dimensions that are
both reduced or both kept are merged, so any reduction becomes a few passes, each over one
reduced group of a ``(outer, n, inner)`` view (innermost group first, into float64/int64
temporaries, so rounding still happens once):

- ``inner == 1`` (the reduced elements are contiguous): ``sum_rows``, one block per row;
  threads stride along the row, then warps reduce with ``cuda.shfl_down_sync`` and the warp
  totals meet in shared memory (:data:`BLOCK_REDUCE_SOURCE`);
- ``inner > 1``: ``sum_cols``, a 2-D block whose x threads walk adjacent columns (coalesced
  loads) and whose y threads split ``n``; the y partials meet in a shared-memory tree.

Products (``prod_axes``) are the same kernels generated with ``*`` for ``+`` (``prod_rows``,
``prod_cols``), and go the same way, a product over every element included.

Max and min along one axis use the same two layouts (``extreme_rows``, ``extreme_cols``) on
(value, index) pairs, without segments.

When the outputs alone would give the GPU too few blocks (a long row, a tall column), ``n``
is cut into segments, each block writes a float64 partial, and a second launch of the same
kernel sums the partials: deterministic, no atomics. A reduction over every element is
``cuda_kernels.sum_all``, which works the same way.

The CUDA simulator has no warp shuffles; there the warp step is a shared-memory tree too
(``WARP_SHUFFLE`` in the generated modules), so simulator tests cover the block logic and the
PTX tests compile the shuffle path.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import cuda_kernels as ck

WARP_SIZE = 32
# The most threads a reduction block uses. A row gets about one thread per
# ROW_ELEMENTS_PER_THREAD elements (a power of two, at least one warp): short rows then take
# one warp, whose block reduction is cheap, instead of a block of mostly idle threads (on an
# H100, 128-element rows ran 370 GB/s with one thread per element).
MAX_REDUCE_THREADS = 256
ROW_ELEMENTS_PER_THREAD = 4
# Segmenting ``n`` pays when the outputs give fewer blocks than this (about two per SM on
# an H100, which has 132) ...
TARGET_BLOCKS = 256
# ... and only down to segments of this many elements, so each block still streams a
# worthwhile amount of memory before its partial is written.
MIN_SEGMENT = 1024

# Block-wide reductions used by the kernels here and by ``cuda_nn``. ``block_sum`` and
# ``block_max`` return the result to every thread of the block; every thread must call them
# (they contain barriers) and blockDim.x must be a power of two and at least 32. ``scratch``
# is a shared array of SCRATCH_SIZE entries of the value's type.
BLOCK_REDUCE_SOURCE = '''
WARP = 32
FULL_MASK = 0xFFFFFFFF
MAX_THREADS = {max_threads}
# The simulator has no warp shuffles: there the whole block reduces through shared memory.
WARP_SHUFFLE = not numba.config.ENABLE_CUDASIM
# One slot per warp (and one for the result) with shuffles; one per thread without.
SCRATCH = WARP if WARP_SHUFFLE else MAX_THREADS
# Shared arrays need a constant length, not an expression; the last slot holds the result.
SCRATCH_SIZE = SCRATCH + 1
'''

_BLOCK_OP_TEMPLATE = '''

@device_function
def warp_{name}(v):
    offset = WARP // 2
    while offset > 0:
        other = cuda.shfl_down_sync(FULL_MASK, v, offset)
        v = {combine}
        offset //= 2
    return v


@device_function
def block_{name}(v, scratch, identity):
    tid = cuda.threadIdx.x
    if WARP_SHUFFLE:
        v = warp_{name}(v)
        if tid % WARP == 0:
            scratch[tid // WARP] = v
        cuda.syncthreads()
        if tid < WARP:
            v = scratch[tid] if tid < cuda.blockDim.x // WARP else identity
            v = warp_{name}(v)
            if tid == 0:
                scratch[SCRATCH] = v
        cuda.syncthreads()
        v = scratch[SCRATCH]
    else:
        scratch[tid] = v
        cuda.syncthreads()
        width = cuda.blockDim.x // 2
        while width > 0:
            if tid < width:
                v = scratch[tid]
                other = scratch[tid + width]
                scratch[tid] = {combine}
            cuda.syncthreads()
            width //= 2
        v = scratch[0]
    cuda.syncthreads()  # every thread has read the result: scratch may be reused
    return v
'''


def block_reduce_source(max_threads: int = MAX_REDUCE_THREADS) -> str:
    """Source of ``block_sum`` and ``block_max`` (NaN wins, as in the CPU's softmax) for a
    generated module whose header is ``cuda_kernels._header()``."""
    return (BLOCK_REDUCE_SOURCE.format(max_threads=max_threads)
            + _BLOCK_OP_TEMPLATE.format(name="sum", combine="v + other")
            + _BLOCK_OP_TEMPLATE.format(name="max", combine="other if other > v or other != other else v"))


# Sums and products along an axis: one template, ``{name}`` (sum, prod) naming the kernels,
# ``{op}`` the accumulating operator and ``{identity}`` its identity. ``rows`` and ``cols`` alias
# the kernels so the launch code below serves both.
_AXIS_SOURCE = '''
ACC = numba.{acc}


@kernel
def {name}_rows(x, out, seg):
    # x: (rows, n); out: (rows, segments). Block t reduces segment t % segments of row
    # t // segments: the elements [s * seg, (s + 1) * seg) of the row.
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    n = x.shape[1]
    segments = out.shape[1]
    for t in range(cuda.blockIdx.x, out.shape[0] * segments, cuda.gridDim.x):
        r = t // segments
        s = t - r * segments
        acc = ACC({identity})
        for c in range(s * seg + tid, min(n, (s + 1) * seg), cuda.blockDim.x):
            acc {op}= x[r, c]
        total = block_{name}(acc, scratch, ACC({identity}))
        if tid == 0:
            out[r, s] = total


@kernel
def {name}_cols(x, out, seg):
    # x: (outer, n, inner); out: (outer, segments, inner). A block covers blockDim.x adjacent
    # columns of one segment; its y threads split the segment's rows.
    scratch = cuda.shared.array(MAX_THREADS, ACC)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    width_x = cuda.blockDim.x
    n = x.shape[1]
    inner = x.shape[2]
    segments = out.shape[1]
    tiles = (inner + width_x - 1) // width_x
    per_outer = segments * tiles
    slot = ty * width_x + tx
    for t in range(cuda.blockIdx.x, x.shape[0] * per_outer, cuda.gridDim.x):
        o = t // per_outer
        rest = t - o * per_outer
        s = rest // tiles
        j = (rest - s * tiles) * width_x + tx
        acc = ACC({identity})
        if j < inner:
            for k in range(s * seg + ty, min(n, (s + 1) * seg), cuda.blockDim.y):
                acc {op}= x[o, k, j]
        scratch[slot] = acc
        cuda.syncthreads()
        half = cuda.blockDim.y // 2
        while half > 0:
            if ty < half:
                scratch[slot] {op}= scratch[slot + half * width_x]
            cuda.syncthreads()
            half //= 2
        if ty == 0 and j < inner:
            out[o, s, j] = scratch[tx]
        cuda.syncthreads()  # scratch is read before the next tile overwrites it


rows = {name}_rows
cols = {name}_cols
'''

# name -> (operator, identity) of the axis reductions.
_AXIS_OPS = {"sum": ("+", 0), "prod": ("*", 1)}

_EXTREME_SOURCE = '''
LANE = numba.{lane}


@device_function
def better(v, i, w, j, largest):
    # Whether candidate (w, j) beats (v, i): an index < 0 marks "no element yet"; the first
    # NaN wins; among equal values the first index wins.
    if j < 0:
        return False
    if i < 0:
        return True
    if v != v:
        return w != w and j < i
    if w != w:
        return True
    if w == v:
        return j < i
    return (w > v) == largest


@device_function
def block_best(v, i, values, indices, largest):
    # (value, index) of the block's best candidate, returned to every thread.
    tid = cuda.threadIdx.x
    if WARP_SHUFFLE:
        offset = WARP // 2
        while offset > 0:
            w = cuda.shfl_down_sync(FULL_MASK, v, offset)
            j = cuda.shfl_down_sync(FULL_MASK, i, offset)
            if better(v, i, w, j, largest):
                v = w
                i = j
            offset //= 2
        if tid % WARP == 0:
            values[tid // WARP] = v
            indices[tid // WARP] = i
        cuda.syncthreads()
        if tid < WARP:
            if tid < cuda.blockDim.x // WARP:
                v = values[tid]
                i = indices[tid]
            else:
                i = -1
            offset = WARP // 2
            while offset > 0:
                w = cuda.shfl_down_sync(FULL_MASK, v, offset)
                j = cuda.shfl_down_sync(FULL_MASK, i, offset)
                if better(v, i, w, j, largest):
                    v = w
                    i = j
                offset //= 2
            if tid == 0:
                values[SCRATCH] = v
                indices[SCRATCH] = i
        cuda.syncthreads()
        v = values[SCRATCH]
        i = indices[SCRATCH]
    else:
        values[tid] = v
        indices[tid] = i
        cuda.syncthreads()
        width = cuda.blockDim.x // 2
        while width > 0:
            if tid < width and better(values[tid], indices[tid], values[tid + width], indices[tid + width], largest):
                values[tid] = values[tid + width]
                indices[tid] = indices[tid + width]
            cuda.syncthreads()
            width //= 2
        v = values[0]
        i = indices[0]
    cuda.syncthreads()
    return v, i


@kernel
def extreme_rows(x, values, indices, largest):
    # x: (rows, n), n >= 1: one block per row.
    shared_values = cuda.shared.array(SCRATCH_SIZE, LANE)
    shared_indices = cuda.shared.array(SCRATCH_SIZE, numba.int64)
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        v = LANE(0)
        i = -1
        for c in range(tid, x.shape[1], cuda.blockDim.x):
            w = LANE(x[r, c])
            if better(v, i, w, c, largest):
                v = w
                i = c
        v, i = block_best(v, i, shared_values, shared_indices, largest)
        if tid == 0:
            values[r] = v
            indices[r] = i


@kernel
def extreme_cols(x, values, indices, largest):
    # x: (outer, n, inner), n >= 1; values, indices: (outer, inner). As sum_cols: x threads
    # walk adjacent columns (coalesced loads), y threads split n and meet in a shared tree.
    shared_values = cuda.shared.array(MAX_THREADS, LANE)
    shared_indices = cuda.shared.array(MAX_THREADS, numba.int64)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    width_x = cuda.blockDim.x
    inner = x.shape[2]
    tiles = (inner + width_x - 1) // width_x
    slot = ty * width_x + tx
    for t in range(cuda.blockIdx.x, x.shape[0] * tiles, cuda.gridDim.x):
        o = t // tiles
        j = (t - o * tiles) * width_x + tx
        v = LANE(0)
        i = -1
        if j < inner:
            for k in range(ty, x.shape[1], cuda.blockDim.y):
                w = LANE(x[o, k, j])
                if better(v, i, w, k, largest):
                    v = w
                    i = k
        shared_values[slot] = v
        shared_indices[slot] = i
        cuda.syncthreads()
        half = cuda.blockDim.y // 2
        while half > 0:
            if ty < half:
                other = slot + half * width_x
                if better(shared_values[slot], shared_indices[slot], shared_values[other], shared_indices[other],
                          largest):
                    shared_values[slot] = shared_values[other]
                    shared_indices[slot] = shared_indices[other]
            cuda.syncthreads()
            half //= 2
        if ty == 0 and j < inner:
            values[o, j] = shared_values[tx]
            indices[o, j] = shared_indices[tx]
        cuda.syncthreads()  # the shared arrays are read before the next tile overwrites them
'''

_LINES_SOURCE = '''
@kernel
def scan_lines(x, out, reverse, product, start):
    # One thread a line of the (outer, n, inner) view: the running sums (products with
    # ``product``) along n accumulate in start's type (float64 or int64), from ``start`` (0 or
    # 1), and each is rounded once, on its store (as the CPU does).
    inner = x.shape[2]
    n = x.shape[1]
    for t in range(cuda.grid(1), x.shape[0] * inner, cuda.gridsize(1)):
        o = t // inner
        i = t - o * inner
        total = start
        for k in range(n):
            j = n - 1 - k if reverse else k
            if product:
                total *= x[o, j, i]
            else:
                total += x[o, j, i]
            out[o, j, i] = total


@kernel
def scan_chunks(x, out, partial, chunk, reverse, product, start, totals):
    # One thread a chunk of a line; chunk 0 holds the first ``chunk`` elements in the order of
    # the scan. With ``totals``, the chunk's total goes to ``partial`` (outer, chunks, inner) in
    # the wide type; otherwise ``partial`` holds the inclusive scan of those totals, and the
    # chunk's running values start from the one before it, each rounded once, on its store.
    inner = x.shape[2]
    n = x.shape[1]
    chunks = partial.shape[1]
    for t in range(cuda.grid(1), x.shape[0] * chunks * inner, cuda.gridsize(1)):
        o = t // (chunks * inner)
        rest = t - o * chunks * inner
        q = rest // inner
        i = rest - q * inner
        total = start
        if not totals and q > 0:
            total = partial[o, q - 1, i]
        for k in range(q * chunk, min(n, (q + 1) * chunk)):
            j = n - 1 - k if reverse else k
            if product:
                total *= x[o, j, i]
            else:
                total += x[o, j, i]
            if not totals:
                out[o, j, i] = total
        if totals:
            partial[o, q, i] = total


@device_function
def sorts_before(w, v, descending):
    # Whether ``w`` goes strictly before ``v``: NaN is the largest value, NaNs are equal.
    w_nan = w != w
    v_nan = v != v
    if descending:
        return (w_nan and not v_nan) or (not w_nan and not v_nan and w > v)
    return (v_nan and not w_nan) or (not v_nan and not w_nan and w < v)


@kernel
def sort_lines(x, values, indices, descending):
    # One thread an element of the (outer, n, inner) view: its rank in its line is the number
    # of elements placed before it, ties going by position (a stable sort). O(n) a thread:
    # for short lines, where one launch beats the merge passes below.
    n = x.shape[1]
    inner = x.shape[2]
    for t in range(cuda.grid(1), x.shape[0] * n * inner, cuda.gridsize(1)):
        o = t // (n * inner)
        rest = t - o * n * inner
        k = rest // inner
        c = rest - k * inner
        v = x[o, k, c]
        rank = 0
        for j in range(n):
            w = x[o, j, c]
            if sorts_before(w, v, descending) or (j < k and not sorts_before(v, w, descending)):
                rank += 1
        values[o, rank, c] = v
        indices[o, rank, c] = k


@kernel
def merge_runs(keys, positions, values, indices, width, first, descending):
    # One pass of a bottom-up merge sort along n of the (outer, n, inner) view: the sorted runs
    # of ``width`` elements in ``keys`` (their source positions in ``positions``; with ``first``,
    # the position is the element's own) are merged in pairs into ``values``/``indices``. An
    # element's place in the merged run is its place in its own run plus the number of the
    # other run's elements that go before it, found by binary search; on ties the left run's
    # elements go first, so the sort is stable. log2(n) passes of O(log n) a thread.
    n = keys.shape[1]
    inner = keys.shape[2]
    for t in range(cuda.grid(1), keys.shape[0] * n * inner, cuda.gridsize(1)):
        o = t // (n * inner)
        rest = t - o * n * inner
        k = rest // inner
        c = rest - k * inner
        v = keys[o, k, c]
        start = k - k % width
        left = (start // width) % 2 == 0
        if left:
            lo = start + width
            merged = start
        else:
            lo = start - width
            merged = lo
        hi = min(lo + width, n)  # below lo for a left run with no partner (the line's tail)
        other = lo
        # the other run's elements placed before v form a prefix of it: find its end
        while lo < hi:
            mid = (lo + hi) // 2
            w = keys[o, mid, c]
            if sorts_before(w, v, descending) or (not left and not sorts_before(v, w, descending)):
                lo = mid + 1
            else:
                hi = mid
        place = merged + (k - start) + (lo - other)
        values[o, place, c] = v
        indices[o, place, c] = k if first else positions[o, k, c]
'''



_axis_modules: dict[tuple[str, str], Any] = {}
_lines_modules: list[Any] = []
_extreme_modules: dict[str, Any] = {}


def axis_module(name: str, acc: str) -> Any:
    """The ``{name}_rows``/``{name}_cols`` kernels (aliased ``rows``/``cols``) of the axis
    reduction ``name`` (sum or prod) accumulating in ``acc`` (float64, float32, int64)."""
    module = _axis_modules.get((name, acc))
    if module is None:
        if acc not in ("float64", "float32", "int64"):
            raise ValueError(f"unsupported accumulator {acc!r}")
        op, identity = _AXIS_OPS[name]
        source = ck._header() + block_reduce_source()
        if name != "sum":  # block_sum is in every block_reduce_source
            source += _BLOCK_OP_TEMPLATE.format(name=name, combine=f"v {op} other")
        source += _AXIS_SOURCE.format(acc=acc, name=name, op=op, identity=identity)
        module = _axis_modules[name, acc] = ck._load(f"cuda_reduce_{name}_{acc}", source)
    return module


def sum_module(acc: str) -> Any:
    """The ``sum_rows``/``sum_cols`` kernels accumulating in ``acc`` (float64, float32, int64)."""
    return axis_module("sum", acc)


def extreme_module(lane: str) -> Any:
    """The max/min kernels comparing values as ``lane`` (float32, float64 or int64)."""
    module = _extreme_modules.get(lane)
    if module is None:
        source = ck._header() + block_reduce_source() + _EXTREME_SOURCE.format(lane=lane)
        module = _extreme_modules[lane] = ck._load(f"cuda_reduce_extreme_{lane}", source)
    return module


def _lane(dtype: np.dtype) -> str:
    # Warp shuffles move 32- and 64-bit words: floats travel as they are, integers and bools
    # as int64 (exact for all but uint64 beyond 2**63).
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return dtype.name
    if dtype.kind in "biu" and dtype != np.uint64:
        return "int64"
    raise TypeError(f"max/min on CUDA does not support {dtype}")


def _pow2_at_least(n: int, low: int = 1) -> int:
    p = low
    while p < n:
        p *= 2
    return p


def _row_threads(n: int) -> int:
    return min(MAX_REDUCE_THREADS, _pow2_at_least(-(-n // ROW_ELEMENTS_PER_THREAD), WARP_SIZE))


def _segments(blocks: int, n: int, segment: int | None) -> int:
    """How many segments to cut a reduced length ``n`` into (see the module docstring)."""
    if segment is not None:
        return max(1, -(-n // max(1, segment)))
    if blocks >= TARGET_BLOCKS or n < 2 * MIN_SEGMENT:
        return 1
    return max(1, min(-(-TARGET_BLOCKS // max(blocks, 1)), n // MIN_SEGMENT))


# ------------------------------------------------------------------------------ sums

def default_sum_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of a sum, as PyTorch: floats keep theirs, integers and bools give int64."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.int64)


def _groups(shape: Sequence[int], axes: Sequence[int]) -> list[list[Any]]:
    """``[size, reduced]`` runs of ``shape``: size-1 dimensions dropped, adjacent dimensions of
    one kind merged (a C-contiguous array reshapes to the merged sizes for free)."""
    reduced = set(axes)
    groups: list[list[Any]] = []
    for d, size in enumerate(shape):
        if size == 1:
            continue
        kind = d in reduced
        if groups and groups[-1][1] == kind:
            groups[-1][0] *= size
        else:
            groups.append([size, kind])
    return groups


def _normalize_axes(axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    normal = []
    for axis in axes:
        if not -max(ndim, 1) <= axis < max(ndim, 1):
            raise ValueError(f"axis {axis} is out of range for {ndim} dimensions")
        normal.append(axis % max(ndim, 1))
    if len(set(normal)) != len(normal):
        raise ValueError(f"repeated axis in {tuple(axes)}")
    return tuple(sorted(normal))


def reduced_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    """``shape`` without ``axes``."""
    dropped = set(_normalize_axes(axes, len(shape)))
    return tuple(size for d, size in enumerate(shape) if d not in dropped)


def sum_axes(x: Any, axes: Sequence[int], out: Any = None, *, dtype: Any = None,
             segment: int | None = None, stream: Any = 0) -> Any:
    """The sum of C-contiguous device array ``x`` over ``axes`` (any set, negative allowed;
    all of them for a full sum), written to and returned as ``out``: a C-contiguous device
    array of :func:`reduced_shape`, allocated in ``dtype`` (default
    :func:`default_sum_dtype`) when None.

    Floats accumulate in float64, integers and bools in int64 (as ``cpu.reduce_sum``).
    ``segment`` forces the segment length of the reduced axes (tests; see the module docstring).

    Example::

        x = cuda.to_device(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
        sum_axes(x, (0, 2)).copy_to_host()   # array([ 60.,  92., 124.], dtype=float32)
    """
    return _reduce_axes("sum", x, axes, out, dtype, segment, stream)


def prod_axes(x: Any, axes: Sequence[int], out: Any = None, *, dtype: Any = None,
              segment: int | None = None, stream: Any = 0) -> Any:
    """The product of C-contiguous device array ``x`` over ``axes``, as :func:`sum_axes` sums
    (same shapes, dtypes and accumulators; no elements give 1). As ``cpu.reduce_prod``, ``x``
    is first cast to a ``dtype`` that differs from its own.

    Example::

        x = cuda.to_device(np.arange(1, 7, dtype=np.float32).reshape(2, 3))
        prod_axes(x, (1,)).copy_to_host()   # array([  6., 120.], dtype=float32)
    """
    if dtype is not None and np.dtype(dtype) != x.dtype and x.size:
        cast = ck._cuda().device_array(x.shape, np.dtype(dtype), stream=stream)
        ck.elementwise(_identity, cast.reshape(x.size), [x.reshape(x.size)], stream=stream)
        x = cast
    return _reduce_axes("prod", x, axes, out, dtype, segment, stream)


def _reduce_axes(name: str, x: Any, axes: Sequence[int], out: Any, dtype: Any, segment: int | None,
                 stream: Any) -> Any:
    """:func:`sum_axes` for the axis reduction ``name`` (sum or prod)."""
    cuda = ck._cuda()
    shape = tuple(x.shape)
    axes = _normalize_axes(axes, len(shape))
    if out is None:
        out_dtype = default_sum_dtype(x.dtype) if dtype is None else np.dtype(dtype)
        out = cuda.device_array(reduced_shape(shape, axes), out_dtype, stream=stream)
    _check_out(out, reduced_shape(shape, axes))
    if not x.is_c_contiguous():
        raise ValueError(f"{name}_axes needs a C-contiguous input")
    if out.size == 0:
        return out
    if x.size == 0:
        _, identity = _AXIS_OPS[name]
        out.copy_to_device(np.full(out.shape, identity, out.dtype), stream=ck.queued(stream))
        return out
    acc = ck._accumulator(x.dtype, None)
    groups = _groups(shape, axes)
    if not any(reduced for _, reduced in groups):
        # Nothing to combine (only size-1 axes): a copy, cast to the output dtype.
        ck.elementwise(_identity, out.reshape(out.size), [x.reshape(x.size)], stream=stream)
    elif len(groups) == 1 and name == "sum":
        ck.sum_all(x.reshape(x.size), out.reshape(1), acc=acc, stream=stream)
    else:
        _reduce_groups(name, x, groups, out, acc, segment, stream)
    return out


def mean_axes(x: Any, axes: Sequence[int], out: Any = None, *, dtype: Any = None,
              segment: int | None = None, stream: Any = 0) -> Any:
    """The mean of float device array ``x`` over ``axes``: the sum (as :func:`sum_axes`),
    rounded to the output dtype, divided by the count in that dtype (as ``ops.reduce.mean``;
    no elements give NaN)."""
    out_dtype = np.dtype(out.dtype if out is not None else x.dtype if dtype is None else dtype)
    if out_dtype.kind != "f":
        raise TypeError(f"mean needs a floating output dtype, got {out_dtype}")
    out = sum_axes(x, axes, out, dtype=dtype, segment=segment, stream=stream)
    count = 1
    for axis in _normalize_axes(axes, x.ndim):
        count *= x.shape[axis]
    if out.size:
        flat = out.reshape(out.size)
        ck.elementwise(_divide, flat, [flat, out.dtype.type(count)], stream=stream)
    return out


def sum_to_shape(grad: Any, shape: Sequence[int], out: Any = None, *, segment: int | None = None,
                 stream: Any = 0) -> Any:
    """Sum a broadcast gradient (C-contiguous device array of shape S) down to ``shape`` (a
    shape that broadcasts to S), as ``ops.reduce.sum_to``; the result has ``shape`` and
    ``grad``'s dtype. Returns ``grad`` itself when the shapes already match."""
    shape = tuple(shape)
    lead = grad.ndim - len(shape)
    if lead < 0 or any(s not in (1, g) for s, g in zip(shape, grad.shape[lead:])):
        raise ValueError(f"shape {shape} does not broadcast to {tuple(grad.shape)}")
    if tuple(grad.shape) == shape:
        return grad
    axes = tuple(range(lead)) + tuple(lead + d for d, s in enumerate(shape) if s == 1 and grad.shape[lead + d] != 1)
    if out is not None:
        _check_out(out, shape)
        target = out.reshape(reduced_shape(grad.shape, axes))
    else:
        target = None
    result = sum_axes(grad, axes, target, dtype=grad.dtype, segment=segment, stream=stream)
    return out if out is not None else result.reshape(shape)


def _check_out(out: Any, shape: tuple[int, ...]) -> None:
    if tuple(out.shape) != tuple(shape) or not out.is_c_contiguous():
        raise ValueError(f"out must be C-contiguous of shape {shape}, got {tuple(out.shape)}")


def _reduce_groups(name: str, x: Any, groups: list[list[Any]], out: Any, acc: str, segment: int | None,
                   stream: Any) -> None:
    """One pass per reduced group, innermost first (see the module docstring)."""
    cuda = ck._cuda()
    current = x
    groups = [list(g) for g in groups]
    while True:
        p = max(k for k, (_, reduced) in enumerate(groups) if reduced)
        outer = int(np.prod([g[0] for g in groups[:p]], dtype=np.int64))
        n = groups[p][0]
        inner = int(np.prod([g[0] for g in groups[p + 1:]], dtype=np.int64))
        del groups[p]
        if 0 < p < len(groups) and not groups[p - 1][1] and not groups[p][1]:
            groups[p - 1][0] *= groups.pop(p)[0]  # the kept neighbours are now adjacent
        last = not any(reduced for _, reduced in groups)
        target = out.reshape(outer * inner) if last else cuda.device_array(outer * inner, np.dtype(acc), stream=stream)
        reduce_axis(current.reshape(outer, n, inner), target.reshape(outer, inner), acc, segment, stream, name)
        if last:
            return
        current = target


def reduce_axis(x: Any, out: Any, acc: str, segment: int | None = None, stream: Any = 0, name: str = "sum") -> None:
    """``out[o, j] = sum(x[o, :, j])`` (or the product, for ``name`` prod) for a C-contiguous
    (outer, n, inner) ``x`` and an (outer, inner) ``out``, accumulating in ``acc``."""
    cuda = ck._cuda()
    outer, n, inner = x.shape
    module = axis_module(name, acc)
    if inner == 1:
        rows = x.reshape(outer, n)
        segments = _segments(outer, n, segment)
        if segments == 1:
            _launch_rows(module, rows, out.reshape(outer, 1), n, stream)
            return
        seg = -(-n // segments)
        segments = -(-n // seg)
        partial = cuda.device_array((outer, segments), np.dtype(acc), stream=stream)
        _launch_rows(module, rows, partial, seg, stream)
        _launch_rows(module, partial, out.reshape(outer, 1), segments, stream)
        return
    blocks, _ = _cols_launch(outer, inner, n)
    segments = _segments(blocks, n, segment)
    if segments == 1:
        _launch_cols(module, x, out.reshape(outer, 1, inner), n, stream)
        return
    seg = -(-n // segments)
    segments = -(-n // seg)
    partial = cuda.device_array((outer, segments, inner), np.dtype(acc), stream=stream)
    _launch_cols(module, x, partial, seg, stream)
    _launch_cols(module, partial, out.reshape(outer, 1, inner), segments, stream)


def _launch_rows(module: Any, x: Any, out: Any, seg: int, stream: Any) -> None:
    blocks = min(out.shape[0] * out.shape[1], ck.MAX_BLOCKS)
    ck.launch(module.rows, blocks, _row_threads(min(seg, x.shape[1])), stream, x, out, seg)


def _launch_cols(module: Any, x: Any, out: Any, seg: int, stream: Any) -> None:
    outer, segments, inner = out.shape
    blocks, threads = _cols_launch(outer * segments, inner, min(seg, x.shape[1]))
    ck.launch(module.cols, blocks, threads, stream, x, out, seg)


def _cols_launch(outer: int, inner: int, n: int) -> tuple[int, tuple[int, int]]:
    """Grid and (x, y) block of a column kernel: x threads cover up to a warp of adjacent
    columns, y threads (a power of two) split the ``n`` rows each block reduces."""
    width_x = min(WARP_SIZE, _pow2_at_least(inner))
    width_y = min(MAX_REDUCE_THREADS // width_x, _pow2_at_least(n))
    return min(outer * -(-inner // width_x), ck.MAX_BLOCKS), (width_x, width_y)


def _identity(x):
    return x


def _divide(x, d):
    return x / d


# ------------------------------------------------------------------------- max and min

def extreme(x: Any, axis: int, largest: bool, values: Any = None, indices: Any = None, *,
            stream: Any = 0) -> tuple[Any, Any]:
    """``(values, indices)`` of the max (``largest``) or min of C-contiguous device array ``x``
    along ``axis``: arrays of ``x``'s shape without ``axis``, in ``x``'s dtype and int64.
    The first NaN wins; among equal extremes the first index (as ``cpu.reduce_extreme``)."""
    cuda = ck._cuda()
    shape = tuple(x.shape)
    (axis,) = _normalize_axes((axis,), len(shape))
    kept = reduced_shape(shape, (axis,)) if shape else ()
    n = shape[axis] if shape else 1
    if n == 0:
        raise ValueError("max/min of an empty dimension has no identity")
    if not x.is_c_contiguous():
        raise ValueError("extreme needs a C-contiguous input")
    if values is None:
        values = cuda.device_array(kept, x.dtype, stream=stream)
    if indices is None:
        indices = cuda.device_array(kept, np.int64, stream=stream)
    _check_out(values, kept)
    _check_out(indices, kept)
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    if outer * inner == 0:
        return values, indices
    module = extreme_module(_lane(x.dtype))
    if inner == 1:
        rows = x.reshape(outer, n)
        blocks = min(outer, ck.MAX_BLOCKS)
        ck.launch(module.extreme_rows, blocks, _row_threads(n), stream, rows, values.reshape(outer),
                  indices.reshape(outer), bool(largest))
    else:
        blocks, threads = _cols_launch(outer, inner, n)
        ck.launch(module.extreme_cols, blocks, threads, stream, x.reshape(outer, n, inner),
                  values.reshape(outer, inner), indices.reshape(outer, inner), bool(largest))
    return values, indices


def amax(x: Any, axis: int, out: Any = None, *, largest: bool = True, stream: Any = 0) -> Any:
    """The max (or, with ``largest=False``, min) values of ``x`` along ``axis``, NaN winning."""
    values, _ = extreme(x, axis, largest, out, stream=stream)
    return values


def lines_module() -> Any:
    """The scan (cumulative sum and product) and sort kernels along one axis of an (outer, n,
    inner) view."""
    if not _lines_modules:
        _lines_modules.append(ck._load("cuda_lines", ck._header() + _LINES_SOURCE))
    return _lines_modules[0]


# A line scanned by one thread is a serial chain of n dependent loads; when the lines alone
# give fewer threads than this, long lines are cut into chunks scanned in parallel.
SCAN_PARALLEL_LINES = 4096
# ... lines shorter than this stay serial (chunking them saves less than its two extra launches).
SCAN_CHUNK_MIN = 256
# Lines up to this long are sorted by ranking (one launch, O(n) a thread); longer ones by
# log2(n) merge passes (O(log n) a thread each).
SORT_RANK_MAX = 64


def scan(x: Any, axis: int, dtype: Any, reverse: bool = False, product: bool = False, stream: Any = 0) -> Any:
    """The cumulative sum (product with ``product``) of the C-contiguous ``x`` along ``axis``
    (from the end with ``reverse``), as a new array of ``dtype``; floats accumulate in float64
    and integers and bools in int64, each running value rounded to ``dtype`` (``cpu``'s
    ``np.cumsum``/``np.cumprod`` with a wide accumulator).

    Few long lines are scanned in chunks of about sqrt(n): a launch reduces each chunk, one
    thread a line scans those totals (``scan_lines`` over them), and a launch scans each chunk
    from the total before it. Integer scans are exact either way; float scans are associated
    differently from the serial scan, in float64."""
    dtype = np.dtype(dtype)
    shape = tuple(x.shape)
    out = ck._cuda().device_array(shape, dtype, stream=stream)
    outer, n, inner = lines = _lines(shape, axis) if shape else (1, 1, 1)
    if not outer * n * inner:
        return out
    start = (np.float64 if dtype.kind == "f" else np.int64)(1 if product else 0)
    product, reverse = bool(product), bool(reverse)
    module = lines_module()
    source, target = x.reshape(lines), out.reshape(lines)
    if outer * inner >= SCAN_PARALLEL_LINES or n < SCAN_CHUNK_MIN:
        ck.launch(module.scan_lines, *ck.launch_shape(outer * inner), stream, source, target, reverse, product, start)
        return out
    chunk = max(1, int(np.sqrt(n)))
    chunks = -(-n // chunk)
    totals = ck._cuda().device_array((outer, chunks, inner), start.dtype, stream=stream)
    threads = ck.launch_shape(outer * chunks * inner)
    ck.launch(module.scan_chunks, *threads, stream, source, target, totals, chunk, reverse, product, start, True)
    offsets = ck._cuda().device_array((outer, chunks, inner), start.dtype, stream=stream)
    ck.launch(module.scan_lines, *ck.launch_shape(outer * inner), stream, totals, offsets, False, product, start)
    ck.launch(module.scan_chunks, *threads, stream, source, target, offsets, chunk, reverse, product, start, False)
    return out


def _lines(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    """``shape`` as (outer, n, inner) around ``axis``."""
    return (int(np.prod(shape[:axis], dtype=np.int64)), int(shape[axis]),
            int(np.prod(shape[axis + 1:], dtype=np.int64)))


def sort(x: Any, axis: int, descending: bool, stream: Any = 0) -> tuple[Any, Any]:
    """``(values, int64 indices)`` of the C-contiguous ``x`` (not bool) sorted along ``axis``:
    stable, NaN the largest (``ops.sort`` on the CPU orders the same way)."""
    cuda = ck._cuda()
    shape = tuple(x.shape)
    values = cuda.device_array(shape, x.dtype, stream=stream)
    indices = cuda.device_array(shape, np.int64, stream=stream)
    size = int(np.prod(shape, dtype=np.int64))
    if not size:
        return values, indices
    lines = _lines(shape, axis)
    module, grid = lines_module(), ck.launch_shape(size)
    n = lines[1]
    if n <= SORT_RANK_MAX:
        ck.launch(module.sort_lines, *grid, stream, x.reshape(lines), values.reshape(lines),
                  indices.reshape(lines), bool(descending))
        return values, indices
    # Ping-pong between the results and temporaries, so that the last pass writes the results.
    passes = (n - 1).bit_length()
    spare = (cuda.device_array(lines, x.dtype, stream=stream), cuda.device_array(lines, np.int64, stream=stream))
    results = (values.reshape(lines), indices.reshape(lines))
    keys, positions = x.reshape(lines), spare[1]  # the first pass reads no positions
    for p in range(passes):
        into = results if (passes - 1 - p) % 2 == 0 else spare
        ck.launch(module.merge_runs, *grid, stream, keys, positions, *into, 1 << p, p == 0, bool(descending))
        keys, positions = into
    return values, indices
