"""Accuracy and special-value tests for tapegrad.backends.fastmath.

Every function is applied through small jitted array kernels, compiled once
per (fast-math mode, dtype), and compared in ulp against a reference computed
in a wider type (float64 for float32, x87 long double for float64).
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from numba import njit, types

from tapegrad.backends.fastmath import (
    FASTMATH_FLAGS,
    fast_exp,
    fast_expm1,
    fast_log,
    fast_log1p,
    fast_sigmoid,
    fast_tanh,
)

FUNCS = ("exp", "expm1", "log", "log1p", "tanh", "sigmoid")

# Max ulp error allowed per function, a little above the measured maxima
# listed in the module docstring.
ULP_BOUND = {"exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 1.0,
             "tanh": 1.5, "sigmoid": 2.5}
# With fastmath=True, LLVM may reassociate polynomials and use reciprocal
# estimates; the results must stay within this many ulp.
FULL_FASTMATH_BOUND = 4.0

F32, F64 = np.float32, np.float64
DTYPES = (F32, F64)


def _make_kernel(flags: set[str] | bool):
    @njit(fastmath=flags)
    def apply_all(x, out):
        for i in range(x.size):
            v = x[i]
            out[0, i] = fast_exp(v)
            out[1, i] = fast_expm1(v)
            out[2, i] = fast_log(v)
            out[3, i] = fast_log1p(v)
            out[4, i] = fast_tanh(v)
            out[5, i] = fast_sigmoid(v)

    return apply_all


# Created at import, compiled lazily on first use per dtype and then reused by
# every test: Numba compilation dominates this module's run time.
KERNELS = {
    "fastmath": _make_kernel(FASTMATH_FLAGS),
    "ieee": _make_kernel(False),
    # fastmath=True adds reassoc/nnan/ninf; only finite results are promised.
    "fast-all": _make_kernel(True),
}
MODES = ("fastmath", "ieee")


def apply(mode: str, x: np.ndarray) -> dict[str, np.ndarray]:
    out = np.empty((len(FUNCS), x.size), dtype=x.dtype)
    KERNELS[mode](x, out)
    return dict(zip(FUNCS, out))


def reference(x: np.ndarray) -> dict[str, np.ndarray]:
    """All functions evaluated in a wider type (unrounded)."""
    wide = np.float64 if x.dtype == F32 else np.longdouble
    with np.errstate(all="ignore"):
        w = x.astype(wide)
        e = np.exp(-np.abs(w))  # never overflows
        sigmoid = np.where(w >= 0, 1 / (1 + e), e / (1 + e))
        return {"exp": np.exp(w), "expm1": np.expm1(w), "log": np.log(w),
                "log1p": np.log1p(w), "tanh": np.tanh(w), "sigmoid": sigmoid}


def ulp_error(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|y - ref| in ulps of y's format at ref; inf where y is off by a class.

    Where ref rounds to a non-finite value, y must equal it exactly (nan
    matching nan) and the error is 0; otherwise it is inf.  The ulp of a value
    in [2**k, 2**(k+1)) is 2**(k - nmant), with the subnormal spacing as floor,
    so results just below a power of two are not graded with the coarser ulp
    above it.
    """
    info = np.finfo(y.dtype)
    with np.errstate(all="ignore"):
        ref_rounded = ref.astype(y.dtype)
        mag = np.abs(ref)
        if ref.dtype == F64:
            # Exponent straight from the bits; much faster than frexp.
            k = (mag.view(np.int64) >> 52) - 1023
        else:
            k = np.frexp(mag)[1] - 1
        k = np.maximum(k, info.minexp) - info.nmant
        ulp = np.ldexp(np.ones(1, dtype=ref.dtype), k)
        err = np.abs(y.astype(ref.dtype) - ref) / ulp
    finite = np.isfinite(ref_rounded)
    same_special = (y == ref_rounded) | (np.isnan(y) & np.isnan(ref_rounded))
    err = np.where(finite, err, np.where(same_special, 0.0, np.inf))
    return np.where(np.isnan(err), np.inf, err)


def check_ulp(x: np.ndarray, modes: tuple[str, ...] = MODES,
              funcs: tuple[str, ...] = FUNCS,
              bound: float | None = None) -> None:
    """Assert the ulp bounds on every element of ``x`` in every mode.

    Works in cache-sized chunks: the temporaries of a whole multi-million
    element sweep would cost more in page faults than in arithmetic.
    """
    chunk = 2**16
    for start in range(0, x.size, chunk):
        part = x[start:start + chunk]
        ref = reference(part)
        for mode in modes:
            got = apply(mode, part)
            for name in funcs:
                err = ulp_error(got[name], ref[name])
                worst = int(np.argmax(err))
                limit = ULP_BOUND[name] if bound is None else bound
                assert err[worst] <= limit, (
                    f"[{mode}] {name}({part[worst]!r}) = "
                    f"{got[name][worst]!r}, reference {ref[name][worst]!r}: "
                    f"{err[worst]:.3g} ulp")


def _bits_to_float(bits: np.ndarray, dtype) -> np.ndarray:
    itype = np.uint32 if dtype == F32 else np.uint64
    return bits.astype(itype).view(dtype)


def _neighbourhood(center: float, dtype, count: int) -> np.ndarray:
    """The 2 * count consecutive floats of ``dtype`` around ``center``."""
    c = np.asarray(center, dtype=dtype)
    itype = np.int32 if dtype == F32 else np.int64
    bits = c.view(itype) + np.arange(-count, count, dtype=itype)
    return bits.view(dtype)


def sweep32() -> np.ndarray:
    """Deterministic float32 sweep (about 8.7M values).

    Striding through bit patterns samples every binade equally, i.e.
    log-uniformly across magnitudes, subnormals and both signs included.
    """
    whole = _bits_to_float(np.arange(0, 2**32, 1021, dtype=np.uint64), F32)
    # |x| <= 1 again, finer: 2M values per sign, denser the closer to 0.
    unit = _bits_to_float(np.arange(0, 0x3F800001, 509, dtype=np.uint64), F32)
    # Every float32 around exp's overflow and underflow thresholds.
    edges = [np.arange(88.0, 89.0, 2.0**-17, dtype=F32),
             np.arange(-104.0, -103.0, 2.0**-17, dtype=F32)]
    return np.concatenate([whole, unit, -unit, *edges])


def sweep64(rng: np.random.Generator) -> np.ndarray:
    """Random float64 sample: log-uniform over all finite values plus dense
    uniform samples where the functions do their work."""
    bits = rng.integers(0, 2**64, size=2**20, dtype=np.uint64)
    x = _bits_to_float(bits, F64)
    x = x[np.isfinite(x)]
    n = 2**17
    dense = [rng.uniform(lo, hi, n) for lo, hi in
             [(-750.0, 712.0), (-1.0, 1.0), (0.0, 4.0), (-1.0, 0.0),
              (-25.0, 25.0), (-0.01, 0.01)]]
    return np.concatenate([x, *dense])


# ---------------------------------------------------------------------------


def test_float32_sweep() -> None:
    check_ulp(sweep32())


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63,
                    reason="needs an extended long double as float64 reference")
def test_float64_sample() -> None:
    check_ulp(sweep64(np.random.default_rng(20240611)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_thresholds(dtype) -> None:
    """exp/expm1 overflow and underflow edges, log of subnormals."""
    info = np.finfo(dtype)
    tiny_sub = float(info.smallest_subnormal)
    centers = [np.log(float(info.max)),  # exp overflows above
               np.log(tiny_sub),  # exp underflows to the last subnormal
               np.log(tiny_sub) - np.log(2.0),  # and to zero below
               np.log(float(info.smallest_normal))]
    x = np.concatenate([_neighbourhood(c, dtype, 64) for c in centers])
    subnormals = np.concatenate([
        _bits_to_float(np.arange(1, 257, dtype=np.uint64), dtype),
        _neighbourhood(float(info.smallest_normal), dtype, 256)])
    check_ulp(np.concatenate([x, subnormals, -subnormals]))


def _special_cases(dtype) -> dict[str, list[tuple[float, float]]]:
    info = np.finfo(dtype)
    inf, nan = np.inf, np.nan
    big, sub = float(info.max), float(info.smallest_subnormal)
    max_sub = float(info.smallest_normal) - sub
    norm = float(info.smallest_normal)
    common = [(nan, nan)]
    return {
        "exp": common + [(0.0, 1.0), (-0.0, 1.0), (inf, inf), (-inf, 0.0),
                         (big, inf), (-big, 0.0), (sub, 1.0), (-sub, 1.0)],
        "expm1": common + [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -1.0),
                           (big, inf), (-big, -1.0), (sub, sub), (-sub, -sub),
                           (max_sub, max_sub), (norm, norm)],
        "log": common + [(0.0, -inf), (-0.0, -inf), (inf, inf), (-inf, nan),
                         (1.0, 0.0), (-1.0, nan), (-sub, nan), (-big, nan)],
        "log1p": common + [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, nan),
                           (-1.0, -inf), (-2.0, nan), (-big, nan), (sub, sub),
                           (-sub, -sub), (max_sub, max_sub), (norm, norm)],
        "tanh": common + [(0.0, 0.0), (-0.0, -0.0), (inf, 1.0), (-inf, -1.0),
                          (big, 1.0), (-big, -1.0), (sub, sub), (-sub, -sub),
                          (max_sub, max_sub), (norm, norm), (30.0, 1.0)],
        "sigmoid": common + [(0.0, 0.5), (-0.0, 0.5), (inf, 1.0),
                             (-inf, 0.0), (big, 1.0), (-big, 0.0),
                             (sub, 0.5), (-sub, 0.5)],
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_special_values(mode: str, dtype) -> None:
    for name, cases in _special_cases(dtype).items():
        x = np.array([c[0] for c in cases], dtype=dtype)
        expected = np.array([c[1] for c in cases], dtype=dtype)
        got = apply(mode, x)[name]
        np.testing.assert_array_equal(got, expected, err_msg=name)
        # assert_array_equal treats -0.0 == 0.0; check signs of zero too.
        zero = expected == 0
        np.testing.assert_array_equal(np.signbit(got[zero]),
                                      np.signbit(expected[zero]),
                                      err_msg=f"{name}: sign of zero")


@pytest.mark.parametrize("dtype", DTYPES)
def test_finite_results_survive_full_fastmath(dtype) -> None:
    """fastmath=True (reassoc, nnan, ninf) gives up nan/inf handling, but
    finite results must stay accurate: reassociation must not undo the
    rounding step or the error-free splits."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-80.0, 80.0, 2**15),
                        rng.uniform(-1.0, 1.0, 2**15),
                        np.exp(rng.uniform(-40.0, 0.0, 2**15))]).astype(dtype)
    positive = np.exp(rng.uniform(-80.0, 80.0, 2**15)).astype(dtype)
    check_ulp(x, modes=("fast-all",), funcs=("exp", "expm1", "tanh", "sigmoid"),
              bound=FULL_FASTMATH_BOUND)
    check_ulp(positive, modes=("fast-all",), funcs=("log", "log1p"),
              bound=FULL_FASTMATH_BOUND)


@pytest.mark.parametrize("dtype", DTYPES)
def test_return_type_follows_argument(dtype) -> None:
    @njit
    def all_six(v):
        return (fast_exp(v), fast_expm1(v), fast_log(v), fast_log1p(v),
                fast_tanh(v), fast_sigmoid(v))

    all_six(dtype(0.5))
    nb_type = numba.from_dtype(np.dtype(dtype))
    assert all_six.nopython_signatures[0].return_type == types.UniTuple(
        nb_type, 6)


@pytest.mark.skipif(not numba.config.LOOP_VECTORIZE,
                    reason="loop vectorization disabled")
@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_is_vectorized(dtype) -> None:
    """The point of the module: the loop compiles to SIMD, without calls."""
    kernel = KERNELS["fastmath"]
    x = np.ones(8, dtype=dtype)
    kernel(x, np.empty((len(FUNCS), x.size), dtype=dtype))
    sig = next(s for s in kernel.signatures if s[0].dtype == numba.from_dtype(
        np.dtype(dtype)))
    llvm_ir = kernel.inspect_llvm(sig)
    # The lane count depends on the host's SIMD width; any vector will do.
    scalar = "float" if dtype == F32 else "double"
    assert re.search(rf"<\d+ x {scalar}>", llvm_ir)
    # No math-library calls (libm functions or llvm.exp & co.) are left.
    callees = set(re.findall(r"call [^\n]*?@([\w.]+)\(", llvm_ir))
    libm = re.compile(r"(llvm\.)?(exp|expm1|log|log1p|tanh|pow)(f|\.f\d+)?$")
    assert not [c for c in callees if libm.match(c)]


def test_not_callable_from_python() -> None:
    with pytest.raises(TypeError, match="jitted"):
        fast_exp(1.0)
