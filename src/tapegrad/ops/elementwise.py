"""Elementwise ops: for each, a scalar forward (compiled into kernels by the backend, and
composed by fusion), what it saves, and its VJP, side by side.

A scalar forward is a plain function of scalars; it may use ``math`` and the names of
``tapegrad.backends.scalar_math`` (vectorisable ``fast_exp``, ``fast_tanh``, … that the
kernels use instead of libm calls, which LLVM cannot vectorise). VJP rules get
``(needs, grad, *saved)``, ``needs[i]`` telling whether input ``i`` wants a gradient, and return
one gradient per input at the broadcast shape; ``ElementwiseOp.vjp`` (in ``pointwise.py``, with
the machinery that runs these ops) sums them back to each input's shape and dtype.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from .. import memory_formats as _formats
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import trace
from ..compiler import rules
from ..backends.scalar_math import (fast_exp, fast_expm1, fast_log, fast_log1p, fast_sigmoid,  # noqa: F401
                                    fast_tanh, float_ceil, float_floor, float_round)
from ..tensor import Tensor, _wrap
from .pointwise import (_BOOL, BOOL, FLOAT, SAME, ElementwiseOp, _apply_fast,  # noqa: F401
                        _broadcast_shape, _promote, _reduce_to_input, _same_shape_pair, _tensor_scalar, apply)
from .registry import OpDef, record
from ..user_warnings import warn_user

# ================================================================ arithmetic

def _add(x, y):
    return x + y


def _add_vjp(needs, g):
    return g if needs[0] else None, g if needs[1] else None


ADD = ElementwiseOp("add", "AddBackward0", _add, _add_vjp)


def _sub(x, y):
    return x - y


def _sub_vjp(needs, g):
    return g if needs[0] else None, neg(g) if needs[1] else None


SUB = ElementwiseOp("sub", "SubBackward0", _sub, _sub_vjp)
RSUB = SUB.renamed("rsub", "RsubBackward1")


def _mul(x, y):
    return x * y


def _mul_vjp(needs, g, x, y):
    return g * y if needs[0] else None, g * x if needs[1] else None


MUL = ElementwiseOp("mul", "MulBackward0", _mul, _mul_vjp, saves=("x0", "x1"), only_for={"x0": (1,), "x1": (0,)})


def _div(x, y):
    return x / y


def _div_vjp(needs, g, x, y):
    return (g / y if needs[0] else None,
            neg(g) * x / (y * y) if needs[1] else None)


DIV = ElementwiseOp("div", "DivBackward0", _div, _div_vjp, saves=("x0", "x1"), result=FLOAT,
                   only_for={"x0": (1,)})
# Division by a Python number as PyTorch's C++ losses record it.
DIV_SCALAR = DIV.renamed("div_scalar", "DivBackward1")


def _neg(x):
    return -x


def _neg_vjp(needs, g):
    return (neg(g),)


NEG = ElementwiseOp("neg", "NegBackward0", _neg, _neg_vjp)


def _reciprocal(x):
    return 1.0 / x


def _reciprocal_vjp(needs, g, out):
    return (neg(g) * out * out,)


RECIPROCAL = ElementwiseOp("reciprocal", "ReciprocalBackward0", _reciprocal, _reciprocal_vjp,
                           saves=("out",), result=FLOAT)


def _pow(x, y):
    return x ** y


def _pow_scalar_vjp(needs, g, x, exponent):
    if exponent == 0:
        return (g * 0,)
    return (g * exponent * x ** (exponent - 1),)


def _pow_vjp(needs, g, x, y, out):
    # d/dx x**y = y x**(y - 1), taken as 0 where y == 0 (0 * 0**-1 would be nan), as PyTorch does.
    grad_x = where(eq(y, 0), 0.0, g * y * x ** (y - 1)) if needs[0] else None
    grad_y = None
    if needs[1]:
        # d/dy x**y = x**y log x, taken as 0 where x == 0 and y >= 0 (PyTorch's convention).
        grad_y = g * where(eq(x, 0) & ge(y, 0), 0.0, out * log(x))
    return grad_x, grad_y


def _rpow_vjp(needs, g, base, y, out):
    return None, g * out * math.log(base) if base != 0 else g * 0


def _integer_pow(x, y):
    # Exponentiation by squaring: Numba's own integer ** can emit a call to a compiler-rt
    # routine that is missing at run time. Negative exponents follow C integer division.
    if y < 0:
        if x == 1:
            return 1
        if x == -1:
            return 1 if y % 2 == 0 else -1
        return 0
    result = 1
    base = x
    exponent = y
    while exponent > 0:
        if exponent & 1:
            result *= base
        base *= base
        exponent >>= 1
    return result


INTEGER_POW = ElementwiseOp("integer_pow", "", _integer_pow, None)
POW_SCALAR = ElementwiseOp("pow_scalar", "PowBackward0", _pow, _pow_scalar_vjp,
                           saves=("x0", "x1"), result=SAME)
POW = ElementwiseOp("pow", "PowBackward1", _pow, _pow_vjp, saves=("x0", "x1", "out"),
                   only_for={"out": (1,)})
RPOW = ElementwiseOp("rpow", "PowBackward2", _pow, _rpow_vjp, saves=("x0", "x1", "out"))


# ================================================================ unary maths

def _abs(x):
    return abs(x)


def _abs_vjp(needs, g, x):
    return (g * sign(x),)


ABS = ElementwiseOp("abs", "AbsBackward0", _abs, _abs_vjp, saves=("x0",))


def _exp(x):
    return fast_exp(x)


def _exp_vjp(needs, g, out):
    return (g * out,)


EXP = ElementwiseOp("exp", "ExpBackward0", _exp, _exp_vjp, saves=("out",), result=FLOAT)


def _log(x):
    return fast_log(x)


def _log_vjp(needs, g, x):
    return (g / x,)


LOG = ElementwiseOp("log", "LogBackward0", _log, _log_vjp, saves=("x0",), result=FLOAT)


def _log1p(x):
    return fast_log1p(x)


def _log1p_vjp(needs, g, x):
    return (g / (x + 1),)


LOG1P = ElementwiseOp("log1p", "Log1PBackward0", _log1p, _log1p_vjp, saves=("x0",), result=FLOAT)


def _expm1(x):
    return fast_expm1(x)


def _expm1_vjp(needs, g, out):
    return (g * (out + 1),)


EXPM1 = ElementwiseOp("expm1", "Expm1Backward0", _expm1, _expm1_vjp, saves=("out",), result=FLOAT)


def _sqrt(x):
    return math.sqrt(x) if x >= 0 else math.nan


def _sqrt_vjp(needs, g, out):
    return (g / (out * 2),)


SQRT = ElementwiseOp("sqrt", "SqrtBackward0", _sqrt, _sqrt_vjp, saves=("out",), result=FLOAT)


def _rsqrt(x):
    # A division, not a reciprocal-sqrt estimate: the kernels' fast-math flags leave out
    # 'arcp', so this is correctly rounded and 0, -0 and inf give inf, -inf and 0.
    return 1.0 / math.sqrt(x) if x >= 0 else math.nan


def _rsqrt_vjp(needs, g, out):
    return (g * out * out * out * -0.5,)


RSQRT = ElementwiseOp("rsqrt", "RsqrtBackward0", _rsqrt, _rsqrt_vjp, saves=("out",), result=FLOAT)


def _sin(x):
    return math.sin(x)


def _sin_vjp(needs, g, x):
    return (g * cos(x),)


SIN = ElementwiseOp("sin", "SinBackward0", _sin, _sin_vjp, saves=("x0",), result=FLOAT)


def _cos(x):
    return math.cos(x)


def _cos_vjp(needs, g, x):
    return (neg(g) * sin(x),)


COS = ElementwiseOp("cos", "CosBackward0", _cos, _cos_vjp, saves=("x0",), result=FLOAT)


def _tanh(x):
    return fast_tanh(x)


def _tanh_vjp(needs, g, out):
    return (TANH_BACKWARD(g, out),)


def _tanh_backward(g, y):
    return g * (1 - y * y)


def _tanh_backward_vjp(needs, gg, g, y):
    return (gg * (1 - y * y) if needs[0] else None, gg * g * y * -2 if needs[1] else None)


# One kernel for tanh's backward instead of three; it has its own VJP for double backward.
TANH_BACKWARD = ElementwiseOp("tanh_backward", "TanhBackwardBackward0", _tanh_backward, _tanh_backward_vjp,
                              saves=("x0", "x1"), only_for={"x0": (1,)})


TANH = ElementwiseOp("tanh", "TanhBackward0", _tanh, _tanh_vjp, saves=("out",), result=FLOAT)


def _sigmoid(x):
    return fast_sigmoid(x)


def _sigmoid_vjp(needs, g, out):
    return (SIGMOID_BACKWARD(g, out),)


def _sigmoid_backward(g, y):
    return g * y * (1 - y)


def _sigmoid_backward_vjp(needs, gg, g, y):
    return (gg * y * (1 - y) if needs[0] else None, gg * g * (1 - y * 2) if needs[1] else None)


SIGMOID_BACKWARD = ElementwiseOp("sigmoid_backward", "SigmoidBackwardBackward0", _sigmoid_backward,
                                 _sigmoid_backward_vjp, saves=("x0", "x1"), only_for={"x0": (1,)})


SIGMOID = ElementwiseOp("sigmoid", "SigmoidBackward0", _sigmoid, _sigmoid_vjp, saves=("out",),
                        result=FLOAT)


def _relu(x):
    # A literal zero, not x * 0: that would turn -inf into nan and -1 into -0.
    return x if (x > 0 or x != x) else 0.0


def _relu_vjp(needs, g, out):
    return (RELU_BACKWARD(g, out),)


def _relu_backward(g, y):
    # PyTorch's threshold_backward(g, relu(x), 0): zero where the output is not positive (even
    # for an infinite or nan g), g elsewhere, and g where the output is nan.
    return 0.0 if y <= 0 else g


def _relu_backward_vjp(needs, gg, y):
    return RELU_BACKWARD(gg, y) if needs[0] else None, _zero_gradient(gg) if needs[1] else None


def _zero_gradient(like: Tensor) -> Tensor:
    """PyTorch's zeros_like for a derivative that vanishes (``like * 0`` would keep NaNs and
    give -0.0 for negative values)."""
    from ..creation import zeros_like

    return zeros_like(like)


# One same-shape kernel for ReLU's backward (a mask and a product took two, one of them mixing
# dtypes); it has its own VJP for double backward.
RELU_BACKWARD = ElementwiseOp("relu_backward", "ThresholdBackwardBackward0", _relu_backward, _relu_backward_vjp,
                              saves=("x1",))

RELU = ElementwiseOp("relu", "ReluBackward0", _relu, _relu_vjp, saves=("out",))


def _softplus(x, beta, threshold):
    # Linear above the threshold, as PyTorch does, which also avoids exp overflow.
    return x if x * beta > threshold else fast_log1p(fast_exp(x * beta)) / beta


def _softplus_vjp(needs, g, x, beta, threshold):
    z = x * beta
    return (g * where(gt(z, threshold), 1.0, sigmoid(z)), None, None)


SOFTPLUS = ElementwiseOp("softplus", "SoftplusBackward0", _softplus, _softplus_vjp,
                         saves=("x0", "x1", "x2"), result=FLOAT)


# ================================================================ activations
# Each activation's backward is an elementwise op of its own: one kernel instead of a chain of
# masks and products, and a VJP of its own, so double backward works as for tanh and sigmoid.
# Parameters (slopes, bounds) are scalar operands: the kernel sees them in the compute dtype,
# and the VJPs get them back as the Python numbers they were given as.

def _leaky_relu(x, slope):
    return x if x > 0 else x * slope


def _leaky_relu_backward(g, x, slope):
    # ``x`` is the input, or the result after the in-place form: with slope >= 0 both are > 0
    # at the same places.
    return g if x > 0 else g * slope


def _leaky_relu_backward_vjp(needs, gg, x, slope):
    return (LEAKY_RELU_BACKWARD(gg, x, slope) if needs[0] else None,
            gg * 0 if needs[1] else None, None)


LEAKY_RELU_BACKWARD = ElementwiseOp("leaky_relu_backward", "LeakyReluBackwardBackward0", _leaky_relu_backward,
                                    _leaky_relu_backward_vjp, saves=("x1", "x2"))


def _leaky_relu_vjp(needs, g, x, slope):
    return LEAKY_RELU_BACKWARD(g, x, slope), None


def _leaky_relu_result_vjp(needs, g, out, slope):
    if slope < 0:
        # A negative slope flips signs, so the result no longer tells which branch was taken.
        raise RuntimeError(
            "In-place leakyReLu backward calculation is triggered with a negative slope which is not supported. "
            "This is caused by calling in-place forward function with a negative slope, please call out-of-place "
            "version instead. File an issue at https://github.com/pytorch/pytorch if you do require supporting "
            "in-place leakRelu backward calculation with negative slope")
    return LEAKY_RELU_BACKWARD(g, out, slope), None


LEAKY_RELU = ElementwiseOp("leaky_relu", "LeakyReluBackward0", _leaky_relu, _leaky_relu_vjp, saves=("x0", "x1"))
# The in-place form saves its result (the input is overwritten), as PyTorch's does.
LEAKY_RELU_ = ElementwiseOp("leaky_relu_", "LeakyReluBackward1", _leaky_relu, _leaky_relu_result_vjp,
                            saves=("out", "x1"))


def _hardtanh(x, low, high):
    # nan compares false both ways and passes through, as in PyTorch's clamp.
    return low if x < low else (high if x > high else x)


def _hardtanh_backward(g, x, low, high):
    # Zero on the bounds themselves (unlike clamp), as PyTorch's hardtanh_backward.
    return 0.0 if (x <= low or x >= high) else g


def _hardtanh_backward_vjp(needs, gg, x, low, high):
    return (HARDTANH_BACKWARD(gg, x, low, high) if needs[0] else None,
            gg * 0 if needs[1] else None, None, None)


HARDTANH_BACKWARD = ElementwiseOp("hardtanh_backward", "HardtanhBackwardBackward0", _hardtanh_backward,
                                  _hardtanh_backward_vjp, saves=("x1", "x2", "x3"))


def _hardtanh_vjp(needs, g, x, low, high):
    # ``x`` may be the result (in-place form): it is on or past a bound exactly where the input is.
    return HARDTANH_BACKWARD(g, x, low, high), None, None


HARDTANH = ElementwiseOp("hardtanh", "HardtanhBackward0", _hardtanh, _hardtanh_vjp, saves=("x0", "x1", "x2"))
HARDTANH_ = ElementwiseOp("hardtanh_", "HardtanhBackward0", _hardtanh, _hardtanh_vjp, saves=("out", "x1", "x2"))


def _elu(x, alpha, scale, input_scale):
    return x * scale if x > 0 else fast_expm1(x * input_scale) * (alpha * scale)


def _elu_backward(g, x, alpha, scale, input_scale):
    return g * scale if x > 0 else g * input_scale * (alpha * scale) * fast_exp(x * input_scale)


def _elu_backward_result(g, y, alpha, scale, input_scale):
    # From the result y = alpha * scale * (exp(x * input_scale) - 1): the derivative is
    # input_scale * (y + alpha * scale).
    return g * scale if y > 0 else g * input_scale * (y + alpha * scale)


def _elu_backward_vjp(needs, gg, g, x, alpha, scale, input_scale):
    grad_x = None
    if needs[1]:
        grad_x = ELU_BACKWARD(gg * g * input_scale, x, alpha, scale, input_scale) * lt(x, 0)
    return (ELU_BACKWARD(gg, x, alpha, scale, input_scale) if needs[0] else None, grad_x, None, None, None)


def _elu_backward_result_vjp(needs, gg, g, y, alpha, scale, input_scale):
    return (ELU_BACKWARD_RESULT(gg, y, alpha, scale, input_scale) if needs[0] else None,
            gg * g * input_scale * lt(y, 0) if needs[1] else None, None, None, None)


ELU_BACKWARD = ElementwiseOp("elu_backward", "EluBackwardBackward0", _elu_backward, _elu_backward_vjp,
                             saves=("x0", "x1", "x2", "x3", "x4"), only_for={"x0": (1,)})
ELU_BACKWARD_RESULT = ElementwiseOp("elu_backward_result", "EluBackwardBackward0", _elu_backward_result,
                                    _elu_backward_result_vjp, saves=("x0", "x1", "x2", "x3", "x4"),
                                    only_for={"x0": (1,)})


def _elu_vjp(needs, g, x, alpha, scale, input_scale):
    return ELU_BACKWARD(g, x, alpha, scale, input_scale), None, None, None


def _elu_result_vjp(needs, g, out, alpha, scale, input_scale):
    if alpha * scale < 0:
        raise RuntimeError("In-place elu backward calculation is triggered with a negative slope which is not "
                           "supported. This is caused by calling in-place forward function with a negative slope, "
                           "please call out-of-place version instead.")
    return ELU_BACKWARD_RESULT(g, out, alpha, scale, input_scale), None, None, None


def _celu_input_scale_for_backward(alpha: float) -> float:
    # PyTorch's CELU backward takes 1 / alpha with alpha rounded to float32 (its forward does
    # not), which moves float64 gradients by up to ~1e-7 relative; followed for equal results.
    return 1.0 / float(np.float32(alpha))


def _celu_vjp(needs, g, x, alpha, scale, input_scale):
    return _elu_vjp(needs, g, x, alpha, scale, _celu_input_scale_for_backward(alpha))


def _celu_result_vjp(needs, g, out, alpha, scale, input_scale):
    return _elu_result_vjp(needs, g, out, alpha, scale, _celu_input_scale_for_backward(alpha))


ELU = ElementwiseOp("elu", "EluBackward0", _elu, _elu_vjp, saves=("x0", "x1", "x2", "x3"))
ELU_ = ElementwiseOp("elu_", "EluBackward1", _elu, _elu_result_vjp, saves=("out", "x1", "x2", "x3"))
CELU = ElementwiseOp("celu", "CeluBackward0", _elu, _celu_vjp, saves=("x0", "x1", "x2", "x3"))
CELU_ = ElementwiseOp("celu_", "CeluBackward1", _elu, _celu_result_vjp, saves=("out", "x1", "x2", "x3"))


def _logsigmoid(x):
    # min(x, 0) - log1p(exp(-|x|)): neither term overflows, for either sign of x.
    return (x if x < 0 else 0.0) - fast_log1p(fast_exp(-abs(x)))


def _logsigmoid_backward(g, x):
    return g * fast_sigmoid(-x)


def _logsigmoid_backward_vjp(needs, gg, g, x):
    grad_x = None
    if needs[1]:
        s = sigmoid(x)
        grad_x = neg(gg * g * s * (1 - s))
    return LOGSIGMOID_BACKWARD(gg, x) if needs[0] else None, grad_x


LOGSIGMOID_BACKWARD = ElementwiseOp("log_sigmoid_backward", "LogSigmoidBackwardBackward0", _logsigmoid_backward,
                                    _logsigmoid_backward_vjp, saves=("x0", "x1"), only_for={"x0": (1,)})


def _logsigmoid_vjp(needs, g, x):
    return (LOGSIGMOID_BACKWARD(g, x),)


LOGSIGMOID = ElementwiseOp("log_sigmoid", "LogSigmoidBackward0", _logsigmoid, _logsigmoid_vjp, saves=("x0",),
                           result=FLOAT)


def _hardsigmoid(x):
    # PyTorch's min(max(x + 3, 0), 6) / 6, written so that nan passes through.
    y = x + 3.0
    return (0.0 if y < 0 else (6.0 if y > 6 else y)) / 6.0


def _hardsigmoid_backward(g, x):
    # PyTorch multiplies by 1/6 rounded to float32 in every dtype: the constant is that number.
    return g * 0.1666666716337204 if (x > -3.0 and x < 3.0) else 0.0


def _hardsigmoid_backward_vjp(needs, gg, x):
    return HARDSIGMOID_BACKWARD(gg, x) if needs[0] else None, gg * 0 if needs[1] else None


HARDSIGMOID_BACKWARD = ElementwiseOp("hardsigmoid_backward", "HardsigmoidBackwardBackward0", _hardsigmoid_backward,
                                     _hardsigmoid_backward_vjp, saves=("x1",))


def _hardsigmoid_vjp(needs, g, x):
    return (HARDSIGMOID_BACKWARD(g, x),)


HARDSIGMOID = ElementwiseOp("hardsigmoid", "HardsigmoidBackward0", _hardsigmoid, _hardsigmoid_vjp, saves=("x0",))


def _hardswish(x):
    y = x + 3.0
    return x * (0.0 if y < 0 else (6.0 if y > 6 else y)) / 6.0


def _hardswish_backward(g, x):
    # PyTorch's hardswish_backward, boundaries included: 0 at -3, g at 3.
    return 0.0 if x <= -3.0 else (g * (x / 3.0 + 0.5) if x < 3.0 else g)


def _hardswish_backward_vjp(needs, gg, g, x):
    grad_x = None
    if needs[1]:
        grad_x = gg * g * logical_and(gt(x, -3.0), lt(x, 3.0)) / 3
    return HARDSWISH_BACKWARD(gg, x) if needs[0] else None, grad_x


HARDSWISH_BACKWARD = ElementwiseOp("hardswish_backward", "HardswishBackwardBackward0", _hardswish_backward,
                                   _hardswish_backward_vjp, saves=("x0", "x1"), only_for={"x0": (1,)})


def _hardswish_vjp(needs, g, x):
    return (HARDSWISH_BACKWARD(g, x),)


HARDSWISH = ElementwiseOp("hardswish", "HardswishBackward0", _hardswish, _hardswish_vjp, saves=("x0",))


def _mish(x):
    # x * tanh(softplus(x)); above 20 softplus(x) is x to working precision (and exp would overflow).
    return x * fast_tanh(x if x > 20.0 else fast_log1p(fast_exp(x)))


def _mish_backward(g, x):
    t = fast_tanh(x if x > 20.0 else fast_log1p(fast_exp(x)))
    return g * (t + x * fast_sigmoid(x) * (1.0 - t * t))


def _mish_backward_vjp(needs, gg, g, x):
    grad_x = None
    if needs[1]:
        # With t = tanh(softplus(x)) and s = sigmoid(x): f'' = (1 - t**2) s (2 + x (1 - s) - 2 x s t).
        t = tanh(softplus(x))
        s = sigmoid(x)
        grad_x = gg * g * (1 - t * t) * s * (x * (1 - s) - x * s * t * 2 + 2)
    return MISH_BACKWARD(gg, x) if needs[0] else None, grad_x


MISH_BACKWARD = ElementwiseOp("mish_backward", "MishBackwardBackward0", _mish_backward, _mish_backward_vjp,
                              saves=("x0", "x1"), only_for={"x0": (1,)})


def _mish_vjp(needs, g, x):
    return (MISH_BACKWARD(g, x),)


MISH = ElementwiseOp("mish", "MishBackward0", _mish, _mish_vjp, saves=("x0",), result=FLOAT)


def _softshrink(x, lambd):
    # Zero inside [-lambd, lambd] (+0, as PyTorch's vectorised kernel gives); nan passes through.
    return 0.0 if (x >= -lambd and x <= lambd) else (x - lambd if x > lambd else x + lambd)


def _hardshrink(x, lambd):
    return 0.0 if (x >= -lambd and x <= lambd) else x


def _shrink_backward(g, x, lambd):
    return 0.0 if (x >= -lambd and x <= lambd) else g


def _shrink_backward_vjp(needs, gg, x, lambd):
    return (SOFTSHRINK_BACKWARD(gg, x, lambd) if needs[0] else None, gg * 0 if needs[1] else None, None)


SOFTSHRINK_BACKWARD = ElementwiseOp("softshrink_backward", "SoftshrinkBackwardBackward0", _shrink_backward,
                                    _shrink_backward_vjp, saves=("x1", "x2"))
HARDSHRINK_BACKWARD = SOFTSHRINK_BACKWARD.renamed("hardshrink_backward", "HardshrinkBackwardBackward0")


def _softshrink_vjp(needs, g, x, lambd):
    return SOFTSHRINK_BACKWARD(g, x, lambd), None


def _hardshrink_vjp(needs, g, x, lambd):
    return HARDSHRINK_BACKWARD(g, x, lambd), None


SOFTSHRINK = ElementwiseOp("softshrink", "SoftshrinkBackward0", _softshrink, _softshrink_vjp, saves=("x0", "x1"))
HARDSHRINK = ElementwiseOp("hardshrink", "HardshrinkBackward0", _hardshrink, _hardshrink_vjp, saves=("x0", "x1"))


def _threshold(x, threshold, value):
    # ``value`` at and below ``threshold``; nan compares false and passes through, as in PyTorch.
    return value if x <= threshold else x


def _threshold_backward(g, x, threshold):
    return 0.0 if x <= threshold else g


def _threshold_backward_vjp(needs, gg, x, threshold):
    return THRESHOLD_BACKWARD(gg, x, threshold) if needs[0] else None, _zero_gradient(gg) if needs[1] else None, None


THRESHOLD_BACKWARD = ElementwiseOp("threshold_backward", "ThresholdBackwardBackward0", _threshold_backward,
                                   _threshold_backward_vjp, saves=("x1", "x2"))


def _threshold_vjp(needs, g, x, threshold):
    return THRESHOLD_BACKWARD(g, x, threshold), None, None


THRESHOLD = ElementwiseOp("threshold", "ThresholdBackward0", _threshold, _threshold_vjp, saves=("x0", "x1"))
# The in-place form keeps the old values for its backward (``update`` copies them), as PyTorch's.
THRESHOLD_ = THRESHOLD.renamed("threshold_", "ThresholdBackward1")


def _prelu(x, weight):
    return x if x > 0 else weight * x


def _prelu_vjp(needs, g, x, weight):
    # The input's gradient is the slope taken; the weight's is the input where it was negative
    # (summed over the broadcast positions by the engine).
    positive = gt(x, 0)
    return (where(positive, g, g * weight) if needs[0] else None,
            where(positive, 0.0, g * x) if needs[1] else None)


PRELU = ElementwiseOp("prelu", "PreluKernelBackward0", _prelu, _prelu_vjp, saves=("x0", "x1"))


def _gelu(x):
    # x * Phi(x), Phi the standard normal CDF; the constant is 1/sqrt(2).
    return x * 0.5 * (1.0 + math.erf(x * 0.7071067811865476))


def _gelu_backward(g, x):
    # Phi(x) + x * phi(x); the constant is 1/sqrt(2 pi).
    cdf = 0.5 * (1.0 + math.erf(x * 0.7071067811865476))
    pdf = 0.3989422804014327 * fast_exp(-0.5 * x * x)
    return g * (cdf + x * pdf)


def _gelu_backward_vjp(needs, gg, g, x):
    grad_x = None
    if needs[1]:
        # d/dx (Phi + x phi) = phi * (2 - x**2)
        pdf = exp(x * x * -0.5) * 0.3989422804014327
        grad_x = gg * g * pdf * (2 - x * x)
    return GELU_BACKWARD(gg, x) if needs[0] else None, grad_x


GELU_BACKWARD = ElementwiseOp("gelu_backward", "GeluBackwardBackward0", _gelu_backward, _gelu_backward_vjp,
                              saves=("x0", "x1"), only_for={"x0": (1,)})


def _gelu_vjp(needs, g, x):
    return (GELU_BACKWARD(g, x),)


GELU = ElementwiseOp("gelu", "GeluBackward0", _gelu, _gelu_vjp, saves=("x0",), result=FLOAT)


def _gelu_tanh(x):
    # PyTorch's tanh approximation: the constants are sqrt(2 / pi) and 0.044715.
    inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1.0 + fast_tanh(inner))


def _gelu_tanh_backward(g, x):
    inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    t = fast_tanh(inner)
    slope = 0.7978845608028654 * (1.0 + 0.134145 * x * x)  # d inner / dx
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * slope)


def _gelu_tanh_backward_vjp(needs, gg, g, x):
    grad_x = None
    if needs[1]:
        # With t = tanh(inner): f'' = (1 - t**2) * (inner' + x / 2 * (inner'' - 2 t inner'**2)).
        t = tanh((x + x * x * x * 0.044715) * 0.7978845608028654)
        slope = (x * x * 0.134145 + 1) * 0.7978845608028654
        curvature = x * (6 * 0.044715 * 0.7978845608028654)
        grad_x = gg * g * (1 - t * t) * (slope + x * 0.5 * (curvature - t * slope * slope * 2))
    return GELU_TANH_BACKWARD(gg, x) if needs[0] else None, grad_x


GELU_TANH_BACKWARD = ElementwiseOp("gelu_tanh_backward", "GeluBackwardBackward0", _gelu_tanh_backward,
                                   _gelu_tanh_backward_vjp, saves=("x0", "x1"), only_for={"x0": (1,)})


def _gelu_tanh_vjp(needs, g, x):
    return (GELU_TANH_BACKWARD(g, x),)


GELU_TANH = ElementwiseOp("gelu_tanh", "GeluBackward0", _gelu_tanh, _gelu_tanh_vjp, saves=("x0",), result=FLOAT)


def _silu(x):
    return x * fast_sigmoid(x)


def _silu_backward(g, x):
    s = fast_sigmoid(x)
    return g * s * (1 + x * (1 - s))


def _silu_backward_vjp(needs, gg, g, x):
    grad_x = None
    if needs[1]:
        # d/dx s (1 + x (1 - s)) = s (1 - s) (2 + x (1 - 2 s))
        s = sigmoid(x)
        grad_x = gg * g * s * (1 - s) * (x * (1 - s * 2) + 2)
    return SILU_BACKWARD(gg, x) if needs[0] else None, grad_x


SILU_BACKWARD = ElementwiseOp("silu_backward", "SiluBackwardBackward0", _silu_backward, _silu_backward_vjp,
                              saves=("x0", "x1"), only_for={"x0": (1,)})


def _silu_vjp(needs, g, x):
    return (SILU_BACKWARD(g, x),)


SILU = ElementwiseOp("silu", "SiluBackward0", _silu, _silu_vjp, saves=("x0",), result=FLOAT)


def _erf(x):
    return math.erf(x)


def _erf_vjp(needs, g, x):
    return (g * exp(x * x * -1) * 1.1283791670955126,)  # 2 / sqrt(pi)


ERF = ElementwiseOp("erf", "ErfBackward0", _erf, _erf_vjp, saves=("x0",), result=FLOAT)


def _sign(x):
    # Constants of x's type, not ``(x > 0) - (x < 0)``: NumPy (the CUDA simulator) refuses to
    # subtract bools, and an int result would turn a fused float32 chain into float64.
    if x > 0:
        return type(x)(1)
    if x < 0:
        return type(x)(-1)
    return type(x)(0)  # also for nan, as PyTorch gives


def _zero_vjp(needs, g, *unused):
    return tuple(g * 0 if need else None for need in needs)


SIGN = ElementwiseOp("sign", "SignBackward0", _sign, _zero_vjp)


def _floor(x):
    return float_floor(x)


def _ceil(x):
    return float_ceil(x)


def _round(x):
    return float_round(x)


FLOOR = ElementwiseOp("floor", "FloorBackward0", _floor, _zero_vjp)
CEIL = ElementwiseOp("ceil", "CeilBackward0", _ceil, _zero_vjp)
ROUND = ElementwiseOp("round", "RoundBackward0", _round, _zero_vjp)


# ================================================================ selection

def _clamp(x, low, high):
    y = low if x < low else x
    return high if y > high else y


def _clamp_vjp(needs, g, x, low, high):
    # clamp is min(max(x, low), high): follow which operand each of the two picks took, so
    # crossed bounds (low > high) send the gradient to high, as the forward does.
    took_low = lt(x, low)
    raised = where(took_low, low, x)
    took_high = gt(raised, high)
    kept = logical_not(took_high)
    grad_x = g * (logical_not(took_low) & kept) if needs[0] else None
    grad_low = g * (took_low & kept) if needs[1] else None
    grad_high = g * took_high if needs[2] else None
    return grad_x, grad_low, grad_high


CLAMP = ElementwiseOp("clamp", "ClampBackward1", _clamp, _clamp_vjp, saves=("x0", "x1", "x2"))
CLAMP_TENSOR = CLAMP.renamed("clamp_tensor", "ClampBackward0")
# clamp_min / clamp_max with a number record their own grad_fn names in PyTorch.
CLAMP_MIN = CLAMP.renamed("clamp_min", "ClampMinBackward0")
CLAMP_MAX = CLAMP.renamed("clamp_max", "ClampMaxBackward0")


def _xlogy(x, y):
    # x * log(y), 0 where x is 0 (even for y = 0), nan where y is nan.
    return y if y != y else (0.0 if x == 0 else x * math.log(y))


def _xlogy_vjp(needs, g, x, y):
    # PyTorch's rule: log(y) for x, zeroed where x is 0 and y <= 0 (there y ** x is constant 0 or 1).
    return (where(logical_and(eq(x, 0), le(y, 0)), 0.0, xlogy(g, y)) if needs[0] else None,
            g * x / y if needs[1] else None)


XLOGY = ElementwiseOp("xlogy", "XlogyBackward0", _xlogy, _xlogy_vjp, saves=("x0", "x1"), result=FLOAT)


def _lerp(x, end, weight):
    # PyTorch's two-sided form: exact at both ends (weight 0 gives x, weight 1 gives end).
    return x + weight * (end - x) if abs(weight) < 0.5 else end - (end - x) * (1 - weight)


def _lerp_vjp(needs, g, x, end, weight):
    return (g * (1 - weight) if needs[0] else None, g * weight if needs[1] else None,
            g * (end - x) if needs[2] else None)


LERP = ElementwiseOp("lerp", "LerpBackward0", _lerp, _lerp_vjp, saves=("x0", "x1", "x2"),
                     only_for={"x0": (2,), "x1": (2,)})
LERP_TENSOR = LERP.renamed("lerp_tensor", "LerpBackward1")


def _addcmul(x, a, b, value):
    return x + value * a * b


def _addcmul_vjp(needs, g, a, b, value):
    return (g if needs[0] else None, g * b * value if needs[1] else None, g * a * value if needs[2] else None, None)


ADDCMUL = ElementwiseOp("addcmul", "AddcmulBackward0", _addcmul, _addcmul_vjp, saves=("x1", "x2", "x3"),
                        only_for={"x1": (2,), "x2": (1,)})


def _addcdiv(x, a, b, value):
    return x + value * a / b


def _addcdiv_vjp(needs, g, a, b, value):
    return (g if needs[0] else None, g * value / b if needs[1] else None,
            neg(g) * value * a / (b * b) if needs[2] else None, None)


ADDCDIV = ElementwiseOp("addcdiv", "AddcdivBackward0", _addcdiv, _addcdiv_vjp, saves=("x1", "x2", "x3"),
                        only_for={"x1": (2,)})


def _maximum(x, y):
    return x if (x > y or x != x) else y


def _minimum(x, y):
    return x if (x < y or x != x) else y


def _extremum_vjp(needs, g, x, y, out):
    # Ties split the gradient evenly, as PyTorch does.
    x_wins = eq(out, x)
    y_wins = eq(out, y)
    share = g / (x_wins.to(g.dtype) + y_wins.to(g.dtype))
    return (share * x_wins if needs[0] else None, share * y_wins if needs[1] else None)


MAXIMUM = ElementwiseOp("maximum", "MaximumBackward0", _maximum, _extremum_vjp, saves=("x0", "x1", "out"))
MINIMUM = ElementwiseOp("minimum", "MinimumBackward0", _minimum, _extremum_vjp, saves=("x0", "x1", "out"))


def _where(c, x, y):
    return x if c else y


def _where_vjp(needs, g, c):
    return (None,
            where(c, g, 0.0) if needs[1] else None,
            where(c, 0.0, g) if needs[2] else None)


WHERE = ElementwiseOp("where", "WhereBackward0", _where, _where_vjp, saves=("x0",))


# ================================================================ comparisons and logic

def _eq(x, y):
    return x == y


def _ne(x, y):
    return x != y


def _lt(x, y):
    return x < y


def _le(x, y):
    return x <= y


def _gt(x, y):
    return x > y


def _ge(x, y):
    return x >= y


def _logical_and(x, y):
    return bool(x) and bool(y)


def _logical_or(x, y):
    return bool(x) or bool(y)


def _logical_xor(x, y):
    return bool(x) != bool(y)


def _logical_not(x):
    return not x


def _isnan(x):
    return x != x


EQ = ElementwiseOp("eq", "EqBackward0", _eq, None, result=BOOL)
NE = ElementwiseOp("ne", "NeBackward0", _ne, None, result=BOOL)
LT = ElementwiseOp("lt", "LtBackward0", _lt, None, result=BOOL)
LE = ElementwiseOp("le", "LeBackward0", _le, None, result=BOOL)
GT = ElementwiseOp("gt", "GtBackward0", _gt, None, result=BOOL)
GE = ElementwiseOp("ge", "GeBackward0", _ge, None, result=BOOL)
LOGICAL_AND = ElementwiseOp("logical_and", "", _logical_and, None, result=BOOL)
LOGICAL_OR = ElementwiseOp("logical_or", "", _logical_or, None, result=BOOL)
LOGICAL_XOR = ElementwiseOp("logical_xor", "", _logical_xor, None, result=BOOL)
LOGICAL_NOT = ElementwiseOp("logical_not", "", _logical_not, None, result=BOOL)
ISNAN = ElementwiseOp("isnan", "", _isnan, None, result=BOOL)


def _identity(x):
    return x


# A cast: the kernel is the identity, the output dtype is given by the caller.
COPY = ElementwiseOp("copy", "ToCopyBackward0", _identity, None)


# ================================================================ public functions

def _check_tensor_like(name: str, value: Any) -> None:
    if not isinstance(value, (Tensor, bool, int, float, np.generic)):
        raise TypeError(f"{name}(): argument must be a Tensor or a number, not {type(value).__name__}")


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input + alpha * other``.

    >>> tapegrad.add(tapegrad.tensor([1., 2.]), 1)
    tensor([2., 3.])
    """
    other = _times_alpha(input, other, alpha)
    return apply(ADD, (input, other))


def _times_alpha(input: Any, other: Any, alpha: Any) -> Any:
    """``alpha * other`` for ``add``/``sub``: alpha takes the result's dtype (the operands'
    promotion, which alpha does not join), with PyTorch's refusals."""
    if alpha == 1 and not isinstance(alpha, bool):
        return other
    compute, _ = _promote(ADD, (input, other))
    if isinstance(alpha, (bool, np.bool_)) and compute.kind != "b":
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if compute.kind in "iub" and isinstance(alpha, (float, np.floating)):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    if alpha == 1:
        return other
    scaled = mul(other, alpha)
    if compute.kind == "b" and isinstance(scaled, Tensor):
        scaled = scaled.to(_dtypes.bool_)
    return scaled


def _check_bool_sub(input: Any, other: Any) -> None:
    bools = [isinstance(x, bool) or isinstance(x, Tensor) and x._data.dtype == np.bool_ for x in (input, other)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    if (type(alpha) is int and alpha == 1 and isinstance(input, Tensor) and input._data.dtype.kind == "f"
            and type(other) is not bool and not (isinstance(other, Tensor) and other._data.dtype.kind == "b")):
        # ``a - b`` or ``x - 1.0`` of a float tensor, no bool involved: the operator's fast paths.
        return _subtract(input, other)
    _check_bool_sub(input, other)
    other = _times_alpha(input, other, alpha)
    if not isinstance(input, Tensor):
        return apply(RSUB, (input, other))
    return apply(SUB, (input, other))


_subtract = SUB.binary_method()


def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    return sub(other, input, alpha=alpha)


def mul(input: Any, other: Any) -> Tensor:
    return apply(MUL, (input, other))


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode is None:
        if not isinstance(input, Tensor):
            return mul(reciprocal(other), input)
        return apply(DIV, (input, other))
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                         f"but found '{rounding_mode}'")
    state = grad_mode.state
    previous, state.enabled = state.enabled, False
    try:
        promoted, _ = _promote(ADD, (input, other))
        if promoted.kind == "b":
            raise NotImplementedError(f"\"div_{rounding_mode}_cpu\" not implemented for 'Bool'")
        if promoted.kind in "iu":
            # Integers divide exactly in integer arithmetic (through floats, int64 values past
            # 2**53 would round), and a zero divisor raises as PyTorch's CPU kernels do.
            _check_nonzero_divisor(other)
            result = apply(FLOOR_DIV_INT if rounding_mode == "floor" else TRUNC_DIV_INT, (input, other))
        else:
            quotient = apply(DIV, (input, other))
            result = floor(quotient) if rounding_mode == "floor" else \
                where(lt(quotient, 0), ceil(quotient), floor(quotient))
            if result._data.dtype != promoted:
                result = result.to(_dtypes.from_numpy_dtype(promoted))
    finally:
        state.enabled = previous
    if previous and any(isinstance(x, Tensor) and x._requires_grad for x in (input, other)):
        return record(DIV_ROUNDED, (input, other), result)
    return result


def _floor_div_int(x, y):
    return x // y  # Python's floor division, as Numba compiles it for integers


def _trunc_div_int(x, y):
    q = x // y
    if q < 0 and q * y != x:
        q += 1
    return q


FLOOR_DIV_INT = ElementwiseOp("floor_divide_int", "DivBackward2", _floor_div_int, None)
TRUNC_DIV_INT = ElementwiseOp("trunc_divide_int", "DivBackward2", _trunc_div_int, None)


def _check_nonzero_divisor(divisor: Any) -> None:
    """PyTorch's CPU error for an integer division by zero (checked on the host only: CUDA
    kernels, there as in PyTorch, do not report it)."""
    if isinstance(divisor, Tensor):
        data = divisor._data
        zero = isinstance(data, np.ndarray) and data.size and not np.all(data)
    else:
        zero = divisor == 0
    if zero:
        raise RuntimeError("ZeroDivisionError")


def _rounded_div_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    # A step function: zero gradient almost everywhere, as PyTorch gives (at each input's shape:
    # a broadcast input gets its zeros summed back to its own shape).
    return tuple(_reduce_to_input(g * 0, meta) if meta is not None and edge is not None else None
                 for meta, edge in zip(step.input_meta, step.edges))


DIV_ROUNDED = OpDef("div_rounded", "DivBackward2", _rounded_div_vjp)


def true_divide(input: Any, other: Any) -> Tensor:
    return div(input, other)


def floor_divide(input: Any, other: Any) -> Tensor:
    return div(input, other, rounding_mode="floor")


def _remainder_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    x, y = step.saved_values()
    grad_y = None
    if step.needs_input_grad(1):
        grad_y = -g * div(x, y, rounding_mode="floor")
    grads = (g if step.needs_input_grad(0) else None, grad_y)
    return tuple(_reduce_to_input(gi, meta) if gi is not None and meta is not None else None
                 for gi, meta in zip(grads, step.input_meta))


REMAINDER_SCALAR = OpDef("remainder_scalar", "RemainderBackward0", _remainder_vjp)
REMAINDER = OpDef("remainder", "RemainderBackward1", _remainder_vjp)


def remainder(input: Any, other: Any) -> Tensor:
    """Python's modulo (the result takes the divisor's sign)."""
    state = grad_mode.state
    previous, state.enabled = state.enabled, False
    try:
        result = sub(input, mul(floor_divide(input, other), other))
    finally:
        state.enabled = previous
    if previous and any(isinstance(x, Tensor) and x._requires_grad for x in (input, other)):
        op = REMAINDER if isinstance(other, Tensor) else REMAINDER_SCALAR
        return record(op, (input, other), result, saved=(input, other))
    return result


def neg(input: Tensor) -> Tensor:
    if isinstance(input, Tensor) and input._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return apply(NEG, (input,))


def reciprocal(input: Tensor) -> Tensor:
    return apply(RECIPROCAL, (input,))


def pow(input: Any, exponent: Any) -> Tensor:
    if (type(exponent) is int or type(exponent) is float) and isinstance(input, Tensor):
        # ``x ** 2`` on a small float tensor: a Python number never promotes it (the fast path
        # takes float tensors only).
        result = _tensor_scalar(POW_SCALAR, input, exponent)
        if result is not None:
            return result
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        if input._data.dtype.kind in "iub" and isinstance(exponent, int) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
    if np.dtype(_promote(INTEGER_POW, (input, exponent))[0]).kind in "iub":
        return apply(INTEGER_POW, (input, exponent))
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        return apply(POW_SCALAR, (input, exponent))
    if not isinstance(input, Tensor):
        return apply(RPOW, (input, exponent))
    return apply(POW, (input, exponent))


def square(input: Tensor) -> Tensor:
    return pow(input, 2)


def abs(input: Tensor) -> Tensor:
    return apply(ABS, (input,))


def exp(input: Tensor) -> Tensor:
    return apply(EXP, (input,))


def log(input: Tensor) -> Tensor:
    return apply(LOG, (input,))


def log1p(input: Tensor) -> Tensor:
    return apply(LOG1P, (input,))


def expm1(input: Tensor) -> Tensor:
    return apply(EXPM1, (input,))


def sqrt(input: Tensor) -> Tensor:
    return apply(SQRT, (input,))


def rsqrt(input: Tensor) -> Tensor:
    return apply(RSQRT, (input,))


def sin(input: Tensor) -> Tensor:
    return apply(SIN, (input,))


def cos(input: Tensor) -> Tensor:
    return apply(COS, (input,))


def tanh(input: Tensor) -> Tensor:
    return apply(TANH, (input,))


def sigmoid(input: Tensor) -> Tensor:
    return apply(SIGMOID, (input,))


def relu(input: Tensor) -> Tensor:
    if isinstance(input, Tensor) and input._data.dtype is _BOOL:  # identity: the cheapest test on a hot path
        raise RuntimeError("Boolean inputs not supported for relu")
    return apply(RELU, (input,))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return apply(SOFTPLUS, (input, float(beta), float(threshold)))


def _check_floating(kernel: str, input: Tensor) -> None:
    """PyTorch's error for a floating-point-only kernel given an integer or bool tensor."""
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{input.dtype.scalar_name}'")


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    >>> tapegrad.ops.elementwise.leaky_relu(tapegrad.tensor([-2., 3.]), 0.5)
    tensor([-1.,  3.])
    """
    _check_floating("leaky_relu_cpu", input)
    return apply(LEAKY_RELU, (input, negative_slope))


def _hardtanh_bounds(input: Tensor, min_val: Any, max_val: Any) -> tuple[Any, Any]:
    if input._data.dtype == np.bool_:
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if input._data.dtype.kind in "iu":
        # The bounds are cast to the integer dtype (truncated), so the result stays an integer.
        return int(min_val), int(max_val)
    return min_val, max_val


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``input`` clamped to ``[min_val, max_val]``, with zero gradient on the bounds.

    >>> tapegrad.ops.elementwise.hardtanh(tapegrad.tensor([-2., 0.5, 3.]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    return apply(HARDTANH, (input,) + _hardtanh_bounds(input, min_val, max_val))


def elu(input: Tensor, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Tensor:
    """``scale * x`` where ``x > 0``, else ``scale * alpha * (exp(input_scale * x) - 1)``."""
    _check_floating("elu_cpu", input)
    return apply(ELU, (input, alpha, scale, input_scale))


# SELU's constants (Klambauer et al.), as PyTorch spells them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor) -> Tensor:
    """``elu`` with the self-normalising constants ``SELU_ALPHA`` and ``SELU_SCALE``."""
    _check_floating("elu_cpu", input)
    return apply(ELU, (input, SELU_ALPHA, SELU_SCALE, 1.0))


def _celu_input_scale(alpha: float) -> float:
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return 1.0 / alpha


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    _check_floating("elu_cpu", input)
    return apply(CELU, (input, alpha, 1.0, _celu_input_scale(alpha)))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` (Phi the standard normal CDF), or its tanh approximation.

    >>> tapegrad.ops.elementwise.gelu(tapegrad.tensor([-1., 0., 1.]))
    tensor([-0.1587,  0.0000,  0.8413])
    """
    if approximate == "none":
        op = GELU
    elif approximate == "tanh":
        op = GELU_TANH
    else:
        raise RuntimeError("approximate argument must be either none or tanh.")
    _check_floating("GeluKernelImpl", input)
    return apply(op, (input,))


def silu(input: Tensor) -> Tensor:
    """``x * sigmoid(x)`` (also known as swish)."""
    _check_floating("silu_cpu", input)
    return apply(SILU, (input,))


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, computed without overflow."""
    _check_floating("log_sigmoid_cpu", input)
    return apply(LOGSIGMOID, (input,))


def hardsigmoid(input: Tensor) -> Tensor:
    """``min(max(x + 3, 0), 6) / 6``."""
    _check_floating("hardsigmoid_cpu", input)
    return apply(HARDSIGMOID, (input,))


def hardswish(input: Tensor) -> Tensor:
    """``x * hardsigmoid(x)``."""
    _check_floating("hardswish_cpu", input)
    return apply(HARDSWISH, (input,))


def mish(input: Tensor) -> Tensor:
    """``x * tanh(softplus(x))``."""
    _check_floating("mish_cpu", input)
    return apply(MISH, (input,))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, zero between."""
    _check_floating("softshrink_check", input)
    largest = float(np.finfo(input._data.dtype).max)
    if not 0 <= lambd <= largest:
        raise RuntimeError(f"lambda must be in range [0, {largest:g}] for input dtype {input.dtype.scalar_name}, "
                           f"but found {lambd:g}")
    return apply(SOFTSHRINK, (input, float(lambd)))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` outside ``[-lambd, lambd]``, zero inside."""
    _check_floating("hardshrink_cpu", input)
    return apply(HARDSHRINK, (input, float(lambd)))


def _threshold_operands(input: Tensor, threshold: Any, value: Any) -> tuple[Any, ...]:
    """PyTorch's ``threshold`` operands: integer tensors take the numbers truncated to their dtype."""
    if input._data.dtype == np.bool_:
        raise NotImplementedError("\"threshold_cpu\" not implemented for 'Bool'")
    if input._data.dtype.kind in "iu":
        return input, int(threshold), int(value)
    return input, float(threshold), float(value)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """``value`` where ``input <= threshold``, else ``input``.

    >>> tapegrad.ops.elementwise.threshold(tapegrad.tensor([-1., 2.]), 0.5, 9.)
    tensor([9., 2.])
    """
    return apply(THRESHOLD, _threshold_operands(input, threshold, value))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``input`` where positive, else ``weight * input``, ``weight`` holding one slope or one per
    channel (dim 1).

    >>> tapegrad.ops.elementwise.prelu(tapegrad.tensor([-2., 3.]), tapegrad.tensor([0.25]))
    tensor([-0.5000,  3.0000])
    """
    _check_floating("prelu_cpu", input)
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if weight.dtype != input.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {input.dtype.scalar_name} and "
                           f"{weight.dtype.scalar_name}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1:
        if weight.numel() != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{weight.numel()} and channel size = {channels}.")
        weight = weight.reshape((channels,) + (1,) * (input.ndim - 2))
    elif input.ndim < weight.ndim:
        weight = weight.reshape(())  # a one-element slope must not widen a 0-d input
    return apply(PRELU, (input, weight))


def erf(input: Tensor) -> Tensor:
    """The error function, elementwise (integers and bools give the default float dtype).

    >>> tapegrad.ops.elementwise.erf(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 0.8427])
    """
    return apply(ERF, (input,))


def sign(input: Tensor) -> Tensor:
    return apply(SIGN, (input,))


def floor(input: Tensor) -> Tensor:
    return apply(FLOOR, (input,))


def ceil(input: Tensor) -> Tensor:
    return apply(CEIL, (input,))


def round(input: Tensor, *, decimals: int | None = None) -> Tensor:
    """Round half to even; with ``decimals``, to that many decimal places (negative: to tens,
    hundreds, ...), scaling by ``10 ** |decimals|`` in the input's dtype as PyTorch does."""
    if decimals is None:
        return apply(ROUND, (input,))
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round(): argument 'decimals' must be int, not {type(decimals).__name__}")
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f'"round_cpu" not implemented for \'{input.dtype.scalar_name}\'')
    scale = input._data.dtype.type(10.0 ** abs(decimals))
    data = input._data
    if isinstance(data, np.ndarray) and trace.ACTIVE is None:
        # NumPy's correctly rounded division (the kernels' may be a ulp off): PyTorch's values.
        # (A compiled step records the ops of the other branch.)
        result = _wrap(np.asarray(np.rint(data * scale) / scale if decimals >= 0
                                  else np.rint(data / scale) * scale))
    else:
        previous = grad_mode.state.enabled
        grad_mode.state.enabled = False
        try:
            result = (apply(ROUND, (input * scale,)) / scale if decimals >= 0
                      else apply(ROUND, (input / scale,)) * scale)
        finally:
            grad_mode.state.enabled = previous
    if grad_mode.state.enabled and input._requires_grad:
        return record(ROUND_DECIMALS, (input,), result)
    return result


# The gradient of rounding is zero almost everywhere.
ROUND_DECIMALS = OpDef("round_decimals", "RoundBackward1", lambda step, g: (g * 0,))


def _bound(value: Any, data: np.ndarray, upper: bool) -> Any:
    if value is not None:
        if isinstance(value, float) and data.dtype.kind != "f":
            return value  # the result is promoted to a float dtype, which holds the bound
        return _dtypes.checked_scalar(value, data.dtype)
    if data.dtype.kind == "f":
        return math.inf if upper else -math.inf
    info = np.iinfo(data.dtype)
    return int(info.max if upper else info.min)


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        low = min if min is not None else _bound(None, input._data, False)
        high = max if max is not None else _bound(None, input._data, True)
        return apply(CLAMP_TENSOR, (input, low, high))
    return apply(CLAMP, (input, _bound(min, input._data, False), _bound(max, input._data, True)))


def clamp_min(input: Tensor, min: Any) -> Tensor:
    if isinstance(min, Tensor) or min is None:
        return clamp(input, min=min)
    return apply(CLAMP_MIN, (input, _bound(min, input._data, False), _bound(None, input._data, True)))


def clamp_max(input: Tensor, max: Any) -> Tensor:
    if isinstance(max, Tensor) or max is None:
        return clamp(input, max=max)
    return apply(CLAMP_MAX, (input, _bound(None, input._data, False), _bound(max, input._data, True)))


def xlogy(input: Any, other: Any) -> Tensor:
    """``input * log(other)``, zero where ``input`` is zero (the entropy term ``t log t``).

    >>> tapegrad.xlogy(tapegrad.tensor([0., 2.]), tapegrad.tensor([0., 3.]))
    tensor([0.0000, 2.1972])
    """
    op, operands = xlogy_operands(input, other)
    return apply(op, operands)


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """``input + weight * (end - input)``; ``weight`` a number or a tensor (floats only).

    >>> tapegrad.lerp(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 5.]), 0.5)
    tensor([2.0000, 3.5000])
    """
    _check_floating("lerp_kernel_scalar" if not isinstance(weight, Tensor) else "lerp_kernel_tensor", input)
    return apply(LERP_TENSOR if isinstance(weight, Tensor) else LERP, (input, end, weight))


def addcmul_operands(input: Tensor, tensor1: Any, tensor2: Any, value: Any) -> tuple[Any, ...]:
    """The operands of ``ADDCMUL`` (for ``addcmul`` and ``addcmul_``): for integer tensors the
    number takes their dtype, truncated, as in PyTorch."""
    if _promote(ADD, (input, tensor1, tensor2))[1].kind != "f":
        value = int(value)
    return input, tensor1, tensor2, value


def addcdiv_operands(input: Tensor, tensor1: Any, tensor2: Any, value: Any) -> tuple[Any, ...]:
    """The operands of ``ADDCDIV`` (for ``addcdiv`` and ``addcdiv_``), refusing integer division."""
    if all(not isinstance(t, Tensor) or t._data.dtype.kind in "biu" for t in (tensor1, tensor2)):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform a "
            "true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as (input + "
            "value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as (input + value * "
            "tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter implementation: "
            "(input + value * tensor1 / tensor2), for all dtypes.")
    return input, tensor1, tensor2, value


def addcmul(input: Tensor, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """``input + value * tensor1 * tensor2``.

    >>> tapegrad.addcmul(tapegrad.tensor([1., 1.]), tapegrad.tensor([2., 3.]), tapegrad.tensor([4., 5.]), value=0.5)
    tensor([5.0000, 8.5000])
    """
    return apply(ADDCMUL, addcmul_operands(input, tensor1, tensor2, value))


def addcdiv(input: Tensor, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (floats only, as in PyTorch).

    >>> tapegrad.addcdiv(tapegrad.tensor([1., 1.]), tapegrad.tensor([2., 3.]), tapegrad.tensor([4., 6.]))
    tensor([1.5000, 1.5000])
    """
    return apply(ADDCDIV, addcdiv_operands(input, tensor1, tensor2, value))


def maximum(input: Tensor, other: Tensor) -> Tensor:
    return apply(MAXIMUM, (input, other))


def minimum(input: Tensor, other: Tensor) -> Tensor:
    return apply(MINIMUM, (input, other))


def where(condition: Tensor, input: Any = None, other: Any = None) -> Tensor:
    if input is None and other is None:
        from .index import nonzero

        return nonzero(condition, as_tuple=True)
    if isinstance(condition, Tensor) and condition._data.dtype == np.uint8:
        warn_user("where received a uint8 condition tensor. This behavior is deprecated and will be removed in "
                  "a future version of tapegrad. Use a boolean condition instead.", UserWarning)
        condition = condition.ne(0)
    if not isinstance(condition, Tensor) or condition._data.dtype != np.bool_:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{condition.dtype if isinstance(condition, Tensor) else type(condition).__name__}")
    return apply(WHERE, (condition, input, other))


def eq(input: Any, other: Any) -> Tensor:
    return apply(EQ, (input, other))


def ne(input: Any, other: Any) -> Tensor:
    return apply(NE, (input, other))


def lt(input: Any, other: Any) -> Tensor:
    return apply(LT, (input, other))


def le(input: Any, other: Any) -> Tensor:
    return apply(LE, (input, other))


def gt(input: Any, other: Any) -> Tensor:
    return apply(GT, (input, other))


def ge(input: Any, other: Any) -> Tensor:
    return apply(GE, (input, other))


def logical_and(input: Any, other: Any) -> Tensor:
    return apply(LOGICAL_AND, (input, other))


def logical_or(input: Any, other: Any) -> Tensor:
    return apply(LOGICAL_OR, (input, other))


def logical_xor(input: Any, other: Any) -> Tensor:
    return apply(LOGICAL_XOR, (input, other))


def logical_not(input: Tensor) -> Tensor:
    return apply(LOGICAL_NOT, (input,))


def isnan(input: Tensor) -> Tensor:
    return apply(ISNAN, (input,))


def eq_all(input: Tensor, other: Tensor) -> bool:
    """``torch.equal``: same shape and all elements equal."""
    if isinstance(input._data, np.ndarray) and isinstance(other._data, np.ndarray):
        return input.shape == other.shape and bool(np.array_equal(input._data, other._data))
    if input.device != other.device:
        from .pointwise import _SAME_DEVICE

        raise RuntimeError(_SAME_DEVICE)
    # The answer is a Python bool, so it is read on the host anyway.
    return input.shape == other.shape and bool(np.array_equal(input.cpu()._data, other.cpu()._data))


def _cuda_ops() -> Any:
    from ..cuda import _ops

    return _ops


def cast(input: Tensor, dtype: _dtypes.dtype) -> Tensor:
    """A copy of ``input`` in ``dtype`` (grad flows back, cast to the input's dtype)."""
    if dtype.category == 1 and dtype.itemsize < 4 and input._data.dtype.kind == "f":
        # PyTorch converts floats to int8, uint8 and int16 through int32, wrapping around the
        # narrow range (300. -> 44 in uint8) where a direct conversion would saturate.
        input = cast(input, _dtypes.int32)
    if isinstance(input._data, np.ndarray):
        data = cpu.elementwise(_identity, [input._data], input._data.shape, dtype.numpy)
    else:
        data = _cuda_ops().cast(input._data, dtype.numpy)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, (input,), data, (rules.identity, dtype.numpy))
    result = _wrap(data)
    if dtype.is_floating_point and grad_mode.state.enabled and input._requires_grad:
        return record(TO_COPY, (input,), result)
    return result


def _to_copy_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    dtype = _dtypes.from_numpy_dtype(step.input_meta[0][1])
    if step.attrs is None:
        return (cast(g, dtype),)
    from .movement import to

    return (to(g, step.attrs, dtype),)  # attrs: the device the input came from


# A dtype cast (attrs None) or a move between devices (attrs: the source device).

TO_COPY = OpDef("to_copy", "ToCopyBackward0", _to_copy_vjp)


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    if memory_format is None or memory_format is _formats.preserve_format:
        # preserve_format, the default: a channels-last input stays channels-last.
        dims = _formats.suggested(input._data) if input._data.ndim >= 4 else None
    else:
        dims = _formats.order(_formats.check(memory_format, "clone"), input._data.ndim)
    if dims is not None:
        data = _formats.laid_out(input._data, dims)
    elif isinstance(input._data, np.ndarray):
        data = cpu.elementwise(_identity, [input._data], input._data.shape, input._data.dtype)
    else:
        data = _cuda_ops().contiguous_copy(input._data)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.ELEMENTWISE, (input,), data, (rules.identity, input._data.dtype))
    result = _wrap(data)
    if grad_mode.state.enabled and input._requires_grad:
        return record(CLONE, (input,), result)
    return result


CLONE = OpDef("clone", "CloneBackward0", lambda step, g: (g,))


clip = clamp


# ================================================================ more maths
# Trigonometric, hyperbolic, exponential and special functions, and IEEE helpers (copysign,
# nextafter, the classifications), as ops and as the public functions after them.
#
# The CUDA backend pastes each scalar definition into a generated module that holds only
# ``math``, ``np`` and the names of ``scalar_math``: a definition calls nothing else from this
# module, so the special functions (digamma, polygamma, erfinv) are written out in one function
# each. They follow PyTorch's algorithms (Cephes' digamma and Hurwitz zeta, a rational first
# guess for erfinv refined by two Newton steps), computed in float64, so that values and
# gradients agree with PyTorch to a few ulp, special values included.

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046


def _tan(x):
    return math.tan(x)


def _tan_vjp(needs, g, out):
    return (g * (out * out + 1),)


TAN = ElementwiseOp("tan", "TanBackward0", _tan, _tan_vjp, saves=("out",), result=FLOAT)


def _asin(x):
    return math.asin(x)


def _asin_vjp(needs, g, x):
    return (g * rsqrt(1 - x * x),)


ASIN = ElementwiseOp("asin", "AsinBackward0", _asin, _asin_vjp, saves=("x0",), result=FLOAT)


def _acos(x):
    return math.acos(x)


def _acos_vjp(needs, g, x):
    return (neg(g) * rsqrt(1 - x * x),)


ACOS = ElementwiseOp("acos", "AcosBackward0", _acos, _acos_vjp, saves=("x0",), result=FLOAT)


def _atan(x):
    return math.atan(x)


def _atan_vjp(needs, g, x):
    return (g / (x * x + 1),)


ATAN = ElementwiseOp("atan", "AtanBackward0", _atan, _atan_vjp, saves=("x0",), result=FLOAT)


def _sinh(x):
    return math.sinh(x)


def _sinh_vjp(needs, g, x):
    return (g * cosh(x),)


SINH = ElementwiseOp("sinh", "SinhBackward0", _sinh, _sinh_vjp, saves=("x0",), result=FLOAT)


def _cosh(x):
    return math.cosh(x)


def _cosh_vjp(needs, g, x):
    return (g * sinh(x),)


COSH = ElementwiseOp("cosh", "CoshBackward0", _cosh, _cosh_vjp, saves=("x0",), result=FLOAT)


def _asinh(x):
    return math.asinh(x)


def _asinh_vjp(needs, g, x):
    return (g * rsqrt(x * x + 1),)


ASINH = ElementwiseOp("asinh", "AsinhBackward0", _asinh, _asinh_vjp, saves=("x0",), result=FLOAT)


def _acosh(x):
    return math.acosh(x)


def _acosh_vjp(needs, g, x):
    return (g * rsqrt(x * x - 1),)


ACOSH = ElementwiseOp("acosh", "AcoshBackward0", _acosh, _acosh_vjp, saves=("x0",), result=FLOAT)


def _atanh(x):
    return math.atanh(x)


def _atanh_vjp(needs, g, x):
    return (g / (1 - x * x),)


ATANH = ElementwiseOp("atanh", "AtanhBackward0", _atanh, _atanh_vjp, saves=("x0",), result=FLOAT)


def _inplace_derivative_missing(name: str) -> Any:
    def rule(needs, g, *unused):
        raise NotImplementedError(f"the derivative for 'inplace version of {name}' is not implemented.")

    return rule


# PyTorch has no derivative for the in-place inverse hyperbolic functions: their steps refuse
# to run backward, under names of their own.
ASINH_ = ElementwiseOp("asinh_", "AsinhBackward1", _asinh, _inplace_derivative_missing("asinh"), result=FLOAT)
ACOSH_ = ElementwiseOp("acosh_", "AcoshBackward1", _acosh, _inplace_derivative_missing("acosh"), result=FLOAT)
ATANH_ = ElementwiseOp("atanh_", "AtanhBackward1", _atanh, _inplace_derivative_missing("atanh"), result=FLOAT)


def _atan2(y, x):
    return math.atan2(y, x)


def _atan2_vjp(needs, g, y, x):
    # PyTorch zeroes 1 / (y**2 + x**2) where it is infinite, so the origin gets a zero gradient.
    squares = y * y + x * x
    scale = where(eq(squares, 0), 0.0, reciprocal(squares))
    return (g * x * scale if needs[0] else None, neg(g) * y * scale if needs[1] else None)


ATAN2 = ElementwiseOp("atan2", "Atan2Backward0", _atan2, _atan2_vjp, saves=("x0", "x1"), result=FLOAT)


def _log2(x):
    return math.log2(x)


def _log2_vjp(needs, g, x):
    return (g / (x * _LN2),)


LOG2 = ElementwiseOp("log2", "Log2Backward0", _log2, _log2_vjp, saves=("x0",), result=FLOAT)


def _log10(x):
    return math.log10(x)


def _log10_vjp(needs, g, x):
    return (g / (x * _LN10),)


LOG10 = ElementwiseOp("log10", "Log10Backward0", _log10, _log10_vjp, saves=("x0",), result=FLOAT)


def _exp2(x):
    return math.pow(type(x)(2), x)  # in x's type: float32 stays float32, as in PyTorch


def _exp2_vjp(needs, g, out):
    return (g * out * _LN2,)


EXP2 = ElementwiseOp("exp2", "Exp2Backward0", _exp2, _exp2_vjp, saves=("out",), result=FLOAT)


def _trunc(x):
    # float_floor/float_ceil keep x's float type; math.trunc would make an int64, which overflows.
    return float_floor(x) if x >= 0 else float_ceil(x)


def _frac(x):
    return x - (float_floor(x) if x >= 0 else float_ceil(x))


def _identity_vjp(needs, g):
    return (g,)


TRUNC = ElementwiseOp("trunc", "TruncBackward0", _trunc, _zero_vjp)
FRAC = ElementwiseOp("frac", "FracBackward0", _frac, _identity_vjp)


def _fmod(x, y):
    # C's fmod: the magnitudes' remainder (exact, and the same under Python's modulo, which both
    # backends lower) with the dividend's sign.
    return math.copysign(abs(x) % abs(y), x)


def _fmod_integer(x, y):
    r = abs(x) % abs(y)
    return -r if x < 0 else r


def _fmod_vjp(needs, g, x, y):
    return (g if needs[0] else None,
            neg(g) * div(x, y, rounding_mode="trunc") if needs[1] else None)


FMOD = ElementwiseOp("fmod", "FmodBackward1", _fmod, _fmod_vjp, saves=("x0", "x1"), only_for={"x0": (1,), "x1": (1,)})
FMOD_SCALAR = FMOD.renamed("fmod_scalar", "FmodBackward0")
FMOD_INTEGER = ElementwiseOp("fmod_integer", "", _fmod_integer, None)


def _hypot(x, y):
    return math.hypot(x, y)


def _hypot_vjp(needs, g, x, y, out):
    return (g * x / out if needs[0] else None, g * y / out if needs[1] else None)


HYPOT = ElementwiseOp("hypot", "HypotBackward0", _hypot, _hypot_vjp, saves=("x0", "x1", "out"),
                      only_for={"x0": (0,), "x1": (1,)})


def _logaddexp(x, y):
    # As PyTorch: two equal infinities give themselves (the formula would give inf - inf = nan).
    if x == y and (x == math.inf or x == -math.inf):
        return x
    top = y if x < y else x
    return top + fast_log1p(fast_exp(-abs(x - y)))


def _logaddexp_vjp(needs, g, x, y):
    # d/dx = 1 / (1 + exp(y - x)) = sigmoid(x - y).
    return (g * sigmoid(x - y) if needs[0] else None, g * sigmoid(y - x) if needs[1] else None)


LOGADDEXP = ElementwiseOp("logaddexp", "LogaddexpBackward0", _logaddexp, _logaddexp_vjp, saves=("x0", "x1"))


def _logaddexp2(x, y):
    if x == y and (x == math.inf or x == -math.inf):
        return x
    top = y if x < y else x
    # log2(1 + 2**-d) = log1p(exp(-d ln 2)) / ln 2, with the constants in x's type
    return top + fast_log1p(fast_exp(-abs(x - y) * type(x)(0.6931471805599453))) * type(x)(1.4426950408889634)


def _logaddexp2_vjp(needs, g, x, y):
    # d/dx = 1 / (1 + 2**(y - x)) = sigmoid((x - y) ln 2).
    return (g * sigmoid((x - y) * _LN2) if needs[0] else None,
            g * sigmoid((y - x) * _LN2) if needs[1] else None)


LOGADDEXP2 = ElementwiseOp("logaddexp2", "Logaddexp2Backward0", _logaddexp2, _logaddexp2_vjp, saves=("x0", "x1"))


def _erfc(x):
    return math.erfc(x)


def _erfc_vjp(needs, g, x):
    return (g * exp(x * x * -1) * -1.1283791670955126,)  # -2 / sqrt(pi)


ERFC = ElementwiseOp("erfc", "ErfcBackward0", _erfc, _erfc_vjp, saves=("x0",), result=FLOAT)


def _erfinv(y):
    # PyTorch's algorithm (after G. L. Pavlis): a rational approximation, central or tail, then
    # two Newton steps on erf(x) - y, which bring it to full float64 accuracy.
    y_abs = abs(y)
    if not y_abs <= 1.0:
        return math.nan  # |y| > 1, or nan
    if y_abs == 1.0:
        return math.copysign(math.inf, y)
    if y_abs == 0.0:
        return y  # +-0 itself: the arithmetic below may lose the sign under the kernels' 'nsz' flag
    if y_abs <= 0.7:
        z = y * y
        num = ((-0.140543331 * z + 0.914624893) * z - 1.645349621) * z + 0.886226899
        dem = (((0.012229801 * z - 0.329097515) * z + 1.442710462) * z - 2.118377725) * z + 1.0
        x = y * num / dem
    else:
        z = math.sqrt(-math.log((1.0 - y_abs) / 2.0))
        num = ((1.641345311 * z + 3.429567803) * z - 1.624906493) * z - 1.970840454
        dem = (1.6370678 * z + 3.5438892) * z + 1.0
        x = math.copysign(num, y) / dem
    x = x - (math.erf(x) - y) / (1.1283791670955126 * math.exp(-x * x))  # erf' = 2 / sqrt(pi) exp(-x**2)
    x = x - (math.erf(x) - y) / (1.1283791670955126 * math.exp(-x * x))
    return x


def _erfinv_vjp(needs, g, out):
    return (g * exp(out * out) * 0.886226925452758,)  # sqrt(pi) / 2


ERFINV = ElementwiseOp("erfinv", "ErfinvBackward0", _erfinv, _erfinv_vjp, saves=("out",), result=FLOAT)


def _lgamma(x):
    return math.lgamma(x)


def _lgamma_vjp(needs, g, x):
    return (g * digamma(x),)


LGAMMA = ElementwiseOp("lgamma", "LgammaBackward0", _lgamma, _lgamma_vjp, saves=("x0",), result=FLOAT)


def _digamma(x):
    # Cephes' digamma as PyTorch has it: +-inf at +-0 (the sign of 1 / x reversed), nan at the
    # negative integers, the reflection psi(x) = psi(1 - x) - pi / tan(pi r) below zero (r the
    # fractional part of x, which keeps tan accurate), the recurrence psi(x) = psi(x + 1) - 1 / x
    # up to 10, and the asymptotic series from there.
    if x == 0:
        return math.copysign(math.inf, -x)
    reflection = 0.0
    if x < 0:
        if x == float_floor(x):
            return math.nan  # also for -inf
        reflection = -math.pi / math.tan(math.pi * (x - float_ceil(x)))
        x = 1.0 - x
    result = 0.0
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    if x == 10.0:
        return result + 2.25175258906672110764 + reflection  # psi(10)
    tail = 0.0
    if x < 1.0e17:
        z = 1.0 / (x * x)
        tail = z * ((((((8.33333333333333333333e-2 * z - 2.10927960927960927961e-2) * z + 7.57575757575757575758e-3)
                        * z - 4.16666666666666666667e-3) * z + 3.96825396825396825397e-3) * z
                      - 8.33333333333333333333e-3) * z + 8.33333333333333333333e-2)
    return result + math.log(x) - 0.5 / x - tail + reflection


def _digamma_vjp(needs, g, x):
    return (g * TRIGAMMA(x),)


DIGAMMA = ElementwiseOp("digamma", "DigammaBackward0", _digamma, _digamma_vjp, saves=("x0",), result=FLOAT)


def _trigamma(x):
    # PyTorch's trigamma: the reflection psi1(x) = pi**2 / sin(pi x)**2 - psi1(1 - x) below 1/2,
    # six steps of the recurrence, then the asymptotic series to the x**-7 term. Its truncation
    # error (up to ~5e-10 relative near x = 1/2) is PyTorch's too: gradients agree with it.
    sign = 1.0
    result = 0.0
    if x < 0.5:
        sign = -1.0
        s = math.sin(math.pi * x)
        result -= math.pi * math.pi / (s * s)
        x = 1.0 - x
    for _ in range(6):
        result += 1.0 / (x * x)
        x += 1.0
    ixx = 1.0 / (x * x)
    result += (1.0 + 1.0 / (2.0 * x) + ixx * (1.0 / 6.0 - ixx * (1.0 / 30.0 - ixx * (1.0 / 42.0)))) / x
    return sign * result


def _trigamma_vjp(needs, g, x):
    return (g * POLYGAMMA(x, 2),)


TRIGAMMA = ElementwiseOp("trigamma", "PolygammaBackward0", _trigamma, _trigamma_vjp, saves=("x0",), result=FLOAT)


def _polygamma(x, n):
    # For n >= 2: (-1)**(n + 1) n! zeta(n + 1, x), with the Hurwitz zeta function summed as in
    # Cephes (and PyTorch): terms up to x + 9 at least, then Euler-Maclaurin with the Bernoulli
    # numbers in ``bernoulli``, (2j)! / B_2j. Infinite at the poles x = 0, -1, -2, ...
    s = n + 1.0
    factor = math.exp(math.lgamma(s))
    if int(n) % 2 == 0:
        factor = -factor
    if x <= 0 and x == float_floor(x):
        return factor * math.inf
    epsilon = 1.11022302462515654042e-16
    total = math.pow(x, -s)
    a = x
    i = 0
    b = 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = math.pow(a, -s)
        total += b
        if -epsilon * total < b and b < epsilon * total:
            return factor * total
    w = a
    total += b * w / (s - 1.0)
    total -= 0.5 * b
    bernoulli = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
                 -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
                 1.8152105401943546773e17, -7.1661652561756670113e18)
    a = 1.0
    k = 0.0
    for j in range(12):
        a *= s + k
        b /= w
        t = a * b / bernoulli[j]
        total = total + t
        if abs(t / total) < epsilon:
            return factor * total
        k += 1.0
        a *= s + k
        b /= w
        k += 1.0
    return factor * total


def _polygamma_vjp(needs, g, x, n):
    return g * POLYGAMMA(x, n + 1), None


POLYGAMMA = ElementwiseOp("polygamma", "PolygammaBackward0", _polygamma, _polygamma_vjp, saves=("x0", "x1"),
                          result=FLOAT)
# polygamma(0, x) is digamma under polygamma's name; the in-place forms have names of their own.
DIGAMMA_AS_POLYGAMMA = DIGAMMA.renamed("polygamma0", "PolygammaBackward0")
POLYGAMMA_INPLACE = (DIGAMMA.renamed("polygamma0_", "PolygammaBackward1"),
                     TRIGAMMA.renamed("polygamma1_", "PolygammaBackward1"),
                     POLYGAMMA.renamed("polygamma_", "PolygammaBackward1"))


def _logit(x, low, high):
    # low < 0: no eps, log(x / (1 - x)) as it is; else x is first clamped to [eps, 1 - eps].
    if low >= 0:
        x = low if x < low else (high if x > high else x)
    return math.log(x / (type(x)(1) - x))


def _logit_backward(g, x, low, high):
    # PyTorch's logit_backward: zero outside [eps, 1 - eps] (nan outside [0, 1] without eps),
    # g * inf at 0 and 1.
    one = type(x)(1)
    if low >= 0:
        if x < low or x > high:
            return type(g)(0)
    elif x < 0 or x > one:
        return type(g)(math.nan)
    if x == 0 or x == one:
        return g * type(g)(math.inf)
    return g / (x * (one - x))


def _logit_backward_vjp(needs, gg, g, x, low, high):
    grad_x = None
    if needs[1]:
        # d/dx 1 / (x (1 - x)) = (2x - 1) / (x (1 - x))**2, masked as the first derivative is
        # (dividing twice by the masked op keeps the clamped ends at 0, not 0 / 0).
        grad_x = LOGIT_BACKWARD(LOGIT_BACKWARD(gg * g * (x * 2 - 1), x, low, high), x, low, high)
    return LOGIT_BACKWARD(gg, x, low, high) if needs[0] else None, grad_x, None, None


LOGIT_BACKWARD = ElementwiseOp("logit_backward", "LogitBackwardBackward0", _logit_backward, _logit_backward_vjp,
                               saves=("x0", "x1", "x2", "x3"), only_for={"x0": (1,)})


def _logit_vjp(needs, g, x, low, high):
    return LOGIT_BACKWARD(g, x, low, high), None, None


LOGIT = ElementwiseOp("logit", "LogitBackward0", _logit, _logit_vjp, saves=("x0", "x1", "x2"), result=FLOAT)


def _sinc(x):
    if x == 0:
        return type(x)(1)
    product = type(x)(math.pi) * x  # in x's type, as PyTorch computes it
    return math.sin(product) / product


def _sinc_vjp(needs, g, x):
    # (pi x cos(pi x) - sin(pi x)) / (pi x**2), and 0 at 0 (where the slope is 0), as PyTorch.
    product = x * math.pi
    slope = (cos(product) * product - sin(product)) / (product * x)
    return (g * where(eq(x, 0), 0.0, slope),)


SINC = ElementwiseOp("sinc", "SincBackward0", _sinc, _sinc_vjp, saves=("x0",), result=FLOAT)


def _deg2rad(x):
    # The constant in x's type, as PyTorch multiplies (float32 stays float32).
    return x * type(x)(0.017453292519943295)


def _deg2rad_vjp(needs, g):
    return (g * 0.017453292519943295,)


DEG2RAD = ElementwiseOp("deg2rad", "Deg2RadBackward0", _deg2rad, _deg2rad_vjp, result=FLOAT)


def _rad2deg(x):
    return x * type(x)(57.29577951308232)


def _rad2deg_vjp(needs, g):
    return (g * 57.29577951308232,)


RAD2DEG = ElementwiseOp("rad2deg", "Rad2DegBackward0", _rad2deg, _rad2deg_vjp, result=FLOAT)


def _copysign(x, y):
    return math.copysign(x, y)


def _copysign_vjp(needs, g, x, out):
    # d/dx is the sign ratio out / x, taken as 0 at x = 0; the sign source gets a zero gradient.
    return (g * where(eq(x, 0), 0.0, out / x) if needs[0] else None, g * 0 if needs[1] else None)


COPYSIGN = ElementwiseOp("copysign", "CopysignBackward0", _copysign, _copysign_vjp, saves=("x0", "out"),
                         result=FLOAT, only_for={"x0": (0,), "out": (0,)})
COPYSIGN_SCALAR = COPYSIGN.renamed("copysign_scalar", "CopysignBackward1")


def _heaviside(x, values):
    if x == 0:
        return values
    return type(x)(1) if x > 0 else type(x)(0)  # nan gives 0, as PyTorch


def _heaviside_vjp(needs, g, *unused):
    raise RuntimeError("derivative for aten::heaviside is not implemented")


def _heaviside_inplace_vjp(needs, g, *unused):
    raise RuntimeError("derivative for aten::heaviside_ is not implemented")


# PyTorch records heaviside with a step that refuses to run backward: so does tapegrad.
HEAVISIDE = ElementwiseOp("heaviside", "torch::autograd::NotImplemented", _heaviside, _heaviside_vjp)
HEAVISIDE_ = ElementwiseOp("heaviside_", "torch::autograd::NotImplemented", _heaviside, _heaviside_inplace_vjp)


def _nextafter(x, y, smallest, digits, largest):
    # The next float after x towards y, in the dtype that ``smallest`` (its least subnormal),
    # ``digits`` (its significand bits) and ``largest`` describe; frexp gives x's binade.
    if x != x or y != y:
        return x + y
    if x == y:
        return y
    if x == 0:
        return math.copysign(smallest, y)
    if x == math.inf or x == -math.inf:
        return math.copysign(largest, x)
    mantissa, exponent = math.frexp(x)
    spacing = exponent - int(digits)
    if (y < x) == (x > 0) and abs(mantissa) == 0.5:
        spacing -= 1  # below a power of two (towards zero) the floats are twice as dense
    step = math.ldexp(1.0, spacing)
    if step < smallest:
        step = smallest
    return x + step if y > x else x - step


def _nextafter_vjp(needs, g, x, y):
    # As PyTorch: the identity for x (a step of one ulp), but zero where x == y (no step at all).
    return where(ne(x, y), g, 0.0) if needs[0] else None, g * 0 if needs[1] else None, None, None, None


NEXTAFTER = ElementwiseOp("nextafter", "NextafterBackward0", _nextafter, _nextafter_vjp, saves=("x0", "x1"),
                          only_for={"x0": (0,), "x1": (0,)})


def _nan_to_num(x, nan, posinf, neginf):
    if x != x:
        return nan
    if x == math.inf:
        return posinf
    if x == -math.inf:
        return neginf
    return x


def _nan_to_num_vjp(needs, g, x):
    return g * isfinite(x), None, None, None


NAN_TO_NUM = ElementwiseOp("nan_to_num", "NanToNumBackward0", _nan_to_num, _nan_to_num_vjp, saves=("x0",))
SGN = SIGN.renamed("sgn", "SgnBackward0")


def _signbit(x):
    # The sign bit itself: true for -0.0 and negative nans too.
    return math.copysign(type(x)(1), x) < 0


def _isfinite(x):
    return math.isfinite(x)


def _isinf(x):
    return math.isinf(x)


def _isposinf(x):
    return x == math.inf


def _isneginf(x):
    return x == -math.inf


def _always(x):
    return True


def _never(x):
    return False


SIGNBIT = ElementwiseOp("signbit", "", _signbit, None, result=BOOL)
ISFINITE = ElementwiseOp("isfinite", "", _isfinite, None, result=BOOL)
ISINF = ElementwiseOp("isinf", "", _isinf, None, result=BOOL)
ISPOSINF = ElementwiseOp("isposinf", "", _isposinf, None, result=BOOL)
ISNEGINF = ElementwiseOp("isneginf", "", _isneginf, None, result=BOOL)
# Integer and bool tensors are finite and real everywhere, with no sign bit for bools.
ALWAYS = ElementwiseOp("always", "", _always, None, result=BOOL)
NEVER = ElementwiseOp("never", "", _never, None, result=BOOL)
XLOGY_SCALAR_SELF = XLOGY.renamed("xlogy_scalar_self", "XlogyBackward1")
XLOGY_SCALAR_OTHER = XLOGY.renamed("xlogy_scalar_other", "XlogyBackward2")


# ---------------------------------------------------------------- more maths: public functions

def _require_tensor(function: str, name: str, position: int, value: Any) -> None:
    """PyTorch's error for a Python number where only a tensor is accepted."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{function}(): argument '{name}' (position {position}) must be Tensor, "
                        f"not {type(value).__name__}")


def _floating_operands(kernel: str, function: str, input: Any, other: Any) -> tuple[Tensor, Tensor]:
    """The operands of a binary op defined for floating-point results only (hypot, logaddexp, …)."""
    _require_tensor(function, "input", 1, input)
    _require_tensor(function, "other", 2, other)
    compute = _promote(ADD, (input, other))[0]
    if compute.kind != "f":
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_dtypes.from_numpy_dtype(compute).scalar_name}'")
    return input, other


def tan(input: Tensor) -> Tensor:
    """The tangent, elementwise (integers and bools give the default float dtype).

    >>> tapegrad.tan(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 1.5574])
    """
    return apply(TAN, (input,))


def asin(input: Tensor) -> Tensor:
    """The inverse sine, in [-pi/2, pi/2]; nan outside [-1, 1].

    >>> tapegrad.asin(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 1.5708])
    """
    return apply(ASIN, (input,))


def acos(input: Tensor) -> Tensor:
    """The inverse cosine, in [0, pi]; nan outside [-1, 1]."""
    return apply(ACOS, (input,))


def atan(input: Tensor) -> Tensor:
    """The inverse tangent, in (-pi/2, pi/2)."""
    return apply(ATAN, (input,))


def sinh(input: Tensor) -> Tensor:
    return apply(SINH, (input,))


def cosh(input: Tensor) -> Tensor:
    return apply(COSH, (input,))


def asinh(input: Tensor) -> Tensor:
    return apply(ASINH, (input,))


def acosh(input: Tensor) -> Tensor:
    """The inverse hyperbolic cosine; nan below 1."""
    return apply(ACOSH, (input,))


def atanh(input: Tensor) -> Tensor:
    """The inverse hyperbolic tangent; +-inf at +-1, nan outside [-1, 1]."""
    return apply(ATANH, (input,))


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point (other, input), in [-pi, pi] (input is the y coordinate).

    >>> tapegrad.atan2(tapegrad.tensor([1., 1.]), tapegrad.tensor([1., -1.]))
    tensor([0.7854, 2.3562])
    """
    _require_tensor("atan2", "input", 1, input)
    _require_tensor("atan2", "other", 2, other)
    return apply(ATAN2, (input, other))


def log2(input: Tensor) -> Tensor:
    return apply(LOG2, (input,))


def log10(input: Tensor) -> Tensor:
    return apply(LOG10, (input,))


def exp2(input: Tensor) -> Tensor:
    """``2 ** input``, elementwise.

    >>> tapegrad.exp2(tapegrad.tensor([0., 3.]))
    tensor([1., 8.])
    """
    return apply(EXP2, (input,))


def trunc(input: Tensor) -> Tensor:
    """Rounded towards zero; integer tensors come back as a copy (bools are refused, as in PyTorch).

    >>> tapegrad.trunc(tapegrad.tensor([-1.5, 2.7]))
    tensor([-1.,  2.])
    """
    kind = input._data.dtype.kind
    if kind == "b":
        raise NotImplementedError("\"trunc_vml_cpu\" not implemented for 'Bool'")
    return clone(input) if kind in "iu" else apply(TRUNC, (input,))


def frac(input: Tensor) -> Tensor:
    """``input - trunc(input)`` (floats only); its sign is the input's.

    >>> tapegrad.frac(tapegrad.tensor([-1.5, 2.75]))
    tensor([-0.5000,  0.7500])
    """
    _check_floating("frac_cpu", input)
    return apply(FRAC, (input,))


def fmod_operands(input: Tensor, other: Any) -> tuple[ElementwiseOp, tuple[Any, ...]]:
    """The op and operands of ``fmod`` (and ``fmod_``): C's remainder, integer or float."""
    if not isinstance(input, Tensor):
        raise TypeError(f"fmod() received an invalid combination of arguments - got ({type(input).__name__}, "
                        f"{type(other).__name__})")
    compute = _promote(ADD, (input, other))[0]
    if compute.kind == "b":
        raise NotImplementedError("\"fmod_cpu\" not implemented for 'Bool'")
    if compute.kind in "iu":
        divisor = other._data if isinstance(other, Tensor) else other
        # PyTorch's CPU kernel refuses an integer division by zero; a CUDA buffer is not read
        # back for this (PyTorch's CUDA kernel does not check either).
        if isinstance(divisor, (np.ndarray, int)) and np.any(np.asarray(divisor) == 0):
            raise RuntimeError("ZeroDivisionError")
        return FMOD_INTEGER, (input, other)
    return (FMOD if isinstance(other, Tensor) else FMOD_SCALAR), (input, other)


def fmod(input: Tensor, other: Any) -> Tensor:
    """C's remainder of ``input / other``: it takes the sign of ``input`` (``remainder`` takes the
    divisor's). Integer tensors stay integers.

    >>> tapegrad.fmod(tapegrad.tensor([-3., 3.]), 2)
    tensor([-1.,  1.])
    """
    op, operands = fmod_operands(input, other)
    return apply(op, operands)


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """``sqrt(input**2 + other**2)`` without overflow or underflow in the squares.

    >>> tapegrad.hypot(tapegrad.tensor([3.]), tapegrad.tensor([4.]))
    tensor([5.])
    """
    return apply(HYPOT, _floating_operands("hypot_cpu", "hypot", input, other))


def logaddexp(input: Tensor, other: Tensor) -> Tensor:
    """``log(exp(input) + exp(other))`` without overflow.

    >>> tapegrad.logaddexp(tapegrad.tensor([1000.]), tapegrad.tensor([1000.]))
    tensor([1000.6932])
    """
    return apply(LOGADDEXP, _floating_operands("logaddexp_cpu", "logaddexp", input, other))


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:
    """``log2(2**input + 2**other)`` without overflow."""
    return apply(LOGADDEXP2, _floating_operands("logaddexp2_cpu", "logaddexp2", input, other))


def erfc(input: Tensor) -> Tensor:
    """``1 - erf(input)``, accurate where erf is close to 1."""
    return apply(ERFC, (input,))


def erfinv(input: Tensor) -> Tensor:
    """The inverse error function: +-inf at +-1, nan outside [-1, 1].

    >>> tapegrad.erfinv(tapegrad.tensor([0., 0.5]))
    tensor([0.0000, 0.4769])
    """
    return apply(ERFINV, (input,))


def lgamma(input: Tensor) -> Tensor:
    """``log(|gamma(input)|)``; inf at 0 and the negative integers."""
    return apply(LGAMMA, (input,))


def digamma(input: Tensor) -> Tensor:
    """The derivative of ``lgamma``: -inf at +0, inf at -0, nan at the negative integers.

    >>> tapegrad.digamma(tapegrad.tensor([1., 0.5]))
    tensor([-0.5772, -1.9635])
    """
    return apply(DIGAMMA, (input,))


def polygamma(n: int, input: Tensor) -> Tensor:
    """The ``n``-th derivative of ``digamma``.

    >>> tapegrad.polygamma(1, tapegrad.tensor([1.]))
    tensor([1.6449])
    """
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if n == 0:
        return apply(DIGAMMA_AS_POLYGAMMA, (input,))
    if n == 1:
        return apply(TRIGAMMA, (input,))
    return apply(POLYGAMMA, (input, int(n)))


def polygamma_operands(input: Tensor, n: int) -> tuple[ElementwiseOp, tuple[Any, ...]]:
    """The op and operands of ``Tensor.polygamma_(n)``."""
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if n < 2:
        return POLYGAMMA_INPLACE[n], (input,)
    return POLYGAMMA_INPLACE[2], (input, int(n))


def logit_operands(input: Tensor, eps: float | None = None) -> tuple[Any, ...]:
    """The operands of ``LOGIT``: the input and the clamping bounds ``eps`` and ``1 - eps``,
    rounded to the compute dtype as PyTorch does (a negative lower bound: no clamping)."""
    if eps is None or eps < 0:
        return input, -1.0, 2.0
    kind = _promote(LOGIT, (input, 0.0, 0.0))[0].type
    return input, float(kind(eps)), float(kind(1) - kind(eps))


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given (where
    the clamp holds, the gradient is zero).

    >>> tapegrad.logit(tapegrad.tensor([0.5, 0.]), eps=0.25)
    tensor([ 0.0000, -1.0986])
    """
    return apply(LOGIT, logit_operands(input, eps))


def sinc(input: Tensor) -> Tensor:
    """The normalised sinc, ``sin(pi x) / (pi x)``, 1 at 0."""
    return apply(SINC, (input,))


def deg2rad(input: Tensor) -> Tensor:
    return apply(DEG2RAD, (input,))


def rad2deg(input: Tensor) -> Tensor:
    return apply(RAD2DEG, (input,))


def copysign_operands(input: Tensor, other: Any) -> tuple[ElementwiseOp, tuple[Any, ...]]:
    if not isinstance(input, Tensor):
        raise TypeError(f"copysign() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, {type(other).__name__})")
    return (COPYSIGN if isinstance(other, Tensor) else COPYSIGN_SCALAR), (input, other)


def copysign(input: Tensor, other: Any) -> Tensor:
    """The magnitude of ``input`` with the sign (bit) of ``other``, as floats.

    >>> tapegrad.copysign(tapegrad.tensor([1., -2.]), -0.0)
    tensor([-1., -2.])
    """
    op, operands = copysign_operands(input, other)
    return apply(op, operands)


def _heaviside_operands(input: Tensor, values: Any) -> tuple[Tensor, Tensor]:
    _require_tensor("heaviside", "input", 1, input)
    _require_tensor("heaviside", "values", 2, values)
    if input._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return input, values


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """0 where ``input < 0``, ``values`` where it is 0, 1 where it is positive (nan gives 0); both
    tensors of one dtype, which the result keeps. It has no derivative (as in PyTorch).

    >>> tapegrad.heaviside(tapegrad.tensor([-1., 0., 2.]), tapegrad.tensor([0.5]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    return apply(HEAVISIDE, _heaviside_operands(input, values))


def nextafter_operands(input: Tensor, other: Tensor) -> tuple[Any, ...]:
    """The operands of ``NEXTAFTER``: the two tensors, then the least subnormal, the significand
    bits and the largest finite value of the compute dtype."""
    _floating_operands("nextafter_cpu", "nextafter", input, other)
    info = np.finfo(_promote(ADD, (input, other))[0])
    return input, other, float(info.smallest_subnormal), info.nmant + 1, float(info.max)


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next representable float after ``input`` in the direction of ``other``.

    >>> one = tapegrad.tensor([1.], dtype=tapegrad.float64)
    >>> tapegrad.nextafter(one, one * 2) - one
    tensor([2.2204e-16], dtype=tapegrad.float64)
    """
    return apply(NEXTAFTER, nextafter_operands(input, other))


def nan_to_num_operands(input: Tensor, nan: float | None = 0.0, posinf: float | None = None,
                        neginf: float | None = None) -> tuple[Any, ...]:
    """The operands of ``NAN_TO_NUM``: the replacements in the input's dtype (by default 0 and its
    largest and lowest finite values; an out-of-range replacement becomes an infinity, as in PyTorch)."""
    kind = input._data.dtype.type
    info = np.finfo(kind)
    with np.errstate(over="ignore"):
        return (input, float(kind(0.0 if nan is None else nan)), float(info.max if posinf is None else kind(posinf)),
                float(info.min if neginf is None else kind(neginf)))


def nan_to_num(input: Tensor, nan: float | None = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """nan, inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (integer and bool tensors
    come back as a copy); the gradient passes where the input is finite.

    >>> tapegrad.nan_to_num(tapegrad.tensor([float("nan"), float("inf"), 1.]), posinf=9.)
    tensor([0., 9., 1.])
    """
    if input._data.dtype.kind != "f":
        return clone(input)
    return apply(NAN_TO_NUM, nan_to_num_operands(input, nan, posinf, neginf))


def sgn(input: Tensor) -> Tensor:
    """``sign`` (for real tensors), recorded under PyTorch's name for it."""
    return apply(SGN, (input,))


def signbit(input: Tensor) -> Tensor:
    """Whether the sign bit is set: true for -0.0 and negative nans too (a bool tensor).

    >>> tapegrad.signbit(tapegrad.tensor([-0., 0., -2.]))
    tensor([ True, False,  True])
    """
    return apply(NEVER if input._data.dtype.kind == "b" else SIGNBIT, (input,))


def isfinite(input: Tensor) -> Tensor:
    return apply(ISFINITE if input._data.dtype.kind == "f" else ALWAYS, (input,))


def isinf(input: Tensor) -> Tensor:
    return apply(ISINF if input._data.dtype.kind == "f" else NEVER, (input,))


def isposinf(input: Tensor) -> Tensor:
    return apply(ISPOSINF if input._data.dtype.kind == "f" else NEVER, (input,))


def isneginf(input: Tensor) -> Tensor:
    return apply(ISNEGINF if input._data.dtype.kind == "f" else NEVER, (input,))


def isreal(input: Tensor) -> Tensor:
    """True everywhere: tapegrad has no complex tensors."""
    return apply(ALWAYS, (input,))


def _as_double(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value if value._data.dtype == np.float64 else cast(value, _dtypes.float64)
    return float(value)


def float_power(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent`` computed in float64 (the result is float64 whatever the inputs).

    >>> tapegrad.float_power(tapegrad.tensor([2, 3]), 2)
    tensor([4., 9.], dtype=tapegrad.float64)
    """
    return pow(_as_double(input), _as_double(exponent))


def xlogy_operands(input: Any, other: Any) -> tuple[ElementwiseOp, tuple[Any, ...]]:
    """The op of ``xlogy`` (and ``xlogy_``): ``XLOGY`` under the grad_fn names PyTorch gives its
    (tensor, number) and (number, tensor) forms."""
    if not isinstance(other, Tensor):
        return XLOGY_SCALAR_OTHER, (input, other)
    return (XLOGY if isinstance(input, Tensor) else XLOGY_SCALAR_SELF), (input, other)


def positive(input: Tensor) -> Tensor:
    """``input`` itself (bool tensors are refused, as PyTorch's unary ``+`` does)."""
    if input._data.dtype.kind == "b":
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


arcsin, arccos, arctan, arcsinh, arccosh, arctanh, arctan2, fix = asin, acos, atan, asinh, acosh, atanh, atan2, trunc


# ---------------------------------------------------------------- more maths: Tensor methods

def _update_elementwise(op: ElementwiseOp, target: Tensor, *others: Any) -> Tensor:
    from .inplace import update_elementwise  # inplace imports this module

    return update_elementwise(op, target, *others)


def _update(target: Tensor, compute: Any, others: tuple = ()) -> Tensor:
    from .inplace import update

    return update(target, compute, others)


def _inplace(op: ElementwiseOp, name: str) -> Any:
    def method(self: Tensor) -> Tensor:
        return _update_elementwise(op, self)

    method.__name__ = name
    return method


def _update_chosen(choice: tuple[ElementwiseOp, tuple[Any, ...]]) -> Tensor:
    """In place with the op and operands that one of the ``*_operands`` functions chose."""
    op, operands = choice
    return _update_elementwise(op, *operands)


def _tensor_operands_(name: str, op: ElementwiseOp) -> Any:
    def method(self: Tensor, other: Tensor) -> Tensor:
        _require_tensor(name, "other", 1, other)
        return _update_elementwise(op, self, other)

    method.__name__ = name + "_"
    return method


def trunc_(self: Tensor) -> Tensor:
    if self._data.dtype.kind == "f":
        return _update_elementwise(TRUNC, self)
    return _update(self, trunc)


def frac_(self: Tensor) -> Tensor:
    _check_floating("frac_cpu", self)
    return _update_elementwise(FRAC, self)


def float_power_(self: Tensor, exponent: Any) -> Tensor:
    if self._data.dtype != np.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {self.dtype.scalar_name} but the operation's "
                           "result requires dtype Double")
    return _update(self, lambda t: float_power(t, exponent), (exponent,))


def nan_to_num_(self: Tensor, nan: float | None = 0.0, posinf: float | None = None,
                neginf: float | None = None) -> Tensor:
    if self._data.dtype.kind != "f":
        return _update(self, clone)  # nothing to replace, but still a write (the version moves), as in PyTorch
    return _update_elementwise(NAN_TO_NUM, *nan_to_num_operands(self, nan, posinf, neginf))


MORE_MATH_METHODS: dict[str, Any] = {
    "tan": tan, "asin": asin, "acos": acos, "atan": atan, "sinh": sinh, "cosh": cosh, "asinh": asinh,
    "acosh": acosh, "atanh": atanh, "arcsin": asin, "arccos": acos, "arctan": atan, "arcsinh": asinh,
    "arccosh": acosh, "arctanh": atanh, "atan2": atan2, "arctan2": atan2, "log2": log2, "log10": log10,
    "exp2": exp2, "trunc": trunc, "fix": trunc, "frac": frac, "fmod": fmod, "hypot": hypot,
    "logaddexp": logaddexp, "logaddexp2": logaddexp2, "erfc": erfc, "erfinv": erfinv, "lgamma": lgamma,
    "digamma": digamma, "polygamma": lambda self, n: polygamma(n, self), "logit": logit, "sinc": sinc,
    "deg2rad": deg2rad, "rad2deg": rad2deg, "copysign": copysign, "heaviside": heaviside, "signbit": signbit,
    "sgn": sgn, "isfinite": isfinite, "isinf": isinf, "isposinf": isposinf, "isneginf": isneginf,
    "isreal": isreal, "nan_to_num": nan_to_num, "float_power": float_power, "nextafter": nextafter,
    "positive": positive,
    # in place
    **{name + "_": _inplace(op, name + "_") for name, op in (
        ("tan", TAN), ("asin", ASIN), ("acos", ACOS), ("atan", ATAN), ("sinh", SINH), ("cosh", COSH),
        ("asinh", ASINH_), ("acosh", ACOSH_), ("atanh", ATANH_), ("arcsin", ASIN), ("arccos", ACOS),
        ("arctan", ATAN), ("arcsinh", ASINH_), ("arccosh", ACOSH_), ("arctanh", ATANH_), ("log2", LOG2),
        ("log10", LOG10), ("exp2", EXP2), ("erfc", ERFC), ("erfinv", ERFINV), ("lgamma", LGAMMA),
        ("digamma", DIGAMMA), ("sinc", SINC), ("deg2rad", DEG2RAD), ("rad2deg", RAD2DEG), ("sgn", SGN),
        ("cos", COS), ("sin", SIN), ("log1p", LOG1P), ("expm1", EXPM1), ("reciprocal", RECIPROCAL),
        ("rsqrt", RSQRT))},
    "atan2_": _tensor_operands_("atan2", ATAN2), "arctan2_": _tensor_operands_("arctan2", ATAN2),
    "hypot_": lambda self, other: _update_elementwise(HYPOT, *_floating_operands("hypot_cpu", "hypot", self, other)),
    "nextafter_": lambda self, other: _update_elementwise(NEXTAFTER, *nextafter_operands(self, other)),
    "heaviside_": lambda self, values: _update_elementwise(HEAVISIDE_, *_heaviside_operands(self, values)),
    "fmod_": lambda self, other: _update_chosen(fmod_operands(self, other)),
    "copysign_": lambda self, other: _update_chosen(copysign_operands(self, other)),
    "xlogy_": lambda self, other: _update_chosen(xlogy_operands(self, other)),
    "polygamma_": lambda self, n: _update_chosen(polygamma_operands(self, n)),
    "logit_": lambda self, eps=None: _update_elementwise(LOGIT, *logit_operands(self, eps)),
    "trunc_": trunc_, "fix_": trunc_, "frac_": frac_, "float_power_": float_power_, "nan_to_num_": nan_to_num_,
    "square_": lambda self: _update(self, square),
    "remainder_": lambda self, other: _update(self, lambda t: remainder(t, other), (other,)),
}
