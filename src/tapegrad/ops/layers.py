"""Functional forms of dropout, embedding, layer norm and batch norm.

Each forward is one or two fused kernels (``backends/cpu_norm.py``, or for CUDA tensors its twin
``backends/cuda_norm.py``, picked by ``_norm_kernels``) and one recorded step with
PyTorch's grad_fn name. The normalisation VJPs come in two forms with one meaning: without
``create_graph`` (the common case) a fused backward kernel; with it, the same formula in
tapegrad ops, recomputed from the saved input, so gradients of gradients are exact.

Dropout draws its mask from the default generator exactly as PyTorch's CPU kernel does
(``bernoulli_(1 - p)`` over the input's memory order, then ``div_(1 - p)``) and multiplies, so
the same seed gives the same mask and the step reads ``MulBackward0``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu_norm
from ..compiler import index_rules, norm_rules, trace
from ..tensor import Size, Tensor, _wrap, type_name
from . import elementwise as ew
from .conv import _contiguous
from .inplace import mul_
from .registry import OpDef, record

__all__: list[str] = ["batch_norm", "dropout", "embedding", "group_norm", "instance_norm", "layer_norm", "rms_norm"]


def _graph_needed(g: Tensor, *tensors: Tensor | None) -> bool:
    """True when backward itself is being recorded (``create_graph``) and something it
    depends on can carry a gradient: then the VJP is built from tapegrad ops."""
    if not grad_mode.state.enabled:
        return False
    return g._requires_grad or any(t is not None and t._requires_grad for t in tensors)


def _check_parameter_dtype(input: Tensor, *params: Tensor | None) -> None:
    for p in params:
        if p is not None and p._data.dtype != input._data.dtype:
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of "
                               f"{input.dtype.scalar_name}")


def _requires_grad(t: Tensor | None) -> bool:
    return t is not None and t._requires_grad


def _norm_kernels(data: Any) -> Any:
    """The normalisation kernels for ``data``'s device: ``cpu_norm``, or its CUDA twin
    ``cuda_norm`` (same functions and arguments), imported on first use so ``import tapegrad``
    never loads ``numba.cuda``."""
    if isinstance(data, np.ndarray):
        return cpu_norm
    from ..backends import cuda_norm

    return cuda_norm


def _check_same_device(input: Tensor, *others: Tensor | None) -> None:
    on_host = isinstance(input._data, np.ndarray)
    if any(t is not None and isinstance(t._data, np.ndarray) != on_host for t in others):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           "cuda:0 and cpu!")


# ================================================================ dropout

def _memory_order(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> list[int] | None:
    """The dims from outermost to innermost in memory of an array that is dense and
    non-overlapping but not C-contiguous (PyTorch's ``empty_like`` then keeps those strides and
    the mask is drawn in memory order); None when the mask is drawn in C order."""
    if len(shape) < 2:
        return None
    expected = itemsize
    for d in reversed(range(len(shape))):
        if shape[d] != 1 and strides[d] != expected:
            break
        expected *= shape[d]
    else:
        return None  # C-contiguous
    order = sorted(range(len(shape)), key=lambda d: -abs(strides[d]))
    expected = itemsize
    for d in reversed(order):
        if shape[d] != 1 and strides[d] != expected:
            return None
        expected *= shape[d]
    return order


def _dropout_noise(shape: tuple[int, ...], dtype: np.dtype, order: list[int] | None, keep: float,
                   on_cpu: bool, divide: bool = True) -> Any:
    """Bernoulli(keep) / keep (or without the division, for alpha dropout) of ``shape`` and
    ``dtype``, drawn as PyTorch draws it (in memory ``order``) from the CPU or the CUDA
    generator, on that device."""
    if on_cpu:
        generator = _random.default_generator
    else:
        from ..cuda import random as cuda_random

        generator = cuda_random.default_generator()
    if order is None:
        noise = generator.bernoulli(keep, shape, dtype)
    else:
        drawn = generator.bernoulli(keep, tuple(shape[d] for d in order), dtype)
        noise = drawn.transpose(np.argsort(order))
    if divide:
        # Divided (not multiplied by the reciprocal) in the tensor's dtype, as PyTorch's div_.
        np.divide(noise, dtype.type(keep), out=noise)
    if on_cpu:
        return noise
    from ..cuda._arrays import to_device

    return to_device(np.ascontiguousarray(noise))


def drawn_per_call(make: Callable[[], Any]) -> Any:
    """``make()``, a random array a step uses as a constant. While a step is compiled it is a
    host value: every replay calls ``make`` again, drawing from the generator eager mode draws
    from."""
    value = make()
    if trace.ACTIVE is not None:
        def draw(memo: dict) -> tuple[Any, None]:
            return make(), None

        draw.draws = True  # type: ignore[attr-defined]  (replays run drawing providers last)
        trace.ACTIVE.host(draw, value)
    return value


def _dropout_mask(data: Any, keep: float, shape: tuple[int, ...] | None = None, divide: bool = True) -> Any:
    """The scaled Bernoulli mask dropout multiplies ``data`` by: of ``data``'s shape, drawn in its
    memory order, or of ``shape`` (one value per channel, for feature dropout), drawn in C order."""
    on_cpu = isinstance(data, np.ndarray)
    dtype = data.dtype
    if shape is None:
        shape = tuple(data.shape)
        order = _memory_order(shape, tuple(data.strides), dtype.itemsize)
    else:
        order = None
    return drawn_per_call(lambda: _dropout_noise(shape, dtype, order, keep, on_cpu, divide))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    In eval mode (``training=False``) or for ``p=0`` the input itself is returned.

    >>> _ = tapegrad.manual_seed(0)
    >>> F.dropout(tapegrad.ones(6), 0.5)
    tensor([0., 0., 2., 0., 0., 0.])
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if p == 0 or not training or input._data.size == 0:
        return input
    if p == 1:
        zero = _wrap(np.zeros((), input._data.dtype))
        return mul_(input, zero) if inplace else ew.mul(input, zero)
    if not input.is_floating_point():
        raise RuntimeError(f"result type Float can't be cast to the desired output type {input.dtype.scalar_name}")
    noise = _wrap(_dropout_mask(input._data, 1.0 - p))
    return mul_(input, noise) if inplace else ew.mul(input, noise)


# ================================================================ embedding

def _embedding_vjp(step: Step, g: Tensor) -> tuple[Tensor, None]:
    rows, index, factor = step.attrs
    return _scatter_rows(g, index, rows, factor), None


def _scatter_rows_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    rows, index, factor, src_shape = step.attrs
    return (_gather_rows(g, index, rows, factor, src_shape),)


# The lookup (forward: rows of the table; backward: scatter-add with the padding/frequency
# factor) and its adjoint, the scatter-add (backward: the same rows gathered, times the factor).
EMBEDDING = OpDef("embedding", "EmbeddingBackward0", _embedding_vjp)
EMBEDDING_DENSE_BACKWARD = OpDef("embedding_dense_backward", "EmbeddingDenseBackward0", _scatter_rows_vjp)


def _index_copy(data: Any, on_cuda: bool) -> Any:
    """Embedding indices (host or CUDA) as a new int64 array of their shape, on the table's
    device."""
    if not on_cuda:
        return np.array(data, dtype=np.int64)
    from ..cuda import _arrays, _ops

    if not _arrays.is_device_array(data):
        return _arrays.to_device(np.array(data, dtype=np.int64))
    return _ops.cast(data, np.int64)


def lookup_rows(table: Any, index: Any, factor: Any = None, check: bool = True) -> Any:
    """Rows ``index`` (flat int64) of the 2-D array ``table``, times ``factor[k]`` when given;
    with ``check``, an index out of range raises ``IndexError`` naming it."""
    rows = table.shape[0]
    if not isinstance(table, np.ndarray):
        from ..cuda import _ops

        if check:
            _check_cuda_rows(index, rows)
        return _ops.take_rows(table, index, factor)
    data, bad = cpu_norm.gather_rows(np.ascontiguousarray(table), index, factor)
    if bad >= 0 and check:
        raise _index_error(int(index[bad]), rows)
    return data


def _scatter_rows(src: Tensor, index: Any, rows: int, factor: Any) -> Tensor:
    """Zeros of ``(rows, width)`` with row ``k`` of ``src`` (times ``factor[k]``) added at
    ``index[k]``; repeated indices accumulate."""
    width = src.shape[-1]
    if not isinstance(src._data, np.ndarray):
        from ..cuda import _ops

        flat = src._data if src._data.is_c_contiguous() else _ops.contiguous_copy(src._data)
        out = _wrap(_ops.scatter_rows(flat.reshape(index.shape[0], width), index, rows, factor))
    else:
        flat = np.ascontiguousarray(src._data).reshape(index.shape[0], width)
        out = _wrap(cpu_norm.scatter_rows(flat, index, rows, factor))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(index_rules.ROW_SCATTER, (src, index, factor), out, rows)
    if grad_mode.state.enabled and src._requires_grad:
        return record(EMBEDDING_DENSE_BACKWARD, (src,), out, (rows, index, factor, tuple(src.shape)))
    return out


def _gather_rows(table: Tensor, index: Any, rows: int, factor: Any, shape: tuple[int, ...]) -> Tensor:
    """Rows ``index`` of ``table`` times ``factor`` (the adjoint of ``_scatter_rows``)."""
    data = lookup_rows(table._data, index, factor, check=False)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(index_rules.ROW_LOOKUP, (table, index, factor), data, False)
    out = _wrap(data.reshape(shape))
    if grad_mode.state.enabled and table._requires_grad:
        return record(EMBEDDING, (table, None), out, (rows, index, factor))
    return out


def _padding_index(padding_idx: int | None, rows: int) -> int | None:
    if padding_idx is None:
        return None
    if padding_idx >= rows or padding_idx < -rows:
        raise AssertionError("Padding_idx must be within num_embeddings")
    return padding_idx + rows if padding_idx < 0 else padding_idx


def _gradient_factors(index: np.ndarray, rows: int, padding_idx: int | None, scale_grad_by_freq: bool,
                      dtype: np.dtype) -> np.ndarray | None:
    """Per looked-up row, what its gradient is multiplied by: 0 for the padding row, else
    ``1 / count`` of its index in the batch with ``scale_grad_by_freq``; None for all ones."""
    if not isinstance(index, np.ndarray):
        from ..cuda import _ops

        return _ops.row_factors(index, rows, padding_idx, scale_grad_by_freq, dtype)
    if padding_idx is None and not scale_grad_by_freq:
        return None
    factor = np.ones(index.shape[0], dtype)
    if scale_grad_by_freq:
        counts = np.bincount(index, minlength=rows)
        factor = (1.0 / counts[index]).astype(dtype)
    if padding_idx is not None:
        factor[index == padding_idx] = 0
    return factor


def _index_error(value: int, rows: int) -> IndexError:
    return IndexError(f"index out of range in self: got index {value}, but the weight has {rows} rows")


def _check_cuda_rows(index: Any, rows: int) -> None:
    """Raise ``_index_error`` for the first entry of the device array ``index`` outside
    ``[0, rows)`` (one number copied back)."""
    from ..cuda import _ops

    _ops.check_range(index, 0, rows, lambda value: _index_error(value, rows))


def _renorm_rows(weight: Tensor, index: Any, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and without recording, each looked-up row of ``weight`` whose
    ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm`` (PyTorch's embedding_renorm_).
    ``index`` is a NumPy array, or a CUDA one already checked in range."""
    if not isinstance(index, np.ndarray):
        from ..backends import cuda_nn

        cuda_nn.renorm_rows(weight._data, index, max_norm, norm_type)
        weight._counter.value += 1
        return
    rows = weight.shape[0]
    if index.size:
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= rows:
            raise _index_error(int(index[np.argmax((index < 0) | (index >= rows))]), rows)
    data = weight._data
    unique = np.unique(index)
    norms = np.linalg.norm(data[unique].astype(np.float64), ord=norm_type, axis=1)
    large = norms > max_norm
    if large.any():
        chosen = unique[large]
        scale = (max_norm / (norms[large] + 1e-7)).astype(data.dtype)
        data[chosen] = data[chosen] * scale[:, None]
    weight._counter.value += 1


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``input``: shape ``input.shape + (dim,)``.

    The ``padding_idx`` row gets no gradient; ``scale_grad_by_freq`` divides each row's
    gradient by how often its index occurs in ``input``; ``max_norm`` first rescales (in place)
    the looked-up rows whose ``norm_type``-norm exceeds it.

    >>> weight = tapegrad.tensor([[0., 1.], [2., 3.], [4., 5.]])
    >>> F.embedding(tapegrad.tensor([2, 0]), weight)
    tensor([[4., 5.],
            [0., 1.]])
    """
    if not isinstance(input, Tensor) or input._data.dtype not in (np.dtype(np.int64), np.dtype(np.int32)):
        got = type_name(input) if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {got} instead (while checking arguments for embedding)")
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    rows, width = weight.shape
    padding_idx = _padding_index(padding_idx, rows)
    on_cuda = not isinstance(weight._data, np.ndarray)
    # A private copy: the backward uses the indices of this call even if ``input`` changes later.
    copy = _index_copy(input._data, on_cuda)
    index = copy.reshape(-1)
    if trace.ACTIVE is not None:
        index_rules.emit_index_copy(trace.ACTIVE, input, copy)
    checked = False
    if max_norm is not None:
        if on_cuda:  # the kernel renormalises the rows it is given: they are checked first
            _check_cuda_rows(index, rows)
            checked = True
        _renorm_rows(weight, index, float(max_norm), float(norm_type))
    data = lookup_rows(weight._data, index, check=not checked)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(index_rules.ROW_LOOKUP, (weight, index, None), data, True)
    out = _wrap(data.reshape(tuple(input._data.shape) + (width,)))
    if grad_mode.state.enabled and weight._requires_grad:
        if sparse:
            raise RuntimeError("embedding(): sparse=True asks for a sparse gradient, which tapegrad does not "
                               "support; use sparse=False (the gradient is then dense)")
        factor = _gradient_factors(index, rows, padding_idx, scale_grad_by_freq, weight._data.dtype)
        if trace.ACTIVE is not None and factor is not None:
            trace.ACTIVE.emit(index_rules.ROW_FACTORS, (index,), factor, (rows, padding_idx, scale_grad_by_freq))
        return record(EMBEDDING, (weight, input), out, (rows, index, factor))
    return out


# ================================================================ layer norm

def _normalized_shape(normalized_shape: Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, (int, np.integer)):
        return (int(normalized_shape),)
    return tuple(int(s) for s in normalized_shape)


def _check_normalized_shape(input: Tensor, shape: tuple[int, ...], weight: Tensor | None,
                            bias: Tensor | None, star: str = "*, ") -> None:
    """PyTorch's shape checks of layer_norm and rms_norm (whose message writes ``[*2]`` where
    layer_norm's writes ``[*, 2]``)."""
    if not shape:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                               f"{list(t.shape)} and normalized_shape = {list(shape)}")
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[{star}{', '.join(str(s) for s in shape)}], but got input of size{list(input.shape)}")


def _check_layer_norm(input: Tensor, shape: tuple[int, ...], weight: Tensor | None, bias: Tensor | None) -> None:
    _check_normalized_shape(input, shape, weight, bias)
    if not input.is_floating_point():
        raise NotImplementedError(f"\"LayerNormKernelImpl\" not implemented for '{input.dtype.scalar_name}'")
    _check_parameter_dtype(input, weight, bias)


def _rows(shape: tuple[int, ...], k: int) -> tuple[int, int]:
    """(rows, row length) of ``shape`` split before its last ``k`` dims."""
    return math.prod(shape[:len(shape) - k]), math.prod(shape[len(shape) - k:])


def _sum_over(t: Tensor, axes: tuple[int, ...]) -> Tensor:
    # An empty axes tuple means "all dims" to sum(); here it means "none".
    return t.sum(axes) if axes else t


def _layer_norm_backward_graph(g: Tensor, x: Tensor, weight: Tensor | None, k: int, eps: float,
                               want: Sequence[bool]) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The layer norm VJP in tapegrad ops (differentiable again), statistics recomputed from x."""
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    centered = x - x.mean(axes, keepdim=True)
    rstd = ((centered * centered).mean(axes, keepdim=True) + eps).rsqrt()
    xhat = centered * rstd
    grad_input = None
    if want[0]:
        gw = g * weight if weight is not None else g
        grad_input = rstd * (gw - gw.mean(axes, keepdim=True) - xhat * (gw * xhat).mean(axes, keepdim=True))
    grad_weight = _sum_over(g * xhat, lead) if want[1] else None
    grad_bias = _sum_over(g, lead) if want[2] else None
    return grad_input, grad_weight, grad_bias


def _layer_norm_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    x, weight, mean, rstd = step.saved_values()
    k, eps = step.attrs
    want = (step.needs_input_grad(0), step.needs_input_grad(1), step.needs_input_grad(2))
    if _graph_needed(g, x, weight):
        return _layer_norm_backward_graph(g, x, weight, k, eps, want)
    shape = tuple(x.shape)
    rows, n = _rows(shape, k)
    dtype = x._data.dtype
    dx, dw, db = _norm_kernels(x._data).layer_norm_backward(
        _contiguous(g._data, dtype).reshape(rows, n), _contiguous(x._data).reshape(rows, n),
        mean._data, rstd._data, None if weight is None else _contiguous(weight._data).reshape(n), want)
    if trace.ACTIVE is not None:
        norm_rules.emit_layer_norm_backward(g, x, mean, rstd, weight, (dx, dw, db), rows, n)
    normalized = shape[len(shape) - k:]
    return (None if dx is None else _wrap(dx.reshape(shape)),
            None if dw is None else _wrap(dw.reshape(normalized)),
            None if db is None else _wrap(db.reshape(normalized)))


LAYER_NORM = OpDef("layer_norm", "NativeLayerNormBackward0", _layer_norm_vjp)


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims to zero mean and unit (biased)
    variance, then scale by ``weight`` and shift by ``bias`` (both of ``normalized_shape``).

    >>> F.layer_norm(tapegrad.tensor([[1., 3.], [2., 2.]]), (2,))
    tensor([[-1.0000,  1.0000],
            [ 0.0000,  0.0000]])
    """
    shape = _normalized_shape(normalized_shape)
    _check_layer_norm(input, shape, weight, bias)
    _check_same_device(input, weight, bias)
    rows, n = _rows(tuple(input.shape), len(shape))
    out, mean, rstd = _norm_kernels(input._data).layer_norm_forward(
        _contiguous(input._data).reshape(rows, n), None if weight is None else _contiguous(weight._data).reshape(n),
        None if bias is None else _contiguous(bias._data).reshape(n), eps)
    if trace.ACTIVE is not None:
        norm_rules.emit_layer_norm(input, weight, bias, (out, mean, rstd), rows, n, eps)
    result = _wrap(out.reshape(input._data.shape))
    if grad_mode.state.enabled and (input._requires_grad or _requires_grad(weight) or _requires_grad(bias)):
        return record(LAYER_NORM, (input, weight, bias), result, (len(shape), float(eps)),
                      saved=(input, weight, _wrap(mean), _wrap(rstd)))
    return result


def rms_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """Divide by the root mean square over the last ``len(normalized_shape)`` dims (plus ``eps``,
    by default the dtype's machine epsilon), then scale by ``weight``. Recorded as PyTorch's
    composite (``x * rsqrt(mean(x**2) + eps) * weight``): any device, compiled steps, gradients
    of any order.

    >>> F.rms_norm(tapegrad.tensor([[3., 4.]]), (2,), eps=0.)
    tensor([[0.8485, 1.1314]])
    """
    shape = _normalized_shape(normalized_shape)
    _check_normalized_shape(input, shape, weight, None, star="*")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"rms_norm\" not implemented for '{input.dtype.scalar_name}'")
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    dims = tuple(range(-len(shape), 0))
    result = ew.mul(input, ew.rsqrt(ew.add(ew.mul(input, input).mean(dims, keepdim=True), eps)))
    return result if weight is None else ew.mul(result, weight)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each of ``num_groups`` groups of channels (dim 1) of each sample over its
    channels and spatial dims, then scale and shift each channel by ``weight`` and ``bias``.
    The normalisation is ``layer_norm`` of the (sample, group) rows, on the same kernels.

    >>> F.group_norm(tapegrad.tensor([[1., 3., 2., 6.]]), 2)
    tensor([[-1.0000,  1.0000, -1.0000,  1.0000]])
    """
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    shape = tuple(input.shape)
    channels = shape[1]
    if channels % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(shape)} and num_groups={num_groups}")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and (tensor.ndim != 1 or tensor.shape[0] != channels):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {list(tensor.shape)} and input of shape {list(shape)}")
    per_group = int(np.prod(shape[1:], dtype=np.int64)) // num_groups
    out = layer_norm(input.reshape(shape[0], num_groups, per_group), (per_group,), eps=eps).reshape(shape)
    along_channels = (channels,) + (1,) * (len(shape) - 2)
    if weight is not None:
        out = out * weight.reshape(along_channels)
    if bias is not None:
        out = out + bias.reshape(along_channels)
    return out


# ================================================================ batch norm

def _verify_batch_size(size: Size) -> None:
    # Values per channel: the batch dim times the spatial dims (dim 1 holds the channels).
    values = size[0] if len(size) else 1
    for s in size[2:]:
        values *= s
    if values == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def _check_batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                      weight: Tensor | None, bias: Tensor | None, training: bool, eps: float) -> None:
    if training:
        _verify_batch_size(input.shape)
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    if input.ndim < 2:
        raise RuntimeError(f"batch_norm(): expected an input of shape (N, C, *) with at least 2 dimensions, "
                           f"but got input of size {list(input.shape)}")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"batch_norm\" not implemented for '{input.dtype.scalar_name}'")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is None:
            if name.startswith("running") and not training:
                raise RuntimeError(f"{name} must be defined in evaluation mode")
        elif t.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {t.numel()}")
    _check_parameter_dtype(input, weight, bias, running_mean, running_var)


def _update_running_stats(running_mean: Tensor, running_var: Tensor, mean: np.ndarray, var: np.ndarray,
                          count: int, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * batch`` in place, with the unbiased
    batch variance, bumping the buffers' versions as PyTorch's in-place update does."""
    rm, rv = running_mean._data, running_var._data
    if trace.ACTIVE is not None:  # reported first: a refusal leaves the buffers as they were
        norm_rules.emit_update_running(running_mean, running_var, mean, var, count, momentum)
    kernels = _norm_kernels(rm)
    if rm.flags.c_contiguous and rv.flags.c_contiguous:
        kernels.update_running(rm.reshape(-1), rv.reshape(-1), mean, var, count, momentum)
    else:  # strided buffers: update flat copies, then write them back
        flat_mean, flat_var = _contiguous(rm).reshape(-1), _contiguous(rv).reshape(-1)
        kernels.update_running(flat_mean, flat_var, mean, var, count, momentum)
        np.copyto(rm, flat_mean.reshape(rm.shape))
        np.copyto(rv, flat_var.reshape(rv.shape))
    running_mean._counter.value += 1
    running_var._counter.value += 1


def _flat(t: Tensor | None) -> Any:
    return None if t is None else _contiguous(t._data).reshape(-1)


def _float64_copy(data: Any) -> Any:
    """A float64 copy of ``data`` on its device."""
    if isinstance(data, np.ndarray):
        return np.array(data, np.float64)
    converted = _contiguous(data, np.float64)
    return converted if converted is not data else data.copy()


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    return tuple(s if d == 1 else 1 for d, s in enumerate(x.shape))


def _batch_norm_backward_graph(g: Tensor, x: Tensor, weight: Tensor | None, mean: Tensor, invstd: Tensor,
                               training: bool, eps: float, want: Sequence[bool]
                               ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The batch norm VJP in tapegrad ops (differentiable again). In training the statistics
    are recomputed from x (they depend on it); in eval they are the constants the forward used."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = _channel_shape(x)
    if training:
        centered = x - x.mean(axes, keepdim=True)
        scale = ((centered * centered).mean(axes, keepdim=True) + eps).rsqrt()
    else:
        centered = x - mean.to(x.dtype).reshape(shape)
        scale = invstd.to(x.dtype).reshape(shape)
    xhat = centered * scale
    grad_input = None
    if want[0]:
        gw = g * weight.reshape(shape) if weight is not None else g
        if training:
            grad_input = scale * (gw - gw.mean(axes, keepdim=True) - xhat * (gw * xhat).mean(axes, keepdim=True))
        else:
            grad_input = gw * scale
    grad_weight = (g * xhat).sum(axes) if want[1] else None
    grad_bias = g.sum(axes) if want[2] else None
    return grad_input, grad_weight, grad_bias


def _channels_view(data: Any) -> tuple[int, int, int]:
    """The ``(N, C, S)`` shape batch norm views an ``(N, C, *)`` array as."""
    shape = tuple(data.shape)
    return shape[0], shape[1], math.prod(shape[2:])


def _as_channels(data: Any, dtype: Any = None) -> Any:
    """A C-contiguous ``(N, C, S)`` view (or copy, in ``dtype`` when given) of an ``(N, C, *)`` array."""
    return _contiguous(data, dtype).reshape(_channels_view(data))


def _batch_norm_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    x, weight, mean, invstd = step.saved_values()
    training, eps = step.attrs
    want = (step.needs_input_grad(0), step.needs_input_grad(1), step.needs_input_grad(2))
    if _graph_needed(g, x, weight):
        return _batch_norm_backward_graph(g, x, weight, mean, invstd, training, eps, want)
    dtype = x._data.dtype
    dx, dw, db = _norm_kernels(x._data).channel_backward(
        _as_channels(g._data, dtype), _as_channels(x._data), mean._data, invstd._data, _flat(weight), training, want)
    if trace.ACTIVE is not None:
        norm_rules.emit_channel_backward(g, x, mean, invstd, weight, (dx, dw, db), _channels_view(x._data), training)
    channels = (x.shape[1],)
    return (None if dx is None else _wrap(dx.reshape(x._data.shape)),
            None if dw is None else _wrap(dw.reshape(weight.shape if weight is not None else channels)),
            None if db is None else _wrap(db.reshape(channels)))


BATCH_NORM = OpDef("batch_norm", "NativeBatchNormBackward0", _batch_norm_vjp)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of an ``(N, C, *)`` input by its own statistics
    (``use_input_stats``; else by the running ones), then scale and shift it.

    As PyTorch computes it: ``batch_norm`` of the input viewed as one sample of ``N * C``
    channels, with the running statistics and affine parameters repeated per sample; the
    running statistics then become the mean of the per-sample updates.

    >>> F.instance_norm(tapegrad.tensor([[[1., 3.], [10., 30.]]]))
    tensor([[[-1.0000,  1.0000],
             [-1.0000,  1.0000]]])
    """
    batch, channels = input.shape[0], input.shape[1]
    repeated = [None if t is None else t.repeat(batch) for t in (running_mean, running_var, weight, bias)]
    out = batch_norm(input.reshape((1, batch * channels) + tuple(input.shape[2:])), *repeated,
                     training=use_input_stats, momentum=momentum, eps=eps)
    with grad_mode.no_grad():
        for running, updated in zip((running_mean, running_var), repeated[:2]):
            if running is not None:
                running.copy_(updated.reshape(batch, channels).mean(0))
    return out.reshape(tuple(input.shape))


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) of an ``(N, C, *)`` input, then scale and shift it.

    In training the batch's statistics are used, and ``running_mean``/``running_var`` (when
    given) are updated in place: ``(1 - momentum) * running + momentum * batch``, with the
    unbiased batch variance. In eval the running statistics are used.

    >>> x = tapegrad.tensor([[1., 10.], [3., 30.]])
    >>> F.batch_norm(x, None, None, training=True)
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]])
    """
    _check_batch_norm(input, running_mean, running_var, weight, bias, training, eps)
    _check_same_device(input, running_mean, running_var, weight, bias)
    kernels = _norm_kernels(input._data)
    x = _as_channels(input._data)
    if training:
        mean, var = kernels.channel_stats(x)
        if trace.ACTIVE is not None:
            norm_rules.emit_channel_stats(input, mean, var, x.shape)
        if running_mean is not None and running_var is not None:
            _update_running_stats(running_mean, running_var, mean, var, x.shape[0] * x.shape[2], float(momentum))
    else:
        assert running_mean is not None and running_var is not None
        mean, var = running_mean._data.reshape(-1), running_var._data.reshape(-1)
    out, invstd = kernels.channel_normalize(x, mean, var, _flat(weight), _flat(bias), eps)
    if trace.ACTIVE is not None:
        norm_rules.emit_channel_normalize(input, mean, var, weight, bias, (out, invstd), x.shape, eps)
    result = _wrap(out.reshape(input._data.shape))
    if grad_mode.state.enabled and (input._requires_grad or _requires_grad(weight) or _requires_grad(bias)):
        # In eval ``mean`` reads the running buffer: backward gets a copy of what was used.
        saved_mean = _float64_copy(mean)
        if trace.ACTIVE is not None:
            norm_rules.emit_float64_copy(mean, saved_mean)
        return record(BATCH_NORM, (input, weight, bias), result, (bool(training), float(eps)),
                      saved=(input, weight, _wrap(saved_mean), _wrap(invstd)))
    return result
