"""CUDA kernels of layer norm and batch norm: the device twins of ``cpu_norm``'s functions.

Each public function has the name, arguments and results of its ``cpu_norm`` namesake
(device arrays in and out), so ``ops/layers.py`` picks a module by the buffer's device. As on
the CPU, statistics and the arithmetic on them are float64 whatever the input's dtype, and
each expression is the CPU kernel's, term for term.

- per-row and per-channel sums: one block per row (layer norm) or per channel (batch norm),
  threads striding along it, totals met in shared memory (``cuda_reduce.block_sum``);
- elementwise passes (normalise, input gradients): one thread per element;
- the layer-norm weight/bias gradients: one thread per column summing down the rows, in the
  CPU's row order.

Importing this module imports ``numba.cuda``: ``ops/layers.py`` imports it only for CUDA tensors.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..cuda._arrays import empty
from . import cuda_kernels as ck
from . import cuda_reduce as cr

_SOURCE = '''
ACC = numba.float64


@kernel
def layer_norm_rows(x, weight, bias, affine, shifted, eps, out, mean, rstd):
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    rows, n = x.shape
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        total = 0.0
        for i in range(tid, n, cuda.blockDim.x):
            total += x[r, i]
        mu = block_sum(total, scratch, 0.0) / n
        squares = 0.0
        for i in range(tid, n, cuda.blockDim.x):
            d = x[r, i] - mu
            squares += d * d
        inv = 1.0 / math.sqrt(block_sum(squares, scratch, 0.0) / n + eps)
        if tid == 0:
            mean[r] = mu
            rstd[r] = inv
        for i in range(tid, n, cuda.blockDim.x):
            v = (x[r, i] - mu) * inv
            if affine:
                v = v * weight[i]
            if shifted:
                v = v + bias[i]
            out[r, i] = v


@kernel
def layer_norm_backward_rows(g, x, mean, rstd, weight, affine, dx):
    # dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * weight.
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    rows, n = x.shape
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        mu = mean[r]
        inv = rstd[r]
        dot = 0.0
        total = 0.0
        for i in range(tid, n, cuda.blockDim.x):
            gw = g[r, i] * weight[i] if affine else g[r, i]
            dot += gw * ((x[r, i] - mu) * inv)
            total += gw
        dot = block_sum(dot, scratch, 0.0) / n
        total = block_sum(total, scratch, 0.0) / n
        for i in range(tid, n, cuda.blockDim.x):
            xhat = (x[r, i] - mu) * inv
            gw = g[r, i] * weight[i] if affine else g[r, i]
            dx[r, i] = inv * (gw - total - xhat * dot)


@kernel
def layer_norm_param_grads(g, x, mean, rstd, want_dw, want_db, dw, db):
    # dw[i] = sum over rows of g * xhat, db[i] = sum of g: one thread per column.
    rows, n = x.shape
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        acc_w = 0.0
        acc_b = 0.0
        for r in range(rows):
            acc_w += g[r, i] * ((x[r, i] - mean[r]) * rstd[r])
            acc_b += g[r, i]
        if want_dw:
            dw[i] = acc_w
        if want_db:
            db[i] = acc_b


@kernel
def channel_stats(x, mean, var):
    # Per channel (one block each): the mean, then the biased variance (two passes, float64).
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    batch, channels, inner = x.shape
    count = batch * inner
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        total = 0.0
        for e in range(tid, count, cuda.blockDim.x):
            n = e // inner
            total += x[n, c, e - n * inner]
        mu = block_sum(total, scratch, 0.0) / count
        squares = 0.0
        for e in range(tid, count, cuda.blockDim.x):
            n = e // inner
            d = x[n, c, e - n * inner] - mu
            squares += d * d
        squares = block_sum(squares, scratch, 0.0)
        if tid == 0:
            mean[c] = mu
            var[c] = squares / count


@kernel
def update_running(running_mean, running_var, mean, var, count, momentum):
    # running = momentum * batch + (1 - momentum) * running, with the unbiased batch variance.
    keep = 1.0 - momentum
    unbias = count / (count - 1.0)
    for c in range(cuda.grid(1), mean.shape[0], cuda.gridsize(1)):
        running_mean[c] = momentum * mean[c] + keep * running_mean[c]
        running_var[c] = momentum * (var[c] * unbias) + keep * running_var[c]


@kernel
def channel_normalize(x, mean, var, weight, bias, affine, shifted, eps, out, invstd):
    # out = (x - mean[c]) * (invstd[c] * weight[c]) + bias[c] in float64; invstd written once
    # per channel (by the thread of its first element).
    batch, channels, inner = x.shape
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = e // (channels * inner)
        rest = e - n * channels * inner
        c = rest // inner
        s = rest - c * inner
        inv = 1.0 / math.sqrt(ACC(var[c]) + eps)
        if n == 0 and s == 0:
            invstd[c] = inv
        scale = inv * weight[c] if affine else inv
        shift = ACC(bias[c]) if shifted else 0.0
        out[n, c, s] = (x[n, c, s] - ACC(mean[c])) * scale + shift


@kernel
def channel_sums(g, x, mean, invstd, sum_g, sum_gx, want_dw, want_db, dw, db):
    # Per channel (one block each): sum(g) and sum(g * xhat) in float64.
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    batch, channels, inner = x.shape
    count = batch * inner
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        mu = mean[c]
        inv = invstd[c]
        acc_g = 0.0
        acc_gx = 0.0
        for e in range(tid, count, cuda.blockDim.x):
            n = e // inner
            gi = g[n, c, e - n * inner]
            acc_g += gi
            acc_gx += gi * ((x[n, c, e - n * inner] - mu) * inv)
        acc_g = block_sum(acc_g, scratch, 0.0)
        acc_gx = block_sum(acc_gx, scratch, 0.0)
        if tid == 0:
            sum_g[c] = acc_g
            sum_gx[c] = acc_gx
            if want_dw:
                dw[c] = acc_gx
            if want_db:
                db[c] = acc_g


@kernel
def channel_input_grad(g, x, mean, invstd, weight, affine, training, sum_g, sum_gx, dx):
    # In training dx = k * (g - mean(g) - xhat * mean(g * xhat)), else dx = g * k, where
    # k = invstd * weight.
    batch, channels, inner = x.shape
    count = batch * inner
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        n = e // (channels * inner)
        rest = e - n * channels * inner
        c = rest // inner
        s = rest - c * inner
        k = invstd[c] * weight[c] if affine else invstd[c]
        if training:
            xhat = (x[n, c, s] - mean[c]) * invstd[c]
            dx[n, c, s] = k * (g[n, c, s] - sum_g[c] / count - xhat * (sum_gx[c] / count))
        else:
            dx[n, c, s] = g[n, c, s] * k
'''

_loaded: list[Any] = []


def module() -> Any:
    """The normalisation kernels, generated and loaded on first use."""
    if not _loaded:
        source = ck._header() + cr.block_reduce_source() + _SOURCE
        _loaded.append(ck._load("cuda_norm_layers", source))
    return _loaded[0]


def _optional(data: Any, dtype: Any) -> tuple[Any, bool]:
    """An optional operand and whether it is there (an empty array stands in for None)."""
    return (empty((0,), dtype), False) if data is None else (data, True)


def _per_row(rows: int, width: int) -> tuple[int, int]:
    """(blocks, threads) for one block per row of ``width`` elements."""
    return min(rows, ck.MAX_BLOCKS), cr._row_threads(width)


def _per_element(kernel: Any, size: int, *args: Any) -> None:
    if size:
        blocks, threads = ck.launch_shape(size)
        ck.launch(kernel, blocks, threads, 0, *args)


# ---------------------------------------------------------------- layer norm

def layer_norm_forward(x: Any, weight: Any, bias: Any, eps: float) -> tuple[Any, Any, Any]:
    """``cpu_norm.layer_norm_forward`` on the device: ``(out, mean, rstd)`` of the rows of
    C-contiguous ``(rows, n)`` ``x``, the statistics in float64."""
    rows, n = tuple(x.shape)
    out = empty((rows, n), x.dtype)
    mean = empty((rows,), np.float64)
    rstd = empty((rows,), np.float64)
    if rows:
        weight, affine = _optional(weight, x.dtype)
        bias, shifted = _optional(bias, x.dtype)
        blocks, threads = _per_row(rows, n)
        ck.launch(module().layer_norm_rows, blocks, threads, 0, x, weight, bias, affine, shifted, float(eps), out, mean,
                  rstd)
    return out, mean, rstd


def layer_norm_backward(g: Any, x: Any, mean: Any, rstd: Any, weight: Any, want: tuple[bool, bool, bool]
                        ) -> tuple[Any, Any, Any]:
    """Gradients (input, weight, bias) of ``layer_norm_forward`` for ``(rows, n)`` arrays;
    the ones not in ``want`` come back as None."""
    rows, n = tuple(x.shape)
    dtype = x.dtype
    dx = empty((rows, n), dtype) if want[0] else None
    dw = empty((n,), dtype) if want[1] else None
    db = empty((n,), dtype) if want[2] else None
    kernels = module()
    if want[0] and rows:
        weight, affine = _optional(weight, dtype)
        blocks, threads = _per_row(rows, n)
        ck.launch(kernels.layer_norm_backward_rows, blocks, threads, 0, g, x, mean, rstd, weight, affine, dx)
    if want[1] or want[2]:
        unused = empty((0,), dtype)
        _per_element(kernels.layer_norm_param_grads, n, g, x, mean, rstd, want[1], want[2],
                     unused if dw is None else dw, unused if db is None else db)
    return dx, dw, db


# ---------------------------------------------------------------- batch norm

def channel_stats(x: Any) -> tuple[Any, Any]:
    """Per-channel (mean, biased variance) in float64 of an ``(N, C, S)`` device array."""
    channels = x.shape[1]
    mean = empty((channels,), np.float64)
    var = empty((channels,), np.float64)
    if channels:
        blocks, threads = _per_row(channels, x.shape[0] * x.shape[2])
        ck.launch(module().channel_stats, blocks, threads, 0, x, mean, var)
    return mean, var


def update_running(running_mean: Any, running_var: Any, mean: Any, var: Any, count: int, momentum: float) -> None:
    """Blend the batch's statistics into the 1-D running buffers in place (``cpu_norm.update_running``)."""
    _per_element(module().update_running, mean.shape[0], running_mean, running_var, mean, var, float(count),
                 float(momentum))


def channel_normalize(x: Any, mean: Any, var: Any, weight: Any, bias: Any, eps: float) -> tuple[Any, Any]:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` per channel of an ``(N, C, S)`` array;
    returns the output and the float64 ``1 / sqrt(var + eps)``."""
    out = empty(tuple(x.shape), x.dtype)
    invstd = empty((x.shape[1],), np.float64)
    weight, affine = _optional(weight, x.dtype)
    bias, shifted = _optional(bias, x.dtype)
    _per_element(module().channel_normalize, x.size, x, mean, var, weight, bias, affine, shifted, float(eps),
                 out, invstd)
    if x.size == 0 and x.shape[1]:
        # No element to write invstd from (a batch of 0): compute it alone, as the CPU does.
        ck.launch(module().channel_normalize, 1, 1, 0, empty((1, x.shape[1], 1), x.dtype), mean, var, weight, bias,
                  affine, shifted, float(eps), empty((1, x.shape[1], 1), x.dtype), invstd)
    return out, invstd


def channel_backward(g: Any, x: Any, mean: Any, invstd: Any, weight: Any, training: bool,
                     want: tuple[bool, bool, bool]) -> tuple[Any, Any, Any]:
    """Gradients (input, weight, bias) of batch norm for ``(N, C, S)`` arrays; ``mean`` and
    ``invstd`` are the float64 statistics the forward used."""
    batch, channels, inner = tuple(x.shape)
    dtype = x.dtype
    dw = empty((channels,), dtype) if want[1] else None
    db = empty((channels,), dtype) if want[2] else None
    sum_g = empty((channels,), np.float64)
    sum_gx = empty((channels,), np.float64)
    unused = empty((0,), dtype)
    kernels = module()
    if channels:
        blocks, threads = _per_row(channels, batch * inner)
        ck.launch(kernels.channel_sums, blocks, threads, 0, g, x, mean, invstd, sum_g, sum_gx, want[1], want[2],
                  unused if dw is None else dw, unused if db is None else db)
    dx = None
    if want[0]:
        dx = empty(tuple(x.shape), dtype)
        weight, affine = _optional(weight, dtype)
        _per_element(kernels.channel_input_grad, x.size, g, x, mean, invstd, weight, affine, bool(training),
                     sum_g, sum_gx, dx)
    return dx, dw, db
