"""Random number generation compatible with PyTorch's default CPU generator.

After ``tapegrad.manual_seed(s)`` the samplers below return the numbers that PyTorch's
CPU generator returns after ``torch.manual_seed(s)``, including across a sequence of
mixed calls (the Mersenne Twister state and the cached second Box-Muller value are
shared exactly as in PyTorch).

The engine is MT19937 seeded with the low 32 bits of the seed (``init_genrand``).
A "32-bit draw" is one engine output; a "64-bit draw" is two outputs ``hi, lo``
combined as ``hi << 32 | lo``.

Compatibility with torch 2.13 (x86-64 CPU build):

* ``uniform`` (``torch.rand`` / ``Tensor.uniform_``): exact (bitwise) for float32 (24
  low bits of a 32-bit draw) and float64 (53 low bits of a 64-bit draw), including
  ``low``/``high`` other than 0/1 (scaled with a fused multiply-add, as PyTorch's
  compiled kernel does).
* ``normal`` (``torch.randn`` / ``Tensor.normal_``): exact (bitwise) for float32 and
  float64.  Fewer than 16 elements: Box-Muller in double precision on pairs of 64-bit
  uniforms, with the sine value cached for the next draw.  16 or more: all uniforms are
  drawn first, transformed in blocks of 16, and when the count is not a multiple of 16
  the last 16 values are redrawn and transformed again.  The float32 block transform
  reproduces PyTorch's AVX2 kernel (Cephes-style single precision log/sincos with fused
  multiply-adds), which PyTorch uses on every x86-64 CPU with AVX2 (including AVX-512
  machines); a PyTorch build running its baseline (non-AVX2) kernels gives values that
  differ in the last bit or so.
* ``randint`` (``torch.randint`` / ``Tensor.random_(low, high)``): exact for integer
  dtypes.  Ranges below 2**28 use ``draw32 % range``, larger ranges ``draw64 % range``.
  Float dtypes get the same integers cast to float: exact for float64, and for
  float32 with ranges up to 2**24 (PyTorch treats wider float32 ranges differently).
* ``randperm`` (``torch.randperm``): exact.  Below ``n = 214748364`` it is a swap
  shuffle with ``draw32 % (n - i)``; from there on an inside-out shuffle with
  ``draw64 % (i + 1)``, as in PyTorch.
* ``bernoulli`` (``torch.bernoulli`` / ``Tensor.bernoulli_`` / dropout masks): exact for
  an array of probabilities (float64 probabilities compare against 64-bit uniforms,
  other dtypes against float32 uniforms), and for a scalar ``p`` (``uniform64 < p``)
  wherever PyTorch uses its own kernel: AMD and ARM CPUs and builds without MKL.  On
  Intel CPUs PyTorch's MKL build takes one 32-bit draw to seed MKL's MCG31 stream and
  samples from that stream, so those masks (and the numbers drawn after them) are not
  reproduced; the samples here are still correct Bernoulli(p) samples.

* ``exponential`` (``Tensor.exponential_``): exact for float32 and float64 wherever PyTorch
  uses its own kernel (``-1 / lambd * log1p(-u)`` of a 53-bit double uniform, cast to the
  dtype); on Intel CPUs PyTorch's MKL build draws from MKL's stream instead, as for bernoulli.
* The samplers of ``ops/sampling.py``, built on the draws at the end of this module:
  ``Tensor.random_`` (every form and dtype), ``cauchy_``, ``log_normal_`` (sharing the cached
  Box-Muller value with ``randn``), ``geometric_``, ``poisson``, ``binomial``, ``randint_like``
  and ``multinomial`` with and without replacement: exact, except the order of tied
  zero-probability categories in ``multinomial`` without replacement, and (as above) the
  draws PyTorch's MKL build takes from MKL's stream on Intel CPUs.

``Generator.random_bits(n)`` exposes the raw 32-bit engine outputs for other samplers.
``get_state``/``set_state`` use a layout of their own (not byte-compatible with
``torch.get_rng_state``).
"""
from __future__ import annotations

import operator
import os
import threading
from typing import Any

import numpy as np

from .device import device as _device
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "Generator",
    "default_generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
]

DEFAULT_SEED = 67280421310721
_UINT64_MASK = (1 << 64) - 1


def _jit(function):
    """``njit`` with an on-disk cache when one can be used."""
    try:
        return njit(cache=True)(function)
    except Exception:  # no writable cache location
        return njit(function)


def _jit_inline(function):
    """``njit`` for small helpers that are inlined into their callers."""
    return njit(inline="always")(function)


# --------------------------------------------------------------------------- intrinsics
# Exactly rounded fused multiply-add and float32 <-> int32 bit casts.

def _fma_intrinsic(numba_type: types.Type, llvm_type: ir.Type, llvm_name: str):
    """An exactly rounded ``a * b + c`` for one float type (LLVM's fma intrinsic)."""

    def fma(typingctx, a, b, c):
        sig = numba_type(numba_type, numba_type, numba_type)

        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(llvm_type, [llvm_type] * 3)
            fn = cgutils.get_or_insert_function(builder.module, fnty, llvm_name)
            return builder.call(fn, args)

        return sig, codegen

    return intrinsic(fma)


def _bitcast_intrinsic(source: types.Type, target: types.Type, llvm_target: ir.Type):
    """Reinterpret the bits of a ``source`` scalar as a ``target`` scalar of the same width."""

    def bitcast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_target)

        return target(source), codegen

    return intrinsic(bitcast)


_fma32 = _fma_intrinsic(types.float32, ir.FloatType(), "llvm.fma.f32")
_fma64 = _fma_intrinsic(types.float64, ir.DoubleType(), "llvm.fma.f64")
_f32_as_i32 = _bitcast_intrinsic(types.float32, types.int32, ir.IntType(32))
_i32_as_f32 = _bitcast_intrinsic(types.int32, types.float32, ir.FloatType())


# --------------------------------------------------------------------------- MT19937

_N = 624
_M = 397


def _init_genrand(seed32: int) -> np.ndarray:
    state = np.empty(_N, dtype=np.uint32)
    value = seed32 & 0xFFFFFFFF
    state[0] = value
    for i in range(1, _N):
        value = (1812433253 * (value ^ (value >> 30)) + i) & 0xFFFFFFFF
        state[i] = value
    return state


@_jit_inline
def _twist_one(mt, k, k1, km):
    y = (np.int64(mt[k]) & 0x80000000) | (np.int64(mt[k1]) & 0x7FFFFFFF)
    mt[k] = np.uint32(np.int64(mt[km]) ^ (y >> 1) ^ ((y & 1) * 0x9908B0DF))


@_jit
def _twist(mt):
    for k in range(_N - _M):
        _twist_one(mt, k, k + 1, k + _M)
    for k in range(_N - _M, _N - 1):
        _twist_one(mt, k, k + 1, k + _M - _N)
    _twist_one(mt, _N - 1, 0, _M - 1)


@_jit_inline
def _temper(y):
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y


@_jit
def _fill_raw(mt, pos, out):
    """Write the next ``out.size`` 32-bit outputs into ``out`` (uint32)."""
    i = pos[0]
    n = out.shape[0]
    k = 0
    while k < n:
        if i >= _N:
            _twist(mt)
            i = 0
        m = min(_N - i, n - k)
        for j in range(m):
            out[k + j] = np.uint32(_temper(np.int64(mt[i + j])))
        i += m
        k += m
    pos[0] = i


@_jit
def _next32(mt, pos):
    i = pos[0]
    if i >= _N:
        _twist(mt)
        i = 0
    pos[0] = i + 1
    return _temper(np.int64(mt[i]))


@_jit
def _next64(mt, pos):
    hi = np.uint64(_next32(mt, pos))
    lo = np.uint64(_next32(mt, pos))
    return (hi << np.uint64(32)) | lo


# --------------------------------------------------------------------------- uniforms

_F32_SCALE = np.float32(2.0 ** -24)
_F64_SCALE = 2.0 ** -53
_MASK24 = np.uint32(0xFFFFFF)
_MASK53 = np.uint64((1 << 53) - 1)


_CHUNK = _N  # raw outputs are produced a state block at a time (stays in L1 cache)


@_jit
def _uniform_f32_into(mt, pos, out, low, width):
    """Fill float32 ``out`` with ``low + u * width``, u from 24-bit draws."""
    n = out.shape[0]
    raw = np.empty(_CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:m])
        dst = out[k:k + m]
        for j in range(m):
            dst[j] = _fma32(np.float32(raw[j] & _MASK24) * _F32_SCALE, width, low)


@_jit
def _uniform_f64_into(mt, pos, out, low, width):
    """Fill float64 ``out`` with ``low + u * width``, u from 53-bit (64-bit) draws."""
    n = out.shape[0]
    raw = np.empty(2 * _CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:2 * m])
        dst = out[k:k + m]
        for j in range(m):
            v = (np.uint64(raw[2 * j]) << np.uint64(32)) | np.uint64(raw[2 * j + 1])
            dst[j] = _fma64(np.float64(v & _MASK53) * _F64_SCALE, width, low)


@_jit
def _uniform_f32(mt, pos, n, low, width):
    out = np.empty(n, np.float32)
    _uniform_f32_into(mt, pos, out, low, width)
    return out


@_jit
def _uniform_f64(mt, pos, n, low, width):
    out = np.empty(n, np.float64)
    _uniform_f64_into(mt, pos, out, low, width)
    return out


# --------------------------------------------------------------------------- normals

_TWO_PI = 2.0 * np.pi
_TWO_PI_F = np.float32(2.0 * np.pi)
_ONE_F = np.float32(1.0)
_HALF_F = np.float32(0.5)
_MINUS_TWO_F = np.float32(-2.0)
_ZERO_F = np.float32(0.0)

# single precision log (Cephes logf coefficients)
_SQRTHF = np.float32(0.707106781186547524)
_LOG_P0 = np.float32(7.0376836292e-2)
_LOG_P1 = np.float32(-1.1514610310e-1)
_LOG_P2 = np.float32(1.1676998740e-1)
_LOG_P3 = np.float32(-1.2420140846e-1)
_LOG_P4 = np.float32(1.4249322787e-1)
_LOG_P5 = np.float32(-1.6668057665e-1)
_LOG_P6 = np.float32(2.0000714765e-1)
_LOG_P7 = np.float32(-2.4999993993e-1)
_LOG_P8 = np.float32(3.3333331174e-1)
_LOG_Q1 = np.float32(-2.12194440e-4)
_LOG_Q2 = np.float32(0.693359375)
# single precision sin/cos (Cephes sinf/cosf coefficients)
_FOPI = np.float32(1.27323954473516)
_DP1 = np.float32(-0.78515625)
_DP2 = np.float32(-2.4187564849853515625e-4)
_DP3 = np.float32(-3.77489497744594108e-8)
_SIN_P0 = np.float32(-1.9515295891e-4)
_SIN_P1 = np.float32(8.3321608736e-3)
_SIN_P2 = np.float32(-1.6666654611e-1)
_COS_P0 = np.float32(2.443315711809948e-005)
_COS_P1 = np.float32(-1.388731625493765e-003)
_COS_P2 = np.float32(4.166664568298827e-002)


# The two functions below are written without branches so that the block transform
# vectorizes; each operation is rounded to float32 exactly where the reference kernel
# rounds (including its fused multiply-adds).

@_jit_inline
def _logf(x):
    """Natural log of a positive normal float32, evaluated in single precision."""
    bits = _f32_as_i32(x)
    e = np.float32(((bits >> 23) & 0xFF) - 126)
    x = _i32_as_f32(np.int32((bits & 0x007FFFFF) | 0x3F000000))
    small = x < _SQRTHF
    e = e - (_ONE_F if small else _ZERO_F)
    x = (x - _ONE_F) + (x if small else _ZERO_F)
    z = x * x
    y = _fma32(_LOG_P0, x, _LOG_P1)
    y = _fma32(y, x, _LOG_P2)
    y = _fma32(y, x, _LOG_P3)
    y = _fma32(y, x, _LOG_P4)
    y = _fma32(y, x, _LOG_P5)
    y = _fma32(y, x, _LOG_P6)
    y = _fma32(y, x, _LOG_P7)
    y = _fma32(y, x, _LOG_P8)
    y = y * x
    y = _fma32(y, z, e * _LOG_Q1)
    y = _fma32(-z, _HALF_F, y)
    return _fma32(e, _LOG_Q2, x + y)


@_jit_inline
def _sincosf(x):
    """(sin x, cos x) of a non-negative float32, evaluated in single precision."""
    j = np.int32(x * _FOPI)
    j = (j + np.int32(1)) & np.int32(-2)
    y = np.float32(j)
    x = _fma32(y, _DP1, x)
    x = _fma32(y, _DP2, x)
    x = _fma32(y, _DP3, x)
    z = x * x
    c = _fma32(_COS_P0, z, _COS_P1)
    c = _fma32(c, z, _COS_P2)
    c = c * z
    c = _fma32(c, z, -(z * _HALF_F))
    c = c + _ONE_F
    s = _fma32(_SIN_P0, z, _SIN_P1)
    s = _fma32(s, z, _SIN_P2)
    s = s * z
    s = _fma32(s, x, x)
    sin_poly = (j & np.int32(2)) == np.int32(0)
    sin_value = s if sin_poly else c
    cos_value = c if sin_poly else s
    sin_value = -sin_value if (j & np.int32(4)) != np.int32(0) else sin_value
    cos_value = -cos_value if ((j - np.int32(2)) & np.int32(4)) == np.int32(0) else cos_value
    return sin_value, cos_value


@_jit
def _box_muller_f32(data, blocks, mean, std):
    """Transform the first ``blocks`` blocks of 16 uniforms of ``data`` in place."""
    for b in range(blocks):
        base = 16 * b
        for j in range(8):
            u1 = _ONE_F - data[base + j]
            u2 = data[base + 8 + j]
            radius = np.sqrt(_MINUS_TWO_F * _logf(u1))
            s, c = _sincosf(_TWO_PI_F * u2)
            data[base + j] = _fma32(radius * c, std, mean)
            data[base + 8 + j] = _fma32(radius * s, std, mean)


@_jit
def _box_muller_f64(data, blocks, mean, std):
    for b in range(blocks):
        base = 16 * b
        for j in range(8):
            u1 = 1.0 - data[base + j]
            u2 = data[base + 8 + j]
            radius = np.sqrt(-2.0 * np.log(u1))
            theta = _TWO_PI * u2
            data[base + j] = _fma64(radius * np.cos(theta), std, mean)
            data[base + 8 + j] = _fma64(radius * np.sin(theta), std, mean)


@_jit
def _normal_block_f32(mt, pos, n, mean, std):
    """n >= 16 float32 normals: all uniforms first, then Box-Muller on blocks of 16;
    when n is not a multiple of 16 the last 16 values are redrawn and redone."""
    out = np.empty(n, np.float32)
    _uniform_f32_into(mt, pos, out, _ZERO_F, _ONE_F)
    _box_muller_f32(out, n // 16, mean, std)
    if n % 16:
        tail = out[n - 16:]
        _uniform_f32_into(mt, pos, tail, _ZERO_F, _ONE_F)
        _box_muller_f32(tail, 1, mean, std)
    return out


@_jit
def _normal_block_f64(mt, pos, n, mean, std):
    """n >= 16 float64 normals, same scheme as the float32 version."""
    out = np.empty(n, np.float64)
    _uniform_f64_into(mt, pos, out, 0.0, 1.0)
    _box_muller_f64(out, n // 16, mean, std)
    if n % 16:
        tail = out[n - 16:]
        _uniform_f64_into(mt, pos, tail, 0.0, 1.0)
        _box_muller_f64(tail, 1, mean, std)
    return out


@_jit
def _normal_pairwise(mt, pos, n, mean, std, cache):
    """n double-precision normals, one at a time with a cached second value.

    ``cache`` is ``[has_value, value]`` and is updated in place.
    """
    out = np.empty(n, np.float64)
    for i in range(n):
        if cache[0] != 0.0:
            out[i] = _fma64(cache[1], std, mean)
            cache[0] = 0.0
            continue
        u1 = np.float64(_next64(mt, pos) & _MASK53) * _F64_SCALE
        u2 = np.float64(_next64(mt, pos) & _MASK53) * _F64_SCALE
        radius = np.sqrt(-2.0 * np.log1p(-u2))
        theta = _TWO_PI * u1
        cache[0] = 1.0
        cache[1] = radius * np.sin(theta)
        out[i] = _fma64(radius * np.cos(theta), std, mean)
    return out


# --------------------------------------------------------------------------- integers

_RANGE64_THRESHOLD = 1 << 28
_RANDPERM_SMALL_LIMIT = 0xFFFFFFFF // 20


@_jit
def _randint32(mt, pos, n, span, low):
    out = np.empty(n, np.int64)
    raw = np.empty(_CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:m])
        dst = out[k:k + m]
        for j in range(m):
            dst[j] = np.int64(raw[j]) % span + low
    return out


@_jit
def _randint64(mt, pos, n, span, low):
    out = np.empty(n, np.int64)
    raw = np.empty(2 * _CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:2 * m])
        dst = out[k:k + m]
        for j in range(m):
            v = (np.uint64(raw[2 * j]) << np.uint64(32)) | np.uint64(raw[2 * j + 1])
            dst[j] = np.int64(v % span) + low
    return out


@_jit
def _randperm_swap(mt, pos, n):
    out = np.arange(n)
    if n < 2:
        return out
    raw = np.empty(n - 1, np.uint32)
    _fill_raw(mt, pos, raw)
    for i in range(n - 1):
        z = np.int64(raw[i]) % (n - i) + i
        saved = out[i]
        out[i] = out[z]
        out[z] = saved
    return out


@_jit
def _randperm_inside_out(mt, pos, n):
    out = np.empty(n, np.int64)
    raw = np.empty(2 * _CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:2 * m])
        for j in range(m):
            i = k + j
            v = (np.uint64(raw[2 * j]) << np.uint64(32)) | np.uint64(raw[2 * j + 1])
            z = np.int64(v % np.uint64(i + 1))
            out[i] = out[z]
            out[z] = i
    return out


@_jit
def _bernoulli_scalar(mt, pos, n, p):
    """``uniform64 < p`` for n samples (PyTorch's non-MKL scalar kernel)."""
    out = np.empty(n, np.bool_)
    raw = np.empty(2 * _CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:2 * m])
        dst = out[k:k + m]
        for j in range(m):
            v = (np.uint64(raw[2 * j]) << np.uint64(32)) | np.uint64(raw[2 * j + 1])
            dst[j] = np.float64(v & _MASK53) * _F64_SCALE < p
    return out


@_jit
def _bernoulli_f64(mt, pos, p):
    """``uniform64 < p[i]`` for each probability (PyTorch's double-precision rule)."""
    n = p.shape[0]
    out = np.empty(n, np.bool_)
    raw = np.empty(2 * _CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:2 * m])
        dst = out[k:k + m]
        src = p[k:k + m]
        for j in range(m):
            v = (np.uint64(raw[2 * j]) << np.uint64(32)) | np.uint64(raw[2 * j + 1])
            dst[j] = np.float64(v & _MASK53) * _F64_SCALE < src[j]
    return out


@_jit
def _bernoulli_f32(mt, pos, p):
    """``uniform32 < p[i]`` for each float32 probability."""
    n = p.shape[0]
    out = np.empty(n, np.bool_)
    raw = np.empty(_CHUNK, np.uint32)
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        _fill_raw(mt, pos, raw[:m])
        dst = out[k:k + m]
        src = p[k:k + m]
        for j in range(m):
            dst[j] = np.float32(raw[j] & _MASK24) * _F32_SCALE < src[j]
    return out


# --------------------------------------------------------------------------- helpers

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _shape_of(shape) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    result = tuple(operator.index(d) for d in shape)
    if any(d < 0 for d in result):
        raise ValueError(f"negative dimension in shape {result}")
    return result


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


def _float_dtype(dtype, name: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: unsupported dtype {dt} (float32 or float64 expected)")
    return dt


def _normalize_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)):
        seed = int(seed)
    try:
        value = operator.index(seed)
    except TypeError:
        value = int(seed)
    if value < -(1 << 63) or value > _UINT64_MASK:
        raise ValueError(f"seed must be within [-2**63, 2**64 - 1], got {value}")
    return value & _UINT64_MASK


def _nondeterministic_seed() -> int:
    return int.from_bytes(os.urandom(8), "little")


_STATE_WORDS = _N * 4
_STATE_BYTES = _STATE_WORDS + 8 * 4  # mt words, position, seed, cache flag, cache value


# --------------------------------------------------------------------------- Generator

class Generator:
    """A random number generator reproducing PyTorch's default CPU generator.

    ``Generator("cuda")`` is the same engine for CUDA tensors: it draws on the host and the
    numbers are copied to the device (they are not those of PyTorch's CUDA generator)."""

    def __init__(self, device: Any = "cpu", *, seed: int = DEFAULT_SEED) -> None:
        self.device = _device(device)
        if self.device.type == "cuda":
            # A CUDA generator draws on the host and CUDA tensors get copies of its numbers
            # (see tapegrad.cuda.random); like PyTorch's, it needs a usable GPU.
            from .cuda import check_device

            self.device = check_device(self.device)
        elif self.device.type != "cpu":
            raise RuntimeError(f"Generator: only 'cpu' and 'cuda' generators exist, got device='{self.device}'")
        self._lock = threading.RLock()
        self._mt = np.empty(_N, dtype=np.uint32)
        self._pos = np.zeros(1, dtype=np.int64)
        self._normal_cache = np.zeros(2, dtype=np.float64)
        self._seed = 0
        self.manual_seed(seed)

    # -- seeding and state ---------------------------------------------------------

    def manual_seed(self, seed: int) -> "Generator":
        from .compiler import trace

        if trace.ACTIVE is not None:
            # A replay would not reseed: its dropout masks would differ from eager mode's.
            raise trace.TraceError("tapegrad.compile: the step seeds a random generator (manual_seed) while it is "
                                   "being recorded, and replays would not seed it again; seed outside the "
                                   "compiled function, or run this function eagerly.")
        value = _normalize_seed(seed)
        with self._lock:
            self._seed = value
            self._mt[:] = _init_genrand(value & 0xFFFFFFFF)
            self._pos[0] = _N
            self._normal_cache[:] = 0.0
        return self

    def seed(self) -> int:
        value = _nondeterministic_seed()
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> np.ndarray:
        with self._lock:
            head = self._mt.astype("<u4").tobytes()
            tail = np.array([self._pos[0], self._seed, int(self._normal_cache[0] != 0.0)],
                            dtype="<u8").tobytes()
            cache = np.array([self._normal_cache[1]], dtype="<f8").tobytes()
        return np.frombuffer(head + tail + cache, dtype=np.uint8).copy()

    def set_state(self, state: np.ndarray) -> None:
        data = np.ascontiguousarray(np.asarray(state))
        if data.dtype != np.uint8 or data.ndim != 1 or data.size != _STATE_BYTES:
            raise ValueError(f"expected a uint8 array of {_STATE_BYTES} bytes "
                             "from Generator.get_state()")
        raw = data.tobytes()
        mt = np.frombuffer(raw[:_STATE_WORDS], dtype="<u4")
        position, seed_value, has_cache = (int(v) for v in np.frombuffer(
            raw[_STATE_WORDS:_STATE_WORDS + 24], dtype="<u8"))
        cache_value = float(np.frombuffer(raw[_STATE_WORDS + 24:], dtype="<f8")[0])
        if not 0 <= position <= _N or has_cache not in (0, 1):
            raise ValueError("invalid generator state")
        with self._lock:
            self._mt[:] = mt
            self._pos[0] = position
            self._seed = seed_value
            self._normal_cache[0] = float(has_cache)
            self._normal_cache[1] = cache_value if has_cache else 0.0

    # -- raw draws -----------------------------------------------------------------

    def random_bits(self, n: int) -> np.ndarray:
        """The next ``n`` raw 32-bit engine outputs as uint32."""
        out = np.empty(operator.index(n), dtype=np.uint32)
        with self._lock:
            _fill_raw(self._mt, self._pos, out)
        return out

    # -- samplers ------------------------------------------------------------------

    def uniform(self, shape=(), low: float = 0.0, high: float = 1.0,
                dtype=np.float32) -> np.ndarray:
        """Like ``torch.empty(shape, dtype).uniform_(low, high)``; ``torch.rand`` for 0, 1."""
        shape = _shape_of(shape)
        dt = _float_dtype(dtype, "uniform")
        if not low <= high:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={low} > to={high}")
        n = _numel(shape)
        with self._lock:
            if dt == np.float32:
                lo = np.float32(low)
                width = np.float32(np.float32(high) - lo)
                out = _uniform_f32(self._mt, self._pos, n, lo, width)
            else:
                out = _uniform_f64(self._mt, self._pos, n, float(low), float(high) - float(low))
        return out.reshape(shape)

    def normal(self, shape=(), mean: float = 0.0, std: float = 1.0,
               dtype=np.float32, serial: bool = False) -> np.ndarray:
        """Like ``torch.empty(shape, dtype).normal_(mean, std)``; ``torch.randn`` for 0, 1.
        ``serial``: one draw after another in double precision, PyTorch's stream for a tensor that
        is not contiguous (its block algorithm fills only contiguous ones)."""
        shape = _shape_of(shape)
        dt = _float_dtype(dtype, "normal")
        if not std >= 0.0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        n = _numel(shape)
        with self._lock:
            if serial:
                out = _normal_pairwise(self._mt, self._pos, n, float(mean), float(std),
                                       self._normal_cache).astype(dt)
            elif n >= 16 and dt == np.float32:
                out = _normal_block_f32(self._mt, self._pos, n, np.float32(mean),
                                        np.float32(std))
            elif n >= 16:
                out = _normal_block_f64(self._mt, self._pos, n, float(mean), float(std))
            else:
                out = _normal_pairwise(self._mt, self._pos, n, float(mean), float(std),
                                       self._normal_cache).astype(dt)
        return out.reshape(shape)

    def exponential(self, shape=(), lambd: float = 1.0, dtype=np.float32) -> np.ndarray:
        """Like ``torch.empty(shape, dtype).exponential_(lambd)``."""
        dt = _float_dtype(dtype, "exponential")
        if not lambd > 0.0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
        uniform = self.uniform(shape, 0.0, 1.0, np.float64)
        return ((-1.0 / lambd) * np.log1p(-uniform)).astype(dt, copy=False)

    def randint(self, low: int, high: int, shape=(), dtype=np.int64) -> np.ndarray:
        """Like ``torch.randint(low, high, shape, dtype=dtype)`` (high exclusive)."""
        shape = _shape_of(shape)
        dt = np.dtype(dtype)
        low = operator.index(low)
        high = operator.index(high)
        if low >= high:
            raise ValueError(f"randint expects low < high, got low={low}, high={high}")
        span = high - low
        if low < -(1 << 63) or high > (1 << 63):
            raise ValueError("randint bounds must fit in int64")
        if dt.kind in "iu":
            info = np.iinfo(dt)
            if low < info.min or high - 1 > info.max:
                raise ValueError(f"randint bounds [{low}, {high}) do not fit {dt}")
        elif dt.kind == "b":
            if low < 0 or high > 2:
                raise ValueError(f"randint bounds [{low}, {high}) do not fit {dt}")
        elif dt.kind != "f":
            raise TypeError(f"randint: unsupported dtype {dt}")
        n = _numel(shape)
        with self._lock:
            if span >= _RANGE64_THRESHOLD:
                out = _randint64(self._mt, self._pos, n, np.uint64(span), np.int64(low))
            else:
                out = _randint32(self._mt, self._pos, n, np.int64(span), np.int64(low))
        return out.astype(dt, copy=False).reshape(shape)

    def randperm(self, n: int, dtype=np.int64) -> np.ndarray:
        """Like ``torch.randperm(n, dtype=dtype)``."""
        n = operator.index(n)
        if n < 0:
            raise ValueError(f"randperm expects n >= 0, got {n}")
        dt = np.dtype(dtype)
        with self._lock:
            if n < _RANDPERM_SMALL_LIMIT:
                out = _randperm_swap(self._mt, self._pos, n)
            else:
                out = _randperm_inside_out(self._mt, self._pos, n)
        return out.astype(dt, copy=False)

    def bernoulli(self, p, shape=None, dtype=np.float32) -> np.ndarray:
        """Bernoulli(p) samples as 0/1 of ``dtype``.

        Scalar ``p``: like ``torch.empty(shape, dtype).bernoulli_(p)`` (dropout masks).
        Array ``p``: like ``torch.bernoulli(p)`` / ``Tensor.bernoulli_(p)``, with ``p``
        broadcast to ``shape`` (default ``p.shape``).
        """
        dt = np.dtype(dtype)
        if isinstance(p, (np.ndarray, list, tuple)):
            probs = np.asarray(p)
            if probs.dtype.kind not in "fiub":
                raise TypeError(f"bernoulli: unsupported probability dtype {probs.dtype}")
            shape = probs.shape if shape is None else _shape_of(shape)
            if probs.size and not ((probs >= 0) & (probs <= 1)).all():
                raise ValueError("bernoulli expects all probabilities in [0, 1]")
            if probs.dtype == np.float64:
                flat = np.ascontiguousarray(np.broadcast_to(probs, shape)).reshape(-1)
                with self._lock:
                    out = _bernoulli_f64(self._mt, self._pos, flat)
            else:
                flat = np.ascontiguousarray(
                    np.broadcast_to(probs.astype(np.float32, copy=False), shape)).reshape(-1)
                with self._lock:
                    out = _bernoulli_f32(self._mt, self._pos, flat)
        else:
            p = float(p)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"bernoulli expects p in [0, 1], got {p}")
            shape = _shape_of(shape)
            with self._lock:
                out = _bernoulli_scalar(self._mt, self._pos, _numel(shape), p)
        return out.astype(dt).reshape(shape)

    def __repr__(self) -> str:
        return f"<tapegrad.random.Generator initial_seed={self._seed}>"


# --------------------------------------------------------------------------- module API

# Like PyTorch's default CPU generator, the default generator starts from a
# non-deterministic seed; call ``manual_seed`` for reproducible numbers.
default_generator = Generator(seed=_nondeterministic_seed())


def manual_seed(seed: int) -> Generator:
    """Seed the default generator and return it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator non-deterministically and return the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> np.ndarray:
    return default_generator.get_state()


def set_rng_state(state: np.ndarray) -> None:
    default_generator.set_state(state)


# =========================================================================== more samplers
# Draw kernels for ``tapegrad.ops.sampling`` (multinomial, cauchy, log-normal, geometric,
# full-range integers, Poisson, binomial). Each consumes the engine exactly as PyTorch's CPU
# kernel for the same sampler does; see that module's docstring for what is reproduced.

import math  # noqa: E402  (math.lgamma for the Poisson sampler; kept with the code that uses it)


@_jit_inline
def _uniform64_draw(mt, pos):
    """One double uniform in [0, 1) from a 64-bit draw (PyTorch's ``uniform_real_distribution<double>``)."""
    return np.float64(_next64(mt, pos) & _MASK53) * _F64_SCALE


@_jit
def _multinomial_replacement(mt, pos, probs, n_sample, out, zero):
    """Rows of ``probs`` (2-D, already checked) -> ``out[row, j]`` category indices.

    The cumulative distribution is summed and normalized in the probabilities' own precision
    (``zero`` is a zero of that type), and each double uniform is located in it by a binary
    search, as PyTorch's CPU kernel does."""
    n_dist, n_categories = probs.shape
    cum = np.empty(n_categories, probs.dtype)
    for i in range(n_dist):
        total = zero
        for j in range(n_categories):
            total = total + probs[i, j]
            cum[j] = total
        for j in range(n_categories):
            cum[j] = cum[j] / total
        cum[n_categories - 1] = 1
        for j in range(n_sample):
            u = _uniform64_draw(mt, pos)
            left = 0
            right = n_categories
            while right - left > 0:
                mid = left + (right - left) // 2
                if np.float64(cum[mid]) < u:
                    left = mid + 1
                else:
                    right = mid
            out[i, j] = left


@_jit
def _cauchy(mt, pos, n, median, sigma):
    """``median + sigma * tan(pi * (u - 0.5))`` in double precision (the sum fused, as PyTorch's kernel)."""
    out = np.empty(n, np.float64)
    for i in range(n):
        u = _uniform64_draw(mt, pos)
        out[i] = _fma64(sigma, np.tan(np.pi * (u - 0.5)), median)
    return out


@_jit
def _log_normal(mt, pos, n, mean, std, cache):
    """``exp`` of double-precision normals drawn one at a time (sharing the cached Box-Muller value)."""
    out = _normal_pairwise(mt, pos, n, mean, std, cache)
    for i in range(n):
        out[i] = np.exp(out[i])
    return out


@_jit
def _geometric(mt, pos, n, p):
    """``ceil(log(u) / log1p(-p))`` in double precision."""
    out = np.empty(n, np.float64)
    denominator = np.log1p(-p)
    for i in range(n):
        out[i] = np.ceil(np.log(_uniform64_draw(mt, pos)) / denominator)
    return out


@_jit
def _random_full64(mt, pos, n):
    """64-bit draws reinterpreted as int64 (``random_(-2**63)``: the whole int64 range)."""
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = np.int64(_next64(mt, pos))
    return out


@_jit
def _poisson_one(mt, pos, lam):
    """One Poisson(lam) sample: transformed rejection (Hoermann 1993) for lam >= 10, else multiplying
    uniforms until the product drops below exp(-lam) (PyTorch's ``sample_poisson``)."""
    if lam >= 10.0:
        slam = np.sqrt(lam)
        loglam = np.log(lam)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        invalpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2.0)
        while True:
            u = _uniform64_draw(mt, pos) - 0.5
            v = _uniform64_draw(mt, pos)
            us = 0.5 - np.abs(u)
            k = np.int64(np.floor((2.0 * a / us + b) * u + lam + 0.43))
            if us >= 0.07 and v <= vr:
                return k
            if k < 0 or (us < 0.013 and v > us):
                continue
            if (np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b)) <= \
                    (-lam + k * loglam - math.lgamma(np.float64(k) + 1.0)):
                return k
    if lam == 0.0:
        return np.int64(0)
    enlam = np.exp(-lam)
    x = np.int64(0)
    prod = 1.0
    while True:
        prod *= _uniform64_draw(mt, pos)
        if prod > enlam:
            x += 1
        else:
            return x


@_jit
def _poisson(mt, pos, rates):
    out = np.empty(rates.shape[0], np.float64)
    for i in range(rates.shape[0]):
        out[i] = np.float64(_poisson_one(mt, pos, np.float64(rates[i])))
    return out


_STIRLING_TAIL = np.array([0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
                           0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
                           0.00925546218271273, 0.00833056343336287])


@_jit_inline
def _stirling_tail(k):
    """log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(sqrt(2 pi)): tabulated below 10, a series above."""
    if k <= 9:
        return _STIRLING_TAIL[np.int64(k)]
    kp1sq = (k + 1.0) * (k + 1.0)
    return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1.0)


# The binomial kernels mirror PyTorch's mixed precision: arithmetic on ``count`` and ``prob`` alone stays
# in their type, the rest is double precision. ``scratch`` is a one-element array of that type, through
# which a double is rounded to it.

@_jit_inline
def _rounded(scratch, value):
    scratch[0] = value
    return scratch[0]


@_jit_inline
def _binomial_inversion(mt, pos, count, prob, scratch):
    """The number of geometric(prob) waiting times that fit in ``count`` (for count * prob < 10)."""
    one = _rounded(scratch, 1.0)
    geom_sum = 0.0
    num_geom = one - one
    logprob = np.log1p(-prob)
    while True:
        geom = np.ceil(np.log(_uniform64_draw(mt, pos)) / logprob)
        geom_sum += geom
        if geom_sum > count:
            break
        num_geom = num_geom + one
    return num_geom


@_jit_inline
def _btrs(mt, pos, count, prob, scratch):
    """Transformed rejection with squeeze (Hoermann 1993) for count * prob >= 10."""
    one = _rounded(scratch, 1.0)
    stddev = np.float64(np.sqrt(count * prob * (one - prob)))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * prob
    c = np.float64(count * prob) + 0.5
    v_r = 0.92 - 4.2 / b
    r = np.float64(prob / (one - prob))
    alpha = (2.83 + 5.1 / b) * stddev
    m = np.float64(np.floor((count + one) * prob))
    while True:
        u = _uniform64_draw(mt, pos) - 0.5
        v = _uniform64_draw(mt, pos)
        us = 0.5 - np.abs(u)
        k = _rounded(scratch, np.floor((2.0 * a / us + b) * u + c))
        if k < 0 or k > count:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        v = np.log(v * alpha / (a / (us * us) + b))
        kd = np.float64(k)
        upper = ((m + 0.5) * np.log((m + 1.0) / (r * (count - m + 1.0)))
                 + np.float64(count + one) * np.log((count - m + 1.0) / np.float64(count - k + one))
                 + (kd + 0.5) * np.log(r * np.float64(count - k + one) / np.float64(k + one))
                 + _stirling_tail(m) + _stirling_tail(count - m)
                 - _stirling_tail(kd) - _stirling_tail(np.float64(count - k)))
        if v <= upper:
            return k


@_jit
def _binomial(mt, pos, counts, probs, out):
    """Binomial(counts[i], probs[i]) into ``out`` (all three of one float type), as PyTorch's
    ``sample_binomial``: inversion below a mean of 10, BTRS above, on the smaller of p and 1 - p."""
    scratch = out[:1].copy()
    for i in range(counts.shape[0]):
        count = counts[i]
        prob = probs[i]
        if count <= 0.0 or prob <= 0.0:
            out[i] = 0
        elif prob >= 1.0:
            out[i] = count
        elif prob <= 0.5:
            if count * prob >= 10.0:
                out[i] = _btrs(mt, pos, count, prob, scratch)
            else:
                out[i] = _binomial_inversion(mt, pos, count, prob, scratch)
        elif prob > 0.5:
            qprob = _rounded(scratch, 1.0 - prob)
            if count * qprob >= 10.0:
                out[i] = count - _btrs(mt, pos, count, qprob, scratch)
            else:
                out[i] = count - _binomial_inversion(mt, pos, count, qprob, scratch)
        else:
            out[i] = np.nan
