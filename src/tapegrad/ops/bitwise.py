"""Integer and bitwise ops (``&``, ``|``, ``^``, ``~``, ``<<``, ``>>``, gcd, lcm), the NaN-ignoring
``fmax``/``fmin``, ``ldexp``/``frexp``, the in-place comparison and logical methods, and the
torch-level function forms of in-place methods (``tapegrad.exp_(x)``).

Each op is an ``ElementwiseOp`` (scalar forward, saved values and VJP side by side), so the CPU
and CUDA kernels, and fusion, come from the same definition. Scalar definitions are pasted into
generated kernel modules that hold only ``math``, ``np`` and ``scalar_math``: they call nothing
else from this module.

Numba computes int32 operands in int64. Where a result can leave the int32 range (a left shift,
an lcm) the int32 definition wraps it back itself, so that its value is the int32 result wherever
it is used: the CUDA simulator, which runs definitions as Python, refuses to store an out-of-range
integer into an int32 array.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Callable

import numpy as np

from .. import dtypes as _dtypes
from ..autograd.tape import Step
from ..tensor import Tensor
from . import elementwise as ew
from . import inplace
from .pointwise import ElementwiseOp, FLOAT, _promote, apply, as_operand
from .registry import OpDef, needs_grad, record

__all__: list[str] = [
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
    "gcd", "gcd_", "lcm", "lcm_", "fmax", "fmin", "ldexp", "ldexp_", "frexp",
    "greater", "greater_equal", "less", "less_equal", "not_equal",
]
# Tensor methods this module adds (bound after ops.methods' own, so a name here replaces one there).
METHODS: dict[str, Any] = {}

_INT32 = np.dtype(np.int32)


def _device_suffix(args: tuple[Any, ...]) -> str:
    for a in args:
        if isinstance(a, Tensor) and not isinstance(a._data, np.ndarray):
            return "cuda"
    return "cpu"


def _promoted(args: tuple[Any, ...]) -> _dtypes.dtype:
    """PyTorch's result dtype of ``args`` (tensors and numbers, NumPy scalars among them)."""
    return _dtypes.from_numpy_dtype(_promote(ew.ADD, tuple(a.item() if isinstance(a, np.generic) else a
                                                           for a in args))[0])


def _integer_compute(kernel: str, function: str, args: tuple[Any, ...], allow_bool: bool = True) -> np.dtype:
    """The promoted dtype of ``args`` for an integer-only kernel, refusing floating-point (and,
    unless ``allow_bool``, bool) operands with PyTorch's errors."""
    if not any(isinstance(a, Tensor) for a in args):
        names = ", ".join(type(a).__name__ for a in args)
        raise TypeError(f"{function}() received an invalid combination of arguments - got ({names}), "
                        "but expected at least one Tensor")
    compute = _promoted(args)
    if compute.is_floating_point or (compute.category == 0 and not allow_bool):
        raise NotImplementedError(f"\"{kernel}_{_device_suffix(args)}\" not implemented for '{compute.scalar_name}'")
    return compute.numpy


def _in_range(args: tuple[Any, ...], compute: np.dtype) -> tuple[Any, ...]:
    """``args`` with Python integers outside an int32 compute dtype wrapped into it, as PyTorch
    converts a number to the dtype of the op (``int32_tensor & 2**33`` is ``int32_tensor & 0``)."""
    if compute != _INT32:
        return args
    return tuple(((a + 2 ** 31) % 2 ** 32) - 2 ** 31 if type(a) is int and not -2 ** 31 <= a < 2 ** 31 else a
                 for a in args)


def _in_place_compute(kernel: str, function: str, target: Tensor, others: tuple[Any, ...],
                      allow_bool: bool = True) -> np.dtype:
    """``_integer_compute`` for an op written into ``target``: as in PyTorch, a result type that
    cannot be cast to ``target``'s dtype is refused before the operands' dtypes are."""
    args = (target,) + others
    result = _promoted(args)
    own = target.dtype
    if result.category > own.category:
        raise RuntimeError(f"result type {result.scalar_name} can't be cast to the desired output type "
                           f"{own.scalar_name}")
    return _integer_compute(kernel, function, args, allow_bool)


# ================================================================ and, or, xor, not

def _bitwise_and(x, y):
    return x & y


BITWISE_AND = ElementwiseOp("bitwise_and", "BitwiseAndBackward0", _bitwise_and, None)


def _bitwise_or(x, y):
    return x | y


BITWISE_OR = ElementwiseOp("bitwise_or", "BitwiseOrBackward0", _bitwise_or, None)


def _bitwise_xor(x, y):
    return x ^ y


BITWISE_XOR = ElementwiseOp("bitwise_xor", "BitwiseXorBackward0", _bitwise_xor, None)


def _bitwise_not(x):
    # Numba (and NumPy, in the CUDA simulator) invert a bool logically: ~True is False.
    return ~x


BITWISE_NOT = ElementwiseOp("bitwise_not", "BitwiseNotBackward0", _bitwise_not, None)


def bitwise_and(input: Any, other: Any) -> Tensor:
    """Bitwise AND of integer or bool tensors (or a tensor and a Python number).

    >>> tapegrad.bitwise_and(tapegrad.tensor([12, -3]), 10)
    tensor([8, 8])
    """
    compute = _integer_compute("bitwise_and", "bitwise_and", (input, other))
    return apply(BITWISE_AND, _in_range((input, other), compute))


def bitwise_or(input: Any, other: Any) -> Tensor:
    """Bitwise OR of integer or bool tensors (or a tensor and a Python number).

    >>> tapegrad.bitwise_or(tapegrad.tensor([12, 1]), 2)
    tensor([14,  3])
    """
    compute = _integer_compute("bitwise_or", "bitwise_or", (input, other))
    return apply(BITWISE_OR, _in_range((input, other), compute))


def bitwise_xor(input: Any, other: Any) -> Tensor:
    """Bitwise exclusive OR of integer or bool tensors (or a tensor and a Python number).

    >>> tapegrad.bitwise_xor(tapegrad.tensor([True, False]), True)
    tensor([False,  True])
    """
    compute = _integer_compute("bitwise_xor", "bitwise_xor", (input, other))
    return apply(BITWISE_XOR, _in_range((input, other), compute))


def bitwise_not(input: Tensor) -> Tensor:
    """Bitwise NOT: ``-x - 1`` for integers, logical NOT for bool.

    >>> tapegrad.bitwise_not(tapegrad.tensor([0, 5]))
    tensor([-1, -6])
    """
    ew._require_tensor("bitwise_not", "input", 1, input)
    _integer_compute("bitwise_not", "bitwise_not", (input,))
    return apply(BITWISE_NOT, (input,))


# ================================================================ shifts
# PyTorch shifts left by a negative count, or by the bit width or more, to 0, and shifts right by
# such a count to the sign (x >> (width - 1)); LLVM leaves those shifts undefined, so the
# definitions test the count first.

def _left_shift_int32(x, y):
    if y < 0 or y > 31:
        return 0
    v = (np.int64(x) << np.int64(y)) & 0xFFFFFFFF
    return (v ^ 0x80000000) - 0x80000000  # the low 32 bits, sign-extended: int32 wrap-around


def _left_shift_int64(x, y):
    if y < 0 or y > 63:
        return 0
    return np.int64(x) << np.int64(y)


def _right_shift(x, y):
    # int32 operands are shifted as int64 (their sign extension): the same bits for every count.
    if y < 0 or y > 63:
        y = 63
    return np.int64(x) >> np.int64(y)


LEFT_SHIFT_INT32 = ElementwiseOp("bitwise_left_shift_int32", "LshiftBackward0", _left_shift_int32, None)
LEFT_SHIFT_INT64 = ElementwiseOp("bitwise_left_shift", "LshiftBackward0", _left_shift_int64, None)
RIGHT_SHIFT = ElementwiseOp("bitwise_right_shift", "RshiftBackward0", _right_shift, None)


def _left_shift_op(compute: np.dtype) -> ElementwiseOp:
    return LEFT_SHIFT_INT32 if compute == _INT32 else LEFT_SHIFT_INT64


def bitwise_left_shift(input: Any, other: Any) -> Tensor:
    """``input << other`` for integer tensors (bits shifted out are lost; counts below 0 or of
    the bit width or more give 0).

    >>> tapegrad.bitwise_left_shift(tapegrad.tensor([1, -3]), tapegrad.tensor([4, 1]))
    tensor([16, -6])
    """
    compute = _integer_compute("lshift", "bitwise_left_shift", (input, other), allow_bool=False)
    return apply(_left_shift_op(compute), _in_range((input, other), compute))


def bitwise_right_shift(input: Any, other: Any) -> Tensor:
    """``input >> other`` for integer tensors, an arithmetic shift (counts below 0 or of the bit
    width or more give the sign: 0 or -1).

    >>> tapegrad.bitwise_right_shift(tapegrad.tensor([16, -3]), 2)
    tensor([ 4, -1])
    """
    compute = _integer_compute("rshift", "bitwise_right_shift", (input, other), allow_bool=False)
    return apply(RIGHT_SHIFT, _in_range((input, other), compute))


# ================================================================ in place and operators

def bitwise_and_(self: Tensor, other: Any) -> Tensor:
    """``bitwise_and`` written into ``self`` (which keeps its dtype)."""
    compute = _in_place_compute("bitwise_and", "bitwise_and_", self, (other,))
    return inplace.update_elementwise(BITWISE_AND, self, *_in_range((other,), compute))


def bitwise_or_(self: Tensor, other: Any) -> Tensor:
    """``bitwise_or`` written into ``self`` (which keeps its dtype)."""
    compute = _in_place_compute("bitwise_or", "bitwise_or_", self, (other,))
    return inplace.update_elementwise(BITWISE_OR, self, *_in_range((other,), compute))


def bitwise_xor_(self: Tensor, other: Any) -> Tensor:
    """``bitwise_xor`` written into ``self`` (which keeps its dtype)."""
    compute = _in_place_compute("bitwise_xor", "bitwise_xor_", self, (other,))
    return inplace.update_elementwise(BITWISE_XOR, self, *_in_range((other,), compute))


def bitwise_not_(self: Tensor) -> Tensor:
    """``bitwise_not`` written into ``self``."""
    _in_place_compute("bitwise_not", "bitwise_not_", self, ())
    return inplace.update_elementwise(BITWISE_NOT, self)


def bitwise_left_shift_(self: Tensor, other: Any) -> Tensor:
    """``bitwise_left_shift`` written into ``self`` (which keeps its dtype)."""
    compute = _in_place_compute("lshift", "bitwise_left_shift_", self, (other,), allow_bool=False)
    return inplace.update_elementwise(_left_shift_op(compute), self, *_in_range((other,), compute))


def bitwise_right_shift_(self: Tensor, other: Any) -> Tensor:
    """``bitwise_right_shift`` written into ``self`` (which keeps its dtype)."""
    compute = _in_place_compute("rshift", "bitwise_right_shift_", self, (other,), allow_bool=False)
    return inplace.update_elementwise(RIGHT_SHIFT, self, *_in_range((other,), compute))


def _invert(self: Tensor) -> Tensor:
    """``~x``: PyTorch's operator refuses floating-point tensors with a TypeError."""
    if self._data.dtype.kind == "f":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return bitwise_not(self)


_OPERANDS = (Tensor, bool, int, float, np.generic)


def _operator(fn: Callable[[Any, Any], Tensor], reflected: bool = False) -> Callable[[Tensor, Any], Any]:
    """``x & y``-style method: NotImplemented for operands that are neither tensors nor numbers,
    so that Python raises its usual TypeError (as PyTorch's operators do)."""
    if reflected:
        def method(self: Tensor, other: Any) -> Any:
            return fn(other, self) if isinstance(other, _OPERANDS) else NotImplemented
    else:
        def method(self: Tensor, other: Any) -> Any:
            if isinstance(other, np.ndarray):  # taken on the right, as by the arithmetic operators
                other = as_operand(other, (self,))
            return fn(self, other) if isinstance(other, _OPERANDS) else NotImplemented
    method.__name__ = fn.__name__
    return method


METHODS.update({
    "bitwise_and": bitwise_and, "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift, "bitwise_right_shift": bitwise_right_shift,
    "bitwise_and_": bitwise_and_, "bitwise_or_": bitwise_or_, "bitwise_xor_": bitwise_xor_,
    "bitwise_not_": bitwise_not_, "bitwise_left_shift_": bitwise_left_shift_,
    "bitwise_right_shift_": bitwise_right_shift_,
    "__and__": _operator(bitwise_and), "__or__": _operator(bitwise_or), "__xor__": _operator(bitwise_xor),
    "__lshift__": _operator(bitwise_left_shift), "__rshift__": _operator(bitwise_right_shift),
    "__rand__": _operator(bitwise_and, True), "__ror__": _operator(bitwise_or, True),
    "__rxor__": _operator(bitwise_xor, True), "__rlshift__": _operator(bitwise_left_shift, True),
    "__rrshift__": _operator(bitwise_right_shift, True),
    "__iand__": _operator(bitwise_and_), "__ior__": _operator(bitwise_or_), "__ixor__": _operator(bitwise_xor_),
    "__ilshift__": _operator(bitwise_left_shift_), "__irshift__": _operator(bitwise_right_shift_),
    "__invert__": _invert,
})


# ================================================================ gcd and lcm
# PyTorch's Euclid: gcd(a, b) on |a|, |b| with C's remainder (the sign of the dividend) and C's
# wrap-around, so that the most negative integer gives what PyTorch gives. Numba's ``%`` is
# Python's (the sign of the divisor); ``r - a`` turns one into the other where the signs differ.

def _gcd_int32(a, b):
    a = np.int64(a)
    b = np.int64(b)
    a = -a if a < 0 else a
    b = -b if b < 0 else b
    if a > 2147483647:  # |-2**31| wraps back to -2**31 in int32
        a = -a
    if b > 2147483647:
        b = -b
    while a != 0:
        c = a
        r = b % a
        if r != 0 and (r < 0) != (b < 0):
            r -= a
        a = r
        b = c
    return b


def _gcd_int64(a, b):
    a = np.int64(a)
    b = np.int64(b)
    a = -a if a < 0 else a
    b = -b if b < 0 else b
    while a != 0:
        c = a
        r = b % a
        if r != 0 and (r < 0) != (b < 0):
            r -= a
        a = r
        b = c
    return b


def _lcm_int32(a, b):
    a = np.int64(a)
    b = np.int64(b)
    x = -a if a < 0 else a
    y = -b if b < 0 else b
    if x > 2147483647:
        x = -x
    if y > 2147483647:
        y = -y
    while x != 0:
        c = x
        r = y % x
        if r != 0 and (r < 0) != (y < 0):
            r -= x
        x = r
        y = c
    if y == 0:
        return 0
    v = (a // y) * b  # exact: |a / g| * |b| < 2**62
    v = ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
    v = -v if v < 0 else v
    return ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def _lcm_int64(a, b):
    a = np.int64(a)
    b = np.int64(b)
    x = -a if a < 0 else a
    y = -b if b < 0 else b
    while x != 0:
        c = x
        r = y % x
        if r != 0 and (r < 0) != (y < 0):
            r -= x
        x = r
        y = c
    if y == 0:
        return 0
    v = (-a if y == -1 else a // y) * b  # -2**63 // -1 would trap
    return -v if v < 0 else v


GCD_INT32 = ElementwiseOp("gcd_int32", "GcdBackward0", _gcd_int32, None)
GCD_INT64 = ElementwiseOp("gcd", "GcdBackward0", _gcd_int64, None)
LCM_INT32 = ElementwiseOp("lcm_int32", "LcmBackward0", _lcm_int32, None)
LCM_INT64 = ElementwiseOp("lcm", "LcmBackward0", _lcm_int64, None)


def _gcd_lcm_op(name: str, ops: tuple[ElementwiseOp, ElementwiseOp], input: Any, other: Any) -> ElementwiseOp:
    ew._require_tensor(name, "input", 1, input)
    ew._require_tensor(name, "other", 2, other)
    compute = _integer_compute(name.rstrip("_"), name, (input, other), allow_bool=False)
    return ops[0] if compute == _INT32 else ops[1]


def gcd(input: Tensor, other: Tensor) -> Tensor:
    """Greatest common divisor, elementwise, of integer tensors (``gcd(0, 0)`` is 0).

    >>> tapegrad.gcd(tapegrad.tensor([12, -18, 0]), tapegrad.tensor([8, 12, 5]))
    tensor([4, 6, 5])
    """
    return apply(_gcd_lcm_op("gcd", (GCD_INT32, GCD_INT64), input, other), (input, other))


def lcm(input: Tensor, other: Tensor) -> Tensor:
    """Least common multiple, elementwise, of integer tensors (0 where either is 0).

    >>> tapegrad.lcm(tapegrad.tensor([4, -6, 0]), tapegrad.tensor([6, 4, 5]))
    tensor([12, 12,  0])
    """
    return apply(_gcd_lcm_op("lcm", (LCM_INT32, LCM_INT64), input, other), (input, other))


def _gcd_lcm_in_place(name: str, ops: tuple[ElementwiseOp, ElementwiseOp], input: Tensor, other: Tensor) -> Tensor:
    ew._require_tensor(name, "input", 1, input)
    ew._require_tensor(name, "other", 2, other)
    _in_place_compute(name.rstrip("_"), name, input, (other,), allow_bool=False)
    return inplace.update_elementwise(_gcd_lcm_op(name, ops, input, other), input, other)


def gcd_(input: Tensor, other: Tensor) -> Tensor:
    """``gcd`` written into ``input``."""
    return _gcd_lcm_in_place("gcd_", (GCD_INT32, GCD_INT64), input, other)


def lcm_(input: Tensor, other: Tensor) -> Tensor:
    """``lcm`` written into ``input``."""
    return _gcd_lcm_in_place("lcm_", (LCM_INT32, LCM_INT64), input, other)


# ================================================================ fmax, fmin

def _fmax(x, y):
    # A NaN loses to a number; ties (0.0 and -0.0 too) keep x, as PyTorch's kernel does.
    return x if x >= y or y != y else y


def _fmax_vjp(needs, g, x, y):
    # As PyTorch: the gradient goes to x where x >= y or y is NaN, to y elsewhere (ties to x).
    to_x = ew.logical_or(ew.ge(x, y), ew.isnan(y))
    return (ew.where(to_x, g, 0.0) if needs[0] else None, ew.where(to_x, 0.0, g) if needs[1] else None)


FMAX = ElementwiseOp("fmax", "FmaxBackward0", _fmax, _fmax_vjp, saves=("x0", "x1"))


def _fmin(x, y):
    return x if x <= y or y != y else y


def _fmin_vjp(needs, g, x, y):
    to_x = ew.logical_or(ew.le(x, y), ew.isnan(y))
    return (ew.where(to_x, g, 0.0) if needs[0] else None, ew.where(to_x, 0.0, g) if needs[1] else None)


FMIN = ElementwiseOp("fmin", "FminBackward0", _fmin, _fmin_vjp, saves=("x0", "x1"))


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum that ignores NaN: NaN only where both are NaN.

    >>> tapegrad.fmax(tapegrad.tensor([1., float('nan'), 3.]), tapegrad.tensor([2., 0., float('nan')]))
    tensor([2., 0., 3.])
    """
    ew._require_tensor("fmax", "input", 1, input)
    ew._require_tensor("fmax", "other", 2, other)
    return apply(FMAX, (input, other))


def fmin(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum that ignores NaN: NaN only where both are NaN.

    >>> tapegrad.fmin(tapegrad.tensor([1., float('nan'), 3.]), tapegrad.tensor([2., 0., float('nan')]))
    tensor([1., 0., 3.])
    """
    ew._require_tensor("fmin", "input", 1, input)
    ew._require_tensor("fmin", "other", 2, other)
    return apply(FMIN, (input, other))


# ================================================================ ldexp, frexp
# PyTorch computes ldexp in two ways: exactly (even where 2**other alone would under- or overflow)
# for a floating-point input and an integer exponent, and as ``input * 2.0**other`` otherwise, the
# power in the exponent's dtype (the default dtype for an integer one), the product promoted.

def _ldexp_exact(x, e):
    # e holds an integer (cast to the float compute dtype); past +-2200 every result is 0 or inf.
    # Clamped before the conversion to int, with float32 bounds so a float32 kernel stays float32.
    return math.ldexp(x, int(max(min(e, np.float32(2200.0)), np.float32(-2200.0))))


def _ldexp_power32(x, e):
    # float32 exponents are exact in the compute dtype, so the float32 power is PyTorch's.
    return x * np.float32(2.0) ** np.float32(e)


def _ldexp_power64(x, e):
    return x * 2.0 ** np.float64(e)


def _ldexp_vjp(needs, g, x, e):
    # The true derivatives (PyTorch's own rule takes 2**other in integer arithmetic for an integer
    # exponent, which is 0 for a negative one).
    scale = ew.pow(2.0, e)
    return (g * scale if needs[0] else None, g * x * scale * ew._LN2 if needs[1] else None)


LDEXP_EXACT = ElementwiseOp("ldexp", "LdexpBackward0", _ldexp_exact, _ldexp_vjp, saves=("x0", "x1"),
                            result=FLOAT, only_for={"x0": (1,)})
LDEXP_POWER32 = ElementwiseOp("ldexp_power32", "LdexpBackward0", _ldexp_power32, _ldexp_vjp, saves=("x0", "x1"),
                              result=FLOAT, only_for={"x0": (1,)})
LDEXP_POWER64 = ElementwiseOp("ldexp_power64", "LdexpBackward0", _ldexp_power64, _ldexp_vjp, saves=("x0", "x1"),
                              result=FLOAT, only_for={"x0": (1,)})


def _ldexp_op(function: str, input: Any, other: Any) -> ElementwiseOp:
    ew._require_tensor(function, "input", 1, input)
    ew._require_tensor(function, "other", 2, other)
    exponent = other._data.dtype
    if input._data.dtype.kind == "f" and exponent.kind in "biu":
        if exponent.kind == "b":
            raise NotImplementedError(f"\"ldexp_{_device_suffix((input, other))}_exp\" not implemented for 'Bool'")
        return LDEXP_EXACT
    power = exponent if exponent.kind == "f" else _dtypes.get_default_dtype().numpy
    return LDEXP_POWER32 if power == np.float32 else LDEXP_POWER64


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """``input * 2**other`` (a floating-point result; exact for an integer ``other``).

    >>> tapegrad.ldexp(tapegrad.tensor([1., 3.]), tapegrad.tensor([3, -1]))
    tensor([8.0000, 1.5000])
    """
    return apply(_ldexp_op("ldexp", input, other), (input, other))


def ldexp_(input: Tensor, other: Tensor) -> Tensor:
    """``ldexp`` written into ``input`` (a floating-point tensor)."""
    op = _ldexp_op("ldexp_", input, other)
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"ldexp can't be cast to the desired output type {input.dtype.scalar_name}")
    with np.errstate(over="ignore"):  # a float64 result written into float32 may overflow to inf, silently
        return inplace.update_elementwise(op, input, other)


def _frexp_mantissa(x):
    return math.frexp(x)[0]


def _frexp_exponent(x):
    return math.frexp(x)[1]


def _frexp_vjp(needs, g, x):
    # PyTorch's rule: grad / exponent.exp2(), the int32 exponent's exp2 in the default dtype.
    exponent = ew.cast(apply(FREXP_EXPONENT, (x,)), _dtypes.int32)
    return (g / ew.exp2(exponent),)


FREXP = ElementwiseOp("frexp", "FrexpBackward0", _frexp_mantissa, _frexp_vjp, saves=("x0",))
FREXP_EXPONENT = ElementwiseOp("frexp_exponent", "FrexpBackward0", _frexp_exponent, None)

frexp_result = namedtuple("frexp", ["mantissa", "exponent"])


def frexp(input: Tensor) -> frexp_result:
    """``(mantissa, exponent)`` with ``input == mantissa * 2**exponent`` and ``0.5 <= |mantissa| < 1``
    (mantissa 0 and exponent 0 for 0; inf and NaN keep their value with exponent 0).

    >>> tapegrad.frexp(tapegrad.tensor([8., -3.]))
    frexp(mantissa=tensor([ 0.5000, -0.7500]), exponent=tensor([4, 2], dtype=tapegrad.int32))
    """
    ew._require_tensor("frexp", "input", 1, input)
    if input._data.dtype.kind != "f":
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    exponent = ew.cast(apply(FREXP_EXPONENT, (input,)), _dtypes.int32)
    return frexp_result(apply(FREXP, (input,)), exponent)


METHODS.update({
    "gcd": gcd, "lcm": lcm, "gcd_": gcd_, "lcm_": lcm_, "fmax": fmax, "fmin": fmin,
    "ldexp": ldexp, "ldexp_": ldexp_, "frexp": frexp,
})


# ================================================================ comparison and logical ops in place, aliases

greater, greater_equal, less, less_equal, not_equal = ew.gt, ew.ge, ew.lt, ew.le, ew.ne


def _zero_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, ...]:
    """A comparison's derivative: zero for every input that wants one."""
    from ..creation import zeros

    return tuple(zeros(meta[0], dtype=_dtypes.from_numpy_dtype(meta[1]), device=g.device)
                 if step.needs_input_grad(k) else None for k, meta in enumerate(step.input_meta))


def _comparison_(op: ElementwiseOp, name: str, grad_name: str) -> Callable[..., Tensor]:
    """``x.eq_(y)``-style method: the comparison's result, in ``x``'s dtype, written into ``x``.

    As in PyTorch, on a tensor with history the result keeps one (``EqBackward0`` with a number,
    ``EqBackward1`` with a tensor), whose gradients are zeros."""
    with_number = OpDef(name + "number", grad_name + "0", _zero_vjp)
    with_tensor = OpDef(name + "tensor", grad_name + "1", _zero_vjp)

    def method(self: Tensor, other: Any) -> Tensor:
        if not needs_grad(self, other):
            return inplace.update_elementwise(op, self, other)
        step = with_tensor if isinstance(other, Tensor) else with_number

        def compute(target: Tensor) -> Tensor:
            return record(step, (target, other), apply(op, (target, other)).to(target.dtype))

        return inplace.update(self, compute, (other,), uses_old=False)

    method.__name__ = name
    return method


def _logical_(op: ElementwiseOp, name: str) -> Callable[..., Tensor]:
    """``x.logical_and_(y)``-style method (``other`` must be a tensor, as in PyTorch)."""
    def method(self: Tensor, other: Any) -> Tensor:
        ew._require_tensor(name, "other", 1, other)
        return inplace.update_elementwise(op, self, other)

    method.__name__ = name
    return method


def logical_not_(self: Tensor) -> Tensor:
    """``logical_not`` written into ``self`` (1 or 0 in ``self``'s dtype)."""
    return inplace.update_elementwise(ew.LOGICAL_NOT, self)


def floor_divide_(self: Tensor, other: Any) -> Tensor:
    """``floor_divide`` written into ``self``."""
    return inplace.update(self, lambda t: ew.floor_divide(t, other), (other,))


def ceil_(self: Tensor) -> Tensor:
    """``ceil`` written into ``self``."""
    return inplace.update(self, ew.ceil)


METHODS.update({
    "greater_equal": ew.ge, "less_equal": ew.le, "not_equal": ew.ne,
    **{name: _comparison_(op, name, grad_name) for name, op, grad_name in (
        ("eq_", ew.EQ, "EqBackward"), ("ne_", ew.NE, "NeBackward"), ("lt_", ew.LT, "LtBackward"),
        ("le_", ew.LE, "LeBackward"), ("gt_", ew.GT, "GtBackward"), ("ge_", ew.GE, "GeBackward"),
        ("greater_", ew.GT, "GtBackward"), ("greater_equal_", ew.GE, "GeBackward"), ("less_", ew.LT, "LtBackward"),
        ("less_equal_", ew.LE, "LeBackward"), ("not_equal_", ew.NE, "NeBackward"))},
    **{name: _logical_(op, name) for name, op in (
        ("logical_and_", ew.LOGICAL_AND), ("logical_or_", ew.LOGICAL_OR), ("logical_xor_", ew.LOGICAL_XOR))},
    "logical_not_": logical_not_,
    "multiply_": inplace.mul_, "subtract_": inplace.sub_, "divide_": inplace.div_, "true_divide_": inplace.div_,
    "floor_divide_": floor_divide_, "negative_": inplace.neg_, "absolute_": inplace.abs_,
    "ceil_": ceil_,
})


# ================================================================ torch-level forms of in-place methods
# ``tapegrad.exp_(x)`` is ``x.exp_()``; looked up at call time, so it is whatever the method is.

def _function_form(name: str) -> Callable[..., Tensor]:
    def function(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        ew._require_tensor(name, "input", 1, input)
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``input.{name}(...)``: the in-place method as a function."
    return function


_FUNCTION_FORMS = (
    "abs_", "acos_", "acosh_", "addmv_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_", "arctanh_",
    "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_", "cosh_",
    "deg2rad_", "detach_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_", "floor_", "frac_", "i0_",
    "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_", "reciprocal_",
    "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "tan_", "tanh_",
    "trunc_", "xlogy_", "zero_",
)
globals().update({name: _function_form(name) for name in _FUNCTION_FORMS})
__all__ += _FUNCTION_FORMS
