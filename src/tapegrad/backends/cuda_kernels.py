"""CUDA kernels generated from the same scalar definitions the CPU backend compiles.

Groundwork for the CUDA backend (``numba.cuda`` from the numba-cuda package). Nothing here
imports ``numba.cuda`` before a kernel is asked for, so ``import tapegrad`` never pays for it.

Kernel kinds, all generated as Python source, written through ``kernel_cache.load_module``
(like ``cpu.py``) and specialised by Numba per dtype at the first launch:

- **chains**: a small DAG of scalar functions over input operands, evaluated per element by
  ONE kernel that may write several outputs (what fusion uses). A single elementwise op is the
  one-step chain (:func:`elementwise_chain`). Every chain module holds two kernels:

  * ``flat``: every array operand and output C-contiguous with the output's shape; a
    grid-stride loop over the flat index;
  * ``strided``: outputs C-contiguous, array operands given as (1-D buffer, element strides)
    with zero strides for broadcast dimensions, up to :data:`MAX_DIMS` dimensions; the flat
    output index is split into coordinates and each operand's offset is their dot product
    with its strides.

- **sums**: :func:`sum_rows` (one block per row: a strided per-thread accumulation, then a
  shared-memory tree reduction) and :func:`sum_all` (per-block partial sums, then
  ``sum_rows`` over the partials as the second pass: no atomics, so results are
  deterministic). Floats accumulate in float64 by default, as the CPU backend's ``reduce_sum``
  does, so both backends agree on float32 sums to the last bit more often than not; a sum is
  memory-bound, and float64 adds are cheap on data-centre GPUs (pass ``acc="float32"`` for
  consumer GPUs, whose float64 rate is 1/64).

Scalar definitions may call ``fast_exp``, ``fast_tanh``, ... (``tapegrad.backends.scalar_math``),
which on the CPU are polynomial approximations built from LLVM intrinsics. Each generated
CUDA module defines the same names as CUDA device functions over ``math.*`` (libdevice), which
GPUs evaluate quickly; so the same scalar source compiles for both targets.

All device functions are inlined at Numba-IR level (``inline="always"``): a device function
that is not inlined is compiled for the *current device*, which needs a GPU, while inlined
ones let ``numba.cuda.compile_ptx`` build every kernel on a machine without one (the PTX
tests in ``tests/cuda`` rely on it). Kernels use ``cuda.jit(cache=CACHE)``: numba-cuda caches
compiled kernels next to the generated file, keyed also by compute capability; under the
simulator (``NUMBA_ENABLE_CUDASIM=1``) nothing is cached.

Scalar operands should be NumPy scalars of the compute dtype (``np.float32(0.5)``), as the CPU
backend passes them: a Python float is typed float64 and would turn float32 arithmetic into
float64 arithmetic. Likewise a literal inside a scalar definition may make float32 kernels
compute partly in float64 (Numba types int64 - float32 and float64 * float32 as float64):
``x * 0.5`` happens to shrink back to float32 in NVVM, but ``1 - y * y`` (tanh's backward),
``math.nan`` or ``0.0`` in a branch do not. Correct, but slower on GPUs with a low float64
rate; ``tests/cuda/test_cuda_ptx.py`` checks which kernels stay float32.
"""
from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numba.core import config as numba_config

from . import cuda_capture, kernel_cache
from .cuda_launch import launch

ScalarFn = Callable[..., Any]
Step = tuple[ScalarFn, tuple[int, ...]]

# The strided kernels index with this many coordinates (shapes are padded with leading 1s).
MAX_DIMS = 4
# Grid-stride loops make any grid correct; capping it keeps launch cost flat for huge arrays
# (65536 blocks x 256 threads is far more than the ~270k threads an H100 keeps resident).
# The simulator runs every CUDA thread as a Python thread (and polls them all while they run),
# so there grid-stride launches get two blocks of one warp: launches stay cheap, and every
# grid-stride loop goes round more than once, as it does on a GPU only for huge arrays.
_SIMULATED = bool(numba_config.ENABLE_CUDASIM)
DEFAULT_THREADS = 32 if _SIMULATED else 256
MAX_BLOCKS = 2 if _SIMULATED else 1 << 16
DEFAULT_REDUCE_BLOCK = 256

# The names of ``scalar_math`` that scalar definitions call, defined here as device functions.
# ``type(x)(1)`` keeps float32 in float32: a ``1.0`` literal would make the division float64.
_CUDA_MATH_SOURCE = '''
@device_function
def fast_exp(x):
    return math.exp(x)


@device_function
def fast_expm1(x):
    return math.expm1(x)


@device_function
def fast_log(x):
    return math.log(x)


@device_function
def fast_log1p(x):
    return math.log1p(x)


@device_function
def fast_tanh(x):
    return math.tanh(x)


@device_function
def fast_sigmoid(x):
    one = type(x)(1)
    return one / (one + math.exp(-x))


@device_function
def accumulate(total, x):
    return total + x


# numba-cuda lowers no np.floor/np.ceil/np.round for scalars, while libdevice's float64
# versions compile to one instruction (cvt.rmi/cvt.rpi/cvt.rni) and are exact for float32 too;
# type(x)(...) turns the result back into x's type. The simulator runs Python, where libdevice
# functions return None: there NumPy's ufuncs of the same names do the job. (A module, not
# three names: pasted scalar definitions such as _floor must not shadow them.)
if numba.config.ENABLE_CUDASIM:
    rounding_math = np
else:
    from numba.cuda import libdevice as rounding_math


@device_function
def float_floor(x):
    return type(x)(rounding_math.floor(x))


@device_function
def float_ceil(x):
    return type(x)(rounding_math.ceil(x))


@device_function
def float_round(x):
    return type(x)(rounding_math.rint(x))  # round half to even, as np.round
'''
CUDA_MATH_NAMES = ("accumulate", "fast_exp", "fast_expm1", "fast_log", "fast_log1p", "fast_tanh", "fast_sigmoid",
                   "float_ceil", "float_floor", "float_round")


def _header() -> str:
    # The numba-cuda version is part of the source, hence of the cache key: Numba's own
    # staleness check knows only Numba's version, not the CUDA target's.
    return f"""\
# generated by tapegrad.backends.cuda_kernels for numba {_numba_version()}, numba-cuda {_numba_cuda_version()}
import math
import numba
import numpy as np
from numba import cuda

device_function = cuda.jit(device=True, inline="always")
kernel = cuda.jit(cache=CACHE and not numba.config.ENABLE_CUDASIM)
"""


def _numba_version() -> str:
    import numba

    return str(numba.__version__)


def _numba_cuda_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:
        return "built-in"


def _scalar_source(fn: ScalarFn) -> str:
    source = textwrap.dedent(inspect.getsource(fn))
    # inspect reads the file as it is now: after an edit it may return another function.
    if not source.startswith(f"def {fn.__name__}("):
        raise RuntimeError(f"cannot paste {fn.__qualname__}: its source is not a plain def "
                           "or its file changed since it was imported")
    return source


def _cuda() -> Any:
    """``numba.cuda``, imported on first need (it costs ~0.5 s)."""
    from numba import cuda

    return cuda


def queued(stream: Any) -> Any:
    """The stream to hand numba's copy and memset functions so that they are queued on the
    default stream rather than waited for: numba treats ``stream=0`` as "synchronous", and a
    synchronous host-to-device copy first waits for every kernel queued before it."""
    if stream or numba_config.ENABLE_CUDASIM:  # the simulator runs everything at once anyway
        return stream
    return _cuda().legacy_default_stream()


def upload(host: np.ndarray, stream: Any = 0) -> Any:
    """A new device array holding ``host`` (copied through a staging buffer, so ``host`` may
    change as soon as this returns), queued on ``stream`` without waiting for the device."""
    host = np.ascontiguousarray(host)
    out = _cuda().device_array(host.shape, host.dtype)
    out.copy_to_device(host, stream=queued(stream))
    return out


def fill_zeros(out: Any, stream: Any = 0) -> Any:
    """Zero the C-contiguous device array ``out`` on ``stream`` (a memset: no host copy)."""
    if numba_config.ENABLE_CUDASIM:
        out.copy_to_device(np.zeros(out.shape, out.dtype), stream=stream)
    elif out.size:
        from numba.cuda.cudadrv import driver

        cuda_capture.run(functools.partial(driver.device_memset, out, 0, out.size * out.dtype.itemsize,
                                           stream=queued(stream)))
    return out


def _load(name: str, source: str) -> Any:
    # numba-cuda 0.30.4 registers an overload of np.row_stack when it first compiles, and
    # NumPy 2.5 removed that alias of vstack: restore it, or every compilation fails.
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    return kernel_cache.load_module(name, source)


# ------------------------------------------------------------------------------ chains

class Chain:
    """An expression DAG of scalar functions, compiled into one CUDA kernel per layout.

    ``pattern`` has one letter per input operand: ``a`` for an array, ``s`` for a scalar.
    Values are numbered: inputs are ``0 .. len(pattern) - 1``, and step ``k`` makes value
    ``len(pattern) + k``. Each step is ``(scalar function, argument value numbers)`` and may
    use only values made before it. ``outputs`` lists the value numbers written out, in order.

    Example (``tanh(x * c) + x`` for array ``x`` and scalar ``c``)::

        chain = Chain("as", [(_mul, (0, 1)), (_tanh, (2,)), (_add, (3, 0))], outputs=(4,))
        run_chain(chain, [out], [x, np.float32(0.5)])
    """

    __slots__ = ("_module", "outputs", "pattern", "steps")

    def __init__(self, pattern: str, steps: Sequence[Step], outputs: Sequence[int]) -> None:
        if not pattern or set(pattern) - {"a", "s"}:
            raise ValueError(f"pattern must be made of 'a' and 's', got {pattern!r}")
        steps = tuple((fn, tuple(args)) for fn, args in steps)
        for k, (fn, args) in enumerate(steps):
            made = len(pattern) + k
            if any(not 0 <= ref < made for ref in args):
                raise ValueError(f"step {k} ({fn.__name__}) refers to a value not made before it: {args}")
        outputs = tuple(outputs)
        if not outputs or any(not 0 <= ref < len(pattern) + len(steps) for ref in outputs):
            raise ValueError(f"outputs must name existing values, got {outputs}")
        self.pattern = pattern
        self.steps = steps
        self.outputs = outputs
        self._module: Any = None

    def module(self) -> Any:
        """The loaded kernel module (``flat`` and ``strided`` kernels), generated on first use."""
        if self._module is None:
            names = "_".join(fn.__name__.strip("_") for fn, _ in self.steps[:3])
            more = f"_{len(self.steps)}steps" if len(self.steps) > 3 else ""
            self._module = _load(f"cuda_{names}{more}_{self.pattern}", self.source())
        return self._module

    def source(self) -> str:
        """The generated module source."""
        functions: dict[ScalarFn, str] = {}  # each distinct scalar function once, as _f<k>
        lines = [_header(), _CUDA_MATH_SOURCE]
        for fn, _ in self.steps:
            if fn not in functions:
                alias = functions[fn] = f"_f{len(functions)}"
                # Bound to an alias right after its definition: two functions with the same
                # __name__ stay distinct.
                lines.append(f"\n{_scalar_source(fn)}\n{alias} = device_function({fn.__name__})\n")
        lines.append(self._kernel("flat", functions))
        lines.append(self._kernel("strided", functions))
        return "\n".join(lines)

    def _kernel(self, kind: str, functions: dict[ScalarFn, str]) -> str:
        n_in = len(self.pattern)
        outs = [f"o{j}" for j in range(len(self.outputs))]
        params = list(outs)
        if kind == "strided":
            params.append("shape")
        body = ["        rest = i"] if kind == "strided" else []
        if kind == "strided":
            # Coordinates of the flat index, last dimension fastest (C order).
            for d in range(MAX_DIMS - 1, 0, -1):
                body.append(f"        i{d} = rest % shape[{d}]")
                body.append(f"        rest //= shape[{d}]")
            body.append("        i0 = rest")
        for k, kind_letter in enumerate(self.pattern):
            params.append(f"a{k}")
            if kind_letter == "s":
                body.append(f"        v{k} = a{k}")
            elif kind == "flat":
                body.append(f"        v{k} = a{k}[i]")
            else:
                params.append(f"s{k}")
                offset = " + ".join(f"i{d} * s{k}[{d}]" for d in range(MAX_DIMS))
                body.append(f"        v{k} = a{k}[{offset}]")
        for k, (fn, args) in enumerate(self.steps):
            call_args = ", ".join(f"v{ref}" for ref in args)
            body.append(f"        v{n_in + k} = {functions[fn]}({call_args})")
        for out, ref in zip(outs, self.outputs):
            body.append(f"        {out}[i] = v{ref}")
        return (f"\n@kernel\ndef {kind}({', '.join(params)}):\n"
                f"    for i in range(cuda.grid(1), o0.size, cuda.gridsize(1)):\n"
                + "\n".join(body) + "\n")


_elementwise_chains: dict[tuple[ScalarFn, str], Chain] = {}


def elementwise_chain(fn: ScalarFn, pattern: str) -> Chain:
    """The one-step chain applying ``fn`` to all operands (one per letter of ``pattern``)."""
    chain = _elementwise_chains.get((fn, pattern))
    if chain is None:
        chain = _elementwise_chains[fn, pattern] = Chain(
            pattern, [(fn, tuple(range(len(pattern))))], outputs=(len(pattern),))
    return chain


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (np.generic, int, float, bool))


def launch_shape(n: int, threads: int = DEFAULT_THREADS) -> tuple[int, int]:
    """(blocks, threads per block) for a grid-stride kernel over ``n`` elements."""
    # Tiny arrays get one small block: fewer idle threads (and a much faster simulator).
    threads = min(threads, 32 * -(-n // 32))
    return min(-(-n // threads), MAX_BLOCKS), threads


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array of ``shape`` viewed at ``out_shape``
    (broadcast dimensions get stride 0), padded on the left to :data:`MAX_DIMS`."""
    if len(out_shape) > MAX_DIMS or len(shape) > len(out_shape):
        raise ValueError(f"cannot broadcast {tuple(shape)} to {tuple(out_shape)} in {MAX_DIMS} dims")
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides = []
    step = 1
    for size, target in zip(reversed(padded), reversed(tuple(out_shape))):
        if size not in (1, target):
            raise ValueError(f"cannot broadcast {tuple(shape)} to {tuple(out_shape)}")
        strides.append(step if size == target and size != 1 else 0)
        step *= size
    return (0,) * (MAX_DIMS - len(out_shape)) + tuple(reversed(strides))


def run_chain(chain: Chain, outs: Sequence[Any], operands: Sequence[Any], *,
              threads: int = DEFAULT_THREADS, stream: Any = 0) -> None:
    """Launch ``chain`` writing ``outs`` (C-contiguous device arrays, all of one shape).

    Each array operand is either a C-contiguous device array whose shape broadcasts to the
    outputs' shape, or a pair ``(buffer, strides)``: a 1-D device array starting at the
    view's first element and its element strides (non-negative, zero where broadcast, one per
    output dimension) — the form a strided tensor view will use. Scalars (``s`` in the
    pattern) are passed as they are. The ``flat`` kernel runs when every array operand is
    C-contiguous with the outputs' shape, the ``strided`` one otherwise.
    """
    if len(outs) != len(chain.outputs) or len(operands) != len(chain.pattern):
        raise ValueError(f"chain takes {len(chain.pattern)} operands and {len(chain.outputs)} outputs, "
                         f"got {len(operands)} and {len(outs)}")
    shape = tuple(outs[0].shape)
    size = int(np.prod(shape, dtype=np.int64))
    for out in outs:
        if tuple(out.shape) != shape or not out.is_c_contiguous():
            raise ValueError("outputs must be C-contiguous and of one shape")
    if size == 0:
        return
    module = chain.module()
    blocks, threads = launch_shape(size, threads)
    flat_outs = [out.reshape(size) for out in outs]
    flat = all(kind == "s" or (not isinstance(x, tuple) and tuple(x.shape) == shape and x.is_c_contiguous())
               for kind, x in zip(chain.pattern, operands))
    if flat:
        args = [x if kind == "s" else x.reshape(size) for kind, x in zip(chain.pattern, operands)]
        launch(module.flat, blocks, threads, stream, *flat_outs, *args)
        return
    if len(shape) > MAX_DIMS:
        raise ValueError(f"strided CUDA kernels take at most {MAX_DIMS} dimensions, got shape {shape}")
    args = [(1,) * (MAX_DIMS - len(shape)) + shape]
    for kind, x in zip(chain.pattern, operands):
        if kind == "s":
            args.append(x)
        elif isinstance(x, tuple):
            buffer, strides = x
            if len(strides) != len(shape) or min(strides, default=0) < 0:
                raise ValueError(f"need {len(shape)} non-negative strides, got {strides}")
            args += [buffer, (0,) * (MAX_DIMS - len(shape)) + tuple(int(s) for s in strides)]
        else:
            if not x.is_c_contiguous():
                raise ValueError("pass a non-contiguous operand as (buffer, strides)")
            args += [x.reshape(x.size), broadcast_strides(x.shape, shape)]
    launch(module.strided, blocks, threads, stream, *flat_outs, *args)


def elementwise(fn: ScalarFn, out: Any, operands: Sequence[Any], *,
                threads: int = DEFAULT_THREADS, stream: Any = 0) -> Any:
    """Apply scalar ``fn`` across ``operands`` into device array ``out`` and return ``out``
    (operands as for :func:`run_chain`; the pattern follows from which are scalars)."""
    pattern = "".join("s" if _is_scalar(x) else "a" for x in operands)
    run_chain(elementwise_chain(fn, pattern), [out], operands, threads=threads, stream=stream)
    return out


# ------------------------------------------------------------------------------ sums

_SUM_SOURCE = """
ACC = numba.{acc}
BLOCK = {block}


@device_function
def _block_total(cache, tid):
    # Tree reduction in shared memory; BLOCK is a power of two. Every thread of the block
    # calls this, so the barriers are reached uniformly.
    width = BLOCK // 2
    while width > 0:
        if tid < width:
            cache[tid] += cache[tid + width]
        cuda.syncthreads()
        width //= 2
    return cache[0]


@kernel
def sum_rows(x, out):
    # Blocks stride over rows; within a row, threads stride over columns.
    cache = cuda.shared.array(BLOCK, ACC)
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
        acc = ACC(0)
        for c in range(tid, x.shape[1], BLOCK):
            acc += x[r, c]
        cache[tid] = acc
        cuda.syncthreads()
        total = _block_total(cache, tid)
        if tid == 0:
            out[r] = total
        cuda.syncthreads()  # cache[0] is read before the next row overwrites it


@kernel
def partial_sums(x, partial):
    cache = cuda.shared.array(BLOCK, ACC)
    tid = cuda.threadIdx.x
    acc = ACC(0)
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        acc += x[i]
    cache[tid] = acc
    cuda.syncthreads()
    total = _block_total(cache, tid)
    if tid == 0:
        partial[cuda.blockIdx.x] = total
"""

_sum_modules: dict[tuple[str, int], Any] = {}


def sum_module(acc: str = "float64", block: int = DEFAULT_REDUCE_BLOCK) -> Any:
    """The sum kernels (``sum_rows``, ``partial_sums``) accumulating in ``acc`` (a Numba
    type name: float64, float32, int64) with ``block`` threads per block (a power of two)."""
    if acc not in ("float64", "float32", "int64"):
        raise ValueError(f"unsupported accumulator {acc!r}")
    if block < 1 or block & (block - 1):
        raise ValueError(f"block must be a power of two, got {block}")
    module = _sum_modules.get((acc, block))
    if module is None:
        source = _header() + _SUM_SOURCE.format(acc=acc, block=block)
        module = _sum_modules[acc, block] = _load(f"cuda_sum_{acc}_{block}", source)
    return module


def _accumulator(dtype: np.dtype, acc: str | None) -> str:
    if acc is not None:
        return acc
    return "float64" if np.dtype(dtype).kind in "fc" else "int64"


def sum_rows(x: Any, out: Any, *, acc: str | None = None, block: int = DEFAULT_REDUCE_BLOCK,
             blocks: int | None = None, stream: Any = 0) -> Any:
    """``out[r] = sum(x[r, :])`` for a C-contiguous 2-D device array ``x``; returns ``out``.

    Floats accumulate in float64 and integers/bools in int64 unless ``acc`` says otherwise;
    the total is rounded once, on the store into ``out``. ``blocks`` caps the grid (default:
    one block per row, at most ``MAX_BLOCKS``)."""
    rows, cols = x.shape
    if rows == 0:
        return out
    if cols == 0:
        return fill_zeros(out, stream)
    module = sum_module(_accumulator(x.dtype, acc), block)
    grid = min(rows, blocks or MAX_BLOCKS)
    launch(module.sum_rows, grid, block, stream, x, out)
    return out


def sum_all(x: Any, out: Any = None, *, acc: str | None = None, block: int = DEFAULT_REDUCE_BLOCK,
            blocks: int | None = None, stream: Any = 0) -> Any:
    """The sum of every element of C-contiguous device array ``x``, written to (and returned
    as) the 1-element device array ``out`` (allocated in ``x``'s dtype when None).

    Two passes, no atomics: each block sums a grid-stride share into a partial, then one
    block sums the partials (``sum_rows`` over a single row)."""
    cuda = _cuda()
    acc = _accumulator(x.dtype, acc)
    if out is None:
        out = cuda.device_array(1, x.dtype, stream=stream)
    n = x.size
    if n == 0:
        return fill_zeros(out, stream)
    # A short array is summed by one block of about one thread an element (at least a warp),
    # not by a block of mostly idle threads (and the simulator runs each thread in Python).
    block = min(block, max(32, 1 << (n - 1).bit_length()))
    module = sum_module(acc, block)
    grid = min(-(-n // block), blocks or 4 * block)  # the second pass then reads <= 4 per thread
    partial = cuda.device_array(grid, np.dtype(acc), stream=stream)
    launch(module.partial_sums, grid, block, stream, x.reshape(n), partial)
    launch(module.sum_rows, 1, block, stream, partial.reshape(1, grid), out)
    return out
