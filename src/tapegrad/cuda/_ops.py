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

from .. import dtypes as _dtypes
from ..backends import cuda_capture, cuda_index, cuda_kernels as ck
from ._arrays import CudaArray, DeviceKey, empty, flat, is_device_array, to_device, view


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
        # The generated kernels write C-contiguous outputs: compute, then copy into the view.
        copy_into(out, elementwise(fn, operands, shape, compute, out_dtype))
        return out
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
            # A Python int wraps into a narrow integer type (uint8 + 300 adds 44), as on the CPU.
            args.append(_dtypes.wrapped_scalar(x, compute) if type(x) is int else compute.type(x))
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


# ------------------------------------------------------------------ writes into strided views

def _extent_bytes(data: Any) -> tuple[int, int]:
    """The [first, last] byte addresses ``data``'s elements occupy."""
    start = int(data.device_ctypes_pointer.value or 0)
    return start, start + sum((size - 1) * stride for size, stride in zip(data.shape, data.strides))


def _overlap(a: Any, b: Any) -> bool:
    (a_start, a_end), (b_start, b_end) = _extent_bytes(a), _extent_bytes(b)
    return a_start <= b_end and b_start <= a_end


def copy_into(dst: Any, src: Any) -> None:
    """``dst[...] = src`` for a destination of any strides (no two elements at one address):
    ``src`` (a device array of any strides that broadcasts to ``dst``) is cast to ``dst``'s
    dtype, and read first into a temporary when the two may share memory (``y[1:] = y[:-1]``),
    so every element is read before any is written, as NumPy's assignment guarantees."""
    shape = tuple(dst.shape)
    if not dst.size:
        return
    overlap = _overlap(dst, src)
    if dst.is_c_contiguous() and not overlap:
        elementwise(_copy, [src], shape, src.dtype, dst.dtype, out=dst)
        return
    if src.dtype != dst.dtype or overlap:
        src = elementwise(_copy, [src], shape, src.dtype, dst.dtype)
    dims, (dst_strides, src_strides) = _coalesce(shape, [_element_strides(dst, shape), _element_strides(src, shape)])
    cuda_index.strided_copy(_buffer(dst, dst_strides, dims), dst_strides, _buffer(src, src_strides, dims),
                            src_strides, dims)


# ------------------------------------------------------------------ advanced indexing

def _add_index(total, index, stride, size):
    # A negative index counts from the end (indices are range-checked before this runs).
    if index < 0:
        index += size
    return total + index * stride


def element_strides(data: Any) -> tuple[int, ...]:
    itemsize = data.dtype.itemsize
    return tuple(s // itemsize for s in data.strides)


def out_of_range(index: Any, low: int, high: int) -> int | None:
    """The first entry (C order) of the integer device array ``index`` outside ``[low, high)``,
    or None. The answer has to reach the host before results are used: one small copy."""
    index = as_int64(index)
    position = cuda_index.first_out_of_range(flat(index), low, high)
    return None if position < 0 else int(flat(index)[position])


def check_range(index: Any, low: int, high: int, error: Callable[[int], Exception]) -> None:
    """Raise ``error(value)`` for the first entry ``value`` of the integer device array
    ``index`` outside ``[low, high)``. A recording (``backends.cuda_capture``) keeps the whole
    check, so each replay of a compiled step checks that call's indices."""
    def check() -> None:
        value = out_of_range(index, low, high)
        if value is not None:
            raise error(value)

    cuda_capture.host_check(check)


def as_int64(index: Any) -> CudaArray:
    """A C-contiguous int64 device array of an integer index (a copy only when needed)."""
    if not is_device_array(index):
        return to_device(np.asarray(index, dtype=np.int64))
    if index.dtype != np.int64:
        return cast(index, np.int64)
    return index if index.is_c_contiguous() else contiguous_copy(index)


def _checked_index(index: Any, size: int, dim: int) -> CudaArray:
    """``index`` (host or device integers) on the device as int64, after NumPy's bounds check."""
    if not is_device_array(index):
        host = np.asarray(index, dtype=np.int64)
        bad = host[(host < -size) | (host >= size)]
        value = int(bad.reshape(-1)[0]) if bad.size else None
        if value is not None:
            raise IndexError(f"index {value} is out of bounds for dimension {dim} with size {size}")
        return to_device(host)
    index = as_int64(index)
    check_range(index, -size, size,
                lambda value: IndexError(f"index {value} is out of bounds for dimension {dim} with size {size}"))
    return index


def _mask_columns(mask: Any, shape: tuple[int, ...], dim: int) -> list[Any]:
    """The int64 coordinates of a boolean mask's True entries, one device array per dimension it
    covers (NumPy's rule: ``x[mask]`` is ``x[mask.nonzero()]``), after NumPy's shape check."""
    for j, size in enumerate(mask.shape):
        if dim + j < len(shape) and size != shape[dim + j]:
            raise IndexError(f"boolean index did not match indexed array along dimension {dim + j}; size of "
                             f"dimension is {shape[dim + j]} but size of corresponding boolean dimension is {size}")
    if not is_device_array(mask):
        return [to_device(column.astype(np.int64)) for column in np.nonzero(mask)]
    coordinates = nonzero(mask)
    return [coordinates[:, j] for j in range(mask.ndim)]


def _dims_used(k: Any) -> int:
    if k is None or k is Ellipsis:
        return 0
    if isinstance(k, (int, slice)):
        return 1
    return k.ndim if k.dtype.kind == "b" else 1


def _broadcast_view(index: Any, block: tuple[int, ...], before: int, out_shape: tuple[int, ...]) -> CudaArray:
    """``index`` broadcast to the advanced block ``block``, placed at output dimension ``before``
    of ``out_shape`` (stride 0 along every other dimension)."""
    lead = len(block) - index.ndim
    strides = [0] * len(out_shape)
    for j, (size, stride) in enumerate(zip(index.shape, index.strides)):
        if size != 1:
            strides[before + lead + j] = stride
    return view(index, out_shape, tuple(strides))


def _shape_text(shape: tuple[int, ...]) -> str:
    """A shape as NumPy's messages print it: ``(2,)``, ``(2,4)``."""
    return "(" + ",".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def device_key(shape: tuple[int, ...], key: tuple) -> DeviceKey:
    """``key`` (ints, slices, None, one Ellipsis, index arrays on the host or the device) with
    each integer index array range-checked (NumPy's message) and on the device as int64, and
    each k-d boolean mask replaced by the k coordinate arrays of its True entries (NumPy's rule:
    ``x[mask]`` is ``x[mask.nonzero()]``; their count reaches the host, as in PyTorch)."""
    used = sum(_dims_used(k) for k in key)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but {used} were indexed")
    resolved: list[Any] = []
    d = 0
    for k in key:
        if k is Ellipsis:
            d += len(shape) - used
        elif isinstance(k, int):
            if not -shape[d] <= k < shape[d]:
                raise IndexError(f"index {k} is out of bounds for dimension {d} with size {shape[d]}")
        elif k is None or isinstance(k, slice) or (k.dtype.kind == "b" and k.ndim == 0):
            pass
        elif k.dtype.kind == "b":
            columns = _mask_columns(k, shape, d)
            resolved += columns
            d += len(columns)
            continue
        else:
            k = _checked_index(k, shape[d], d)
        resolved.append(k)
        d += _dims_used(k)
    return DeviceKey(resolved)


def index_positions(shape: tuple[int, ...], strides: tuple[int, ...], key: tuple) -> CudaArray:
    """The int64 element offsets (from the first element of an array of ``shape`` and element
    ``strides``) of ``array[key]`` for an advanced key, with NumPy's rules: index arrays (and
    ints, when there are arrays) broadcast together into one block of dimensions, placed where
    they stand when they are adjacent in the key, else first. Offsets are computed on the
    device: a strided ramp over the sliced dimensions, plus ``index * stride`` per index array."""
    if not isinstance(key, DeviceKey):
        key = device_key(shape, key)
    used = sum(_dims_used(k) for k in key)
    plain: list[tuple[int, int]] = []  # (size, element stride) of the sliced and new dimensions
    terms: list[tuple[Any, int, int]] = []  # (int64 device index, element stride, size)
    advanced: list[int] = []  # where the advanced entries stand in the key
    block_at = 0
    base = 0
    d = 0
    for n, k in enumerate(key):
        if k is Ellipsis:
            for _ in range(len(shape) - used):
                plain.append((shape[d], strides[d]))
                d += 1
        elif k is None:
            plain.append((1, 0))
        elif isinstance(k, slice):
            start, stop, step = k.indices(shape[d])
            count = max(0, -(-(stop - start) // step))
            plain.append((count, step * strides[d]))
            base += start * strides[d] if count else 0
            d += 1
        else:
            if not advanced:
                block_at = len(plain)
            advanced.append(n)
            if isinstance(k, int):
                base += (k % shape[d]) * strides[d]
                d += 1
            elif k.dtype.kind == "b":
                # NumPy reads a 0-d boolean as a new dimension of length 1 (True) or 0 (False).
                truth = bool(k.copy_to_host()) if is_device_array(k) else bool(k)
                terms.append((to_device(np.zeros(int(truth), np.int64)), 0, 1))
            else:
                terms.append((k, strides[d], shape[d]))
                d += 1
    plain += [(shape[r], strides[r]) for r in range(d, len(shape))]
    try:
        block = np.broadcast_shapes(*(tuple(index.shape) for index, _, _ in terms))
    except ValueError:
        shapes = " ".join(_shape_text(tuple(index.shape)) for index, _, _ in terms)
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together with shapes {shapes} ") from None
    if advanced and advanced[-1] - advanced[0] + 1 != len(advanced):
        block_at = 0  # advanced entries apart: NumPy puts their block first
    out_shape = tuple(s for s, _ in plain[:block_at]) + block + tuple(s for s, _ in plain[block_at:])
    ramp = tuple(t for _, t in plain[:block_at]) + (0,) * len(block) + tuple(t for _, t in plain[block_at:])
    positions = empty(out_shape, np.dtype(np.int64))
    cuda_index.offsets(flat(positions), out_shape or (1,), ramp or (0,), base)
    for index, stride, size in terms:
        elementwise(_add_index, [positions, _broadcast_view(index, block, block_at, out_shape), stride, size],
                    out_shape, np.dtype(np.int64), np.dtype(np.int64), out=positions)
    return positions


def gather_positions(shape: tuple[int, ...], axis: int, index: Any, strides: tuple[int, ...]) -> CudaArray:
    """The element offsets, in an array of ``shape`` and element ``strides``, of ``gather``'s
    ``[..., index, ...]`` along ``axis`` (``index`` has the output's shape; entries checked)."""
    index = as_int64(index)
    out_shape = tuple(index.shape)
    ramp = tuple(0 if d == axis else strides[d] for d in range(len(out_shape)))
    positions = empty(out_shape, np.dtype(np.int64))
    cuda_index.offsets(flat(positions), out_shape, ramp, 0)
    elementwise(_add_index, [positions, index, strides[axis], shape[axis]], out_shape, np.dtype(np.int64),
                np.dtype(np.int64), out=positions)
    return positions


def take(data: Any, positions: Any) -> CudaArray:
    """``data``'s elements at ``positions`` (element offsets from its first element, any strides)."""
    from ..backends import cuda_nn

    out = empty(tuple(positions.shape), data.dtype)
    if out.size:
        source = _buffer(data, element_strides(data), tuple(data.shape))
        cuda_nn.gather_flat(source, flat(positions), flat(out), check=False)
    return out


def put(data: Any, positions: Any, value: Any, accumulate: bool = False) -> None:
    """``data[positions] = value`` (``+=`` with ``accumulate``, repeats adding up), positions
    being element offsets from ``data``'s first element (any strides, as
    :func:`index_positions` gives them); ``value`` broadcasts to ``positions`` and is cast to
    ``data``'s dtype."""
    from ..backends import cuda_nn

    shape = tuple(positions.shape)
    value_shape = tuple(value.shape) if is_device_array(value) else np.shape(value)
    try:
        np.broadcast_shapes(value_shape, shape)
    except ValueError:
        raise ValueError(f"shape mismatch: value array of shape {_shape_text(value_shape)} could not be "
                         f"broadcast to indexing result of shape {_shape_text(shape)}") from None
    if not positions.size:
        return
    operand = value if is_device_array(value) or np.ndim(value) == 0 else to_device(np.asarray(value))
    source = elementwise(_copy, [operand], shape, np.dtype(getattr(operand, "dtype", data.dtype)), data.dtype)
    target = _buffer(data, element_strides(data), tuple(data.shape))
    if accumulate:
        cuda_nn.scatter_add_flat(target, flat(positions), flat(source), check=False)
    else:
        cuda_index.scatter_flat(target, flat(positions), flat(source))


def nonzero(data: Any) -> CudaArray:
    """The (count, ndim) int64 coordinates of ``data``'s nonzero elements in C order. Their
    count decides the result's shape, so it reaches the host (as in PyTorch): per-chunk counts
    come back (at most ``cuda_index.NONZERO_THREADS`` numbers, not the mask), their exclusive
    scan goes out, and each thread writes its chunk's coordinates from there."""
    shape = tuple(data.shape)
    if not data.size:
        return empty((0, len(shape)), np.dtype(np.int64))
    source = flat(data if data.is_c_contiguous() else contiguous_copy(data))
    chunk, _, counts = cuda_index.nonzero_chunks(source)
    starts = np.cumsum(counts) - counts
    out = empty((int(counts.sum()), len(shape)), np.dtype(np.int64))
    cuda_index.nonzero_write(source, chunk, starts, shape or (1,), out)
    return out


# ------------------------------------------------------------------ embedding rows

def _scale(x, factor):
    return x * factor


def _inverse(count):
    return 1.0 / count


def _unless_padding(factor, index, padding):
    # The padding row gets no gradient.
    return factor * (index != padding)


def take_rows(table: Any, index: Any, factor: Any = None) -> CudaArray:
    """Rows ``index`` (int64, in range) of the 2-D ``table``, times ``factor[k]`` when given."""
    from ..backends import cuda_nn

    table = table if table.is_c_contiguous() else contiguous_copy(table)
    out = empty((index.shape[0], table.shape[1]), table.dtype)
    cuda_nn.index_select(table, index, out, check=False)
    if factor is not None:
        elementwise(_scale, [out, factor.reshape(factor.shape[0], 1)], tuple(out.shape), out.dtype, out.dtype, out=out)
    return out


def scatter_rows(src: Any, index: Any, rows: int, factor: Any = None) -> CudaArray:
    """Zeros of ``(rows, width)`` with row ``k`` of the 2-D ``src`` (times ``factor[k]``) added
    at row ``index[k]``; repeated indices accumulate (atomics)."""
    from ..backends import cuda_nn

    shape = tuple(src.shape)
    if factor is not None:
        src = elementwise(_scale, [src, factor.reshape(shape[0], 1)], shape, src.dtype, src.dtype)
    elif not src.is_c_contiguous():
        src = contiguous_copy(src)
    out = full((rows, shape[1]), 0, src.dtype)
    cuda_nn.scatter_add(out, index, src, check=False)
    return out


def row_factors(index: Any, rows: int, padding_idx: int | None, scale_grad_by_freq: bool,
                dtype: np.dtype) -> CudaArray | None:
    """``layers._gradient_factors`` on the device: per looked-up row, 0 for the padding row,
    else ``1 / count`` of its index (with ``scale_grad_by_freq``), else 1; None for all ones."""
    if padding_idx is None and not scale_grad_by_freq:
        return None
    float64 = np.dtype(np.float64)
    if scale_grad_by_freq:
        counts = full((rows,), 0, float64)
        put(counts, index, 1.0, accumulate=True)
        # 1 / count in float64, rounded to dtype, as the CPU path computes it.
        factor = elementwise(_inverse, [take(counts, index)], tuple(index.shape), float64, np.dtype(dtype))
    else:
        factor = full(tuple(index.shape), 1, dtype)
    if padding_idx is not None:
        elementwise(_unless_padding, [factor, index, padding_idx], tuple(index.shape), np.dtype(dtype),
                    np.dtype(dtype), out=factor)
    return factor
