"""Array-level CUDA operations for the tensor front end, run by the kernels that
``tapegrad.backends.cuda_kernels`` generates from the same scalar functions as the CPU ones.

:func:`elementwise` is the CUDA counterpart of ``cpu.elementwise``: operands of any strides
(views, broadcasts) are passed to the strided kernel as (buffer, element strides), after their
dimensions are merged wherever every operand is contiguous across them, so most views need
no more than the kernels' :data:`~tapegrad.backends.cuda_kernels.MAX_DIMS` dimensions (the
rare view that does gets one launch per index of its leading dimensions).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..backends import cuda_kernels as ck
from ._arrays import CudaArray, empty, flat, is_device_array, view


def _copy(x):
    return x


# ------------------------------------------------------------------ elementwise

def _element_strides(data: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``data``'s element strides broadcast to ``shape`` (0 along broadcast dimensions)."""
    itemsize = data.dtype.itemsize
    lead = len(shape) - len(data.shape)
    strides = [0] * lead
    for size, target, stride in zip(data.shape, shape[lead:], data.strides):
        strides.append(stride // itemsize if size == target and size != 1 else 0)
    return tuple(strides)


def _coalesce(shape: tuple[int, ...], strides: list[tuple[int, ...]]
              ) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Drop size-1 dimensions and merge neighbours that every operand (and the C-contiguous
    output) steps through as one: fewer coordinates for the kernel to compute."""
    keep = [d for d, size in enumerate(shape) if size != 1]
    sizes = [shape[d] for d in keep]
    merged = [[s[d] for d in keep] for s in strides]
    d = len(sizes) - 1
    while d > 0:
        inner = sizes[d]
        if all(s[d - 1] == s[d] * inner for s in merged):
            sizes[d - 1] *= inner
            for s in merged:
                s[d - 1] = s[d]
                del s[d]
            del sizes[d]
        d -= 1
    if not sizes:
        return (1,), [(0,) for _ in strides]
    return tuple(sizes), [tuple(s) for s in merged]


def _buffer(data: Any, strides: tuple[int, ...], shape: tuple[int, ...]) -> CudaArray:
    """A 1-D array from ``data``'s first element over every element the strides reach."""
    extent = 1 + sum((size - 1) * stride for size, stride in zip(shape, strides))
    return view(data, (extent,), (data.dtype.itemsize,))


def elementwise(fn: Callable[..., Any], operands: Sequence[Any], shape: tuple[int, ...], compute: np.dtype,
                out_dtype: np.dtype, out: Any = None) -> Any:
    """``fn`` over device arrays (any strides, broadcasting to ``shape``) and scalars, computed
    in ``compute`` (arrays of another dtype are cast first) and stored as ``out_dtype`` into
    ``out`` (a C-contiguous device array of ``shape``), allocated when None."""
    if out is None:
        out = empty(shape, out_dtype)
    elif not out.is_c_contiguous():
        from ._arrays import unsupported

        raise unsupported("an in-place write into a non-contiguous CUDA tensor")
    size = 1
    for s in shape:
        size *= s
    if size == 0:
        return out
    arrays = []
    args: list[Any] = []
    pattern = ""
    for x in operands:
        if is_device_array(x):
            if x.dtype != compute:
                x = cast(x, compute)
            arrays.append(x)
            args.append(x)
            pattern += "a"
        else:
            args.append(compute.type(x))
            pattern += "s"
    out_strides = _element_strides(out, shape)
    dims, merged = _coalesce(shape, [out_strides] + [_element_strides(x, shape) for x in arrays])
    _launch(ck.elementwise_chain(fn, pattern), out, dims, merged[0], args, pattern, iter(merged[1:]))
    return out


def _launch(chain: ck.Chain, out: Any, dims: tuple[int, ...], out_strides: tuple[int, ...], args: list[Any],
            pattern: str, strides: Any) -> None:
    """Run ``chain`` over ``dims``; array operands (in ``args``, their element strides from
    ``strides``) start at their first element. Beyond the kernels' dimensions, one launch per
    index of the leading dimension (correct, if slow: few views need it)."""
    operands = []
    for x, letter in zip(args, pattern):
        operands.append((x, next(strides)) if letter == "a" else x)
    if len(dims) > ck.MAX_DIMS:
        itemsize = out.dtype.itemsize
        for i in range(dims[0]):
            sub_out = view(out, dims[1:], tuple(s * itemsize for s in out_strides[1:]), i * out_strides[0] * itemsize)
            sub_args = []
            sub_strides = []
            for x, letter in zip(operands, pattern):
                if letter == "a":
                    data, element_strides = x
                    step = data.dtype.itemsize
                    sub_args.append(view(data, (1,), (step,), i * element_strides[0] * step))
                    sub_strides.append(element_strides[1:])
                else:
                    sub_args.append(x)
            _launch(chain, sub_out, dims[1:], out_strides[1:], sub_args, pattern, iter(sub_strides))
        return
    kernel_args = []
    for x, letter in zip(operands, pattern):
        if letter == "a":
            data, element_strides = x
            buffer = _buffer(data, element_strides, dims)
            kernel_args.append(buffer.reshape(dims) if element_strides == out_strides else (buffer, element_strides))
        else:
            kernel_args.append(x)
    ck.run_chain(chain, [out.reshape(dims)], kernel_args)


def cast(data: Any, dtype: Any) -> CudaArray:
    """A C-contiguous copy of ``data`` in ``dtype``."""
    return elementwise(_copy, [data], tuple(data.shape), data.dtype, np.dtype(dtype))


def contiguous_copy(data: Any) -> CudaArray:
    """A C-contiguous copy of ``data`` (a device-to-device copy when it is contiguous)."""
    if data.is_c_contiguous() and data.size:
        out = empty(tuple(data.shape), data.dtype)
        flat(out).copy_to_device(flat(data))
        return out
    return cast(data, data.dtype)


def full(shape: tuple[int, ...], value: Any, dtype: Any) -> CudaArray:
    """A new device array of ``shape`` filled with ``value`` on the device."""
    dtype = np.dtype(dtype)
    out = empty(shape, dtype)
    if out.size:
        ck.run_chain(ck.elementwise_chain(_copy, "s"), [out.reshape(out.size)], [dtype.type(value)])
    return out


# ------------------------------------------------------------------ sums (for broadcast gradients)

def sum_keepdim(data: Any, axes: Sequence[int]) -> CudaArray:
    """The sum of ``data`` over ``axes``, keeping them as size-1 dimensions, in ``data``'s dtype.

    The kept dimensions are moved first (a strided copy unless they already are), so the sum
    is one ``cuda_kernels.sum_rows`` over a (kept, reduced) matrix; floats accumulate in
    float64 as on the CPU."""
    shape = tuple(data.shape)
    axes = tuple(sorted(set(axes)))
    kept = [d for d in range(len(shape)) if d not in axes]
    order = kept + list(axes)
    rows = 1
    for d in kept:
        rows *= shape[d]
    cols = 1
    for d in axes:
        cols *= shape[d]
    from ._views import permute

    moved = data if order == list(range(len(shape))) else permute(data, order)
    if not moved.is_c_contiguous():
        moved = contiguous_copy(moved)
    keep_shape = tuple(1 if d in axes else s for d, s in enumerate(shape))
    out = empty((rows,), data.dtype)
    block = max(32, min(ck.DEFAULT_REDUCE_BLOCK, 1 << max(0, cols - 1).bit_length()))
    if rows == 1:
        ck.sum_all(moved.reshape(cols), out, block=block)
    else:
        ck.sum_rows(moved.reshape(rows, cols), out, block=block)
    return out.reshape(keep_shape)
