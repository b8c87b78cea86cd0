"""3-d pooling: ``max_pool3d``, ``avg_pool3d``, ``adaptive_max_pool3d`` and
``adaptive_avg_pool3d``, as compositions of the 2-d poolings and recorded ops.

``max_pool3d`` max-pools each depth slice in height and width (``max_pool2d`` with indices),
then takes the maximum over each depth window: one ``index_select`` gathers the window's
slices and a ``gather`` reads the chosen one. The choice follows PyTorch's scan in (d, h, w)
order: the first maximum, unless the window holds a NaN, when the last NaN wins. A window's
slots list its in-input depths in order and then repeat its last one in place of padding, so
padding never wins a tie and needs no -inf. The index is ``d * H * W`` plus the slice's
``h * W + w``.

``avg_pool3d`` sums each depth slice's windows (``avg_pool2d`` with ``divisor_override=1``),
adds up each depth window's slices (positions in the padding read an appended zero slice) and
divides by a constant table of PyTorch's divisors (``count_include_pad`` counts the window
clipped to the padded input, otherwise only its in-input part; ``divisor_override`` wins).

An adaptive window is a product of one interval per dim (``floor(i*L/n)`` to
``ceil((i+1)*L/n)``, as ``adaptive_max_pool2d``'s). ``adaptive_avg_pool3d`` averages along each
dim in turn (``interpolate``'s gather, product and sum); ``adaptive_max_pool3d`` gathers each
window whole (widths padded by repeating the window's last position, which again never wins a
tie) and chooses as ``max_pool3d`` does.

All run on either device, compile, and have gradients of any order; each result's ``grad_fn``
carries PyTorch's name. The averages differ from PyTorch's one-pass sums by rounding only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..creation import _constant_like
from ..tensor import Tensor
from .adaptive_max import _windows
from .conv import _check_float, _int_list, _keep_none_sizes, _pool_output_size, avg_pool2d, max_pool2d
from .conv3d import _identity_vjp, named_result
from .elementwise import ADD, DIV, where
from .interpolate import _mix
from .padding import pad
from .registry import OpDef

__all__: list[str] = ["adaptive_avg_pool3d", "adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "avg_pool3d",
                      "max_pool3d", "max_pool3d_with_indices"]

Triple = tuple[int, int, int]

_LAST = ADD.renamed("adaptive_avg_pool3d", "AdaptiveAvgPool3DBackward0")
_MAX_POOL3D = OpDef("max_pool3d", "MaxPool3DWithIndicesBackward0", _identity_vjp)
_ADAPTIVE_MAX_POOL3D = OpDef("adaptive_max_pool3d", "AdaptiveMaxPool3DBackward0", _identity_vjp)
_AVG_DIVIDE = DIV.renamed("avg_pool3d", "AvgPool3DBackward0")


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Average pooling of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input to ``output_size`` (an
    int, or a triple whose None entries keep the input's size).

    >>> F.adaptive_avg_pool3d(tapegrad.arange(8.).reshape(1, 2, 2, 2), (1, 2, 1))
    tensor([[[[2.5000],
              [4.5000]]]])
    """
    fn = "adaptive_avg_pool3d"
    output_size = _keep_none_sizes(input, output_size)
    sizes = _int_list(fn, "output_size", 2, output_size)
    if len(sizes) == 1:
        sizes = sizes * 3
    if len(sizes) != 3:
        raise RuntimeError(f"{fn}: output_size must be 3")
    if min(sizes) < 0:
        raise RuntimeError(f"{fn}: elements of output_size must be greater than or equal to 0 but received "
                           f"{{{sizes[0]}, {sizes[1]},{sizes[2]}}}")
    if sizes == [1, 1, 1]:
        return input.mean((-1, -2, -3), keepdim=True)  # as in PyTorch (the step reads MeanBackward1)
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{fn}(): Expected 4D or 5D tensor, but got {list(input.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {list(input.shape)} with dimension {d} being empty")
    _check_float(f"{fn}_cpu", input)
    out = input
    for k, size in enumerate(sizes):
        axis = input.ndim - 3 + k
        positions, own = _windows(input.shape[axis], size)  # (cells, width)
        weights = own / own.sum(1, keepdims=True)
        out = _mix(out, axis, positions.T, weights.T.astype(input._data.dtype), _LAST if k == 2 else None)
    return out


# ================================================================ shared: arguments, checks, the choice of a maximum

def _triple(fn: str, name: str, value: Any, position: int, message: str) -> Triple:
    values = _int_list(fn, name, position, value)
    if len(values) not in (1, 3):
        raise RuntimeError(f"{fn}: {name} {message}")
    values = values * 3 if len(values) == 1 else values
    return (values[0], values[1], values[2])


def _window_arguments(fn: str, kernel_size: Any, stride: Any, padding: Any, must: str) -> tuple[Triple, Triple, Triple]:
    """Kernel size, stride (the kernel size when omitted or empty) and padding as triples;
    ``must`` is how ``fn``'s messages phrase the rule ("must either be" or "must be")."""
    kernel = _triple(fn, "kernel_size", kernel_size, 2, f"{must} a single int, or a tuple of three ints")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        steps = kernel
    else:
        steps = _triple(fn, "stride", stride, 3, f"{must} omitted, a single int, or a tuple of three ints")
    pads = _triple(fn, "padding", padding, 4, f"{must} a single int, or a tuple of three ints")
    return kernel, steps, pads


def _output_sizes(input: Tensor, kernel: Triple, steps: Triple, pads: Triple, dilations: Triple,
                  ceil_mode: bool) -> Triple:
    depth, height, width = (_pool_output_size(n, k, p, s, d, ceil_mode)
                            for n, k, p, s, d in zip(input.shape[-3:], kernel, pads, steps, dilations))
    return depth, height, width


def _shape_check(fn: str, input: Tensor, kernel: Triple, steps: Triple, pads: Triple, dilations: Triple,
                 outs: Triple, check_input_size: bool) -> None:
    """PyTorch's ``pool3d_shape_check`` (``check_input_size``: average pooling's)."""
    if min(kernel) <= 0:
        raise RuntimeError("kernel size should be greater than zero, but got kT: {} kH: {} kW: {}".format(*kernel))
    if min(steps) <= 0:
        raise RuntimeError("stride should be greater than zero, but got dT: {} dH: {} dW: {}".format(*steps))
    if min(dilations) <= 0:
        raise RuntimeError("dilation should be greater than zero, but got dilationT: {} dilationH: {} "
                           "dilationW: {}".format(*dilations))
    shape = list(input.shape)
    for i, size in enumerate(shape[1:] if input.ndim == 5 else shape):
        if size <= 0:
            # PyTorch prints the dim's size (zero) where it means to print the dim.
            raise RuntimeError(f"{fn}: Expected input's non-batch dimensions to have positive length, but input has "
                               f"a shape of {shape} and non-batch dimension {size} has length zero!")
    sizes = shape[-3:]
    if check_input_size and any(n < k for n, k in zip(sizes, kernel)):
        raise RuntimeError("input image (T: {} H: {} W: {}) smaller than kernel size (kT: {} kH: {} "
                           "kW: {})".format(*sizes, *kernel))
    if any(k // 2 < p for k, p in zip(kernel, pads)):
        (kt, kh, kw), (pt, ph, pw) = kernel, pads
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got kT: {kt} kW: {kw} "
                           f"kH: {kh} padT: {pt} padW: {pw} padH: {ph}")
    if min(outs) < 1:
        slices = shape[-4]
        raise RuntimeError("Given input size: ({}x{}x{}x{}). Calculated output size: ({}x{}x{}x{}). Output size is "
                           "too small".format(slices, *sizes, slices, *outs))


def _pick(windows: Tensor, dim: int) -> Tensor:
    """The position along ``dim`` (a non-negative dim, kept with size 1) of the element
    PyTorch's pooling kernels choose in each window: they scan in order and take a greater
    value or a NaN, so the first maximum wins unless there is a NaN, and then the last NaN."""
    size = windows.shape[dim]
    with no_grad():
        first = windows.argmax(dim, keepdim=True)
        nan = windows.isnan()
        ramp = np.arange(1, size + 1, dtype=np.int64).reshape((size,) + (1,) * (windows.ndim - 1 - dim))
        last_nan = (nan * _constant_like(ramp, windows)).argmax(dim, keepdim=True)
        return where(nan.any(dim, keepdim=True), last_nan, first)


# ================================================================ max_pool3d

def _depth_windows(size: int, cells: int, kernel: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """(cells, kernel) depths: each window's in-input depths in order, then its last one again
    for each depth in the padding (a repeat comes after the element it repeats, so it neither
    wins a tie nor changes which NaN is last)."""
    positions = np.arange(cells)[:, None] * stride - pad + np.arange(kernel) * dilation
    rows = []
    for row in positions:
        own = row[(row >= 0) & (row < size)]
        if own.size == 0:  # a window wholly in the padding: PyTorch reads nothing there either
            own = np.clip(row, 0, size - 1)[:1]
        rows.append(np.concatenate([own, np.full(kernel - own.size, own[-1])]))
    return np.array(rows, dtype=np.int64).reshape(cells, kernel)


def _max_pool3d(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                with_indices: bool) -> tuple[Tensor, Tensor | None]:
    fn = "max_pool3d"
    kernel, steps, pads = _window_arguments(fn, kernel_size, stride, padding, "must either be")
    dilations = _triple(fn, "dilation", dilation, 5, "must be either a single int, or a tuple of three ints")
    if input.ndim not in (4, 5):
        raise RuntimeError("non-empty 4D or 5D (batch mode) tensor expected for input")
    outs = _output_sizes(input, kernel, steps, pads, dilations, ceil_mode)
    _shape_check("max_pool3d_with_indices_out_cpu_template()", input, kernel, steps, pads, dilations, outs, False)
    _check_float("max_pool3d_with_indices_cpu", input)
    depth, height, width = input.shape[-3:]
    shape = tuple(input.shape[:-3]) + outs
    values, where_hw = max_pool2d(input.reshape(-1, depth, height, width), kernel[1:], steps[1:], pads[1:],
                                  dilations[1:], ceil_mode, True)  # (planes, D, Ho, Wo) each
    reads = _depth_windows(depth, outs[0], kernel[0], steps[0], pads[0], dilations[0])
    windows_shape = (values.shape[0], outs[0], kernel[0]) + outs[1:]
    index = _constant_like(reads.reshape(-1), input)
    windows = values.index_select(1, index).reshape(windows_shape)
    place = _pick(windows, 2) if kernel[0] > 1 else None
    out = windows if place is None else windows.gather(2, place)
    out = named_result(out.reshape(shape), _MAX_POOL3D)
    if not with_indices:
        return out, None
    with no_grad():
        depth_offsets = _constant_like(np.arange(depth, dtype=np.int64).reshape(depth, 1, 1) * (height * width),
                                       input)
        indices = (where_hw + depth_offsets).index_select(1, index).reshape(windows_shape)
        indices = indices if place is None else indices.gather(2, place)
    return out, indices.reshape(shape)


def max_pool3d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over ``kernel_size`` windows of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    ``stride`` defaults to ``kernel_size``; implicit padding is -inf. With ``return_indices``
    also returns each maximum's flat index within its ``D * H * W`` volume. Of equal maxima the
    first (in (d, h, w) order) wins and receives the gradient; a NaN is always the maximum (the
    last one, as in PyTorch).

    >>> F.max_pool3d(tapegrad.arange(8.).reshape(1, 2, 2, 2), 2, return_indices=True)
    (tensor([[[[7.]]]]), tensor([[[[7]]]]))
    """
    out, indices = _max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return (out, indices) if return_indices else out


def max_pool3d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``max_pool3d`` with its indices, whatever ``return_indices`` says (as PyTorch's).

    >>> F.max_pool3d_with_indices(tapegrad.arange(8.).reshape(1, 2, 2, 2), (2, 1, 2))[1]
    tensor([[[[5],
              [7]]]])
    """
    out, indices = _max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)
    return out, indices


# ================================================================ avg_pool3d

def _divisors(sizes: Triple, outs: Triple, kernel: Triple, steps: Triple, pads: Triple, count_include_pad: bool,
              divisor_override: int | None) -> np.ndarray:
    """PyTorch's divisor of each output cell, (Do, Ho, Wo); 1 for a window with no input element
    (its sum is zero, and PyTorch writes zero there)."""
    factors, empty = [], []
    for n, o, k, s, p in zip(sizes, outs, kernel, steps, pads):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        inside = np.minimum(end, n) - np.maximum(start, 0)
        factors.append(end - start if count_include_pad else inside)
        empty.append(inside <= 0)
    table = factors[0][:, None, None] * factors[1][None, :, None] * factors[2][None, None, :]
    if divisor_override is not None:
        table = np.full(outs, divisor_override)
    hollow = empty[0][:, None, None] | empty[1][None, :, None] | empty[2][None, None, :]
    return np.where(hollow, 1, table)


def avg_pool3d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over ``kernel_size`` windows of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    The divisor is ``divisor_override`` when given, else the window's size counting the
    zero padding (``count_include_pad=True``) or only the input elements it covers.

    >>> F.avg_pool3d(tapegrad.arange(8.).reshape(1, 2, 2, 2), 2)
    tensor([[[[3.5000]]]])
    """
    fn = "avg_pool3d"
    kernel, steps, pads = _window_arguments(fn, kernel_size, stride, padding, "must be")
    if input.ndim not in (4, 5):
        raise RuntimeError("non-empty 4D or 5D (batch mode) tensor expected for input")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    outs = _output_sizes(input, kernel, steps, pads, (1, 1, 1), ceil_mode)
    _shape_check("avg_pool3d()", input, kernel, steps, pads, (1, 1, 1), outs, True)
    _check_float("avg_pool3d_out_frame", input)
    sizes = tuple(input.shape[-3:])
    depth = sizes[0]
    # Window sums of each depth slice, then of each depth window's slices.
    sums = avg_pool2d(input.reshape((-1,) + sizes), kernel[1:], steps[1:], pads[1:], ceil_mode, True, 1)
    reads = np.arange(outs[0])[:, None] * steps[0] - pads[0] + np.arange(kernel[0])  # (Do, kD)
    inside = (reads >= 0) & (reads < depth)
    if not inside.all():
        sums = pad(sums, (0, 0, 0, 0, 0, 1))  # the zero slice that positions in the padding read
        reads = np.where(inside, reads, depth)
    windows = sums.index_select(1, _constant_like(reads.reshape(-1), input))
    totals = windows.reshape((sums.shape[0], outs[0], kernel[0]) + outs[1:]).sum(2)
    divisors = _divisors(sizes, outs, kernel, steps, pads, count_include_pad, divisor_override)
    return _AVG_DIVIDE(totals.reshape(tuple(input.shape[:-3]) + outs),
                       _constant_like(divisors.astype(input._data.dtype), input))


# ================================================================ adaptive_max_pool3d

def _adaptive_windows(size: int, cells: int) -> np.ndarray:
    """(cells, width) positions of each adaptive window along a dim of ``size``, padded to the
    widest window's width by repeating the window's own last position."""
    first = np.arange(cells) * size // cells
    end = -(-(np.arange(cells) + 1) * size // cells)
    width = int((end - first).max()) if cells else 1
    return np.minimum(first[:, None] + np.arange(width), end[:, None] - 1)


def _adaptive_max_pool3d(input: Tensor, output_size: Any, with_indices: bool) -> tuple[Tensor, Tensor | None]:
    fn = "adaptive_max_pool3d"
    output_size = _keep_none_sizes(input, output_size)
    if input.ndim not in (4, 5):
        raise RuntimeError(f"{fn}(): Expected 4D or 5D tensor, but got: {list(input.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {list(input.shape)} with dimension {d} being empty")
    sizes = _int_list(fn, "output_size", 2, output_size)
    if len(sizes) == 1:
        sizes = sizes * 3
    if len(sizes) != 3:
        raise RuntimeError(f"{fn}(): internal error: output_size.size() must be 3")
    if min(sizes) < 0:
        shape = list(input.shape[:-3]) + sizes
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(sizes)}: {shape}")
    _check_float(f"{fn}_cpu", input)
    lead, (depth, height, width) = tuple(input.shape[:-3]), tuple(input.shape[-3:])
    tables = [_adaptive_windows(n, cells) for n, cells in zip((depth, height, width), sizes)]
    windows = input
    for axis, table in zip((-3, -2, -1), tables):
        windows = windows.index_select(axis, _constant_like(table.reshape(-1), input))
    (od, kd), (oh, kh), (ow, kw) = (table.shape for table in tables)
    n = len(lead)
    order = tuple(range(n)) + tuple(n + d for d in (0, 2, 4, 1, 3, 5))  # cells, then each cell's window
    windows = windows.reshape(lead + (od, kd, oh, kh, ow, kw)).permute(order).reshape(lead + (od, oh, ow, kd * kh * kw))
    place = _pick(windows, n + 3)
    out = named_result(windows.gather(-1, place).reshape(lead + (od, oh, ow)), _ADAPTIVE_MAX_POOL3D)
    if not with_indices:
        return out, None
    d, h, w = tables
    volume = (d[:, None, None, :, None, None] * (height * width) + h[None, :, None, None, :, None] * width
              + w[None, None, :, None, None, :]).reshape(od, oh, ow, kd * kh * kw)
    with no_grad():
        indices = _constant_like(volume, input).expand(lead + volume.shape).gather(-1, place)
    return out, indices.reshape(lead + (od, oh, ow))


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input to a fixed ``output_size``
    (an int, or a triple whose None entries keep the input's size); with ``return_indices`` also
    each maximum's flat index in its ``D * H * W`` volume.

    >>> F.adaptive_max_pool3d(tapegrad.arange(8.).reshape(1, 2, 2, 2), (1, 2, 1))
    tensor([[[[5.],
              [7.]]]])
    """
    out, indices = _adaptive_max_pool3d(input, output_size, return_indices)
    return (out, indices) if return_indices else out


def adaptive_max_pool3d_with_indices(input: Tensor, output_size: Any,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool3d`` with its indices, whatever ``return_indices`` says (as PyTorch's).

    >>> F.adaptive_max_pool3d_with_indices(tapegrad.arange(8.).reshape(1, 2, 2, 2), 1)[1]
    tensor([[[[7]]]])
    """
    out, indices = _adaptive_max_pool3d(input, output_size, True)
    return out, indices
