"""3-d convolutions: ``conv3d`` and ``conv_transpose3d``, each one 2-d convolution plus gathers.

``conv3d``: output depth ``o`` reads the (zero-padded) input depths ``o * stride + kd * dilation``
for ``kd < kD``. One ``index_select`` gathers those ``kD`` slices for every ``o``; moving ``o``
into the batch and ``kd`` next to each input channel turns the input ``(N, C, D, H, W)`` into
``(N * Do, C * kD, H, W)``, channels ordered ``(c, kd)`` so each group's channels stay
together. The weight ``(O, C / groups, kD, kH, kW)`` read as ``(O, C / groups * kD, kH, kW)``
has the same order, so one 2-d convolution (the existing kernels, one
``ConvolutionBackward0`` step) computes every output plane, and a permutation puts the depth
back after the channels (copied, so the result is contiguous as PyTorch's is).

``conv_transpose3d``: each input depth slice goes through one 2-d transposed convolution
whose output channels are ``(c_out, kd)`` (the weight ``(C_in, C_out / groups, kD, kH, kW)``
read as ``(C_in, C_out / groups * kD, kH, kW)``); output depth ``z`` then adds the
contributions of every ``(d, kd)`` with ``d * stride + kd * dilation = z + padding``: one
``index_select`` over the ``(d, kd)`` pairs and a sum over ``kd``. Pairs that do not exist read
a zero slice, which the 2-d convolution makes from a zero input slice appended to the input,
so no value is ever multiplied by a zero weight (an infinity there would make a NaN).

Being made of recorded ops, both run on either device, compiled steps record them, and their
gradients of any order are exact. The result is a named identity step, so its ``grad_fn``
reads ``ConvolutionBackward0`` as in PyTorch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..creation import _constant_like
from ..tensor import Tensor, _wrap
from .conv import (_check_conv_arguments, _check_conv_dtypes, _check_conv_shapes, _conv_param,
                   _convolve, _int_list, padding_totals)
from .conv_transpose import _check_transposed_shapes, conv_transpose2d, transposed_sizes
from .elementwise import ADD
from .padding import pad
from .registry import OpDef, record

__all__: list[str] = ["conv3d", "conv_transpose3d"]


def named_result(x: Tensor, op: OpDef) -> Tensor:
    """``x`` as the result of an identity step ``op``, so its ``grad_fn`` carries ``op``'s name
    (PyTorch's name for an op built here from several). The result shares ``x``'s buffer:
    callers pass an intermediate that nothing else holds."""
    if not (grad_mode.state.enabled and x._requires_grad):
        return x
    return record(op, (x,), _wrap(x._data))


def _identity_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    return (g,)


CONV3D = OpDef("conv3d", "ConvolutionBackward0", _identity_vjp)
CONV_TRANSPOSE3D = OpDef("conv_transpose3d", "ConvolutionBackward0", _identity_vjp)
# The transposed convolution's bias is added last; this addition names the result.
_BIAS_ADD = ADD.renamed("conv_transpose3d_bias", "ConvolutionBackward0")


def _check_steps(paddings: tuple[int, ...] | None, strides: tuple[int, ...], dilations: tuple[int, ...],
                 extras: tuple[int, ...] = ()) -> None:
    """PyTorch's sign checks of a 3-d convolution's arguments (a zero dilation fails later)."""
    if paddings is not None and min(paddings) < 0:
        raise RuntimeError("negative padding is not supported")
    if extras and min(extras) < 0:
        raise RuntimeError("negative output_padding is not supported")
    if min(strides) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilations) < 0:
        raise RuntimeError("dilation should be greater than zero")


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) of an ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``
    input with ``weight`` of shape ``(out_channels, C / groups, kD, kH, kW)``.

    ``padding`` is an int, a triple, ``'valid'`` (none) or ``'same'`` (output size = input size,
    stride 1 only; an even kernel pads one more at the end, as PyTorch does).

    >>> F.conv3d(tapegrad.ones(1, 1, 2, 3, 3), tapegrad.ones(1, 1, 2, 2, 2))[0, 0]
    tensor([[[8., 8.],
             [8., 8.]]])
    """
    fn = "conv3d"
    _check_conv_arguments(fn, 3, input, weight, bias, groups)
    weight_dim = weight.ndim
    strides = _conv_param("stride", _int_list(fn, "stride", 4, stride), weight_dim, 3)
    dilations = _conv_param("dilation", _int_list(fn, "dilation", 6, dilation), weight_dim, 3)
    paddings: tuple[int, ...] | None = None
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and any(s != 1 for s in strides):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
    else:
        paddings = _conv_param("padding", _int_list(fn, "padding", 5, padding), weight_dim, 3)
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    _check_steps(paddings, strides, dilations)
    kernel = tuple(weight.shape[2:])
    totals, before = padding_totals(padding, paddings, dilations, kernel)
    sizes = tuple(x.shape[2:])
    _check_conv_shapes(x, weight, bias, groups, tuple(n + t for n, t in zip(sizes, totals)), dilations)
    if min(dilations) == 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilations)}")
    _check_conv_dtypes(x, weight, bias, fn, three_d=True)
    outs = tuple((n + t - d * (k - 1) - 1) // s + 1
                 for n, t, d, k, s in zip(sizes, totals, dilations, kernel, strides))
    batch, channels, height, width = x.shape[0], x.shape[1], x.shape[3], x.shape[4]
    depth_kernel, out_depth = kernel[0], outs[0]
    if totals[0]:
        x = pad(x, (0, 0, 0, 0, before[0], totals[0] - before[0]))
    reads = (np.arange(out_depth)[:, None] * strides[0] + np.arange(depth_kernel) * dilations[0]).reshape(-1)
    if not np.array_equal(reads, np.arange(x.shape[2])):
        x = x.index_select(2, _constant_like(reads, x))
    stacked = x.reshape(batch, channels, out_depth, depth_kernel, height, width).permute(0, 2, 1, 3, 4, 5)
    stacked = stacked.reshape(batch * out_depth, channels * depth_kernel, height, width)
    out_channels = weight.shape[0]
    planar_weight = weight.reshape(out_channels, weight.shape[1] * depth_kernel, kernel[1], kernel[2])
    geom = kernel[1:] + outs[1:] + strides[1:] + before[1:] + dilations[1:]
    planes = _convolve(stacked, planar_weight, bias, geom, int(groups))  # (N * Do, O, Ho, Wo)
    out = planes.reshape((batch, out_depth, out_channels) + outs[1:]).permute(0, 2, 1, 3, 4).contiguous()
    out = named_result(out, CONV3D)
    return out.squeeze(0) if unbatched else out


def _depth_reads(depth: int, out_depth: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """For each ``(kd, z)``: the position ``d * kernel + kd`` in the ``(d, kd)`` pairs whose
    contribution lands on output depth ``z`` (``d * stride + kd * dilation = z + padding``), or
    ``depth * kernel`` (the zero slice) where no ``d`` does."""
    landing = np.arange(out_depth)[None, :] + padding - np.arange(kernel)[:, None] * dilation  # d * stride
    source = landing // stride
    exists = (landing % stride == 0) & (source >= 0) & (source < depth)
    return np.where(exists, source * kernel + np.arange(kernel)[:, None], depth * kernel)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """3-D transposed convolution of an ``(N, C_in, D, H, W)`` or unbatched ``(C_in, D, H, W)``
    input with ``weight`` of shape ``(C_in, C_out / groups, kD, kH, kW)``. The output's depth is
    ``(D - 1) * stride - 2 * padding + dilation * (kD - 1) + output_padding + 1``, likewise its
    height and width.

    >>> F.conv_transpose3d(tapegrad.ones(1, 1, 2, 1, 1), tapegrad.ones(1, 1, 2, 1, 1)).flatten()
    tensor([1., 2., 1.])
    """
    fn = "conv_transpose3d"
    _check_conv_arguments(fn, 3, input, weight, bias, groups)
    weight_dim = weight.ndim
    strides = _conv_param("stride", _int_list(fn, "stride", 4, stride), weight_dim, 3)
    paddings = _conv_param("padding", _int_list(fn, "padding", 5, padding), weight_dim, 3)
    extras = _conv_param("output_padding", _int_list(fn, "output_padding", 6, output_padding), weight_dim, 3)
    dilations = _conv_param("dilation", _int_list(fn, "dilation", 8, dilation), weight_dim, 3)
    _check_steps(paddings, strides, dilations, extras)
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    _check_transposed_shapes(x, weight, bias, groups)
    if min(dilations) == 0:
        raise RuntimeError("dilation should be greater than zero, but got dilation_depth: {}, dilation_height: {}, "
                           "dilation_width: {}".format(*dilations))
    _check_conv_dtypes(x, weight, bias, fn, three_d=True)
    if any(e >= s and e >= d for e, s, d in zip(extras, strides, dilations)):
        raise RuntimeError("output padding must be smaller than either stride or dilation, but got "
                           "output_padding_depth: {} output_padding_height: {} output_padding_width: {} "
                           "stride_depth: {} stride_height: {} stride_width: {} dilation_depth: {} "
                           "dilation_height: {} dilation_width: {}".format(*extras, *strides, *dilations))
    kernel, sizes = tuple(weight.shape[2:]), tuple(x.shape[2:])
    outs = transposed_sizes(sizes, strides, paddings, dilations, kernel, extras)
    batch, in_channels, depth, height, width = x.shape
    depth_kernel, out_channels = kernel[0], weight.shape[1] * groups
    # One zero slice after the input's own: its 2-d transposed convolution is the zero slice
    # that output depths without a contribution for some kd read.
    slices = pad(x, (0, 0, 0, 0, 0, 1)).permute(0, 2, 1, 3, 4).reshape(batch * (depth + 1), in_channels, height,
                                                                     width)
    planar_weight = weight.reshape(in_channels, weight.shape[1] * depth_kernel, kernel[1], kernel[2])
    planes = conv_transpose2d(slices, planar_weight, None, strides[1:], paddings[1:], extras[1:], int(groups),
                              dilations[1:])  # (N * (D + 1), C_out * kD, Ho, Wo), channels (c_out, kd)
    pairs = planes.reshape((batch, depth + 1, out_channels, depth_kernel) + outs[1:]).permute(0, 2, 1, 3, 4, 5)
    pairs = pairs.reshape((batch, out_channels, (depth + 1) * depth_kernel) + outs[1:])
    reads = _depth_reads(depth, outs[0], depth_kernel, strides[0], paddings[0], dilations[0])  # (kD, Do)
    gathered = pairs.index_select(2, _constant_like(reads.reshape(-1), pairs))
    out = gathered.reshape((batch, out_channels, depth_kernel) + outs).sum(2)
    if bias is not None:
        out = _BIAS_ADD(out, bias.reshape(out_channels, 1, 1, 1))
    else:
        out = named_result(out, CONV_TRANSPOSE3D)
    return out.squeeze(0) if unbatched else out
