"""CPU kernels of the normalisation and embedding layers: one fused pass per job.

- layer norm: per row, the mean and variance (two passes) and the normalised, scaled output;
- batch norm: per channel statistics of an ``(N, C, S)`` view, the running-statistics
  update, then one fused ``(x - mean) * (invstd * weight) + bias`` pass;
- their backward passes: the input gradient and the weight/bias gradients in one sweep;
- embedding: a row gather that checks every index, and the scatter-add of gradient rows
  (repeated indices accumulate) with an optional per-row factor (padding rows, frequencies).

Statistics and the arithmetic on them are float64 whatever the input's dtype: float32 rows or
channels whose mean is large against their spread keep their accuracy, and these kernels are
bound by memory traffic, not arithmetic. Optional arrays (weight, bias, a gradient nobody
wants) are passed as empty arrays, which the kernels test with ``.shape[0] > 0``: one compiled
specialisation serves every combination.
Kernels compile on first use and are cached on disk like the elementwise ones.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import cpu

# Per-row and per-channel bodies are written once and compiled twice: ``range`` for small
# inputs and ``prange`` above ``cpu.PARALLEL_THRESHOLD`` elements (threads cost more than they
# save below it). ``{loop}`` and ``{parallel}`` are filled in for each variant.
_PARALLEL_TEMPLATES = """
@njit(cache=CACHE, fastmath={{'reassoc', 'nsz', 'contract'}}, error_model='numpy', nogil=True{parallel})
def layer_norm_rows{suffix}(x, weight, bias, eps, out, mean, rstd):
    rows, n = x.shape
    affine = weight.shape[0] > 0
    shifted = bias.shape[0] > 0
    for r in {loop}(rows):
        total = 0.0
        for i in range(n):
            total += x[r, i]
        mu = total / n
        squares = 0.0
        for i in range(n):
            d = x[r, i] - mu
            squares += d * d
        inv = 1.0 / math.sqrt(squares / n + eps)
        mean[r] = mu
        rstd[r] = inv
        if affine and shifted:
            for i in range(n):
                out[r, i] = (x[r, i] - mu) * inv * weight[i] + bias[i]
        elif affine:
            for i in range(n):
                out[r, i] = (x[r, i] - mu) * inv * weight[i]
        elif shifted:
            for i in range(n):
                out[r, i] = (x[r, i] - mu) * inv + bias[i]
        else:
            for i in range(n):
                out[r, i] = (x[r, i] - mu) * inv


@njit(cache=CACHE, fastmath={{'reassoc', 'nsz', 'contract'}}, error_model='numpy', nogil=True{parallel})
def channel_normalize{suffix}(x, mean, var, weight, bias, eps, out, invstd):
    # invstd = 1 / sqrt(var + eps); out = (x - mean[c]) * (invstd[c] * weight[c]) + bias[c],
    # centred first with float64 factors, which keeps float32 accurate when a channel's mean
    # is large against its spread. ``mean``/``var`` are the batch's (float64) or the running
    # buffers (the input's dtype).
    batch, channels, inner = x.shape
    affine = weight.shape[0] > 0
    shifted = bias.shape[0] > 0
    centre = np.empty(channels)
    scale = np.empty(channels)
    shift = np.zeros(channels)
    for c in range(channels):
        inv = 1.0 / math.sqrt(np.float64(var[c]) + eps)
        invstd[c] = inv
        centre[c] = mean[c]
        scale[c] = inv * weight[c] if affine else inv
        if shifted:
            shift[c] = bias[c]
    if inner == 1:  # (N, C) input: the channel loop is the contiguous, vectorisable one
        for n in {loop}(batch):
            for c in range(channels):
                out[n, c, 0] = (x[n, c, 0] - centre[c]) * scale[c] + shift[c]
        return
    for n in {loop}(batch):
        for c in range(channels):
            mu = centre[c]
            a = scale[c]
            b = shift[c]
            for s in range(inner):
                out[n, c, s] = (x[n, c, s] - mu) * a + b
"""

_SOURCE = """
@njit(cache=CACHE, fastmath={'reassoc', 'nsz', 'contract'}, error_model='numpy', nogil=True)
def layer_norm_backward_rows(g, x, mean, rstd, weight, dx, dw, db):
    # dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * weight;
    # dw += g * xhat and db += g over rows (float64 accumulators).
    rows, n = x.shape
    affine = weight.shape[0] > 0
    want_dx = dx.shape[0] > 0
    want_dw = dw.shape[0] > 0
    want_db = db.shape[0] > 0
    # Each accumulation is a loop of its own (branches hoisted out), so every loop vectorises.
    for r in range(rows):
        mu = mean[r]
        inv = rstd[r]
        if want_dw:
            for i in range(n):
                dw[i] += g[r, i] * ((x[r, i] - mu) * inv)
        if want_db:
            for i in range(n):
                db[i] += g[r, i]
        if not want_dx:
            continue
        dot = 0.0
        total = 0.0
        if affine:
            for i in range(n):
                gw = g[r, i] * weight[i]
                dot += gw * ((x[r, i] - mu) * inv)
                total += gw
        else:
            for i in range(n):
                dot += g[r, i] * ((x[r, i] - mu) * inv)
                total += g[r, i]
        dot /= n
        total /= n
        if affine:
            for i in range(n):
                xhat = (x[r, i] - mu) * inv
                dx[r, i] = inv * (g[r, i] * weight[i] - total - xhat * dot)
        else:
            for i in range(n):
                xhat = (x[r, i] - mu) * inv
                dx[r, i] = inv * (g[r, i] - total - xhat * dot)


@njit(cache=CACHE, fastmath={'reassoc', 'nsz', 'contract'}, error_model='numpy', nogil=True)
def channel_stats(x, mean, var):
    # Two passes (mean, then squared deviations) in float64: no cancellation in the variance
    # (biased: divided by the count).
    batch, channels, inner = x.shape
    count = batch * inner
    sums = np.zeros(channels)
    squares = np.zeros(channels)
    if inner == 1:  # (N, C) input: accumulate whole rows, vectorised over channels
        for n in range(batch):
            for c in range(channels):
                sums[c] += x[n, c, 0]
        for c in range(channels):
            mean[c] = sums[c] / count
        for n in range(batch):
            for c in range(channels):
                d = x[n, c, 0] - mean[c]
                squares[c] += d * d
    else:
        for n in range(batch):
            for c in range(channels):
                acc = 0.0
                for s in range(inner):
                    acc += x[n, c, s]
                sums[c] += acc
        for c in range(channels):
            mean[c] = sums[c] / count
        for n in range(batch):
            for c in range(channels):
                mu = mean[c]
                acc = 0.0
                for s in range(inner):
                    d = x[n, c, s] - mu
                    acc += d * d
                squares[c] += acc
    for c in range(channels):
        var[c] = squares[c] / count


@njit(cache=CACHE, error_model='numpy', nogil=True)
def update_running(running_mean, running_var, mean, var, count, momentum):
    # running = momentum * batch + (1 - momentum) * running, with the unbiased batch variance.
    keep = 1.0 - momentum
    unbias = count / (count - 1.0)
    for c in range(mean.shape[0]):
        running_mean[c] = momentum * mean[c] + keep * running_mean[c]
        running_var[c] = momentum * (var[c] * unbias) + keep * running_var[c]


@njit(cache=CACHE, fastmath={'reassoc', 'nsz', 'contract'}, error_model='numpy', nogil=True)
def channel_backward(g, x, mean, invstd, weight, training, dx, dw, db):
    # Per channel: sum(g) and sum(g * xhat); then, in training,
    # dx = invstd * weight * (g - mean(g) - xhat * mean(g * xhat)), else dx = g * invstd * weight.
    # An (N, C) input (inner == 1) runs channel-innermost loops, which vectorise.
    batch, channels, inner = x.shape
    affine = weight.shape[0] > 0
    sum_g = np.zeros(channels)
    sum_gx = np.zeros(channels)
    for n in range(batch):
        if inner == 1:
            for c in range(channels):
                gi = g[n, c, 0]
                sum_g[c] += gi
                sum_gx[c] += gi * ((x[n, c, 0] - mean[c]) * invstd[c])
            continue
        for c in range(channels):
            mu = mean[c]
            inv = invstd[c]
            acc_g = 0.0
            acc_gx = 0.0
            for s in range(inner):
                gi = g[n, c, s]
                acc_g += gi
                acc_gx += gi * ((x[n, c, s] - mu) * inv)
            sum_g[c] += acc_g
            sum_gx[c] += acc_gx
    if dw.shape[0] > 0:
        for c in range(channels):
            dw[c] = sum_gx[c]
    if db.shape[0] > 0:
        for c in range(channels):
            db[c] = sum_g[c]
    if dx.shape[0] == 0:
        return
    count = batch * inner
    k = np.empty(channels)
    mean_g = np.empty(channels)
    mean_gx = np.empty(channels)
    for c in range(channels):
        k[c] = invstd[c] * weight[c] if affine else invstd[c]
        mean_g[c] = sum_g[c] / count
        mean_gx[c] = sum_gx[c] / count
    for n in range(batch):
        if not training:  # the statistics are constants: dx = g * invstd * weight
            for c in range(channels):
                kc = k[c]
                for s in range(inner):
                    dx[n, c, s] = g[n, c, s] * kc
        elif inner == 1:
            for c in range(channels):
                xhat = (x[n, c, 0] - mean[c]) * invstd[c]
                dx[n, c, 0] = k[c] * (g[n, c, 0] - mean_g[c] - xhat * mean_gx[c])
        else:
            for c in range(channels):
                mu = mean[c]
                inv = invstd[c]
                kc = k[c]
                mg = mean_g[c]
                mgx = mean_gx[c]
                for s in range(inner):
                    xhat = (x[n, c, s] - mu) * inv
                    dx[n, c, s] = kc * (g[n, c, s] - mg - xhat * mgx)


@njit(cache=CACHE, error_model='numpy', nogil=True)
def gather_rows(table, index, factor, out):
    # out[k] = table[index[k]] (* factor[k]); returns the position of the first index out of
    # range, or -1, so the caller can name it.
    rows = table.shape[0]
    width = table.shape[1]
    scaled = factor.shape[0] > 0
    for k in range(index.shape[0]):
        j = index[k]
        if j < 0 or j >= rows:
            return k
        if scaled:
            f = factor[k]
            for d in range(width):
                out[k, d] = table[j, d] * f
        else:
            for d in range(width):
                out[k, d] = table[j, d]
    return -1


@njit(cache=CACHE, error_model='numpy', nogil=True)
def scatter_rows(out, index, src, factor):
    # out[index[k]] += src[k] (* factor[k]); repeated indices accumulate in order.
    width = out.shape[1]
    scaled = factor.shape[0] > 0
    for k in range(index.shape[0]):
        j = index[k]
        if scaled:
            f = factor[k]
            if f == 0:
                continue
            for d in range(width):
                out[j, d] += src[k, d] * f
        else:
            for d in range(width):
                out[j, d] += src[k, d]
"""


def _source() -> str:
    variants = [_PARALLEL_TEMPLATES.format(loop="range", parallel="", suffix=""),
                _PARALLEL_TEMPLATES.format(loop="prange", parallel=", parallel=True", suffix="_parallel")]
    return "\n".join(variants) + _SOURCE


_loaded: Any = None


def _kernels() -> Any:
    """The compiled kernel module, loaded (from the on-disk cache, or compiled) on first use."""
    global _loaded
    if _loaded is None:
        _loaded = cpu._module("norm_layers", _source())
    return _loaded


def _empty(dtype: np.dtype) -> np.ndarray:
    return np.empty(0, dtype)


def _run(kernels: Any, name: str, size: int, *args: Any) -> Any:
    """Run ``name`` or, from ``cpu.PARALLEL_THRESHOLD`` elements on, its threaded variant
    (behind the backend's lock: Numba's workqueue layer allows one parallel launch at a time)."""
    if size >= cpu.PARALLEL_THRESHOLD:
        cpu._prepare_numba()
        with cpu._PARALLEL_LOCK:
            return getattr(kernels, name + "_parallel")(*args)
    return getattr(kernels, name)(*args)


# ---------------------------------------------------------------- layer norm

def layer_norm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                       eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise each row of the C-contiguous ``(rows, n)`` array ``x``; returns
    ``(out, mean, rstd)`` with the per-row statistics in float64 (the arithmetic is float64
    throughout, so float32 rows with a large mean lose no accuracy)."""
    rows = x.shape[0]
    out = np.empty_like(x)
    mean = np.empty(rows)
    rstd = np.empty(rows)
    _run(_kernels(), "layer_norm_rows", x.size, x,
         _empty(x.dtype) if weight is None else weight, _empty(x.dtype) if bias is None else bias,
         float(eps), out, mean, rstd)
    return out, mean, rstd


def layer_norm_backward(g: np.ndarray, x: np.ndarray, mean: np.ndarray, rstd: np.ndarray,
                        weight: np.ndarray | None, want: tuple[bool, bool, bool]
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients (input, weight, bias) of ``layer_norm_forward`` for ``(rows, n)`` arrays;
    ``want`` says which are needed (the others come back as None)."""
    n = x.shape[1]
    dx = np.empty_like(x) if want[0] else _empty(x.dtype).reshape(0, 0)
    dw = np.zeros(n) if want[1] else np.empty(0)
    db = np.zeros(n) if want[2] else np.empty(0)
    _kernels().layer_norm_backward_rows(g, x, mean, rstd, _empty(x.dtype) if weight is None else weight,
                                        dx, dw, db)
    return (dx if want[0] else None, dw.astype(x.dtype) if want[1] else None,
            db.astype(x.dtype) if want[2] else None)


# ---------------------------------------------------------------- batch norm

def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, biased variance) in float64 of an ``(N, C, S)`` array."""
    channels = x.shape[1]
    mean = np.empty(channels)
    var = np.empty(channels)
    _kernels().channel_stats(x, mean, var)
    return mean, var


def update_running(running_mean: np.ndarray, running_var: np.ndarray, mean: np.ndarray, var: np.ndarray,
                   count: int, momentum: float) -> None:
    """Blend the batch's ``mean`` and (biased, over ``count`` values) ``var`` into the 1-D
    running buffers in place: an exponential average with the unbiased variance."""
    _kernels().update_running(running_mean, running_var, mean, var, float(count), float(momentum))


def channel_normalize(x: np.ndarray, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None,
                      bias: np.ndarray | None, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` per channel of an ``(N, C, S)`` array;
    returns the output and the float64 ``1 / sqrt(var + eps)``."""
    out = np.empty_like(x)
    invstd = np.empty(x.shape[1])
    empty = _empty(x.dtype)
    _run(_kernels(), "channel_normalize", x.size, x, mean, var, empty if weight is None else weight,
         empty if bias is None else bias, float(eps), out, invstd)
    return out, invstd


def channel_backward(g: np.ndarray, x: np.ndarray, mean: np.ndarray, invstd: np.ndarray,
                     weight: np.ndarray | None, training: bool, want: tuple[bool, bool, bool]
                     ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients (input, weight, bias) of batch norm for ``(N, C, S)`` arrays; ``mean`` and
    ``invstd`` are the statistics the forward used (the batch's, or the running ones)."""
    channels = x.shape[1]
    dtype = x.dtype
    dx = np.empty_like(x) if want[0] else _empty(dtype).reshape(0, 0, 0)
    dw = np.empty(channels) if want[1] else np.empty(0)
    db = np.empty(channels) if want[2] else np.empty(0)
    _kernels().channel_backward(g, x, mean, invstd,
                                _empty(dtype) if weight is None else weight, bool(training), dx, dw, db)
    return (dx if want[0] else None, dw.astype(dtype) if want[1] else None,
            db.astype(dtype) if want[2] else None)


# ---------------------------------------------------------------- embedding rows

def gather_rows(table: np.ndarray, index: np.ndarray, factor: np.ndarray | None) -> tuple[np.ndarray, int]:
    """``table[index] * factor[:, None]`` for a 2-D table and flat int64 ``index``; also the
    position of the first out-of-range index (-1 when all are in range)."""
    out = np.empty((index.shape[0], table.shape[1]), table.dtype)
    bad = _kernels().gather_rows(table, index, _empty(table.dtype) if factor is None else factor, out)
    return out, int(bad)


def scatter_rows(src: np.ndarray, index: np.ndarray, rows: int, factor: np.ndarray | None) -> np.ndarray:
    """Zeros of ``(rows, width)`` with ``src[k] * factor[k]`` added at row ``index[k]``."""
    out = np.zeros((rows, src.shape[1]), src.dtype)
    _kernels().scatter_rows(out, index, src, _empty(src.dtype) if factor is None else factor)
    return out
