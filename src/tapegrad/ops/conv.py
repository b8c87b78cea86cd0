"""Convolution and pooling: ``conv2d`` and ``conv1d``, ``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``.

Each forward is one recorded step whose kernels live in ``backends/cpu_conv.py``, or for CUDA
tensors in its twin ``backends/cuda_conv.py`` (same functions; ``_kernels`` picks one). Every
backward is itself a recorded op whose VJP is again one of these ops, so gradients of any
order are exact:

- ``conv2d(x, w)`` has VJPs ``_conv_input_grad(g, w)`` and ``_conv_weight_grad(x, g)``; both
  are bilinear, and their VJPs are ``conv2d`` and each other.
- ``max_pool2d`` scatters the gradient to the saved argmax indices; the scatter's VJP is the
  gather at the same indices, and the gather's is the scatter.
- the average poolings are linear: forward and backward are each other's VJP.

Without ``create_graph`` the convolution VJP runs one fused backward (the output gradient is
rearranged once for the input and the weight gradients, and the forward's column buffer is
reused for the weight gradient) and records nothing.

While ``tapegrad.compile`` records a step (``trace.ACTIVE`` is set), each of these kernels,
forward and backward, reports what it computed through ``compiler/conv_rules.py``, whose
rules replay the same kernels; the eager path only checks ``trace.ACTIVE``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu_conv
from ..compiler import conv_rules, trace
from ..tensor import Tensor, _wrap, type_name
from .registry import OpDef, record
from ..user_warnings import warn_user

__all__: list[str] = ["adaptive_avg_pool2d", "avg_pool2d", "conv1d", "conv2d", "max_pool2d"]

Pair = tuple[int, int]

# The kernels compute in these; other dtypes raise as PyTorch does for an unsupported dtype.
_FLOAT_KINDS = (np.dtype(np.float32), np.dtype(np.float64))
# PyTorch's C type names in its dtype-mismatch messages.
_C_TYPE_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _check_float(name: str, x: Tensor) -> None:
    if x._data.dtype not in _FLOAT_KINDS:
        raise NotImplementedError(f"\"{name}\" not implemented for '{x.dtype.scalar_name}'")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _int_list(fn: str, name: str, position: int, value: Any) -> list[int]:
    """An int or a sequence of ints as a list, else PyTorch's argument TypeError."""
    if _is_int(value):
        return [int(value)]
    if isinstance(value, (tuple, list)) and all(_is_int(v) for v in value):
        return [int(v) for v in value]
    raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be tuple of ints, "
                    f"not {type(value).__name__}")


def _kernels(data: Any) -> Any:
    """The kernel module for ``data``'s device: ``cpu_conv``, or its CUDA twin ``cuda_conv``
    (same functions and arguments), imported on first use so ``import tapegrad`` never loads
    ``numba.cuda``."""
    if isinstance(data, np.ndarray):
        return cpu_conv
    from ..backends import cuda_conv

    return cuda_conv


def _contiguous(data: Any, dtype: Any = None) -> Any:
    """``data`` as a C-contiguous buffer (in ``dtype`` when given) on its own device."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data, dtype)
    return _kernels(data).contiguous(data, dtype)


def _planes(data: Any) -> Any:
    """A C-contiguous (planes, H, W) view (or copy) of an (N, C, H, W) or (C, H, W) array."""
    shape = tuple(data.shape)  # (the simulator's device shapes take no negative index)
    return _contiguous(data).reshape(-1, shape[-2], shape[-1])


def _plane_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """(planes, H, W) of an (N, C, H, W) or (C, H, W) shape."""
    shape = tuple(shape)  # (the simulator's device shapes take no negative index)
    planes = 1
    for size in shape[:-2]:
        planes *= size
    return planes, shape[-2], shape[-1]


def _graph_needed(*tensors: Tensor | None) -> bool:
    """True when a backward is being recorded (``create_graph``) and something it reads can
    carry a gradient: the VJP is then built from recorded ops."""
    if not grad_mode.state.enabled:
        return False
    return any(t is not None and t._requires_grad for t in tensors)


# ================================================================ convolution

def _convolve(x: Tensor, weight: Tensor, bias: Tensor | None, geom: cpu_conv.Geometry, groups: int,
              out_shape: tuple[int, ...] | None = None, op: OpDef | None = None) -> Tensor:
    """The checked 4-D convolution as one ``ConvolutionBackward0`` step (``op``: the same step
    under another name); ``out_shape`` reshapes its result (a 1-d convolution's drops the unit
    height: see ``_as_planes``)."""
    record_step = grad_mode.state.enabled and (x._requires_grad or weight._requires_grad
                                               or (bias is not None and bias._requires_grad))
    data, columns = _kernels(x._data).conv2d_forward(
        _contiguous(x._data), _contiguous(weight._data), None if bias is None else _contiguous(bias._data),
        geom, groups, keep_columns=record_step and weight._requires_grad)
    if trace.ACTIVE is not None:
        conv_rules.emit_conv2d(x, weight, bias, data, columns, geom, groups)
    out = _wrap(data if out_shape is None else data.reshape(out_shape))
    if record_step:
        # The column buffer is a plain saved value: released with the step after backward, and
        # valid while x keeps its version, which unpacking x checks.
        return record(op or CONVOLUTION, (x, weight, bias), out, (geom, groups), saved=(x, weight, columns))
    return out


def input_grad_data(grad: Tensor, weight: Tensor, input_shape: tuple[int, ...], geom: cpu_conv.Geometry,
                    groups: int) -> Any:
    """The input gradient of a 4-D convolution as a new buffer (recorded by nothing but a
    compiled step's trace): the transposed convolution of ``grad`` by ``weight``."""
    data, _, _ = _kernels(weight._data).conv2d_backward(
        _contiguous(grad._data, weight._data.dtype), None, _contiguous(weight._data),
        tuple(input_shape), tuple(weight.shape), geom, groups, True, False, False)
    if trace.ACTIVE is not None:
        conv_rules.emit_conv2d_backward(grad, None, weight, None, (data, None, None), input_shape,
                                        tuple(weight.shape), geom, groups)
    return data


def _conv_input_grad(grad: Tensor, weight: Tensor, input_shape: tuple[int, ...], geom: cpu_conv.Geometry,
                     groups: int) -> Tensor:
    """The input gradient of a convolution (bilinear in ``grad`` and ``weight``)."""
    out = _wrap(input_grad_data(grad, weight, input_shape, geom, groups))
    if grad_mode.state.enabled and (grad._requires_grad or weight._requires_grad):
        return record(CONV_INPUT_GRAD, (grad, weight), out, (geom, groups), saved=(grad, weight))
    return out


def _conv_weight_grad(x: Tensor, grad: Tensor, weight_shape: tuple[int, ...], geom: cpu_conv.Geometry,
                      groups: int) -> Tensor:
    """The weight gradient of a convolution (bilinear in ``x`` and ``grad``)."""
    _, data, _ = _kernels(x._data).conv2d_backward(
        _contiguous(grad._data, x._data.dtype), _contiguous(x._data), None,
        tuple(x.shape), tuple(weight_shape), geom, groups, False, True, False)
    if trace.ACTIVE is not None:
        conv_rules.emit_conv2d_backward(grad, x, None, None, (None, data, None), tuple(x.shape), weight_shape,
                                        geom, groups)
    out = _wrap(data)
    if grad_mode.state.enabled and (x._requires_grad or grad._requires_grad):
        return record(CONV_WEIGHT_GRAD, (x, grad), out, (geom, groups), saved=(x, grad))
    return out


def _as_planes(g: Tensor) -> Tensor:
    """The gradient of a convolution's output as the 4-D kernels see it: a 1-d convolution
    computes over (N, C, 1, L) but returns (N, C, L)."""
    return g.unsqueeze(2) if g.ndim == 3 else g


def _conv_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    x, weight, columns = step.saved_values()
    geom, groups = step.attrs
    g = _as_planes(g)
    need_input, need_weight, need_bias = (step.needs_input_grad(0), step.needs_input_grad(1),
                                          step.needs_input_grad(2))
    if _graph_needed(g, x, weight):
        return (_conv_input_grad(g, weight, tuple(x.shape), geom, groups) if need_input else None,
                _conv_weight_grad(x, g, tuple(weight.shape), geom, groups) if need_weight else None,
                g.sum((0, 2, 3)) if need_bias else None)
    dtype = x._data.dtype
    gx, gw, gb = _kernels(x._data).conv2d_backward(
        _contiguous(g._data, dtype), _contiguous(x._data) if need_weight else None,
        _contiguous(weight._data) if need_input else None, tuple(x.shape), tuple(weight.shape),
        geom, groups, need_input, need_weight, need_bias, columns)
    if trace.ACTIVE is not None:
        conv_rules.emit_conv2d_backward(g, x, weight, columns, (gx, gw, gb), tuple(x.shape), tuple(weight.shape),
                                        geom, groups)
    return (None if gx is None else _wrap(gx), None if gw is None else _wrap(gw),
            None if gb is None else _wrap(gb))


def _conv_input_grad_vjp(step: Step, gg: Tensor) -> tuple[Tensor | None, Tensor | None]:
    grad, weight = step.saved_values()
    geom, groups = step.attrs
    return (_convolve(gg, weight, None, geom, groups) if step.needs_input_grad(0) else None,
            _conv_weight_grad(gg, grad, tuple(weight.shape), geom, groups) if step.needs_input_grad(1) else None)


def _conv_weight_grad_vjp(step: Step, gg: Tensor) -> tuple[Tensor | None, Tensor | None]:
    x, grad = step.saved_values()
    geom, groups = step.attrs
    return (_conv_input_grad(grad, gg, tuple(x.shape), geom, groups) if step.needs_input_grad(0) else None,
            _convolve(x, gg, None, geom, groups) if step.needs_input_grad(1) else None)


CONVOLUTION = OpDef("convolution", "ConvolutionBackward0", _conv_vjp)
# PyTorch records the input and weight gradients of a convolution as one node of this name.
CONV_INPUT_GRAD = OpDef("convolution_input_grad", "ConvolutionBackwardBackward0", _conv_input_grad_vjp)
CONV_WEIGHT_GRAD = OpDef("convolution_weight_grad", "ConvolutionBackwardBackward0", _conv_weight_grad_vjp)
# A transposed convolution's input gradient is a convolution, which PyTorch records under this name.
CONV_AS_INPUT_GRAD = OpDef("convolution_as_input_grad", "ConvolutionBackwardBackward0", _conv_vjp)


def _conv_param(name: str, value: list[int], weight_dim: int, dims: int) -> tuple[int, ...]:
    """Expand a parameter of a ``dims``-d convolution to ``dims`` values, with PyTorch's check
    against the weight's rank."""
    spatial = weight_dim - 2
    if len(value) == 1:
        value = value * dims
    if len(value) != dims or spatial != dims:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {spatial} values to "
                           f"match the convolution dimensions, but got {name}={value}")
    return tuple(value)


def _sizes(values: Sequence[int]) -> str:
    """Spatial sizes as PyTorch prints them in convolution errors: ``(5 x 5)``."""
    return "(" + " x ".join(str(v) for v in values) + ")"


def _check_groups(weight: Tensor, groups: int) -> None:
    w_shape = list(weight.shape)
    if w_shape[0] < groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
                           f"but got weight of size {w_shape} instead")
    if w_shape[0] % groups:
        # PyTorch prints this shape inside an extra pair of brackets.
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size [{w_shape}] instead")


def _check_conv_shapes(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int,
                       padded: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    _check_groups(weight, groups)
    w_shape = list(weight.shape)
    if x.shape[1] != w_shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {w_shape}, expected input{list(x.shape)} to have "
                           f"{w_shape[1] * groups} channels, but got {x.shape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != w_shape[0]):
        raise RuntimeError(f"Given weight of size {w_shape}, expected bias to be 1-dimensional with {w_shape[0]} "
                           f"elements, but got bias of size {list(bias.shape)} instead")
    kernel = [d * (k - 1) + 1 for d, k in zip(dilation, w_shape[2:])]
    if any(p < k for p, k in zip(padded, kernel)):
        raise RuntimeError(f"Calculated padded input size per channel: {_sizes(padded)}. Kernel size: "
                           f"{_sizes(kernel)}. Kernel size can't be greater than actual input size")


def _on_host(t: Tensor) -> bool:
    return isinstance(t._data, np.ndarray)


def _legacy_type_name(t: Tensor) -> str:
    """``type_name`` with PyTorch's ``.cuda`` for a CUDA tensor (its device-mismatch message)."""
    return type_name(t) if _on_host(t) else type_name(t).replace("tapegrad.", "tapegrad.cuda.", 1)


def _check_conv_dtypes(x: Tensor, weight: Tensor, bias: Tensor | None, kernel: str = "conv2d",
                       three_d: bool = False) -> None:
    """Devices, then dtypes, with the messages of PyTorch's kernels (its 3-d ones word the
    weight's dtype mismatch differently)."""
    if _on_host(weight) != _on_host(x):
        raise RuntimeError(f"Input type ({_legacy_type_name(x)}) and weight type ({_legacy_type_name(weight)}) "
                           "should be the same or input should be a MKLDNN tensor and weight is a dense tensor")
    if bias is not None and _on_host(bias) != _on_host(x):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           "cuda:0 and cpu!")
    if weight._data.dtype != x._data.dtype:
        raise RuntimeError(f"expected scalar type {x.dtype.scalar_name} but found {weight.dtype.scalar_name}"
                           if three_d else
                           f"Input type ({type_name(x)}) and weight type ({type_name(weight)}) should be the same")
    if bias is not None and bias._data.dtype != x._data.dtype:
        raise RuntimeError(f"Input type ({_C_TYPE_NAMES.get(x._data.dtype, x.dtype.scalar_name)}) and bias type "
                           f"({_C_TYPE_NAMES.get(bias._data.dtype, bias.dtype.scalar_name)}) should be the same")
    _check_float(kernel, x)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of an ``(N, C, H, W)`` or unbatched ``(C, H, W)``
    input with ``weight`` of shape ``(out_channels, C / groups, kH, kW)``.

    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input size,
    stride 1 only; an even kernel pads one more at the bottom/right, as PyTorch does).

    >>> x = tapegrad.ones(1, 1, 3, 3)
    >>> F.conv2d(x, tapegrad.ones(1, 1, 2, 2), padding=1)[0, 0]
    tensor([[1., 2., 2., 1.],
            [2., 4., 4., 2.],
            [2., 4., 4., 2.],
            [1., 2., 2., 1.]])
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of an ``(N, C, L)`` or unbatched ``(C, L)`` input
    with ``weight`` of shape ``(out_channels, C / groups, kL)``: the 2-d kernels over a unit
    height, recorded as one ``ConvolutionBackward0`` step as in PyTorch.

    >>> F.conv1d(tapegrad.ones(1, 1, 4), tapegrad.ones(1, 1, 2), padding=1)
    tensor([[[1., 2., 2., 2., 1.]]])
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def _check_conv_arguments(fn: str, dims: int, input: Tensor, weight: Tensor, bias: Tensor | None,
                          groups: int) -> None:
    """The argument types and the input's rank of a ``dims``-d convolution ``fn``."""
    for position, (name, value) in enumerate((("input", input), ("weight", weight), ("bias", bias)), 1):
        if not isinstance(value, Tensor) and (value is not None or name != "bias"):
            raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, "
                            f"not {type(value).__name__}")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {fn}, but got "
                           f"input of size: {list(input.shape)}")
    if not _is_int(groups):
        raise TypeError(f"{fn}(): argument 'groups' (position 7) must be int, not {type(groups).__name__}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")


def _lift(values: tuple[int, ...], fill: int) -> Pair:
    """A 1-d convolution's parameter as the 2-d kernels take it (a unit height in front)."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


def padding_totals(padding: Any, paddings: tuple[int, ...] | None, dilations: tuple[int, ...],
                   kernel: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(total padding, padding before) per spatial dim: ``paddings`` on both sides, or for
    ``padding`` 'valid' none and for 'same' the kernel's extent minus one, the odd one out at the
    end (with PyTorch's warning, at the caller's line)."""
    if paddings is not None:
        return tuple(2 * p for p in paddings), paddings
    totals = tuple(0 if padding == "valid" else d * (k - 1) for d, k in zip(dilations, kernel))
    if padding == "same" and any(t % 2 for t in totals):
        warn_user("Using padding='same' with even kernel lengths and odd dilation may require a "
                  "zero-padded copy of the input be created", UserWarning)
    return totals, tuple(t // 2 for t in totals)


def _conv(fn: str, dims: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
          dilation: Any, groups: int) -> Tensor:
    """A 1-d or 2-d convolution: checked with PyTorch's messages for ``fn``, then run by the 2-d
    kernels (a 1-d one over a unit height) as one ``ConvolutionBackward0`` step."""
    _check_conv_arguments(fn, dims, input, weight, bias, groups)
    weight_dim = weight.ndim
    strides = _conv_param("stride", _int_list(fn, "stride", 4, stride), weight_dim, dims)
    dilations = _conv_param("dilation", _int_list(fn, "dilation", 6, dilation), weight_dim, dims)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and any(s != 1 for s in strides):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        paddings = None
    else:
        paddings = _conv_param("padding", _int_list(fn, "padding", 5, padding), weight_dim, dims)
    unbatched = input.ndim == dims + 1
    x = input.unsqueeze(0) if unbatched else input
    if paddings is not None and min(paddings) < 0:
        raise RuntimeError("negative padding is not supported")
    if min(strides) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(dilations) <= 0:
        raise RuntimeError("non-positive dilation is not supported")
    kernel = tuple(weight.shape[2:])
    totals, before = padding_totals(padding, paddings, dilations, kernel)
    sizes = tuple(x.shape[2:])
    _check_conv_shapes(x, weight, bias, groups, tuple(n + t for n, t in zip(sizes, totals)), dilations)
    _check_conv_dtypes(x, weight, bias)
    outs = tuple((n + t - d * (k - 1) - 1) // s + 1
                 for n, t, d, k, s in zip(sizes, totals, dilations, kernel, strides))
    geom = _lift(kernel, 1) + _lift(outs, 1) + _lift(strides, 1) + _lift(before, 0) + _lift(dilations, 1)
    if dims == 1:
        out = _convolve(x.unsqueeze(2), weight.unsqueeze(2), bias, geom, int(groups),
                        (x.shape[0], weight.shape[0], outs[0]))
    else:
        out = _convolve(x, weight, bias, geom, int(groups))
    return out.squeeze(0) if unbatched else out


# ================================================================ pooling: shared checks

def _pool_pair(fn: str, name: str, value: Any, position: int, message: str) -> Pair:
    values = _int_list(fn, name, position, value)
    if len(values) not in (1, 2):
        raise RuntimeError(f"{fn}: {name} {message}")
    return (values[0], values[-1])


def _pool_window(fn: str, kernel_size: Any, stride: Any, padding: Any) -> tuple[Pair, Pair, Pair]:
    """A pooling call's kernel size, stride (the kernel size when omitted) and padding as pairs."""
    kernel = _pool_pair(fn, "kernel_size", kernel_size, 2, "must either be a single int, or a tuple of two ints")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride_hw = kernel
    else:
        stride_hw = _pool_pair(fn, "stride", stride, 3, "must either be omitted, a single int, or a tuple of two ints")
    pad = _pool_pair(fn, "padding", padding, 4, "must either be a single int, or a tuple of two ints")
    return kernel, stride_hw, pad


def _pool_output_size(size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape`` with its checks."""
    if stride == 0:
        raise RuntimeError("stride should not be zero")
    if pad < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {pad}")
    effective = (kernel - 1) * dilation + 1
    if pad > int(effective / 2):  # C++ integer division truncates toward zero
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pad}, "
                           f"kernel_size={kernel} and dilation={dilation}")
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        # The last window must start inside the input or its left padding.
        out -= 1
    return out


def _pool_shape_check(input: Tensor, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair, out_hw: Pair) -> None:
    """PyTorch's ``pool2d_shape_check``."""
    if kernel[0] <= 0 or kernel[1] <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {kernel[0]} kW: {kernel[1]}")
    if stride[0] <= 0 or stride[1] <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got dH: {stride[0]} dW: {stride[1]}")
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
                           f"dilationW: {dilation[1]}")
    shape = input.shape
    if not ((input.ndim == 3 and 0 not in shape) or (input.ndim == 4 and 0 not in shape[1:])):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
                           f"but got:{list(shape)}")
    if kernel[1] // 2 < pad[1] or kernel[0] // 2 < pad[0]:
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got padW = {pad[1]}, "
                           f"padH = {pad[0]}, kW = {kernel[1]}, kH = {kernel[0]}")
    if out_hw[0] < 1 or out_hw[1] < 1:
        planes, height, width = shape[-3], shape[-2], shape[-1]
        raise RuntimeError(f"Given input size: ({planes}x{height}x{width}). Calculated output size: "
                           f"({planes}x{out_hw[0]}x{out_hw[1]}). Output size is too small")


def _pool_output_hw(input: Tensor, kernel: Pair, stride: Pair, pad: Pair, dilation: Pair, ceil_mode: bool) -> Pair:
    """The pooled (H, W) of ``input``, with PyTorch's checks of the window and of the result."""
    height, width = input.shape[-2], input.shape[-1]
    out_hw = (_pool_output_size(height, kernel[0], pad[0], stride[0], dilation[0], ceil_mode),
              _pool_output_size(width, kernel[1], pad[1], stride[1], dilation[1], ceil_mode))
    _pool_shape_check(input, kernel, stride, pad, dilation, out_hw)
    return out_hw


# ================================================================ max pooling

def _max_pool_scatter(grad: Tensor, indices: Tensor, input_shape: tuple[int, ...]) -> Tensor:
    """Zeros of ``input_shape`` with ``grad`` added at the argmax ``indices``."""
    data = _kernels(grad._data).max_pool2d_backward(_planes(grad._data), _planes(indices._data), _plane_shape(input_shape))
    out = _wrap(data.reshape(input_shape))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.MAX_POOL2D_SCATTER, (grad, indices), out._data)
    if grad_mode.state.enabled and grad._requires_grad:
        return record(MAX_POOL2D_BACKWARD, (grad,), out, saved=(indices,))
    return out


def _max_pool_gather(source: Tensor, indices: Tensor) -> Tensor:
    """``source`` read at the argmax ``indices`` (the scatter's adjoint)."""
    data = _kernels(source._data).max_pool2d_gather(_planes(source._data), _planes(indices._data))
    out = _wrap(data.reshape(indices.shape))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.MAX_POOL2D_GATHER, (source, indices), out._data)
    if grad_mode.state.enabled and source._requires_grad:
        return record(MAX_POOL2D_GATHER, (source,), out, saved=(indices,))
    return out


def _max_pool_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (indices,) = step.saved_values()
    return (_max_pool_scatter(g, indices, step.input_meta[0][0]),)


def _max_pool_scatter_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (indices,) = step.saved_values()
    return (_max_pool_gather(g, indices),)


MAX_POOL2D = OpDef("max_pool2d", "MaxPool2DWithIndicesBackward0", _max_pool_vjp)
MAX_POOL2D_BACKWARD = OpDef("max_pool2d_backward", "MaxPool2DWithIndicesBackwardBackward0", _max_pool_scatter_vjp)
MAX_POOL2D_GATHER = OpDef("max_pool2d_gather", "GatherBackward0", _max_pool_vjp)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over ``kernel_size`` windows of an ``(N, C, H, W)`` or ``(C, H, W)`` input.

    ``stride`` defaults to ``kernel_size``; implicit padding is -inf. With ``return_indices``
    also returns each maximum's flat index within its ``H * W`` plane. Of equal maxima the
    first (in row-major order) wins and receives the gradient; a NaN is always the maximum.

    >>> F.max_pool2d(tapegrad.arange(16.).reshape(1, 4, 4), 2)
    tensor([[[ 5.,  7.],
             [13., 15.]]])
    """
    kernel, stride_hw, pad = _pool_window("max_pool2d", kernel_size, stride, padding)
    dilation_hw = _pool_pair("max_pool2d", "dilation", dilation, 5,
                             "must be either a single int, or a tuple of two ints")
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    out_hw = _pool_output_hw(input, kernel, stride_hw, pad, dilation_hw, ceil_mode)
    _check_float("max_pool2d", input)
    values, where = _kernels(input._data).max_pool2d_forward(_planes(input._data), out_hw,
                                                kernel + stride_hw + pad + dilation_hw)
    shape = tuple(input.shape[:-2]) + out_hw
    out = _wrap(values.reshape(shape))
    indices = _wrap(where.reshape(shape))
    if trace.ACTIVE is not None:
        conv_rules.emit_max_pool2d(input, out._data, indices._data, kernel + stride_hw + pad + dilation_hw, out_hw)
    if grad_mode.state.enabled and input._requires_grad:
        record(MAX_POOL2D, (input,), out, saved=(indices,))
    return (out, indices) if return_indices else out


# ================================================================ average pooling

def _avg_pool(input: Tensor, geom: cpu_conv.Geometry, out_hw: Pair) -> Tensor:
    data = _kernels(input._data).avg_pool2d_forward(_planes(input._data), out_hw, geom)
    out = _wrap(data.reshape(tuple(input.shape[:-2]) + out_hw))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.AVG_POOL2D, (input,), out._data, geom)
    if grad_mode.state.enabled and input._requires_grad:
        return record(AVG_POOL2D, (input,), out, (geom, out_hw))
    return out


def _avg_pool_backward(grad: Tensor, geom: cpu_conv.Geometry, out_hw: Pair, input_shape: tuple[int, ...]) -> Tensor:
    data = _kernels(grad._data).avg_pool2d_backward(_planes(grad._data), _plane_shape(input_shape), geom)
    out = _wrap(data.reshape(input_shape))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.AVG_POOL2D_BACKWARD, (grad,), out._data, geom)
    if grad_mode.state.enabled and grad._requires_grad:
        return record(AVG_POOL2D_BACKWARD, (grad,), out, (geom, out_hw))
    return out


AVG_POOL2D = OpDef("avg_pool2d", "AvgPool2DBackward0",
                   lambda step, g: (_avg_pool_backward(g, *step.attrs, step.input_meta[0][0]),))
AVG_POOL2D_BACKWARD = OpDef("avg_pool2d_backward", "AvgPool2DBackwardBackward0",
                            lambda step, g: (_avg_pool(g, *step.attrs),))


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over ``kernel_size`` windows of an ``(N, C, H, W)`` or ``(C, H, W)`` input.

    The divisor is ``divisor_override`` when given, else the window's size counting the
    zero padding (``count_include_pad=True``) or only the input elements it covers.

    >>> F.avg_pool2d(tapegrad.arange(16.).reshape(1, 4, 4), 2)
    tensor([[[ 2.5000,  4.5000],
             [10.5000, 12.5000]]])
    """
    kernel, stride_hw, pad = _pool_window("avg_pool2d", kernel_size, stride, padding)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    if input.ndim < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-max(input.ndim, 1)}, "
                         f"{max(input.ndim, 1) - 1}], but got -3)")
    out_hw = _pool_output_hw(input, kernel, stride_hw, pad, (1, 1), ceil_mode)
    _check_float("avg_pool2d", input)
    geom = kernel + stride_hw + pad + (int(bool(count_include_pad)), int(divisor_override or 0))
    return _avg_pool(input, geom, out_hw)


# ================================================================ adaptive average pooling

def _adaptive_avg_pool(input: Tensor, out_hw: Pair) -> Tensor:
    data = _kernels(input._data).adaptive_avg_pool2d_forward(_planes(input._data), out_hw)
    out = _wrap(data.reshape(tuple(input.shape[:-2]) + out_hw))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.ADAPTIVE_AVG_POOL2D, (input,), out._data)
    if grad_mode.state.enabled and input._requires_grad:
        return record(ADAPTIVE_AVG_POOL2D, (input,), out, (out_hw,))
    return out


def _adaptive_avg_pool_backward(grad: Tensor, out_hw: Pair, input_shape: tuple[int, ...]) -> Tensor:
    data = _kernels(grad._data).adaptive_avg_pool2d_backward(_planes(grad._data), _plane_shape(input_shape))
    out = _wrap(data.reshape(input_shape))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.ADAPTIVE_AVG_POOL2D_BACKWARD, (grad,), out._data)
    if grad_mode.state.enabled and grad._requires_grad:
        return record(ADAPTIVE_AVG_POOL2D_BACKWARD, (grad,), out, (out_hw,))
    return out


ADAPTIVE_AVG_POOL2D = OpDef("adaptive_avg_pool2d", "AdaptiveAvgPool2DBackward0",
                            lambda step, g: (_adaptive_avg_pool_backward(g, *step.attrs, step.input_meta[0][0]),))
ADAPTIVE_AVG_POOL2D_BACKWARD = OpDef("adaptive_avg_pool2d_backward", "AdaptiveAvgPool2DBackwardBackward0",
                                     lambda step, g: (_adaptive_avg_pool(g, *step.attrs),))


def _keep_none_sizes(input: Tensor, output_size: Any) -> Any:
    """An adaptive pooling's ``output_size`` with its None entries replaced by the input's sizes
    (a sequence longer than the input's dims is PyTorch's ValueError)."""
    if not isinstance(output_size, (tuple, list)):
        return output_size
    if len(input.shape) <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    defaults = input.shape[-len(output_size):]
    return [d if v is None else v for v, d in zip(output_size, defaults)]


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a fixed ``output_size`` (an int, or a pair whose None entries keep the
    input's size): output cell ``i`` of ``n`` averages rows ``floor(i*H/n)`` to
    ``ceil((i+1)*H/n)`` (exclusive), likewise for columns.

    >>> F.adaptive_avg_pool2d(tapegrad.arange(9.).reshape(1, 3, 3), 2)
    tensor([[[2., 3.],
             [5., 6.]]])
    """
    output_size = _keep_none_sizes(input, output_size)
    sizes = _int_list("adaptive_avg_pool2d", "output_size", 2, output_size)
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2:
        raise RuntimeError("adaptive_avg_pool2d: output_size must be 2")
    if sizes[0] < 0 or sizes[1] < 0:
        raise RuntimeError("adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 "
                           f"but received {{{sizes[0]}, {sizes[1]}}}")
    if sizes == [1, 1]:
        # As in PyTorch: a mean over the last two dims (the step reads MeanBackward1).
        return input.mean((-1, -2), keepdim=True)
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError("adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {list(input.shape)} with dimension {d} being empty")
    _check_float("adaptive_avg_pool2d", input)
    return _adaptive_avg_pool(input, (sizes[0], sizes[1]))


# ================================================================ padding by index maps

def _pad_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of the padded dim, the input position it copies."""
    if mode == "circular":
        # As PyTorch: negative counts crop first, and the rest wraps around what is left.
        start, stop = max(-before, 0), size - max(-after, 0)
        kept = np.arange(-max(before, 0), stop - start + max(after, 0), dtype=np.int64)
        return start + kept % (stop - start)
    positions = np.arange(-before, size + after, dtype=np.int64)
    if mode == "reflect":
        positions = np.abs(positions)
        return np.where(positions >= size, 2 * (size - 1) - positions, positions)
    return np.clip(positions, 0, size - 1)  # replicate


def _index_pad_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    rows, cols, ops = step.attrs
    return (_index_unpad(g, rows, cols, ops, step.input_meta[0][0]),)


def _index_unpad_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    rows, cols, ops = step.attrs
    return (_index_pad(g, rows, cols, ops),)


def _index_pad(input: Tensor, rows: np.ndarray, cols: np.ndarray, ops: tuple[OpDef, OpDef]) -> Tensor:
    data = _kernels(input._data).gather_rows_cols(_planes(input._data), rows, cols)
    out = _wrap(data.reshape(tuple(input.shape[:-2]) + (rows.shape[0], cols.shape[0])))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.INDEX_PAD, (input,), out._data, (rows, cols))
    if grad_mode.state.enabled and input._requires_grad:
        return record(ops[0], (input,), out, (rows, cols, ops))
    return out


def _index_unpad(grad: Tensor, rows: np.ndarray, cols: np.ndarray, ops: tuple[OpDef, OpDef],
                 input_shape: tuple[int, ...]) -> Tensor:
    data = _kernels(grad._data).scatter_rows_cols(_planes(grad._data), rows, cols, _plane_shape(input_shape))
    out = _wrap(data.reshape(input_shape))
    if trace.ACTIVE is not None:
        conv_rules.emit_pool(conv_rules.INDEX_UNPAD, (grad,), out._data, (rows, cols))
    if grad_mode.state.enabled and grad._requires_grad:
        return record(ops[1], (grad,), out, (rows, cols, ops))
    return out


# Keyed by (mode, padded dims). PyTorch's circular padding has no grad_fn of its own (it is
# a composition): the name here is tapegrad's.
_PAD_OPS = {
    (mode, dims): (OpDef(f"{mode}_pad{dims}d", f"{name}Backward0", _index_pad_vjp),
                   OpDef(f"{mode}_pad{dims}d_backward", f"{name}BackwardBackward0", _index_unpad_vjp))
    for dims in (1, 2, 3)
    for mode, name in (("reflect", f"ReflectionPad{dims}D"), ("replicate", f"ReplicationPad{dims}D"),
                       ("circular", "PadCircular"))}


def pad_by_mode(input: Tensor, pad: Sequence[int], mode: str) -> Tensor:
    """Pad the last dim by ``(left, right)``, the last two by ``(left, right, top, bottom)``, or
    the last three by ``(left, right, top, bottom, front, back)``, copying input elements
    (``'reflect'``, ``'replicate'`` or ``'circular'``), with PyTorch's size checks. Negative
    counts crop. A third dim is padded first, by an index map, then the last two.

    >>> pad_by_mode(tapegrad.tensor([[[1., 2., 3.]]]), (1, 1, 0, 0), "reflect")
    tensor([[[2., 1., 2., 3., 2.]]])
    """
    dims = len(pad) // 2
    pairs = [(int(pad[2 * k]), int(pad[2 * k + 1])) for k in range(dims)] + [(0, 0)] * (2 - dims)
    sides = [(before, after, input.ndim - 1 - k, input.shape[-1 - k]) for k, (before, after) in enumerate(pairs)]
    if mode == "reflect":
        for k, (before, after, dim, size) in enumerate(sides):
            if before >= size or after >= size:
                raise RuntimeError(f"Argument #{4 + 2 * k}: Padding size should be less than the corresponding input "
                                   f"dimension, but got: padding ({before}, {after}) at dimension {dim} of input "
                                   f"{list(input.shape)}")
    elif mode == "circular" and any(max(before, after) > size for before, after, _, size in sides):
        raise RuntimeError("Padding value causes wrapping around more than once.")
    for before, after, dim, size in sides:
        kept = size - max(-before, 0) - max(-after, 0)
        if kept < 0 or (kept == 0 and max(before, 0) + max(after, 0) > 0):
            raise RuntimeError(f"{mode} padding ({before}, {after}) of dimension {dim} of input {list(input.shape)} "
                               "crops away every element it would copy from")
    if dims == 3:
        from ..creation import _constant_like

        depth = _pad_index(input.shape[-3], *pairs[2], mode)
        input = input.index_select(-3, _constant_like(depth, input))
    rows = _pad_index(input.shape[-2], *pairs[1], mode)
    cols = _pad_index(input.shape[-1], *pairs[0], mode)
    return _index_pad(input, rows, cols, _PAD_OPS[mode, dims])

