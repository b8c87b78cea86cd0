"""CUDA kernels for softmax, log-softmax, negative log likelihood and row gathers/scatters.

Semantics follow the CPU backend and the ops built on it:

- ``softmax``/``log_softmax`` over the last axis (``cpu.softmax``): the row maximum (a NaN
  wins) shifts the exponents; ``exp`` and the row sum run in float64 by default, as on the
  CPU (``acc="float32"`` for GPUs with a slow float64 unit); log-softmax shifts by 0 when the
  maximum is infinite, as logsumexp does. One block per row: threads stride along the row,
  and the maximum and the sum meet through warp shuffles and shared memory
  (``cuda_reduce.block_max``/``block_sum``).
- their backward, from the saved output ``y`` and the incoming gradient ``g`` (the VJPs in
  ``ops.composite``): ``y * (g - sum(g * y))`` and ``g - exp(y) * sum(g)``, the row sum
  rounded to the dtype first, as the composed ops do.
- ``nll_loss`` with class-index targets over log-probabilities (N, C) or (N, C, d1, ...)
  (``nn.functional.nll_loss``): optional class weights, ``ignore_index``, reductions
  ``mean`` (divided by the total weight of the kept targets), ``sum`` and ``none``; the sums
  accumulate in float64 (``cpu.negative_picked_sum``). Its backward writes ``-w * scale`` at
  each target's class and 0 elsewhere.
- ``index_select`` along dim 0 and ``scatter_add`` of rows along dim 0 with atomics (the
  gradient of an embedding), plus the flat ``gather_flat``/``scatter_add_flat`` of ``cpu``.

Out-of-range targets and indices are never read or written. Kernels that meet one record it
in a small device array; with ``check=True`` (the default) the function then copies that back
and raises ``IndexError`` like the CPU backend, which waits for the kernel; ``check=False``
skips the wait (the offending entries are then left out silently).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import settings
from . import cuda_capture
from . import cuda_kernels as ck
from . import cuda_reduce as cr

_SOFTMAX_SOURCE = '''
ACC = numba.{acc}


@kernel
def softmax_rows(x, out, log):
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    n = x.shape[1]
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        peak = ACC(-math.inf)
        for c in range(tid, n, cuda.blockDim.x):
            v = ACC(x[r, c])
            if v > peak or v != v:
                peak = v
        peak = block_max(peak, scratch, ACC(-math.inf))
        if log and (peak == math.inf or peak == -math.inf):
            peak = ACC(0)  # as logsumexp: inf - inf would be NaN; shifting by 0 is exact
        total = ACC(0)
        for c in range(tid, n, cuda.blockDim.x):
            total += math.exp(ACC(x[r, c]) - peak)
        total = block_sum(total, scratch, ACC(0))
        if log:
            shift = peak + math.log(total)
            for c in range(tid, n, cuda.blockDim.x):
                out[r, c] = ACC(x[r, c]) - shift
        else:
            for c in range(tid, n, cuda.blockDim.x):
                out[r, c] = math.exp(ACC(x[r, c]) - peak) / total


@kernel
def softmax_backward_rows(g, y, out, log):
    scratch = cuda.shared.array(SCRATCH_SIZE, ACC)
    tid = cuda.threadIdx.x
    n = g.shape[1]
    for r in range(cuda.blockIdx.x, g.shape[0], cuda.gridDim.x):
        total = ACC(0)
        for c in range(tid, n, cuda.blockDim.x):
            if log:
                total += g[r, c]
            else:
                total += g[r, c] * y[r, c]
        total = block_sum(total, scratch, ACC(0))
        s = type(y[r, 0])(total)  # rounded to the dtype, as the composed sum() returns it
        for c in range(tid, n, cuda.blockDim.x):
            if log:
                out[r, c] = g[r, c] - math.exp(y[r, c]) * s
            else:
                out[r, c] = y[r, c] * (g[r, c] - s)
'''

_NLL_SOURCE = '''

@kernel
def nll_terms(log_probs, target, weight, has_weight, ignore_index, zero, one, terms, losses, reduce, errors):
    # log_probs: (N, C, S); target: (N * S,). With ``reduce``, terms[0, i] is the weighted
    # loss of target i and terms[1, i] its weight (summed afterwards); else losses[i] is the loss.
    classes = log_probs.shape[1]
    inner = log_probs.shape[2]
    for i in range(cuda.grid(1), target.shape[0], cuda.gridsize(1)):
        t = target[i]
        w = zero
        loss = zero
        if t != ignore_index:
            if 0 <= t < classes:
                n = i // inner
                w = weight[t] if has_weight else one
                loss = -(log_probs[n, t, i - n * inner] * w)
            else:
                errors[0] = 1
                errors[1] = t
        if reduce:
            terms[0, i] = loss
            terms[1, i] = w
        else:
            losses[i] = loss


@kernel
def nll_backward(grad_out, target, weight, has_weight, ignore_index, zero, one, total_weight, mode, grad_input):
    # grad_input: (N, C, S), every element written: -w * scale at the target class, else 0
    # (a scatter into zeros without atomics, since each element knows its own target).
    # mode 0: reduction "none" (grad_out per target); 1: "sum"; 2: "mean".
    classes = grad_input.shape[1]
    inner = grad_input.shape[2]
    plane = classes * inner
    for e in range(cuda.grid(1), grad_input.size, cuda.gridsize(1)):
        n = e // plane
        rest = e - n * plane
        c = rest // inner
        s = rest - c * inner
        i = n * inner + s
        t = target[i]
        value = zero
        if t == c and t != ignore_index:
            w = weight[t] if has_weight else one
            if mode == 0:
                scale = grad_out[i]
            elif mode == 1:
                scale = grad_out[0]
            else:
                scale = grad_out[0] / type(zero)(total_weight[0])
            value = -scale * w
        grad_input[n, c, s] = value
'''

_INDEX_SOURCE = '''

@kernel
def gather_rows(src, index, out, errors):
    # out[k, :] = src[index[k], :]
    width = src.shape[1]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        k = e // width
        j = e - k * width
        row = index[k]
        if 0 <= row < src.shape[0]:
            out[k, j] = src[row, j]
        else:
            errors[0] = 1
            errors[1] = row


@kernel
def scatter_add_rows(out, index, src, errors):
    # out[index[k], :] += src[k, :]; repeated indices add up (atomics).
    width = out.shape[1]
    for e in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        k = e // width
        j = e - k * width
        row = index[k]
        if 0 <= row < out.shape[0]:
            cuda.atomic.add(out, (row, j), src[k, j])
        else:
            errors[0] = 1
            errors[1] = row


@kernel
def mark_rows(index, marks):
    # marks[index[k]] = 1 (entries checked in range first; equal writes may race harmlessly).
    for k in range(cuda.grid(1), index.size, cuda.gridsize(1)):
        marks[index[k]] = 1


@device_function
def row_norm(table, r, p):
    # The p-norm of row r in float64, as numpy.linalg.norm(ord=p) of a vector.
    total = 0.0
    if p == math.inf:
        for j in range(table.shape[1]):
            total = max(total, abs(np.float64(table[r, j])))
        return total
    if p == -math.inf:
        total = math.inf
        for j in range(table.shape[1]):
            total = min(total, abs(np.float64(table[r, j])))
        return total
    for j in range(table.shape[1]):
        v = abs(np.float64(table[r, j]))
        if p == 0.0:
            total += 1.0 if v != 0.0 else 0.0
        elif p == 1.0:
            total += v
        elif p == 2.0:
            total += v * v
        else:
            total += v ** p
    if p == 0.0 or p == 1.0:
        return total
    return math.sqrt(total) if p == 2.0 else total ** (1.0 / p)


@kernel
def renorm_rows(table, marks, max_norm, norm_type, zero):
    # Each marked row whose norm exceeds max_norm is scaled to norm max_norm (PyTorch's
    # embedding_renorm_). One thread a row: a row repeated in the index is scaled once.
    for r in range(cuda.grid(1), table.shape[0], cuda.gridsize(1)):
        if marks[r]:
            norm = row_norm(table, r, norm_type)
            if norm > max_norm:
                scale = type(zero)(max_norm / (norm + 1e-7))
                for j in range(table.shape[1]):
                    table[r, j] = type(zero)(table[r, j] * scale)
'''

_softmax_modules: dict[str, Any] = {}
_plain_modules: dict[str, Any] = {}


def softmax_module(acc: str = "float64") -> Any:
    """The softmax kernels computing ``exp`` and the row sums in ``acc`` (float64 or float32)."""
    module = _softmax_modules.get(acc)
    if module is None:
        if acc not in ("float64", "float32"):
            raise ValueError(f"unsupported accumulator {acc!r}")
        source = ck._header() + cr.block_reduce_source() + _SOFTMAX_SOURCE.format(acc=acc)
        module = _softmax_modules[acc] = ck._load(f"cuda_softmax_{acc}", source)
    return module


def _module(name: str, source: str) -> Any:
    module = _plain_modules.get(name)
    if module is None:
        module = _plain_modules[name] = ck._load(name, ck._header() + source)
    return module


def nll_module() -> Any:
    """The ``nll_terms`` and ``nll_backward`` kernels."""
    return _module("cuda_nll", _NLL_SOURCE)


def index_module() -> Any:
    """The ``gather_rows``, ``scatter_add_rows``, ``mark_rows`` and ``renorm_rows`` kernels."""
    return _module("cuda_index_rows", _INDEX_SOURCE)


# ------------------------------------------------------------------------- error flags

_unchecked_errors: list[Any] = []


def _errors(check: bool, stream: Any) -> Any:
    """A zeroed (flag, offending value) pair for a kernel to report a bad index in; without
    ``check``, one shared array nobody reads (no allocation and copy per call)."""
    if check:
        return ck.fill_zeros(ck._cuda().device_array(2, np.int64), stream)
    if not _unchecked_errors:
        _unchecked_errors.append(ck._cuda().device_array(2, np.int64, stream=stream))
    return _unchecked_errors[0]


def _raise_if_flagged(errors: Any, message: str, stream: Any) -> None:
    def check() -> None:
        flag, value = errors.copy_to_host(stream=stream)
        if stream:
            stream.synchronize()
        if flag:
            raise IndexError(message.format(int(value)))

    cuda_capture.host_check(check)


def _rows(x: Any) -> Any:
    """C-contiguous ``x`` as (rows, last axis)."""
    if not x.is_c_contiguous():
        raise ValueError("expected a C-contiguous device array")
    width = tuple(x.shape)[-1] if x.ndim else 1
    return x.reshape(x.size // width if width else 0, width)


def _row_launch(rows: int, width: int) -> tuple[int, int]:
    return min(rows, ck.MAX_BLOCKS), cr._row_threads(width)


# ----------------------------------------------------------------------------- softmax

def softmax(x: Any, out: Any = None, *, log: bool = False, acc: str = "float64", stream: Any = 0) -> Any:
    """Softmax (or, with ``log``, log-softmax) of float device array ``x`` over its last axis,
    into ``out`` (a new array like ``x`` when None); returns ``out``. Another axis: the caller
    moves it last (as ``cpu.softmax`` does)."""
    out = _like(x, out, stream)
    if x.size == 0:
        return out
    rows = _rows(x)
    blocks, threads = _row_launch(*rows.shape)
    ck.launch(softmax_module(acc).softmax_rows, blocks, threads, stream, rows, _rows(out), bool(log))
    return out


def softmax_backward(grad: Any, output: Any, out: Any = None, *, log: bool = False, acc: str = "float64",
                     stream: Any = 0) -> Any:
    """The gradient of (log-)softmax over the last axis from its ``output`` and the incoming
    ``grad`` (device arrays of one shape), into ``out``; returns ``out``."""
    if tuple(grad.shape) != tuple(output.shape):
        raise ValueError(f"grad {tuple(grad.shape)} and output {tuple(output.shape)} differ in shape")
    out = _like(grad, out, stream)
    if grad.size == 0:
        return out
    rows = _rows(grad)
    blocks, threads = _row_launch(*rows.shape)
    ck.launch(softmax_module(acc).softmax_backward_rows, blocks, threads, stream, rows, _rows(output), _rows(out),
              bool(log))
    return out


def _like(x: Any, out: Any, stream: Any) -> Any:
    if out is None:
        return ck._cuda().device_array(tuple(x.shape), x.dtype, stream=stream)
    if tuple(out.shape) != tuple(x.shape) or out.dtype != x.dtype or not out.is_c_contiguous():
        raise ValueError(f"out must be C-contiguous {tuple(x.shape)} {x.dtype}")
    return out


# --------------------------------------------------------------------------------- NLL

_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


def _nll_views(log_probs: Any, target: Any) -> tuple[Any, Any]:
    """(N, C, S) and (N * S,) views of log-probabilities and targets, checked as in
    ``nn.functional``: classes on dim 1 (dim 0 for an unbatched (C,) input)."""
    shape = tuple(log_probs.shape)
    if len(shape) == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    if np.dtype(target.dtype) != np.int64:
        raise RuntimeError(f"expected int64 targets, got {target.dtype}")
    if not log_probs.is_c_contiguous() or not target.is_c_contiguous():
        raise ValueError("log_probs and target must be C-contiguous")
    if len(shape) == 1:
        batch, classes, inner = 1, shape[0], 1
        expected: tuple[int, ...] = ()
    else:
        batch, classes = shape[0], shape[1]
        inner = int(np.prod(shape[2:], dtype=np.int64))
        expected = (shape[0], *shape[2:])
    if tuple(target.shape) != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    return log_probs.reshape(batch, classes, inner), target.reshape(batch * inner)


def _weight_arg(weight: Any, classes: int, dtype: np.dtype, stream: Any) -> tuple[Any, bool]:
    if weight is None:
        return _empty(dtype, stream), False
    if tuple(weight.shape) != (classes,) or weight.dtype != dtype:
        raise RuntimeError(f"weight must be ({classes},) {dtype}, got {tuple(weight.shape)} {weight.dtype}")
    return weight, True


_empties: dict[np.dtype, Any] = {}


def _empty(dtype: Any, stream: Any) -> Any:
    dtype = np.dtype(dtype)
    empty = _empties.get(dtype)
    if empty is None:
        empty = _empties[dtype] = ck._cuda().device_array(0, dtype, stream=stream)
    return empty


def nll_loss(log_probs: Any, target: Any, *, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean", check: bool = True, stream: Any = 0) -> tuple[Any, Any]:
    """Negative log likelihood of int64 class-index ``target`` under float ``log_probs``
    ((N, C), (N, C, d1, ...) or unbatched (C,)); returns ``(loss, total_weight)``.

    ``loss`` is 0-d for ``mean``/``sum`` and has the target's shape for ``none``;
    ``total_weight`` is a 1-element float64 device array, the summed weight of the kept
    targets (``mean``'s denominator, which :func:`nll_loss_backward` takes; None for
    ``none``). ``weight`` is an optional (C,) device array of class weights; targets equal
    to ``ignore_index`` weigh 0. ``mean`` over no kept target is NaN, as in PyTorch."""
    mode = _REDUCTIONS.get(reduction)
    if mode is None:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    cuda = ck._cuda()
    lp, flat_target = _nll_views(log_probs, target)
    dtype = np.dtype(log_probs.dtype)
    weight_arg, has_weight = _weight_arg(weight, lp.shape[1], dtype, stream)
    count = flat_target.shape[0]
    errors = _errors(check, stream)
    module = nll_module()
    scalars = (int(ignore_index), dtype.type(0), dtype.type(1))
    if mode == 0:
        losses = cuda.device_array(tuple(target.shape), dtype, stream=stream)
        if count:
            blocks, threads = ck.launch_shape(count)
            ck.launch(module.nll_terms, blocks, threads, stream, lp, flat_target, weight_arg, has_weight, *scalars,
                      _empty_terms(stream), losses.reshape(count), False, errors)
        result, total_weight = losses, None
    else:
        terms = cuda.device_array((2, count), np.float64, stream=stream)
        if count:
            blocks, threads = ck.launch_shape(count)
            ck.launch(module.nll_terms, blocks, threads, stream, lp, flat_target, weight_arg, has_weight, *scalars,
                      terms, _empty(dtype, stream), True, errors)
        totals = cr.sum_axes(terms, (1,), stream=stream)  # (loss, weight), float64
        result = cuda.device_array((), dtype, stream=stream)
        if mode == 1:
            ck.elementwise(cr._identity, result.reshape(1), [totals[0:1]], stream=stream)
        else:
            ck.elementwise(cr._divide, result.reshape(1), [totals[0:1], totals[1:2]], stream=stream)
        total_weight = totals[1:2]
    if check:
        _raise_if_flagged(errors, "Target {} is out of bounds.", stream)
    return result, total_weight


_empty_terms_cache: list[Any] = []


def _empty_terms(stream: Any) -> Any:
    # nll_terms' unused ``terms`` argument for reduction "none": a (2, 0) float64 array.
    if not _empty_terms_cache:
        _empty_terms_cache.append(ck._cuda().device_array((2, 0), np.float64, stream=stream))
    return _empty_terms_cache[0]


def nll_loss_backward(grad_output: Any, log_probs_shape: tuple[int, ...], target: Any, total_weight: Any = None, *,
                      weight: Any = None, ignore_index: int = -100, reduction: str = "mean", grad_input: Any = None,
                      stream: Any = 0) -> Any:
    """The gradient of :func:`nll_loss` with respect to the log-probabilities: a C-contiguous
    array of ``log_probs_shape`` in ``grad_output``'s dtype holding ``-w * scale`` at each
    kept target's class and 0 elsewhere, where ``scale`` is ``grad_output`` (per target for
    ``none``; 0-d or 1-element otherwise) divided by ``total_weight`` for ``mean``."""
    mode = _REDUCTIONS.get(reduction)
    if mode is None:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if mode == 2 and total_weight is None:
        raise ValueError("reduction 'mean' needs the total_weight nll_loss returned")
    cuda = ck._cuda()
    dtype = np.dtype(grad_output.dtype)
    if grad_input is None:
        grad_input = cuda.device_array(tuple(log_probs_shape), dtype, stream=stream)
    elif tuple(grad_input.shape) != tuple(log_probs_shape) or grad_input.dtype != dtype:
        raise ValueError(f"grad_input must be {tuple(log_probs_shape)} {dtype}")
    gi, flat_target = _nll_views(grad_input, target)
    if gi.size == 0:
        return grad_input
    weight_arg, has_weight = _weight_arg(weight, gi.shape[1], dtype, stream)
    grad_flat = grad_output.reshape(grad_output.size)
    if mode == 0 and grad_flat.shape[0] != flat_target.shape[0]:
        raise ValueError("reduction 'none' needs one gradient per target")
    denominator = total_weight if total_weight is not None else _ones64(stream)
    blocks, threads = ck.launch_shape(gi.size)
    ck.launch(nll_module().nll_backward, blocks, threads, stream, grad_flat, flat_target, weight_arg, has_weight,
              int(ignore_index), dtype.type(0), dtype.type(1), denominator, mode, gi)
    return grad_input


_ones_cache: list[Any] = []


def _ones64(stream: Any) -> Any:
    if not _ones_cache:
        _ones_cache.append(ck._cuda().to_device(np.ones(1), stream=stream))
    return _ones_cache[0]


# --------------------------------------------------------------------- gather, scatter

def _index_rows(x: Any) -> Any:
    """``x`` as (rows, elements per row), dim 0 kept."""
    if not x.is_c_contiguous() or x.ndim == 0:
        raise ValueError("expected a C-contiguous device array of at least one dimension")
    rows, *rest = tuple(x.shape)
    return x.reshape(rows, int(np.prod(rest, dtype=np.int64)))


def _index_vector(index: Any) -> Any:
    if index.ndim != 1 or np.dtype(index.dtype) != np.int64:
        raise ValueError(f"index must be a 1-D int64 device array, got {index.ndim}-D {index.dtype}")
    return index


def index_select(src: Any, index: Any, out: Any = None, *, check: bool = True, stream: Any = 0) -> Any:
    """``src[index]`` along dim 0 for C-contiguous ``src`` and 1-D int64 ``index`` (entries in
    ``[0, src.shape[0])``): shape ``(len(index), *src.shape[1:])``; returns ``out``."""
    index = _index_vector(index)
    shape = (index.shape[0], *tuple(src.shape)[1:])
    if out is None:
        out = ck._cuda().device_array(shape, src.dtype, stream=stream)
    elif tuple(out.shape) != shape or out.dtype != src.dtype:
        raise ValueError(f"out must be {shape} {src.dtype}")
    if out.size == 0:
        return out
    errors = _errors(check, stream)
    blocks, threads = ck.launch_shape(out.size)
    ck.launch(index_module().gather_rows, blocks, threads, stream, _index_rows(src), index, _index_rows(out), errors)
    if check:
        _raise_if_flagged(errors, "index {} is out of range", stream)
    return out


def scatter_add(out: Any, index: Any, src: Any, *, check: bool = True, stream: Any = 0) -> Any:
    """``out[index[k]] += src[k]`` along dim 0, repeated indices adding up (atomics, so the
    order of float additions varies from run to run); ``src`` has shape
    ``(len(index), *out.shape[1:])``. Returns ``out``."""
    index = _index_vector(index)
    if tuple(src.shape) != (index.shape[0], *tuple(out.shape)[1:]) or src.dtype != out.dtype:
        raise ValueError(f"src must be {(index.shape[0], *tuple(out.shape)[1:])} {out.dtype}, "
                         f"got {tuple(src.shape)} {src.dtype}")
    if src.size == 0:
        return out
    settings.alert_not_deterministic("scatter_add_cuda_")
    errors = _errors(check, stream)
    blocks, threads = ck.launch_shape(src.size)
    ck.launch(index_module().scatter_add_rows, blocks, threads, stream, _index_rows(out), index, _index_rows(src),
              errors)
    if check:
        _raise_if_flagged(errors, "index {} is out of range", stream)
    return out


def renorm_rows(table: Any, index: Any, max_norm: float, norm_type: float) -> None:
    """Scale, in place, each row of the 2-D device array ``table`` named in the 1-D int64
    ``index`` (entries in range) whose ``norm_type``-norm exceeds ``max_norm`` to norm
    ``max_norm``."""
    index = _index_vector(index)
    if index.shape[0] == 0:
        return
    marks = ck.fill_zeros(ck._cuda().device_array(table.shape[0], np.uint8))
    module = index_module()
    ck.launch(module.mark_rows, *ck.launch_shape(index.shape[0]), 0, index, marks)
    ck.launch(module.renorm_rows, *ck.launch_shape(table.shape[0]), 0, table, marks, float(max_norm),
              float(norm_type), table.dtype.type(0))


def gather_flat(src: Any, positions: Any, out: Any = None, *, check: bool = True, stream: Any = 0) -> Any:
    """``src[positions]`` for 1-D ``src`` and int64 ``positions`` (as ``cpu.gather_flat``)."""
    return index_select(src, positions, out, check=check, stream=stream)


def scatter_add_flat(out: Any, flat_index: Any, src: Any, *, check: bool = True, stream: Any = 0) -> None:
    """``out.reshape(-1)[flat_index[i]] += src[i]`` with repeats accumulating (as
    ``cpu.scatter_add_flat``; ``out`` C-contiguous)."""
    scatter_add(out.reshape(out.size), flat_index, src, check=check, stream=stream)
