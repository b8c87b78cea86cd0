"""Transposed convolutions: ``conv_transpose2d`` and ``conv_transpose1d``.

A transposed convolution of ``x`` by ``weight`` (shape ``(C_in, C_out / groups, k...)``) is the
input gradient of the convolution by the same weight whose output has ``x``'s shape, so it
runs the convolution backward kernels of ``backends/cpu_conv.py`` (``cuda_conv.py`` for CUDA
tensors) and needs no kernel of its own. Its own VJP is that convolution's forward and weight
gradient, both recorded ops, so gradients of any order are exact. A 1-d one runs over a unit
height, as ``conv1d`` does. The step is ``ConvolutionBackward0``, as in PyTorch.
"""
from __future__ import annotations

from typing import Any

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..tensor import Tensor, _wrap
from .conv import (CONV_AS_INPUT_GRAD, _as_planes, _check_conv_arguments, _check_conv_dtypes, _check_groups,
                   _conv_param, _conv_weight_grad, _convolve, _int_list, _lift, _sizes, input_grad_data)
from .registry import OpDef, record

__all__: list[str] = ["conv_transpose1d", "conv_transpose2d"]


def _conv_transpose_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    x, weight = step.saved_values()
    geom, groups = step.attrs
    g = _as_planes(g)
    return (_convolve(g, weight, None, geom, groups, op=CONV_AS_INPUT_GRAD) if step.needs_input_grad(0) else None,
            _conv_weight_grad(g, x, tuple(weight.shape), geom, groups) if step.needs_input_grad(1) else None,
            g.sum((0, 2, 3)) if step.needs_input_grad(2) else None)


CONV_TRANSPOSE = OpDef("conv_transpose", "ConvolutionBackward0", _conv_transpose_vjp)


def _check_transposed_shapes(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int) -> None:
    _check_groups(weight, groups)
    w_shape = list(weight.shape)
    if x.shape[1] != w_shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {w_shape}, expected input{list(x.shape)} to have "
                           f"{w_shape[0]} channels, but got {x.shape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != w_shape[1] * groups):
        raise RuntimeError(f"Given transposed=1, weight of size {w_shape}, expected bias to be 1-dimensional with "
                           f"{w_shape[1] * groups} elements, but got bias of size {list(bias.shape)} instead")


def transposed_sizes(sizes: tuple[int, ...], strides: Any, paddings: Any, dilations: Any, kernel: tuple[int, ...],
                     extras: Any) -> tuple[int, ...]:
    """The spatial output sizes of a transposed convolution, checked as PyTorch checks them."""
    outs = tuple((n - 1) * s - 2 * p + d * (k - 1) + e + 1
                 for n, s, p, d, k, e in zip(sizes, strides, paddings, dilations, kernel, extras))
    if min(outs) <= 0:
        raise RuntimeError(f"Given input size per channel: {_sizes(sizes)}. Calculated output size per channel: "
                           f"{_sizes(outs)}. Output size is too small")
    return outs


def _conv_transpose(fn: str, dims: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
                    padding: Any, output_padding: Any, groups: int, dilation: Any) -> Tensor:
    _check_conv_arguments(fn, dims, input, weight, bias, groups)
    weight_dim = weight.ndim
    strides = _conv_param("stride", _int_list(fn, "stride", 4, stride), weight_dim, dims)
    paddings = _conv_param("padding", _int_list(fn, "padding", 5, padding), weight_dim, dims)
    extras = _conv_param("output_padding", _int_list(fn, "output_padding", 6, output_padding), weight_dim, dims)
    dilations = _conv_param("dilation", _int_list(fn, "dilation", 8, dilation), weight_dim, dims)
    if min(paddings) < 0:
        raise RuntimeError("negative padding is not supported")
    if min(extras) < 0:
        raise RuntimeError("negative output_padding is not supported")
    if min(strides) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilations) <= 0:
        raise RuntimeError("non-positive dilation is not supported")
    unbatched = input.ndim == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    _check_transposed_shapes(x, weight, bias, groups)
    _check_conv_dtypes(x, weight, bias)
    if any(e >= s and e >= d for e, s, d in zip(extras, strides, dilations)):
        (eh, ew), (sh, sw), (dh, dw) = _lift(extras, 0), _lift(strides, 1), _lift(dilations, 1)
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                           f"output_padding_height: {eh} output_padding_width: {ew} stride_height: {sh} "
                           f"stride_width: {sw} dilation_height: {dh} dilation_width: {dw}")
    kernel, sizes = tuple(weight.shape[2:]), tuple(x.shape[2:])
    outs = transposed_sizes(sizes, strides, paddings, dilations, kernel, extras)
    # The convolution whose input gradient this is: its input has the result's shape and its
    # output has x's.
    geom = _lift(kernel, 1) + _lift(sizes, 1) + _lift(strides, 1) + _lift(paddings, 0) + _lift(dilations, 1)
    channels = weight.shape[1] * groups
    x4, w4 = (x.unsqueeze(2), weight.unsqueeze(2)) if dims == 1 else (x, weight)
    planes = (x.shape[0], channels) + _lift(outs, 1)
    out = _wrap(input_grad_data(x4, w4, planes, geom, int(groups)))
    if bias is not None:
        with grad_mode.no_grad():
            out = out + bias.reshape(channels, 1, 1)
    if dims == 1:
        out = _wrap(out._data.reshape((x.shape[0], channels) + outs))
    if grad_mode.state.enabled and (x._requires_grad or weight._requires_grad
                                    or (bias is not None and bias._requires_grad)):
        out = record(CONV_TRANSPOSE, (x4, w4, bias), out, (geom, int(groups)), saved=(x4, w4))
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """2-D transposed convolution of an ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)`` input
    with ``weight`` of shape ``(C_in, C_out / groups, kH, kW)``. The output's height is
    ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``, likewise its
    width.

    >>> F.conv_transpose2d(tapegrad.ones(1, 1, 2, 2), tapegrad.ones(1, 1, 2, 2))[0, 0]
    tensor([[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]])
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """1-D transposed convolution of an ``(N, C_in, L)`` or unbatched ``(C_in, L)`` input with
    ``weight`` of shape ``(C_in, C_out / groups, kL)``.

    >>> F.conv_transpose1d(tapegrad.ones(1, 1, 3), tapegrad.ones(1, 1, 2), stride=2)
    tensor([[[1., 1., 1., 1., 1., 1.]]])
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)
