"""Data types and PyTorch's type-promotion rules.

A ``dtype`` wraps a NumPy dtype. Promotion follows PyTorch, not NumPy: operands are ranked
in three groups (tensors with dimensions, zero-dim tensors, Python scalars) and a lower
group only changes the result when it belongs to a higher category (bool < int < float).
"""
from __future__ import annotations

import math

import numpy as np


class dtype:
    """A tapegrad element type, e.g. ``tapegrad.float32``."""

    __slots__ = ("name", "numpy", "is_floating_point", "is_signed", "itemsize", "category", "scalar_name")

    def __init__(self, name: str, numpy_dtype: type, category: int, scalar_name: str) -> None:
        self.name = name
        self.scalar_name = scalar_name  # PyTorch's name in messages: "Float", "Long", ...
        self.numpy = np.dtype(numpy_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating point
        self.is_floating_point = category == 2
        self.is_signed = name not in ("bool", "uint8")
        self.itemsize = self.numpy.itemsize

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name


bool_ = dtype("bool", np.bool_, 0, "Bool")
uint8 = dtype("uint8", np.uint8, 1, "Byte")
int8 = dtype("int8", np.int8, 1, "Char")
int16 = dtype("int16", np.int16, 1, "Short")
int32 = dtype("int32", np.int32, 1, "Int")
int64 = dtype("int64", np.int64, 1, "Long")
float32 = dtype("float32", np.float32, 2, "Float")
float64 = dtype("float64", np.float64, 2, "Double")

ALL: tuple[dtype, ...] = (bool_, uint8, int8, int16, int32, int64, float32, float64)
_BY_NUMPY: dict[np.dtype, dtype] = {d.numpy: d for d in ALL}
_ALIASES: dict[str, dtype] = {
    "bool": bool_, "uint8": uint8, "int8": int8, "int16": int16, "short": int16, "int32": int32, "int": int32,
    "int64": int64, "long": int64, "float32": float32, "float": float32, "float64": float64, "double": float64,
}

# The list PyTorch's conversion errors give, of this library's types.
SUPPORTED = "float64, float32, int64, int32, int16, int8, uint8, and bool"

_default_float: dtype = float32


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    global _default_float
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    """The tapegrad dtype of a NumPy dtype; narrower NumPy types widen to a supported one."""
    found = _BY_NUMPY.get(np_dtype)
    if found is not None:
        return found
    kind = np.dtype(np_dtype).kind
    if kind == "f":
        return float64 if np.dtype(np_dtype).itemsize > 4 else float32
    if kind in "iu":
        return int64
    if kind == "b":
        return bool_
    raise TypeError(f"can't convert np.ndarray of type {np_dtype}; the only supported types are: {SUPPORTED}.")


def as_dtype(value: object) -> dtype:
    """Accept a tapegrad dtype, a NumPy dtype or type, a name, or Python's bool/int/float."""
    if isinstance(value, dtype):
        return value
    if value is float:
        return float64
    if value is int:
        return int64
    if value is bool:
        return bool_
    if isinstance(value, str) and value in _ALIASES:
        return _ALIASES[value]
    try:
        return from_numpy_dtype(np.dtype(value))
    except TypeError:
        raise TypeError(f"{value!r} is not a tapegrad dtype") from None


def _promote_two(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.itemsize == b.itemsize and a.is_signed != b.is_signed:
        return int16  # uint8 with int8: the smallest type that holds both ranges, as PyTorch's
    return a if a.itemsize >= b.itemsize else b


def scalar_dtype(value: object) -> dtype:
    """The dtype a Python scalar takes in promotion (floats take the default dtype)."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return _default_float


def result_type(dims_dtypes: list[dtype], zero_dim_dtypes: list[dtype],
                scalar_dtypes: list[dtype]) -> dtype:
    """PyTorch's promotion over three priority groups of operands."""
    result: dtype | None = None
    for group in (dims_dtypes, zero_dim_dtypes, scalar_dtypes):
        if not group:
            continue
        group_type = group[0]
        for d in group[1:]:
            group_type = _promote_two(group_type, d)
        if result is None:
            result = group_type
        elif group_type.category > result.category:
            # A lower-priority operand of a higher category decides the category; a
            # Python float picks the default float dtype, a 0-d tensor keeps its own.
            result = group_type
    assert result is not None, "result_type needs at least one operand"
    return result


def _format_limit(value: float) -> str:
    """A limit as PyTorch's finfo/iinfo reprs print it: six significant digits."""
    return f"{value:.6g}"


class finfo:
    """Machine limits of a floating-point dtype (``tapegrad.finfo(tapegrad.float32).eps``), with
    PyTorch's attribute names; the default dtype when called with no argument."""

    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")

    def __init__(self, type: dtype | None = None) -> None:  # noqa: A002  (PyTorch's parameter name)
        if type is None:
            type = _default_float
        if not isinstance(type, dtype):
            raise TypeError(f"finfo(): argument 'type' (position 1) must be tapegrad.dtype, not "
                            f"{builtins_type(type).__name__}")
        if not type.is_floating_point:
            raise TypeError("tapegrad.finfo() requires a floating point input type. Use tapegrad.iinfo to handle "
                            "'tapegrad.finfo'")
        info = np.finfo(type.numpy)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.smallest_normal)
        self.smallest_normal = self.tiny
        self.resolution = 10.0 ** -int(info.precision)  # exactly 1e-06 for float32, as PyTorch gives
        self.dtype = type.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (f"finfo(resolution={_format_limit(self.resolution)}, min={_format_limit(self.min)}, "
                f"max={_format_limit(self.max)}, eps={_format_limit(self.eps)}, "
                f"smallest_normal={_format_limit(self.smallest_normal)}, tiny={_format_limit(self.tiny)}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype (``tapegrad.iinfo(tapegrad.int64).max``), as PyTorch's."""

    __slots__ = ("bits", "max", "min", "dtype")

    def __init__(self, type: dtype) -> None:  # noqa: A002  (PyTorch's parameter name)
        if not isinstance(type, dtype):
            raise TypeError(f"iinfo(): argument 'type' (position 1) must be tapegrad.dtype, not "
                            f"{builtins_type(type).__name__}")
        if type is bool_:
            raise TypeError("tapegrad.bool is not supported by tapegrad.iinfo")
        if type.is_floating_point:
            raise TypeError("tapegrad.iinfo() requires an integer input type. Use tapegrad.finfo to handle "
                            "'tapegrad.iinfo'")
        info = np.iinfo(type.numpy)
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = type.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={_format_limit(self.min)}, max={_format_limit(self.max)}, dtype={self.dtype})"


builtins_type = type  # the classes above take a parameter named ``type``, as PyTorch's do


# PyTorch's C type names in its overflow message ("value cannot be converted to type int ...").
_C_NAMES = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t",
            "float32": "float", "float64": "double"}
_INT64_MIN, _UINT64_END = -(1 << 63), 1 << 64


def checked_scalar(value: object, target: np.dtype) -> object:
    """``value`` (a Python number) as PyTorch converts a scalar argument that must fit the tensor's
    dtype (``fill_``, ``clamp``, ``full``, ``masked_fill``): unchanged, or PyTorch's RuntimeError
    when it would overflow the dtype."""
    if isinstance(value, bool) or target.kind == "b" or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int) and not _INT64_MIN <= value < _UINT64_END:
        raise OverflowError("int too big to convert")
    if target.kind in "iu":
        info = np.iinfo(target)
        if target.kind == "u" and isinstance(value, int) and -info.max <= value < 0:
            return value % (info.max + 1)  # PyTorch lets an int wrap into an unsigned type
        fits = info.min <= value <= info.max  # False for NaN, as PyTorch's check
    else:
        fits = not math.isfinite(value) or abs(value) <= float(np.finfo(target).max)
    if not fits:
        raise RuntimeError(f"value cannot be converted to type {_C_NAMES.get(target.name, target.name)} without "
                           "overflow")
    return value


def wrapped_scalar(value: int, target: np.dtype) -> object:
    """A Python int as an operand of arithmetic in ``target``: PyTorch reads it as a 64-bit integer and
    casts it to the computation's dtype, wrapping around an integer dtype's range."""
    if not _INT64_MIN <= value < _UINT64_END:
        raise OverflowError("int too big to convert")
    if target.kind in "iu":
        bits = 8 * target.itemsize
        value %= 1 << bits
        if target.kind == "i" and value >= 1 << (bits - 1):
            value -= 1 << bits
    return target.type(value)
