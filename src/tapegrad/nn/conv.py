"""Convolution and pooling layers: ``Conv1d``/``2d``/``3d``, ``ConvTranspose1d``/``2d``/``3d``,
``MaxPool1d``/``2d``/``3d``, ``AvgPool1d``/``2d``/``3d``, ``AdaptiveAvgPool1d``/``2d``/``3d``,
``AdaptiveMaxPool1d``/``2d``/``3d``, ``FractionalMaxPool2d``/``3d``, ``MaxUnpool1d``/``2d``/``3d`` and
``LPPool1d``/``2d``/``3d``.

Arguments, attributes, initialisation and reprs are PyTorch's: after the same seed each
convolution draws the same weights and bias as its ``torch.nn`` twin.
"""
from __future__ import annotations

import math
from typing import Any

from .. import creation
from ..autograd.grad_mode import no_grad
from ..ops.conv import pad_by_mode
from ..tensor import Size, Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter

__all__: list[str] = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
                      "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "Conv1d",
                      "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                      "FractionalMaxPool2d", "FractionalMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "MaxPool1d",
                      "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]

_PADDING_MODES = {"zeros", "reflect", "replicate", "circular"}


def _kaiming_uniform_bound(fan_in: int, a: float) -> float:
    """``nn.init.kaiming_uniform_``'s bound, computed in the same float steps as PyTorch so
    the drawn values match bit for bit."""
    gain = math.sqrt(2.0 / (1 + a ** 2))
    std = gain / math.sqrt(fan_in)
    return math.sqrt(3.0) * std


class _ConvNd(Module):
    """What PyTorch's ``_ConvNd`` holds: the arguments as ``dims``-tuples, ``weight`` of shape
    ``(out_channels, in_channels / groups, *kernel_size)`` (transposed: ``(in_channels,
    out_channels / groups, *kernel_size)``) drawn as PyTorch draws it
    (``kaiming_uniform_(a=sqrt(5))``, i.e. uniform in ±1/sqrt(fan_in)), then ``bias`` uniform
    in ±1/sqrt(fan_in)."""

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, transposed: bool, output_padding: Any, groups: int, bias: bool, padding_mode: str,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        tuple_of = self._tuple
        kernel_size, stride, dilation = tuple_of(kernel_size), tuple_of(stride), tuple_of(dilation)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        valid_padding_strings = {"same", "valid"}
        if isinstance(padding, str):
            if padding not in valid_padding_strings:
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {valid_padding_strings}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = tuple_of(padding)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, but got padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = tuple_of(output_padding)
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad order (last dim first, each as (before, after)) for the non-zero padding modes.
        if isinstance(padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * len(kernel_size)
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(len(kernel_size) - 1, -1, -1)):
                    total_padding = d * (k - 1)
                    left_pad = total_padding // 2
                    self._reversed_padding_repeated_twice[2 * i] = left_pad
                    self._reversed_padding_repeated_twice[2 * i + 1] = total_padding - left_pad
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(padding) for _ in range(2)]
        channels = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(creation.empty(channels + kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _tuple(self, value: Any) -> tuple[Any, ...]:
        """PyTorch's ``_single``/``_pair``: a sequence as a tuple, anything else repeated."""
        if isinstance(value, (tuple, list)):
            return tuple(value)
        return (value,) * self._dims

    def reset_parameters(self) -> None:
        """Redraw ``weight`` then ``bias`` from the default generator, as PyTorch does."""
        fan_in = math.prod(self.weight.shape[1:])
        with no_grad():
            if self.weight.numel() > 0:
                bound = _kaiming_uniform_bound(fan_in, math.sqrt(5))
                self.weight.uniform_(-bound, bound)
            if self.bias is not None and fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                self.bias.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * len(self.padding):
            text += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class _Conv(_ConvNd):
    """A convolution: ``padding_mode`` other than ``'zeros'`` pads the input by copying its
    elements (``'reflect'``, ``'replicate'``, ``'circular'``) before convolving."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
                         padding_mode, device, dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[self._dims]
        if self.padding_mode != "zeros":
            padded = pad_by_mode(input, self._reversed_padding_repeated_twice, self.padding_mode)
            return conv(padded, weight, bias, self.stride, (0,) * self._dims, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv2d(_Conv):
    """2-D convolution over an ``(N, C, H, W)`` or ``(C, H, W)`` input; ``weight`` has shape
    ``(out_channels, in_channels / groups, kH, kW)``.

    >>> conv = nn.Conv2d(1, 16, 3, padding=1)
    >>> conv
    Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv(tapegrad.zeros(64, 1, 8, 8)).shape
    tapegrad.Size([64, 16, 8, 8])
    """


class Conv1d(_Conv):
    """1-D convolution over an ``(N, C, L)`` or ``(C, L)`` input; ``weight`` has shape
    ``(out_channels, in_channels / groups, kL)``.

    >>> nn.Conv1d(4, 8, 3, stride=2)
    Conv1d(4, 8, kernel_size=(3,), stride=(2,))
    """

    _dims = 1


class Conv3d(_Conv):
    """3-D convolution over an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input; ``weight`` has shape
    ``(out_channels, in_channels / groups, kD, kH, kW)``.

    >>> nn.Conv3d(2, 4, (1, 3, 3), padding=(0, 1, 1))
    Conv3d(2, 4, kernel_size=(1, 3, 3), stride=(1, 1, 1), padding=(0, 1, 1))
    """

    _dims = 3


class _ConvTranspose(_ConvNd):
    """A transposed convolution; ``forward(input, output_size)`` picks the output padding that
    gives ``output_size``, as PyTorch does."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """PyTorch's ``_ConvTransposeNd._output_padding``."""
        if output_size is None:
            return self.output_padding
        dims = self._dims
        leading = 2 if input.ndim == dims + 2 else 1
        output_size = list(output_size)
        if len(output_size) == leading + dims:
            output_size = output_size[leading:]
        if len(output_size) != dims:
            raise ValueError(f"ConvTranspose{dims}D: for {input.ndim}D input, output_size must have {dims} or "
                             f"{leading + dims} elements (got {len(output_size)})")
        min_sizes = [(input.shape[d + leading] - 1) * self.stride[d] - 2 * self.padding[d]
                     + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(dims)]
        max_sizes = [m + s - 1 for m, s in zip(min_sizes, self.stride)]
        for size, low, high in zip(output_size, min_sizes, max_sizes):
            if size < low or size > high:
                # PyTorch prints the input's sizes from its third dim on, even for an unbatched input.
                raise ValueError(f"requested an output size of {output_size}, but valid sizes range from {min_sizes} "
                                 f"to {max_sizes} (for an input of {Size(input.shape[2:])})")
        return tuple(size - low for size, low in zip(output_size, min_sizes))

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self._dims]
        return conv(input, self.weight, self.bias, self.stride, self.padding,
                    self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution over an ``(N, C, H, W)`` or ``(C, H, W)`` input; ``weight``
    has shape ``(in_channels, out_channels / groups, kH, kW)``.

    >>> up = nn.ConvTranspose2d(16, 8, 2, stride=2)
    >>> up
    ConvTranspose2d(16, 8, kernel_size=(2, 2), stride=(2, 2))
    >>> up(tapegrad.zeros(1, 16, 4, 4)).shape
    tapegrad.Size([1, 8, 8, 8])
    """


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution over an ``(N, C, L)`` or ``(C, L)`` input; ``weight`` has
    shape ``(in_channels, out_channels / groups, kL)``.

    >>> nn.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1)
    ConvTranspose1d(4, 2, kernel_size=(3,), stride=(2,), output_padding=(1,))
    """

    _dims = 1


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution over an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input;
    ``weight`` has shape ``(in_channels, out_channels / groups, kD, kH, kW)``.

    >>> nn.ConvTranspose3d(4, 2, 2, stride=2)
    ConvTranspose3d(4, 2, kernel_size=(2, 2, 2), stride=(2, 2, 2))
    """

    _dims = 3


class MaxPool2d(Module):
    """Max pooling over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``).

    >>> pool = nn.MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(tapegrad.arange(16.).reshape(1, 4, 4))
    tensor([[[ 5.,  7.],
             [13., 15.]]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average pooling over ``kernel_size`` windows (``stride`` defaults to ``kernel_size``).

    >>> pool = nn.AvgPool2d(2)
    >>> pool
    AvgPool2d(kernel_size=2, stride=2, padding=0)
    >>> pool(tapegrad.arange(16.).reshape(1, 4, 4))
    tensor([[[ 2.5000,  4.5000],
             [10.5000, 12.5000]]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (None entries keep the input's size).

    >>> pool = nn.AdaptiveAvgPool2d((2, 2))
    >>> pool
    AdaptiveAvgPool2d(output_size=(2, 2))
    >>> pool(tapegrad.arange(9.).reshape(1, 3, 3))
    tensor([[[2., 3.],
             [5., 6.]]])
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(MaxPool2d):
    """Max pooling over ``kernel_size`` windows of an ``(N, C, L)`` or ``(C, L)`` input.

    >>> nn.MaxPool1d(3, 2)
    MaxPool1d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    def forward(self, input: Tensor) -> Any:
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool1d(Module):
    """Average pooling over ``kernel_size`` windows of an ``(N, C, L)`` or ``(C, L)`` input.

    >>> nn.AvgPool1d(3)
    AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average pooling of an ``(N, C, L)`` or ``(C, L)`` input to ``output_size`` positions.

    >>> nn.AdaptiveAvgPool1d(4)
    AdaptiveAvgPool1d(output_size=4)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Average pooling of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input to a fixed size.

    >>> nn.AdaptiveAvgPool3d((2, None, 1))
    AdaptiveAvgPool3d(output_size=(2, None, 1))
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (None entries keep the input's size); with
    ``return_indices`` the maxima's flat positions in their ``H * W`` planes too.

    >>> pool = nn.AdaptiveMaxPool2d((2, None))
    >>> pool
    AdaptiveMaxPool2d(output_size=(2, None))
    >>> pool(tapegrad.arange(9.).reshape(1, 3, 3))
    tensor([[[3., 4., 5.],
             [6., 7., 8.]]])
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of an ``(N, C, L)`` or ``(C, L)`` input to ``output_size`` positions.

    >>> nn.AdaptiveMaxPool1d(3, return_indices=True)
    AdaptiveMaxPool1d(output_size=3)
    """

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class MaxPool3d(MaxPool2d):
    """Max pooling over ``kernel_size`` windows of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    >>> nn.MaxPool3d((1, 2, 2))
    MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), padding=0, dilation=1, ceil_mode=False)
    """

    def forward(self, input: Tensor) -> Any:
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool3d(AvgPool2d):
    """Average pooling over ``kernel_size`` windows of an ``(N, C, D, H, W)`` or ``(C, D, H, W)``
    input.

    >>> nn.AvgPool3d(2, stride=1)
    AvgPool3d(kernel_size=2, stride=1, padding=0)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """Max pooling of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input to a fixed size.

    >>> nn.AdaptiveMaxPool3d((1, None, 2))
    AdaptiveMaxPool3d(output_size=(1, None, 2))
    """

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class FractionalMaxPool2d(Module):
    """Max pooling over ``kernel_size`` windows at random steps (``F.fractional_max_pool2d``),
    to ``output_size`` cells or ``output_ratio`` (in (0, 1)) times the input's. The
    ``_random_samples`` buffer, when given, fixes the steps; otherwise each call draws them.

    >>> pool = nn.FractionalMaxPool2d(2, output_ratio=0.5)
    >>> pool.output_ratio
    (0.5, 0.5)
    >>> pool(tapegrad.randn(1, 3, 8, 8)).shape
    tapegrad.Size([1, 3, 4, 4])
    """

    _dims = 2

    def __init__(self, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                 return_indices: bool = False, _random_samples: Tensor | None = None) -> None:
        super().__init__()
        name, dims = type(self).__name__, self._dims
        if dims == 3 and ((isinstance(kernel_size, int) and kernel_size <= 0) or (
                isinstance(kernel_size, (tuple, list)) and not all(k > 0 for k in kernel_size))):
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        self.kernel_size = _ntuple(kernel_size, dims)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _ntuple(output_size, dims) if output_size is not None else None
        self.output_ratio = _ntuple(output_ratio, dims) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < self.output_ratio[d] < 1 for d in range(dims)):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor) -> Any:
        pool = F.fractional_max_pool2d if self._dims == 2 else F.fractional_max_pool3d
        return pool(input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
                    _random_samples=self._random_samples)


class FractionalMaxPool3d(FractionalMaxPool2d):
    """Max pooling over ``kernel_size`` windows at random steps (``F.fractional_max_pool3d``) of
    an ``(N, C, T, H, W)`` or ``(C, T, H, W)`` input.

    >>> nn.FractionalMaxPool3d(2, output_size=(3, 2, 2)).output_size
    (3, 2, 2)
    """

    _dims = 3


class _MaxUnpool(Module):
    """PyTorch's ``_MaxUnpoolNd``: ``forward(input, indices, output_size=None)`` writes each
    value at its index in zeros; the arguments are kept as ``dims``-tuples."""

    _dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._dims)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._dims)
        self.padding = _ntuple(padding, self._dims)

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:
        unpool = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[self._dims]
        return unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpool):
    """The partial inverse of ``MaxPool1d`` (its indices say where each value goes).

    >>> nn.MaxUnpool1d(2)
    MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))
    """

    _dims = 1


class MaxUnpool2d(_MaxUnpool):
    """The partial inverse of ``MaxPool2d`` (its indices say where each value goes).

    >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    >>> unpool(*pool(tapegrad.arange(4.).reshape(1, 2, 2)))
    tensor([[[0., 0.],
             [0., 3.]]])
    """


class MaxUnpool3d(_MaxUnpool):
    """The partial inverse of ``MaxPool3d`` (its indices say where each value goes).

    >>> nn.MaxUnpool3d(2, stride=2)
    MaxUnpool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0))
    """

    _dims = 3


class _LPPool(Module):
    """PyTorch's ``_LPPoolNd``: power-average pooling, ``(sum of x ** norm_type over each
    window) ** (1 / norm_type)``; the arguments are kept as given."""

    _dims = 2

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        pool = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}[self._dims]
        return pool(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPool):
    """Power-average pooling over an ``(N, C, L)`` or ``(C, L)`` input.

    >>> nn.LPPool1d(2, 3, stride=2)
    LPPool1d(norm_type=2, kernel_size=3, stride=2, ceil_mode=False)
    """

    _dims = 1


class LPPool2d(_LPPool):
    """Power-average pooling over an ``(N, C, H, W)`` or ``(C, H, W)`` input.

    >>> nn.LPPool2d(1.5, (3, 2))
    LPPool2d(norm_type=1.5, kernel_size=(3, 2), stride=None, ceil_mode=False)
    """


class LPPool3d(_LPPool):
    """Power-average pooling over an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input.

    >>> nn.LPPool3d(2, 2)
    LPPool3d(norm_type=2, kernel_size=2, stride=None, ceil_mode=False)
    """

    _dims = 3


def _ntuple(value: Any, n: int) -> tuple[Any, ...]:
    """PyTorch's ``_single``/``_pair``/``_triple``: a sequence as a tuple, anything else repeated."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _single(value: Any) -> tuple[Any, ...]:
    """PyTorch's ``_single``: a sequence as a tuple, anything else as a 1-tuple."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
