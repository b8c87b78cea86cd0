"""``max_unpool1d``, ``max_unpool2d`` and ``max_unpool3d``: the partial inverse of max pooling,
each input value written at its index in a zero output.

Each (N, C) plane is one row: ``index_put`` writes the plane's values at their indices in a
row of zeros, so where two values share an index the later one stays, as in PyTorch's CPU
kernel. The step's VJP gathers the output gradient at the indices, so every input value gets
the gradient of the place it was written to, even one that was overwritten (PyTorch's
``MaxUnpool2DBackward0`` does the same); the gather's own VJP is a scatter, so gradients of
any order are exact. A 1-d unpooling is the 2-d one over a unit width, as in PyTorch. The
output size, its checks and PyTorch's messages come first. Compiled steps do not record
``index_put``: ``tapegrad.compile`` refuses a step that unpools (``TraceError``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .. import creation
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..tensor import Tensor
from .conv import _check_float
from .index import _cuda_ops, index_put
from .registry import OpDef, record

__all__: list[str] = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _ntuple(value: Any, n: int) -> tuple[Any, ...]:
    """PyTorch's ``_single``/``_pair``/``_triple``: a sequence as a tuple, anything else repeated."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _output_size(input: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                 output_size: Any) -> list[int]:
    """PyTorch's ``_unpool_output_size``: the pooled input's size by default, else ``output_size``
    (optionally with the two leading sizes) within a stride of it."""
    dims = len(kernel)
    default = [(input.shape[-dims + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(dims)]
    if output_size is None:
        sizes = default
    else:
        if len(output_size) == dims + 2:
            output_size = output_size[2:]
        if len(output_size) != dims:
            raise ValueError(f"output_size should be a sequence containing {dims} or {dims + 2} elements, but it has "
                             f"a length of '{len(output_size)}'")
        for d in range(dims):
            low, high = default[d] - stride[d], default[d] + stride[d]
            if not low < output_size[d] < high:
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {low} and {high})')
        sizes = list(output_size)
    for d in range(dims):
        if sizes[d] < 0:
            raise ValueError("max_unpooling: output_size must contain non-negative spatial dimensions, but got "
                             f"output_size[{d}]={sizes[d]}")
    return [int(s) for s in sizes]


def _check(dims: int, input: Tensor, indices: Tensor, stride: Sequence[int]) -> None:
    """PyTorch's checks of ``max_unpool2d``/``max_unpool3d``'s tensors, in its order."""
    if not isinstance(indices, Tensor) or indices._data.dtype != np.int64:
        got = f" but got: {indices.dtype.scalar_name}" if dims == 2 and isinstance(indices, Tensor) else ""
        raise RuntimeError(f"elements in indices should be type int64{got}")
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Input to max_unpooling{dims}d should be a {dims + 1}d or {dims + 2}d Tensor, but got a "
                           f"tensor with {input.ndim} dimensions.")
    if tuple(input.shape) != tuple(indices.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor ({list(input.shape)}) "
                           f"but got indices tensor with shape: {list(indices.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] <= 0:
            raise RuntimeError(f"max_unpooling{dims}d_forward_out_cpu(): Expected input to have non-zero size for "
                               f"non-batch dimensions, but got {list(input.shape)} with dimension {d} being empty.")
    if dims == 3 and min(stride) <= 0:
        raise RuntimeError(f"strides should be greater than zero, but got stride: {list(stride)}")
    _check_float(f"max_unpool{dims}d", input)


def _check_range(index: Any, sizes: list[int]) -> None:
    """PyTorch's error for the first index outside the output volume (one number comes back
    from a device)."""
    volume = math.prod(sizes)

    def error(bad: int) -> RuntimeError:
        return RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                            f"{'x'.join(str(s) for s in sizes)})")

    if not isinstance(index, np.ndarray):
        _cuda_ops().check_range(index, 0, volume, error)
        return
    bad = (index < 0) | (index >= volume)
    if bad.any():
        raise error(int(index.reshape(-1)[np.argmax(bad.reshape(-1))]))


def _unpool_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (indices,) = step.saved_values()
    planes, volume, count = step.attrs
    gathered = g.reshape(planes, volume).gather(1, indices.reshape(planes, count))
    return (gathered.reshape(step.input_meta[0][0]),)


_UNPOOL = {2: OpDef("max_unpool2d", "MaxUnpool2DBackward0", _unpool_vjp),
           3: OpDef("max_unpool3d", "MaxUnpool3DBackward0", _unpool_vjp)}


def _unpool(dims: int, input: Tensor, indices: Tensor, sizes: list[int], stride: Sequence[int] = ()) -> Tensor:
    _check(dims, input, indices, stride)
    _check_range(indices._data, sizes)
    lead = tuple(input.shape[:-dims])
    planes, count, volume = math.prod(lead), math.prod(input.shape[-dims:]), math.prod(sizes)
    rows = np.arange(planes, dtype=np.int64)[:, None]
    with grad_mode.no_grad():
        zeros = creation.zeros(planes, volume, dtype=input.dtype, device=input.device)
        out = index_put(zeros, (rows, indices.reshape(planes, count)._data), input.reshape(planes, count))
    out = out.reshape(lead + tuple(sizes))
    if grad_mode.state.enabled and input._requires_grad:
        return record(_UNPOOL[dims], (input,), out, (planes, volume, count), saved=(indices,))
    return out


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The partial inverse of ``max_pool1d``: each value of an ``(N, C, L)`` or ``(C, L)`` input
    written at its index in zeros of length ``(L - 1) * stride - 2 * padding + kernel_size``
    (or ``output_size``).

    >>> values, indices = F.max_pool1d(tapegrad.tensor([[1., 3., 2., 5.]]), 2, return_indices=True)
    >>> F.max_unpool1d(values, indices, 2)
    tensor([[0., 3., 0., 5.]])
    """
    kernel = _ntuple(kernel_size, 1)
    steps = _ntuple(stride, 1) if stride is not None else kernel
    sizes = _output_size(input, kernel, steps, _ntuple(padding, 1), output_size)
    return _unpool(2, input.unsqueeze(-1), indices.unsqueeze(-1), sizes + [1]).squeeze(-1)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The partial inverse of ``max_pool2d``: each value of an ``(N, C, H, W)`` or ``(C, H, W)``
    input written at its flat index in a zero ``(H_out, W_out)`` plane, ``H_out = (H - 1) *
    stride - 2 * padding + kernel_size`` (likewise ``W_out``) unless ``output_size`` says.

    >>> values, indices = F.max_pool2d(tapegrad.arange(4.).reshape(1, 2, 2), 2, return_indices=True)
    >>> F.max_unpool2d(values, indices, 2)
    tensor([[[0., 0.],
             [0., 3.]]])
    """
    kernel = _ntuple(kernel_size, 2)
    steps = _ntuple(stride, 2) if stride is not None else kernel
    return _unpool(2, input, indices, _output_size(input, kernel, steps, _ntuple(padding, 2), output_size))


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 output_size: Any = None) -> Tensor:
    """The partial inverse of ``max_pool3d``: each value of an ``(N, C, D, H, W)`` or ``(C, D, H,
    W)`` input written at its flat index in a zero ``(D_out, H_out, W_out)`` volume (sizes as in
    ``max_unpool2d``).

    >>> values, indices = F.max_pool3d(tapegrad.arange(8.).reshape(1, 2, 2, 2), 2, return_indices=True)
    >>> F.max_unpool3d(values, indices, 2).flatten()
    tensor([0., 0., 0., 0., 0., 0., 0., 7.])
    """
    kernel = _ntuple(kernel_size, 3)
    steps = _ntuple(stride, 3) if stride is not None else kernel
    padding = _ntuple(padding, 3)
    return _unpool(3, input, indices, _output_size(input, kernel, steps, padding, output_size), steps)
