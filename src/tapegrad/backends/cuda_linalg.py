"""CUDA matrix products: ``matmul`` (2-D and batched 3-D), ``addmm`` and ``bmm`` on numba device
arrays of float32 or float64.

Which implementation runs:

- **cuBLAS through CuPy**, when ``cupy`` imports (and not under the simulator, nor with
  ``TAPEGRAD_CUDA_NO_CUPY=1``): the device arrays are wrapped without a copy
  (``cupy.asarray`` reads ``__cuda_array_interface__``) and ``cupy.matmul`` calls cuBLAS,
  which is several times faster than any kernel here. ``cublas_available()`` says which.
- otherwise the **tiled kernels** below: each block computes a ``BM x BN`` tile of the output,
  stepping through ``K`` in ``BK``-wide slabs of ``a`` and ``b`` staged in shared memory; each
  thread accumulates a ``TM x TN`` patch in registers (its rows ``THREADS_Y`` apart and its
  columns ``THREADS_X`` apart, so shared-memory reads of a warp hit distinct banks and global
  stores are coalesced). Products accumulate in the operands' dtype, as BLAS does (the CPU
  backend calls BLAS too).

Operands may be any strided 2-D (or 3-D) device arrays, since Numba compiles the kernels per
array layout: slices, and transposed views made by :func:`transpose` or :func:`strided_view`.
(numba's own ``DeviceNDArray.T`` is not a view: it launches a kernel that copies.) Slab loads
are ordered by whichever index is contiguous in memory (chosen per launch from the strides),
so a transposed weight is read as efficiently as a plain one.
"""
from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple

import numpy as np

from . import cuda_capture
from . import cuda_kernels as ck


class Tile(NamedTuple):
    """A block's output tile (``bm`` x ``bn``), the K-slab width ``bk`` and each thread's patch
    (``tm`` x ``tn``); the block has ``(bn // tn) * (bm // tm)`` threads."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int


# The fastest of the tilings tried on an H100 (4096^3 products): float32, 128 threads with
# 8x4 outputs each, ran 9.2 TFLOP/s (64x64 tiles: 6.7-7.1); float64, 256 threads with 4x4
# outputs each, 6.2 (the 128x64 tile: 4.0). cuBLAS ran 50 TFLOP/s in both.
DEFAULT_TILES = {np.dtype(np.float32): Tile(128, 64, 8, 8, 4), np.dtype(np.float64): Tile(64, 64, 16, 4, 4)}
# The simulator runs each thread of a block as a Python thread and each barrier as a wait
# for all of them, and its tensors are tiny: 16 threads a block and wide K-slabs (few
# barriers) run about 10x faster than the default tiles there. The kernel source is the same
# (other constants); the tests compile the default tiles to PTX.
SIMULATOR_TILE = Tile(32, 32, 32, 8, 8)


def _default_tile(dtype: Any) -> Tile:
    import numba

    return SIMULATOR_TILE if numba.config.ENABLE_CUDASIM else DEFAULT_TILES[np.dtype(dtype)]

_TILED_SOURCE = '''
BM = {bm}
BN = {bn}
BK = {bk}
TM = {tm}
TN = {tn}
THREADS_X = BN // TN
THREADS_Y = BM // TM
THREADS = THREADS_X * THREADS_Y
'''

# The kernel body, written once; ``{z}`` is the batch index prefix ("" or "z, ") and ``{c}``
# the code that adds the bias (2-D only).
_GEMM_TEMPLATE = '''

@kernel
def {name}(a, b, out{params}, a_k_contiguous, b_n_contiguous):
    sa = cuda.shared.array((BK, BM), out.dtype)  # a's slab, transposed: sa[k, m]
    sb = cuda.shared.array((BK, BN), out.dtype)
    acc = cuda.local.array((TM, TN), out.dtype)
    a_frag = cuda.local.array(TM, out.dtype)
    b_frag = cuda.local.array(TN, out.dtype)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    tid = ty * THREADS_X + tx
    {batch}
    m_size = out.shape[{rows}]
    n_size = out.shape[{rows} + 1]
    k_size = a.shape[{rows} + 1]
    row0 = cuda.blockIdx.y * BM
    col0 = cuda.blockIdx.x * BN
    for m in range(TM):
        for n in range(TN):
            acc[m, n] = 0
    for k0 in range(0, k_size, BK):
        for e in range(tid, BM * BK, THREADS):
            if a_k_contiguous:
                mm = e // BK
                kk = e - mm * BK
            else:
                kk = e // BM
                mm = e - kk * BM
            if row0 + mm < m_size and k0 + kk < k_size:
                sa[kk, mm] = a[{z}row0 + mm, k0 + kk]
            else:
                sa[kk, mm] = 0
        for e in range(tid, BK * BN, THREADS):
            if b_n_contiguous:
                kk = e // BN
                nn = e - kk * BN
            else:
                nn = e // BK
                kk = e - nn * BK
            if k0 + kk < k_size and col0 + nn < n_size:
                sb[kk, nn] = b[{z}k0 + kk, col0 + nn]
            else:
                sb[kk, nn] = 0
        cuda.syncthreads()
        for kk in range(BK):
            for m in range(TM):
                a_frag[m] = sa[kk, ty + m * THREADS_Y]
            for n in range(TN):
                b_frag[n] = sb[kk, tx + n * THREADS_X]
            for m in range(TM):
                for n in range(TN):
                    acc[m, n] += a_frag[m] * b_frag[n]
        cuda.syncthreads()
    for m in range(TM):
        r = row0 + ty + m * THREADS_Y
        if r < m_size:
            for n in range(TN):
                j = col0 + tx + n * THREADS_X
                if j < n_size:
                    value = acc[m, n]
{store}
'''

_GEMM_STORE = '''\
                    if has_bias:
                        # bias is (1 or M, 1 or N): broadcast through index 0
                        value = alpha * value + beta * bias[r if bias.shape[0] != 1 else 0,
                                                            j if bias.shape[1] != 1 else 0]
                    elif scale:
                        value = alpha * value
                    out[r, j] = value'''

_BMM_STORE = '''\
                    out[z, r, j] = value'''

_modules: dict[Tile, Any] = {}


def tiled_module(tile: Tile) -> Any:
    """The tiled kernels for ``tile``: ``gemm(a, b, out, bias, alpha, beta, has_bias, scale,
    a_k_contiguous, b_n_contiguous)`` (2-D) and ``bmm(a, b, out, a_k_contiguous,
    b_n_contiguous)`` (3-D, one grid z index per batch entry)."""
    module = _modules.get(tile)
    if module is None:
        if tile.bm % tile.tm or tile.bn % tile.tn or (tile.bm // tile.tm) * (tile.bn // tile.tn) > 1024:
            raise ValueError(f"bad tile {tile}")
        source = (ck._header() + _TILED_SOURCE.format(**tile._asdict())
                  + _GEMM_TEMPLATE.format(name="gemm", params=", bias, alpha, beta, has_bias, scale", batch="",
                                          rows=0, z="", store=_GEMM_STORE)
                  + _GEMM_TEMPLATE.format(name="bmm", params="", batch="z = cuda.blockIdx.z", rows=1, z="z, ",
                                          store=_BMM_STORE))
        name = f"cuda_matmul_{tile.bm}x{tile.bn}x{tile.bk}_{tile.tm}x{tile.tn}"
        module = _modules[tile] = ck._load(name, source)
    return module


# ------------------------------------------------------------------------- strided views

def strided_view(buffer: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
    """A device-array view of ``shape`` over device array ``buffer`` (whose first element is
    the view's first element) with non-negative element ``strides``; no copy. This turns the
    ``(buffer, strides)`` operands of ``cuda_kernels.run_chain`` into matmul operands."""
    shape = tuple(int(s) for s in shape)
    strides = tuple(int(s) for s in strides)
    if len(shape) != len(strides) or min(strides, default=0) < 0:
        raise ValueError(f"need {len(shape)} non-negative strides, got {strides}")
    itemsize = np.dtype(buffer.dtype).itemsize
    byte_strides = tuple(s * itemsize for s in strides)
    extent = 1 + sum((n - 1) * s for n, s in zip(shape, strides)) if all(shape) else 0
    if extent > buffer.size:
        raise ValueError(f"a {shape} view with strides {strides} reaches past the {buffer.size}-element buffer")
    return _view(buffer, shape, byte_strides)


def _view(buffer: Any, shape: tuple[int, ...], byte_strides: tuple[int, ...]) -> Any:
    """A view of ``buffer``'s memory from its first element (unchecked)."""
    import numba

    if numba.config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        host = np.lib.stride_tricks.as_strided(buffer._ary, shape, byte_strides)
        return FakeCUDAArray(host, stream=buffer.stream)
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray(shape, byte_strides, buffer.dtype, stream=buffer.stream, gpu_data=buffer.gpu_data)


def transpose(x: Any) -> Any:
    """The transpose of 2-D device array ``x`` as a view (numba's ``x.T`` copies)."""
    if x.ndim != 2:
        raise ValueError(f"transpose takes a 2-D array, got {x.ndim}-D")
    rows, cols = tuple(x.shape)
    # Unchecked: x's own strides already stay inside its memory.
    return _view(x, (cols, rows), tuple(x.strides)[::-1])


# --------------------------------------------------------------------------- cuBLAS

@functools.cache
def _cupy() -> Any:
    """CuPy when it can be used here, else None (looked up once)."""
    import numba

    if numba.config.ENABLE_CUDASIM or os.environ.get("TAPEGRAD_CUDA_NO_CUPY") == "1":
        return None
    try:
        import cupy
    except Exception:  # noqa: BLE001  (not installed, or installed without a usable CUDA)
        return None
    return cupy


def cublas_available() -> bool:
    """Whether products run through cuBLAS (CuPy) rather than the tiled kernels."""
    return _cupy() is not None


def _cublas_operand(cupy: Any, x: Any) -> Any:
    """``x`` as a CuPy array with ``x``'s own strides: numba-cuda's array interface drops the
    strides of a broadcast view (it calls a zero stride contiguous), so CuPy would read an
    expanded batch as a dense one."""
    array = cupy.asarray(x)
    strides = tuple(x.strides)
    if array.strides != strides:
        array = cupy.lib.stride_tricks.as_strided(array, tuple(x.shape), strides)
    return array


def _cublas_product(a: Any, b: Any, out: Any, bias: Any, alpha: float, beta: float, stream: Any) -> None:
    cupy = _cupy()
    result, left, right = cupy.asarray(out), _cublas_operand(cupy, a), _cublas_operand(cupy, b)
    added = None if bias is None else cupy.asarray(bias)

    def product() -> None:
        # Numba's stream 0 is the legacy default stream, CuPy's default too; another stream is
        # handed over by its handle so the work stays ordered with the caller's kernels.
        with cupy.cuda.ExternalStream(int(stream)) if stream else cupy.cuda.Stream.null:
            cupy.matmul(left, right, out=result)
            if alpha != 1:
                cupy.multiply(result, alpha, out=result)
            if added is not None:
                cupy.add(result, beta * added, out=result)

    # A recorded product keeps its CuPy operands: a replay wraps nothing.
    cuda_capture.run(product)


# --------------------------------------------------------------------------- products

def _check(a: Any, b: Any, ndim: int) -> None:
    if a.ndim != ndim or b.ndim != ndim:
        raise ValueError(f"expected {ndim}-D operands, got {a.ndim}-D and {b.ndim}-D")
    if a.dtype != b.dtype or np.dtype(a.dtype) not in (np.float32, np.float64):
        raise TypeError(f"CUDA matmul takes two float32 or two float64 operands, got {a.dtype} and {b.dtype}")
    # tuple(): the simulator's shapes refuse negative indices.
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)
    if a_shape[-1] != b_shape[-2] or a_shape[:-2] != b_shape[:-2]:
        raise ValueError(f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)}")


def _contiguous_last(x: Any) -> bool:
    """Whether ``x``'s last index is the one adjacent in memory (it decides the load order)."""
    strides = tuple(x.strides)
    return abs(strides[-1]) <= abs(strides[-2])


def _output(a: Any, b: Any, out: Any, stream: Any) -> Any:
    shape = (*tuple(a.shape)[:-1], tuple(b.shape)[-1])
    if out is None:
        return ck._cuda().device_array(shape, a.dtype, stream=stream)
    if tuple(out.shape) != shape or out.dtype != a.dtype:
        raise ValueError(f"out must be {shape} {a.dtype}, got {tuple(out.shape)} {out.dtype}")
    return out


def _grid(m: int, n: int, batch: int, tile: Tile) -> tuple[tuple[int, int, int], tuple[int, int]]:
    if m > 65535 * tile.bm or batch > 65535:
        raise ValueError(f"matrix too large for one launch: {m} rows, {batch} batches")
    return (-(-n // tile.bn), -(-m // tile.bm), batch), (tile.bn // tile.tn, tile.bm // tile.tm)


def addmm(bias: Any, a: Any, b: Any, out: Any = None, *, beta: float = 1.0, alpha: float = 1.0,
          tile: Tile | None = None, use_cublas: bool | None = None, stream: Any = 0) -> Any:
    """``out = beta * bias + alpha * (a @ b)`` for 2-D device arrays ``a`` (M, K) and ``b``
    (K, N) of one float dtype (any strides), as ``torch.addmm``: ``bias`` broadcasts to
    (M, N) (shapes (), (N,), (1, N), (M, 1), (M, N)) and is ignored when ``beta`` is 0 (a NaN
    in it does not spread); ``bias=None`` is a plain product. Returns ``out`` (a new C-contiguous
    (M, N) array when None).

    ``use_cublas`` forces (True) or avoids (False) CuPy's cuBLAS; ``tile`` sets the kernel's
    tiling (default: :data:`DEFAULT_TILES` for the dtype, :data:`SIMULATOR_TILE` in the simulator)."""
    _check(a, b, 2)
    out = _output(a, b, out, stream)
    m, n = out.shape
    if bias is not None and beta == 0:
        bias = None
    bias2 = _bias_2d(bias, m, n) if bias is not None else None
    if m == 0 or n == 0:
        return out
    if use_cublas if use_cublas is not None else cublas_available():
        _cublas_product(a, b, out, bias2, alpha, beta, stream)
        return out
    dtype = np.dtype(a.dtype).type
    dummy = bias2 if bias2 is not None else _dummy_bias(a.dtype, stream)
    tile = tile or _default_tile(a.dtype)
    blocks, threads = _grid(m, n, 1, tile)
    ck.launch(tiled_module(tile).gemm, blocks[:2], threads, stream, a, b, out, dummy, dtype(alpha), dtype(beta),
              bias2 is not None, alpha != 1, _contiguous_last(a), _contiguous_last(b))
    return out


def _bias_2d(bias: Any, m: int, n: int) -> Any:
    shape = tuple(bias.shape)
    if len(shape) > 2 or shape[-1:] not in ((), (1,), (n,)) or (len(shape) == 2 and shape[0] not in (1, m)):
        raise ValueError(f"bias of shape {shape} does not broadcast to {(m, n)}")
    if len(shape) == 2:
        return bias
    if not bias.is_c_contiguous():
        raise ValueError("a 0-d or 1-d bias must be C-contiguous")
    return bias.reshape(1, shape[0] if shape else 1)


_dummies: dict[np.dtype, Any] = {}


def _dummy_bias(dtype: Any, stream: Any) -> Any:
    # The kernel's bias argument when there is none: one shared (1, 1) array per dtype keeps
    # one compiled signature.
    dtype = np.dtype(dtype)
    dummy = _dummies.get(dtype)
    if dummy is None:
        dummy = _dummies[dtype] = ck._cuda().to_device(np.zeros((1, 1), dtype), stream=stream)
    return dummy


def bmm(a: Any, b: Any, out: Any = None, *, tile: Tile | None = None, use_cublas: bool | None = None,
        stream: Any = 0) -> Any:
    """``out[i] = a[i] @ b[i]`` for 3-D device arrays (B, M, K) and (B, K, N) of one float dtype
    (any strides; batch dimensions already matched by the caller, as ``cpu.matmul``)."""
    _check(a, b, 3)
    out = _output(a, b, out, stream)
    batch, m, n = out.shape
    if batch == 0 or m == 0 or n == 0:
        return out
    if use_cublas if use_cublas is not None else cublas_available():
        _cublas_product(a, b, out, None, 1.0, 0.0, stream)
        return out
    tile = tile or _default_tile(a.dtype)
    blocks, threads = _grid(m, n, batch, tile)
    ck.launch(tiled_module(tile).bmm, blocks, threads, stream, a, b, out, _contiguous_last(a), _contiguous_last(b))
    return out


def matmul(a: Any, b: Any, out: Any = None, *, tile: Tile | None = None, use_cublas: bool | None = None,
           stream: Any = 0) -> Any:
    """``a @ b`` for 2-D or batched 3-D float device arrays (any strides), as ``cpu.matmul``.

    Example::

        a = cuda.to_device(np.ones((3, 5), np.float32))
        matmul(a, a.T).copy_to_host()   # 3x3 of 5.0
    """
    if a.ndim == 2:
        return addmm(None, a, b, out, tile=tile, use_cublas=use_cublas, stream=stream)
    return bmm(a, b, out, tile=tile, use_cublas=use_cublas, stream=stream)
