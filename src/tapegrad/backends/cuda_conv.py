"""CUDA kernels for convolution and pooling: the device twins of ``cpu_conv``.

Every public function here has the name, arguments and results of its ``cpu_conv`` namesake
(device arrays in and out), so ``ops/conv.py`` picks a module by the buffer's device and
calls one line for both. The geometry tuples are the CPU ones (see ``cpu_conv``).

Convolution is im2col + matrix product + col2im, with the column layout of ``cpu_conv``
(``(groups, in_channels/groups * kh * kw, samples * out_h * out_w)``); the products are
batched over groups through ``cuda_linalg.matmul``. Every kernel runs one thread per element
it writes (grid-stride loops):

- ``im2col``: one thread per column entry (a copy of an input element, or 0 in the padding);
- ``col2im``: one thread per input element, gathering its taps in the order the CPU's
  scatter adds them (ky, then kx), so the sums round as on the CPU and need no atomics;
- average pooling backward likewise gathers the windows covering an input element, in the
  CPU's (oy, ox) order; the max-pooling scatter adds at saved indices with atomics (it knows
  no geometry, and windows overlap only for strides below the kernel size).

Sums of pooling windows run in float64 and are rounded once, as the CPU kernels do.
Importing this module imports ``numba.cuda`` (through ``tapegrad.cuda``): ``ops/conv.py``
imports it only for CUDA tensors.
"""
from __future__ import annotations

import inspect
import math
import textwrap
from typing import Any

import numpy as np

from .. import settings
from ..cuda._arrays import adopt, empty
from ..cuda._ops import cast, contiguous_copy, full
from ..cuda._views import permute
from . import cpu_conv, cuda_kernels as ck
from . import cuda_linalg, cuda_reduce

Geometry = tuple[int, ...]

# Column buffers hold at most this many elements; larger batches run in chunks of samples
# (the buffer is C*kh*kw times the output of the chunk). A GPU has the memory for more than
# the CPU's chunk, and fewer, larger products keep it busier.
COLUMN_CHUNK_ELEMENTS = 1 << 25

# The forward keeps its column buffer for the weight gradient up to this size.
KEPT_COLUMN_ELEMENTS = 1 << 24

_SOURCE = '''

@kernel
def im2col(x, cols, n0, geom, zero):
    # cols[g, (cl*kh + ky)*kw + kx, local*oh*ow + oy*ow + ox] = x[n0 + local, g*Cg + cl, iy, ix]
    # (0 where (iy, ix) falls in the padding).
    kh, kw, oh, ow, sh, sw, ph, pw, dh, dw = geom
    k_group = cols.shape[1]
    width_cols = cols.shape[2]
    group_channels = k_group // (kh * kw)
    length = oh * ow
    height = x.shape[2]
    width = x.shape[3]
    for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        col = e % width_cols
        rest = e // width_cols
        row = rest % k_group
        g = rest // k_group
        local = col // length
        position = col - local * length
        oy = position // ow
        ox = position - oy * ow
        kx = row % kw
        rest = row // kw
        ky = rest % kh
        cl = rest // kh
        iy = oy * sh - ph + ky * dh
        ix = ox * sw - pw + kx * dw
        value = zero
        if 0 <= iy < height and 0 <= ix < width:
            value = x[n0 + local, g * group_channels + cl, iy, ix]
        cols[g, row, col] = value


@kernel
def col2im(cols, gx, n0, geom, zero):
    # The adjoint of im2col for samples n0 .. n0 + count: each input element sums the column
    # entries copied from it, taps in (ky, kx) order as the CPU's scatter adds them.
    kh, kw, oh, ow, sh, sw, ph, pw, dh, dw = geom
    length = oh * ow
    count = cols.shape[2] // length
    channels = gx.shape[1]
    height = gx.shape[2]
    width = gx.shape[3]
    group_channels = cols.shape[1] // (kh * kw)
    plane = height * width
    sample = channels * plane
    for e in range(cuda.grid(1), count * sample, cuda.gridsize(1)):
        local = e // sample
        rest = e - local * sample
        c = rest // plane
        rest -= c * plane
        iy = rest // width
        ix = rest - iy * width
        g = c // group_channels
        cl = c - g * group_channels
        acc = zero
        for ky in range(kh):
            ty = iy + ph - ky * dh
            if ty < 0 or ty % sh != 0 or ty // sh >= oh:
                continue
            start = local * length + (ty // sh) * ow
            for kx in range(kw):
                tx = ix + pw - kx * dw
                if tx < 0 or tx % sw != 0 or tx // sw >= ow:
                    continue
                acc += cols[g, (cl * kh + ky) * kw + kx, start + tx // sw]
        gx[n0 + local, c, iy, ix] = acc


@kernel
def rows_to_output(rows, bias, out, n0):
    # out[n0 + local, o, l] = rows[o, local*L + l] + bias[o]
    channels = out.shape[1]
    length = out.shape[2]
    count = rows.shape[1] // length
    for e in range(cuda.grid(1), count * channels * length, cuda.gridsize(1)):
        local = e // (channels * length)
        rest = e - local * channels * length
        o = rest // length
        i = rest - o * length
        out[n0 + local, o, i] = rows[o, local * length + i] + bias[o]


@kernel
def max_pool(x, out, indices, geom, lowest):
    # PyTorch's CPU rule (as cpu_conv): taps from the first in-bounds one; a larger value or
    # a NaN replaces the best so far, so ties report the first maximum and NaN propagates.
    oh = out.shape[1]
    ow = out.shape[2]
    height = x.shape[1]
    width = x.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, oy, ox = plane_position(e, oh, ow)
        best, where = max_window(x, p, oy, ox, height, width, geom, lowest)
        out[p, oy, ox] = best
        indices[p, oy, ox] = where


@kernel
def scatter_planes(grad, indices, out):
    # out[p, indices[p, i]] += grad[p, i] (out zeroed first; windows may overlap: atomics)
    count = grad.shape[1]
    for e in range(cuda.grid(1), grad.size, cuda.gridsize(1)):
        p = e // count
        i = e - p * count
        # int(): an int64 index is a NumPy scalar under the simulator, which CudaArray indexes
        # only through its slow (host-copying) path; on a GPU it is free.
        cuda.atomic.add(out, (p, int(indices[p, i])), grad[p, i])


@kernel
def gather_planes(source, indices, out):
    # out[p, i] = source[p, indices[p, i]]
    count = out.shape[1]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p = e // count
        i = e - p * count
        out[p, i] = source[p, int(indices[p, i])]  # int(): as in scatter_planes


@device_function
def plane_position(e, rows, cols):
    # Element e of a stack of rows x cols planes: (plane, row, column).
    p = e // (rows * cols)
    rest = e - p * rows * cols
    r = rest // cols
    return p, r, rest - r * cols


@device_function
def first_covering(i, kernel, stride, pad):
    # The first output whose window (start o*stride - pad, kernel wide) reaches input i.
    t = i + pad - kernel
    return 0 if t < 0 else t // stride + 1


@kernel
def avg_pool(x, out, geom, zero):
    oh = out.shape[1]
    ow = out.shape[2]
    height = x.shape[1]
    width = x.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, oy, ox = plane_position(e, oh, ow)
        out[p, oy, ox] = avg_value(x, p, oy, ox, height, width, geom)


@kernel
def avg_pool_backward(grad, out, geom, zero):
    # Each input element gathers the shares of the windows covering it, in the (oy, ox)
    # order the CPU's scatter adds them, rounding to the dtype after each add as it does.
    kh, kw, sh, sw, ph, pw = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    oh = grad.shape[1]
    ow = grad.shape[2]
    height = out.shape[1]
    width = out.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, iy, ix = plane_position(e, height, width)
        acc = zero
        for oy in range(first_covering(iy, kh, sh, ph), min(oh, (iy + ph) // sh + 1)):
            for ox in range(first_covering(ix, kw, sw, pw), min(ow, (ix + pw) // sw + 1)):
                y0, y1, x0, x1, factor = avg_window(oy, ox, height, width, geom)
                if y0 <= iy < y1 and x0 <= ix < x1:
                    acc = type(zero)(acc + grad[p, oy, ox] / factor)
        out[p, iy, ix] = acc


@kernel
def adaptive_avg_pool(x, out):
    oh = out.shape[1]
    ow = out.shape[2]
    height = x.shape[1]
    width = x.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, oy, ox = plane_position(e, oh, ow)
        y0, y1 = adaptive_bounds(oy, oh, height)
        x0, x1 = adaptive_bounds(ox, ow, width)
        acc = 0.0
        for iy in range(y0, y1):
            for ix in range(x0, x1):
                acc += x[p, iy, ix]
        out[p, oy, ox] = acc / ((y1 - y0) * (x1 - x0))


@kernel
def adaptive_avg_pool_backward(grad, out, zero):
    # Output cells covering input row iy start at floor(iy*oh/H) and end before
    # ceil((iy+1)*oh/H); each candidate is checked against its bounds.
    oh = grad.shape[1]
    ow = grad.shape[2]
    height = out.shape[1]
    width = out.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, iy, ix = plane_position(e, height, width)
        acc = zero
        for oy in range((iy * oh) // height, min(oh, ((iy + 1) * oh + height - 1) // height)):
            y0, y1 = adaptive_bounds(oy, oh, height)
            if iy < y0 or iy >= y1:
                continue
            for ox in range((ix * ow) // width, min(ow, ((ix + 1) * ow + width - 1) // width)):
                x0, x1 = adaptive_bounds(ox, ow, width)
                if x0 <= ix < x1:
                    acc = type(zero)(acc + grad[p, oy, ox] / ((y1 - y0) * (x1 - x0)))
        out[p, iy, ix] = acc


@kernel
def gather_rows_cols(x, rows, cols, out):
    # out[p, i, j] = x[p, rows[i], cols[j]]  (reflect / replicate / circular padding)
    oh = out.shape[1]
    ow = out.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, i, j = plane_position(e, oh, ow)
        out[p, i, j] = x[p, int(rows[i]), int(cols[j])]  # int(): as in scatter_planes


@kernel
def scatter_rows_cols(grad, rows, cols, out, zero):
    # The adjoint, out[p, rows[i], cols[j]] += grad[p, i, j], gathered: each input element adds
    # the padded positions that copy it in the (i, j) order the CPU's scatter adds them, so
    # the sums round as on the CPU and need no atomics.
    gh = grad.shape[1]
    gw = grad.shape[2]
    height = out.shape[1]
    width = out.shape[2]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, r, c = plane_position(e, height, width)
        acc = zero
        for i in range(gh):
            if rows[i] == r:
                for j in range(gw):
                    if cols[j] == c:
                        acc = type(zero)(acc + grad[p, i, j])
        out[p, r, c] = acc
'''


# A scalar definition pasted into a generated CUDA module, hence unannotated.
def _add(a, b):
    return a + b


_loaded: list[Any] = []


def _shared_source(fn: Any) -> str:
    """The source of one of ``cpu_conv``'s window helpers, to define the same function as a
    device function: the pooling windows are computed by one definition on both devices."""
    source = textwrap.dedent(inspect.getsource(fn.py_func))
    return "\n".join(line for line in source.splitlines() if not line.startswith("@"))


def module() -> Any:
    """The convolution and pooling kernels, generated and loaded on first use."""
    if not _loaded:
        # Rebound under its own name too: one helper calls another by its CPU name.
        shared = "".join(f"\n{_shared_source(fn)}\n{fn.py_func.__name__} = device_function({fn.py_func.__name__})\n"
                         f"{name} = {fn.py_func.__name__}\n"
                         for name, fn in (("avg_window", cpu_conv._avg_window),
                                          ("adaptive_bounds", cpu_conv._adaptive_bounds),
                                          ("max_window", cpu_conv._max_window),
                                          ("avg_value", cpu_conv._avg_value)))
        # The CPU definitions carry annotations: not evaluated, as in their own module.
        source = "from __future__ import annotations\n" + ck._header() + shared + _SOURCE
        _loaded.append(ck._load("cuda_conv_pool", source))
    return _loaded[0]


def _launch(kernel: Any, size: int, *args: Any) -> None:
    if size:
        blocks, threads = ck.launch_shape(size)
        ck.launch(kernel, blocks, threads, 0, *args)


def contiguous(data: Any, dtype: Any = None) -> Any:
    """``data`` as a C-contiguous device array in ``dtype`` (itself when it already is)."""
    if dtype is not None and np.dtype(dtype) != data.dtype:
        return cast(data, dtype)
    return data if data.is_c_contiguous() else contiguous_copy(data)


def _zero(dtype: Any) -> Any:
    return np.dtype(dtype).type(0)


# ------------------------------------------------------------------------ convolution

def _chunk(n: int, columns_per_sample: int) -> int:
    return max(1, min(n, COLUMN_CHUNK_ELEMENTS // max(1, columns_per_sample)))


def _fill_columns(x: Any, groups: int, k_group: int, n0: int, count: int, length: int, geom: Geometry) -> Any:
    cols = empty((groups, k_group, count * length), x.dtype)
    _launch(module().im2col, cols.size, x, cols, n0, geom, _zero(x.dtype))
    return cols


def _add_into(total: Any, part: Any) -> None:
    """``total += part`` for C-contiguous device arrays of one shape."""
    flat_total = total.reshape(total.size)
    ck.elementwise(_add, flat_total, [flat_total, part.reshape(part.size)])


def conv2d_forward(x: Any, weight: Any, bias: Any, geom: Geometry, groups: int,
                   keep_columns: bool = False) -> tuple[Any, Any]:
    """``cpu_conv.conv2d_forward`` on the device: the convolution of C-contiguous ``x``
    (N, C, H, W) with ``weight`` (O, C/groups, kh, kw), and the kept column buffer or None."""
    n, out_channels = x.shape[0], weight.shape[0]
    kh, kw, oh, ow = geom[0], geom[1], geom[2], geom[3]
    length = oh * ow
    out = empty((n, out_channels, oh, ow), x.dtype)
    k_group = weight.shape[1] * kh * kw
    if out.size == 0:
        return out, None
    if bias is None:
        bias = full((out_channels,), 0, x.dtype)
    out3 = out.reshape(n, out_channels, length)
    if k_group == 0:  # no input channels: the output is the bias alone
        rows = full((out_channels, n * length), 0, x.dtype)
        _launch(module().rows_to_output, out.size, rows, bias, out3, 0)
        return out, None
    w3 = weight.reshape(groups, out_channels // groups, k_group)
    step = _chunk(n, groups * k_group * length)
    cols = None
    for n0 in range(0, n, step):
        count = min(step, n - n0)
        cols = _fill_columns(x, groups, k_group, n0, count, length, geom)
        rows = adopt(cuda_linalg.matmul(w3, cols))  # (groups, O/groups, count*L)
        _launch(module().rows_to_output, rows.size, rows.reshape(out_channels, count * length), bias, out3, n0)
    kept = keep_columns and step >= n and cols is not None and cols.size <= KEPT_COLUMN_ELEMENTS
    return out, cols if kept else None


def conv2d_backward(grad: Any, x: Any, weight: Any, input_shape: tuple[int, ...], weight_shape: tuple[int, ...],
                    geom: Geometry, groups: int, need_input: bool, need_weight: bool, need_bias: bool,
                    columns: Any = None) -> tuple[Any, Any, Any]:
    """``cpu_conv.conv2d_backward`` on the device: the gradients asked for, from C-contiguous
    ``grad`` (N, O, oh, ow), ``x`` (for the weight) and ``weight`` (for the input)."""
    n, out_channels = grad.shape[0], grad.shape[1]
    kh, kw, oh, ow = geom[0], geom[1], geom[2], geom[3]
    length = oh * ow
    dtype = grad.dtype
    k_group = weight_shape[1] * kh * kw
    grad3 = grad.reshape(n, out_channels, length)
    grad_bias = adopt(cuda_reduce.sum_axes(grad3, (0, 2), dtype=dtype)) if need_bias else None
    if grad.size == 0 or k_group == 0:
        return (full(input_shape, 0, dtype) if need_input else None,
                full(weight_shape, 0, dtype) if need_weight else None, grad_bias)
    grad_input = empty(input_shape, dtype) if need_input else None
    grad_weight = empty(weight_shape, dtype) if need_weight else None
    group_out = out_channels // groups
    w3 = weight.reshape(groups, group_out, k_group) if need_input else None
    gw3 = grad_weight.reshape(groups, group_out, k_group) if need_weight else None
    step = _chunk(n, groups * k_group * length)
    for n0 in range(0, n, step):
        count = min(step, n - n0)
        # (count, O, L) -> (O, count*L): the output gradient as the products' rows.
        rows = contiguous_copy(permute(grad3[n0:n0 + count], (1, 0, 2))).reshape(groups, group_out, count * length)
        if need_weight:
            cols = columns if columns is not None and count == n else _fill_columns(
                x, groups, k_group, n0, count, length, geom)
            if n0 == 0:
                cuda_linalg.matmul(rows, permute(cols, (0, 2, 1)), out=gw3)
            else:
                _add_into(gw3, adopt(cuda_linalg.matmul(rows, permute(cols, (0, 2, 1)))))
        if need_input:
            cols = adopt(cuda_linalg.matmul(permute(w3, (0, 2, 1)), rows))  # (groups, Kg, count*L)
            _launch(module().col2im, count * math.prod(input_shape[1:]), cols, grad_input, n0, geom, _zero(dtype))
    return grad_input, grad_weight, grad_bias


# ------------------------------------------------------------------------ max pooling

def max_pool2d_forward(x: Any, out_hw: tuple[int, int], geom: Geometry) -> tuple[Any, Any]:
    """(values, int64 flat indices within each H*W plane) of the max pooling of planes ``x``."""
    out = empty((x.shape[0],) + tuple(out_hw), x.dtype)
    indices = empty(tuple(out.shape), np.int64)
    _launch(module().max_pool, out.size, x, out, indices, geom, x.dtype.type(-np.inf))
    return out, indices


def max_pool2d_backward(grad: Any, indices: Any, input_shape: tuple[int, ...]) -> Any:
    """``grad`` (P, oh, ow) added into zeros of ``input_shape`` (P, H, W) at ``indices``."""
    planes = grad.shape[0]
    out = full(tuple(input_shape), 0, grad.dtype)
    if out.size:
        settings.alert_not_deterministic("max_pool2d_with_indices_backward_cuda")
        _launch(module().scatter_planes, grad.size, grad.reshape(planes, -1), indices.reshape(planes, -1),
                out.reshape(planes, -1))
    return out


def max_pool2d_gather(source: Any, indices: Any) -> Any:
    """``source`` (P, H, W) read at ``indices`` (P, oh, ow): the adjoint of the scatter."""
    planes = source.shape[0]
    out = empty(tuple(indices.shape), source.dtype)
    if out.size:
        _launch(module().gather_planes, out.size, source.reshape(planes, -1), indices.reshape(planes, -1),
                out.reshape(planes, -1))
    return out


# ------------------------------------------------------------------------ average pooling

def avg_pool2d_forward(x: Any, out_hw: tuple[int, int], geom: Geometry) -> Any:
    """Average pooling of planes ``x`` (P, H, W), as ``cpu_conv.avg_pool2d_forward``."""
    out = empty((x.shape[0],) + tuple(out_hw), x.dtype)
    _launch(module().avg_pool, out.size, x, out, geom, _zero(x.dtype))
    return out


def avg_pool2d_backward(grad: Any, input_shape: tuple[int, ...], geom: Geometry) -> Any:
    """The adjoint of ``avg_pool2d_forward``: ``grad`` (P, oh, ow) spread over (P, H, W)."""
    out = empty(tuple(input_shape), grad.dtype)
    _launch(module().avg_pool_backward, out.size, grad, out, geom, _zero(grad.dtype))
    return out


def adaptive_avg_pool2d_forward(x: Any, out_hw: tuple[int, int]) -> Any:
    """Adaptive average pooling of planes ``x`` (P, H, W) to ``out_hw``."""
    out = empty((x.shape[0],) + tuple(out_hw), x.dtype)
    _launch(module().adaptive_avg_pool, out.size, x, out)
    return out


def adaptive_avg_pool2d_backward(grad: Any, input_shape: tuple[int, ...]) -> Any:
    """The adjoint of ``adaptive_avg_pool2d_forward``."""
    out = empty(tuple(input_shape), grad.dtype)
    _launch(module().adaptive_avg_pool_backward, out.size, grad, out, _zero(grad.dtype))
    return out


# ------------------------------------------------------------------------ padding by index maps

def _on_device(index: Any) -> Any:
    """An int64 index map on the device: host maps (as long as a padded side) are copied."""
    return ck.upload(index) if isinstance(index, np.ndarray) else index


def gather_rows_cols(x: Any, rows: Any, cols: Any) -> Any:
    """``x[:, rows][:, :, cols]`` for C-contiguous device planes ``x`` (P, H, W) and int64
    maps (host or device arrays)."""
    out = empty((x.shape[0], rows.shape[0], cols.shape[0]), x.dtype)
    _launch(module().gather_rows_cols, out.size, x, _on_device(rows), _on_device(cols), out)
    return out


def scatter_rows_cols(grad: Any, rows: Any, cols: Any, input_shape: tuple[int, ...]) -> Any:
    """The adjoint of ``gather_rows_cols``: ``grad`` added back into zeros of ``input_shape``."""
    out = empty(tuple(input_shape), grad.dtype)
    _launch(module().scatter_rows_cols, out.size, grad, _on_device(rows), _on_device(cols), out,
            _zero(grad.dtype))
    return out
