"""Order statistics, NaN-aware reductions and running extremes: ``median``, ``nanmedian``,
``kthvalue``, ``quantile``, ``nanquantile``, ``nansum``, ``nanmean``, ``aminmax``, ``std_mean``,
``var_mean``, ``cummax``, ``cummin``, ``logcumsumexp`` and ``diff``.

Order statistics sort along the dim (``sort``: stable, NaN largest, either device) and pick
positions of the sorted lines with ``gather``, so the gradient reaches the picked elements
through sort's own backward; the forms with a dim record PyTorch's grad_fn and send the
gradient to the reported index. The median of all elements spreads its gradient evenly over
the elements equal to it (NaNs, when it is NaN), as PyTorch does. A NaN in a line makes its
``median``/``quantile`` NaN; the ``nan*`` forms skip NaNs.

``cummax``/``cummin`` and ``logcumsumexp`` scan on the host (exact, with NumPy's
``logaddexp.accumulate``); their gradients are tapegrad ops (a scatter-add to the running
indices; PyTorch's two-signed reverse ``logcumsumexp`` formula), so they have gradients of any
order. Compiled steps refuse these host scans and the sorts.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from .. import return_types
from ..tensor import Tensor, _wrap, _wrap_dim
from . import elementwise as ew
from .composite import _without_grad, std, var
from .index import scatter_into_zeros
from .movement import cat
from .reduce import _select_vjp, amax, amin, mean, sum
from .registry import OUTPUT, OpDef, record
from .sort import sort

__all__: list[str] = ["aminmax", "cummax", "cummin", "diff", "kthvalue", "logcumsumexp", "median", "nanmean",
                      "nanmedian", "nanquantile", "nansum", "quantile", "std_mean", "var_mean"]



# ---------------------------------------------------------------- median, kthvalue

def _evenly_with_nan_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # The gradient is shared by the elements equal to the result, or by the NaNs when it is NaN.
    x, out = step.saved_values()
    out = out.detach()
    mask = ew.logical_or(ew.eq(x, out), ew.logical_and(ew.isnan(x), ew.isnan(out))).to(g.dtype)
    return (g * mask / mask.sum(),)


MEDIAN_ALL = OpDef("median", "MedianBackward0", _evenly_with_nan_vjp)
NANMEDIAN_ALL = OpDef("nanmedian", "NanmedianBackward0", _evenly_with_nan_vjp)
MEDIAN_DIM = OpDef("median_dim", "MedianBackward1", _select_vjp)
NANMEDIAN_DIM = OpDef("nanmedian_dim", "NanmedianBackward1", _select_vjp)
KTHVALUE = OpDef("kthvalue", "KthvalueBackward0", _select_vjp)


def _pick(lines: Tensor, axis: int, positions: Tensor) -> tuple[Tensor, Tensor]:
    """(values, indices) at ``positions`` (keepdim-shaped) of ``lines`` sorted along ``axis``."""
    ordered = sort(lines.detach(), axis, stable=True)
    return ordered.values.gather(axis, positions), ordered.indices.gather(axis, positions)


def _median_positions(lines: Tensor, axis: int, skip_nan: bool) -> Tensor:
    """The sorted position of each line's lower median: of all elements, or of the non-NaN ones
    (``skip_nan``); a line with a NaN (not skipped) takes its first NaN."""
    length = lines.shape[axis]
    nans = ew.isnan(lines).sum(axis, keepdim=True) if lines.is_floating_point() else None
    if nans is None:
        return _full_index(lines, axis, (length - 1) // 2)
    valid = ew.sub(length, nans)
    if skip_nan:
        return ew.clamp_min(ew.floor_divide(ew.sub(valid, 1), 2), 0)
    return ew.where(ew.gt(nans, 0), valid, (length - 1) // 2)


def _full_index(lines: Tensor, axis: int, position: int) -> Tensor:
    from ..creation import _constant_like

    shape = tuple(1 if d == axis else s for d, s in enumerate(lines.shape))
    return _constant_like(np.full(shape, position, np.int64), lines)


def _refuse_bool(input: Tensor, kernel: str) -> None:
    """PyTorch's error for an order statistic of a bool tensor (its kernels have no bool form)."""
    if input._data.dtype.kind == "b":
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')


def _median(input: Tensor, dim: Any, keepdim: bool, skip_nan: bool) -> Any:
    name = "nanmedian" if skip_nan else "median"
    _refuse_bool(input, "median_cpu" if dim is None else "median_out")
    if dim is None:
        if input.numel() == 0:
            return _wrap(np.array(np.nan, input._data.dtype)).to(input.device)
        flat = input.reshape(-1)
        value, _ = _without_grad(lambda: _pick(flat, 0, _median_positions(flat, 0, skip_nan)))
        out = value.reshape(())
        if grad_mode.state.enabled and input._requires_grad:
            return record(NANMEDIAN_ALL if skip_nan else MEDIAN_ALL, (input,), out, (), saved=(input, OUTPUT))
        return out
    axis = _wrap_dim(dim, max(input.ndim, 1))
    lines = input.reshape(1) if input.ndim == 0 else input
    if lines.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    values, indices = _without_grad(lambda: _pick(lines, axis, _median_positions(lines, axis, skip_nan)))
    return _selected(input, values, indices, axis, keepdim, NANMEDIAN_DIM if skip_nan else MEDIAN_DIM,
                     return_types.nanmedian if skip_nan else return_types.median)


def _selected(input: Tensor, values: Tensor, indices: Tensor, axis: int, keepdim: bool, op: OpDef,
              result: Any) -> Any:
    """``result(values, indices)`` picked along ``axis`` (kept as a size-1 dim), recorded as ``op``."""
    if input.ndim == 0:
        values, indices = values.reshape(()), indices.reshape(())
    elif not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    if grad_mode.state.enabled and input._requires_grad:
        record(op, (input,), values, (axis, keepdim), saved=(indices,))
    return result(values, indices)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median of all elements (a 0-d tensor), or (values, indices) along ``dim``; NaN
    where a NaN is present.

    >>> tapegrad.median(tapegrad.tensor([3., 1., 4., 2.]))
    tensor(2.)
    """
    return _median(input, dim, keepdim, skip_nan=False)


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """``median`` ignoring NaNs (NaN only where all values are).

    >>> tapegrad.nanmedian(tapegrad.tensor([3., float('nan'), 1.]))
    tensor(1.)
    """
    return _median(input, dim, keepdim, skip_nan=True)


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """(values, indices) of the ``k``-th smallest element along ``dim`` (1-based).

    >>> tapegrad.kthvalue(tapegrad.tensor([3., 1., 4.]), 2).values
    tensor(3.)
    """
    _refuse_bool(input, "kthvalue_cpu")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    lines = input.reshape(1) if input.ndim == 0 else input
    if not 1 <= k <= lines.shape[axis]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {axis}")
    values, indices = _without_grad(lambda: _pick(lines, axis, _full_index(lines, axis, k - 1)))
    return _selected(input, values, indices, axis, keepdim, KTHVALUE, return_types.kthvalue)


# ---------------------------------------------------------------- quantiles

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _check_quantile(input: Tensor, q: Any, interpolation: str) -> Tensor:
    """``q`` as a 1-D tensor of ``input``'s dtype and device, checked as PyTorch checks it."""
    if input.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError("quantile() q must be a scalar or 1D tensor")
        if not input.is_floating_point():
            raise RuntimeError("quantile() input tensor must be either float or double dtype")
        if q.dtype != input.dtype:
            raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
        if q.device != input.device:
            raise RuntimeError("quantile() q tensor must be on the same device as the input tensor")
        values = q.detach().cpu().numpy().reshape(-1)
    else:
        if not input.is_floating_point():
            raise RuntimeError("quantile() input tensor must be either float or double dtype")
        values = np.array([float(q)], input._data.dtype)
    if not ((values >= 0) & (values <= 1)).all():
        raise RuntimeError("quantile() q values must be in the range [0, 1]" if isinstance(q, Tensor) else
                           f"quantile() q must be in the range [0, 1] but got {float(q):g}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, but "
                           f"got {interpolation}")
    from ..creation import _constant_like

    return _constant_like(values.astype(input._data.dtype), input)


def _quantile(input: Tensor, q: Any, dim: int | None, keepdim: bool, interpolation: str, skip_nan: bool) -> Tensor:
    from ..creation import full_like

    qs = _check_quantile(input, q, interpolation)
    if dim is None:
        lines, axis = input.reshape(-1), 0
    else:
        axis = _wrap_dim(dim, max(input.ndim, 1))
        lines = input.reshape(1) if input.ndim == 0 else input
    lines = lines.movedim(axis, -1).unsqueeze(-2)  # (..., 1, n): one row per q after broadcasting
    ordered = sort(lines, -1, stable=True).values
    length = lines.shape[-1]
    nans = ew.isnan(lines.detach()).sum(-1, keepdim=True)
    last = ew.clamp_min(ew.sub(ew.sub(length, nans), 1), 0) if skip_nan else length - 1
    ranks = ew.mul(qs.reshape(-1, 1), last)  # (..., len(q), 1)
    if not skip_nan:
        ranks = ew.where(ew.gt(nans, 0), float(length - 1), ranks)  # a NaN makes the quantile NaN
    if interpolation == "lower":
        ranks = ew.floor(ranks)
    elif interpolation == "higher":
        ranks = ew.ceil(ranks)
    elif interpolation == "nearest":
        ranks = ew.round(ranks)
    below = ranks.long()
    rows = ordered.expand(tuple(ranks.shape[:-1]) + (length,))
    result = rows.gather(-1, below)
    if interpolation in ("linear", "midpoint"):
        above = ew.ceil(ranks).long()
        weights = ew.sub(ranks, below) if interpolation == "linear" else full_like(ranks, 0.5)
        result = ew.lerp(result, rows.gather(-1, above), weights)
    result = result.squeeze(-1).movedim(-1, 0)  # (len(q), ...)
    if keepdim:
        if dim is None:
            result = result.reshape((result.shape[0],) + (1,) * input.ndim)
        elif input.ndim > 0:
            result = result.unsqueeze(axis + 1)
    if not isinstance(q, Tensor) or q.ndim == 0:
        result = result.squeeze(0)
    return result


def quantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The ``q``-quantiles (a number or a 1-D tensor in ``[0, 1]``) of all elements or along
    ``dim``; NaN where a NaN is present.

    >>> tapegrad.quantile(tapegrad.tensor([1., 2., 3., 4.]), 0.5)
    tensor(2.5000)
    """
    return _quantile(input, q, dim, keepdim, interpolation, skip_nan=False)


def nanquantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """``quantile`` ignoring NaNs."""
    return _quantile(input, q, dim, keepdim, interpolation, skip_nan=True)


# ---------------------------------------------------------------- NaN-aware and paired reductions

def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """``sum`` treating NaNs as zero.

    >>> tapegrad.nansum(tapegrad.tensor([1., float('nan'), 2.]))
    tensor(3.)
    """
    if input.is_floating_point():
        input = ew.where(ew.isnan(input), 0.0, input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """``mean`` of the non-NaN values.

    >>> tapegrad.nanmean(tapegrad.tensor([1., float('nan'), 2.]))
    tensor(1.5000)
    """
    if not input.is_floating_point():
        raise RuntimeError(f"nanmean(): expected input to have floating point or complex dtype but got "
                           f"{input.dtype.scalar_name}")
    count = ew.logical_not(ew.isnan(input)).sum(dim, keepdim)
    return ew.div(nansum(input, dim, keepdim, dtype=dtype), count)


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> Any:
    """(min, max) of all elements or along ``dim``.

    >>> tapegrad.aminmax(tapegrad.tensor([3., 1., 4.]))
    aminmax(min=tensor(1.), max=tensor(4.))
    """
    if input.numel() == 0 and dim is None:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           "identity.")
    reduce_over = () if dim is None else dim
    return return_types.aminmax(amin(input, reduce_over, keepdim), amax(input, reduce_over, keepdim))


def _over(dim: Any) -> Any:
    """The dims a mean pairs with a variance over ``dim`` (a bool there is ``unbiased``)."""
    return () if dim is None or isinstance(dim, bool) else dim


def _require_float(name: str, input: Tensor) -> None:
    if not input.is_floating_point():
        raise RuntimeError(f"{name} only support floating point and complex dtypes")


def var_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """(``var``, ``mean``) with the same arguments.

    >>> tapegrad.var_mean(tapegrad.tensor([1., 3.]))
    (tensor(2.), tensor(2.))
    """
    _require_float("var_mean", input)
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, _over(dim), keepdim)


def std_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """(``std``, ``mean``) with the same arguments."""
    _require_float("std_mean", input)
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, _over(dim), keepdim)


# ---------------------------------------------------------------- running extremes and log-sum-exp

def _running_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (indices,) = step.saved_values()
    (axis,) = step.attrs
    return (scatter_into_zeros(g, tuple(g.shape), axis, indices),)


CUMMAX = OpDef("cummax", "CummaxBackward0", _running_vjp)
CUMMIN = OpDef("cummin", "CumminBackward0", _running_vjp)


def _running_extreme(data: np.ndarray, axis: int, largest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Running max (or min) along ``axis`` and the index where it was last reached (a NaN, once
    seen, stays, at the index of the latest NaN), as PyTorch's kernel keeps them."""
    lines = np.moveaxis(data, axis, 0)
    values, indices = np.empty_like(lines), np.zeros(lines.shape, np.int64)
    for i in range(lines.shape[0]):
        x = lines[i]
        if i == 0:
            values[0], indices[0] = x, 0
            continue
        previous = values[i - 1]
        takes = (x >= previous) if largest else (x <= previous)
        if lines.dtype.kind == "f":
            takes = np.isnan(x) | (takes & ~np.isnan(previous))  # each NaN takes over
        values[i] = np.where(takes, x, previous)
        indices[i] = np.where(takes, i, indices[i - 1])
    return np.moveaxis(values, 0, axis), np.moveaxis(indices, 0, axis)


def _cummax_cummin(input: Tensor, dim: int, largest: bool) -> Any:
    axis = _wrap_dim(dim, max(input.ndim, 1))
    host = input.detach().cpu().numpy()
    if host.ndim == 0:
        values, indices = host.copy(), np.zeros((), np.int64)
    else:
        values, indices = _running_extreme(host, axis, largest)
    values_t = _wrap(np.ascontiguousarray(values)).to(input.device)
    indices_t = _wrap(np.ascontiguousarray(indices)).to(input.device)
    if grad_mode.state.enabled and input._requires_grad:
        record(CUMMAX if largest else CUMMIN, (input,), values_t, (axis,), saved=(indices_t,))
    return (return_types.cummax if largest else return_types.cummin)(values_t, indices_t)


def cummax(input: Tensor, dim: int) -> Any:
    """(values, indices) of the running maximum along ``dim``.

    >>> tapegrad.cummax(tapegrad.tensor([1., 3., 2.]), 0).values
    tensor([1., 3., 3.])
    """
    return _cummax_cummin(input, dim, largest=True)


def cummin(input: Tensor, dim: int) -> Any:
    """(values, indices) of the running minimum along ``dim``."""
    return _cummax_cummin(input, dim, largest=False)


def _logcumsumexp_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    # PyTorch's stable form: the positive and negative parts of g, each as a reverse
    # logcumsumexp of log|g| - out, shifted by x.
    x, out = step.saved_values()
    (axis,) = step.attrs
    lowest = float(np.finfo(g._data.dtype).min)
    log_abs = ew.log(ew.abs(g))
    reverse = lambda t: logcumsumexp(t.flip(axis), axis).flip(axis)  # noqa: E731
    positive = ew.exp(ew.add(reverse(ew.sub(ew.where(ew.gt(g, 0), log_abs, lowest), out)), x))
    negative = ew.exp(ew.add(reverse(ew.sub(ew.where(ew.lt(g, 0), log_abs, lowest), out)), x))
    return (ew.sub(positive, negative),)


LOGCUMSUMEXP = OpDef("logcumsumexp", "LogcumsumexpBackward0", _logcumsumexp_vjp)


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, computed without overflow.

    >>> tapegrad.logcumsumexp(tapegrad.tensor([0., 0.]), 0)
    tensor([0.0000, 0.6931])
    """
    axis = _wrap_dim(dim, max(input.ndim, 1))
    if not input.is_floating_point():
        raise RuntimeError(f"\"logcumsumexp_out_cpu\" not implemented for '{input.dtype.scalar_name}'")
    host = input.detach().cpu().numpy()
    data = host.copy() if host.ndim == 0 else np.logaddexp.accumulate(host, axis=axis)
    out = _wrap(np.ascontiguousarray(data)).to(input.device)
    if grad_mode.state.enabled and input._requires_grad:
        return record(LOGCUMSUMEXP, (input,), out, (axis,), saved=(input, OUTPUT))
    return out


# ---------------------------------------------------------------- differences

def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (after ``prepend`` and ``append``); bools
    differ by ``!=``.

    >>> tapegrad.diff(tapegrad.tensor([1., 4., 9., 16.]))
    tensor([3., 5., 7.])
    """
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    axis = _wrap_dim(dim, input.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    out = cat(parts, axis) if len(parts) > 1 else input
    for _ in range(n):
        if out.shape[axis] == 0:
            break
        later, earlier = out.narrow(axis, 1, out.shape[axis] - 1), out.narrow(axis, 0, out.shape[axis] - 1)
        out = ew.ne(later, earlier) if out.dtype.scalar_name == "Bool" else ew.sub(later, earlier)
    return out


def gradient(input: Tensor, *, spacing: Any = 1, dim: Any = None, edge_order: int = 1) -> tuple[Tensor, ...]:
    """Estimates of ``input``'s derivative along each of ``dim`` (every dim by default): central
    differences inside, one-sided ones of ``edge_order`` 1 or 2 at the ends. ``spacing`` is one
    number, a number per dim, or a 1-D tensor of coordinates per dim (then unevenly spaced
    samples are weighted as PyTorch's second-order formula weights them). Differentiable.

    >>> tapegrad.gradient(tapegrad.tensor([1., 4., 9., 16.]))
    (tensor([3., 4., 6., 7.]),)
    """
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = list(range(input.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    spacings = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    if len(spacings) != len(dims):
        if dim is None:
            raise RuntimeError("torch.gradient expected spacing to be unspecified, a scalar, or a list of length equal "
                               f"to 'self.dim() = {input.ndim}', since dim argument was not given, but got a list of "
                               f"length {len(spacings)}")
        raise RuntimeError("torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                           f"arguments to have the same length, but got a spacing argument of length {len(spacings)} "
                           f"and a dim argument of length {len(dims)}.")
    axes = [_wrap_dim(d, input.ndim) for d in dims]
    if any(input.shape[axis] < edge_order + 1 for axis in axes):
        raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")
    return tuple(_gradient_along(input, axis, h, edge_order) for axis, h in zip(axes, spacings))


def _gradient_along(f: Tensor, axis: int, h: Any, edge_order: int) -> Tensor:
    n = f.shape[axis]

    def part(start: int, stop: int) -> Tensor:  # f[start:stop] along the axis
        return f.narrow(axis, start, stop - start)

    if not isinstance(h, Tensor):
        center = (part(2, n) - part(0, n - 2)) / h / 2
        if edge_order == 1:
            first = (part(1, 2) - part(0, 1)) / h
            last = (part(n - 1, n) - part(n - 2, n - 1)) / h
        else:
            first = (part(0, 1) * -1.5 + part(1, 2) * 2 - part(2, 3) * 0.5) / h
            last = (part(n - 3, n - 2) * 0.5 + part(n - 2, n - 1) * -2 + part(n - 1, n) * 1.5) / h
        return cat([first, center, last], axis)
    if h.ndim != 1 or h.shape[0] != n:
        raise RuntimeError(f"torch.gradient expected the coordinates of dim {axis} to be a 1-D tensor of its size "
                           f"{n}, but got shape {tuple(h.shape)}")
    # Second-order weights for unevenly spaced samples: dx1 behind each point, dx2 ahead.
    shape = [1] * f.ndim
    shape[axis] = -1
    steps = diff(h)
    dx1, dx2 = steps[:-1], steps[1:]
    a = (-dx2 / (dx1 * (dx1 + dx2))).reshape(shape)
    b = ((dx2 - dx1) / (dx1 * dx2)).reshape(shape)
    c = (dx1 / (dx2 * (dx1 + dx2))).reshape(shape)
    center = a * part(0, n - 2) + b * part(1, n - 1) + c * part(2, n)
    d0, d1, dl, dm = steps[0], steps[1 % steps.shape[0]], steps[-1], steps[-2 % steps.shape[0]]
    if edge_order == 1:
        first = (part(1, 2) - part(0, 1)) / d0
        last = (part(n - 1, n) - part(n - 2, n - 1)) / dl
    else:
        first = (-(2.0 * d0 + d1) / (d0 * (d0 + d1)) * part(0, 1) + (d0 + d1) / (d0 * d1) * part(1, 2)
                 - d0 / (d1 * (d0 + d1)) * part(2, 3))
        last = (dl / (dm * (dl + dm)) * part(n - 3, n - 2) - (dl + dm) / (dl * dm) * part(n - 2, n - 1)
                + (2 * dl + dm) / (dl * (dl + dm)) * part(n - 1, n))
    return cat([first, center, last], axis)
