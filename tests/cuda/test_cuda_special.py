"""``tapegrad.special``'s new ops on CUDA against the CPU backend (values, grad_fn names and
gradients, in float32 and float64), and their scalar definitions compiled to PTX.

The comparisons run in the CUDA simulator or on a GPU; the PTX compilation needs the real CUDA
compiler (no GPU) and skips under the simulator::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_special.py -q
    python -m pytest tests/cuda/test_cuda_special.py -q -k ptx

The simulator runs scalar definitions as Python, whose ``math`` raises where libdevice returns
inf or nan (``math.exp(1000)``, ``math.log(0)``): inputs stay where the definitions never call
``math`` on such arguments.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON, run_both, values

import tapegrad  # noqa: E402
import tapegrad.special as special  # noqa: E402
from tapegrad.ops import special_functions as sf  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
needs_cuda = pytest.mark.skipif(not HAVE_CUDA, reason=SKIP_REASON)

FLOATS = [np.float32, np.float64]

# (name, function, the bounds its inputs are drawn from): each bound range crosses the
# definition's branches (Cephes' intervals at 2, 5 and 8, the asymptotic forms beyond).
UNARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("i0", special.i0, (-12, 12)), ("i0e", special.i0e, (-12, 12)), ("i1", special.i1, (-12, 12)),
    ("i1e", special.i1e, (-12, 12)), ("modified_bessel_k0", special.modified_bessel_k0, (0.2, 6)),
    ("modified_bessel_k1", special.modified_bessel_k1, (0.2, 6)),
    ("scaled_modified_bessel_k0", special.scaled_modified_bessel_k0, (0.2, 6)),
    ("scaled_modified_bessel_k1", special.scaled_modified_bessel_k1, (0.2, 6)),
    ("bessel_j0", special.bessel_j0, (-9, 9)), ("bessel_j1", special.bessel_j1, (-9, 9)),
    ("bessel_y0", special.bessel_y0, (0.2, 9)), ("bessel_y1", special.bessel_y1, (0.2, 9)),
    ("spherical_bessel_j0", special.spherical_bessel_j0, (-4, 4)), ("airy_ai", special.airy_ai, (-6, 9)),
    ("ndtri", special.ndtri, (0.001, 0.999)), ("ndtr", special.ndtr, (-4, 4)),
    ("log_ndtr", special.log_ndtr, (-8, 4)), ("erfcx", special.erfcx, (-4, 12)), ("entr", special.entr, (0.05, 4)),
    ("multigammaln", lambda x: special.multigammaln(x, 3), (1.2, 6)),
    ("zeta-number", lambda q: special.zeta(3.0, q), (0.5, 4)),
    ("xlog1py-number", lambda y: special.xlog1py(2.0, y), (-0.5, 3)),
    ("round-decimals", lambda x: special.round(x, decimals=2), (-9, 9)),
    ("chebyshev_polynomial_u", lambda x: special.chebyshev_polynomial_u(x, 9), (-1, 1)),
    ("shifted_chebyshev_polynomial_w", lambda x: special.shifted_chebyshev_polynomial_w(x, 3), (0, 1)),
    ("hermite_polynomial_he", lambda x: special.hermite_polynomial_he(x, 5), (-2, 2)),
    ("laguerre_polynomial_l", lambda x: special.laguerre_polynomial_l(x, 4), (-2, 2)),
    ("legendre_polynomial_p", lambda x: special.legendre_polynomial_p(x, 6), (-1, 1)),
]

BINARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("xlog1py", special.xlog1py, (-0.5, 3)), ("gammainc", special.gammainc, (0.2, 6)),
    ("gammaincc", special.gammaincc, (0.2, 6)), ("chebyshev_polynomial_t", special.chebyshev_polynomial_t, (0.5, 8)),
]


@needs_cuda
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn,bounds", UNARY, ids=[u[0] for u in UNARY])
def test_unary_ops_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], bounds: tuple[float, float],
                                                 dtype: Any) -> None:
    run_both(fn, [values((2, 3), dtype, *bounds, seed=1)])


@needs_cuda
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name,fn,bounds", BINARY, ids=[b[0] for b in BINARY])
def test_binary_ops_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], bounds: tuple[float, float],
                                                  dtype: Any) -> None:
    # gammainc's first argument has no derivative: only the second one is differentiated there.
    first = values((2, 3), dtype, *bounds, seed=2)
    second = values((3,), dtype, *bounds, seed=3)

    def function(a: tapegrad.Tensor, b: tapegrad.Tensor) -> tapegrad.Tensor:
        return fn(a.detach() if name.startswith("gamma") else a, b)

    run_both(function, [first, second])


@needs_cuda
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.__name__)
def test_special_values_match_cpu(dtype: Any) -> None:
    data = np.array([0.0, -0.0, np.nan, 1.0, -1.0, 2.0, 8.0, -8.0, 5.0, 0.5], dtype)
    for fn in (special.i0e, special.i1e, special.bessel_j0, special.bessel_j1, special.spherical_bessel_j0,
               special.entr, special.erfcx):
        run_both(fn, [data], grad=False)
    run_both(special.ndtri, [np.array([0.0, 1.0, 0.5, np.nan, 0.1], dtype)], grad=False)
    run_both(special.xlog1py, [np.array([0.0, 0.0, 2.0], dtype), np.array([-1.0, np.nan, np.nan], dtype)], grad=False)
    run_both(lambda x: special.zeta(x, 1.0), [np.array([1.0, 0.5, 2.0, np.nan], dtype)], grad=False)


# ------------------------------------------------------------------ PTX

# (scalar definition, operand pattern): as the public functions call them.
SCALARS: list[tuple[Callable[..., Any], str]] = [
    (sf._modified_bessel_0, "as"), (sf._modified_bessel_1, "as"), (sf._bessel_0, "as"), (sf._bessel_1, "as"),
    (sf._spherical_bessel_j0, "a"), (sf._airy_ai, "a"), (sf._ndtri, "a"), (sf._erfcx, "as"), (sf._entr, "a"),
    (sf._xlog1py, "aa"), (sf._xlog1py, "sa"), (sf._zeta, "aa"), (sf._zeta, "sa"), (sf._incomplete_gamma, "aas"),
    (sf._multigammaln, "as"), (sf._round_decimals, "ass"), (sf._chebyshev, "aass"), (sf._chebyshev, "sass"),
    (sf._hermite, "asss"), (sf._laguerre, "aa"), (sf._legendre, "as"),
]


@pytest.mark.skipif(SIMULATED, reason="PTX needs the real CUDA compiler, not the simulator")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn,pattern", SCALARS, ids=[f"{f.__name__}-{p}" for f, p in SCALARS])
def test_scalar_definitions_compile_to_ptx(fn: Callable[..., Any], pattern: str, dtype: str) -> None:
    from numba import cuda, types

    from ptx_helpers import CC  # skips without a usable NVVM/NVRTC

    from tapegrad.backends import cuda_kernels as ck

    element = getattr(types, dtype)
    chain = ck.elementwise_chain(fn, pattern)
    tuple_type = types.UniTuple(types.int64, ck.MAX_DIMS)
    # (the strided kernel differs only in its indexing, which other PTX tests cover: once is enough)
    for kind in ("flat", "strided") if dtype == "float64" else ("flat",):
        arg_types: list[Any] = [element[::1]] + ([tuple_type] if kind == "strided" else [])
        for letter in pattern:
            if letter == "s":
                arg_types.append(element)
            else:
                arg_types.append(element[::1])
                if kind == "strided":
                    arg_types.append(tuple_type)
        ptx, _ = cuda.compile_ptx(getattr(chain.module(), kind).py_func, types.void(*arg_types), cc=CC)
        assert ptx.count(".entry") == 1  # one kernel, every device function inlined
