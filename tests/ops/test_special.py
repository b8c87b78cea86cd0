"""``tapegrad.special`` against ``torch.special``: values over dense grids spanning each function's
domain (special values included) in float64 and float32, gradients (finite differences and
PyTorch's), grad_fn names, the functions without a derivative, dtype promotion of integer and
bool inputs, and PyTorch's errors for bad arguments."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.special
from tapegrad.autograd import gradcheck

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

INF, NAN = float("inf"), float("nan")
SPECIAL = [0.0, -0.0, INF, -INF, NAN, 1e-300, -1e-300, 1e300, -1e300, 5e-324]
EPS64 = 2.220446049250313e-16


def _grid(low: float, high: float, count: int = 801) -> np.ndarray:
    """A dense linear grid, a log-spaced one of both signs over the whole float64 range, and the
    special values."""
    logs = np.geomspace(1e-300, 1e300, 121)
    return np.concatenate([np.linspace(low, high, count), logs, -logs, SPECIAL])


def _compare(got: Any, want: Any, rtol: float, atol: Any = 0.0) -> None:
    """Equal dtypes and shapes, values within ``rtol`` and ``atol`` (a number or an array), nan
    where PyTorch has nan, and infinities of PyTorch's signs where it has infinities."""
    got = got.detach().numpy() if isinstance(got, tapegrad.Tensor) else got
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    assert got.dtype == want.dtype and got.shape == want.shape
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        close &= np.isinf(got) == np.isinf(want)
        close &= np.isnan(got) == np.isnan(want)
        close &= ~np.isinf(want) | (got == want)
    if not close.all():
        bad = np.flatnonzero(~close.ravel())[:8]
        raise AssertionError(f"{(~close).sum()} of {close.size} values differ; first at "
                             + ", ".join(f"[{i}] {got.ravel()[i]!r} != {want.ravel()[i]!r}" for i in bad))


# ------------------------------------------------------------------ values of the one-argument functions

EPS32 = 1.1920928955078125e-07


def _oscillating(power: float, eps: float) -> Callable[[np.ndarray], np.ndarray]:
    """An absolute tolerance for a function oscillating with phase ~ |x|**power: the phase's
    rounding, an ulp of it, is the absolute error there, PyTorch's and ours."""
    return lambda x: eps + 8 * eps * np.abs(x) ** power


# (name, grid, float64 rtol, float64 atol, float32 rtol, float32 atol): float64 tolerances of a few
# ulp, an absolute one only where the function has zeros on the real line (there a relative error
# means nothing). In float32 tapegrad evaluates the series in float64 and rounds once, while
# PyTorch evaluates them in float32 (with shorter tables for i1 and i1e): the two then differ by
# PyTorch's float32 rounding errors.
UNARY: list[tuple[str, np.ndarray, float, Any, float, Any]] = [
    ("i0", _grid(-700, 700), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("i0e", _grid(-60, 60), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("i1", _grid(-700, 700), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("i1e", _grid(-60, 60), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("modified_bessel_i0", _grid(-700, 700), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("modified_bessel_i1", _grid(-700, 700), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("modified_bessel_k0", _grid(-5, 700), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("modified_bessel_k1", _grid(-5, 700), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("scaled_modified_bessel_k0", _grid(-5, 60), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("scaled_modified_bessel_k1", _grid(-5, 60), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("bessel_j0", _grid(-60, 60), 8 * EPS64, 1e-16, 3e-6, _oscillating(1.0, EPS32)),
    ("bessel_j1", _grid(-60, 60), 8 * EPS64, 1e-16, 3e-6, _oscillating(1.0, EPS32)),
    ("bessel_y0", _grid(-5, 60), 8 * EPS64, 1e-16, 3e-6, _oscillating(1.0, EPS32)),
    ("bessel_y1", _grid(-5, 60), 8 * EPS64, 1e-16, 3e-6, _oscillating(1.0, EPS32)),
    ("spherical_bessel_j0", _grid(-60, 60), 8 * EPS64, 1e-16, 3e-6, 1e-7),
    ("airy_ai", _grid(-60, 110), 32 * EPS64, _oscillating(1.5, 1e-16), 2e-5, _oscillating(1.5, EPS32)),
    ("ndtri", np.concatenate([np.linspace(-0.1, 1.1, 1201), np.geomspace(1e-300, 0.5, 300),
                              1 - np.geomspace(1e-16, 0.5, 100), SPECIAL]), 4 * EPS64, 0.0, 3e-6, 0.0),
    # In float32, ndtr is (1 + erf(x / sqrt 2)) * 0.5, PyTorch's composite and ours: in the lower tail
    # that is a difference of numbers near 1, with an absolute error of up to an ulp of erf there
    # (EPS32 / 2), halved.
    ("ndtr", _grid(-40, 40), 4 * EPS64, 0.0, 3e-6, EPS32 / 4),
    ("log_ndtr", _grid(-60, 40), 4 * EPS64, 0.0, 5e-5, 0.0),
    ("erfcx", np.concatenate([_grid(-30, 60), np.linspace(-26.8, -26.5, 31)]), 8 * EPS64, 0.0, 3e-6, 0.0),
    ("entr", _grid(-2, 30), 2 * EPS64, 0.0, 3e-6, 0.0),
]
IDS = [u[0] for u in UNARY]


@pytest.mark.parametrize("name,grid,rtol,atol,rtol32,atol32", UNARY, ids=IDS)
def test_unary_values_match_torch_in_float64(name: str, grid: np.ndarray, rtol: float, atol: Any, rtol32: float,
                                             atol32: Any) -> None:
    got = getattr(tapegrad.special, name)(tapegrad.tensor(grid, dtype=tapegrad.float64))
    want = getattr(torch.special, name)(torch.tensor(grid, dtype=torch.float64))
    with np.errstate(over="ignore"):
        _compare(got, want, rtol, atol(grid) if callable(atol) else atol)


@pytest.mark.parametrize("name,grid,rtol,atol,rtol32,atol32", UNARY, ids=IDS)
def test_unary_values_match_torch_in_float32(name: str, grid: np.ndarray, rtol: float, atol: Any, rtol32: float,
                                             atol32: Any) -> None:
    with np.errstate(over="ignore"):
        values = grid.astype(np.float32)
    got = getattr(tapegrad.special, name)(tapegrad.tensor(values)).numpy()
    want = getattr(torch.special, name)(torch.tensor(values)).numpy()
    # Where PyTorch's float32 arithmetic overflows on the way to the result (exp(x) past 88.7 in
    # i0(x) = exp(x) * series, or inf - inf), it gives inf where float32 holds the result, or nan:
    # those points are left out.
    exact = getattr(torch.special, name)(torch.tensor(values, dtype=torch.float64)).numpy()
    with np.errstate(over="ignore"):
        kept = ~((np.isinf(want) & np.isfinite(exact.astype(np.float32))) | (np.isnan(want) & ~np.isnan(exact)))
    # PyTorch's float32 kernels depend on the CPU it runs on (with AVX512 its float32 erf, and so
    # ndtr, is an ulp off in places): where PyTorch's value is farther from the exact one than
    # ours, ours is judged against the exact value instead.
    with np.errstate(over="ignore", invalid="ignore"):
        farther = np.abs(want.astype(np.float64) - exact) > np.abs(got.astype(np.float64) - exact)
        want = np.where(farther, exact.astype(np.float32), want)
    # (and float32's subnormals, which PyTorch may flush to zero)
    atol32 = atol32(values[kept].astype(np.float64)) if callable(atol32) else atol32
    _compare(got[kept], want[kept], rtol32, np.maximum(atol32, 1e-37))


def test_aliases_are_the_ops_they_name() -> None:
    x = np.linspace(-0.99, 3.0, 41)
    for name, arg in [("erf", x), ("erfc", x), ("erfinv", x / 4), ("expit", x), ("exp2", x), ("expm1", x),
                      ("log1p", x), ("sinc", x), ("digamma", x), ("psi", x), ("gammaln", x), ("logit", x / 4 + 0.5)]:
        got = getattr(tapegrad.special, name)(tapegrad.tensor(arg))
        _compare(got, getattr(torch.special, name)(torch.tensor(arg)), 4 * EPS64)
    _compare(tapegrad.special.polygamma(3, tapegrad.tensor(x + 1)), torch.special.polygamma(3, torch.tensor(x + 1)),
             4 * EPS64)
    _compare(tapegrad.special.logit(tapegrad.tensor(x), eps=0.1), torch.special.logit(torch.tensor(x), eps=0.1),
             4 * EPS64)
    m = np.arange(12.0).reshape(3, 4) / 3  # (2-d: the reductions' dims matter)
    for name in ("softmax", "log_softmax"):
        _compare(getattr(tapegrad.special, name)(tapegrad.tensor(m), 1),
                 getattr(torch.special, name)(torch.tensor(m), 1), 1e-12)
        _compare(getattr(tapegrad.special, name)(tapegrad.tensor(m, dtype=tapegrad.float32), 0,
                                                 dtype=tapegrad.float64),
                 getattr(torch.special, name)(torch.tensor(m, dtype=torch.float32), 0, dtype=torch.float64), 1e-12)
    _compare(tapegrad.special.logsumexp(tapegrad.tensor(m), 1, keepdim=True),
             torch.special.logsumexp(torch.tensor(m), 1, keepdim=True), 1e-14)
    _compare(tapegrad.special.xlogy(tapegrad.tensor(x), 2.5), torch.special.xlogy(torch.tensor(x), 2.5), 4 * EPS64)


def test_round_to_decimals_matches_torch() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-1000, 1000, 200), [0.125, 0.375, -2.5, 2.5, 1234.5, INF, NAN]])
    for dtype, torch_dtype in ((tapegrad.float64, torch.float64), (tapegrad.float32, torch.float32)):
        for decimals in (0, 1, 2, 3, -1, -2):
            got = tapegrad.special.round(tapegrad.tensor(values, dtype=dtype), decimals=decimals)
            want = torch.special.round(torch.tensor(values, dtype=torch_dtype), decimals=decimals)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    x = tapegrad.tensor([1.26, -2.5], requires_grad=True)
    y = tapegrad.special.round(x, decimals=1)
    assert y.grad_fn.name() == torch.special.round(torch.tensor([1.0], requires_grad=True), decimals=1).grad_fn.name()
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    assert tapegrad.special.round(x).grad_fn.name() == "RoundBackward1"


# ------------------------------------------------------------------ two-argument functions

def test_xlog1py_matches_torch() -> None:
    grid = np.array([-2.0, -1.0, -0.5, 0.0, -0.0, 0.5, 3.0, 1e300, INF, -INF, NAN])
    x, y = (v.ravel() for v in np.meshgrid(grid, np.concatenate([grid, [-0.999, 1e-20]])))
    _compare(tapegrad.special.xlog1py(tapegrad.tensor(x), tapegrad.tensor(y)),
             torch.special.xlog1py(torch.tensor(x), torch.tensor(y)), 2 * EPS64)
    _compare(tapegrad.special.xlog1py(2, tapegrad.tensor(grid)), torch.special.xlog1py(2, torch.tensor(grid)),
             2 * EPS64)
    _compare(tapegrad.special.xlog1py(tapegrad.tensor(grid), 0.5), torch.special.xlog1py(torch.tensor(grid), 0.5),
             2 * EPS64)


def test_zeta_matches_torch() -> None:
    x = np.concatenate([np.linspace(-2, 40, 85), [1.0, 2.0, 3.0, INF, NAN]])
    q = np.concatenate([np.linspace(-4.5, 30, 70), [-3.0, -1.0, 0.0, 1e-10, 1e10, INF, NAN]])
    xx, qq = (v.ravel() for v in np.meshgrid(x, q))
    _compare(tapegrad.special.zeta(tapegrad.tensor(xx), tapegrad.tensor(qq)),
             torch.special.zeta(torch.tensor(xx), torch.tensor(qq)), 2 * EPS64)
    _compare(tapegrad.special.zeta(3.0, tapegrad.tensor(q)), torch.special.zeta(3.0, torch.tensor(q)), 2 * EPS64)
    _compare(tapegrad.special.zeta(tapegrad.tensor(x, dtype=tapegrad.float32), 2),
             torch.special.zeta(torch.tensor(x, dtype=torch.float32), 2), 1e-7)


def _asymptotic_regime(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Where PyTorch takes the uniform asymptotic expansion (whose error, through a float32 pi in
    it, reaches 2e-9 relative; tapegrad sums the series there instead, to ~1e-14)."""
    with np.errstate(all="ignore"):
        ratio = np.abs(x - a) / a
        return ((a > 20) & (a < 200) & (ratio < 0.3)) | ((a > 200) & (ratio < 4.5 / np.sqrt(a)))


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_matches_torch(name: str) -> None:
    values = np.concatenate([np.geomspace(1e-3, 1e3, 49), [0.0, 0.5, 1.0, 1.1, 2.0, 20.5, 150.0, 250.0, 1e4,
                                                            INF, NAN, -1.0]])
    a, x = (v.ravel() for v in np.meshgrid(values, values))
    got = getattr(tapegrad.special, name)(tapegrad.tensor(a), tapegrad.tensor(x)).numpy()
    want = getattr(torch.special, name)(torch.tensor(a), torch.tensor(x)).numpy()
    asymptotic = _asymptotic_regime(a, x)
    # (1e-12: x**a e**-x / Gamma(a) is exp of a sum of terms up to 700 in size, whose rounding
    # by one ulp, in PyTorch's order of operations or ours, moves the result by 1e-13 relative)
    np.testing.assert_allclose(got[~asymptotic], want[~asymptotic], rtol=1e-12, atol=1e-300, equal_nan=True)
    np.testing.assert_allclose(got[asymptotic], want[asymptotic], rtol=3e-9)
    got32 = getattr(tapegrad.special, name)(tapegrad.tensor(a, dtype=tapegrad.float32),
                                            tapegrad.tensor(x, dtype=tapegrad.float32)).numpy()
    want32 = getattr(torch.special, name)(torch.tensor(a, dtype=torch.float32),
                                          torch.tensor(x, dtype=torch.float32)).numpy()
    # (PyTorch's float32 evaluation stops its series at float32's epsilon: 1e-4 relative at worst)
    np.testing.assert_allclose(got32, want32, rtol=3e-4, atol=1e-30, equal_nan=True)


def test_multigammaln_matches_torch() -> None:
    x = np.concatenate([np.linspace(-5.3, 40, 301), [INF, NAN]])
    for p in (1, 2, 3, 7):
        _compare(tapegrad.special.multigammaln(tapegrad.tensor(x), p),
                 torch.special.multigammaln(torch.tensor(x), p), 8 * EPS64, 1e-14)
        _compare(tapegrad.special.multigammaln(tapegrad.tensor(x, dtype=tapegrad.float32), p),
                 torch.special.multigammaln(torch.tensor(x, dtype=torch.float32), p), 2e-6, 1e-4)


# ------------------------------------------------------------------ orthogonal polynomials

POLYNOMIALS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
               "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
               "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
               "laguerre_polynomial_l", "legendre_polynomial_p"]


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_match_torch(name: str) -> None:
    x = np.concatenate([np.linspace(-1.5, 1.5, 61), [-1.0, 0.0, 1.0, 0.5, 2.5, -3.0]])
    n = np.array([-2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 12.0, 25.0, 2.7])
    xx, nn = (v.ravel() for v in np.meshgrid(x, n))
    got = getattr(tapegrad.special, name)(tapegrad.tensor(xx), tapegrad.tensor(nn)).numpy()
    want = getattr(torch.special, name)(torch.tensor(xx), torch.tensor(nn)).numpy()
    # The recurrences amplify rounding by the degree: compared relative to each degree's largest value.
    scale = np.maximum(np.abs(want).reshape(len(n), len(x)).max(axis=1, keepdims=True), 1.0)
    np.testing.assert_allclose((got.reshape(len(n), len(x)) / scale), want.reshape(len(n), len(x)) / scale,
                               rtol=0, atol=1e-13)
    for degree in (3, 10, 2.5):  # a number as the degree, then as the argument
        _compare(getattr(tapegrad.special, name)(tapegrad.tensor(x), degree),
                 getattr(torch.special, name)(torch.tensor(x), degree), 1e-12, 1e-12)
    _compare(getattr(tapegrad.special, name)(0.25, tapegrad.tensor(n)),
             getattr(torch.special, name)(0.25, torch.tensor(n)), 1e-12, 1e-12)
    got32 = getattr(tapegrad.special, name)(tapegrad.tensor(xx, dtype=tapegrad.float32), 6)
    want32 = getattr(torch.special, name)(torch.tensor(xx, dtype=torch.float32), 6)
    _compare(got32, want32, 2e-5, 2e-5)


@pytest.mark.parametrize("name", ["hermite_polynomial_h", "hermite_polynomial_he"])
def test_hermite_degree_cap_depends_on_dtype(name: str) -> None:
    # nan beyond degree 128 in float32 and 512 in float64 (below the cap float32's own overflow
    # gives PyTorch nan too, which tapegrad's float64 evaluation avoids: only the cap is compared)
    x = [0.5, -0.25]
    for tapegrad_dtype, torch_dtype, degrees in ((tapegrad.float32, torch.float32, (129, 300)),
                                                 (tapegrad.float64, torch.float64, (60, 129, 513))):
        for n in degrees:
            got = getattr(tapegrad.special, name)(tapegrad.tensor(x, dtype=tapegrad_dtype), n)
            want = getattr(torch.special, name)(torch.tensor(x, dtype=torch_dtype), n)
            _compare(got, want, 1e-11)


# ------------------------------------------------------------------ gradients

def _points(*arrays: list[float]) -> list[tapegrad.Tensor]:
    return [tapegrad.tensor(a, dtype=tapegrad.float64, requires_grad=True) for a in arrays]


# (name, function of tapegrad or torch and its tensors, inputs)
GRADIENTS: list[tuple[str, Callable[..., Any], list[list[float]]]] = [
    ("i0", lambda m, x: m.special.i0(x), [[-9.0, -1.5, 0.3, 2.0, 9.5]]),
    ("i0e", lambda m, x: m.special.i0e(x), [[-9.0, -1.5, 0.3, 2.0, 9.5]]),
    ("i1", lambda m, x: m.special.i1(x), [[-9.0, -1.5, 0.3, 2.0, 9.5]]),
    ("i1e", lambda m, x: m.special.i1e(x), [[-9.0, -1.5, 0.3, 2.0, 9.5]]),
    ("ndtr", lambda m, x: m.special.ndtr(x), [[-3.0, -0.5, 0.0, 1.2, 4.0]]),
    ("ndtri", lambda m, x: m.special.ndtri(x), [[0.01, 0.2, 0.5, 0.9, 0.999]]),
    ("log_ndtr", lambda m, x: m.special.log_ndtr(x), [[-30.0, -3.0, -0.5, 0.0, 1.2, 6.0]]),
    ("erfcx", lambda m, x: m.special.erfcx(x), [[-3.0, -0.5, 0.0, 1.2, 6.0, 60.0]]),
    ("entr", lambda m, x: m.special.entr(x), [[0.01, 0.5, 1.0, 3.0]]),
    ("xlog1py", lambda m, x, y: m.special.xlog1py(x, y), [[-1.0, 0.5, 2.0], [0.5, -0.5, 3.0]]),
    ("xlog1py-number", lambda m, y: m.special.xlog1py(2.0, y), [[0.5, -0.5, 3.0]]),
    ("zeta-other", lambda m, q: m.special.zeta(3.0, q), [[0.5, 1.5, 4.0]]),
    ("gammainc-other", lambda m, x: m.special.gammainc(m.tensor([0.5, 2.0, 30.0], dtype=m.float64), x),
     [[0.3, 2.5, 25.0]]),
    ("gammaincc-other", lambda m, x: m.special.gammaincc(m.tensor([0.5, 2.0, 30.0], dtype=m.float64), x),
     [[0.3, 2.5, 25.0]]),
    ("multigammaln", lambda m, x: m.special.multigammaln(x, 3), [[1.2, 2.5, 7.0]]),
]


@pytest.mark.parametrize("name,fn,inputs", GRADIENTS, ids=[g[0] for g in GRADIENTS])
def test_gradients_match_finite_differences_and_torch(name: str, fn: Callable[..., Any],
                                                       inputs: list[list[float]]) -> None:
    ours = _points(*inputs)
    assert gradcheck(lambda *t: fn(tapegrad, *t), ours)
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    out, want = fn(tapegrad, *ours), fn(torch, *theirs)
    assert out.grad_fn.name() == want.grad_fn.name()
    weights = np.linspace(0.5, 1.5, out.numel()).reshape(out.shape)
    (out * tapegrad.tensor(weights)).sum().backward()
    (want * torch.tensor(weights)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_gradients_at_conventional_points_match_torch() -> None:
    # i1 and i1e at 0 (1/2 by the limit), entr at 0 (inf) and below (nan), xlog1py's zero x with y <= -1.
    cases: list[tuple[Callable[..., Any], list[list[float]]]] = [
        (lambda m, x: m.special.i1(x), [[0.0, -0.0, 1e-20]]),
        (lambda m, x: m.special.i1e(x), [[0.0, -0.0, 1e-20]]),
        (lambda m, x: m.special.entr(x), [[0.0, -1.0]]),
        (lambda m, x, y: m.special.xlog1py(x, y), [[0.0, 0.0, 1.0], [-1.0, -2.0, -1.0]]),
    ]
    for fn, inputs in cases:
        ours = _points(*inputs)
        theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
        fn(tapegrad, *ours).sum().backward()
        fn(torch, *theirs).sum().backward()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-14)


def test_second_derivatives() -> None:
    from tapegrad.autograd import gradgradcheck

    assert gradgradcheck(lambda x: tapegrad.special.i0(x), _points([-2.0, 0.5, 9.0]))
    assert gradgradcheck(lambda x: tapegrad.special.erfcx(x), _points([-2.0, 0.5, 9.0]))
    assert gradgradcheck(lambda x: tapegrad.special.multigammaln(x, 2), _points([1.5, 4.0]))


@pytest.mark.parametrize("name,message", [("zeta", "the derivative for 'zeta' is not implemented."),
                                          ("gammainc", "the derivative for 'igamma: input' is not implemented."),
                                          ("gammaincc", "the derivative for 'igammac: input' is not implemented.")])
def test_no_derivative_for_the_first_argument(name: str, message: str) -> None:
    a = torch.tensor([2.0, 3.0], requires_grad=True)
    with pytest.raises(NotImplementedError) as theirs:
        getattr(torch.special, name)(a, torch.tensor([1.5, 2.0])).sum().backward()
    x = tapegrad.tensor([2.0, 3.0], requires_grad=True)
    y = getattr(tapegrad.special, name)(x, tapegrad.tensor([1.5, 2.0]))
    assert y.grad_fn.name() == getattr(torch.special, name)(a, torch.tensor([1.5, 2.0])).grad_fn.name()
    with pytest.raises(NotImplementedError) as ours:
        y.sum().backward()
    assert str(ours.value) == str(theirs.value) == message


@pytest.mark.parametrize("name", ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
                                  "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
                                  "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0",
                                  "airy_ai", "chebyshev_polynomial_t", "hermite_polynomial_h",
                                  "laguerre_polynomial_l", "legendre_polynomial_p"])
def test_functions_without_a_derivative_record_nothing(name: str) -> None:
    args = (3,) if "polynomial" in name else ()
    x = tapegrad.tensor([0.5, 1.5], requires_grad=True)
    y = getattr(tapegrad.special, name)(x, *args)
    assert y.requires_grad == getattr(torch.special, name)(torch.tensor([0.5, 1.5], requires_grad=True),
                                                           *args).requires_grad
    assert not y.requires_grad and y.grad_fn is None


# ------------------------------------------------------------------ dtypes

@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr", "entr", "erfcx", "bessel_j0",
                                  "modified_bessel_k1", "spherical_bessel_j0", "airy_ai", "expit", "gammaln", "sinc"])
@pytest.mark.parametrize("values", [[0, 1, 3], [True, False]], ids=["int64", "bool"])
def test_integer_and_bool_inputs_give_the_default_float_dtype(name: str, values: list[Any]) -> None:
    got = getattr(tapegrad.special, name)(tapegrad.tensor(values))
    want = getattr(torch.special, name)(torch.tensor(values))
    _compare(got, want, 1e-6)


def test_promotion_of_two_argument_functions() -> None:
    ints = np.array([1, 2, 3])
    for name in ("xlog1py", "zeta", "xlogy"):
        fn, tfn = getattr(tapegrad.special, name), getattr(torch.special, name)
        _compare(fn(tapegrad.tensor(ints), tapegrad.tensor(ints)), tfn(torch.tensor(ints), torch.tensor(ints)), 1e-6)
        _compare(fn(2, tapegrad.tensor(ints, dtype=tapegrad.float64)),
                 tfn(2, torch.tensor(ints, dtype=torch.float64)), 1e-15)
        _compare(fn(tapegrad.tensor(ints, dtype=tapegrad.float32), 2.5),
                 tfn(torch.tensor(ints, dtype=torch.float32), 2.5), 1e-6)
    _compare(tapegrad.special.gammaincc(tapegrad.tensor([True, False]), tapegrad.tensor([2.0])),
             torch.special.gammaincc(torch.tensor([True, False]), torch.tensor([2.0])), 1e-6)
    _compare(tapegrad.special.gammainc(tapegrad.tensor([1.0]), tapegrad.tensor([2.0], dtype=tapegrad.float64)),
             torch.special.gammainc(torch.tensor([1.0]), torch.tensor([2.0], dtype=torch.float64)), 1e-15)
    _compare(tapegrad.special.chebyshev_polynomial_t(tapegrad.tensor(ints), tapegrad.tensor(ints)),
             torch.special.chebyshev_polynomial_t(torch.tensor(ints), torch.tensor(ints)), 1e-6)
    _compare(tapegrad.special.hermite_polynomial_h(tapegrad.tensor(ints, dtype=tapegrad.float32),
                                                   tapegrad.tensor([2.0], dtype=tapegrad.float64)),
             torch.special.hermite_polynomial_h(torch.tensor(ints, dtype=torch.float32),
                                                torch.tensor([2.0], dtype=torch.float64)), 1e-15)


# ------------------------------------------------------------------ errors

def _error(fn: Callable[..., Any]) -> BaseException:
    try:
        fn()
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return error
    raise AssertionError("no error raised")


ERRORS: list[tuple[str, Callable[..., Any]]] = [
    ("i0-number", lambda m: m.special.i0(1.0)),
    ("bessel_j0-list", lambda m: m.special.bessel_j0([1.0])),
    ("erf-number", lambda m: m.special.erf(1)),
    ("ndtr-number", lambda m: m.special.ndtr(0.5)),
    ("xlog1py-numbers", lambda m: m.special.xlog1py(2, 3)),
    ("xlog1py-string", lambda m: m.special.xlog1py("a", m.ones(1))),
    ("zeta-numbers", lambda m: m.special.zeta(1, 2.0)),
    ("xlogy-numbers", lambda m: m.special.xlogy(1.0, 2)),
    ("chebyshev-numbers", lambda m: m.special.chebyshev_polynomial_t(1, 2)),
    ("hermite-numbers", lambda m: m.special.hermite_polynomial_h(1.5, 2.0)),
    ("gammainc-number", lambda m: m.special.gammainc(m.tensor([1.0]), 2)),
    ("gammainc-first-number", lambda m: m.special.gammainc(1.0, m.tensor([1.0]))),
    ("gammainc-int64", lambda m: m.special.gammainc(m.tensor([1]), m.tensor([2]))),
    ("gammaincc-bool", lambda m: m.special.gammaincc(m.tensor([True]), m.tensor([False]))),
    ("multigammaln-number", lambda m: m.special.multigammaln(1.0, 2)),
    ("multigammaln-float-p", lambda m: m.special.multigammaln(m.tensor([1.2]), 1.5)),
    ("multigammaln-p0", lambda m: m.special.multigammaln(m.tensor([1.2]), 0)),
    ("multigammaln-bool", lambda m: m.special.multigammaln(m.tensor([True]), 1)),
    ("polygamma-float-n", lambda m: m.special.polygamma(1.5, m.ones(1))),
    ("polygamma-negative-n", lambda m: m.special.polygamma(-1, m.ones(1))),
    ("round-int64", lambda m: m.special.round(m.tensor([1, 2]))),
    ("round-int32-decimals", lambda m: m.special.round(m.tensor([1, 2], dtype=m.int32), decimals=1)),
    ("round-bool", lambda m: m.special.round(m.tensor([True]))),
    ("xlog1py-shapes", lambda m: m.special.xlog1py(m.zeros(2), m.zeros(3))),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name: str, fn: Callable[..., Any]) -> None:
    theirs, ours = _error(lambda: fn(torch)), _error(lambda: fn(tapegrad))
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)


# ------------------------------------------------------------------ torch.i0, torch.igamma, ... and their methods

def test_top_level_functions_and_methods_match_torch() -> None:
    x = np.array([0.5, 1.5, 4.0])
    _compare(tapegrad.i0(tapegrad.tensor(x)), torch.i0(torch.tensor(x)), 4 * EPS64)
    _compare(tapegrad.igamma(tapegrad.tensor(x), tapegrad.tensor(x[::-1].copy())),
             torch.igamma(torch.tensor(x), torch.tensor(x[::-1].copy())), 4 * EPS64)
    _compare(tapegrad.igammac(tapegrad.tensor(x), tapegrad.tensor(x[::-1].copy())),
             torch.igammac(torch.tensor(x), torch.tensor(x[::-1].copy())), 4 * EPS64)
    _compare(tapegrad.mvlgamma(tapegrad.tensor(x + 1), 2), torch.mvlgamma(torch.tensor(x + 1), 2), 4 * EPS64)
    for name, args in (("i0_", ()), ("igamma_", (torch.tensor([2.0, 1.0, 0.5]),)),
                       ("igammac_", (torch.tensor([2.0, 1.0, 0.5]),)), ("mvlgamma_", (2,))):
        leaf = tapegrad.tensor(x + 1, requires_grad=True)
        ours = leaf.clone()
        version = ours._version
        result = getattr(ours, name)(*[tapegrad.tensor(a.numpy()) if isinstance(a, torch.Tensor) else a for a in args])
        theirs = torch.tensor(x + 1, requires_grad=True).clone()
        getattr(theirs, name)(*args)
        assert result is ours and ours._version > version
        _compare(ours, theirs, 1e-14)
        if name in ("i0_", "mvlgamma_"):
            assert ours.grad_fn.name() == theirs.grad_fn.name()
    assert str(_error(lambda: tapegrad.tensor([1, 2]).i0_())) == str(
        _error(lambda: torch.tensor([1, 2]).i0_()))
    assert str(_error(lambda: tapegrad.mvlgamma(1.0, 2))) == str(_error(lambda: torch.mvlgamma(1.0, 2)))
