"""Reductions: sum, mean, prod, max/min (values and indices), amax/amin, argmax/argmin.

The backend reduces rows (reduced axes moved last); each op here turns that into PyTorch's
dims/keepdim semantics and records a step whose VJP broadcasts the gradient back.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import line_rules, rules, trace
from .. import return_types
from ..tensor import Tensor, _wrap, _wrap_dim
from .registry import OUTPUT, OpDef, record



def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, an int, or a sequence; empty means all) as sorted positive axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        axis = _wrap_dim(int(dim), ndim)
        return (axis,) if ndim else ()  # a 0-d tensor accepts dim 0 / -1 and reduces nothing
    axes = tuple(_wrap_dim(int(d), ndim) for d in dim)
    if not ndim:
        return ()
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"dim {axes} appears multiple times in the list of dims")
    return tuple(sorted(axes)) if axes else tuple(range(ndim))


def _keep_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


def _expand_back(g: Tensor, in_shape: tuple[int, ...], axes: tuple[int, ...]) -> Tensor:
    """A reduced gradient broadcast back over the reduced axes (a stride-0 view)."""
    return g.reshape(_keep_shape(in_shape, axes)).expand(in_shape)


def sum_to(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a broadcast gradient down to ``shape`` (the inverse of broadcasting)."""
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + d for d, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + d] != 1)
    if axes:
        # Only leading axes (a batch's bias gradient): the plain sum has the shape already.
        grad = sum(grad, axes, keepdim=len(axes) > lead)
    return grad.reshape(shape) if grad.shape != shape else grad


def sum_to_size(input: Tensor, size: Any) -> Tensor:
    """``input`` summed down to ``size``, which it must be expandable from (``Tensor.sum_to_size``)."""
    size = tuple(size)
    lead = input.ndim - len(size)
    mismatched = [d for d, s in enumerate(size) if lead >= 0 and s != 1 and s != input.shape[lead + d]]
    if lead < 0 or mismatched:  # (the builtin any is shadowed here by the reduction)
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(input.shape)}}}.")
    return sum_to(input, size)


def _cuda_kernels() -> Any:
    # Imported on the first reduction of a CUDA tensor: CPU programs never load it.
    from ..cuda import _kernels

    return _kernels


def _finish(data: np.ndarray, in_shape: tuple[int, ...], axes: tuple[int, ...], keepdim: bool
            ) -> np.ndarray:
    return data.reshape(_keep_shape(in_shape, axes)) if keepdim else data


# ---------------------------------------------------------------- sum and mean

def _sum_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    axes, keepdim = step.attrs
    return (_expand_back(g, step.input_meta[0][0], axes),)


SUM_ALL = OpDef("sum", "SumBackward0", _sum_vjp)
SUM_DIM = OpDef("sum_dim", "SumBackward1", _sum_vjp)


def _sum_dtype(x: Tensor, dtype: Any) -> np.dtype:
    if dtype is not None:
        return _dtypes.as_dtype(dtype).numpy
    return x._data.dtype if x._data.dtype.kind == "f" else np.dtype(np.int64)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum over all elements, or over ``dim`` (an int or a tuple of ints).

    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).sum(0)
    tensor([4., 6.])
    """
    axes = normalize_dims(dim, input._data.ndim)
    out_dtype = _sum_dtype(input, dtype)
    if isinstance(input._data, np.ndarray):
        total = cpu.reduce_sum(input._data, axes, out_dtype)
    else:
        total = _cuda_kernels().reduce_sum(input._data, axes, out_dtype)
    data = _finish(total, input._data.shape, axes, keepdim)
    out = _wrap(data)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.SUM, (input,), data, (axes, 1))
    if grad_mode.state.enabled and input._requires_grad:
        # PyTorch's full-reduction overload is the one without dim and keepdim.
        return record(SUM_ALL if dim is None and not keepdim else SUM_DIM, (input,), out, (axes, keepdim))
    return out


def _mean_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    axes, keepdim, count = step.attrs
    return (_expand_back(g / count, step.input_meta[0][0], axes),)


MEAN_ALL = OpDef("mean", "MeanBackward0", _mean_vjp)
MEAN_DIM = OpDef("mean_dim", "MeanBackward1", _mean_vjp)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if dtype is None and input._data.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.scalar_name}")
    axes = normalize_dims(dim, input._data.ndim)
    out_dtype = _sum_dtype(input, dtype)
    count = 1
    for d in axes:
        count *= input._data.shape[d]
    if isinstance(input._data, np.ndarray):
        total = cpu.reduce_sum(input._data, axes, out_dtype)
        # np.asarray: NumPy arithmetic on a 0-d array returns a scalar, and tensors hold arrays.
        data = np.asarray(total / count if count else np.full_like(total, np.nan)).astype(out_dtype, copy=False)
    else:
        data = _cuda_kernels().reduce_mean(input._data, axes, out_dtype)
    out = _wrap(_finish(data, input._data.shape, axes, keepdim))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.SUM, (input,), out, (axes, count if count else float("nan")))
    if grad_mode.state.enabled and input._requires_grad:
        return record(MEAN_ALL if dim is None and not keepdim else MEAN_DIM, (input,), out, (axes, keepdim, count))
    return out


# ---------------------------------------------------------------- prod

def _prod_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (x,) = step.saved_values()
    axes, keepdim = step.attrs
    in_shape = step.input_meta[0][0]
    g = _expand_back(g, in_shape, axes)
    # prod of the others, written so zeros in the input give the right answer.
    zero = x == 0
    nonzero_prod = _expand_back(prod_over(where_(zero, 1.0, x), axes, keepdim=False), in_shape, axes)
    zeros = _expand_back(sum(zero, axes), in_shape, axes)
    others = where_(zeros == 0, nonzero_prod / where_(zero, 1.0, x),
                    where_((zeros == 1) & zero, nonzero_prod, 0.0))
    return (g * others,)


def where_(cond: Tensor, a: Any, b: Any) -> Tensor:
    from .elementwise import where

    return where(cond, a, b)


PROD_ALL = OpDef("prod", "ProdBackward0", _prod_vjp)
PROD_DIM = OpDef("prod_dim", "ProdBackward1", _prod_vjp)


def prod_over(input: Tensor, axes: tuple[int, ...], keepdim: bool, op: OpDef = PROD_DIM,
              dtype: Any = None) -> Tensor:
    out_dtype = _sum_dtype(input, dtype)
    if isinstance(input._data, np.ndarray):
        product = cpu.reduce_prod(input._data, axes, out_dtype)
    else:
        product = _cuda_kernels().reduce_prod(input._data, axes, out_dtype)
    data = _finish(product, input._data.shape, axes, keepdim)
    out = _wrap(data)
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out, (axes, keepdim), saved=(input,))
    return out


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if dim is None:
        return prod_over(input, tuple(range(input.ndim)), False, PROD_ALL, dtype)
    return prod_over(input, normalize_dims(dim, input.ndim), keepdim, PROD_DIM, dtype)


# ---------------------------------------------------------------- cumulative sums and products

def _cumsum_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    axis, reverse = step.attrs
    grad = _scan(g, axis, g._data.dtype, not reverse, False)
    dtype = step.input_meta[0][1]
    return (grad if grad._data.dtype == dtype else grad.to(_dtypes.from_numpy_dtype(dtype)),)


def _cumprod_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    x, out = step.saved_values()
    (axis,) = step.attrs
    if x.ndim == 0 or x.shape[axis] <= 1:
        return (g,)
    if grad_mode.state.enabled:  # a gradient to differentiate again: a formula smooth at zeros
        return (_cumprod_grad_of_grad(g, x, axis),)
    return (_cumprod_grad(g, x, out, axis),)


def _cumprod_grad(g: Tensor, x: Tensor, out: Tensor, axis: int) -> Tensor:
    """``grad[i] = sum_{k >= i} g[k] * prod_{j <= k, j != i} x[j]`` along ``axis`` in O(n), with
    no data-dependent branch (so compiled steps record it). Before the first zero that is the
    reversed cumulative sum of ``g * out`` over ``x[i]``; at the first zero, the same sum over
    the run up to the second zero with that zero left out of the product; after it, zero."""
    dtype = g._data.dtype
    zero = x == 0
    zeros_so_far = _scan(zero, axis, np.dtype(np.int64), False, False)
    before, first_run = zeros_so_far == 0, zeros_so_far == 1
    first = zero & first_run
    w = where_(before, g * out, 0.0)
    grad_before = _scan(w, axis, dtype, True, False) / where_(before, x, 1.0)
    without_first = _scan(where_(first, 1.0, x), axis, dtype, False, True)
    grad_first = _scan(where_(first_run, g * without_first, 0.0), axis, dtype, True, False)
    return where_(before, grad_before, where_(first, grad_first, 0.0))


def _cumprod_grad_of_grad(g: Tensor, x: Tensor, axis: int) -> Tensor:
    """The same gradient as a sum of products (O(n^2) a line, as PyTorch's double backward):
    ``P[i, k] = prod_{j <= k, j != i} x[j]`` is the running product of ``x`` with ``x[i]`` set to
    1, so its derivative is right wherever ``x`` has zeros."""
    from ..creation import _constant_like

    n = x.shape[axis]
    lines, grads = x.movedim(axis, -1), g.movedim(axis, -1)
    others = where_(_constant_like(np.eye(n, dtype=np.bool_), x), 1.0, lines.unsqueeze(-2))
    products = _scan(others, others.ndim - 1, x._data.dtype, False, True)
    later = _constant_like(np.triu(np.ones((n, n), np.bool_)), x)  # k >= i
    return sum(where_(later, products * grads.unsqueeze(-2), 0.0), (others.ndim - 1,)).movedim(-1, axis)


CUMSUM = OpDef("cumsum", "CumsumBackward0", _cumsum_vjp)
CUMPROD = OpDef("cumprod", "CumprodBackward0", _cumprod_vjp)


def _scan(input: Tensor, axis: int, dtype: np.dtype, reverse: bool, product: bool) -> Tensor:
    """The running sums (products with ``product``) of ``input`` along ``axis`` in ``dtype``,
    from the end with ``reverse``."""
    data = input._data
    if not isinstance(data, np.ndarray):
        out = _wrap(_cuda_kernels().scan(data, axis, dtype, reverse, product))
    elif data.ndim == 0:
        out = _wrap(data.astype(dtype))
    else:
        # Accumulated wide and rounded once per element, as PyTorch's CPU kernels do.
        wide = np.float64 if dtype.kind == "f" else np.int64
        source = np.flip(data, axis) if reverse else data
        total = (np.cumprod if product else np.cumsum)(source, axis, dtype=wide)
        out = _wrap(np.ascontiguousarray(np.flip(total, axis) if reverse else total, dtype=dtype))
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(line_rules.CUMPROD if product else line_rules.CUMSUM, (input,), out, (axis, reverse))
    if grad_mode.state.enabled and input._requires_grad:
        if product:
            return record(CUMPROD, (input,), out, (axis,), saved=(input, OUTPUT))
        return record(CUMSUM, (input,), out, (axis, reverse))
    return out


def _scan_op(name: str, input: Tensor, dim: int, dtype: Any, product: bool) -> Tensor:
    axis = _wrap_dim(dim, input.ndim) if input.ndim else _wrap_dim(dim, 1) * 0  # 0-d: dim 0 or -1
    if dtype is not None:
        input = input.to(_dtypes.as_dtype(dtype))  # a requested dtype is the result's, integers included
    kind = input._data.dtype.kind
    if kind == "b" and dtype is not None:
        raise NotImplementedError(f"\"{name}_out_cpu\" not implemented for 'Bool'")
    out_dtype = input._data.dtype if kind == "f" or dtype is not None else np.dtype(np.int64)
    return _scan(input, axis, out_dtype, False, product)


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """The running sums along ``dim``: ``out[i] = input[0] + ... + input[i]`` (integers and
    bools sum as int64; ``dtype`` casts the input first).

    >>> tapegrad.cumsum(tapegrad.tensor([1, 2, 3]), 0)
    tensor([1, 3, 6])
    """
    return _scan_op("cumsum", input, dim, dtype, False)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """The running products along ``dim``: ``out[i] = input[0] * ... * input[i]`` (integers and
    bools multiply as int64; ``dtype`` casts the input first). The gradient is exact where the
    input has zeros.

    >>> tapegrad.cumprod(tapegrad.tensor([1., 2., 3.]), 0)
    tensor([1., 2., 6.])
    """
    return _scan_op("cumprod", input, dim, dtype, True)


# ---------------------------------------------------------------- max, min and friends



def _check_nonempty(name: str, input: Tensor, axes: tuple[int, ...], dim: Any) -> None:
    for d in axes:
        if input._data.shape[d] == 0:
            if dim is None:
                raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   "Specify the reduction dim with the 'dim' argument.")
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _extreme(input: Tensor | Any, axes: tuple[int, ...], largest: bool) -> tuple[Any, Any]:
    """(values, positions) of the max or min of a tensor, or of an array viewing one, over
    ``axes`` (reduced dims dropped), reported to the tracer."""
    data = input._data if isinstance(input, Tensor) else input
    if isinstance(data, np.ndarray):
        values, indices = cpu.reduce_extreme(data, axes, largest)
    else:
        values, indices = _cuda_kernels().reduce_extreme(data, axes, largest)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.EXTREME, (input,), (values, indices), (axes, largest))
    return values, indices


def _evenly_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # Ties share the gradient evenly (PyTorch's rule for max()/amax()).
    x, out = step.saved_values()
    axes, keepdim = step.attrs
    in_shape = step.input_meta[0][0]
    out_b = _expand_back(out.detach(), in_shape, axes)
    mask = (x == out_b).to(g.dtype)
    count = _expand_back(sum(mask, axes), in_shape, axes)
    return (_expand_back(g, in_shape, axes) * mask / count,)


MAX_ALL = OpDef("max", "MaxBackward1", _evenly_vjp)
MIN_ALL = OpDef("min", "MinBackward1", _evenly_vjp)
AMAX = OpDef("amax", "AmaxBackward0", _evenly_vjp)
AMIN = OpDef("amin", "AminBackward0", _evenly_vjp)


def _amax_amin(input: Tensor, dim: Any, keepdim: bool, largest: bool, op: OpDef, name: str) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    _check_nonempty(name, input, axes, dim if dim not in ((), []) else None)
    values, _ = _extreme(input, axes, largest)
    out = _wrap(_finish(values, input._data.shape, axes, keepdim))
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out, (axes, keepdim), saved=(input, OUTPUT))
    return out


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return _amax_amin(input, dim, keepdim, True, AMAX, "amax")


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    return _amax_amin(input, dim, keepdim, False, AMIN, "amin")


def _select_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # max(dim)/min(dim): the gradient goes to the reported index only.
    (indices,) = step.saved_values()
    (axis, keepdim) = step.attrs
    in_shape, dtype = step.input_meta[0]
    if not in_shape:
        return (g,)  # a 0-d input is its own maximum
    if not keepdim:
        g = g.unsqueeze(axis)
        indices = indices.unsqueeze(axis)
    from .index import scatter_into_zeros

    return (scatter_into_zeros(g, in_shape, axis, indices),)


MAX_DIM = OpDef("max_dim", "MaxBackward0", _select_vjp)
MIN_DIM = OpDef("min_dim", "MinBackward0", _select_vjp)


def _max_min(input: Tensor, dim: Any, keepdim: bool, largest: bool, name: str) -> Any:
    from .elementwise import maximum, minimum

    if isinstance(dim, Tensor):
        return (maximum if largest else minimum)(input, dim)
    if dim is None:
        return _amax_amin(input, None, False, largest, MAX_ALL if largest else MIN_ALL, name)
    axis = _wrap_dim(dim, input._data.ndim)
    axes = normalize_dims(axis, input._data.ndim)
    _check_nonempty(name, input, axes, dim)
    values, indices = _extreme(input, axes, largest)
    values_t = _wrap(_finish(values, input._data.shape, axes, keepdim))
    indices_t = _wrap(_finish(indices, input._data.shape, axes, keepdim))
    if grad_mode.state.enabled and input._requires_grad:
        record(MAX_DIM if largest else MIN_DIM, (input,), values_t, (axis, keepdim),
               saved=(indices_t,))
    return (return_types.max if largest else return_types.min)(values_t, indices_t)


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """``max(x)`` (a 0-d tensor), ``max(x, dim)`` (values, indices) or ``max(x, other)``."""
    return _max_min(input, dim, keepdim, True, "max")


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    return _max_min(input, dim, keepdim, False, "min")


def _arg(input: Tensor, dim: int | None, keepdim: bool, largest: bool, name: str) -> Tensor:
    if input._data.dtype.kind == "b":
        raise RuntimeError(f"{name}(): does not support bool input")
    if dim is None:
        _check_nonempty(name, input, tuple(range(input.ndim)), None)
        _, index = _extreme(input, tuple(range(input.ndim)), largest)  # a C-order position
        data = index.reshape((1,) * input.ndim) if keepdim else index.reshape(())
        return _wrap(data)
    axes = normalize_dims(dim, input._data.ndim)
    _check_nonempty(name, input, axes, dim)
    _, indices = _extreme(input, axes, largest)
    return _wrap(_finish(indices, input._data.shape, axes, keepdim))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, True, "argmax")


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, False, "argmin")


def _all_any(input: Tensor, dim: Any, keepdim: bool, largest: bool) -> Tensor:
    as_bool = input if input.dtype is _dtypes.bool_ else input.ne(0)
    if input.numel() == 0:
        # Over nothing, all is True and any False (a maximum of nothing would be an error).
        counts = as_bool.sum() if dim is None else as_bool.sum(dim, keepdim)
        result = counts.ne(0) if largest else counts.eq(0)
    else:
        result = _amax_amin(as_bool, () if dim is None else dim, keepdim, largest,
                            AMAX if largest else AMIN, "any" if largest else "all")
    # A uint8 input answers in uint8, as PyTorch's did before it had bool tensors.
    return result.to(_dtypes.uint8) if input.dtype is _dtypes.uint8 else result


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _all_any(input, dim, keepdim, False)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _all_any(input, dim, keepdim, True)
