"""The CPU backend: NumPy buffers, kernels generated from scalar definitions and jitted by
Numba on first use, cached on disk by ``kernel_cache``.

Elementwise kernels come in three shapes, each generated once per (scalar function, operand
pattern) and specialised by Numba per dtype:
- ``flat``: every operand C-contiguous with the output's shape (the common case), one loop
  over 1-D views (so one specialisation serves every rank);
- ``flat_parallel``: the same with ``prange``, compiled only once an array is large enough;
- ``strided``: any strides, broadcasting through zero strides (``broadcast_view``, so a
  broadcast operand is never materialised), a loop nest of the output's rank. Each rank has at
  most two specialisations per dtype set, all operands C-contiguous (vectorised) and any layout
  (see ``run_loop``): left to Numba, every mix of C, F, strided and read-only operands compiled
  its own, which made most of the compile time of a first run.
"""
from __future__ import annotations

import inspect
import math
import os
import textwrap
import threading
from typing import Any, Callable, Sequence

import numpy as np

from . import kernel_cache

# Below this many elements threads cost more than they save (measured: prange pays off
# from roughly 1e5 float32 elements on 2 cores).
PARALLEL_THRESHOLD = 1 << 17

_HEADER = """\
import math
import numpy as np
from numba import njit, prange
from tapegrad.backends.scalar_math import *
"""

ScalarFn = Callable[..., Any]


def _scalar_source(fn: ScalarFn) -> str:
    return textwrap.dedent(inspect.getsource(fn))


class ElementwiseKernels:
    """The generated kernels of one scalar function for one operand pattern.

    ``pattern`` has one letter per operand: ``a`` for an array, ``s`` for a scalar.
    """

    __slots__ = ("fn", "pattern", "_module")

    def __init__(self, fn: ScalarFn, pattern: str) -> None:
        self.fn = fn
        self.pattern = pattern
        self._module: Any = None

    def module(self) -> Any:
        if self._module is None:
            self._module = kernel_cache.load_module(
                f"ew_{self.fn.__name__.strip('_')}_{self.pattern}", self._source())
        return self._module

    def _source(self) -> str:
        fn_name = self.fn.__name__
        params = ", ".join(f"a{i}" for i in range(len(self.pattern)))
        flat_args = ", ".join(f"x{i}[i]" if p == "a" else f"a{i}"
                              for i, p in enumerate(self.pattern))
        flat_views = "".join(f"    x{i} = a{i}.reshape(n)\n"
                             for i, p in enumerate(self.pattern) if p == "a")
        lines = [_HEADER, "", "@njit(cache=CACHE, fastmath=FASTMATH_FLAGS, error_model='numpy')",
                 _scalar_source(self.fn)]
        for name, flags, loop in (("flat", "", "range"), ("flat_parallel", ", parallel=True", "prange")):
            lines.append(f"""
@njit(cache=CACHE, fastmath=FASTMATH_FLAGS, error_model="numpy", nogil=True{flags})
def {name}(out, {params}):
    n = out.size
    o = out.reshape(n)
{flat_views}    for i in {loop}(n):
        o[i] = {fn_name}({flat_args})
""")
        table = []
        for ndim in range(0, 9):
            index = ", ".join(f"i{d}" for d in range(ndim)) if ndim else "()"
            args = ", ".join(f"a{i}[{index}]" if p == "a" else f"a{i}"
                             for i, p in enumerate(self.pattern))
            body = ["@njit(cache=CACHE, fastmath=FASTMATH_FLAGS, error_model='numpy', nogil=True)",
                    f"def strided_{ndim}(out, {params}):"]
            for d in range(ndim):
                body.append("    " * (d + 1) + f"for i{d} in range(out.shape[{d}]):")
            body.append("    " * (ndim + 1) + f"out[{index}] = {fn_name}({args})")
            lines.append("\n".join(body) + "\n")
            table.append(f"strided_{ndim}")
        lines.append(f"_STRIDED = ({', '.join(table)},)\n")
        return "\n".join(lines)


# scalar function -> operand pattern -> loaded kernel module (two plain lookups per call)
_loaded_modules: dict[ScalarFn, dict[str, Any]] = {}


def _kernels_module(fn: ScalarFn, pattern: str) -> Any:
    by_pattern = _loaded_modules.get(fn)
    if by_pattern is None:
        _prepare_numba()
        by_pattern = _loaded_modules[fn] = {}
    module = by_pattern.get(pattern)
    if module is None:
        module = by_pattern[pattern] = ElementwiseKernels(fn, pattern).module()
    return module


def loop_kernels(fn: ScalarFn, pattern: str) -> tuple[Any, ...]:
    """The loop-nest kernels by rank (0 to 8) for operands of the output's shape, to be called
    through ``run_loop`` (they compile nothing by themselves)."""
    module = _kernels_module(fn, pattern)
    if not module.__dict__.get("compile_disabled"):
        for kernel in module._STRIDED:
            kernel._can_compile = False  # disable_compile() refuses a dispatcher with no signature yet
        module.compile_disabled = True
    return module._STRIDED


_SPECIALISE_LOCK = threading.Lock()


def run_loop(kernel: Any, out: np.ndarray, operands: Sequence[Any]) -> None:
    """``kernel(out, *operands)`` for a kernel of ``loop_kernels``; scalars must be NumPy
    scalars of the compute dtype (a Python number could match a narrower compiled scalar type).

    The kernels have compilation disabled, so Numba picks among the specialisations already
    compiled, converting layouts: any operand that is not C-contiguous and writable runs the
    any-layout specialisation. A dtype set seen for the first time compiles what it needs."""
    try:
        kernel(out, *operands)
    except TypeError:
        add_loop_specialisations(kernel, out, operands)
        kernel(out, *operands)


def add_loop_specialisations(kernel: Any, out: np.ndarray, operands: Sequence[Any]) -> None:
    """Compile (or load from the disk cache) ``kernel`` for these dtypes with every array
    C-contiguous and, unless that is what was passed, with any layout (operands read-only,
    so read-only arrays convert to it too). The C version is compiled first even for a
    strided call: once the any-layout version exists, Numba would run C operands through it."""
    from numba import typeof, types

    given = tuple(typeof(x) for x in (out, *operands))
    contiguous = tuple(t.copy(layout="C", readonly=False) if isinstance(t, types.Array) else t for t in given)
    signatures = [contiguous]
    if given != contiguous:
        signatures.append(tuple(t.copy(layout="A", readonly=k > 0) if isinstance(t, types.Array) else t
                                for k, t in enumerate(given)))
    with _SPECIALISE_LOCK:  # another thread must not disable compiling in the middle
        kernel._can_compile = True
        try:
            for signature in signatures:
                kernel.compile(signature)
        finally:
            kernel._can_compile = False


def parallel_kernel(fn: ScalarFn, pattern: str) -> Any:
    """The threaded flat kernel; every array operand and the output must be C-contiguous."""
    return _serialized(_kernels_module(fn, pattern))


def _flat_views(out: np.ndarray, operands: Sequence[Any]) -> list[Any]:
    """1-D views of C-contiguous ``out`` and array ``operands``, so the flat kernels compile
    once per dtype set rather than once per rank."""
    return [out.ravel(), *(x.ravel() if isinstance(x, np.ndarray) else x for x in operands)]


def elementwise(fn: ScalarFn, operands: Sequence[Any], shape: tuple[int, ...],
                out_dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """Apply scalar ``fn`` across ``operands`` (arrays already in the compute dtype, or
    scalars) broadcast to ``shape``, writing into ``out`` (allocated if None)."""
    if out is None:
        out = np.empty(shape, out_dtype)
    size = out.size
    if size == 0:
        return out
    pattern = "".join("a" if isinstance(x, np.ndarray) else "s" for x in operands)
    module = _kernels_module(fn, pattern)
    flat = out.flags.c_contiguous
    if flat:
        for x in operands:
            if isinstance(x, np.ndarray) and (x.shape != shape or not x.flags.c_contiguous):
                flat = False
                break
    if flat:
        if size >= PARALLEL_THRESHOLD:
            _serialized(module)(out, *operands)
        else:
            module.flat(*_flat_views(out, operands))
        return out
    if out.ndim > 8:
        raise RuntimeError(f"tapegrad supports at most 8 dimensions, got shape {shape}")
    views = [broadcast_view(x, shape) if isinstance(x, np.ndarray) and x.shape != shape else x
             for x in operands]
    run_loop(loop_kernels(fn, pattern)[out.ndim], out, views)
    return out


def broadcast_view(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` seen at ``shape`` through zero strides, as ``np.broadcast_to`` sees it, but writable
    when ``x`` is. Numba types a read-only array as a type of its own, so read-only broadcast
    views compiled a second specialisation of every kernel for layouts it already had (the
    kernels only read their operands)."""
    lead = len(shape) - x.ndim
    strides = (0,) * lead + tuple(stride if size == target else 0
                                  for size, target, stride in zip(x.shape, shape[lead:], x.strides))
    if x.flags.c_contiguous or x.flags.f_contiguous:
        return np.ndarray(shape, x.dtype, x, 0, strides)  # 3x faster than as_strided
    return np.lib.stride_tricks.as_strided(x, shape, strides)


# ----------------------------------------------------------------------------- reductions

_REDUCE_SOURCE = """
@njit(cache=CACHE, fastmath={'reassoc', 'nsz', 'contract'}, error_model='numpy', nogil=True)
def sum_rows(x, out):
    # The int64 start unifies with float elements to a float64 accumulator, so float32
    # sums are accurate; integer sums stay int64 (PyTorch sums integers to int64).
    for r in range(x.shape[0]):
        acc = 0
        for i in range(x.shape[1]):
            acc += x[r, i]
        out[r] = acc


@njit(cache=CACHE, error_model='numpy', nogil=True)
def sum_leading(x, out):
    # Columns of a C-contiguous (reduced, kept) matrix summed row by row: the reduction over
    # leading axes (a bias gradient) without transposing x. out's dtype is the accumulator's.
    for j in range(x.shape[1]):
        out[j] = 0
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] += x[r, j]


@njit(cache=CACHE, error_model='numpy', nogil=True)
def prod_rows(x, out):
    for r in range(x.shape[0]):
        acc = 1
        for i in range(x.shape[1]):
            acc *= x[r, i]
        out[r] = acc


@njit(cache=CACHE, error_model='numpy', nogil=True)
def extreme_rows(x, values, indices, largest):
    # NaN wins (as in PyTorch); the first of equal extremes is reported.
    for r in range(x.shape[0]):
        best = x[r, 0]
        where = 0
        for i in range(1, x.shape[1]):
            v = x[r, i]
            if best != best:
                break
            if (v > best if largest else v < best) or v != v:
                best = v
                where = i
        values[r] = best
        indices[r] = where


# No 'reassoc': the row maximum must be exact for the shift to keep exp() in range.
@njit(cache=CACHE, error_model='numpy', nogil=True)
def softmax_rows(x, out, log):
    for r in range(x.shape[0]):
        peak = -np.inf
        for c in range(x.shape[1]):
            if x[r, c] > peak or x[r, c] != x[r, c]:
                peak = x[r, c]
        if log and (peak == np.inf or peak == -np.inf):
            peak = 0.0  # as logsumexp: inf - inf would be nan; shifting by 0 is exact
        total = 0.0
        for c in range(x.shape[1]):
            total += np.exp(np.float64(x[r, c] - peak))
        if log:
            shift = peak + np.log(total)
            for c in range(x.shape[1]):
                out[r, c] = x[r, c] - shift
        else:
            for c in range(x.shape[1]):
                out[r, c] = np.exp(np.float64(x[r, c] - peak)) / total


@njit(cache=CACHE, error_model='numpy', nogil=True)
def class_nll(rows, labels, ignore_index, divisor):
    # nll_loss when every class weighs 1: -sum_i rows[i, labels[i]] / divisor (0 / 0 is NaN
    # here, as in picked_sum), and the number of labels; or -1 for it as soon as a label equals
    # ignore_index (the caller then takes the general path, which masks). Subtracts and
    # divides in picked_sum's order: the same rounding.
    total = 0.0
    classes = rows.shape[1]
    for i in range(labels.shape[0]):
        label = labels[i]
        if label == ignore_index:
            return total, -1
        if label < 0 or label >= classes:
            raise IndexError("Target " + str(label) + " is out of bounds.")
        total -= rows[i, label]
    return total / divisor, labels.shape[0]


@njit(cache=CACHE, error_model='numpy', nogil=True)
def log_softmax_nll(x, labels, ignore_index, divisor, out):
    # cross_entropy of class-index targets without class weights: the rows' log-softmax into
    # ``out`` (what log_softmax gives), then class_nll of it.
    softmax_rows(x, out, True)
    return class_nll(out, labels, ignore_index, divisor)
"""


_modules: dict[str, Any] = {}


def _module(name: str, source: str) -> Any:
    """A fixed kernel module, loaded once per process."""
    module = _modules.get(name)
    if module is None:
        _prepare_numba()
        module = _modules[name] = kernel_cache.load_module(name, _HEADER + source)
    return module


def _reduce_module() -> Any:
    return _module("reduce", _REDUCE_SOURCE)


def _as_rows(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Move ``axes`` last and view ``x`` as (kept elements, reduced elements) rows."""
    if len(axes) == x.ndim and x.flags.c_contiguous:
        return x.reshape(1, x.size), ()  # a full reduction (the common loss.sum()): one row, no copy
    kept = [d for d in range(x.ndim) if d not in axes]
    kept_shape = tuple(x.shape[d] for d in kept)
    inner = 1
    for d in axes:
        inner *= x.shape[d]
    moved = x.transpose(kept + list(axes)) if axes != tuple(range(x.ndim - len(axes), x.ndim)) else x
    rows = np.ascontiguousarray(moved).reshape(math.prod(kept_shape), inner)
    return rows, kept_shape


def reduce_sum(x: np.ndarray, axes: tuple[int, ...], out_dtype: np.dtype) -> np.ndarray:
    """Sum over ``axes`` (kept dims dropped); float32 accumulates in float64 for accuracy."""
    module = _reduce_module()
    accumulator = np.float64 if out_dtype.kind == "f" else np.int64
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    lead = len(axes)
    if 0 < lead < x.ndim and axes[-1] == lead - 1 and x.flags.c_contiguous:
        # Leading axes of a contiguous array (a batch's bias gradient): summed in place, by columns.
        kept_shape = x.shape[lead:]
        acc = np.empty(math.prod(kept_shape), accumulator)
        module.sum_leading(x.reshape(math.prod(x.shape[:lead]), acc.shape[0]), acc)
        return acc.astype(out_dtype, copy=False).reshape(kept_shape)
    rows, kept_shape = _as_rows(x, axes)
    acc = np.empty(rows.shape[0], accumulator)
    module.sum_rows(rows, acc)
    return acc.astype(out_dtype, copy=False).reshape(kept_shape)


def softmax(x: np.ndarray, axis: int, log: bool) -> np.ndarray:
    """Softmax (or log-softmax) of a float array along ``axis``, one pass over each row."""
    last = axis == x.ndim - 1
    rows = np.ascontiguousarray(x if last else np.moveaxis(x, axis, -1))
    out = np.empty_like(rows)
    if rows.size:
        width = rows.shape[-1]
        _reduce_module().softmax_rows(rows.reshape(-1, width), out.reshape(-1, width), log)
    return out if last else np.ascontiguousarray(np.moveaxis(out, -1, axis))


def reduce_prod(x: np.ndarray, axes: tuple[int, ...], out_dtype: np.dtype) -> np.ndarray:
    rows, kept_shape = _as_rows(x.astype(out_dtype, copy=False), axes)
    out = np.empty(rows.shape[0], out_dtype)
    _reduce_module().prod_rows(rows, out)
    return out.reshape(kept_shape)


def reduce_extreme(x: np.ndarray, axes: tuple[int, ...], largest: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(values, flat index within the reduced axes) of the max or min over ``axes``."""
    rows, kept_shape = _as_rows(x, axes)
    values = np.empty(rows.shape[0], x.dtype)
    indices = np.empty(rows.shape[0], np.int64)
    module = _reduce_module()
    if rows.dtype == np.bool_:
        rows = rows.view(np.uint8)
        values = values.view(np.uint8)
    module.extreme_rows(rows, values, indices, largest)
    return values.view(x.dtype).reshape(kept_shape), indices.reshape(kept_shape)


# ------------------------------------------------------------------------ matmul, indexing

_LINALG_SOURCE = """
@njit(cache=CACHE, error_model='numpy', nogil=True)
def dot(a, b, out):
    np.dot(a, b, out)


@njit(cache=CACHE, error_model='numpy', nogil=True)
def dot_add_row(a, b, row, out):
    # a @ b with ``row`` then added to each row of the product (one rounding per add, as
    # NumPy's ``+=`` has): a linear layer's forward in one call.
    np.dot(a, b, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += row[j]


@njit(cache=CACHE, error_model='numpy', nogil=True)
def batched_dot(a, b, out):
    for i in range(a.shape[0]):
        out[i] = np.dot(a[i], b[i])


@njit(cache=CACHE, error_model='numpy', nogil=True)
def int_batched_matmul(a, b, out):
    for n in range(a.shape[0]):
        for i in range(a.shape[1]):
            for j in range(b.shape[2]):
                acc = 0
                for k in range(a.shape[2]):
                    acc += a[n, i, k] * b[n, k, j]
                out[n, i, j] = acc


@njit(cache=CACHE, error_model='numpy', nogil=True)
def picked_sum(rows, index, weight, denominator):
    # -sum_i rows[i, index[i]] * weight[i] / denominator: NLL of class-index targets in one pass.
    total = 0.0
    for i in range(index.shape[0]):
        total -= rows[i, index[i]] * weight[i]
    return total / denominator


@njit(cache=CACHE, error_model='numpy', nogil=True)
def nll_targets(labels, class_weights, classes, ignore_index, index, picked, ignored):
    # PyTorch's nll_loss bookkeeping for flat class-index targets: the class each one picks
    # (0 for an ignored one, so a gather stays in range), its weight (0 if ignored), whether it
    # is ignored; returns the total weight, the mean's divisor. An empty ``class_weights``
    # weighs every class 1.
    total = 0.0
    for i in range(labels.shape[0]):
        label = labels[i]
        if label == ignore_index:
            index[i] = 0
            picked[i] = 0
            ignored[i] = True
            continue
        if label < 0 or label >= classes:
            raise IndexError("Target " + str(label) + " is out of bounds.")
        weight = class_weights[label] if class_weights.shape[0] else 1.0
        index[i] = label
        picked[i] = weight
        ignored[i] = False
        total += picked[i]
    return total


@njit(cache=CACHE, error_model='numpy', nogil=True)
def scatter_add_rows(out, index, src):
    # out: (n, m); index, src: (k,) flat positions into out.reshape(-1)
    flat = out.reshape(out.size)
    for i in range(index.shape[0]):
        flat[index[i]] += src[i]
"""


def _linalg_module() -> Any:
    return _module("linalg", _LINALG_SOURCE)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D or batched 3-D operands of one dtype (batch dims already matched)."""
    module = _linalg_module()
    if a.ndim == 2 and a.dtype.kind == "f" and a.shape[1] > 0:
        # BLAS reads a transposed (Fortran-ordered) operand as it is: no copy of a weight's .T.
        out = np.empty((a.shape[0], b.shape[1]), a.dtype)
        module.dot(_blas_ready(a), _blas_ready(b), out)
        return out
    squeeze = a.ndim == 2
    if squeeze:
        a, b = a[None], b[None]
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    if a.dtype.kind == "f":
        if a.shape[2] == 0:
            out[...] = 0
        else:
            module.batched_dot(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    else:
        module.int_batched_matmul(a, b, out)
    return out[0] if squeeze else out


def addmm_row(row: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b + row`` for 2-D float operands of one dtype with ``a.shape[1] > 0`` and a 1-D
    ``row`` of that dtype as long as ``b`` is wide."""
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    _linalg_module().dot_add_row(_blas_ready(a), _blas_ready(b), row, out)
    return out


def _blas_ready(x: np.ndarray) -> np.ndarray:
    flags = x.flags
    return x if flags.c_contiguous or flags.f_contiguous else np.ascontiguousarray(x)


def negative_picked_sum(rows: np.ndarray, index: np.ndarray, weight: np.ndarray, denominator: float) -> np.ndarray:
    """``-sum(rows[i, index[i]] * weight[i]) / denominator`` as a 0-d array of ``rows``' dtype."""
    value = _linalg_module().picked_sum(rows, index, weight, float(denominator))
    return np.asarray(value, dtype=rows.dtype)


def class_nll(rows: np.ndarray, labels: np.ndarray, ignore_index: int, divisor: float) -> tuple[float, int]:
    """(-sum of ``rows[i, labels[i]]`` / ``divisor``, the number of labels) for 2-D float
    ``rows`` and 1-D int64 ``labels``, one per row; the number is -1 where a label equals
    ``ignore_index``. Raises PyTorch's IndexError for a label out of range."""
    return _reduce_module().class_nll(rows, labels, ignore_index, divisor)


def log_softmax_nll(rows: np.ndarray, labels: np.ndarray, ignore_index: int,
                    divisor: float) -> tuple[np.ndarray, float, int]:
    """``rows``' log-softmax along dim 1 (as ``softmax(rows, 1, log=True)`` gives it), then
    ``class_nll`` of it, in one call; ``rows`` has at least one column."""
    out = np.empty(rows.shape, rows.dtype)
    loss, count = _reduce_module().log_softmax_nll(rows, labels, ignore_index, divisor, out)
    return out, loss, count


def nll_targets(labels: np.ndarray, class_weights: np.ndarray | None, classes: int, ignore_index: int,
                dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Class-index targets ``labels`` (int64) for ``classes`` classes, as nll_loss reads them:
    (the class each picks, 0 where ignored; its weight in ``dtype``, 0 where ignored; whether it
    equals ``ignore_index``; the total weight as a 0-d array of ``dtype``). Raises PyTorch's
    IndexError for a target out of range."""
    shape = labels.shape
    index, picked, ignored = np.empty(shape, np.int64), np.empty(shape, dtype), np.empty(shape, np.bool_)
    weights = np.empty(0, dtype) if class_weights is None else np.ascontiguousarray(class_weights, dtype)
    total = _linalg_module().nll_targets(np.ascontiguousarray(labels).reshape(-1), weights, classes, ignore_index,
                                         index.reshape(-1), picked.reshape(-1), ignored.reshape(-1))
    return index, picked, ignored, np.asarray(total, dtype)


def scatter_add_flat(out: np.ndarray, flat_index: np.ndarray, src: np.ndarray) -> None:
    """``out.reshape(-1)[flat_index[i]] += src[i]`` with repeats accumulating (contiguous out)."""
    _linalg_module().scatter_add_rows(out, flat_index, src)


# Numba's threading layers: 'omp' dies in a forked child (data-loader workers), 'workqueue'
# aborts when two threads launch parallel kernels at once, and 'tbb' (safe for both) has no
# wheel that loads with current Numba. So tapegrad uses 'workqueue' and serializes parallel
# launches with a lock, unless the user chose a layer with NUMBA_THREADING_LAYER.
_PARALLEL_LOCK = threading.Lock()
_numba_prepared = False


def _prepare_numba() -> None:
    global _numba_prepared
    if _numba_prepared:
        return
    import numba

    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"
    _numba_prepared = True


def _serialized(module: Any) -> Any:
    """``module.flat_parallel`` behind the process-wide lock (made once per module)."""
    run = module.__dict__.get("flat_parallel_serialized")
    if run is None:
        kernel = module.flat_parallel

        def run(out: np.ndarray, *operands: Any) -> None:
            views = _flat_views(out, operands)
            with _PARALLEL_LOCK:
                kernel(*views)

        module.flat_parallel_serialized = run
    return run


_GATHER_SOURCE = """
@njit(cache=CACHE, error_model='numpy', nogil=True)
def gather_flat(src, positions, out):
    for i in range(positions.shape[0]):
        out[i] = src[positions[i]]
"""


def gather_flat(src: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``src[positions]`` for 1-D ``src`` and in-range int64 ``positions``."""
    out = np.empty(positions.shape[0], src.dtype)
    _module("gather", _GATHER_SOURCE).gather_flat(src, np.ascontiguousarray(positions, dtype=np.int64), out)
    return out
