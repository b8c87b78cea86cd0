"""Machine limits (``finfo``/``iinfo``), module constants, and how Python integers that do not fit
a tensor's dtype are treated: wrapped as arithmetic operands, refused where a value must fit
(``fill_``, ``clamp``, ``full``, ``masked_fill``), as PyTorch does. Integer floor and truncating
division are exact in integer arithmetic and refuse a zero divisor."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad

FLOATS = [tapegrad.float32, tapegrad.float64]
INTS = [tapegrad.int32, tapegrad.int64]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_finfo_gives_numpys_limits_under_pytorchs_names(dtype: tapegrad.dtype) -> None:
    info, reference = tapegrad.finfo(dtype), np.finfo(dtype.numpy)
    assert (info.bits, info.eps, info.max, info.min) == (reference.bits, reference.eps, reference.max, reference.min)
    assert info.tiny == info.smallest_normal == reference.smallest_normal
    assert info.resolution == 10.0 ** -reference.precision and info.dtype == dtype.name
    assert type(info.eps) is float


def test_finfo_defaults_to_the_default_dtype() -> None:
    assert tapegrad.finfo() == tapegrad.finfo(tapegrad.float32)
    tapegrad.set_default_dtype(tapegrad.float64)
    try:
        assert tapegrad.finfo().dtype == "float64"
    finally:
        tapegrad.set_default_dtype(tapegrad.float32)


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_iinfo_gives_the_integer_range(dtype: tapegrad.dtype) -> None:
    info = tapegrad.iinfo(dtype)
    assert (info.bits, info.min, info.max) == (8 * dtype.itemsize, -(1 << (8 * dtype.itemsize - 1)),
                                               (1 << (8 * dtype.itemsize - 1)) - 1)
    assert type(info.max) is int and info.dtype == dtype.name


@pytest.mark.parametrize("call, message", [
    (lambda: tapegrad.finfo(tapegrad.int32), "requires a floating point input type"),
    (lambda: tapegrad.iinfo(tapegrad.float32), "requires an integer input type"),
    (lambda: tapegrad.iinfo(tapegrad.bool), "tapegrad.bool is not supported by tapegrad.iinfo"),
    (lambda: tapegrad.finfo("float32"), "must be tapegrad.dtype, not str"),
])
def test_limits_refuse_the_wrong_kind_of_dtype(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        call()


def test_module_constants() -> None:
    assert (tapegrad.pi, tapegrad.e) == (math.pi, math.e)
    assert math.isinf(tapegrad.inf) and math.isnan(tapegrad.nan) and tapegrad.newaxis is None
    assert tapegrad.zeros(3)[:, tapegrad.newaxis].shape == (3, 1)


@pytest.mark.torch
def test_limits_and_their_reprs_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for ours, theirs in [(tapegrad.float32, torch.float32), (tapegrad.float64, torch.float64)]:
        a, b = tapegrad.finfo(ours), torch.finfo(theirs)
        assert (a.bits, a.eps, a.max, a.min, a.tiny, a.resolution) == (b.bits, b.eps, b.max, b.min, b.tiny,
                                                                       b.resolution)
        assert repr(a) == repr(b)
    for ours, theirs in [(tapegrad.int32, torch.int32), (tapegrad.int64, torch.int64)]:
        a, b = tapegrad.iinfo(ours), torch.iinfo(theirs)
        assert (a.bits, a.min, a.max) == (b.bits, b.min, b.max) and repr(a) == repr(b)


# ---------------------------------------------------------------- integers that do not fit

def _scalar_cases(lib: Any) -> list[Callable[[], Any]]:
    i32, i64 = lib.int32, lib.int64
    return [
        lambda: lib.tensor([1], dtype=i32) + 2 ** 40,
        lambda: lib.tensor([1], dtype=i32) * 2 ** 31,
        lambda: lib.tensor([1]) + 2 ** 63,
        lambda: lib.tensor([1.0]) + 2 ** 70,
        lambda: lib.tensor([0]) + 2 ** 64,
        lambda: lib.tensor([1], dtype=i32).add_(2 ** 33),
        lambda: lib.tensor([0], dtype=i32) == 2 ** 32,
        lambda: lib.tensor([3], dtype=i32).remainder(2 ** 32 + 2),
        lambda: lib.tensor([1], dtype=i32).clamp(max=2 ** 40),
        lambda: lib.tensor([1], dtype=i32).clamp(min=-2 ** 40),
        lambda: lib.tensor([3], dtype=i32).clamp_min(2 ** 40),
        lambda: lib.tensor([3], dtype=i32).clamp(max=1e20),
        lambda: lib.tensor([1], dtype=i64).clamp(max=2 ** 63),
        lambda: lib.tensor([1], dtype=i32).fill_(2 ** 40),
        lambda: lib.tensor([1], dtype=i64).fill_(2 ** 63),
        lambda: lib.tensor([3]).fill_(float("nan")),
        lambda: lib.tensor([1.0]).fill_(1e300),
        lambda: lib.tensor([1.0]).fill_(float("inf")),
        lambda: lib.tensor([True]).fill_(5),
        lambda: lib.full((2,), 2 ** 40, dtype=i32),
        lambda: lib.tensor([1], dtype=i32).masked_fill(lib.tensor([True]), 2 ** 40),
    ]


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", call().tolist()
    except (RuntimeError, OverflowError, TypeError) as error:
        return type(error).__name__, str(error)


@pytest.mark.torch
@pytest.mark.parametrize("case", range(len(_scalar_cases(tapegrad))))
def test_integers_that_do_not_fit_match_torch(case: int) -> None:
    torch = pytest.importorskip("torch")
    ours = _outcome(_scalar_cases(tapegrad)[case])
    theirs = _outcome(_scalar_cases(torch)[case])
    assert ours == theirs


def test_an_operand_wraps_and_a_fill_value_is_refused() -> None:
    x = tapegrad.tensor([1], dtype=tapegrad.int32)
    assert (x + 2 ** 32).tolist() == [1]  # 2**32 wraps to 0 in int32 arithmetic
    with pytest.raises(RuntimeError, match="value cannot be converted to type int without overflow"):
        x.fill_(2 ** 32)
    assert x.tolist() == [1]  # refused before anything was written
    with pytest.raises(OverflowError, match="int too big to convert"):
        tapegrad.tensor([1.0]) * 2 ** 64


# ---------------------------------------------------------------- integer division

LARGE = [2 ** 62 + 1, -7, 7, -(2 ** 62) - 3, 0, -6, 2 ** 31 - 1]


@pytest.mark.parametrize("divisor", [3, -3, 7])
def test_integer_floor_and_trunc_division_are_exact(divisor: int) -> None:
    x = tapegrad.tensor(LARGE)
    floor = [v // divisor for v in LARGE]
    trunc = [abs(v) // abs(divisor) * (1 if (v < 0) == (divisor < 0) else -1) for v in LARGE]
    assert (x // divisor).tolist() == floor
    assert tapegrad.div(x, divisor, rounding_mode="trunc").tolist() == trunc
    assert (x % divisor).tolist() == [v % divisor for v in LARGE]
    assert (x // tapegrad.full((len(LARGE),), divisor)).tolist() == floor


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_integer_division_by_zero_raises(dtype: tapegrad.dtype) -> None:
    x = tapegrad.tensor([7, -7, 0], dtype=dtype)
    for call in (lambda: x // 0, lambda: x % 0, lambda: x // tapegrad.tensor([1, 0, 1], dtype=dtype),
                 lambda: tapegrad.div(x, 0, rounding_mode="trunc")):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            call()
    assert (x // 2.5).tolist() == [2.0, -3.0, 0.0]  # a float divisor divides in floating point


def test_bool_floor_division_is_refused() -> None:
    with pytest.raises(NotImplementedError, match="div_floor_cpu"):
        tapegrad.floor_divide(tapegrad.tensor([True]), tapegrad.tensor([True]))


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["floor", "trunc"])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_division_matches_torch(mode: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype)
    a = rng.integers(info.min // 2, info.max // 2, 200, dtype=dtype)
    b = rng.integers(-50, 50, 200, dtype=dtype)
    b[b == 0] = 3
    ours = tapegrad.div(tapegrad.tensor(a), tapegrad.tensor(b), rounding_mode=mode)
    theirs = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
    assert ours.dtype == getattr(tapegrad, dtype) and ours.tolist() == theirs.tolist()
    assert (tapegrad.tensor(a) % tapegrad.tensor(b)).tolist() == (torch.tensor(a) % torch.tensor(b)).tolist()


# ---------------------------------------------------------------- add/sub's alpha

def _alpha_cases(lib: Any) -> list[Callable[[], Any]]:
    return [
        lambda: lib.tensor([1]).add_(lib.tensor([1]), alpha=0.5),
        lambda: lib.add(lib.tensor([1]), lib.tensor([1]), alpha=0.5),
        lambda: lib.tensor([1]).sub(lib.tensor([1]), alpha=0.5),
        lambda: lib.tensor([1]).add(2, alpha=0.5),
        lambda: lib.tensor([True]).add(lib.tensor([True]), alpha=2),
        lambda: lib.tensor([True]).add(lib.tensor([False]), alpha=0),
        lambda: lib.tensor([1]).add(lib.tensor([1]), alpha=True),
        lambda: lib.tensor([1.0]).add(lib.tensor([1.0]), alpha=True),
        lambda: lib.tensor([1.0]).add(lib.tensor([1]), alpha=0.5),
        lambda: lib.tensor([1]).add(2.0, alpha=3),
        lambda: lib.tensor([5]).sub(lib.tensor([1]), alpha=2),
        lambda: lib.tensor([1.0, 2.0]).sub_(lib.tensor([1.0, 1.0]), alpha=2),
    ]


def _typed_outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    kind, value = _outcome(call)
    return (kind, value) if kind != "value" else (str(call().dtype).split(".")[-1], value)


@pytest.mark.torch
@pytest.mark.parametrize("case", range(len(_alpha_cases(tapegrad))))
def test_alpha_takes_the_result_dtype_as_in_torch(case: int) -> None:
    torch = pytest.importorskip("torch")
    assert _typed_outcome(_alpha_cases(tapegrad)[case]) == _typed_outcome(_alpha_cases(torch)[case])


def test_a_float_alpha_is_refused_for_integers_before_anything_is_written() -> None:
    x = tapegrad.tensor([1, 2])
    with pytest.raises(RuntimeError, match="For integral input tensors, argument alpha must not be a floating point"):
        x.add_(tapegrad.tensor([1, 1]), alpha=0.5)
    assert x.tolist() == [1, 2] and x._version == 0
