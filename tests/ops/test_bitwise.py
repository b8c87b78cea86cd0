"""Bitwise and integer ops (and, or, xor, not, shifts, gcd, lcm), fmax/fmin, ldexp/frexp, the
in-place comparison and logical methods, and the torch-level forms of in-place methods, against
PyTorch: values, dtypes (type promotion), broadcasting, the operators with their reflected and
in-place forms, the errors for refused dtypes, and gradients (finite differences and PyTorch's)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import gradcheck

pytestmark = pytest.mark.torch

INF, NAN = float("inf"), float("nan")
I32_MIN, I64_MIN = -2 ** 31, -2 ** 63


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def _numpy(t: Any) -> np.ndarray:
    if isinstance(t, tapegrad.Tensor):
        return t.detach().numpy()
    return t.detach().numpy()


def assert_same(got: Any, want: Any) -> None:
    """A tapegrad tensor equals a torch tensor: dtype, shape and values (NaN where NaN, signed zeros)."""
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    g, w = _numpy(got), _numpy(want)
    if g.dtype.kind == "f":
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0, equal_nan=True)
        np.testing.assert_array_equal(np.signbit(g[g == 0]), np.signbit(w[w == 0]))
    else:
        np.testing.assert_array_equal(g, w)


def outcome(lib: Any, fn: Callable[..., Any], arrays: list[np.ndarray]) -> Any:
    try:
        return fn(lib, *[lib.tensor(a) for a in arrays])
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return error


def assert_same_outcome(torch: Any, fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    want = outcome(torch, fn, arrays)
    got = outcome(tapegrad, fn, arrays)
    if isinstance(want, Exception):
        assert isinstance(got, Exception), f"tapegrad accepts what torch refuses with {want!r}"
        assert type(got) is type(want) and str(got) == str(want)
    else:
        assert not isinstance(got, Exception), f"torch gives {want!r}, tapegrad raises {got!r}"
        assert_same(got, want)


def _version(t: Any) -> int:
    """The in-place write counter (tapegrad's is shared by a base and its views, as PyTorch's)."""
    return t._version


RNG = np.random.default_rng(0)
ARRAYS = {
    "bool": np.array([True, False, True, False, True, True]),
    "int32": np.array([0, 1, -1, 12, -7, 2 ** 30 + 5], np.int32),
    "int64": np.array([3, -2, 2 ** 40 + 3, -(2 ** 50), 9, I64_MIN], np.int64),
    "float32": np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32),
    "float64": np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
}
INTEGERS = ["bool", "int32", "int64"]

# ------------------------------------------------------------------ and, or, xor

BINARY = ["bitwise_and", "bitwise_or", "bitwise_xor"]
OPERATORS = {"bitwise_and": "__and__", "bitwise_or": "__or__", "bitwise_xor": "__xor__",
             "bitwise_left_shift": "__lshift__", "bitwise_right_shift": "__rshift__"}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("left", INTEGERS + ["float32"])
@pytest.mark.parametrize("right", INTEGERS + ["float64"])
def test_binary_tensor_tensor(torch: Any, name: str, left: str, right: str) -> None:
    x, y = ARRAYS[left], ARRAYS[right][::-1].copy()
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, name)(b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, OPERATORS[name])(b), [x, y])


SCALARS = [True, False, 0, 5, -3, 2 ** 33, 2 ** 33 + 6, -2 ** 40 - 1, 1.5]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", INTEGERS + ["float32"])
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
def test_binary_with_python_numbers(torch: Any, name: str, dtype: str, scalar: Any) -> None:
    x = ARRAYS[dtype]  # with int32, numbers outside int32 wrap into it, as in PyTorch
    op = OPERATORS[name]
    assert_same_outcome(torch, lambda t, a: getattr(t, name)(a, scalar), [x])
    assert_same_outcome(torch, lambda t, a: getattr(t, name)(scalar, a), [x])
    assert_same_outcome(torch, lambda t, a: getattr(a, op)(scalar), [x])
    assert_same_outcome(torch, lambda t, a: getattr(a, "__r" + op[2:])(scalar), [x])


@pytest.mark.parametrize("name", BINARY + ["bitwise_left_shift", "bitwise_right_shift"])
def test_broadcasting_and_zero_dim_operands(torch: Any, name: str) -> None:
    column = np.array([[3], [-6], [17]], np.int64)
    row = np.array([1, 2, 5, 0], np.int32)
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [column, row])
    # A 0-d tensor counts as a number in type promotion: int32 stays int32 beside a 0-d int64.
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [row, np.array(3, np.int64)])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [np.array(3, np.int64), row])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [row, np.zeros((2, 3), np.int64)])


def test_python_operators_dispatch_to_the_bitwise_ops(torch: Any) -> None:
    x = np.array([6, -5, 12], np.int64)
    y = np.array([3, 1, 7], np.int32)
    for fn in (lambda a, b: a & b, lambda a, b: a | b, lambda a, b: a ^ b, lambda a, b: a << b,
               lambda a, b: a >> b, lambda a, b: 5 & a, lambda a, b: 5 | a, lambda a, b: 5 ^ a,
               lambda a, b: 5 << b, lambda a, b: -64 >> b, lambda a, b: ~a, lambda a, b: ~(a > 0)):
        assert_same(fn(tapegrad.tensor(x), tapegrad.tensor(y)), fn(torch.tensor(x), torch.tensor(y)))


def test_operators_refuse_other_objects_as_python_does() -> None:
    x = tapegrad.tensor([1, 2])
    for fn, symbol in ((lambda: x & "a", "&"), (lambda: x | None, "|"), (lambda: x ^ None, "^"),
                       (lambda: x << "a", "<<"), (lambda: "a" >> x, ">>")):
        with pytest.raises(TypeError, match=re.escape(f"unsupported operand type(s) for {symbol}")):
            fn()


# ------------------------------------------------------------------ not

@pytest.mark.parametrize("dtype", list(ARRAYS))
def test_bitwise_not(torch: Any, dtype: str) -> None:
    x = ARRAYS[dtype]
    assert_same_outcome(torch, lambda t, a: t.bitwise_not(a), [x])
    assert_same_outcome(torch, lambda t, a: a.bitwise_not(), [x])
    assert_same_outcome(torch, lambda t, a: ~a, [x])
    assert_same_outcome(torch, lambda t, a: a.bitwise_not_(), [x])


def test_bitwise_not_of_a_number_is_a_type_error(torch: Any) -> None:
    for lib in (torch, tapegrad):
        with pytest.raises(TypeError, match="bitwise_not\\(\\): argument 'input' \\(position 1\\) must be Tensor"):
            lib.bitwise_not(3)


# ------------------------------------------------------------------ shifts

SHIFT_COUNTS = np.array([0, 1, 5, 30, 31, 32, 33, 62, 63, 64, 65, 100, -1, -31, -64, -100])


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("name", ["bitwise_left_shift", "bitwise_right_shift"])
def test_shift_counts_out_of_range_follow_torch(torch: Any, dtype: str, name: str) -> None:
    values = [5, -3, 1, -1, 0, 2 ** 30 + 7, I32_MIN]
    if dtype == "int64":
        values += [2 ** 62 + 11, I64_MIN, 2 ** 63 - 1]
    x = np.repeat(np.array(values, dtype)[:, None], len(SHIFT_COUNTS), axis=1)
    counts = np.broadcast_to(SHIFT_COUNTS.astype(dtype), x.shape).copy()
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, counts])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, OPERATORS[name])(b), [x, counts])
    for count in (0, 3, 31, 32, 40, 63, 64, -2, 2 ** 32 + 3, -2 ** 33):
        assert_same_outcome(torch, lambda t, a, c=count: getattr(t, name)(a, c), [x[:, 0].copy()])
        assert_same_outcome(torch, lambda t, a, c=count: getattr(t, name)(c, a), [SHIFT_COUNTS.astype(dtype)])


@pytest.mark.parametrize("name", ["bitwise_left_shift", "bitwise_right_shift"])
@pytest.mark.parametrize("left", list(ARRAYS))
@pytest.mark.parametrize("right", list(ARRAYS))
def test_shift_dtypes_and_refusals(torch: Any, name: str, left: str, right: str) -> None:
    x, y = ARRAYS[left], np.abs(ARRAYS[right][::-1]).astype(ARRAYS[right].dtype) % 7
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, name + "_")(b), [x, y])


@pytest.mark.parametrize("scalar", [True, 1, 2.0])
def test_shift_of_bool_by_a_number(torch: Any, scalar: Any) -> None:
    b = ARRAYS["bool"]
    for name in ("bitwise_left_shift", "bitwise_right_shift"):
        assert_same_outcome(torch, lambda t, a, n=name: getattr(t, n)(a, scalar), [b])
        assert_same_outcome(torch, lambda t, a, n=name: getattr(a, OPERATORS[n])(scalar), [b])


def test_left_shift_wraps_in_int32_in_a_compiled_step(torch: Any) -> None:
    # The compiled step (one fused kernel) wraps int32 left shifts as eager mode and PyTorch do.
    x = np.array([3, -5, 7, 1], np.int32)

    def step(t: Any) -> Any:
        return ((t << 31) >> 31) + (t << 30) // 4

    compiled = tapegrad.compile(step)
    want = step(torch.tensor(x))
    assert_same(step(tapegrad.tensor(x)), want)
    for _ in range(2):  # the first call traces, the second replays the generated code
        assert_same(compiled(tapegrad.tensor(x)), want)


# ------------------------------------------------------------------ errors

ERRORS: list[tuple[str, Callable[..., Any], list[np.ndarray]]] = [
    ("and-float", lambda t, x, y: t.bitwise_and(x, y), [ARRAYS["float32"], ARRAYS["float32"]]),
    ("or-int-double", lambda t, x, y: t.bitwise_or(x, y), [ARRAYS["int32"], ARRAYS["float64"]]),
    ("xor-int-float-number", lambda t, x: t.bitwise_xor(x, 2.5), [ARRAYS["int64"]]),
    ("and-number-float", lambda t, x: 3 & x, [ARRAYS["float32"]]),
    ("not-float", lambda t, x: t.bitwise_not(x), [ARRAYS["float64"]]),
    ("not_-float", lambda t, x: x.bitwise_not_(), [ARRAYS["float32"]]),
    ("invert-float", lambda t, x: ~x, [ARRAYS["float32"]]),
    ("lshift-bool", lambda t, x, y: t.bitwise_left_shift(x, y), [ARRAYS["bool"], ARRAYS["bool"]]),
    ("rshift-bool-True", lambda t, x: x >> True, [ARRAYS["bool"]]),
    ("lshift-float-number", lambda t, x: x << 1.0, [ARRAYS["int32"]]),
    ("rshift-float", lambda t, x: 1 >> x, [ARRAYS["float64"]]),
    ("and_-bool-int", lambda t, x, y: x.bitwise_and_(y), [ARRAYS["bool"], ARRAYS["int64"]]),
    ("or_-bool-number", lambda t, x: x.bitwise_or_(2), [ARRAYS["bool"]]),
    ("iand-float", lambda t, x: x.__iand__(1), [ARRAYS["float32"]]),
    ("ilshift-bool", lambda t, x: x.__ilshift__(1), [ARRAYS["bool"]]),
    ("xor_-broadcast", lambda t, x, y: x.bitwise_xor_(y), [ARRAYS["int64"], np.ones((2, 6), np.int64)]),
    ("and-shapes", lambda t, x, y: t.bitwise_and(x, y), [ARRAYS["int64"], np.ones(4, np.int64)]),
    ("and-numbers", lambda t: t.bitwise_and(3, 4), []),
    ("gcd-float", lambda t, x, y: t.gcd(x, y), [ARRAYS["float32"], ARRAYS["float32"]]),
    ("gcd-bool", lambda t, x, y: t.gcd(x, y), [ARRAYS["bool"], ARRAYS["bool"]]),
    ("lcm-int-float", lambda t, x, y: t.lcm(x, y), [ARRAYS["int64"], ARRAYS["float64"]]),
    ("lcm-bool", lambda t, x, y: x.lcm(y), [ARRAYS["bool"], ARRAYS["bool"]]),
    ("gcd-number", lambda t, x: t.gcd(x, 4), [ARRAYS["int32"]]),
    ("gcd-number-first", lambda t, x: t.gcd(4, x), [ARRAYS["int32"]]),
    ("gcd_-bool-int", lambda t, x, y: x.gcd_(y), [ARRAYS["bool"], ARRAYS["int64"]]),
    ("fmax-number", lambda t, x: t.fmax(x, 2.0), [ARRAYS["float32"]]),
    ("fmin-number-first", lambda t, x: t.fmin(2.0, x), [ARRAYS["float32"]]),
    ("ldexp-number", lambda t, x: t.ldexp(x, 2), [ARRAYS["float32"]]),
    ("ldexp-number-first", lambda t, x: t.ldexp(2.0, x), [ARRAYS["int64"]]),
    ("ldexp_-int", lambda t, x, y: x.ldexp_(y), [ARRAYS["int64"], ARRAYS["int64"]]),
    ("ldexp_-float-exponent", lambda t, x, y: x.ldexp_(y), [ARRAYS["int32"], ARRAYS["float32"]]),
    ("frexp-int", lambda t, x: t.frexp(x), [ARRAYS["int64"]]),
    ("frexp-bool", lambda t, x: x.frexp(), [ARRAYS["bool"]]),
    ("lt_-broadcast", lambda t, x, y: x.lt_(y), [ARRAYS["int64"], np.ones((2, 6))]),
    ("logical_and_-number", lambda t, x: x.logical_and_(1), [ARRAYS["int64"]]),
    ("logical_xor_-number", lambda t, x: x.logical_xor_(True), [ARRAYS["bool"]]),
    ("ldexp-float-bool", lambda t, x, y: t.ldexp(x, y), [ARRAYS["float32"], ARRAYS["bool"]]),
    ("ldexp_-double-bool", lambda t, x, y: x.ldexp_(y), [ARRAYS["float64"], ARRAYS["bool"]]),
    ("exp_-int", lambda t, x: t.exp_(x), [ARRAYS["int64"]]),
    ("exp_-number", lambda t: t.exp_(1.0), []),
    ("sin_-number", lambda t: t.sin_(2), []),
]


@pytest.mark.parametrize("fn, arrays", [pytest.param(fn, arrays, id=name) for name, fn, arrays in ERRORS])
def test_errors_match_torch(torch: Any, fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    expected = outcome(torch, fn, arrays)
    assert isinstance(expected, Exception), "torch accepts this: the case is wrong"
    got = outcome(tapegrad, fn, arrays)
    assert isinstance(got, Exception), f"tapegrad accepts what torch refuses with {expected!r}"
    assert type(got) is type(expected)
    if "invalid combination" in str(expected):  # PyTorch lists its overloads; tapegrad names the problem
        assert "invalid combination of arguments" in str(got)
    else:
        assert str(got) == str(expected)


# ------------------------------------------------------------------ in place

IN_PLACE = [
    ("bitwise_and_", lambda x, y: x.bitwise_and_(y)), ("bitwise_or_", lambda x, y: x.bitwise_or_(y)),
    ("bitwise_xor_", lambda x, y: x.bitwise_xor_(y)), ("bitwise_left_shift_", lambda x, y: x.bitwise_left_shift_(y)),
    ("bitwise_right_shift_", lambda x, y: x.bitwise_right_shift_(y)), ("__iand__", lambda x, y: x.__iand__(y)),
    ("__ior__", lambda x, y: x.__ior__(y)), ("__ixor__", lambda x, y: x.__ixor__(y)),
    ("__ilshift__", lambda x, y: x.__ilshift__(y)), ("__irshift__", lambda x, y: x.__irshift__(y)),
    ("gcd_", lambda x, y: x.gcd_(y)), ("lcm_", lambda x, y: x.lcm_(y)),
]


@pytest.mark.parametrize("name, fn", IN_PLACE, ids=[n for n, _ in IN_PLACE])
@pytest.mark.parametrize("dtype, other_dtype", [("int32", "int32"), ("int32", "int64"), ("int64", "int32")])
def test_in_place_keeps_the_tensor_and_its_dtype(torch: Any, name: str, fn: Callable[..., Any], dtype: str,
                                                 other_dtype: str) -> None:
    x = np.array([[12, -7, 2 ** 20 + 3], [1, 0, -40]], dtype)
    y = np.array([5, 3, 31], other_dtype)
    results = []
    for lib in (tapegrad, torch):
        target = lib.tensor(x)
        version = _version(target)
        out = fn(target, lib.tensor(y))
        assert out is target
        assert _version(target) > version
        results.append(target)
    assert_same(*results)
    # A number as the other operand (gcd and lcm take tensors only); for int32 one outside int32
    # wraps into it, as in PyTorch.
    assert_same(*[fn(lib.tensor(x), lib.tensor(3) if name in ("gcd_", "lcm_") else 2 ** 33 + 3)
                  for lib in (tapegrad, torch)])
    # In place through a view: written into the base.
    bases = [lib.tensor(x) for lib in (tapegrad, torch)]
    for base, lib in zip(bases, (tapegrad, torch), strict=True):
        fn(base[1], lib.tensor(y))
    assert_same(*bases)


def test_bool_in_place_with_bool_operands(torch: Any) -> None:
    b = np.array([True, False, True, False])
    c = np.array([True, True, False, False])
    for fn in (lambda x, y: x.bitwise_and_(y), lambda x, y: x.__ior__(y), lambda x, y: x.bitwise_xor_(True),
               lambda x, y: x.bitwise_not_()):
        got, want = tapegrad.tensor(b), torch.tensor(b)
        fn(got, tapegrad.tensor(c))
        fn(want, torch.tensor(c))
        assert_same(got, want)


def test_augmented_assignment_rebinds_to_the_same_tensor(torch: Any) -> None:
    x = tapegrad.tensor([1, 2, 3])
    alias = x
    assert x.dtype == tapegrad.int64
    x <<= 2
    x |= 1 + 2 ** 36
    x ^= tapegrad.tensor([0, 1, 0])
    x >>= 1
    x &= 6
    assert x is alias
    want = torch.tensor([1, 2, 3])
    want <<= 2
    want |= 1 + 2 ** 36
    want ^= torch.tensor([0, 1, 0])
    want >>= 1
    want &= 6
    assert_same(x, want)


# ------------------------------------------------------------------ not differentiable

def test_integer_ops_are_not_differentiable_as_in_torch(torch: Any) -> None:
    # Integer and bool tensors cannot require grad, so the results never have a history.
    for lib in (tapegrad, torch):
        with pytest.raises(RuntimeError, match="floating point"):
            lib.tensor([1, 2], requires_grad=True)
    x = tapegrad.tensor([5, 6])
    for out in (x & 3, x | x, x ^ 1, ~x, x << 1, x >> 1, tapegrad.gcd(x, x), tapegrad.lcm(x, x)):
        assert not out.requires_grad and out.grad_fn is None
    # A float tensor that requires grad is refused with the dtype error, before any recording.
    f = tapegrad.tensor([1.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="bitwise_and_cpu"):
        f & 1


# ------------------------------------------------------------------ gcd, lcm

GCD_PAIRS = [
    (0, 0), (0, 5), (5, 0), (12, 8), (-12, 8), (12, -8), (-12, -18), (7, 13), (1, -1), (2 ** 20, 2 ** 12),
    (I32_MIN, 6), (I32_MIN, 0), (6, I32_MIN), (I32_MIN, I32_MIN), (I32_MIN, 5), (2 ** 31 - 1, 2 ** 30),
    (65536, 65537), (100000, 99999), (-7, 3), (46341, 46340), (-65536, 65537),
]


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("name", ["gcd", "lcm"])
def test_gcd_lcm_values_and_wrap_around(torch: Any, dtype: str, name: str) -> None:
    pairs = GCD_PAIRS + ([(I64_MIN, 6), (I64_MIN, 0), (2 ** 40, 2 ** 41 + 2), (3 ** 30, 3 ** 25 * 2),
                          (2 ** 33 + 1, 2 ** 32 - 1)] if dtype == "int64" else [])
    if name == "lcm":
        # PyTorch divides the most negative integer by a gcd of -1 there (a hardware trap): leave those out.
        pairs = [(a, b) for a, b in pairs if I32_MIN not in (a, b) and I64_MIN not in (a, b)]
    x = np.array([a for a, _ in pairs], dtype)
    y = np.array([b for _, b in pairs], dtype)
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, name)(b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, name + "_")(b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name + "_")(a, b), [x, y])


@pytest.mark.parametrize("name", ["gcd", "lcm"])
def test_gcd_lcm_promotion_and_broadcasting(torch: Any, name: str) -> None:
    column = np.array([[12], [-18], [7]], np.int32)
    row = np.array([8, 12, 5, 0], np.int64)
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [column, row])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [ARRAYS["bool"], row[[0, 1, 2, 3, 0, 1]]])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [column, np.array(4, np.int64)])


# ------------------------------------------------------------------ fmax, fmin

FMAX_X = np.array([1.0, NAN, -0.0, 0.0, NAN, 3.0, -INF, INF, 2.0, -1.0])
FMAX_Y = np.array([0.0, 1.0, 0.0, -0.0, NAN, NAN, 5.0, NAN, 2.0, -1.5])


@pytest.mark.parametrize("name", ["fmax", "fmin"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fmax_fmin_values(torch: Any, name: str, dtype: str) -> None:
    x, y = FMAX_X.astype(dtype), FMAX_Y.astype(dtype)
    for a, b in ((x, y), (y, x)):
        assert_same_outcome(torch, lambda t, u, v: getattr(t, name)(u, v), [a, b])
        assert_same_outcome(torch, lambda t, u, v: getattr(u, name)(v), [a, b])


@pytest.mark.parametrize("name", ["fmax", "fmin"])
@pytest.mark.parametrize("left", list(ARRAYS))
@pytest.mark.parametrize("right", list(ARRAYS))
def test_fmax_fmin_promotion(torch: Any, name: str, left: str, right: str) -> None:
    x, y = ARRAYS[left], ARRAYS[right][::-1].copy()
    if x.dtype.kind == "i" and y.dtype.kind == "f":
        x = x % 100  # compared in float32: keep the integers exact there
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, np.array(y[0])])


def _grads(lib: Any, fn: Callable[..., Any], arrays: list[np.ndarray], seed: np.ndarray) -> list[np.ndarray]:
    inputs = [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(lib, *inputs)
    out.backward(lib.tensor(seed))
    return [x.grad for x in inputs if x.requires_grad]


def assert_grads_match_torch(torch: Any, fn: Callable[..., Any], arrays: list[np.ndarray], out_shape: tuple,
                             grad_fn: str) -> None:
    seed = np.random.default_rng(7).uniform(-1, 1, out_shape)
    inputs = [tapegrad.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    assert fn(tapegrad, *inputs).grad_fn.name() == grad_fn
    got = _grads(tapegrad, fn, arrays, seed.astype(np.result_type(*arrays)))
    want = _grads(torch, fn, arrays, seed.astype(np.result_type(*arrays)))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_gradients(torch: Any, name: str) -> None:
    grad_fn = "FmaxBackward0" if name == "fmax" else "FminBackward0"
    # Ties, NaN on either side and both: PyTorch's rule (ties and a NaN other go to input).
    x, y = FMAX_X, FMAX_Y
    assert_grads_match_torch(torch, lambda t, a, b: getattr(t, name)(a, b), [x, y], x.shape, grad_fn)
    assert_grads_match_torch(torch, lambda t, a, b: getattr(t, name)(a, b), [y, x], x.shape, grad_fn)
    # Broadcasting: gradients summed back to each input's shape; an integer operand gets none.
    column, row = RNG.uniform(-2, 2, (3, 1)), RNG.uniform(-2, 2, (1, 4))
    assert_grads_match_torch(torch, lambda t, a, b: getattr(t, name)(a, b), [column, row], (3, 4), grad_fn)
    ints = np.array([[0], [1], [-1]], np.int64)
    assert_grads_match_torch(torch, lambda t, a, b: getattr(t, name)(a, b), [ints, row], (3, 4), grad_fn)
    # Finite differences away from ties.
    a = tapegrad.tensor(RNG.uniform(-2, 2, (3, 4)), requires_grad=True)
    b = tapegrad.tensor(RNG.uniform(-2, 2, (4,)), requires_grad=True)
    assert gradcheck(lambda u, v: getattr(tapegrad, name)(u, v), (a, b))


# ------------------------------------------------------------------ ldexp

@pytest.mark.parametrize("left", list(ARRAYS))
@pytest.mark.parametrize("right", list(ARRAYS))
def test_ldexp_promotion(torch: Any, left: str, right: str) -> None:
    x = ARRAYS[left] if ARRAYS[left].dtype.kind != "i" else ARRAYS[left] % 1000
    y = ARRAYS[right] if ARRAYS[right].dtype.kind != "i" else ARRAYS[right] % 17 - 8
    assert_same_outcome(torch, lambda t, a, b: t.ldexp(a, b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: a.ldexp(b), [x, y])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("exponent_dtype", ["int32", "int64", "float32", "float64"])
def test_ldexp_extremes(torch: Any, dtype: str, exponent_dtype: str) -> None:
    # An integer exponent is exact where 2**other alone under- or overflows; a float one is not.
    x = np.array([2.0 ** 20, 2.0 ** -20, 1.5, -3.0, 0.0, -0.0, INF, NAN, 1e-40, 3e38, 2.0 ** 20, 1.0], dtype)
    e = np.array([-150, 140, -149, 130, 5000, -5000, -3, 2, 100, -300, -1094, 2 ** 31 - 1]).astype(exponent_dtype)
    assert_same_outcome(torch, lambda t, a, b: t.ldexp(a, b), [x, e])
    assert_same_outcome(torch, lambda t, a, b: a.clone().ldexp_(b), [x, e])
    assert_same_outcome(torch, lambda t, a, b: t.ldexp_(a, b), [x, e])


def test_ldexp_gradients(torch: Any) -> None:
    x, e = RNG.uniform(-2, 2, (3, 4)), RNG.uniform(-3, 3, (4,))
    assert_grads_match_torch(torch, lambda t, a, b: t.ldexp(a, b), [x, e], (3, 4), "LdexpBackward0")
    assert_grads_match_torch(torch, lambda t, a, b: t.ldexp(a, b), [x.astype(np.float32), e], (3, 4),
                             "LdexpBackward0")
    non_negative = np.array([3, 1, 0, 7])
    assert_grads_match_torch(torch, lambda t, a, b: t.ldexp(a, b), [x, non_negative], (3, 4), "LdexpBackward0")
    assert_grads_match_torch(torch, lambda t, a, b: t.ldexp(a, b), [non_negative, e], (4,), "LdexpBackward0")
    a = tapegrad.tensor(x, requires_grad=True)
    b = tapegrad.tensor(e, requires_grad=True)
    assert gradcheck(lambda u, v: tapegrad.ldexp(u, v), (a, b))
    # A negative integer exponent: the true derivative 2**other (PyTorch's rule takes 2**other in
    # integer arithmetic there, which gives 0), checked by finite differences.
    ints = tapegrad.tensor([3, -2, 0, -7])
    assert gradcheck(lambda u: tapegrad.ldexp(u, ints), (a,))
    tapegrad.ldexp(a, ints).backward(tapegrad.ones(3, 4, dtype=tapegrad.float64))
    np.testing.assert_array_equal(a.grad.numpy(), np.broadcast_to([8.0, 0.25, 1.0, 2.0 ** -7], (3, 4)))


def test_ldexp_in_place_on_a_non_leaf_records_the_op(torch: Any) -> None:
    x, e = RNG.uniform(-2, 2, (4,)), RNG.uniform(-3, 3, (4,))
    grads = []
    for lib in (tapegrad, torch):
        leaf = lib.tensor(x, requires_grad=True)
        exponent = lib.tensor(e, requires_grad=True)
        y = leaf * 1.0
        y.ldexp_(exponent)
        assert y.grad_fn.name() == "LdexpBackward0"
        y.sum().backward()
        grads.append((leaf.grad, exponent.grad))
    for g, w in zip(*grads, strict=True):
        assert_same(g, w)


# ------------------------------------------------------------------ frexp

FREXP_VALUES = [0.0, -0.0, 1.0, -5.5, 0.5, 3e38, 1e-40, 1e-45, INF, -INF, NAN, 1e300, 5e-324, 1e-310, 7.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_frexp_values(torch: Any, dtype: str) -> None:
    x = np.array([v for v in FREXP_VALUES if dtype == "float64" or not 3.5e38 < abs(v) < INF], dtype)
    got, want = tapegrad.frexp(tapegrad.tensor(x)), torch.frexp(torch.tensor(x))
    assert got._fields == ("mantissa", "exponent") and type(got).__name__ == "frexp"
    assert_same(got.mantissa, want.mantissa)
    assert_same(got.exponent, want.exponent)
    method = tapegrad.tensor(x).frexp()
    assert_same(method[0], want[0])
    assert_same(method[1], want[1])


def test_frexp_gradient(torch: Any) -> None:
    # Away from powers of two, where the finite differences would cross an exponent.
    x = np.array([[0.3, -7.0, 1000.0], [0.0123, 5.0, -0.75]])
    assert_grads_match_torch(torch, lambda t, a: t.frexp(a).mantissa, [x], x.shape, "FrexpBackward0")
    a = tapegrad.tensor(x, requires_grad=True)
    mantissa, exponent = tapegrad.frexp(a)
    assert not exponent.requires_grad
    assert gradcheck(lambda u: tapegrad.frexp(u).mantissa, (a,))


# ------------------------------------------------------------------ comparisons and logical ops in place

COMPARISONS = ["eq_", "ne_", "lt_", "le_", "gt_", "ge_", "greater_", "greater_equal_", "less_", "less_equal_",
               "not_equal_", "logical_and_", "logical_or_", "logical_xor_"]


@pytest.mark.parametrize("name", COMPARISONS)
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
def test_in_place_comparisons(torch: Any, name: str, dtype: str) -> None:
    x = np.array([[0, 1, 2, 3], [3, 2, 1, 0]]).astype(dtype)
    others = [np.array([1, 1, 0, 3]).astype(dtype), np.array([0.5, 2.0, 1.0, 0.0], np.float32),
              np.array([True, False, True, False])]
    for other in others:
        assert_same_outcome(torch, lambda t, a, b: getattr(a, name)(b), [x, other])
    if not name.startswith("logical"):  # PyTorch's logical ops take tensors only (see the errors)
        for number in (1, 2.5, True):
            assert_same_outcome(torch, lambda t, a, n=number: getattr(a, name)(n), [x])


@pytest.mark.parametrize("name", COMPARISONS[:11])
def test_in_place_comparisons_keep_a_history_with_zero_gradients(torch: Any, name: str) -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])
    for other in ("tensor", 2.0):
        results = []
        for lib in (tapegrad, torch):
            leaf = lib.tensor(x, requires_grad=True)
            operand = lib.tensor(y, requires_grad=True) if other == "tensor" else other
            target = leaf * 1.0
            getattr(target, name)(operand)
            results.append((target, leaf, operand))
            (target * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        (got, got_leaf, got_other), (want, want_leaf, want_other) = results
        assert got.grad_fn.name() == want.grad_fn.name()
        assert_same(got, want)
        assert_same(got_leaf.grad, want_leaf.grad)
        if other == "tensor":
            assert_same(got_other.grad, want_other.grad)


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
def test_logical_not_in_place(torch: Any, dtype: str) -> None:
    x = np.array([0, 1, 2, 0, -3]).astype(dtype)
    assert_same_outcome(torch, lambda t, a: a.logical_not_(), [x])


def test_in_place_comparison_returns_the_tensor_and_writes_through_views(torch: Any) -> None:
    x = np.arange(6.0).reshape(2, 3)
    results = []
    for lib in (tapegrad, torch):
        base = lib.tensor(x)
        row = base[1]
        assert row.gt_(3.5) is row
        results.append(base)
    assert_same(*results)


@pytest.mark.parametrize("name, torch_name", [("greater", "greater"), ("greater_equal", "greater_equal"),
                                              ("less", "less"), ("less_equal", "less_equal"),
                                              ("not_equal", "not_equal")])
def test_comparison_aliases(torch: Any, name: str, torch_name: str) -> None:
    x = np.array([[1.0, 2.0, 3.0]])
    y = np.array([[2.0], [1.0]])
    assert_same_outcome(torch, lambda t, a, b: getattr(t, name)(a, b), [x, y])
    assert_same_outcome(torch, lambda t, a, b: getattr(a, name)(b), [x, y])
    assert_same_outcome(torch, lambda t, a: getattr(a, name)(2), [x])


# ------------------------------------------------------------------ arithmetic aliases in place

ALIASES_ = [
    ("multiply_", (3.0,)), ("subtract_", (1.5,)), ("divide_", (4.0,)), ("true_divide_", (8.0,)),
    ("floor_divide_", (0.7,)), ("negative_", ()), ("absolute_", ()),
]


@pytest.mark.parametrize("name, args", ALIASES_, ids=[n for n, _ in ALIASES_])
def test_arithmetic_aliases_in_place(torch: Any, name: str, args: tuple) -> None:
    x = np.array([-2.5, 0.0, 1.25, 3.0])
    assert_same_outcome(torch, lambda t, a: getattr(a, name)(*args), [x])
    if name == "floor_divide_":
        return  # PyTorch has no derivative for floor_divide_
    # Gradients through the in-place op on a non-leaf, as PyTorch.
    results = []
    for lib in (tapegrad, torch):
        leaf = lib.tensor(x + 0.1, requires_grad=True)
        y = leaf * 2.0
        getattr(y, name)(*args)
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64)).sum().backward()
        results.append(leaf.grad)
    assert_same(*results)


def test_subtract_and_divide_in_place_keywords(torch: Any) -> None:
    x, y = np.array([4.0, -3.0, 7.5]), np.array([2.0, 2.0, 2.0])
    assert_same_outcome(torch, lambda t, a, b: a.subtract_(b, alpha=2), [x, y])
    assert_same_outcome(torch, lambda t, a, b: a.divide_(b, rounding_mode="floor"), [x, y])
    assert_same_outcome(torch, lambda t, a, b: a.divide_(b, rounding_mode="trunc"), [x, y])
    assert_same_outcome(torch, lambda t, a, b: a.floor_divide_(b), [x.astype(np.int64), y.astype(np.int64)])


# ------------------------------------------------------------------ torch-level in-place functions

FUNCTION_FORMS: list[tuple[str, tuple[float, float], tuple, dict]] = [
    ("abs_", (-2, 2), (), {}), ("ceil_", (-3, 3), (), {}), ("acos_", (-0.9, 0.9), (), {}),
    ("acosh_", (1.1, 3), (), {}), ("arccos_", (-0.9, 0.9), (), {}), ("arccosh_", (1.1, 3), (), {}),
    ("arcsin_", (-0.9, 0.9), (), {}), ("arcsinh_", (-2, 2), (), {}), ("arctan_", (-2, 2), (), {}),
    ("arctanh_", (-0.9, 0.9), (), {}), ("asin_", (-0.9, 0.9), (), {}), ("asinh_", (-2, 2), (), {}),
    ("atan_", (-2, 2), (), {}), ("atanh_", (-0.9, 0.9), (), {}), ("clamp_", (-2, 2), (-0.5, 0.5), {}),
    ("clamp_", (-2, 2), (), {"max": 0.3}), ("clamp_max_", (-2, 2), (0.1,), {}), ("clamp_min_", (-2, 2), (0.1,), {}),
    ("clip_", (-2, 2), (-1.0, 1.0), {}), ("cos_", (-2, 2), (), {}), ("cosh_", (-2, 2), (), {}),
    ("deg2rad_", (-90, 90), (), {}), ("erf_", (-2, 2), (), {}), ("erfc_", (-2, 2), (), {}),
    ("exp2_", (-2, 2), (), {}), ("exp_", (-2, 2), (), {}), ("expm1_", (-2, 2), (), {}), ("fill_", (-2, 2), (7.5,), {}),
    ("fix_", (-3, 3), (), {}), ("floor_", (-3, 3), (), {}), ("frac_", (-3, 3), (), {}), ("log10_", (0.1, 3), (), {}),
    ("log1p_", (-0.5, 3), (), {}), ("log2_", (0.1, 3), (), {}), ("log_", (0.1, 3), (), {}),
    ("logit_", (0.1, 0.9), (), {}), ("logit_", (0.0, 1.0), (0.2,), {}), ("nan_to_num_", (-2, 2), (), {"nan": 1.0}),
    ("neg_", (-2, 2), (), {}), ("negative_", (-2, 2), (), {}), ("rad2deg_", (-2, 2), (), {}),
    ("reciprocal_", (0.5, 2), (), {}), ("relu_", (-2, 2), (), {}), ("round_", (-3, 3), (), {}),
    ("rsqrt_", (0.5, 3), (), {}), ("sigmoid_", (-2, 2), (), {}), ("sin_", (-2, 2), (), {}), ("sinc_", (-2, 2), (), {}),
    ("sinh_", (-2, 2), (), {}), ("sqrt_", (0.1, 3), (), {}), ("square_", (-2, 2), (), {}), ("tan_", (-1, 1), (), {}),
    ("tanh_", (-2, 2), (), {}), ("trunc_", (-3, 3), (), {}), ("zero_", (-2, 2), (), {}),
]


@pytest.mark.parametrize("name, bounds, args, kwargs", FUNCTION_FORMS,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FUNCTION_FORMS)])
def test_torch_level_in_place_functions(torch: Any, name: str, bounds: tuple, args: tuple, kwargs: dict) -> None:
    x = RNG.uniform(*bounds, (2, 3))
    results = []
    for lib in (tapegrad, torch):
        target = lib.tensor(x)
        assert getattr(lib, name)(target, *args, **kwargs) is target
        results.append(target)
    assert_same(*results)


def test_torch_level_xlogy_and_detach_in_place(torch: Any) -> None:
    x, y = RNG.uniform(0.1, 2, (3,)), RNG.uniform(0.1, 2, (3,))
    assert_same_outcome(torch, lambda t, a, b: t.xlogy_(a, b), [x, y])
    for lib in (tapegrad, torch):
        z = lib.tensor(x, requires_grad=True) * 2
        assert lib.detach_(z) is z and not z.requires_grad and z.grad_fn is None
    m, v = RNG.uniform(-1, 1, (3, 2)), RNG.uniform(-1, 1, (2,))
    assert_same_outcome(torch, lambda t, a, b, c: t.addmv_(a, b, c, beta=0.5, alpha=2.0), [x, m, v])


def test_every_in_place_function_of_torch_with_a_tensor_method_exists(torch: Any) -> None:
    missing = [n for n in dir(torch) if n.endswith("_") and not n.startswith("_") and callable(getattr(torch, n))
               and not hasattr(tapegrad, n) and hasattr(tapegrad.Tensor, n)]
    assert missing == []


def test_in_place_function_forms_record_gradients(torch: Any) -> None:
    x = RNG.uniform(-1, 1, (4,))
    results = []
    for lib in (tapegrad, torch):
        leaf = lib.tensor(x, requires_grad=True)
        y = leaf * 3.0
        lib.sin_(y)
        lib.tanh_(y)
        assert y.grad_fn.name() == "TanhBackward0"
        y.sum().backward()
        results.append(leaf.grad)
    assert_same(*results)
    a = tapegrad.tensor(x, requires_grad=True)
    assert gradcheck(lambda u: tapegrad.exp_(u * 1.0), (a,))


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.ops import bitwise

    result = doctest.testmod(bitwise, extraglobs={"tapegrad": tapegrad})
    assert result.attempted and not result.failed
