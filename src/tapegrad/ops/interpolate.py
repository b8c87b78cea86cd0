"""``interpolate``: resizing the spatial dims of an ``(N, C, d1, ..., dK)`` input (K = 1, 2, 3).

Nearest and (bi/tri)linear resizing are separable: each spatial dim in turn is resized by
taking input positions along it (``index_select`` with constant indices) and, for linear
modes, mixing the two neighbours with constant weights. Both are recorded ops with compile
rules and CUDA kernels, so interpolation runs on either device, compiles, and has gradients
of any order without kernels of its own. The last op is recorded under PyTorch's name
(``UpsampleBilinear2DBackward0``, ...), so the result's ``grad_fn`` reads as in PyTorch.

Source positions follow PyTorch's CPU kernels: nearest uses ``floor(dst * scale)`` in
float32, nearest-exact ``floor((dst + 0.5) * scale)``, linear ``scale * (dst + 0.5) - 0.5``
clamped at 0 (``align_corners=False``) or ``dst * (in - 1) / (out - 1)``, computed in the
input's float type; ``scale`` is ``1 / scale_factor`` when a scale factor is given (and not
recomputed), else ``in / out``. ``area`` is adaptive average pooling, as in PyTorch.

Bicubic (4-D inputs) mixes four neighbours along each dim with Keys' cubic convolution weights
(``A = -0.75``, neighbours clamped at the borders), the last dim first, as PyTorch's kernel
nests its sums. With ``antialias=True`` (bilinear, bicubic with ``A = -0.5``, or lanczos with 3
lobes; 4-D inputs) each output position mixes every input position its filter covers, the
filter widened by the downscaling factor and its weights normalised to sum to 1 (PyTorch's and
Pillow's resampling); a dim whose size does not change is left as it is.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .. import creation
from ..tensor import Tensor
from .conv import adaptive_avg_pool2d
from .elementwise import ADD
from .index import INDEX_SELECT, getitem
from .pool1d import adaptive_avg_pool1d
from .registry import OpDef

__all__: list[str] = ["interpolate"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_NEAREST = ("nearest", "nearest-exact")
_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
_GRAD_NAMES = {"nearest": "UpsampleNearest{}DBackward0", "nearest-exact": "UpsampleNearestExact{}DBackward0",
               "linear": "UpsampleLinear1DBackward0", "bilinear": "UpsampleBilinear2DBackward0",
               "trilinear": "UpsampleTrilinear3DBackward0", "bicubic": "UpsampleBicubic2DBackward0",
               "bilinear-aa": "UpsampleBilinear2DAaBackward0", "bicubic-aa": "UpsampleBicubic2DAaBackward0",
               "lanczos-aa": "UpsampleLanczos2DAaBackward0"}
_NAMED: dict[tuple[str, int, bool], OpDef] = {}


def _last_op(mode: str, dims: int, take: bool) -> OpDef:
    """The op that makes the result, under PyTorch's grad_fn name: a take (``take``: the nearest
    modes, and a linear resize to the same size, which copies) or the neighbours' sum."""
    op = _NAMED.get((mode, dims, take))
    if op is None:
        name = f"upsample_{mode.replace('-', '_')}_{dims}d" + ("_take" if take and mode not in _NEAREST else "")
        grad_name = _GRAD_NAMES[mode].format(dims)
        op = OpDef(name, grad_name, INDEX_SELECT.rule) if take else ADD.renamed(name, grad_name)
        _NAMED[mode, dims, take] = op
    return op


def _source_nearest(in_size: int, out_size: int, scale: float | None, exact: bool, shortcut: bool) -> np.ndarray:
    """PyTorch's nearest source index (``nearest_neighbor_exact_compute_source_index`` when
    ``exact``): float32 arithmetic, clamped to the last position. With ``shortcut`` an equal or
    doubled size copies or halves the index, as PyTorch's 2-d kernels do even with a scale
    factor; its 1-d and 3-d forward kernels do not (a scale of 1.3 on 3 elements reads 0, 0, 1)
    but their backward kernels do, so there PyTorch's gradient is not its forward's adjoint.
    The gradient here always is."""
    if shortcut and not exact and out_size in (in_size, 2 * in_size):
        return np.arange(out_size, dtype=np.int64) // (out_size // in_size)
    destination = np.arange(out_size, dtype=np.float32)
    # PyTorch's compute_scales_value<float>: 1 / scale in double, then rounded to float.
    ratio = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(in_size) / np.float32(out_size)
    source = np.floor((destination + np.float32(0.5)) * ratio if exact else destination * ratio)
    return np.minimum(source.astype(np.int64), in_size - 1)


def _source_linear(in_size: int, out_size: int, scale: float | None, align_corners: bool,
                   dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's ``area_pixel_compute_source_index`` and linear weights, in ``dtype``: the
    lower neighbour, the upper one (the same at the end) and the upper one's weight."""
    one = dtype.type(1)
    if align_corners:
        ratio = dtype.type(in_size - 1) / dtype.type(out_size - 1) if out_size > 1 else dtype.type(0)
    elif scale is not None and scale > 0:
        ratio = dtype.type(1.0 / scale)
    else:
        ratio = dtype.type(in_size) / dtype.type(out_size)
    destination = np.arange(out_size, dtype=dtype)
    if align_corners:
        real = ratio * destination
    else:
        real = np.maximum(ratio * (destination + dtype.type(0.5)) - dtype.type(0.5), dtype.type(0))
    lower = real.astype(np.int64)
    upper = lower + (lower < in_size - 1)
    weight = np.clip(real - lower.astype(dtype), dtype.type(0), one)
    return lower, upper, weight


def _scale(in_size: int, out_size: int, scale: float | None, align_corners: bool, dtype: np.dtype) -> Any:
    """PyTorch's ``area_pixel_compute_scale`` in ``dtype``."""
    if align_corners:
        return dtype.type(in_size - 1) / dtype.type(out_size - 1) if out_size > 1 else dtype.type(0)
    if scale is not None and scale > 0:
        return dtype.type(1.0 / scale)
    return dtype.type(in_size) / dtype.type(out_size)


def _near(x: np.ndarray, a: Any) -> np.ndarray:
    """PyTorch's ``cubic_convolution1``: Keys' kernel for ``|x| <= 1``."""
    return ((a + 2) * x - (a + 3)) * x * x + x.dtype.type(1)


def _far(x: np.ndarray, a: Any) -> np.ndarray:
    """PyTorch's ``cubic_convolution2``: Keys' kernel for ``1 <= |x| <= 2``."""
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _cubic_weights(t: np.ndarray, a: float) -> list[np.ndarray]:
    """The weights of the four neighbours of a point ``t`` (in [0, 1]) past the second."""
    a, one = t.dtype.type(a), t.dtype.type(1)
    return [_far(t + one, a), _near(t, a), _near(one - t, a), _far(one - t + one, a)]


def _source_cubic(in_size: int, out_size: int, scale: float | None, align_corners: bool,
                  dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's bicubic source positions and weights, in ``dtype``: (4, out) neighbours (clamped
    to the dim) and their weights."""
    ratio = _scale(in_size, out_size, scale, align_corners, dtype)
    destination = np.arange(out_size, dtype=dtype)
    real = ratio * destination if align_corners else ratio * (destination + dtype.type(0.5)) - dtype.type(0.5)
    # guard_index_and_lambda: floorf (a float32 floor, whatever the type), then the fraction.
    index = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), in_size - 1)
    fraction = np.clip(real - index.astype(dtype), dtype.type(0), dtype.type(1))
    positions = np.clip(index[None, :] + np.arange(-1, 3)[:, None], 0, in_size - 1)
    return positions, np.stack(_cubic_weights(fraction, -0.75))


def _triangle(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, x.dtype.type(1) - x, x.dtype.type(0))


def _keys(x: np.ndarray) -> np.ndarray:
    x, a = np.abs(x), x.dtype.type(-0.5)
    return np.where(x < 1, _near(x, a), np.where(x < 2, _far(x, a), x.dtype.type(0)))


def _lanczos(x: np.ndarray) -> np.ndarray:
    def sinc(v: np.ndarray) -> np.ndarray:
        scaled = v * v.dtype.type(math.pi)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(v == 0, v.dtype.type(1), np.sin(scaled) / scaled)

    return np.where((x >= -3) & (x < 3), sinc(x) * sinc(x / x.dtype.type(3)), x.dtype.type(0))


# Antialiasing filters: (half-width of the support at scale 1, the filter of a float array).
_AA_FILTERS: dict[str, tuple[float, Callable[[np.ndarray], np.ndarray]]] = {
    "bilinear": (1.0, _triangle), "bicubic": (2.0, _keys), "lanczos": (3.0, _lanczos)}


def _source_antialias(in_size: int, out_size: int, scale: float | None, align_corners: bool, dtype: np.dtype,
                      mode: str) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's antialiasing windows, in ``dtype`` (``_compute_indices_min_size_weights_aa``):
    (K, out) input positions and weights, zero past each window's end."""
    half, window = _AA_FILTERS[mode]
    ratio = _scale(in_size, out_size, scale, align_corners, dtype)
    wide = float(ratio) >= 1.0
    support = dtype.type(half * float(ratio) if wide else half)
    inverse = dtype.type(1.0 / float(ratio) if wide else 1.0)
    width = math.ceil(float(support)) * 2 + 1
    center = (float(ratio) * (np.arange(out_size) + 0.5)).astype(dtype)
    first = np.maximum((center.astype(np.float64) - float(support) + 0.5).astype(np.int64), 0)
    count = np.clip(np.minimum((center.astype(np.float64) + float(support) + 0.5).astype(np.int64), in_size) - first,
                    0, width)
    offsets = np.arange(width)[:, None]
    distance = (offsets + first[None, :]).astype(dtype) - center[None, :]
    weights = window(((distance.astype(np.float64) + 0.5) * float(inverse)).astype(dtype))
    weights = np.where(offsets < count[None, :], weights, dtype.type(0))
    total = weights.sum(0, dtype=dtype)
    weights = np.where(total != 0, weights / np.where(total != 0, total, dtype.type(1)), weights)
    positions = np.where(offsets < count[None, :], offsets + first[None, :], first[None, :])
    return np.minimum(positions, in_size - 1), weights.astype(dtype)


def _mix(x: Tensor, axis: int, positions: np.ndarray, weights: np.ndarray, last: OpDef | None) -> Tensor:
    """``sum_k weights[k] * x[positions[k]]`` along ``axis``, for (K, out) ``positions`` and
    ``weights``: one gather of all the terms, a product and a sum over k; the last term is added
    on its own by ``last`` when given (which names the result's ``grad_fn``)."""
    head = len(positions) - 1 if last is not None else len(positions)
    if head == 0:  # one term: the named addition adds an exact zero
        zero = _constant(x, np.zeros((), x._data.dtype))
        return last(_along(x, axis, positions[0]) * _weights(x, axis, weights[0]), zero)
    shape = tuple(x.shape)
    terms = _along(x, axis, positions[:head].reshape(-1))
    terms = terms.reshape(shape[:axis] + (head, positions.shape[1]) + shape[axis + 1:])
    weighted = terms * _weights(x, axis, weights[:head].reshape(head, positions.shape[1]))
    total = weighted.sum(axis) if head > 1 else weighted.squeeze(axis)
    if last is None:
        return total
    return last(total, _along(x, axis, positions[-1]) * _weights(x, axis, weights[-1]))


def _constant(x: Tensor, values: np.ndarray) -> Tensor:
    """``values`` on ``x``'s device; a recorded constant while a step is compiled."""
    return creation._constant_like(values, x)


def _along(x: Tensor, axis: int, positions: np.ndarray, op: OpDef = INDEX_SELECT) -> Tensor:
    index = _constant(x, positions)
    return getitem(x, (slice(None),) * axis + (index,), op)


def _weights(x: Tensor, axis: int, values: np.ndarray) -> Tensor:
    """Per-position weights (1-D, or (K, out) for K terms) shaped to broadcast along ``axis`` of ``x``."""
    return _constant(x, values.reshape(values.shape + (1,) * (x.ndim - axis - 1)))


def _per_dim(value: Any, dims: int, spatial: list[int], name: str, what: str, example: str) -> list[Any]:
    """``size`` or ``scale_factor``: one value per spatial dim (a single value repeats)."""
    if not isinstance(value, (list, tuple)):
        return [value] * dims
    if len(value) != dims:
        raise ValueError(f"Input and {name.split()[0]} must have the same number of spatial dimensions, but got input "
                         f"with spatial dimensions of {spatial} and {what} {value}. Please provide input tensor in "
                         f"(N, C, d1, d2, ...,dK) format and {name} in {example} format.")
    return list(value)


def _output_sizes(input: Tensor, dims: int, size: Any, scale_factor: Any, recompute: bool | None
                  ) -> tuple[list[int], list[float | None]]:
    """The output's spatial sizes and the scales the kernels use (None: from the sizes)."""
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        sizes = _per_dim(size, dims, spatial, "output size", "output size of", "(o1, o2, ...,oK)")
        if not all(isinstance(s, (int, np.integer)) for s in sizes):
            raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                            f"Tuple[int, int, int], but got size with types {[type(s) for s in sizes]}")
        return [int(s) for s in sizes], [None] * dims
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = [float(s) for s in _per_dim(scale_factor, dims, spatial, "scale_factor", "scale_factor of shape",
                                              "(s1, s2, ...,sK)")]
    sizes = [math.floor(float(n) * s) for n, s in zip(spatial, scales)]
    return sizes, [None] * dims if recompute else scales


def _check_sizes(input: Tensor, sizes: Sequence[int]) -> None:
    spatial = list(input.shape[2:])
    if min(spatial) > 0 and min(sizes) > 0:
        return
    names = ["D", "H", "W"][3 - len(sizes):]
    given = ", ".join(f"{n}: {s}" for n, s in zip(names, spatial))
    wanted = ", ".join(f"{n}: {s}" for n, s in zip(names, sizes))
    raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({given}) output ({wanted})")


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of an ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``
    input to ``size``, or by ``scale_factor``: ``mode`` is ``'nearest'``, ``'nearest-exact'``,
    ``'linear'`` / ``'bilinear'`` / ``'trilinear'`` (by the input's rank), ``'bicubic'`` (4-D)
    or ``'area'``; ``antialias=True`` filters 4-D ``'bilinear'``, ``'bicubic'`` and ``'lanczos'``
    resizes.

    >>> F.interpolate(tapegrad.tensor([[[1., 2.]]]), scale_factor=2)
    tensor([[[1., 1., 2., 2.]]])
    >>> F.interpolate(tapegrad.tensor([[[1., 2.]]]), size=4, mode="linear", align_corners=True)
    tensor([[[1.0000, 1.3333, 1.6667, 2.0000]]])
    """
    dims = input.ndim - 2
    if mode in ("nearest", "area", "nearest-exact") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if align_corners is None:
        align_corners = False
    # PyTorch's order: the size arguments, then anti-aliasing, then the mode against the rank.
    sizes, scales = _output_sizes(input, max(dims, 0), size, scale_factor, recompute_scale_factor)
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D "
                         "tensor as input")
    if mode == "lanczos" and dims == 2:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    if mode in _LINEAR and dims in (1, 2, 3) and _LINEAR[mode] != dims:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input")
    if (dims not in (1, 2, 3) or mode not in ("nearest", "nearest-exact", "area", *_LINEAR, "bicubic", "lanczos")
            or (mode in ("bicubic", "lanczos") and dims != 2)):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  f"the modes: {_MODES} (got {mode})")
    if mode == "area":
        if dims == 3:
            from .pool3d import adaptive_avg_pool3d

            return adaptive_avg_pool3d(input, sizes)
        return adaptive_avg_pool1d(input, sizes[0]) if dims == 1 else adaptive_avg_pool2d(input, sizes)
    _check_sizes(input, sizes)
    dtype = input._data.dtype
    if dtype.kind != "f":
        kernel = ("compute_indices_weights_cubic" if mode == "bicubic" and not antialias
                  else f"upsample_{mode.replace('-', '_')}{dims}d")
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{input.dtype.scalar_name}'")
    kind = mode + "-aa" if antialias else mode
    # Bicubic and antialiased resizes mix the last dim first, as PyTorch's kernels nest their sums.
    order = range(dims - 1, -1, -1) if mode == "bicubic" or antialias else range(dims)
    out = input
    for step, d in enumerate(order):
        axis, last = d + 2, step == dims - 1
        in_size = input.shape[axis]
        if mode not in _NEAREST and in_size == sizes[d] and (mode in _LINEAR or antialias):
            # PyTorch's linear and antialiasing kernels copy a dim whose size does not change.
            if last:
                out = _along(out, axis, np.arange(in_size), _last_op(kind, dims, True))
            continue
        if mode in _NEAREST:
            positions = _source_nearest(in_size, sizes[d], scales[d], mode == "nearest-exact", dims == 2)
            out = _along(out, axis, positions, _last_op(kind, dims, True) if last else INDEX_SELECT)
            continue
        if antialias:
            positions, weights = _source_antialias(in_size, sizes[d], scales[d], align_corners, dtype, mode)
        elif mode == "bicubic":
            positions, weights = _source_cubic(in_size, sizes[d], scales[d], align_corners, dtype)
        else:
            lower, upper, weight = _source_linear(in_size, sizes[d], scales[d], align_corners, dtype)
            positions, weights = np.stack([lower, upper]), np.stack([1 - weight, weight])
        out = _mix(out, axis, positions, weights, _last_op(kind, dims, False) if last else None)
    return out
