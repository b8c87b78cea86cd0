"""Fractional max pooling (Graham, 2014): ``fractional_max_pool2d`` and ``fractional_max_pool3d``,
with their ``*_with_indices`` names, as recorded ops.

Each ``(batch, channel)`` plane has one random sample ``u`` per pooled dim, and PyTorch's
``generate_intervals`` places that dim's ``n`` windows of width ``k`` in a dim of size ``L`` from
it: with ``alpha = (L - k) / (n - 1)``, window ``i`` starts at ``int((i + u) * alpha) -
int(u * alpha)`` and the last one at ``L - k``. PyTorch does that arithmetic in the input's float
type, and float32 and float64 can put a start one position apart, so the starts are computed
here in the same NumPy type. Missing samples are drawn as ``torch.rand(N, C, dims)`` draws them,
so the same seed chooses the same windows.

The starts give each window's flat positions in its plane, a constant table. One ``gather``
reads the windows without recording, ``pool3d._pick`` chooses the element PyTorch's scan
chooses (the first maximum in (t, h, w) order, or the last NaN), and a recorded ``gather`` of the
chosen positions makes the result: its backward adds each output's gradient into its input
position, as PyTorch's backward does, and it runs on either device. Compiled steps refuse it:
the windows depend on the samples' values, read in Python.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..compiler import trace
from ..creation import _constant_like, rand
from ..tensor import Tensor
from .conv import _check_float, _int_list
from .conv3d import _identity_vjp, named_result
from .pool3d import _pick
from .registry import OpDef

__all__: list[str] = ["fractional_max_pool2d", "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
                      "fractional_max_pool3d_with_indices"]

_NAMES = {2: OpDef("fractional_max_pool2d", "FractionalMaxPool2DBackward0", _identity_vjp),
          3: OpDef("fractional_max_pool3d", "FractionalMaxPool3DBackward0", _identity_vjp)}
# Which sample of a plane's ``dims`` samples places the windows of each pooled dim, in the
# input's dim order: PyTorch's 2-d kernel reads the width's sample first.
_SAMPLE_OF_DIM = {2: (1, 0), 3: (0, 1, 2)}
_DIM_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _intervals(samples: np.ndarray, size: int, cells: int, kernel: int) -> np.ndarray:
    """``samples.shape + (cells,)`` window starts, as PyTorch's ``generate_intervals`` computes
    them in the samples' float type (C++ casts to int by truncating toward zero, as ``astype``)."""
    starts = np.empty(samples.shape + (cells,), np.int64)
    if cells > 1:
        real = samples.dtype.type
        alpha = real(size - kernel) / real(cells - 1)
        steps = np.arange(cells - 1).astype(samples.dtype)
        with np.errstate(invalid="ignore"):  # casting a NaN is undefined in PyTorch's C++ too; see the range check
            starts[..., :-1] = (((steps + samples[..., None]) * alpha).astype(np.int64)
                                - (samples * alpha).astype(np.int64)[..., None])
    if cells > 0:
        starts[..., -1] = size - kernel
    return starts


def _window_table(samples: np.ndarray, sizes: tuple[int, ...], outs: tuple[int, ...],
                  kernel: tuple[int, ...]) -> np.ndarray:
    """(N, C, cells, window) flat positions in each plane of every window's elements, the
    window's elements in PyTorch's scan order."""
    dims = len(sizes)
    lead = samples.shape[:2]
    table = np.zeros(lead + outs + kernel, np.int64)
    stride = 1
    for d in reversed(range(dims)):
        starts = _intervals(samples[..., _SAMPLE_OF_DIM[dims][d]], sizes[d], outs[d], kernel[d])
        positions = starts[..., None] + np.arange(kernel[d])  # (N, C, outs[d], kernel[d])
        if positions.size and (positions.min() < 0 or positions.max() >= sizes[d]):
            raise RuntimeError(f"fractional_max_pool{dims}d(): _random_samples place a pooling window outside "
                               f"the input's {_DIM_NAMES[dims][d]} (samples are expected in [0, 1))")
        layout = lead + tuple(outs[e] if e == d else 1 for e in range(dims)) + tuple(
            kernel[e] if e == d else 1 for e in range(dims))
        table += positions.reshape(layout) * stride
        stride *= sizes[d]
    return table.reshape(lead + (int(np.prod(outs)), int(np.prod(kernel))))


def _sizes(fn: str, name: str, position: int, value: Any, dims: int) -> tuple[int, ...]:
    """An int or a ``dims``-sequence of ints (PyTorch's ``int[dims]`` argument) as a tuple."""
    values = _int_list(fn, name, position, value)
    if len(values) == 1 and not isinstance(value, (tuple, list)):
        values = values * dims
    if len(values) != dims:
        count = "Ints" if dims == 2 else "three Ints"
        raise RuntimeError(f"{fn}: {name} must either be a single Int or tuple of {count}")
    return tuple(values)


def _check_shape(fn: str, input: Tensor, kernel: tuple[int, ...], outs: tuple[int, ...]) -> None:
    """PyTorch's checks of the input's shape against the kernel and the output size."""
    dims = len(kernel)
    where = "fractional_max_pool2d()" if dims == 2 else "fractional_max_pool3d_out()"
    if min(kernel) <= 0:
        raise RuntimeError(f"{fn}(): kernel size should be greater than zero, but got " + "x".join(map(str, kernel)))
    shape = list(input.shape)
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{where}: Expected {dims + 1}D or {dims + 2}D tensor, but got: {shape}")
    for d in range(1, input.ndim):
        if shape[d] <= 0:
            # PyTorch prints the sizes with no space after "but got".
            raise RuntimeError(f"{where}: Expected input to have non-zero size for non-batch dimensions, but "
                               f"got{shape} with dimension {d} being empty.")
    sizes = shape[-dims:]
    # PyTorch's 3-d check wants a strictly smaller output (and checks width before height).
    order = (0, 1) if dims == 2 else (0, 2, 1)
    for d in order:
        n, k, o = sizes[d], kernel[d], outs[d]
        fits = o + k - 1 <= n if dims == 2 else (k <= n and o + k - 1 < n)
        if not fits:
            dim = _DIM_NAMES[dims][d]
            raise RuntimeError(f"{where}: pool {dim} {k} too large relative to input {dim} {n}")
    if min(outs) < 0:
        out_shape = shape[:-dims] + list(outs)
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(outs)}: {out_shape}")


def _check_samples(input: Tensor, samples: Tensor, dims: int) -> None:
    """PyTorch's ``fractional_max_pool_check_shape``."""
    if samples.dtype != input.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if samples.ndim != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {samples.ndim}")
    batched = input.ndim == dims + 2
    batch, channels = (input.shape[0], input.shape[1]) if batched else (1, input.shape[0])
    if samples.shape[0] < batch:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    if samples.shape[1] != channels:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if samples.shape[2] != dims:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {dims}; got {samples.shape[2]}.")


def _fractional_max_pool(input: Tensor, kernel_size: Any, output_size: Any, output_ratio: Any,
                         samples: Tensor | None, dims: int) -> tuple[Tensor, Tensor]:
    fn = f"fractional_max_pool{dims}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{fn} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        if dims == 2 and len(output_ratio) > 2:
            raise ValueError(f"{fn} requires output_ratio to either be a single Int or tuple of Ints.")
        ratios = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * dims
        output_size = [int(input.size(d - dims) * ratios[d]) for d in range(dims)]
    if samples is None:
        _check_float("check_uniform_bounds", input)
        n_batch = 1 if input.dim() == dims + 1 else input.size(0)
        samples = rand(n_batch, input.size(-dims - 1), dims, dtype=input.dtype, device=input.device)
    kernel = _sizes(fn, "kernel_size", 2, kernel_size, dims)
    outs = _sizes(fn, "output_size", 3, output_size, dims)
    _check_shape(fn, input, kernel, outs)
    _check_samples(input, samples, dims)
    _check_float(f"{fn}_out_frame", input)
    if trace.ACTIVE is not None:
        trace.refuse(f"{fn} (its pooling windows depend on the values of _random_samples)")
    batched = input.ndim == dims + 2
    batch, channels = (input.shape[0], input.shape[1]) if batched else (1, input.shape[0])
    sizes = tuple(input.shape[-dims:])
    table = _window_table(samples.detach().numpy(force=True)[:batch], sizes, outs, kernel)
    planes = input.reshape(batch, channels, int(np.prod(sizes)))
    with no_grad():  # reading the windows only chooses the element; the gather below carries the gradient
        reads = _constant_like(table.reshape(batch, channels, table.shape[2] * table.shape[3]), input)
        place = _pick(planes.gather(2, reads).reshape(table.shape), 3)
        chosen = _constant_like(table, input).gather(3, place).reshape(table.shape[:3])
    shape = tuple(input.shape[:-dims]) + outs
    out = named_result(planes.gather(2, chosen).reshape(shape), _NAMES[dims])
    return out, chosen.reshape(shape)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size: Any, output_size: Any = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``fractional_max_pool2d`` with its indices, whatever ``return_indices`` says (as PyTorch's).

    >>> x = tapegrad.arange(16.).reshape(1, 4, 4)
    >>> F.fractional_max_pool2d_with_indices(x, 2, (2, 2), _random_samples=tapegrad.tensor([[[0.5, 0.5]]]))
    (tensor([[[ 5.,  7.],
             [13., 15.]]]), tensor([[[ 5,  7],
             [13, 15]]]))
    """
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 2)


def fractional_max_pool2d(input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                          return_indices: bool = False, _random_samples: Tensor | None = None) -> Any:
    """Max over ``kernel_size`` windows of an ``(N, C, H, W)`` or ``(C, H, W)`` input, placed at
    random steps so the output has ``output_size`` (or ``output_ratio`` times the input's) cells.

    ``_random_samples`` (``(N, C, 2)`` in ``[0, 1)``, the width's sample first) fixes the steps;
    by default they are drawn from the generator. With ``return_indices`` also returns each
    maximum's flat index in its ``H * W`` plane.

    >>> x = tapegrad.arange(16.).reshape(1, 4, 4)
    >>> F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5), _random_samples=tapegrad.tensor([[[0.5, 0.5]]]))
    tensor([[[ 5.,  7.],
             [13., 15.]]])
    """
    out, indices = _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 2)
    return (out, indices) if return_indices else out


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size: Any, output_size: Any = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``fractional_max_pool3d`` with its indices, whatever ``return_indices`` says (as PyTorch's).

    >>> x = tapegrad.arange(27.).reshape(1, 3, 3, 3)
    >>> F.fractional_max_pool3d_with_indices(x, 2, 1, _random_samples=tapegrad.tensor([[[0.5, 0.5, 0.5]]]))[1]
    tensor([[[[26]]]])
    """
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 3)


def fractional_max_pool3d(input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None,
                          return_indices: bool = False, _random_samples: Tensor | None = None) -> Any:
    """Max over ``kernel_size`` windows of an ``(N, C, T, H, W)`` or ``(C, T, H, W)`` input,
    placed at random steps so the output has ``output_size`` (or ``output_ratio`` times the
    input's) cells; ``_random_samples`` is ``(N, C, 3)`` (time, height, width). With
    ``return_indices`` also returns each maximum's flat index in its ``T * H * W`` volume.

    >>> x = tapegrad.arange(27.).reshape(1, 3, 3, 3)
    >>> F.fractional_max_pool3d(x, 2, 1, _random_samples=tapegrad.tensor([[[0.5, 0.5, 0.5]]]))
    tensor([[[[26.]]]])
    """
    out, indices = _fractional_max_pool(input, kernel_size, output_size, output_ratio, _random_samples, 3)
    return (out, indices) if return_indices else out
