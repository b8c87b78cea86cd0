"""The trigonometric, hyperbolic and special functions beyond the op table, against PyTorch: the
errors for refused dtypes and arguments, gradients at the points where each function has a
convention (poles, domain edges, clamps, zeros), second derivatives, the sign of zero results,
and the in-place forms on integer tensors and under no_grad."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

INF, NAN = float("inf"), float("nan")


def _outcome(lib: Any, fn: Callable[..., Any], arrays: list[np.ndarray]) -> Any:
    try:
        return fn(lib, *[lib.tensor(a) for a in arrays])
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return error


# ------------------------------------------------------------------ errors

I64, I32, B, F32, F64 = (np.array([1, 2, 3], np.int64), np.array([1, 2, 3], np.int32),
                         np.array([True, False, True]), np.array([1.0, 2.0, 3.0], np.float32),
                         np.array([1.0, 2.0, 3.0]))
ZERO_I64 = np.array([1, 0, 2], np.int64)

ERRORS: list[tuple[str, Callable[..., Any], list[np.ndarray]]] = [
    ("trunc-bool", lambda t, x: t.trunc(x), [B]),
    ("trunc_-bool", lambda t, x: x.trunc_(), [B]),
    ("frac-int64", lambda t, x: t.frac(x), [I64]),
    ("frac-int32", lambda t, x: x.frac(), [I32]),
    ("frac-bool", lambda t, x: t.frac(x), [B]),
    ("fmod-bool-bool", lambda t, x, y: t.fmod(x, y), [B, B]),
    ("fmod-bool-True", lambda t, x: t.fmod(x, True), [B]),
    ("fmod-int-by-zero-tensor", lambda t, x, y: t.fmod(x, y), [I64, ZERO_I64]),
    ("fmod-int-by-zero", lambda t, x: x.fmod(0), [I32]),
    ("hypot-int64-int32", lambda t, x, y: t.hypot(x, y), [I64, I32]),
    ("hypot-int32-bool", lambda t, x, y: t.hypot(x, y), [I32, B]),
    ("hypot-number", lambda t, x: t.hypot(x, 1.0), [F32]),
    ("logaddexp-bool-bool", lambda t, x, y: t.logaddexp(x, y), [B, B]),
    ("logaddexp2-int64", lambda t, x, y: t.logaddexp2(x, y), [I64, I64]),
    ("nextafter-int32", lambda t, x, y: t.nextafter(x, y), [I32, I32]),
    ("atan2-number", lambda t, x: t.atan2(x, 2.0), [F32]),
    ("atan2-number-first", lambda t, x: t.atan2(2.0, x), [F32]),
    ("heaviside-mixed", lambda t, x, y: t.heaviside(x, y), [F32, F64]),
    ("heaviside-int-float", lambda t, x, y: t.heaviside(x, y), [I64, F32]),
    ("heaviside-number", lambda t, x: t.heaviside(x, 0.5), [F32]),
    ("positive-bool", lambda t, x: t.positive(x), [B]),
    ("polygamma-negative", lambda t, x: t.polygamma(-1, x), [F32]),
    ("polygamma_-negative", lambda t, x: x.polygamma_(-2), [F32]),
    ("float_power_-float32", lambda t, x: x.float_power_(2), [F32]),
    ("float_power_-int64", lambda t, x, y: x.float_power_(y), [I64, F64]),
    ("tan_-int64", lambda t, x: x.tan_(), [I64]),
    ("atan2_-int32", lambda t, x, y: x.atan2_(y), [I32, F32]),
    ("fmod_-int-float", lambda t, x: x.fmod_(2.5), [I64]),
    ("copysign_-int", lambda t, x: x.copysign_(-1), [I32]),
    ("logit_-int", lambda t, x: x.logit_(), [I64]),
]


@pytest.mark.parametrize("fn, arrays", [pytest.param(fn, arrays, id=name) for name, fn, arrays in ERRORS])
def test_errors_match_torch(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    expected = _outcome(torch, fn, arrays)
    assert isinstance(expected, Exception), "torch accepts this: the case is wrong"
    got = _outcome(tapegrad, fn, arrays)
    assert isinstance(got, Exception), f"tapegrad accepts what torch refuses with {expected!r}"
    assert type(got) is type(expected)
    assert str(got) == str(expected)


def test_fmod_and_copysign_of_a_number_and_a_tensor_are_type_errors_as_in_torch() -> None:
    for name in ("fmod", "copysign"):
        with pytest.raises(TypeError):
            getattr(torch, name)(2.0, torch.tensor([1.0]))
        with pytest.raises(TypeError, match=f"{name}\\(\\) received an invalid combination of arguments"):
            getattr(tapegrad, name)(2.0, tapegrad.tensor([1.0]))


BACKWARD_ERRORS: list[tuple[str, Callable[..., Any]]] = [
    ("heaviside", lambda t, x: t.heaviside(x, x.detach())),
    ("heaviside_", lambda t, x: (x * 1).heaviside_(x.detach())),
    ("asinh_", lambda t, x: (x * 1).asinh_()),
    ("arccosh_", lambda t, x: (x + 1).arccosh_()),
    ("atanh_", lambda t, x: (x * 0.5).atanh_()),
]


@pytest.mark.parametrize("fn", [pytest.param(fn, id=name) for name, fn in BACKWARD_ERRORS])
def test_steps_without_a_derivative_refuse_backward_as_in_torch(fn: Callable[..., Any]) -> None:
    errors = []
    for lib in (torch, tapegrad):
        x = lib.tensor([0.25, 0.0, 0.5], dtype=lib.float64, requires_grad=True)
        y = fn(lib, x)
        assert y.requires_grad
        with pytest.raises(Exception) as caught:
            y.sum().backward()
        errors.append((type(caught.value), str(caught.value), y.grad_fn.name()))
    assert errors[1] == errors[0]


# ------------------------------------------------------------------ gradients at special points

SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, INF, -INF, NAN, 1e-310, -1e-310, 1e300, -2.5, 30.0]

GRADIENT_POINTS: list[tuple[str, Callable[..., Any], list[list[float]]]] = [
    ("hypot-origin", lambda t, x, y: t.hypot(x, y), [[0.0, 3.0, 0.0, -0.0, INF, NAN], [0.0, 4.0, -2.0, 0.0, 1.0, INF]]),
    ("fmod-divisor", lambda t, x, y: t.fmod(x, y), [[5.0, -5.0, 5.5, 3.0, INF, 2.0], [2.0, 2.0, -2.0, 0.0, 1.0, INF]]),
    ("fmod-number", lambda t, x: t.fmod(x, 0.0), [[5.0, -5.5, 0.0]]),
    ("logit-edges", lambda t, x: t.logit(x), [[0.0, 0.05, 0.5, 1.0, 1.2, -0.1, NAN]]),
    ("logit-eps", lambda t, x: t.logit(x, eps=0.1), [[0.0, 0.05, 0.1, 0.5, 0.9, 0.95, 1.0, 1.2, NAN]]),
    ("logit-eps0", lambda t, x: t.logit(x, eps=0.0), [[0.0, 0.5, 1.0, 1.2, -0.1]]),
    ("copysign-zeros", lambda t, x, y: t.copysign(x, y),
     [[1.0, -2.0, 0.0, -0.0, 3.0, 0.0, INF, NAN], [-1.0, 2.0, -1.0, 1.0, 0.0, -0.0, -1.0, -1.0]]),
    ("copysign-number", lambda t, x: t.copysign(x, -0.0), [[1.0, -2.0, 0.0, -0.0]]),
    ("sinc-zero", lambda t, x: t.sinc(x), [[0.0, -0.0, 0.5, 1.0, INF, 1e-20]]),
    ("atanh-edges", lambda t, x: t.atanh(x), [[1.0, -1.0, 0.5, 2.0]]),
    ("acosh-edges", lambda t, x: t.acosh(x), [[1.0, 0.5, 2.0, INF]]),
    ("asin-edges", lambda t, x: t.asin(x), [[1.0, -1.0, 0.5, 2.0]]),
    ("acos-edges", lambda t, x: t.acos(x), [[1.0, -1.0, 0.5, 2.0]]),
    ("logaddexp-infinities", lambda t, x, y: t.logaddexp(x, y),
     [[-INF, 1.0, INF, INF, NAN], [-INF, 1.0, INF, 1.0, 0.0]]),
    ("logaddexp2-infinities", lambda t, x, y: t.logaddexp2(x, y),
     [[-INF, 1.0, INF, INF, NAN], [-INF, 1.0, INF, 1.0, 0.0]]),
    ("atan2-origin", lambda t, x, y: t.atan2(x, y),
     [[0.0, 1.0, -0.0, 0.0, INF, 1e-200], [0.0, 0.0, -1.0, -0.0, INF, 0.0]]),
    ("erfinv-edges", lambda t, x: t.erfinv(x), [[1.0, 0.5, 0.0, -1.0, 2.0]]),
    ("lgamma-poles", lambda t, x: t.lgamma(x), [[0.0, -1.0, 0.5, -1.5, INF, -INF, -0.0]]),
    # At -1 the gradient is pi**2 / sin(pi x)**2 with sin(pi x) a rounding error, in float32 PyTorch's.
    ("digamma-poles", lambda t, x: t.digamma(x), [[0.0, -1.0, 0.5, -1.5, INF, -INF, -0.0]], ("float64",)),
    ("polygamma-poles", lambda t, x: t.polygamma(2, x), [[0.0, -1.0, 0.5, -1.5, INF, 1e-3, 30.0]]),
    ("nan_to_num", lambda t, x: t.nan_to_num(x, nan=2.0), [[1.5, NAN, INF, -INF]]),
    ("nextafter-ties", lambda t, x, y: t.nextafter(x, y),
     [[0.0, 1.0, INF, -INF, 1e-310, NAN, 2.0, -0.0], [1.0, 0.0, 0.0, INF, -1.0, 1.0, 2.0, 0.0]]),
    ("float_power-zero", lambda t, x, y: t.float_power(x, y), [[0.0, 2.0, 0.0, -1.0], [0.0, 3.0, -1.0, 0.5]]),
    ("pow-zero", lambda t, x, y: t.pow(x, y), [[0.0, 2.0, 0.0, -1.0, 0.0], [0.0, 3.0, -1.0, 0.5, 2.0]]),
    *[(name, (lambda n: lambda t, x: getattr(t, n)(x))(name), [SPECIAL]) for name in (
        "tan", "sinh", "cosh", "asinh", "atan", "log2", "log10", "exp2", "trunc", "frac", "erfc", "deg2rad",
        "rad2deg")],
]


def _gradients(lib: Any, fn: Callable[..., Any], values: list[list[float]], dtype: str) -> list[np.ndarray]:
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        leaves = [lib.tensor(np.array(v, dtype), requires_grad=True) for v in values]
    out = fn(lib, *leaves)
    out.backward(lib.tensor(np.linspace(-1.0, 2.0, out.numel()).astype(dtype).reshape(tuple(out.shape))))
    return [out.detach().numpy()] + [leaf.grad.detach().numpy() for leaf in leaves]


@pytest.mark.parametrize("fn, values, dtype", [pytest.param(fn, values, dtype, id=f"{name}-{dtype}")
                                               for name, fn, values, *dtypes in GRADIENT_POINTS
                                               for dtype in (dtypes[0] if dtypes else ("float64", "float32"))])
def test_values_and_gradients_at_special_points_match_torch(fn: Callable[..., Any], values: list[list[float]],
                                                            dtype: str) -> None:
    got = _gradients(tapegrad, fn, values, dtype)
    expected = _gradients(torch, fn, values, dtype)
    # float32: PyTorch computes in float32 where tapegrad computes some functions in float64.
    tolerance = dict(rtol=1e-12, atol=0) if dtype == "float64" else dict(rtol=2e-6, atol=1e-6)
    for k, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype, f"result {k}"
        np.testing.assert_allclose(a, b, equal_nan=True, err_msg=f"result {k} (0: value)", **tolerance)


# ------------------------------------------------------------------ second derivatives

SECOND: list[tuple[str, Callable[..., Any], int, tuple[float, float]]] = [
    ("tan", lambda t, x: t.tan(x), 1, (-1.2, 1.2)), ("asin", lambda t, x: t.asin(x), 1, (-0.9, 0.9)),
    ("acos", lambda t, x: t.acos(x), 1, (-0.9, 0.9)), ("atan", lambda t, x: t.atan(x), 1, (-3, 3)),
    ("sinh", lambda t, x: t.sinh(x), 1, (-3, 3)), ("cosh", lambda t, x: t.cosh(x), 1, (-3, 3)),
    ("asinh", lambda t, x: t.asinh(x), 1, (-3, 3)), ("acosh", lambda t, x: t.acosh(x), 1, (1.1, 3)),
    ("atanh", lambda t, x: t.atanh(x), 1, (-0.9, 0.9)), ("log2", lambda t, x: t.log2(x), 1, (0.2, 3)),
    ("log10", lambda t, x: t.log10(x), 1, (0.2, 3)), ("exp2", lambda t, x: t.exp2(x), 1, (-3, 3)),
    ("erfc", lambda t, x: t.erfc(x), 1, (-2, 2)), ("erfinv", lambda t, x: t.erfinv(x), 1, (-0.9, 0.9)),
    ("lgamma", lambda t, x: t.lgamma(x), 1, (0.2, 4)), ("digamma", lambda t, x: t.digamma(x), 1, (0.2, 4)),
    ("polygamma3", lambda t, x: t.polygamma(3, x), 1, (0.2, 4)), ("logit", lambda t, x: t.logit(x), 1, (0.05, 0.95)),
    ("logit-eps", lambda t, x: t.logit(x, 0.2), 1, (0.0, 1.0)), ("sinc", lambda t, x: t.sinc(x), 1, (-2, 2)),
    ("atan2", lambda t, x, y: t.atan2(x, y), 2, (-2, 2)), ("hypot", lambda t, x, y: t.hypot(x, y), 2, (-2, 2)),
    ("logaddexp", lambda t, x, y: t.logaddexp(x, y), 2, (-2, 2)),
    ("logaddexp2", lambda t, x, y: t.logaddexp2(x, y), 2, (-2, 2)),
    ("copysign", lambda t, x, y: t.copysign(x, y), 2, (-2, 2)), ("fmod", lambda t, x, y: t.fmod(x, y), 2, (0.5, 3)),
    ("float_power", lambda t, x, y: t.float_power(x, y), 2, (0.5, 2)),
]


@pytest.mark.parametrize("fn, arity, domain", [pytest.param(fn, arity, domain, id=name)
                                                for name, fn, arity, domain in SECOND])
def test_second_derivatives_match_torch(fn: Callable[..., Any], arity: int, domain: tuple[float, float]) -> None:
    rng = np.random.default_rng(len(SECOND) + arity)
    arrays = [rng.uniform(*domain, (2, 5)) for _ in range(arity)]
    upstream = rng.standard_normal((2, 5))
    results = []
    for lib in (torch, tapegrad):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *leaves)
        first = lib.autograd.grad(out, leaves, lib.tensor(upstream), create_graph=True)
        total = sum((g * g).sum() for g in first)
        results.append([g.detach().numpy() for g in lib.autograd.grad(total, leaves)])
    for got, expected in zip(results[1], results[0]):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ signed zeros, bit for bit

ZEROS = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 4.0, -4.0, INF, -INF, 1e-310, -1e-310])
# PyTorch's vectorised CPU fmod gives nan for a subnormal divisor (its scalar loop, C and tapegrad give
# the exact remainder), so fmod meets normal values only.
NORMAL = ZEROS[:12]

SIGNED: list[tuple[str, Callable[..., Any], int]] = [
    ("trunc", lambda t, x: t.trunc(x), 1), ("fix", lambda t, x: t.fix(x), 1), ("erfinv", lambda t, x: t.erfinv(x), 1),
    ("digamma", lambda t, x: t.digamma(x), 1), ("tan", lambda t, x: t.tan(x), 1), ("asin", lambda t, x: t.asin(x), 1),
    ("atan", lambda t, x: t.atan(x), 1), ("sinh", lambda t, x: t.sinh(x), 1), ("asinh", lambda t, x: t.asinh(x), 1),
    ("atanh", lambda t, x: t.atanh(x), 1), ("deg2rad", lambda t, x: t.deg2rad(x), 1),
    ("nan_to_num", lambda t, x: t.nan_to_num(x), 1), ("sgn", lambda t, x: t.sgn(x), 1),
    ("fmod", lambda t, x, y: t.fmod(x, y), 2, NORMAL), ("copysign", lambda t, x, y: t.copysign(x, y), 2),
    ("atan2", lambda t, x, y: t.atan2(x, y), 2), ("nextafter", lambda t, x, y: t.nextafter(x, y), 2),
    ("heaviside", lambda t, x, y: t.heaviside(x, y), 2), ("hypot", lambda t, x, y: t.hypot(x, y), 2),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("fn, arity, values", [pytest.param(fn, arity, values[0] if values else ZEROS, id=name)
                                                for name, fn, arity, *values in SIGNED])
def test_zero_results_carry_torch_s_sign(fn: Callable[..., Any], arity: int, values: np.ndarray, dtype: str) -> None:
    # Every pair of the values, so the binary ops meet each sign of zero on each side.
    x = np.repeat(values, len(values)).astype(dtype)
    arrays = [x] if arity == 1 else [x, np.tile(values, len(values)).astype(dtype)]
    got = _outcome(tapegrad, fn, arrays).numpy()
    expected = _outcome(torch, fn, arrays).numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-15 if dtype == "float64" else 1e-5, atol=0, equal_nan=True)
    zeros = expected == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(expected[zeros]))


def test_signbit_sees_negative_zero_and_negative_nan() -> None:
    data = np.array([0.0, -0.0, NAN, -NAN, -INF, 1e-310, -1e-310])
    for dtype in ("float32", "float64"):
        values = data.astype(dtype)
        assert tapegrad.signbit(tapegrad.tensor(values)).tolist() == torch.signbit(torch.tensor(values)).tolist()


# ------------------------------------------------------------------ in place on integers, and without grad

INTEGER_IN_PLACE: list[tuple[str, Callable[..., Any]]] = [
    ("trunc_", lambda t, x: x.trunc_()), ("fix_", lambda t, x: x.fix_()),
    ("fmod_", lambda t, x: x.fmod_(t.tensor([2, -3, 2, 5, -2, 3]))), ("fmod_-number", lambda t, x: x.fmod_(-3)),
    ("heaviside_", lambda t, x: x.heaviside_(t.tensor([7, 7, 7, 7, 7, 7]))), ("sgn_", lambda t, x: x.sgn_()),
    ("nan_to_num_", lambda t, x: x.nan_to_num_()), ("remainder_", lambda t, x: x.remainder_(4)),
    ("square_", lambda t, x: x.square_()),
]


@pytest.mark.parametrize("fn", [pytest.param(fn, id=name) for name, fn in INTEGER_IN_PLACE])
def test_in_place_forms_on_integers_match_torch(fn: Callable[..., Any]) -> None:
    results = []
    for lib in (torch, tapegrad):
        x = lib.tensor([-7, -1, 0, 3, 8, 5])
        assert fn(lib, x) is x
        results.append((str(x.dtype).rsplit(".", 1)[-1], x.tolist()))
    assert results[1] == results[0]


def test_in_place_forms_without_grad_write_the_out_of_place_values() -> None:
    rng = np.random.default_rng(3)
    base = rng.uniform(0.1, 0.9, (3, 4))
    other = rng.uniform(0.5, 2.0, (4,))
    calls = [("tan_", "tan", ()), ("erfinv_", "erfinv", ()), ("digamma_", "digamma", ()), ("logit_", "logit", (0.2,)),
             ("atan2_", "atan2", (other,)), ("hypot_", "hypot", (other,)), ("fmod_", "fmod", (other,)),
             ("copysign_", "copysign", (-other,)), ("nextafter_", "nextafter", (other,)), ("xlogy_", "xlogy", (other,)),
             ("float_power_", "float_power", (2.5,)), ("polygamma_", "polygamma", (2,)), ("exp2_", "exp2", ())]
    for in_place, name, extra in calls:
        args = tuple(tapegrad.tensor(a) if isinstance(a, np.ndarray) else a for a in extra)
        p = tapegrad.tensor(base, requires_grad=True)
        with tapegrad.no_grad():
            version = p._version
            assert getattr(p, in_place)(*args) is p
        assert p._version == version + 1 and p.grad_fn is None
        function = getattr(tapegrad, name)
        expected = function(*args, tapegrad.tensor(base)) if name == "polygamma" else \
            function(tapegrad.tensor(base), *args)
        np.testing.assert_array_equal(p.detach().numpy(), expected.numpy(), err_msg=in_place)
