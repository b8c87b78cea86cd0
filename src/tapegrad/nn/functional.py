"""``tapegrad.nn.functional``: activations and losses.

Losses that PyTorch reports under a grad_fn of their own (``MseLossBackward0``,
``BinaryCrossEntropyWithLogitsBackward0``, ``NllLossBackward0``, …) are recorded as one step
with their own VJP; the rest are compositions of ops.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import trace
from ..compiler import rules
from ..compiler.cuda_program import NLL_BACKWARD_CUDA, NLL_CUDA
from ..ops import elementwise as ew
from ..ops import pointwise
from ..ops.conv import *  # noqa: F401,F403  (conv1d, conv2d, max_pool2d, avg_pool2d)
from ..ops.conv_transpose import *  # noqa: F401,F403  (conv_transpose1d, conv_transpose2d)
from ..ops.pool1d import *  # noqa: F401,F403  (max_pool1d, avg_pool1d, adaptive_avg_pool1d)
from ..ops.adaptive_max import *  # noqa: F401,F403  (adaptive_max_pool1d, adaptive_max_pool2d)
from ..ops.fold import *  # noqa: F401,F403  (fold, unfold)
from ..ops.pixel_shuffle import *  # noqa: F401,F403  (pixel_shuffle, pixel_unshuffle)
from ..ops.pool3d import *  # noqa: F401,F403  (max/avg/adaptive pooling in 3-d, *_with_indices)
from ..ops.pool_indices import *  # noqa: F401,F403  (max_pool1d/2d_with_indices, adaptive ones)
from ..ops.fractional_pool import *  # noqa: F401,F403  (fractional_max_pool2d/3d, *_with_indices)
from ..ops.conv3d import conv3d, conv_transpose3d  # noqa: F401
from ..ops.unpool import max_unpool1d, max_unpool2d, max_unpool3d  # noqa: F401
from ..ops.lp_pool import lp_pool1d, lp_pool2d, lp_pool3d  # noqa: F401
from ..ops.embedding_bag import embedding_bag  # noqa: F401
from ..ops.feature_dropout import *  # noqa: F401,F403  (dropout1d/2d/3d, alpha_dropout, feature_alpha_dropout)
from ..ops.interpolate import interpolate  # noqa: F401
from ..ops.grid_sample import affine_grid, grid_sample  # noqa: F401
from ..ops.layers import *  # noqa: F401,F403  (dropout, layer_norm, batch_norm, embedding)
from ..ops.padding import pad  # noqa: F401
from .composed_losses import *  # noqa: F401,F403  (margin, embedding, soft margin, Poisson and Gaussian NLL)
from .attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: F401
from .ctc import ctc_loss  # noqa: F401
from .class_margin_losses import multi_margin_loss, multilabel_margin_loss  # noqa: F401
from ..ops import composite as _composite
from ..ops import inplace as _inplace_ops
from ..ops.composite import _without_grad
from ..ops.index import scatter_into_zeros
from ..ops.matmul import linear
from ..ops.movement import cat
from ..ops.registry import OUTPUT, OpDef, record
from ..tensor import Tensor, _wrap, _wrap_dim
from ..user_warnings import warn_user

sigmoid = ew.sigmoid
tanh = ew.tanh
linear = linear


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]`` (one einsum).

    >>> F.bilinear(tapegrad.ones(1, 2), tapegrad.ones(1, 3), tapegrad.ones(4, 2, 3)).tolist()
    [[6.0, 6.0, 6.0, 6.0]]
    """
    from ..ops.einsum import einsum

    for k, (x, size) in enumerate(((input1, weight.shape[1]), (input2, weight.shape[2])), 1):
        if x.shape[-1] != size:
            raise RuntimeError(f"bilinear(): input{k} size does not match weight size: got {x.shape[-1]} but "
                               f"expected {size}")
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}")
    for d in range(input1.ndim - 1):
        if input1.shape[d] != input2.shape[d]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {d}: got "
                               f"{input1.shape[d]} and {input2.shape[d]}")
    if bias is not None and bias.shape[-1] != weight.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[-1]} but expected "
                           f"{weight.shape[0]}")
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out + bias if bias is not None else out


# ---------------------------------------------------------------- activations
# Each takes PyTorch's ``inplace`` flag; the in-place forms overwrite ``input`` and record the
# step on it (PyTorch's ``*_`` functions), saving the result where PyTorch does.

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``, elementwise.

    >>> F.relu(tapegrad.tensor([-1., 2.]))
    tensor([0., 2.])
    """
    if inplace:
        return relu_(input)
    return ew.relu(input)


def relu_(input: Tensor) -> Tensor:
    """``relu`` in place."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    return _inplace_ops.update_elementwise(ew.RELU, input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    >>> F.leaky_relu(tapegrad.tensor([-2., 3.]), 0.5)
    tensor([-1.,  3.])
    """
    if inplace:
        return leaky_relu_(input, negative_slope)
    return ew.leaky_relu(input, negative_slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``leaky_relu`` in place (its backward needs ``negative_slope >= 0``)."""
    ew._check_floating("leaky_relu_cpu", input)
    return _inplace_ops.update_elementwise(ew.LEAKY_RELU_, input, negative_slope)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` clamped to ``[min_val, max_val]`` (zero gradient on and past the bounds).

    >>> F.hardtanh(tapegrad.tensor([-2., 0.5, 3.]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return hardtanh_(input, min_val, max_val)
    return ew.hardtanh(input, min_val, max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``hardtanh`` in place."""
    return _inplace_ops.update_elementwise(ew.HARDTANH_, input, *ew._hardtanh_bounds(input, min_val, max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``: ``hardtanh`` with bounds 0 and 6 (and its grad_fn).

    >>> F.relu6(tapegrad.tensor([-1., 3., 7.]))
    tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``.

    >>> F.elu(tapegrad.tensor([-1., 2.]))
    tensor([-0.6321,  2.0000])
    """
    if inplace:
        return elu_(input, alpha)
    return ew.elu(input, alpha)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``elu`` in place (its backward needs ``alpha >= 0``)."""
    ew._check_floating("elu_cpu", input)
    return _inplace_ops.update_elementwise(ew.ELU_, input, alpha, 1.0, 1.0)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``SELU_SCALE * elu(x, SELU_ALPHA)``, the self-normalising ELU.

    >>> F.selu(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 1.0507])
    """
    if inplace:
        return selu_(input)
    return ew.selu(input)


def selu_(input: Tensor) -> Tensor:
    """``selu`` in place."""
    ew._check_floating("elu_cpu", input)
    return _inplace_ops.update_elementwise(ew.ELU_, input, ew.SELU_ALPHA, ew.SELU_SCALE, 1.0)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    >>> F.celu(tapegrad.tensor([-1., 2.]), alpha=2.0)
    tensor([-0.7869,  2.0000])
    """
    if inplace:
        return celu_(input, alpha)
    return ew.celu(input, alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``celu`` in place."""
    ew._check_floating("elu_cpu", input)
    return _inplace_ops.update_elementwise(ew.CELU_, input, alpha, 1.0, ew._celu_input_scale(alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` with Phi the standard normal CDF; ``approximate='tanh'`` uses PyTorch's tanh
    approximation.

    >>> F.gelu(tapegrad.tensor([-1., 0., 1.]))
    tensor([-0.1587,  0.0000,  0.8413])
    """
    return ew.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (swish).

    >>> F.silu(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 0.7311])
    """
    if inplace:
        ew._check_floating("silu_cpu", input)
        return _inplace_ops.update_elementwise(ew.SILU, input)
    return ew.silu(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    >>> F.softplus(tapegrad.tensor([0.]))
    tensor([0.6931])
    """
    return ew.softplus(input, beta, threshold)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, without overflow for large ``|x|``.

    >>> F.logsigmoid(tapegrad.tensor([0.]))
    tensor([-0.6931])
    """
    return ew.logsigmoid(input)


def _inplace_or_not(op: Any, function: Any, kernel: str, input: Tensor, inplace: bool) -> Tensor:
    # The in-place forms save a copy of the input, as PyTorch's do (same grad_fn as out of place).
    if inplace:
        ew._check_floating(kernel, input)
        return _inplace_ops.update_elementwise(op, input)
    return function(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x + 3, 0), 6) / 6``.

    >>> F.hardsigmoid(tapegrad.tensor([-4., 0., 1.5]))
    tensor([0.0000, 0.5000, 0.7500])
    """
    return _inplace_or_not(ew.HARDSIGMOID, ew.hardsigmoid, "hardsigmoid_cpu", input, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * hardsigmoid(x)``.

    >>> F.hardswish(tapegrad.tensor([-4., 1.5, 4.]))
    tensor([-0.0000, 1.1250, 4.0000])
    """
    return _inplace_or_not(ew.HARDSWISH, ew.hardswish, "hardswish_cpu", input, inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``.

    >>> F.mish(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 0.8651])
    """
    return _inplace_or_not(ew.MISH, ew.mish, "mish_cpu", input, inplace)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)`` (a composition of ops, as in PyTorch).

    >>> F.softsign(tapegrad.tensor([-3., 1.]))
    tensor([-0.7500,  0.5000])
    """
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)`` (a composition of ops, as in PyTorch).

    >>> F.tanhshrink(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 0.2384])
    """
    return input - input.tanh()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, zero between.

    >>> F.softshrink(tapegrad.tensor([-1., 0.2, 2.]))
    tensor([-0.5000,  0.0000,  1.5000])
    """
    return ew.softshrink(input, lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` outside ``[-lambd, lambd]``, zero inside.

    >>> F.hardshrink(tapegrad.tensor([-1., 0.2, 2.]))
    tensor([-1.,  0.,  2.])
    """
    return ew.hardshrink(input, lambd)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``value`` where ``input <= threshold``, else ``input``.

    >>> F.threshold(tapegrad.tensor([-1., 0.5, 2.]), 0.5, 9.)
    tensor([9., 9., 2.])
    """
    if inplace:
        return threshold_(input, threshold, value)
    return ew.threshold(input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """``threshold`` in place."""
    return _inplace_ops.update_elementwise(ew.THRESHOLD_, *ew._threshold_operands(input, threshold, value))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``input`` where positive, else ``weight * input``: one learned slope, or one per channel
    (dim 1).

    >>> F.prelu(tapegrad.tensor([[-2., 3.]]), tapegrad.tensor([0.25, 0.5]))
    tensor([[-0.5000,  3.0000]])
    """
    return ew.prelu(input, weight)


# RReLU in eval mode is leaky_relu with the mean slope; in training, the input times a noise
# tensor holding a random slope at each non-positive element (1 elsewhere). Both record
# PyTorch's grad_fn.
_RRELU_EVAL = ew.LEAKY_RELU.renamed("rrelu", "RreluWithNoiseBackward0")
_RRELU_EVAL_ = ew.LEAKY_RELU.renamed("rrelu_", "RreluWithNoiseBackward1")
_RRELU_NOISE = ew.MUL.renamed("rrelu_with_noise", "RreluWithNoiseBackward0")
_RRELU_NOISE_ = ew.MUL.renamed("rrelu_with_noise_", "RreluWithNoiseBackward1")


def _rrelu_slopes(input: Tensor, lower: float, upper: float, training: bool) -> Any:
    """The second operand of rrelu: the mean slope in eval mode; in training a tensor of slopes
    drawn as PyTorch's CPU kernel draws them (one double uniform in ``[lower, upper)`` per
    element ``<= 0``, in C order, cast to the dtype) and ones elsewhere."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        ew._check_floating("leaky_relu_cpu", input)
        return (lower + upper) / 2
    ew._check_floating("rrelu_with_noise_out_cpu", input)
    if trace.ACTIVE is not None:
        trace.refuse("rrelu in training mode (it draws a slope for each input that is not positive)")
    from ..creation import _generator, _place_of

    place = _place_of(input)
    values = input.detach().cpu().numpy()
    negative = values <= 0
    noise = np.ones(values.shape, values.dtype)
    noise[negative] = _generator(None, place).uniform((int(negative.sum()),), lower, upper, np.float64)
    return _wrap(noise).to(input.device)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Leaky ReLU with a random slope from ``[lower, upper)`` for each non-positive element in
    training, and the mean slope ``(lower + upper) / 2`` in eval mode (the default).

    >>> F.rrelu(tapegrad.tensor([-2., 3.]), 0.25, 0.75)
    tensor([-1.,  3.])
    """
    if inplace:
        return rrelu_(input, lower, upper, training)
    slopes = _rrelu_slopes(input, lower, upper, training)
    return ew.apply(_RRELU_NOISE if training else _RRELU_EVAL, (input, slopes))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """``rrelu`` in place."""
    slopes = _rrelu_slopes(input, lower, upper, training)
    return _inplace_ops.update_elementwise(_RRELU_NOISE_ if training else _RRELU_EVAL_, input, slopes)


def _glu_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (input,) = step.saved_values()
    (dim,) = step.attrs
    first, second = input.chunk(2, dim)
    gate = second.sigmoid()
    return (cat([g * gate, g * first * gate * (1 - gate)], dim),)


GLU = OpDef("glu", "GluBackward0", _glu_vjp)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """The gated linear unit: ``a * sigmoid(b)``, ``a`` and ``b`` the halves of ``input`` along ``dim``.

    >>> F.glu(tapegrad.tensor([1., 2., 0., 0.]))
    tensor([0.5000, 1.0000])
    """
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    ew._check_floating("glu_cpu", input)
    dim = _wrap_dim(dim, input.dim())
    if input.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim} is size {input.shape[dim]}")
    first, second = input.chunk(2, dim)
    out = _without_grad(lambda: first * second.sigmoid())
    if grad_mode.state.enabled and input._requires_grad:
        return record(GLU, (input,), out, (dim,), saved=(input,))
    return out


def _get_softmax_dim(name: str, ndim: int) -> int:
    # PyTorch's legacy choice when no dim is given, with its deprecation warning.
    warn_user(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
              "as an argument.")
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``exp(x) / exp(x).sum(dim)``; without ``dim`` a legacy choice is made, with a warning.

    >>> F.softmax(tapegrad.tensor([0., 0.]), dim=0)
    tensor([0.5000, 0.5000])
    """
    if dim is None:
        dim = _get_softmax_dim("softmax", input.ndim)
    return _composite.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``log(softmax(x, dim))``, computed stably; without ``dim`` a legacy choice, with a warning.

    >>> F.log_softmax(tapegrad.tensor([0., 0.]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.ndim)
    return _composite.log_softmax(input, dim, dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``softmax(-x, dim)``.

    >>> F.softmin(tapegrad.tensor([0., 0.]), dim=0)
    tensor([0.5000, 0.5000])
    """
    if dim is None:
        dim = _get_softmax_dim("softmin", input.ndim)
    return _composite.softmax(-input, dim, dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample from the Gumbel-softmax distribution over ``dim``: ``softmax((logits + g) / tau)``
    with ``g`` standard Gumbel noise (``-log`` of an exponential draw, PyTorch's draws); with
    ``hard``, the one-hot of its maximum carrying the soft sample's gradient (straight-through).
    A compiled step draws new noise at every call."""
    if eps != 1e-10:
        warn_user("`eps` parameter is deprecated and has no effect.")
    from ..creation import _constant_like, _generator, _place_of
    from ..ops.layers import drawn_per_call

    place = _place_of(logits)
    shape, dtype = tuple(logits.shape), logits._data.dtype

    def draw() -> Any:
        exponential = _generator(None, place).exponential(shape, 1.0, dtype)
        return exponential if place is None else _wrap(exponential).to(place)._data

    gumbels = ew.neg(ew.log(_wrap(drawn_per_call(draw))))
    y_soft = _composite.softmax(ew.div(ew.add(logits, gumbels), tau), dim, None)
    if not hard:
        return y_soft
    axis = _wrap_dim(dim, logits.ndim)
    positions = np.arange(shape[axis]).reshape((-1,) + (1,) * (logits.ndim - axis - 1))
    y_hard = ew.eq(y_soft.max(axis, keepdim=True)[1], _constant_like(positions, logits)).to(logits.dtype)
    return ew.add(ew.sub(y_hard, y_soft.detach()), y_soft)


# ---------------------------------------------------------------- losses

def _int_argument(value: Any, function: str, name: str, position: int) -> int:
    """An int argument as PyTorch parses it: Python and NumPy integers and one-element integer
    tensors; bools, floats and anything else raise its TypeError, numbers beyond int64 its
    ValueError."""
    if type(value) is not int:  # (a plain int, the usual case, skips the slower checks)
        value = _int_argument_of(value, function, name, position)
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError("Overflow when unpacking long long")
    return value


def _int_argument_of(value: Any, function: str, name: str, position: int) -> int:
    if (isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point()
            and value.dtype != _dtypes.bool_):
        value = value.item()
    elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{function}(): argument '{name}' (position {position}) must be int, "
                        f"not {type(value).__name__}")
    return int(value)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """``reduction`` from the deprecated ``size_average``/``reduce`` pair when either is given, and
    the deprecated ``'elementwise_mean'`` as ``'mean'`` (with PyTorch's warning)."""
    if size_average is None and reduce is None:
        if reduction == "elementwise_mean":
            warn_user("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.")
            return "mean"
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warn_user(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _reduce_scale(g: Tensor, reduction: str, numel: int) -> Tensor:
    return g / numel if reduction == "mean" else g


def _check_same_size(name: str, input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")


def _broadcast_pair(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Regression losses broadcast mismatched shapes, with PyTorch's warning; the expanded views
    send each gradient back summed to its own shape."""
    if tuple(input.shape) == tuple(target.shape):
        return input, target
    warn_user(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
              "This will likely lead to incorrect results due to broadcasting. Please ensure they have "
              "the same size.", UserWarning)
    shape = ew._broadcast_shape((input, target))
    return input.expand(shape), target.expand(shape)


# ---------------------------------------------------------------- regression losses

def _mse_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    input, target = step.saved_values()
    (reduction,) = step.attrs
    # PyTorch's order, so float32 results agree: (2 / numel) * (input - target) * g.
    count = input.numel()
    diff = (input - target) * (2 / count if reduction == "mean" and count else 2.0) * g
    return (diff if step.needs_input_grad(0) else None, -diff if step.needs_input_grad(1) else None)


MSE_LOSS = OpDef("mse_loss", "MseLossBackward0", _mse_vjp)


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Mean squared error.

    >>> F.mse_loss(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 4.]))
    tensor(4.)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    out = _squared_error(input, target, reduction)
    if out is None:
        input, target = _broadcast_pair(input, target)
        out = _without_grad(lambda: _reduce((input - target) ** 2, reduction))
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(MSE_LOSS, (input, target), out, (reduction,), saved=(input, target))
    return out


def _squared_error(input: Tensor, target: Tensor, reduction: str) -> Tensor | None:
    """``mse_loss``'s reduced value for two small float arrays of one shape and dtype on the CPU
    (a network's loss), from the kernels that ``((input - target) ** 2).mean()`` runs but
    without its intermediate tensors; None otherwise."""
    a, b = input._data, target._data
    dtype = a.dtype
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or reduction == "none" or a.shape != b.shape
            or dtype != b.dtype or dtype.kind != "f" or not 0 < a.size < cpu.PARALLEL_THRESHOLD or a.ndim > 8
            or trace.ACTIVE is not None):
        return None
    ndim = a.ndim
    squared = np.empty(a.shape, dtype)
    cpu.run_loop(pointwise._small_loop(ew.SUB, "aa", ndim), squared, (a, b))
    cpu.run_loop(pointwise._small_loop(ew.POW_SCALAR, "as", ndim), squared,
                 (squared, pointwise._float_scalar(2, dtype)))
    total = cpu.reduce_sum(squared, tuple(range(ndim)), dtype)
    # As ``mean``: the float64 sum rounded to the dtype, then divided in it.
    return _wrap(np.asarray(total / a.size).astype(dtype, copy=False) if reduction == "mean" else total)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Tensor:
    """Mean absolute error (a composition of ops, as in PyTorch: its grad_fn is the reduction's).

    >>> F.l1_loss(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 5.]))
    tensor(2.5000)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    input, target = _broadcast_pair(input, target)
    return _reduce((input - target).abs(), reduction)


def _smooth_l1_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    input, target = step.saved_values()
    reduction, beta = step.attrs
    diff = input - target
    slope = diff.sign() if beta == 0 else ew.where(diff.abs() < beta, diff / beta, diff.sign())
    grad = slope * _reduce_scale(g, reduction, input.numel())
    return (grad if step.needs_input_grad(0) else None, -grad if step.needs_input_grad(1) else None)


SMOOTH_L1_LOSS = OpDef("smooth_l1_loss", "SmoothL1LossBackward0", _smooth_l1_vjp)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Quadratic below ``beta``, linear above it (``beta=0`` is the L1 loss).

    >>> F.smooth_l1_loss(tapegrad.tensor([0., 0.]), tapegrad.tensor([0.5, 3.]))
    tensor(1.3125)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    input, target = _broadcast_pair(input, target)
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)

    def forward() -> Tensor:
        diff = (input - target).abs()
        if beta == 0:
            return _reduce(diff, reduction)
        return _reduce(ew.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta), reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(SMOOTH_L1_LOSS, (input, target), out, (reduction, float(beta)), saved=(input, target))
    return out


def _huber_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    input, target = step.saved_values()
    reduction, delta = step.attrs
    # d loss / d input is the difference clamped to [-delta, delta] (PyTorch's huber_loss_backward).
    grad = (input - target).clamp(-delta, delta) * _reduce_scale(g, reduction, input.numel())
    return (grad if step.needs_input_grad(0) else None, -grad if step.needs_input_grad(1) else None)


HUBER_LOSS = OpDef("huber_loss", "HuberLossBackward0", _huber_vjp)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Quadratic below ``delta``, linear above it: ``delta`` times the smooth L1 loss with
    ``beta=delta``. ``weight`` (the input's shape) scales each element's loss.

    >>> F.huber_loss(tapegrad.tensor([0., 0.]), tapegrad.tensor([0.5, 3.]), delta=2.)
    tensor(2.0625)
    """
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _check_reduction(reduction)
    input, target = _broadcast_pair(input, target)
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError("Weights and input must have the same size.")
        return _reduce(huber_loss(input, target, "none", delta) * weight, reduction)

    def forward() -> Tensor:
        diff = (input - target).abs()
        return _reduce(ew.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta), reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(HUBER_LOSS, (input, target), out, (reduction, float(delta)), saved=(input, target))
    return out


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence of ``target`` from ``input``, both over the same support;
    ``input`` holds log-probabilities, ``target`` probabilities (log-probabilities with
    ``log_target``). ``reduction='batchmean'`` divides the sum by the batch size (the
    divergence's definition); ``'mean'`` divides by every element, with PyTorch's warning.

    >>> F.kl_div(tapegrad.tensor([0.5, 0.5]).log(), tapegrad.tensor([0.25, 0.75]), reduction="sum")
    tensor(0.1308)
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warn_user("reduction: 'mean' divides the total loss by both the batch size and the support size."
                  "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                  "'mean' will be changed to behave the same as 'batchmean' in the next major release.")
    batchmean = reduction == "batchmean"
    if not batchmean:
        _check_reduction(reduction)
    if log_target:
        pointwise = target.exp() * (target - input)
    else:
        pointwise = ew.xlogy(target, target) - target * input
    reduced = _reduce(pointwise, "sum" if batchmean else reduction)
    if batchmean and input.dim() != 0:
        return reduced / input.shape[0]
    return reduced


# ---------------------------------------------------------------- distances

def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> Tensor:
    """``input`` divided by its ``p``-norm over ``dim`` (at least ``eps``).

    >>> F.normalize(tapegrad.tensor([[3., 4.]]))
    tensor([[0.6000, 0.8000]])
    """
    if out is not None:
        raise NotImplementedError("F.normalize: the out= argument is not supported by tapegrad")
    denominator = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    return input / denominator


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (broadcast), each norm
    at least ``eps``.

    >>> F.cosine_similarity(tapegrad.tensor([[1., 0.]]), tapegrad.tensor([[1., 1.]]))
    tensor([0.7071])
    """
    common = _dtypes.from_numpy_dtype(ew._promote(ew.ADD, (x1, x2))[1])
    if not common.is_floating_point:
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is {common.scalar_name}")
    x1, x2 = x1.to(common), x2.to(common)
    shape = ew._broadcast_shape((x1, x2))
    x1, x2 = x1.expand(shape), x2.expand(shape)
    # Each vector is divided by its norm first (the result stays within [-1, 1]); the norms
    # are clamped in place without grad, so their gradient flows as if unclamped (as in PyTorch).
    norm1 = x1.norm(2, dim, keepdim=True).clone()
    norm2 = x2.norm(2, dim, keepdim=True).clone()
    _without_grad(lambda: (norm1.clamp_min_(eps), norm2.clamp_min_(eps)))
    return ((x1 / norm1) * (x2 / norm2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The ``p``-norm of ``x1 - x2 + eps`` over the last dim.

    >>> F.pairwise_distance(tapegrad.tensor([[0., 0.]]), tapegrad.tensor([[3., 4.]]), eps=0.)
    tensor([5.])
    """
    innermost = max(x1.dim(), x2.dim()) - 1
    return (x1 - x2 + eps).norm(p, innermost, keepdim)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Divide each value by ``(k + alpha * mean(x**2))**beta``, the mean taken over ``size``
    neighbouring channels (dim 1; zero-padded at the ends), as PyTorch composes it.

    >>> F.local_response_norm(tapegrad.tensor([[[2.], [2.]]]), 2, alpha=1., beta=1., k=0.)
    tensor([[[1.0000],
             [0.5000]]])
    """
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {input.ndim} "
                         "dimensions)")
    if input.numel() == 0:
        return input
    from ..ops.conv import avg_pool2d

    # Channels by all positions, pooled over ``size`` channels: PyTorch's avg_pool3d over
    # ``(size, 1, 1)`` windows is this avg_pool2d over ``(size, 1)`` windows.
    squares = ew.mul(input, input).reshape((input.shape[0], 1, input.shape[1], -1))
    squares = pad(squares, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(squares, (size, 1), stride=1).reshape(tuple(input.shape))
    return ew.div(input, ew.pow(ew.add(ew.mul(div, alpha), k), beta))


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm distances between the rows of an ``(N, M)`` input, for each pair ``i < j``
    in row-major order (the upper triangle of ``cdist(input, input)``, flattened).

    >>> F.pdist(tapegrad.tensor([[0., 0.], [3., 4.], [6., 8.]]))
    tensor([ 5., 10.,  5.])
    """
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if not input.is_floating_point():
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    from ..creation import _constant_like

    first, second = (_constant_like(index, input) for index in np.triu_indices(input.shape[0], 1))
    return (input.index_select(0, first) - input.index_select(0, second)).norm(p, 1)


def _deprecated_upsample(name: str) -> None:
    warn_user(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.")


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """``interpolate`` under its former name (deprecated, with PyTorch's warning)."""
    _deprecated_upsample("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """``interpolate(mode='nearest')`` (deprecated, with PyTorch's warning)."""
    _deprecated_upsample("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """``interpolate(mode='bilinear', align_corners=True)`` (deprecated, with PyTorch's warning)."""
    _deprecated_upsample("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 ``tensor`` of class indices as one-hot rows: shape ``tensor.shape + (num_classes,)``
    (``-1``: one more than the largest index).

    >>> F.one_hot(tapegrad.tensor([0, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    from ..creation import arange, zeros
    from ..dtypes import int64

    if tensor.dtype is not int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel() == 0:
        if num_classes == -1:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        return zeros(tuple(tensor.shape) + (num_classes,), dtype=int64, device=tensor.device)
    if tensor.min().item() < 0:
        raise RuntimeError("Class values must be non-negative.")
    largest = int(tensor.max().item())
    if num_classes == -1:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


# ---------------------------------------------------------------- binary cross entropy

def _bce_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
    input, target, weight = step.saved_values()
    (reduction,) = step.attrs
    scale = _reduce_scale(g, reduction, input.numel())
    grad = scale * (input - target) / ((1 - input) * input).clamp_min(_BCE_EPSILON)
    if weight is not None:
        grad = grad * weight
    grad_target = None
    if step.needs_input_grad(1):
        # -logit(input), unclamped: infinite at a saturated prediction, as PyTorch gives.
        grad_target = scale * ((-input).log1p() - input.log())
        if weight is not None:
            grad_target = grad_target * weight
    return grad if step.needs_input_grad(0) else None, grad_target, None


BCE = OpDef("binary_cross_entropy", "BinaryCrossEntropyBackward0", _bce_vjp)
# PyTorch's floor on p * (1 - p) in the gradient, 1e-12 as its kernel rounds it (to float32).
_BCE_EPSILON = float(np.float32(1e-12))


def _check_unit_interval(input: Tensor) -> None:
    """Raise unless every element of non-empty ``input`` lies in [0, 1] (NaN does not, as in
    PyTorch). The least and greatest elements are reduced on ``input``'s device and read back
    (a NaN wins both). While a step is compiled this call's values are read all the same, and
    the check is recorded to run again at every replay."""
    if not input.numel():
        return
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.UNIT_INTERVAL, (input,), ())
    low, high = _without_grad(lambda: (input.min(), input.max()))
    data = [t._data if isinstance(t._data, np.ndarray) else t._data.copy_to_host() for t in (low, high)]
    if not (float(data[0]) >= 0 and float(data[1]) <= 1):
        raise RuntimeError(rules.UNIT_INTERVAL.message)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of probabilities ``input`` against ``target`` (logs clamped at -100).

    >>> F.binary_cross_entropy(tapegrad.tensor([0.5]), tapegrad.tensor([1.]))
    tensor(0.6931)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_same_size("binary_cross_entropy", input, target)
    _check_unit_interval(input)

    def forward() -> Tensor:
        # log is clamped at -100 as in PyTorch, so a saturated prediction gives a finite loss.
        loss = -(target * input.log().clamp_min(-100) + (1 - target) * (-input).log1p().clamp_min(-100))
        return _reduce(loss * weight if weight is not None else loss, reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(BCE, (input, target, weight), out, (reduction,), saved=(input, target, weight))
    return out


def _bce_logits_terms(input: Tensor, target: Tensor, pos_weight: Tensor | None) -> Tensor:
    # log(1 + exp(-|x|)) + max(-x, 0) is log(1 + exp(-x)) without overflow.
    log_sigmoid_neg = (-input.abs()).exp().log1p() + (-input).clamp_min(0)
    if pos_weight is None:
        return (1 - target) * input + log_sigmoid_neg
    log_weight = (pos_weight - 1) * target + 1
    return (1 - target) * input + log_weight * log_sigmoid_neg


def _bce_logits_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
    input, target, weight, pos_weight = step.saved_values()
    (reduction,) = step.attrs
    scale = _reduce_scale(g, reduction, input.numel())
    s = input.sigmoid()
    if pos_weight is None:
        grad = (s - target) * scale
    else:
        grad = (((pos_weight - 1) * target + 1) * s - pos_weight * target) * scale
    if weight is not None:
        grad = grad * weight
    grad_target = None
    if step.needs_input_grad(1):
        # d/dy of (1 - y) x + (1 + (p - 1) y) log(1 + exp(-x)).
        grad_target = -input
        if pos_weight is not None:
            grad_target = grad_target + (pos_weight - 1) * ((-input.abs()).exp().log1p() + (-input).clamp_min(0))
        grad_target = grad_target * scale
        if weight is not None:
            grad_target = grad_target * weight
    return grad if step.needs_input_grad(0) else None, grad_target, None, None


BCE_LOGITS = OpDef("binary_cross_entropy_with_logits", "BinaryCrossEntropyWithLogitsBackward0", _bce_logits_vjp)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one numerically stable step.

    >>> F.binary_cross_entropy_with_logits(tapegrad.tensor([0.]), tapegrad.tensor([1.]))
    tensor(0.6931)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")

    def forward() -> Tensor:
        loss = _bce_logits_terms(input, target, pos_weight)
        return _reduce(loss * weight if weight is not None else loss, reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(BCE_LOGITS, (input, target, weight, pos_weight), out, (reduction,),
                      saved=(input, target, weight, pos_weight))
    return out


# ---------------------------------------------------------------- negative log likelihood

def _nll_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # (The target itself, saved last, is read only for its version: changed in place after the
    # loss, it makes backward raise, as in PyTorch.)
    target_index, picked_weight, ignored, _ = step.saved_values()
    reduction, denominator, class_axis = step.attrs
    scale = g if reduction != "mean" else g / denominator
    picked = -scale * picked_weight
    if ignored is not None:
        # Ignored targets get no gradient at all, not 0 * (g / 0) when every target is ignored.
        picked = picked.masked_fill(ignored, 0.0)
    grad = scatter_into_zeros(picked.unsqueeze(class_axis), step.input_meta[0][0],
                              class_axis, target_index.unsqueeze(class_axis))
    return (grad,)


NLL_LOSS = OpDef("nll_loss", "NllLossBackward0", _nll_vjp)
NLL_LOSS_2D = OpDef("nll_loss2d", "NllLoss2DBackward0", _nll_vjp)


class _Targets:
    """Class-index targets checked against log-probabilities, with their per-element weights."""

    def __init__(self, log_probs: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int) -> None:
        if log_probs.ndim == 0:
            raise ValueError("Expected 1 or more dimensions (got 0)")
        if not isinstance(target, Tensor):
            raise TypeError(f"nll_loss_nd(): argument 'target' (position 2) must be Tensor, not "
                            f"{type(target).__name__}")
        if target._data.dtype != np.int64:
            raise RuntimeError(f"expected target dtype to be Long or Byte, but got {target.dtype.scalar_name}")
        self.class_axis = 0 if log_probs.ndim == 1 else 1
        classes = self.classes = log_probs.shape[self.class_axis]
        batch = target.shape[0] if target.ndim else 0
        if log_probs.ndim > 1 and batch != log_probs.shape[0]:
            raise ValueError(f"Expected input batch_size ({log_probs.shape[0]}) to match target batch_size "
                             f"({batch}).")
        expected = tuple(s for d, s in enumerate(log_probs.shape) if d != self.class_axis)
        if tuple(target.shape) != expected:
            raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
        if weight is not None and tuple(weight.shape) != (classes,):
            raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no classes but "
                               f"got weight tensor of shape: {list(weight.shape)}")
        dtype = log_probs._data.dtype
        index, picked, ignored, total = cpu.nll_targets(target._data, None if weight is None else weight._data,
                                                        classes, ignore_index, dtype)
        self.target = target
        self.index = _wrap(index)
        self.picked_weight = _wrap(picked)
        # The mean's divisor: a number, or while a step is compiled the 0-d tensor each replay
        # computes, so batches with other weights or other ignored targets divide by their own.
        self.total_weight: float | Tensor = float(total)
        self.ignored_mask = _wrap(ignored) if ignored.any() else None
        if trace.ACTIVE is not None:
            self.total_weight = _wrap(total)
            # Always masked while compiled: a later batch may ignore targets this one does not.
            self.ignored_mask = _wrap(ignored)
            inputs = (target,) if weight is None else (target, weight)
            trace.ACTIVE.emit(rules.NLL_TARGETS, inputs, (index, picked, ignored, total), (classes, ignore_index))


def _nll(log_probs: Tensor, targets: _Targets, reduction: str) -> Tensor:
    _check_reduction(reduction)
    if not log_probs.is_floating_point():
        kernel = "nll_loss2d_forward_out_frame" if log_probs.ndim > 2 else "nll_loss_out_frame"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{log_probs.dtype.scalar_name}\'')
    class_axis = targets.class_axis
    denominator = targets.total_weight if reduction == "mean" else 1.0

    def forward() -> Tensor:
        chosen = log_probs.gather(class_axis, targets.index.unsqueeze(class_axis)).squeeze(class_axis)
        loss = -chosen * targets.picked_weight
        if reduction == "none":
            return loss
        total = loss.sum()
        return total / denominator if reduction == "mean" else total

    if log_probs.ndim == 2 and reduction != "none":
        # The common (batch, classes) case as one kernel instead of gather, multiply and sum.
        traced = isinstance(denominator, Tensor)
        out = _wrap(cpu.negative_picked_sum(log_probs._data, targets.index._data, targets.picked_weight._data,
                                            float(denominator._data) if traced else denominator))
        if trace.ACTIVE is not None:
            divisor = (denominator,) if traced else ()
            trace.ACTIVE.emit(rules.PICKED_SUM, (log_probs, targets.index, targets.picked_weight, *divisor), out)
    else:
        out = _without_grad(forward)
    if grad_mode.state.enabled and log_probs._requires_grad:
        # PyTorch runs inputs with spatial dims through nll_loss2d; all but 4-d inputs are reshaped
        # to 4-d for it, so their unreduced loss comes back through a view.
        op = NLL_LOSS_2D if log_probs.ndim > 2 else NLL_LOSS
        out = record(op, (log_probs,), out, (reduction, denominator, class_axis),
                     saved=(targets.index, targets.picked_weight, targets.ignored_mask, targets.target))
        if reduction == "none" and log_probs.ndim > 2 and log_probs.ndim != 4:
            out = out.view(tuple(out.shape))
    return out


# The dtypes the CPU loss kernels are compiled for here.
_FLOAT_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _class_index_rows(rows: Any, labels: Any, reduction: str) -> bool:
    """Whether the one-kernel NLL below takes ``rows`` (batch, classes) and ``labels``: CPU
    arrays, float32/64 rows with a class, one int64 label a row, a reduction, no trace."""
    return (trace.ACTIVE is None and reduction in ("mean", "sum") and type(rows) is np.ndarray and rows.ndim == 2
            and type(labels) is np.ndarray and labels.dtype == np.int64 and labels.shape == rows.shape[:1]
            and rows.dtype in _FLOAT_KERNEL_DTYPES and rows.shape[1] > 0)


def _unweighted_nll_of(log_probs: Tensor, target: Tensor, loss: float, reduction: str) -> Tensor:
    """The loss tensor ``loss`` of ``log_probs`` and every one of ``target``'s labels (none
    ignored), with the very step the general path records (the same saved index and weights, as
    ``_Targets`` makes them), so the backward sweep, fused or not, is the same. With none
    ignored the index is the target itself (when contiguous), whose version guards it as the
    general path's saved target does."""
    rows = log_probs._data
    out = _wrap(np.asarray(loss, dtype=rows.dtype))
    if grad_mode.state.enabled and log_probs._requires_grad:
        # (A contiguous index, as the general path's: the fused sweep's kernel is the same.)
        index = target if target._data.flags.c_contiguous else _wrap(np.ascontiguousarray(target._data))
        saved = (index, _wrap(np.ones(rows.shape[0], rows.dtype)), None, target)
        out = record(NLL_LOSS, (log_probs,), out, (reduction, _nll_divisor(rows, reduction), 1), saved=saved)
    return out


def _nll_divisor(rows: np.ndarray, reduction: str) -> float:
    """What a reduction of one loss a row divides by: for a mean the row count rounded to the
    rows' dtype (PyTorch and ``_Targets`` total the weights in it: above 2**24 rows a float32
    count is not exact), else 1."""
    if reduction != "mean":
        return 1.0
    count = rows.shape[0]
    return float(count) if count <= 1 << 24 else float(rows.dtype.type(count))


def _unweighted_nll(log_probs: Tensor, target: Tensor, ignore_index: int, reduction: str) -> Tensor | None:
    """nll_loss of a (batch, classes) CPU array without class weights, reduced, where no target
    is ignored (a training batch's loss), in one kernel call; None where that does not hold.
    It skips the general path's bookkeeping arrays and checks, which cost more than the loss
    on a small batch."""
    rows, labels = log_probs._data, target._data
    if not _class_index_rows(rows, labels, reduction):
        return None
    loss, count = cpu.class_nll(rows, labels, ignore_index, _nll_divisor(rows, reduction))
    return None if count < 0 else _unweighted_nll_of(log_probs, target, loss, reduction)


def _unweighted_cross_entropy(input: Tensor, target: Tensor, ignore_index: int,
                              reduction: str) -> tuple[Tensor | None, Tensor | None]:
    """(loss, None) for cross_entropy of a (batch, classes) CPU array as ``_unweighted_nll``
    takes it, its log-softmax and NLL in one kernel call, recording the steps log_softmax and
    nll_loss record; (None, log-probabilities) when a target is ignored (the general NLL must
    mask it); (None, None) when the call is not of that kind."""
    rows, labels = input._data, target._data
    if not _class_index_rows(rows, labels, reduction):
        return None, None
    log_rows, loss, count = cpu.log_softmax_nll(rows, labels, ignore_index, _nll_divisor(rows, reduction))
    log_probs = _wrap(log_rows)
    if grad_mode.state.enabled and input._requires_grad:
        log_probs = record(_composite.LOG_SOFTMAX, (input,), log_probs, (1,), saved=(OUTPUT,))
    if count < 0:
        return None, log_probs
    return _unweighted_nll_of(log_probs, target, loss, reduction), None


def _nll_cuda_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    target, weight = step.saved_values()
    reduction, total, ignore_index, shape = step.attrs
    from ..cuda import _kernels

    grad = _kernels.nll_backward(g._data, shape, target._data, total, None if weight is None else weight._data,
                                 ignore_index, reduction)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(NLL_BACKWARD_CUDA, (g, target, total, weight), grad, (shape, ignore_index, reduction))
    return (_wrap(grad),)


# The CUDA kernel pair: its backward is a kernel, not tapegrad ops (so no double backward).
NLL_LOSS_CUDA = OpDef("nll_loss_cuda", "NllLossBackward0", _nll_cuda_vjp)
NLL_LOSS_2D_CUDA = OpDef("nll_loss2d_cuda", "NllLoss2DBackward0", _nll_cuda_vjp)


def _nll_cuda(log_probs: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, reduction: str
              ) -> tuple[Tensor, Any]:
    """NLL of class-index targets for log-probabilities on CUDA: one kernel forward, one back.
    Returns the loss and the total weight of the kept targets (a 1-element float64 device
    array; None for reduction 'none')."""
    _check_reduction(reduction)
    if not isinstance(target, Tensor):
        raise TypeError(f"nll_loss_nd(): argument 'target' (position 2) must be Tensor, not {type(target).__name__}")
    if any(isinstance(t._data, np.ndarray) for t in (target, weight) if t is not None):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           "cuda:0 and cpu!")
    if target._data.dtype != np.int64:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {target.dtype.scalar_name}")
    if log_probs.ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    class_axis = 0 if log_probs.ndim == 1 else 1
    if log_probs.ndim > 1 and target.shape[0] != log_probs.shape[0]:
        raise ValueError(f"Expected input batch_size ({log_probs.shape[0]}) to match target batch_size "
                         f"({target.shape[0]}).")
    expected = tuple(s for d, s in enumerate(log_probs.shape) if d != class_axis)
    if tuple(target.shape) != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    classes = log_probs.shape[class_axis]
    if weight is not None and tuple(weight.shape) != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no classes but "
                           f"got weight tensor of shape: {list(weight.shape)}")
    from ..cuda import _kernels

    loss, total = _kernels.nll(log_probs._data, target._data, None if weight is None else weight._data,
                               ignore_index, reduction)
    if trace.ACTIVE is not None:
        # The kernel checks the targets' range (and counts ignored ones) at every replay.
        trace.ACTIVE.emit(NLL_CUDA, (log_probs, target, weight), (loss,) if total is None else (loss, total),
                          (ignore_index, reduction))
    out = _wrap(loss)
    if grad_mode.state.enabled and log_probs._requires_grad:
        # As on the CPU (``_nll``): inputs with spatial dims are PyTorch's nll_loss2d, whose
        # unreduced loss comes back through a view unless the input is 4-d.
        op = NLL_LOSS_2D_CUDA if log_probs.ndim > 2 else NLL_LOSS_CUDA
        out = record(op, (log_probs,), out,
                     (reduction, total, ignore_index, tuple(log_probs.shape)), saved=(target, weight))
        if reduction == "none" and log_probs.ndim > 2 and log_probs.ndim != 4:
            out = out.view(tuple(out.shape))
    return out, total


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of class-index targets under log-probabilities ``input`` (classes
    on dim 1, or dim 0 unbatched); ``mean`` divides by the total weight of the kept targets.

    >>> F.nll_loss(tapegrad.tensor([[-1., -2.], [-3., -4.]]), tapegrad.tensor([0, 1]))
    tensor(2.5000)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    ignore_index = _int_argument(ignore_index, "nll_loss_nd", "ignore_index", 5)
    if not isinstance(input._data, np.ndarray):
        return _nll_cuda(input, target, weight, ignore_index, reduction)[0]
    if weight is None and isinstance(target, Tensor):
        out = _unweighted_nll(input, target, ignore_index, reduction)
        if out is not None:
            return out
    return _nll(input, _Targets(input, target, weight, ignore_index), reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Log-softmax over the class dim (dim 1, or 0 for unbatched input) then NLL.

    Targets are class indices (int64) or, when ``target`` has ``input``'s shape, class
    probabilities (float).

    >>> F.cross_entropy(tapegrad.tensor([[0., 0.]]), tapegrad.tensor([1]))
    tensor(0.6931)
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    ignore_index = _int_argument(ignore_index, "cross_entropy_loss", "ignore_index", 5)
    if isinstance(label_smoothing, Tensor):
        label_smoothing = label_smoothing.item()
    if type(label_smoothing) is not float and not isinstance(label_smoothing, numbers.Real):
        raise TypeError("cross_entropy_loss(): argument 'label_smoothing' (position 6) must be float, not "
                        f"{type(label_smoothing).__name__}")
    log_probs = None
    if weight is None and label_smoothing == 0 and isinstance(target, Tensor):
        # A training batch's loss: one kernel, the general path's checks all passed by construction.
        loss, log_probs = _unweighted_cross_entropy(input, target, ignore_index, reduction)
        if loss is not None:
            return loss
    _check_reduction(reduction)
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    # A smoothing of 0 or less (or NaN) means none (PyTorch checks only the upper bound).
    label_smoothing = float(label_smoothing) if label_smoothing > 0 else 0.0
    probabilities = isinstance(target, Tensor) and tuple(target.shape) == tuple(input.shape)
    # PyTorch tells probabilities from indices by shape alone.
    if probabilities and not target.is_floating_point():
        raise RuntimeError("Expected floating point type for target with class probabilities, got "
                           f"{target.dtype.scalar_name}")
    if input.ndim == 0:
        raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got 1)")
    class_axis = 0 if input.ndim == 1 else 1
    if log_probs is None:
        log_probs = log_softmax(input, class_axis)
    classes = input.shape[class_axis]
    shape = [1] * input.ndim
    shape[class_axis] = classes
    if probabilities:
        return _cross_entropy_probabilities(log_probs, target, weight, reduction, label_smoothing, tuple(shape))
    if not isinstance(log_probs._data, np.ndarray):
        nll, total = _nll_cuda(log_probs, target, weight, ignore_index, reduction)
        if not label_smoothing:
            return nll
        from ..cuda._arrays import adopt

        # Every target compared on the device (the CPU path reads them): no host round trip.
        ignored = ew.eq(target, ignore_index)
        total_weight = None if total is None else _wrap(adopt(total)).reshape(()).to(log_probs.dtype)
    else:
        targets = _Targets(log_probs, target, weight, ignore_index)
        nll = _nll(log_probs, targets, reduction)
        if not label_smoothing:
            return nll
        ignored = targets.ignored_mask
        total_weight = targets.total_weight
    # Constants: no gradient flows to the weights.
    class_weights = None if weight is None else weight.detach().to(log_probs.dtype).reshape(shape)
    return _smoothed_nll(nll, log_probs, class_weights, ignored, total_weight, reduction, label_smoothing)


def _smoothed_nll(nll: Tensor, log_probs: Tensor, class_weights: Tensor | None, ignored: Tensor | None,
                  total_weight: Any, reduction: str, label_smoothing: float) -> Tensor:
    """PyTorch's label smoothing of class-index targets: (1 - e) * nll + e / classes * (the
    weighted sum of -log p over classes), reduced as ``nll`` is (``ignored``: the targets equal
    to ignore_index, or None for none; ``total_weight``: the mean's divisor)."""
    class_axis = 0 if log_probs.ndim == 1 else 1
    classes = log_probs.shape[class_axis]
    terms = log_probs * class_weights if class_weights is not None else log_probs
    smooth = -terms.sum(class_axis)
    if ignored is not None:
        # masked_fill, not a product with the mask: its backward gives ignored targets exactly 0
        # even when the mean divides by a zero total weight.
        smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "mean":
        smooth = smooth.sum() / total_weight
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def _cross_entropy_probabilities(log_probs: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                                 label_smoothing: float, class_shape: tuple[int, ...]) -> Tensor:
    if tuple(target.shape) != tuple(log_probs.shape):
        raise RuntimeError(f"Expected target size {list(log_probs.shape)}, got {list(target.shape)}")
    class_axis = 0 if log_probs.ndim == 1 else 1
    classes = log_probs.shape[class_axis]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = log_probs * target
    if weight is not None:
        terms = terms * weight.reshape(class_shape)
    if reduction == "none":
        return -terms.sum(class_axis)
    if reduction == "sum":
        return -terms.sum()
    return ew.apply(ew.DIV_SCALAR, (-terms.sum(), log_probs.numel() // classes))
