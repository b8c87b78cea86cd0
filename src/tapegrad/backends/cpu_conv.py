"""CPU kernels for convolution and pooling, jitted by Numba on first use.

Convolution runs as im2col + matrix product + col2im. The column buffer of a chunk of
samples has the layout ``(groups, in_channels/groups * kh * kw, samples * out_h * out_w)``:
every copy between it and an image (or an output) then moves contiguous runs of one row,
and the products are three BLAS calls per group (``np.dot`` inside njit):

    forward       out[g]   = weight[g]   @ cols[g]         (Og, Kg) @ (Kg, M)
    weight grad   gw[g]    = grad_out[g] @ cols[g].T       (Og, M)  @ (M, Kg)
    input grad    dcols[g] = weight[g].T @ grad_out[g]     (Kg, Og) @ (Og, M)

``geom`` tuples carry the geometry as plain ints (one typed tuple keeps the kernels'
argument lists short): ``(kh, kw, out_h, out_w, stride_h, stride_w, pad_top, pad_left,
dilation_h, dilation_w)`` for convolution. Padding is given as top/left offsets and the
output size, so asymmetric padding (``padding='same'`` with an even kernel) needs no copy.

Each loop kernel exists twice: a serial one and a ``prange`` one over independent samples
(convolution) or planes (pooling), used from ``PARALLEL_THRESHOLD`` elements on and launched
behind the backend's lock. Both inline one body (``_inline``).
The two are separate functions (not one function jitted twice) because Numba's on-disk
cache keys a function by name and signature only, so two variants of one function would
overwrite each other's cache entries. They are written out rather than made by one factory
taking ``(count, *args)`` because Numba refuses to inline a call with ``*args``, and a body
that is called, not inlined, runs 4-5x slower.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numba import njit, prange

from .cpu import _PARALLEL_LOCK, PARALLEL_THRESHOLD, _prepare_numba

# Column buffers hold at most this many elements; larger batches run in chunks of samples so
# memory stays bounded (the buffer is C*kh*kw times the output of the chunk).
COLUMN_CHUNK_ELEMENTS = 1 << 22

# The forward keeps its column buffer for the weight gradient up to this size (it lives until
# the backward has run); larger ones are rebuilt from the input.
KEPT_COLUMN_ELEMENTS = 1 << 20

Geometry = tuple[int, ...]


def _jit(parallel: bool = False, fastmath: Any = False) -> Callable[[Callable[..., Any]], Any]:
    """``njit`` with the on-disk cache when a cache location can be used."""
    def decorate(function: Callable[..., Any]) -> Any:
        options: dict[str, Any] = dict(nogil=True, error_model="numpy", parallel=parallel, fastmath=fastmath)
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError:  # no writable cache location: compile in memory
            return njit(**options)(function)
    return decorate


def _inline(function: Callable[..., Any]) -> Any:
    """A per-sample or per-plane body, inlined into the serial and the threaded loop that
    call it (a regular call in a hot loop keeps LLVM from optimising across it: 4-5x slower)."""
    return njit(inline="always", nogil=True, error_model="numpy")(function)


def _launch(serial: Any, parallel: Any, size: int, *args: Any) -> None:
    """Run the serial kernel, or the threaded one (serialized) for ``size`` >= the threshold."""
    if size >= PARALLEL_THRESHOLD:
        _prepare_numba()
        with _PARALLEL_LOCK:
            parallel(*args)
    else:
        serial(*args)


# ----------------------------------------------------------------------------- helpers

@_inline
def _valid_range(offset: int, size: int, stride: int, count: int) -> tuple[int, int]:
    # [lo, hi) of the o in [0, count) with 0 <= o * stride + offset < size.
    lo = max(0, (stride - 1 - offset) // stride)
    hi = min(count, (size - offset + stride - 1) // stride)
    return lo, max(lo, hi)


# ----------------------------------------------------------------------------- im2col

@_inline
def _im2col_sample(x: np.ndarray, cols: np.ndarray, n0: int, local: int, geom: Geometry) -> None:
    # Rows (c, ky, kx) of sample n0 + local, at that sample's block of columns.
    kh, kw, oh, ow, sh, sw, ph, pw, dh, dw = geom
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    group_channels = channels // cols.shape[0]
    n = n0 + local
    base = local * oh * ow
    for c in range(channels):
        g = c // group_channels
        cl = c - g * group_channels
        for ky in range(kh):
            y_lo, y_hi = _valid_range(ky * dh - ph, height, sh, oh)
            for kx in range(kw):
                row = (cl * kh + ky) * kw + kx
                shift = kx * dw - pw
                x_lo, x_hi = _valid_range(shift, width, sw, ow)
                for oy in range(oh):
                    start = base + oy * ow
                    if oy < y_lo or oy >= y_hi:
                        for ox in range(ow):
                            cols[g, row, start + ox] = 0
                        continue
                    iy = oy * sh - ph + ky * dh
                    for ox in range(x_lo):
                        cols[g, row, start + ox] = 0
                    for ox in range(x_lo, x_hi):
                        cols[g, row, start + ox] = x[n, c, iy, ox * sw + shift]
                    for ox in range(x_hi, ow):
                        cols[g, row, start + ox] = 0


@_jit()
def _im2col(x: np.ndarray, cols: np.ndarray, n0: int, geom: Geometry) -> None:
    for local in range(cols.shape[2] // (geom[2] * geom[3])):
        _im2col_sample(x, cols, n0, local, geom)


@_jit(parallel=True)
def _im2col_parallel(x: np.ndarray, cols: np.ndarray, n0: int, geom: Geometry) -> None:
    for local in prange(cols.shape[2] // (geom[2] * geom[3])):
        _im2col_sample(x, cols, n0, local, geom)


@_inline
def _col2im_sample(cols: np.ndarray, gx: np.ndarray, n0: int, local: int, geom: Geometry) -> None:
    # The adjoint of _im2col_sample: sample n0 + local of gx gathers every column entry
    # copied from it. It walks the taps as _im2col_sample does; the two nests stay separate
    # so that neither inner loop branches on which of the two it is.
    kh, kw, oh, ow, sh, sw, ph, pw, dh, dw = geom
    channels, height, width = gx.shape[1], gx.shape[2], gx.shape[3]
    group_channels = channels // cols.shape[0]
    n = n0 + local
    base = local * oh * ow
    for c in range(channels):
        for iy in range(height):
            for ix in range(width):
                gx[n, c, iy, ix] = 0
    for c in range(channels):
        g = c // group_channels
        cl = c - g * group_channels
        for ky in range(kh):
            y_lo, y_hi = _valid_range(ky * dh - ph, height, sh, oh)
            for kx in range(kw):
                row = (cl * kh + ky) * kw + kx
                shift = kx * dw - pw
                x_lo, x_hi = _valid_range(shift, width, sw, ow)
                for oy in range(y_lo, y_hi):
                    iy = oy * sh - ph + ky * dh
                    start = base + oy * ow
                    for ox in range(x_lo, x_hi):
                        gx[n, c, iy, ox * sw + shift] += cols[g, row, start + ox]


@_jit()
def _col2im(cols: np.ndarray, gx: np.ndarray, n0: int, geom: Geometry) -> None:
    for local in range(cols.shape[2] // (geom[2] * geom[3])):
        _col2im_sample(cols, gx, n0, local, geom)


@_jit(parallel=True)
def _col2im_parallel(cols: np.ndarray, gx: np.ndarray, n0: int, geom: Geometry) -> None:
    for local in prange(cols.shape[2] // (geom[2] * geom[3])):
        _col2im_sample(cols, gx, n0, local, geom)


# ------------------------------------------------------- between (N, O, L) and (O, N*L)

@_inline
def _rows_to_output_sample(rows: np.ndarray, bias: np.ndarray, out: np.ndarray, n0: int, local: int) -> None:
    # out[n0 + local, o, :] = rows[o, local*L:(local+1)*L] + bias[o]
    length = out.shape[2]
    start = local * length
    n = n0 + local
    for o in range(out.shape[1]):
        b = bias[o]
        for i in range(length):
            out[n, o, i] = rows[o, start + i] + b


@_jit()
def _rows_to_output(rows: np.ndarray, bias: np.ndarray, out: np.ndarray, n0: int) -> None:
    for local in range(rows.shape[1] // out.shape[2]):
        _rows_to_output_sample(rows, bias, out, n0, local)


@_jit(parallel=True)
def _rows_to_output_parallel(rows: np.ndarray, bias: np.ndarray, out: np.ndarray, n0: int) -> None:
    for local in prange(rows.shape[1] // out.shape[2]):
        _rows_to_output_sample(rows, bias, out, n0, local)


@_inline
def _output_to_rows_sample(grad: np.ndarray, rows: np.ndarray, n0: int, local: int) -> None:
    # rows[o, local*L:(local+1)*L] = grad[n0 + local, o, :]
    length = grad.shape[2]
    start = local * length
    n = n0 + local
    for o in range(grad.shape[1]):
        for i in range(length):
            rows[o, start + i] = grad[n, o, i]


@_jit()
def _output_to_rows(grad: np.ndarray, rows: np.ndarray, n0: int) -> None:
    for local in range(rows.shape[1] // grad.shape[2]):
        _output_to_rows_sample(grad, rows, n0, local)


@_jit(parallel=True)
def _output_to_rows_parallel(grad: np.ndarray, rows: np.ndarray, n0: int) -> None:
    for local in prange(rows.shape[1] // grad.shape[2]):
        _output_to_rows_sample(grad, rows, n0, local)


# Reassociation lets the sum vectorise; the float64 accumulator keeps float32 sums accurate.
@_jit(fastmath={"reassoc", "nsz", "contract"})
def _bias_grad(grad: np.ndarray, out: np.ndarray) -> None:
    # out[o] = sum over samples and positions of grad[n, o, l]
    for o in range(grad.shape[1]):
        acc = 0.0
        for n in range(grad.shape[0]):
            for i in range(grad.shape[2]):
                acc += grad[n, o, i]
        out[o] = acc


# ----------------------------------------------------------------------------- products

@_jit()
def _gemm_forward(weight: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> None:
    for g in range(weight.shape[0]):
        np.dot(weight[g], cols[g], rows[g])


@_jit()
def _gemm_weight_grad(rows: np.ndarray, cols: np.ndarray, grad_weight: np.ndarray, accumulate: bool) -> None:
    for g in range(rows.shape[0]):
        if accumulate:
            grad_weight[g] += np.dot(rows[g], cols[g].T)
        else:
            np.dot(rows[g], cols[g].T, grad_weight[g])


@_jit()
def _gemm_input_grad(weight: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    for g in range(weight.shape[0]):
        np.dot(weight[g].T, rows[g], cols[g])


# ------------------------------------------------------------------------ convolution API

def _chunk(n: int, columns_per_sample: int) -> int:
    return max(1, min(n, COLUMN_CHUNK_ELEMENTS // max(1, columns_per_sample)))


def _fill_columns(x: np.ndarray, groups: int, k_group: int, n0: int, count: int, length: int,
                  geom: Geometry) -> np.ndarray:
    cols = np.empty((groups, k_group, count * length), x.dtype)
    _launch(_im2col, _im2col_parallel, cols.size, x, cols, n0, geom)
    return cols


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, geom: Geometry,
                   groups: int, keep_columns: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """The convolution of C-contiguous ``x`` (N, C, H, W) with ``weight`` (O, C/groups, kh, kw),
    and, with ``keep_columns``, the column buffer of ``x`` when the whole batch made one chunk
    of at most ``KEPT_COLUMN_ELEMENTS`` (the weight gradient reuses it instead of rebuilding it).

    >>> geom = (3, 3, 4, 4, 1, 1, 1, 1, 1, 1)   # 3x3 kernel, 4x4 output, padding 1
    >>> conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), None, geom, 1)[0][0, 0, 0]
    array([4., 6., 6., 4.])
    """
    n, out_channels = x.shape[0], weight.shape[0]
    kh, kw, oh, ow = geom[0], geom[1], geom[2], geom[3]
    length = oh * ow
    out = np.empty((n, out_channels, oh, ow), x.dtype)
    k_group = weight.shape[1] * kh * kw
    if out.size == 0:
        return out, None
    if bias is None:
        bias = np.zeros(out_channels, x.dtype)
    if k_group == 0:  # no input channels: the output is the bias alone
        out[...] = bias.reshape(1, -1, 1, 1)
        return out, None
    w3 = weight.reshape(groups, out_channels // groups, k_group)
    out3 = out.reshape(n, out_channels, length)
    step = _chunk(n, groups * k_group * length)
    cols = None
    for n0 in range(0, n, step):
        count = min(step, n - n0)
        cols = _fill_columns(x, groups, k_group, n0, count, length, geom)
        rows = np.empty((groups, out_channels // groups, count * length), x.dtype)
        _gemm_forward(w3, cols, rows)
        _launch(_rows_to_output, _rows_to_output_parallel, rows.size, rows.reshape(out_channels, -1),
                bias, out3, n0)
    kept = keep_columns and step >= n and cols is not None and cols.size <= KEPT_COLUMN_ELEMENTS
    return out, cols if kept else None


def conv2d_backward(grad: np.ndarray, x: np.ndarray | None, weight: np.ndarray | None,
                    input_shape: tuple[int, ...], weight_shape: tuple[int, ...], geom: Geometry,
                    groups: int, need_input: bool, need_weight: bool, need_bias: bool,
                    columns: np.ndarray | None = None,
                    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of the convolution for C-contiguous ``grad`` (N, O, oh, ow): with respect to
    the input (needs ``weight``), the weight (needs ``x``, or the forward's ``columns``) and
    the bias, each when asked for. The output gradient is rearranged once per chunk for both
    products."""
    n, out_channels = grad.shape[0], grad.shape[1]
    kh, kw, oh, ow = geom[0], geom[1], geom[2], geom[3]
    length = oh * ow
    dtype = grad.dtype
    k_group = weight_shape[1] * kh * kw
    grad_bias = None
    grad3 = grad.reshape(n, out_channels, length)
    if need_bias:
        grad_bias = np.empty(out_channels, dtype)
        _bias_grad(grad3, grad_bias)
    if grad.size == 0 or k_group == 0:
        return (np.zeros(input_shape, dtype) if need_input else None,
                np.zeros(weight_shape, dtype) if need_weight else None, grad_bias)
    # Every element is written below: each sample's planes by col2im, the weight by the first
    # chunk's product.
    grad_input = np.empty(input_shape, dtype) if need_input else None
    grad_weight = np.empty(weight_shape, dtype) if need_weight else None
    group_out = out_channels // groups
    w3 = weight.reshape(groups, group_out, k_group) if need_input else None
    gw3 = grad_weight.reshape(groups, group_out, k_group) if need_weight else None
    step = _chunk(n, groups * k_group * length)
    for n0 in range(0, n, step):
        count = min(step, n - n0)
        rows = np.empty((groups, group_out, count * length), dtype)
        _launch(_output_to_rows, _output_to_rows_parallel, rows.size, grad3,
                rows.reshape(out_channels, -1), n0)
        if need_weight:
            if columns is not None and count == n:
                cols = columns
            else:
                cols = _fill_columns(x, groups, k_group, n0, count, length, geom)
            _gemm_weight_grad(rows, cols, gw3, n0 > 0)
        if need_input:
            cols = np.empty((groups, k_group, count * length), dtype)
            _gemm_input_grad(w3, rows, cols)
            _launch(_col2im, _col2im_parallel, cols.size, cols, grad_input, n0, geom)
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------- max pooling
# Pooling kernels see planes: (P, H, W) inputs and (P, oh, ow) outputs, P = N * C.
# Pool geometry: (kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w).

@_inline
def _max_window(x: np.ndarray, p: int, oy: int, ox: int, height: int, width: int, geom: Geometry,
                lowest: float) -> tuple[float, int]:
    # (max, flat index in the plane) of output (oy, ox)'s window (also a CUDA device function).
    kh, kw, sh, sw, ph, pw, dh, dw = geom
    y0 = oy * sh - ph
    y1 = min(y0 + (kh - 1) * dh + 1, height)
    while y0 < 0:
        y0 += dh
    x0 = ox * sw - pw
    x1 = min(x0 + (kw - 1) * dw + 1, width)
    while x0 < 0:
        x0 += dw
    best = lowest
    where = y0 * width + x0
    for iy in range(y0, y1, dh):
        for ix in range(x0, x1, dw):
            v = x[p, iy, ix]
            if v > best or v != v:
                best = v
                where = iy * width + ix
    return best, where


@_inline
def _max_pool_plane(x: np.ndarray, out: np.ndarray, indices: np.ndarray, p: int,
                    geom: Geometry, fast_2x2: bool) -> None:
    # PyTorch's CPU rule: taps from the first in-bounds one, a larger value or a NaN replaces
    # the best so far, so ties report the first maximum and NaN propagates.
    kh, kw, sh, sw, ph, pw, dh, dw = geom
    height, width = x.shape[1], x.shape[2]
    if fast_2x2:
        # 2x2 windows inside the input, unrolled: loops of two taps cost ~10x more.
        for oy in range(out.shape[1]):
            y0 = oy * sh
            for ox in range(out.shape[2]):
                x0 = ox * sw
                best = x[p, y0, x0]
                where = y0 * width + x0
                v = x[p, y0, x0 + 1]
                if v > best or v != v:
                    best = v
                    where = y0 * width + x0 + 1
                v = x[p, y0 + 1, x0]
                if v > best or v != v:
                    best = v
                    where = (y0 + 1) * width + x0
                v = x[p, y0 + 1, x0 + 1]
                if v > best or v != v:
                    best = v
                    where = (y0 + 1) * width + x0 + 1
                out[p, oy, ox] = best
                indices[p, oy, ox] = where
        return
    for oy in range(out.shape[1]):
        for ox in range(out.shape[2]):
            best, where = _max_window(x, p, oy, ox, height, width, geom, -np.inf)
            out[p, oy, ox] = best
            indices[p, oy, ox] = where


@_jit()
def _max_pool(x: np.ndarray, out: np.ndarray, indices: np.ndarray, geom: Geometry, fast_2x2: bool) -> None:
    for p in range(x.shape[0]):
        _max_pool_plane(x, out, indices, p, geom, fast_2x2)


@_jit(parallel=True)
def _max_pool_parallel(x: np.ndarray, out: np.ndarray, indices: np.ndarray,
                       geom: Geometry, fast_2x2: bool) -> None:
    for p in prange(x.shape[0]):
        _max_pool_plane(x, out, indices, p, geom, fast_2x2)


@_inline
def _scatter_plane(grad: np.ndarray, indices: np.ndarray, out: np.ndarray, p: int) -> None:
    # out[p, indices[p, i]] += grad[p, i]  (out is (P, H*W), grad and indices (P, oh*ow))
    for i in range(out.shape[1]):
        out[p, i] = 0
    for i in range(grad.shape[1]):
        out[p, indices[p, i]] += grad[p, i]


@_jit()
def _scatter(grad: np.ndarray, indices: np.ndarray, out: np.ndarray) -> None:
    for p in range(grad.shape[0]):
        _scatter_plane(grad, indices, out, p)


@_jit(parallel=True)
def _scatter_parallel(grad: np.ndarray, indices: np.ndarray, out: np.ndarray) -> None:
    for p in prange(grad.shape[0]):
        _scatter_plane(grad, indices, out, p)


@_jit()
def _gather(source: np.ndarray, indices: np.ndarray, out: np.ndarray) -> None:
    # out[p, i] = source[p, indices[p, i]]
    for p in range(out.shape[0]):
        for i in range(out.shape[1]):
            out[p, i] = source[p, indices[p, i]]


def max_pool2d_forward(x: np.ndarray, out_hw: tuple[int, int], geom: Geometry
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(values, flat indices within each H*W plane) of the max pooling of C-contiguous planes
    ``x`` (P, H, W).

    >>> max_pool2d_forward(np.arange(16.).reshape(1, 4, 4), (2, 2), (2, 2, 2, 2, 0, 0, 1, 1))[1]
    array([[[ 5,  7],
            [13, 15]]])
    """
    out = np.empty((x.shape[0],) + out_hw, x.dtype)
    indices = np.empty(out.shape, np.int64)
    if out.size:
        kh, kw, sh, sw, ph, pw, dh, dw = geom
        fast_2x2 = (kh == 2 and kw == 2 and ph == 0 and pw == 0 and dh == 1 and dw == 1
                    and (out_hw[0] - 1) * sh + 2 <= x.shape[1] and (out_hw[1] - 1) * sw + 2 <= x.shape[2])
        _launch(_max_pool, _max_pool_parallel, x.size, x, out, indices, geom, fast_2x2)
    return out, indices


def max_pool2d_backward(grad: np.ndarray, indices: np.ndarray, input_shape: tuple[int, ...]
                        ) -> np.ndarray:
    """Scatter-add ``grad`` (P, oh, ow) into zeros of ``input_shape`` (P, H, W) at ``indices``."""
    planes = grad.shape[0]
    out = np.empty(input_shape, grad.dtype)
    if out.size:
        _launch(_scatter, _scatter_parallel, out.size, grad.reshape(planes, -1),
                indices.reshape(planes, -1), out.reshape(planes, -1))
    return out


def max_pool2d_gather(source: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``source`` (P, H, W) read at ``indices`` (P, oh, ow): the adjoint of the scatter."""
    planes = source.shape[0]
    out = np.empty(indices.shape, source.dtype)
    if out.size:
        _gather(source.reshape(planes, -1), indices.reshape(planes, -1), out.reshape(planes, -1))
    return out


# ----------------------------------------------------------------------------- average pooling
# Average geometry: (kh, kw, stride_h, stride_w, pad_h, pad_w, count_include_pad, divisor),
# divisor 0 meaning none given.

@_inline
def _avg_window(oy: int, ox: int, height: int, width: int, geom: Geometry) -> tuple[int, int, int, int, int]:
    # PyTorch's window of output (oy, ox): clipped bounds and the divisor.
    kh, kw, sh, sw, ph, pw, count_include_pad, divisor = geom
    y0 = oy * sh - ph
    x0 = ox * sw - pw
    y1 = min(y0 + kh, height + ph)
    x1 = min(x0 + kw, width + pw)
    pool_size = (y1 - y0) * (x1 - x0)
    y0 = max(y0, 0)
    x0 = max(x0, 0)
    y1 = min(y1, height)
    x1 = min(x1, width)
    if divisor != 0:
        factor = divisor
    elif count_include_pad != 0:
        factor = pool_size
    else:
        factor = (y1 - y0) * (x1 - x0)
    return y0, y1, x0, x1, factor


@_inline
def _avg_value(x: np.ndarray, p: int, oy: int, ox: int, height: int, width: int, geom: Geometry) -> float:
    # The average of output (oy, ox)'s window, summed in float64 (also a CUDA device function).
    y0, y1, x0, x1, factor = _avg_window(oy, ox, height, width, geom)
    if y0 >= y1 or x0 >= x1:
        return 0.0
    acc = 0.0
    for iy in range(y0, y1):
        for ix in range(x0, x1):
            acc += x[p, iy, ix]
    return acc / factor


@_inline
def _avg_pool_plane(x: np.ndarray, out: np.ndarray, p: int, geom: Geometry) -> None:
    height, width = x.shape[1], x.shape[2]
    for oy in range(out.shape[1]):
        for ox in range(out.shape[2]):
            out[p, oy, ox] = _avg_value(x, p, oy, ox, height, width, geom)


@_jit()
def _avg_pool(x: np.ndarray, out: np.ndarray, geom: Geometry) -> None:
    for p in range(x.shape[0]):
        _avg_pool_plane(x, out, p, geom)


@_jit(parallel=True)
def _avg_pool_parallel(x: np.ndarray, out: np.ndarray, geom: Geometry) -> None:
    for p in prange(x.shape[0]):
        _avg_pool_plane(x, out, p, geom)


@_inline
def _avg_pool_backward_plane(grad: np.ndarray, out: np.ndarray, p: int, geom: Geometry) -> None:
    height, width = out.shape[1], out.shape[2]
    for iy in range(height):
        for ix in range(width):
            out[p, iy, ix] = 0
    for oy in range(grad.shape[1]):
        for ox in range(grad.shape[2]):
            y0, y1, x0, x1, factor = _avg_window(oy, ox, height, width, geom)
            share = grad[p, oy, ox] / factor
            for iy in range(y0, y1):
                for ix in range(x0, x1):
                    out[p, iy, ix] += share


@_jit()
def _avg_pool_backward(grad: np.ndarray, out: np.ndarray, geom: Geometry) -> None:
    for p in range(grad.shape[0]):
        _avg_pool_backward_plane(grad, out, p, geom)


@_jit(parallel=True)
def _avg_pool_backward_parallel(grad: np.ndarray, out: np.ndarray, geom: Geometry) -> None:
    for p in prange(grad.shape[0]):
        _avg_pool_backward_plane(grad, out, p, geom)


def avg_pool2d_forward(x: np.ndarray, out_hw: tuple[int, int], geom: Geometry) -> np.ndarray:
    """Average pooling of C-contiguous planes ``x`` (P, H, W).

    >>> avg_pool2d_forward(np.arange(16.).reshape(1, 4, 4), (2, 2), (2, 2, 2, 2, 0, 0, 1, 0))
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    out = np.empty((x.shape[0],) + out_hw, x.dtype)
    if out.size:
        _launch(_avg_pool, _avg_pool_parallel, x.size, x, out, geom)
    return out


def avg_pool2d_backward(grad: np.ndarray, input_shape: tuple[int, ...], geom: Geometry) -> np.ndarray:
    """The adjoint of ``avg_pool2d_forward``: ``grad`` (P, oh, ow) spread over (P, H, W)."""
    out = np.empty(input_shape, grad.dtype)
    if out.size:
        _launch(_avg_pool_backward, _avg_pool_backward_parallel, out.size, grad, out, geom)
    return out


# ------------------------------------------------------------------------ adaptive average

@_inline
def _adaptive_bounds(o: int, out_size: int, in_size: int) -> tuple[int, int]:
    return (o * in_size) // out_size, ((o + 1) * in_size + out_size - 1) // out_size


@_inline
def _adaptive_avg_pool_plane(x: np.ndarray, out: np.ndarray, p: int) -> None:
    height, width = x.shape[1], x.shape[2]
    for oy in range(out.shape[1]):
        y0, y1 = _adaptive_bounds(oy, out.shape[1], height)
        for ox in range(out.shape[2]):
            x0, x1 = _adaptive_bounds(ox, out.shape[2], width)
            acc = 0.0
            for iy in range(y0, y1):
                for ix in range(x0, x1):
                    acc += x[p, iy, ix]
            out[p, oy, ox] = acc / ((y1 - y0) * (x1 - x0))


@_jit()
def _adaptive_avg_pool(x: np.ndarray, out: np.ndarray) -> None:
    for p in range(x.shape[0]):
        _adaptive_avg_pool_plane(x, out, p)


@_jit(parallel=True)
def _adaptive_avg_pool_parallel(x: np.ndarray, out: np.ndarray) -> None:
    for p in prange(x.shape[0]):
        _adaptive_avg_pool_plane(x, out, p)


@_inline
def _adaptive_avg_pool_backward_plane(grad: np.ndarray, out: np.ndarray, p: int) -> None:
    height, width = out.shape[1], out.shape[2]
    for iy in range(height):
        for ix in range(width):
            out[p, iy, ix] = 0
    for oy in range(grad.shape[1]):
        y0, y1 = _adaptive_bounds(oy, grad.shape[1], height)
        for ox in range(grad.shape[2]):
            x0, x1 = _adaptive_bounds(ox, grad.shape[2], width)
            share = grad[p, oy, ox] / ((y1 - y0) * (x1 - x0))
            for iy in range(y0, y1):
                for ix in range(x0, x1):
                    out[p, iy, ix] += share


@_jit()
def _adaptive_avg_pool_backward(grad: np.ndarray, out: np.ndarray) -> None:
    for p in range(grad.shape[0]):
        _adaptive_avg_pool_backward_plane(grad, out, p)


@_jit(parallel=True)
def _adaptive_avg_pool_backward_parallel(grad: np.ndarray, out: np.ndarray) -> None:
    for p in prange(grad.shape[0]):
        _adaptive_avg_pool_backward_plane(grad, out, p)


def adaptive_avg_pool2d_forward(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Adaptive average pooling of C-contiguous planes ``x`` (P, H, W) to ``out_hw``.

    >>> adaptive_avg_pool2d_forward(np.arange(9.).reshape(1, 3, 3), (2, 2))
    array([[[2., 3.],
            [5., 6.]]])
    """
    out = np.empty((x.shape[0],) + out_hw, x.dtype)
    if out.size:
        _launch(_adaptive_avg_pool, _adaptive_avg_pool_parallel, x.size, x, out)
    return out


def adaptive_avg_pool2d_backward(grad: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of ``adaptive_avg_pool2d_forward``."""
    out = np.empty(input_shape, grad.dtype)
    if out.size:
        _launch(_adaptive_avg_pool_backward, _adaptive_avg_pool_backward_parallel, out.size, grad, out)
    return out


# ----------------------------------------------------------------------------- index padding

@_jit()
def _gather_rows_cols(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, out: np.ndarray) -> None:
    # out[p, i, j] = x[p, rows[i], cols[j]]  (reflect / replicate / circular padding)
    for p in range(out.shape[0]):
        for i in range(out.shape[1]):
            r = rows[i]
            for j in range(out.shape[2]):
                out[p, i, j] = x[p, r, cols[j]]


@_jit()
def _scatter_rows_cols(grad: np.ndarray, rows: np.ndarray, cols: np.ndarray, out: np.ndarray) -> None:
    # The adjoint: out[p, rows[i], cols[j]] += grad[p, i, j]
    for p in range(out.shape[0]):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                out[p, i, j] = 0
        for i in range(grad.shape[1]):
            r = rows[i]
            for j in range(grad.shape[2]):
                out[p, r, cols[j]] += grad[p, i, j]


def gather_rows_cols(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``x[:, rows][:, :, cols]`` for C-contiguous planes ``x`` (P, H, W) and int64 maps."""
    out = np.empty((x.shape[0], rows.shape[0], cols.shape[0]), x.dtype)
    if out.size:
        _gather_rows_cols(x, rows, cols, out)
    return out


def scatter_rows_cols(grad: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                      input_shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of ``gather_rows_cols``: ``grad`` added back into zeros of ``input_shape``."""
    out = np.empty(input_shape, grad.dtype)
    if out.size:
        _scatter_rows_cols(grad, rows, cols, out)
    return out
