"""Vectorizable ``exp``/``log``/``tanh``/``sigmoid`` for Numba kernels.

Numba lowers ``math.exp``, ``math.log`` and ``math.tanh`` to calls into the
scalar C math library.  Without SVML, LLVM's loop vectorizer cannot widen such
calls, so a fused elementwise kernel built on them runs one element at a time
and loses to NumPy's SIMD ufuncs.  The functions in this module are written in
plain arithmetic instead -- range reduction, a minimax polynomial, and integer
bit manipulation for the power-of-two scaling -- so that once LLVM inlines
them, a loop such as ::

    @njit(fastmath=FASTMATH_FLAGS)
    def kernel(x, out):
        for i in range(x.size):
            out[i] = fast_exp(x[i])

compiles to 8-lane (float32) or 4-lane (float64) AVX2 code.

API
---
``fast_exp``, ``fast_expm1``, ``fast_log``, ``fast_log1p``, ``fast_tanh`` and
``fast_sigmoid`` (``1 / (1 + exp(-x))``) take one float32 or float64 scalar and
return the same type.  The float32 or float64 algorithm is picked at compile
time from the argument type; the float32 versions use float32 arithmetic
throughout.  They are callable only from jitted code.

Fast-math flags
---------------
The functions carry no fast-math flags of their own: Numba compiles them with
the flags of the calling kernel, and they are correct both without fast-math
and with ``FASTMATH_FLAGS``.  The steps whose exactness the algorithms rely
on -- the magic-number rounding, error-free splits such as
``x - ((1 + x) - 1)``, the power-of-two scaling -- are intrinsics whose
instructions carry an explicit flag, which Numba's fast-math pass leaves
alone, so even ``reassoc`` cannot fold them away.  ``fastmath=True`` (which
adds ``reassoc``, ``nnan`` and ``ninf``) lets LLVM delete the NaN/inf
handling, so such kernels lose the special-value guarantees below; finite
results stayed within 3 ulp in the sweeps described next.

Accuracy
--------
Maximum error in ulp against a correctly rounded reference, the larger of the
two flag settings above.  Float32: every 97th bit pattern (all magnitudes,
subnormals and both signs), every float32 in [0.5, 2], and a further 8.7
million values concentrated in [-1, 1] and around the exp overflow/underflow
thresholds.  Float64: 3.5 million random samples, log-uniform over the whole
finite range and uniform over each function's working interval, against an
x87 long double reference.

    ==========  =======  =======
    function    float32  float64
    ==========  =======  =======
    exp          0.76     0.74
    expm1        1.10     1.06
    log          0.86     0.77
    log1p        0.82     0.82
    tanh         1.34     1.32
    sigmoid      2.22     2.05
    ==========  =======  =======

Subnormal results count in ulps of the subnormal spacing.  Special values
match NumPy: exp(+inf) = inf, exp(-inf) = 0, overflow gives inf and
underflow 0 or a subnormal; log(0) = -inf, log(x < 0) = nan, log(inf) = inf,
subnormal arguments are handled; log1p(-1) = -inf; expm1(-inf) = -1;
tanh(+-inf) = +-1; sigmoid(+inf) = 1 and sigmoid(-inf) = 0; -0.0 is kept
by expm1, log1p and tanh.  NaN propagates everywhere.  Nothing warns or
raises: Numba does not check floating-point status flags.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

__all__ = [
    "FASTMATH_FLAGS",
    "fast_exp",
    "fast_expm1",
    "fast_log",
    "fast_log1p",
    "fast_tanh",
    "fast_sigmoid",
]

#: Fast-math flags for kernels that call these functions: FMA contraction and
#: approximate libm calls, but no ``reassoc`` (which may reorder rounding-sensitive
#: caller code and these functions' polynomials), no ``nnan``/``ninf`` (which let
#: LLVM drop the NaN/inf handling) and no ``arcp``: with it LLVM divides by a
#: loop-invariant divisor by multiplying with its reciprocal, an ulp off the
#: correctly rounded quotient for about a third of float32 operands (PyTorch's
#: ``x / 1000`` is exactly 3.5 for x = 3500; that product is 3.5000002).
FASTMATH_FLAGS: set[str] = {"nsz", "contract", "afn"}

# Numba's fast-math pass only adds flags to float instructions that have none.
# Giving the intrinsics' instructions this harmless flag pins them, so that a
# caller compiled with ``reassoc`` cannot, say, fold ``(t + M) - M`` to ``t``.
_PINNED = ("contract",)


class _Format(NamedTuple):
    """Bit layout of an IEEE binary format."""

    int_type: ir.IntType  # integer type of the same width
    mant_bits: int  # explicit significand bits
    bias: int  # exponent bias
    sqrt_half_bits: int  # bit pattern of sqrt(0.5)


_FORMATS = {
    32: _Format(ir.IntType(32), 23, 127, 0x3F3504F3),
    64: _Format(ir.IntType(64), 52, 1023, 0x3FE6A09E667F3BCD),
}
_I32 = ir.IntType(32)


def _format(ty: types.Type) -> _Format | None:
    return _FORMATS[ty.bitwidth] if isinstance(ty, types.Float) else None


# --------------------------------------------------------------------------
# Intrinsics: rounding and bit manipulation, all branch-free.
# --------------------------------------------------------------------------


@intrinsic
def _rint(typingctx, t):
    """Round to the nearest integer (ties to even); needs |t| < 2**(p - 1).

    Adding M = 1.5 * 2**p (p = significand bits) pushes the fraction bits
    out of the significand, so the FPU's own rounding does the work;
    subtracting M again is exact.  Unlike ``round()`` this needs no libm call
    and vectorizes on any SIMD level.
    """
    fmt = _format(t)
    if fmt is None:
        return None

    def codegen(context, builder, sig, args):
        magic = ir.Constant(args[0].type, 1.5 * 2.0**fmt.mant_bits)
        shifted = builder.fadd(args[0], magic, flags=_PINNED)
        return builder.fsub(shifted, magic, flags=_PINNED)

    return t(t), codegen


def _pow2_from_i32(builder: ir.IRBuilder, fmt: _Format, k: ir.Value,
                   fty: ir.Type) -> ir.Value:
    """2**k for an i32 ``k`` in the normal exponent range, built from bits."""
    biased = builder.add(k, ir.Constant(_I32, fmt.bias))
    if fmt.int_type.width != 32:
        biased = builder.zext(biased, fmt.int_type)  # biased > 0 here
    shifted = builder.shl(biased, ir.Constant(fmt.int_type, fmt.mant_bits))
    return builder.bitcast(shifted, fty)


@intrinsic
def _half_exp2i(typingctx, n):
    """2**(n - 1) for integer-valued ``n`` with n - 1 in the normal range.

    The 1 is subtracted from the integer: ``n - 1.0`` in float would let a
    reassociating optimizer fold it into ``_rint``'s magic-number sum.
    """
    fmt = _format(n)
    if fmt is None:
        return None

    def codegen(context, builder, sig, args):
        # fptosi to i32 (not i64) vectorizes for float64 too (cvttpd2dq).
        k = builder.fptosi(args[0], _I32)
        k = builder.sub(k, ir.Constant(_I32, 1))
        return _pow2_from_i32(builder, fmt, k, args[0].type)

    return n(n), codegen


@intrinsic
def _ldexp(typingctx, p, n):
    """p * 2**n for integer-valued ``n`` with |n| up to about 2 * emax.

    Splitting 2**n into two normal factors covers results that overflow or
    are subnormal (n = 128 or n = -150 for float32); the first product is
    exact, so the result is rounded only once.
    """
    fmt = _format(p)
    if fmt is None or n != p:
        return None

    def codegen(context, builder, sig, args):
        value, exponent = args
        k = builder.fptosi(exponent, _I32)
        half = builder.ashr(k, ir.Constant(_I32, 1))
        rest = builder.sub(k, half)
        fty = value.type
        scaled = builder.fmul(value, _pow2_from_i32(builder, fmt, half, fty),
                              flags=_PINNED)
        return builder.fmul(scaled, _pow2_from_i32(builder, fmt, rest, fty),
                            flags=_PINNED)

    return p(p, n), codegen


@intrinsic
def _log_split(typingctx, x):
    """(m, e) with x = m * 2**e and m in [sqrt(1/2), sqrt(2)).

    Only meaningful for positive, normal, finite ``x``; other inputs give
    garbage that the callers overwrite with selects.  Measuring the exponent
    from bits(sqrt(1/2)) instead of bits(1) moves the mantissa interval to
    [sqrt(1/2), sqrt(2)), so log1p(m - 1) only sees |m - 1| < 0.42.
    """
    fmt = _format(x)
    if fmt is None:
        return None
    ity = fmt.int_type

    def codegen(context, builder, sig, args):
        (value,) = args
        offset = builder.sub(builder.bitcast(value, ity),
                             ir.Constant(ity, fmt.sqrt_half_bits))
        if ity.width == 32:
            k = builder.ashr(offset, ir.Constant(ity, fmt.mant_bits))
        else:
            # AVX2 has no 64-bit arithmetic shift; take the high word and
            # shift that as i32 instead.
            high = builder.trunc(builder.lshr(offset, ir.Constant(ity, 32)),
                                 _I32)
            k = builder.ashr(high, ir.Constant(_I32, fmt.mant_bits - 32))
        frac = builder.and_(offset, ir.Constant(ity, (1 << fmt.mant_bits) - 1))
        mant = builder.add(frac, ir.Constant(ity, fmt.sqrt_half_bits))
        m = builder.bitcast(mant, value.type)
        e = builder.sitofp(k, value.type)
        return context.make_tuple(builder, sig.return_type, (m, e))

    return types.UniTuple(x, 2)(x), codegen


@intrinsic
def _copysign(typingctx, magnitude, sign):
    """|magnitude| with the sign bit of ``sign``, as pure bit operations."""
    fmt = _format(magnitude)
    if fmt is None or sign != magnitude:
        return None
    ity = fmt.int_type
    sign_bit = 1 << (ity.width - 1)

    def codegen(context, builder, sig, args):
        mag_bits = builder.and_(builder.bitcast(args[0], ity),
                                ir.Constant(ity, sign_bit - 1))
        sign_bits = builder.and_(builder.bitcast(args[1], ity),
                                 ir.Constant(ity, sign_bit))
        return builder.bitcast(builder.or_(mag_bits, sign_bits),
                               args[0].type)

    return magnitude(magnitude, sign), codegen


def _strict_binop(opname: str):
    """Intrinsic for one float operation that fast-math cannot reassociate.

    Used where an algorithm relies on an operation being evaluated exactly as
    written: error-free splits like ``x - ((1 + x) - 1)`` are 0 to an optimizer
    allowed to reassociate.
    """

    def typer(typingctx, a, b):
        if not isinstance(a, types.Float) or b != a:
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, opname)(args[0], args[1], flags=_PINNED)

        return a(a, b), codegen

    typer.__name__ = f"_strict_{opname}"
    return intrinsic(typer)


_strict_add = _strict_binop("fadd")
_strict_sub = _strict_binop("fsub")
_strict_mul = _strict_binop("fmul")


# --------------------------------------------------------------------------
# Constants.  The float32 code must only see float32 constants: a Python float
# would promote the arithmetic to float64 and halve the vector width.
# --------------------------------------------------------------------------

_f32 = np.float32

_ZERO_32, _ONE_32, _TWO_32 = _f32(0.0), _f32(1.0), _f32(2.0)
_HALF_32 = _f32(0.5)
_INF_32, _NAN_32 = _f32(np.inf), _f32(np.nan)
_LOG2E_32 = _f32(1.4426950408889634)
# Cody-Waite split of ln 2: the 9-bit head times any |n| < 256 is exact.
_LN2_HI_32 = _f32(0.693359375)
_LN2_LO_32 = _f32(-2.1219444e-04)
# exp clamp: exp(89) overflows and exp(-104) rounds to 0, while
# n = rint(x / ln 2) stays in [-150, 128], which _ldexp handles.
_EXP_MAX_32, _EXP_MIN_32 = _f32(89.0), _f32(-104.0)
# expm1(x) rounds to -1 below about -17.3.
_EXPM1_MIN_32 = _f32(-18.0)
# Below this, expm1(x) and log1p(x) round to x itself.
_TINY_ARG_32 = _f32(2.0**-25)
# tanh(x) rounds to 1 above about 9.01.
_TANH_CLAMP_32 = _f32(10.0)
# Below this tanh uses its odd polynomial.
_TANH_SMALL_32 = _f32(0.625)
_MIN_NORMAL_32 = _f32(2.0**-126)
_SUBNORMAL_SCALE_32 = _f32(2.0**23)
_SUBNORMAL_SHIFT_32 = _f32(23.0)

# expm1(r) ~ r + r**2 * P(r) on |r| <= ln(2) / 2; minimax P, c0 first.
_EXPM1_P32 = tuple(map(_f32, (
    0.5, 0.16666667, 0.041666463, 0.008333286, 0.0013933688, 0.0001990764,
)))
# log1p(f) ~ f - f**2 / 2 + f**3 * P(f) on sqrt(1/2) - 1 <= f < sqrt(2) - 1.
_LOG1P_P32 = tuple(map(_f32, (
    0.3333333, -0.2499998, 0.20000689, -0.16669159, 0.14251111, -0.12396494,
    0.116349384, -0.116615504, 0.073337175,
)))
# tanh(x) ~ x + x**3 * P(x**2) on |x| <= 0.625.
_TANH_P32 = tuple(map(_f32, (
    -0.33333334, 0.13333304, -0.05395952, 0.02177074, -0.0083491625,
    0.0022979765,
)))

_INF_64, _NAN_64 = np.inf, np.nan
_LOG2E_64 = 1.4426950408889634
# Cody-Waite split of ln 2: the 32-bit head times any |n| < 2048 is exact.
_LN2_HI_64 = 0.6931471803691238
_LN2_LO_64 = 1.9082149292705877e-10
_EXP_MAX_64, _EXP_MIN_64 = 710.0, -746.0
_EXPM1_MIN_64 = -40.0
_TINY_ARG_64 = 2.0**-54
_TANH_CLAMP_64 = 20.0
_TANH_SMALL_64 = 0.625
_MIN_NORMAL_64 = 2.0**-1022
_SUBNORMAL_SCALE_64 = 2.0**52
_SUBNORMAL_SHIFT_64 = 52.0

_EXPM1_P64 = (
    0.5, 0.1666666666666667, 0.041666666666666685, 0.008333333333326112,
    0.001388888888887435, 0.00019841269874902828, 2.4801587347451205e-05,
    2.7557255296231184e-06, 2.7557252804732424e-07, 2.510526018108287e-08,
    2.092162573565826e-09,
)
# With s = f / (2 + f) and z = s**2:
# log1p(f) = f - f**2 / 2 + s * (f**2 / 2 + z * Q(z)), 0 <= z <= 0.0295.
_LOG_Q64 = (
    0.666666666666667, 0.39999999999898384, 0.28571428626427336,
    0.22222211068266806, 0.181828935512829, 0.1533158592582274,
    0.14618008860778808,
)
_TANH_P64 = (
    -0.3333333333333333, 0.13333333333333056, -0.05396825396791124,
    0.021869488519565577, -0.008863235114419494, 0.0035921218819525303,
    -0.0014557763659542766, 0.0005896651244321166, -0.00023760408138480562,
    9.259623393069969e-05, -3.122754116492437e-05, 6.497199112003536e-06,
)

# --------------------------------------------------------------------------
# Implementations.  Branches are only ``a if cond else b`` on values that are
# already computed, which LLVM turns into selects.  IEEE division semantics
# (x / 0 -> inf or nan) are required: Numba's default ZeroDivisionError check
# would be wrong for log1p(-1) and its branch would block vectorization.
# --------------------------------------------------------------------------

_jitable = register_jitable(error_model="numpy")


@_jitable
def _exp_reduce_32(x):
    """(n, r, c) with exp(x) = 2**n * (1 + r + c); x must be clamped.

    With the reduced argument x - n ln 2 = r + r_lo, r = x - n * ln2_hi is
    exact and c = r_lo + (r + r_lo)**2 * P(r + r_lo) collects the small
    terms, so callers can add r and c in an order that avoids a rounding.
    """
    n = _rint(x * _LOG2E_32)
    r = _strict_sub(x, _strict_mul(n, _LN2_HI_32))
    r_lo = -(n * _LN2_LO_32)
    rr = r + r_lo
    c = _EXPM1_P32
    p = c[5]
    p = p * rr + c[4]
    p = p * rr + c[3]
    p = p * rr + c[2]
    p = p * rr + c[1]
    p = p * rr + c[0]
    return n, r, r_lo + (rr * rr) * p


@_jitable
def _exp_reduce_64(x):
    n = _rint(x * _LOG2E_64)
    r = _strict_sub(x, _strict_mul(n, _LN2_HI_64))
    r_lo = -(n * _LN2_LO_64)
    rr = r + r_lo
    c = _EXPM1_P64
    p = c[10]
    p = p * rr + c[9]
    p = p * rr + c[8]
    p = p * rr + c[7]
    p = p * rr + c[6]
    p = p * rr + c[5]
    p = p * rr + c[4]
    p = p * rr + c[3]
    p = p * rr + c[2]
    p = p * rr + c[1]
    p = p * rr + c[0]
    return n, r, r_lo + (rr * rr) * p


@_jitable
def _exp_core_32(x):
    """exp for x in [_EXP_MIN_32, _EXP_MAX_32]."""
    n, r, c = _exp_reduce_32(x)
    # 1 + r + c with the rounding error of 1 + r recovered exactly (Fast2Sum,
    # |r| < 1) and added back with c.
    head = _strict_add(_ONE_32, r)
    tail = _strict_add(_strict_sub(_ONE_32, head), r)
    return _ldexp(head + (tail + c), n)


@_jitable
def _exp_core_64(x):
    n, r, c = _exp_reduce_64(x)
    head = _strict_add(1.0, r)
    tail = _strict_add(_strict_sub(1.0, head), r)
    return _ldexp(head + (tail + c), n)


@_jitable
def _exp_32(x):
    # Comparisons with nan are false, so nan passes both clamps unchanged.
    x = _EXP_MAX_32 if x > _EXP_MAX_32 else x
    x = _EXP_MIN_32 if x < _EXP_MIN_32 else x
    return _exp_core_32(x)


@_jitable
def _exp_64(x):
    x = _EXP_MAX_64 if x > _EXP_MAX_64 else x
    x = _EXP_MIN_64 if x < _EXP_MIN_64 else x
    return _exp_core_64(x)


@_jitable
def _expm1_core_32(x):
    """expm1 for x in [_EXPM1_MIN_32, _EXP_MAX_32]."""
    n, r, c = _exp_reduce_32(x)
    # 2**n * (1 + r + c) - 1 = 2 * ((s - 1/2) + s * r + s * c) with
    # s = 2**(n - 1): s - 1/2 and s * r are exact, so only the final sums
    # round, and using 2**(n - 1) keeps s finite at n = 128; the doubling
    # then overflows to inf where it should.
    s = _half_exp2i(n)
    head, sr, sc = _strict_sub(s, _HALF_32), s * r, s * c
    # Which pair to add first is chosen by measurement.  The grouping is
    # pinned: reassociated to (s + s * r + s * c) - 1/2, the sum would cancel
    # catastrophically for small results.
    y = (_strict_add(_strict_add(head, sr), sc) if n > _ZERO_32
         else _strict_add(head, sr + sc))
    return _TWO_32 * y


@_jitable
def _expm1_core_64(x):
    n, r, c = _exp_reduce_64(x)
    s = _half_exp2i(n)
    head, sr, sc = _strict_sub(s, 0.5), s * r, s * c
    y = (_strict_add(_strict_add(head, sr), sc) if n > 0.0
         else _strict_add(head, sr + sc))
    return 2.0 * y


@_jitable
def _expm1_32(x):
    xc = _EXP_MAX_32 if x > _EXP_MAX_32 else x
    xc = _EXPM1_MIN_32 if xc < _EXPM1_MIN_32 else xc
    y = _expm1_core_32(xc)
    # Keeps -0.0 and subnormals exact (the scaling above would round them).
    return x if abs(x) < _TINY_ARG_32 else y


@_jitable
def _expm1_64(x):
    xc = _EXP_MAX_64 if x > _EXP_MAX_64 else x
    xc = _EXPM1_MIN_64 if xc < _EXPM1_MIN_64 else xc
    y = _expm1_core_64(xc)
    return x if abs(x) < _TINY_ARG_64 else y


@_jitable
def _log_reduced_32(m, e, extra):
    """e * ln 2 + log(m) + extra, m in [sqrt(1/2), sqrt(2)), extra small."""
    f = m - _ONE_32  # exact
    z = f * f
    c = _LOG1P_P32
    p = c[8]
    p = p * f + c[7]
    p = p * f + c[6]
    p = p * f + c[5]
    p = p * f + c[4]
    p = p * f + c[3]
    p = p * f + c[2]
    p = p * f + c[1]
    p = p * f + c[0]
    # Small terms first, then the two large ones, to limit rounding error.
    y = (f * z) * p + (e * _LN2_LO_32 + extra) - _HALF_32 * z
    return (f + y) + e * _LN2_HI_32


@_jitable
def _log_reduced_64(m, e, extra):
    # fdlibm's formulation: one division buys a series in s**2 <= 0.0295,
    # which needs 7 terms where a plain series in f would need about 20.
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    c = _LOG_Q64
    q = c[6]
    q = q * z + c[5]
    q = q * z + c[4]
    q = q * z + c[3]
    q = q * z + c[2]
    q = q * z + c[1]
    q = q * z + c[0]
    tail = s * (hfsq + z * q) + (e * _LN2_LO_64 + extra)
    return e * _LN2_HI_64 - ((hfsq - tail) - f)


@_jitable
def _log_32(x):
    # Subnormals lack the implicit leading bit: scale them (exactly) into the
    # normal range and take the scale back out of the exponent.
    sub = x < _MIN_NORMAL_32
    xs = x * _SUBNORMAL_SCALE_32 if sub else x
    m, e = _log_split(xs)
    e = e - _SUBNORMAL_SHIFT_32 if sub else e
    y = _log_reduced_32(m, e, _ZERO_32)
    y = y if x < _INF_32 else x  # +inf and nan
    y = y if x >= _ZERO_32 else _NAN_32  # negative, -inf
    return -_INF_32 if x == _ZERO_32 else y


@_jitable
def _log_64(x):
    sub = x < _MIN_NORMAL_64
    xs = x * _SUBNORMAL_SCALE_64 if sub else x
    m, e = _log_split(xs)
    e = e - _SUBNORMAL_SHIFT_64 if sub else e
    y = _log_reduced_64(m, e, 0.0)
    y = y if x < _INF_64 else x
    y = y if x >= 0.0 else _NAN_64
    return -_INF_64 if x == 0.0 else y


@_jitable
def _log1p_32(x):
    u = _strict_add(_ONE_32, x)
    # u - 1 is exact, so d is the rounding error of 1 + x, and
    # log(1 + x) = log(u + d) ~ log(u) + d / u.  u >= 2**-24 is normal.
    d = _strict_sub(x, _strict_sub(u, _ONE_32))
    m, e = _log_split(u)
    y = _log_reduced_32(m, e, d / u)
    y = y if u < _INF_32 else u
    y = y if u >= _ZERO_32 else _NAN_32
    y = -_INF_32 if u == _ZERO_32 else y
    return x if abs(x) < _TINY_ARG_32 else y


@_jitable
def _log1p_64(x):
    u = _strict_add(1.0, x)
    d = _strict_sub(x, _strict_sub(u, 1.0))
    m, e = _log_split(u)
    y = _log_reduced_64(m, e, d / u)
    y = y if u < _INF_64 else u
    y = y if u >= 0.0 else _NAN_64
    y = -_INF_64 if u == 0.0 else y
    return x if abs(x) < _TINY_ARG_64 else y


@_jitable
def _tanh_32(x):
    a = abs(x)
    # Near 0 an odd polynomial keeps the relative error small, down to
    # subnormals.
    z = a * a
    c = _TANH_P32
    p = c[5]
    p = p * z + c[4]
    p = p * z + c[3]
    p = p * z + c[2]
    p = p * z + c[1]
    p = p * z + c[0]
    small = a + (a * z) * p
    # Elsewhere tanh(a) = 1 - 2 / (exp(2a) + 1); tanh >= 0.55 there, so the
    # subtraction loses nothing.  The clamp keeps exp finite; tanh has
    # rounded to 1 long before.  nan passes the clamp and the select.
    a2 = _TANH_CLAMP_32 if a > _TANH_CLAMP_32 else a
    large = _ONE_32 - _TWO_32 / (_exp_core_32(a2 + a2) + _ONE_32)
    t = small if a < _TANH_SMALL_32 else large
    return _copysign(t, x)


@_jitable
def _tanh_64(x):
    a = abs(x)
    z = a * a
    c = _TANH_P64
    p = c[11]
    p = p * z + c[10]
    p = p * z + c[9]
    p = p * z + c[8]
    p = p * z + c[7]
    p = p * z + c[6]
    p = p * z + c[5]
    p = p * z + c[4]
    p = p * z + c[3]
    p = p * z + c[2]
    p = p * z + c[1]
    p = p * z + c[0]
    small = a + (a * z) * p
    a2 = _TANH_CLAMP_64 if a > _TANH_CLAMP_64 else a
    large = 1.0 - 2.0 / (_exp_core_64(a2 + a2) + 1.0)
    t = small if a < _TANH_SMALL_64 else large
    return _copysign(t, x)


@_jitable
def _sigmoid_32(x):
    # Only exp(-|x|) is evaluated, so nothing overflows:
    # sigmoid(|x|) = 1 / (1 + e) and sigmoid(-|x|) = e / (1 + e), which stays
    # accurate (down to subnormals) for large negative x.
    e = _exp_32(-abs(x))
    num = _ONE_32 if x >= _ZERO_32 else e
    return num / (_ONE_32 + e)


@_jitable
def _sigmoid_64(x):
    e = _exp_64(-abs(x))
    num = 1.0 if x >= 0.0 else e
    return num / (1.0 + e)


# --------------------------------------------------------------------------
# Public entry points: pure-Python stubs, typed by argument at compile time.
# --------------------------------------------------------------------------


def _jit_only(name: str) -> TypeError:
    return TypeError(f"{name} can only be called from numba-jitted code")


def _dispatch(stub: Callable, impl32: Callable, impl64: Callable) -> None:
    # Unannotated on purpose: Numba requires the typer's and implementations'
    # signatures (annotations included) to match.
    def typer(x):
        if x == types.float32:
            return impl32
        if x == types.float64:
            return impl64
        return None  # other types fail typing with Numba's usual message

    overload(stub, jit_options={"error_model": "numpy"})(typer)


def fast_exp(x: float) -> float:
    """exp(x); callable from jitted code only."""
    raise _jit_only("fast_exp")


def fast_expm1(x: float) -> float:
    """exp(x) - 1, accurate near 0; callable from jitted code only."""
    raise _jit_only("fast_expm1")


def fast_log(x: float) -> float:
    """Natural logarithm; callable from jitted code only."""
    raise _jit_only("fast_log")


def fast_log1p(x: float) -> float:
    """log(1 + x), accurate near 0; callable from jitted code only."""
    raise _jit_only("fast_log1p")


def fast_tanh(x: float) -> float:
    """Hyperbolic tangent; callable from jitted code only."""
    raise _jit_only("fast_tanh")


def fast_sigmoid(x: float) -> float:
    """Logistic function 1 / (1 + exp(-x)); callable from jitted code only."""
    raise _jit_only("fast_sigmoid")


_dispatch(fast_exp, _exp_32, _exp_64)
_dispatch(fast_expm1, _expm1_32, _expm1_64)
_dispatch(fast_log, _log_32, _log_64)
_dispatch(fast_log1p, _log1p_32, _log1p_64)
_dispatch(fast_tanh, _tanh_32, _tanh_64)
_dispatch(fast_sigmoid, _sigmoid_32, _sigmoid_64)
