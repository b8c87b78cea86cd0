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
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import trace
from ..compiler import rules
from ..backends.scalar_math import (fast_exp, fast_expm1, fast_log, fast_log1p, fast_sigmoid,  # noqa: F401
                                    fast_tanh, float_ceil, float_floor, float_round)
from ..tensor import Tensor, _wrap
from .pointwise import (_BOOL, BOOL, FLOAT, SAME, ElementwiseOp, _apply_fast,  # noqa: F401
                        _broadcast_shape, _promote, _reduce_to_input, _same_shape_pair, apply)
from .registry import OpDef, record

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
    grad_x = g * y * x ** (y - 1) if needs[0] else None
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
    # Under 'arcp' LLVM may use the hardware reciprocal-sqrt estimate, which is wrong for 0 and
    # inf: those are answered here.
    if x > 0 and x < math.inf:
        return 1.0 / math.sqrt(x)
    if x == 0:
        return math.copysign(math.inf, x)
    return 0.0 if x == math.inf else math.nan


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
    return (g * gt(out, 0),)


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
    return THRESHOLD_BACKWARD(gg, x, threshold) if needs[0] else None, gg * 0 if needs[1] else None, None


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
    if alpha != 1:
        other = mul(other, alpha)
    return apply(ADD, (input, other))


def _check_bool_sub(input: Any, other: Any) -> None:
    bools = [isinstance(x, bool) or isinstance(x, Tensor) and x._data.dtype == np.bool_ for x in (input, other)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    _check_bool_sub(input, other)
    if alpha != 1:
        other = mul(other, alpha)
    if not isinstance(input, Tensor):
        return apply(RSUB, (input, other))
    return apply(SUB, (input, other))


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
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    state = grad_mode.state
    previous, state.enabled = state.enabled, False
    try:
        quotient = apply(DIV, (input, other))
        result = floor(quotient) if rounding_mode == "floor" else \
            where(lt(quotient, 0), ceil(quotient), floor(quotient))
        promoted, _ = _promote(ADD, (input, other))
        if result._data.dtype != promoted:
            result = result.to(_dtypes.from_numpy_dtype(promoted))
    finally:
        state.enabled = previous
    if previous and any(isinstance(x, Tensor) and x._requires_grad for x in (input, other)):
        return record(DIV_ROUNDED, (input, other), result)
    return result


def _rounded_div_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    # A step function: zero gradient almost everywhere, as PyTorch gives.
    return tuple(g * 0 if meta is not None and edge is not None else None
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


def round(input: Tensor) -> Tensor:
    return apply(ROUND, (input,))


def _bound(value: Any, data: np.ndarray, upper: bool) -> Any:
    if value is not None:
        return value
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
    return apply(CLAMP_MIN, (input, min, _bound(None, input._data, True)))


def clamp_max(input: Tensor, max: Any) -> Tensor:
    if isinstance(max, Tensor) or max is None:
        return clamp(input, max=max)
    return apply(CLAMP_MAX, (input, _bound(None, input._data, False), max))


def xlogy(input: Any, other: Any) -> Tensor:
    """``input * log(other)``, zero where ``input`` is zero (the entropy term ``t log t``).

    >>> tapegrad.xlogy(tapegrad.tensor([0., 2.]), tapegrad.tensor([0., 3.]))
    tensor([0.0000, 2.1972])
    """
    return apply(XLOGY, (input, other))


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


def _bitwise(op: ElementwiseOp, input: Tensor, other: Any) -> Tensor:
    kinds = {x._data.dtype.kind for x in (input, other) if isinstance(x, Tensor)}
    if "f" in kinds or isinstance(other, float):
        raise RuntimeError(f"\"{op.name}_cpu\" not implemented for 'Float'")
    result = apply(op, (input, other))
    if kinds == {"b"}:
        return result
    return result.to(_dtypes.from_numpy_dtype(_promote(ADD, (input, other))[0]))


def bitwise_and(input: Tensor, other: Any) -> Tensor:
    return _bitwise(LOGICAL_AND, input, other)


def bitwise_or(input: Tensor, other: Any) -> Tensor:
    return _bitwise(LOGICAL_OR, input, other)


def bitwise_not(input: Tensor) -> Tensor:
    if input._data.dtype != np.bool_:
        raise RuntimeError("bitwise_not is only supported for bool tensors in tapegrad")
    return logical_not(input)


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
    if isinstance(input._data, np.ndarray):
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
