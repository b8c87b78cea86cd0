"""Data types and PyTorch's type-promotion rules.

A ``dtype`` wraps a NumPy dtype. Promotion follows PyTorch, not NumPy: operands are ranked
in three groups (tensors with dimensions, zero-dim tensors, Python scalars) and a lower
group only changes the result when it belongs to a higher category (bool < int < float).
"""
from __future__ import annotations

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
        self.is_signed = name != "bool"
        self.itemsize = self.numpy.itemsize

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name


bool_ = dtype("bool", np.bool_, 0, "Bool")
int32 = dtype("int32", np.int32, 1, "Int")
int64 = dtype("int64", np.int64, 1, "Long")
float32 = dtype("float32", np.float32, 2, "Float")
float64 = dtype("float64", np.float64, 2, "Double")

ALL: tuple[dtype, ...] = (bool_, int32, int64, float32, float64)
_BY_NUMPY: dict[np.dtype, dtype] = {d.numpy: d for d in ALL}
_ALIASES: dict[str, dtype] = {
    "bool": bool_, "int32": int32, "int": int32, "int64": int64, "long": int64,
    "float32": float32, "float": float32, "float64": float64, "double": float64,
}

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
    raise TypeError(f"can't convert np.ndarray of type {np_dtype}; the only supported types are: "
                    "float64, float32, int64, int32, and bool.")


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
