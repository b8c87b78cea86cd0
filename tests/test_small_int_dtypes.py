"""The narrow integer dtypes uint8, int8 and int16: their names and limits, PyTorch's promotion
among them, arithmetic that wraps around, conversions (float to narrow integers goes through
int32, as in PyTorch), memory shared with NumPy, uint8 masks, and a sweep of ops against PyTorch
where it is installed."""
from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad

NARROW = ("uint8", "int8", "int16")


def test_dtype_objects_names_and_limits() -> None:
    assert tapegrad.short is tapegrad.int16
    for name, bits, signed, legacy, scalar in [("uint8", 8, False, tapegrad.ByteTensor, "Byte"),
                                               ("int8", 8, True, tapegrad.CharTensor, "Char"),
                                               ("int16", 16, True, tapegrad.ShortTensor, "Short")]:
        dtype = getattr(tapegrad, name)
        assert repr(dtype) == f"tapegrad.{name}" and dtype.itemsize == bits // 8
        assert dtype.is_signed is signed and not dtype.is_floating_point
        info = np.iinfo(name)
        assert (tapegrad.iinfo(dtype).min, tapegrad.iinfo(dtype).max, tapegrad.iinfo(dtype).bits) == (
            info.min, info.max, bits)
        t = legacy([1, 2])
        assert t.dtype is dtype and isinstance(t, legacy) and not isinstance(t, tapegrad.IntTensor)
        assert t.type() == f"tapegrad.{scalar}Tensor"
        assert tapegrad.tensor([1, 2], dtype=name).dtype is dtype
    x = tapegrad.tensor([1.7, -2.2])
    assert (x.byte().dtype, x.char().dtype, x.short().dtype) == (tapegrad.uint8, tapegrad.int8, tapegrad.int16)
    # ``type`` converts to a legacy type or its name, PyTorch's or this library's.
    assert x.type(tapegrad.ByteTensor).tolist() == [1, 254]
    assert x.type("torch.ShortTensor").dtype is tapegrad.int16
    assert x.type("tapegrad.CharTensor").tolist() == [1, -2]
    assert x.type(tapegrad.int16).dtype is tapegrad.int16
    for name in ("float64", "torch.HalfTensor", "numpy.ByteTensor"):
        with pytest.raises(ValueError, match=f"invalid type: '{name}'"):
            x.type(name)


@pytest.mark.parametrize("a, b, result", [
    ("uint8", "int8", "int16"), ("int8", "uint8", "int16"), ("uint8", "int16", "int16"),
    ("int8", "int16", "int16"), ("uint8", "int32", "int32"), ("int16", "int64", "int64"),
    ("uint8", "bool", "uint8"), ("int8", "float32", "float32"), ("uint8", "uint8", "uint8"),
])
def test_promotion_between_tensors(a: str, b: str, result: str) -> None:
    x, y = tapegrad.ones(2, dtype=getattr(tapegrad, a)), tapegrad.ones(2, dtype=getattr(tapegrad, b))
    assert (x + y).dtype is getattr(tapegrad, result)
    assert tapegrad.promote_types(getattr(tapegrad, a), getattr(tapegrad, b)) is getattr(tapegrad, result)


def test_scalars_keep_the_narrow_type_and_wrap() -> None:
    x = tapegrad.tensor([200, 10], dtype=tapegrad.uint8)
    assert (x + 100).tolist() == [44, 110] and (x + 100).dtype is tapegrad.uint8
    assert (x + 300).tolist() == [244, 54]  # 300 read as int64, cast to uint8: 44
    assert (x - 11).tolist() == [189, 255]
    assert (-x).tolist() == [56, 246]
    assert (x * 2).tolist() == [144, 20]
    assert (x / 4).dtype is tapegrad.float32 and (x / 4).tolist() == [50.0, 2.5]
    assert (x * 1.5).dtype is tapegrad.float32
    y = tapegrad.tensor([100, -100], dtype=tapegrad.int8)
    assert (y + y).tolist() == [-56, 56] and (y * 3).tolist() == [44, -44]
    assert tapegrad.tensor([-128], dtype=tapegrad.int8).abs().tolist() == [-128]
    # Reductions of integers accumulate in int64.
    assert x.sum().dtype is tapegrad.int64 and x.sum().item() == 210
    assert x.cumsum(0).tolist() == [200, 210] and x.prod().item() == 2000


def test_float_to_narrow_integer_wraps_through_int32() -> None:
    values = tapegrad.tensor([260.1, -3.5, 300.7, 1e10, float("nan"), 127.9, 128.5, -129.2])
    assert values.to(tapegrad.uint8).tolist() == [4, 253, 44, 0, 0, 127, 128, 127]
    assert values.to(tapegrad.int8).tolist() == [4, -3, 44, 0, 0, 127, -128, 127]
    assert values.to(tapegrad.int16).tolist() == [260, -3, 300, 0, 0, 127, 128, -129]
    target = tapegrad.zeros(8, dtype=tapegrad.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's cast would warn of the NaN
        target.copy_(values)
    assert target.tolist() == [4, 253, 44, 0, 0, 127, 128, 127]


def test_python_numbers_that_do_not_fit_raise() -> None:
    # An int may wrap into uint8 from as far as -255 (PyTorch's two's-complement allowance).
    assert tapegrad.tensor([-1, -255, 255], dtype=tapegrad.uint8).tolist() == [255, 1, 255]
    assert tapegrad.full((2,), -1, dtype=tapegrad.uint8).tolist() == [255, 255]
    assert tapegrad.zeros(1, dtype=tapegrad.uint8).fill_(-2).tolist() == [254]
    x = tapegrad.zeros(3, dtype=tapegrad.uint8)
    x[0], x[1] = -1, 2.7
    assert x.tolist() == [255, 2, 0]
    for make in (lambda: tapegrad.tensor([-256], dtype=tapegrad.uint8),
                 lambda: tapegrad.tensor([-3.0], dtype=tapegrad.uint8),
                 lambda: tapegrad.tensor([128], dtype=tapegrad.int8)):
        with pytest.raises(RuntimeError, match="value cannot be converted to type (uint8|int8) without overflow"):
            make()
    for make, c_name in [(lambda: tapegrad.full((2,), 256, dtype=tapegrad.uint8), "uint8_t"),
                         (lambda: tapegrad.zeros(2, dtype=tapegrad.int8).fill_(200), "int8_t"),
                         (lambda: tapegrad.zeros(2, dtype=tapegrad.uint8).fill_(-3.0), "uint8_t"),
                         (lambda: tapegrad.zeros(2, dtype=tapegrad.int16).clamp(0, 40000), "int16_t"),
                         (lambda: x.__setitem__(0, 300.7), "uint8_t"),
                         (lambda: tapegrad.zeros(2, dtype=tapegrad.int32).__setitem__(0, 2 ** 40), "int"),
                         (lambda: tapegrad.zeros(2).__setitem__(0, 1e300), "float")]:
        with pytest.raises(RuntimeError, match=f"converted to type {c_name} without overflow"):
            make()


@pytest.mark.parametrize("name", NARROW)
def test_numpy_arrays_are_shared_not_widened(name: str) -> None:
    array = np.arange(6, dtype=name).reshape(2, 3)
    t = tapegrad.from_numpy(array)
    assert t.dtype is getattr(tapegrad, name)
    t[0, 0] = 9
    assert array[0, 0] == 9
    assert np.shares_memory(t.numpy(), array)
    assert tapegrad.tensor(array).dtype is getattr(tapegrad, name)
    buffer = io.BytesIO()
    tapegrad.save(t, buffer)
    buffer.seek(0)
    loaded = tapegrad.load(buffer)
    assert loaded.dtype is t.dtype and loaded.tolist() == t.tolist()


def test_uint8_index_is_a_mask_with_a_warning() -> None:
    x = tapegrad.arange(6).reshape(2, 3)
    mask = tapegrad.tensor([[1, 0, 2], [0, 0, 1]], dtype=tapegrad.uint8)
    with pytest.warns(UserWarning, match="indexing with dtype tapegrad.uint8 is now deprecated"):
        assert x[mask].tolist() == [0, 2, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x[mask.long() % 2].shape == (2, 3, 3)  # other integer types still gather


def test_uint8_where_condition_is_read_as_bool_with_a_warning() -> None:
    condition = tapegrad.tensor([0, 2, 1], dtype=tapegrad.uint8)
    with pytest.warns(UserWarning, match="where received a uint8 condition tensor"):
        assert tapegrad.where(condition, 1.0, -1.0).tolist() == [-1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        tapegrad.where(condition.char(), 1.0, -1.0)


def test_any_and_all_of_uint8_answer_in_uint8() -> None:
    x = tapegrad.tensor([[0, 3], [0, 0]], dtype=tapegrad.uint8)
    assert x.any().dtype is tapegrad.uint8 and x.any().item() == 1
    assert x.all(1).tolist() == [0, 0] and x.any(1).dtype is tapegrad.uint8
    assert x.to(tapegrad.int8).any(1).dtype is tapegrad.bool
    # Over nothing: all is true and any false, whatever the dtype.
    assert tapegrad.zeros(0, 3, dtype=tapegrad.uint8).all(0).tolist() == [1, 1, 1]
    assert tapegrad.zeros(0, 3).any(0).tolist() == [False] * 3 and tapegrad.zeros(0, 3).all().item()


# ----------------------------------------------------------------------------- against PyTorch

OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "add": lambda L, a, b: a + b, "sub": lambda L, a, b: a - b, "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / b, "floordiv": lambda L, a, b: a // b, "remainder": lambda L, a, b: a % b,
    "fmod": lambda L, a, b: L.fmod(a, b), "div_trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "pow": lambda L, a, b: (a % 4) ** (b % 3).abs(), "neg": lambda L, a, b: -a, "abs": lambda L, a, b: a.abs(),
    "add_300": lambda L, a, b: a + 300, "rsub": lambda L, a, b: 5 - a, "mul_float": lambda L, a, b: a * 1.5,
    "square": lambda L, a, b: L.square(a), "sign": lambda L, a, b: a.sign(), "sqrt": lambda L, a, b: a.abs().sqrt(),
    "compare": lambda L, a, b: (a < b) | (a == 1000), "maximum": lambda L, a, b: L.maximum(a, b),
    "clamp": lambda L, a, b: a.clamp(0, 50), "clamp_negative": lambda L, a, b: a.clamp(-1, 3),
    "and": lambda L, a, b: a & b, "xor": lambda L, a, b: a ^ b, "not": lambda L, a, b: ~a,
    "shifts": lambda L, a, b: (a << 2) + (a >> 1), "shift_past_width": lambda L, a, b: a << 9,
    "sum": lambda L, a, b: a.sum(1), "sum_int16": lambda L, a, b: a.sum(dtype=L.int16),
    "prod": lambda L, a, b: a.prod(1), "cumsum": lambda L, a, b: a.cumsum(0), "amax": lambda L, a, b: a.amax(1),
    "max_dim": lambda L, a, b: a.max(1).values, "argmin": lambda L, a, b: a.argmin(1),
    "sort": lambda L, a, b: a.sort(1).values, "topk": lambda L, a, b: a.topk(2).values,
    "median": lambda L, a, b: a.median(), "mode": lambda L, a, b: a.mode(1).values,
    "unique": lambda L, a, b: L.unique(a, return_counts=True)[1],
    "bincount": lambda L, a, b: L.bincount(a.flatten().long().abs() % 7),
    "to_float": lambda L, a, b: a.float(), "from_float": lambda L, a, b: (a.float() * 2.9 - 100).to(a.dtype),
    "to_uint8": lambda L, a, b: a.to(L.uint8), "mixed_uint8_int8": lambda L, a, b: a.to(L.uint8) - b.to(L.int8),
    "where": lambda L, a, b: L.where(a > b, a, b), "cat": lambda L, a, b: L.cat([a, b]),
    "slice": lambda L, a, b: a[1:, ::2], "mask": lambda L, a, b: a[a > b],
    "gather": lambda L, a, b: a.gather(1, L.tensor([[0, 1]] * 3)),
    "scatter_add": lambda L, a, b: L.zeros(5, dtype=a.dtype).scatter_add(0, L.tensor([0, 1, 1]), a[0, :3]),
    "index_add": lambda L, a, b: a.clone().index_add(0, L.tensor([0, 0]), b[:2]),
    "matmul": lambda L, a, b: a @ b.t(), "nonzero": lambda L, a, b: a.nonzero(), "isin": lambda L, a, b: L.isin(a, b),
    "in_place": lambda L, a, b: a.clone().add_(b).mul_(3),
    "index_fill": lambda L, a, b: a.clone().index_fill_(1, L.tensor([0]), 7),
    "repr": lambda L, a, b: repr(a).replace("torch.", "tapegrad."), "mean_refused": lambda L, a, b: a.mean(),
    "std_refused": lambda L, a, b: a.std(),
}


def _outcome(fn: Callable[..., Any], lib: Any, a: np.ndarray, b: np.ndarray) -> Any:
    try:
        out = fn(lib, lib.tensor(a), lib.tensor(b))
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        return type(error).__name__, str(error).replace("torch.", "tapegrad.")
    if isinstance(out, str):
        return out
    return str(out.dtype).split(".")[-1], tuple(out.shape), out.tolist()


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("op", OPS)
def test_ops_match_pytorch(op: str, name: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(abs(hash((op, name))) % 2 ** 32)
    info = np.iinfo(name)
    a = rng.integers(max(info.min, -100), min(info.max, 200) + 1, (3, 4)).astype(name)
    b = rng.integers(max(info.min, -100), min(info.max, 200) + 1, (3, 4)).astype(name)
    b[b == 0] = 3  # integer division by zero is an error in PyTorch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _outcome(OPS[op], tapegrad, a, b) == _outcome(OPS[op], torch, a, b)


def test_randint_draws_narrow_and_bool_dtypes_from_the_int64_stream() -> None:
    tapegrad.manual_seed(0)
    wide = tapegrad.randint(0, 2, (64,))
    tapegrad.manual_seed(0)
    assert tapegrad.randint(0, 2, (64,), dtype=tapegrad.bool).tolist() == wide.bool().tolist()
    tapegrad.manual_seed(0)
    wide = tapegrad.randint(0, 200, (64,))
    tapegrad.manual_seed(0)
    assert tapegrad.randint(0, 200, (64,), dtype=tapegrad.uint8).tolist() == wide.tolist()
    for low, high, dtype, message in [(-1, 5, tapegrad.uint8, "from is out of bounds for unsigned char"),
                                      (0, 3, tapegrad.bool, "to - 1 is out of bounds for bool"),
                                      (0, 200, tapegrad.int8, "to - 1 is out of bounds for signed char")]:
        with pytest.raises(RuntimeError, match=message):
            tapegrad.randint(low, high, (2,), dtype=dtype)
