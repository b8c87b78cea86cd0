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
"""
from __future__ import annotations

import math
from typing import Any, Sequence

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
_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
_GRAD_NAMES = {"nearest": "UpsampleNearest{}DBackward0", "nearest-exact": "UpsampleNearestExact{}DBackward0",
               "linear": "UpsampleLinear1DBackward0", "bilinear": "UpsampleBilinear2DBackward0",
               "trilinear": "UpsampleTrilinear3DBackward0"}
_NAMED: dict[tuple[str, int, bool], OpDef] = {}


def _last_op(mode: str, dims: int, take: bool) -> OpDef:
    """The op that makes the result, under PyTorch's grad_fn name: a take (``take``: the nearest
    modes, and a linear resize to the same size, which copies) or the neighbours' sum."""
    op = _NAMED.get((mode, dims, take))
    if op is None:
        name = f"upsample_{mode.replace('-', '_')}_{dims}d" + ("_take" if take and mode in _LINEAR else "")
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


def _constant(x: Tensor, values: np.ndarray) -> Tensor:
    """``values`` on ``x``'s device; a recorded constant while a step is compiled."""
    return creation._constant_like(values, x)


def _along(x: Tensor, axis: int, positions: np.ndarray, op: OpDef = INDEX_SELECT) -> Tensor:
    index = _constant(x, positions)
    return getitem(x, (slice(None),) * axis + (index,), op)


def _weights(x: Tensor, axis: int, values: np.ndarray) -> Tensor:
    """Per-position weights shaped to broadcast along ``axis`` of ``x``."""
    shape = (len(values),) + (1,) * (x.ndim - axis - 1)
    return _constant(x, values.reshape(shape))


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
    ``'linear'`` / ``'bilinear'`` / ``'trilinear'`` (by the input's rank) or ``'area'``.

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
    if dims not in (1, 2, 3) or mode not in ("nearest", "nearest-exact", "area", *_LINEAR, "bicubic", "lanczos"):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  f"the modes: {_MODES} (got {mode})")
    if mode in _LINEAR and _LINEAR[mode] != dims:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input")
    if mode in ("bicubic", "lanczos") or antialias:
        raise NotImplementedError(f"interpolate: mode={mode!r}{' with antialias=True' if antialias else ''} is not "
                                  "supported by tapegrad (nearest, nearest-exact, linear, bilinear, trilinear and "
                                  "area are)")
    if mode == "area":
        if dims == 3:
            raise NotImplementedError("interpolate: mode='area' of a 5-D input (adaptive_avg_pool3d) is not "
                                      "supported by tapegrad")
        return adaptive_avg_pool1d(input, sizes[0]) if dims == 1 else adaptive_avg_pool2d(input, sizes)
    _check_sizes(input, sizes)
    dtype = input._data.dtype
    if dtype.kind != "f":
        raise NotImplementedError(f"\"upsample_{mode.replace('-', '_')}{dims}d\" not implemented for "
                                  f"'{input.dtype.scalar_name}'")
    out = input
    for d in range(dims):
        axis, last = d + 2, d == dims - 1
        in_size = input.shape[axis]
        if mode in _LINEAR and in_size == sizes[d]:
            # PyTorch's linear kernels copy a dim whose size does not change, whatever the scale.
            if last:
                out = _along(out, axis, np.arange(in_size), _last_op(mode, dims, True))
        elif mode in _LINEAR:
            lower, upper, weight = _source_linear(in_size, sizes[d], scales[d], align_corners, dtype)
            mixed = (_along(out, axis, lower) * _weights(out, axis, 1 - weight),
                     _along(out, axis, upper) * _weights(out, axis, weight))
            out = _last_op(mode, dims, False)(*mixed) if last else mixed[0] + mixed[1]
        else:
            positions = _source_nearest(in_size, sizes[d], scales[d], mode == "nearest-exact", dims == 2)
            out = _along(out, axis, positions, _last_op(mode, dims, True) if last else INDEX_SELECT)
    return out
