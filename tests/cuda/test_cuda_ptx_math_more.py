"""Compile the kernels of the trigonometric, hyperbolic and special functions and the IEEE helpers
to PTX: no GPU needed (``test_cuda_ptx.py`` compiles every elementwise op with array operands of
one float dtype; this adds what those ops are really called with).

- the operand patterns their public functions use: numbers as operands (logit's bounds,
  nextafter's description of the dtype, nan_to_num's replacements, polygamma's order), and the
  strided kernels of the long scalar definitions (digamma, polygamma, erfinv);
- the integer and bool dtypes of the ops that keep them (fmod, heaviside, signbit, ...);
- float32 kernels that stay in float32 (the special functions compute in float64 on purpose);
- fused chains through the new VJP steps (lgamma's digamma, logaddexp's sigmoid).

Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_math_more.py -q
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_kernels as ck  # noqa: E402
from tapegrad.ops import elementwise as ew  # noqa: E402


FLOATS = [types.float32, types.float64]
TUPLE = types.UniTuple(types.int64, ck.MAX_DIMS)


def _ptx(chain: ck.Chain, kind: str, operand_types: list[Any], out: Any) -> str:
    """PTX of ``chain``'s ``kind`` kernel for operands of ``operand_types`` (scalars where the
    pattern says ``s``) writing ``out``."""
    arg_types: list[Any] = [out[::1]] + ([TUPLE] if kind == "strided" else [])
    for letter, dtype in zip(chain.pattern, operand_types):
        if letter == "s":
            arg_types.append(dtype)
        else:
            arg_types.append(dtype[::1])
            if kind == "strided":
                arg_types.append(TUPLE)
    ptx, _ = cuda.compile_ptx(getattr(chain.module(), kind).py_func, types.void(*arg_types), cc=CC)
    assert ptx.count(".entry") == 1  # one kernel, every device function inlined
    return ptx


def _float64_instructions(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if ".f64" in line and not line.strip().startswith(".reg")]


# ------------------------------------------------------------------ the patterns the functions use

# (scalar definition, operand pattern, kernel kinds): as logit(x, eps), nextafter(x, y), ... call them.
PATTERNS: list[tuple[Callable[..., Any], str, tuple[str, ...]]] = [
    (ew._logit, "ass", ("flat", "strided")), (ew._logit_backward, "aass", ("flat",)),
    (ew._nextafter, "aasss", ("flat", "strided")), (ew._nan_to_num, "asss", ("flat",)),
    (ew._polygamma, "as", ("flat", "strided")), (ew._fmod, "as", ("flat",)), (ew._fmod, "aa", ("strided",)),
    (ew._copysign, "as", ("flat",)), (ew._xlogy, "as", ("flat",)), (ew._xlogy, "sa", ("flat",)),
    (ew._atan2, "aa", ("strided",)), (ew._hypot, "aa", ("strided",)), (ew._logaddexp, "aa", ("strided",)),
    (ew._digamma, "a", ("strided",)), (ew._trigamma, "a", ("strided",)), (ew._erfinv, "a", ("strided",)),
    (ew._heaviside, "aa", ("strided",)),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("fn,pattern,kinds", PATTERNS, ids=[f"{f.__name__}-{p}" for f, p, _ in PATTERNS])
def test_kernels_compile_for_the_operands_the_functions_pass(fn: Callable[..., Any], pattern: str,
                                                             kinds: tuple[str, ...], dtype: Any) -> None:
    chain = ck.elementwise_chain(fn, pattern)
    for kind in kinds:
        _ptx(chain, kind, [dtype] * len(pattern), dtype)


# ------------------------------------------------------------------ integer and bool dtypes

# (scalar definition, operand pattern, dtypes, output dtype or None for the operands' own)
INTEGER: list[tuple[Callable[..., Any], str, list[Any], Any]] = [
    (ew._fmod_integer, "aa", [types.int32, types.int64], None), (ew._fmod_integer, "as", [types.int64], None),
    (ew._heaviside, "aa", [types.int32, types.int64, types.boolean], None),
    (ew._sign, "a", [types.int32, types.int64, types.boolean], None),  # sgn
    (ew._signbit, "a", [types.int32, types.int64], types.boolean),
    (ew._always, "a", [types.int64, types.boolean], types.boolean),
    (ew._never, "a", [types.int32, types.boolean], types.boolean),
]


@pytest.mark.parametrize("fn,pattern,dtypes,out", INTEGER, ids=[f"{f.__name__}-{p}" for f, p, _, _ in INTEGER])
def test_integer_and_bool_kernels_compile(fn: Callable[..., Any], pattern: str, dtypes: list[Any], out: Any) -> None:
    chain = ck.elementwise_chain(fn, pattern)
    for dtype in dtypes:
        ptx = _ptx(chain, "flat", [dtype] * len(pattern), out or dtype)
        if dtype is not types.boolean and fn is not ew._signbit:
            assert _float64_instructions(ptx) == [], "integer arithmetic went through float64"


# ------------------------------------------------------------------ float32 stays float32

# Everything but the special functions (erfinv, digamma, polygamma: float64 on purpose, for
# accuracy), nextafter (frexp/ldexp in float64, exact), trunc/frac (libdevice's float64 rounding,
# one exact instruction) and tan/sinc (libdevice's own float64 argument reduction).
CLEAN_FLOAT32 = [ew._asin, ew._acos, ew._atan, ew._sinh, ew._cosh, ew._asinh, ew._acosh, ew._atanh, ew._atan2,
                 ew._log2, ew._log10, ew._exp2, ew._fmod, ew._hypot, ew._logaddexp, ew._logaddexp2, ew._erfc,
                 ew._lgamma, ew._logit, ew._logit_backward, ew._deg2rad, ew._rad2deg, ew._copysign, ew._heaviside,
                 ew._nan_to_num, ew._signbit, ew._isfinite, ew._isinf, ew._isposinf, ew._isneginf]
BOOL_RESULTS = {ew._signbit, ew._isfinite, ew._isinf, ew._isposinf, ew._isneginf}


@pytest.mark.parametrize("fn", CLEAN_FLOAT32, ids=lambda f: f.__name__)
def test_float32_kernels_compute_in_float32(fn: Callable[..., Any]) -> None:
    arity = len(inspect.signature(fn).parameters)
    chain = ck.elementwise_chain(fn, "a" * arity)
    out = types.boolean if fn in BOOL_RESULTS else types.float32
    assert _float64_instructions(_ptx(chain, "flat", [types.float32] * arity, out)) == []


# ------------------------------------------------------------------ fused chains

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("kind", ["flat", "strided"])
def test_fused_backward_chains_compile(kind: str, dtype: Any) -> None:
    # lgamma's gradient g * digamma(x); logaddexp's g * sigmoid(x - y); erfinv's g * exp(y * y) * c.
    chains = [ck.Chain("aa", [(ew._digamma, (1,)), (ew._mul, (0, 2))], outputs=(3,)),
              ck.Chain("aaa", [(ew._sub, (1, 2)), (ew._sigmoid, (3,)), (ew._mul, (0, 4))], outputs=(5,)),
              ck.Chain("aas", [(ew._mul, (1, 1)), (ew._exp, (3,)), (ew._mul, (0, 4)), (ew._mul, (5, 2))],
                       outputs=(6,))]
    for chain in chains:
        _ptx(chain, kind, [dtype] * len(chain.pattern), dtype)
