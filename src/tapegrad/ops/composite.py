"""Ops built from primitives, each recorded as one named step with a VJP of its own.

The forward runs primitives with recording off; one step is then recorded, so ``grad_fn``
reads as in PyTorch (``SoftmaxBackward0``) and backward does one rule's work instead of
replaying every primitive. The VJPs are written with tapegrad ops.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import trace
from ..compiler import rules
from ..tensor import Tensor, _wrap, _wrap_dim
from .registry import OUTPUT, OpDef, record
from .reduce import _expand_back, amax, normalize_dims, sum
from ..user_warnings import warn_user


def _without_grad(fn: Callable[..., Tensor], *args: Any) -> Tensor:
    state = grad_mode.state
    previous = state.enabled
    state.enabled = False
    try:
        return fn(*args)
    finally:
        state.enabled = previous


def _check_float(name: str, input: Tensor) -> None:
    if not input.is_floating_point():
        raise RuntimeError(f"{name}(): input dtype should be either floating point or complex dtypes. "
                           f"Got {input.dtype.scalar_name} instead.")


# ---------------------------------------------------------------- variance and std

def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for d in axes:
        n *= shape[d]
    return n


def _var_forward(x: Tensor, axes: tuple[int, ...], correction: float, keepdim: bool) -> Tensor:
    centered = x - x.mean(axes, keepdim=True)
    dof = max(_count(x.shape, axes) - correction, 0)
    return sum(centered * centered, axes, keepdim=keepdim) / dof


def _per_dof(numerator: float, shape: tuple[int, ...], axes: tuple[int, ...], correction: float) -> float:
    """``numerator / (count - correction)``; no degrees of freedom give inf (so 0 * inf = nan, as
    PyTorch's gradient of a one-element variance is)."""
    dof = max(_count(shape, axes) - correction, 0)
    return numerator / dof if dof else math.inf


def _var_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (x,) = step.saved_values()
    axes, correction, keepdim = step.attrs
    centered = x - x.mean(axes, keepdim=True)
    return (_expand_back(g, x.shape, axes) * centered * _per_dof(2.0, x.shape, axes, correction),)


def _std_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    x, out = step.saved_values()
    axes, correction, keepdim = step.attrs
    centered = x - x.mean(axes, keepdim=True)
    return (_expand_back(g / out, x.shape, axes) * centered * _per_dof(1.0, x.shape, axes, correction),)


VAR = OpDef("var", "VarBackward0", _var_vjp)
STD = OpDef("std", "StdBackward0", _std_vjp)


def _correction(dim: Any, unbiased: Any, correction: Any) -> tuple[Any, float]:
    if isinstance(dim, bool):  # var(x, True): the old positional ``unbiased``
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, float(correction)


def _warn_no_dof(name: str, input: Tensor, axes: tuple[int, ...], correction: float) -> None:
    if _count(tuple(input.shape), axes) - correction <= 0:
        warn_user(f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
                  "reduction factor (input numel divided by output numel).", UserWarning)


def _variance(op: OpDef, input: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any) -> Tensor:
    """var (``VAR``) or its square root std (``STD``), one recorded step either way."""
    if not input.is_floating_point():
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dim, correction = _correction(dim, unbiased, correction)
    axes = normalize_dims(dim, input.ndim)
    _warn_no_dof(op.name, input, axes, correction)
    root = op is STD
    out = _without_grad(_var_forward, input, axes, correction, keepdim)
    if root:
        out = _without_grad(out.sqrt)
    if grad_mode.state.enabled and input._requires_grad:
        return record(op, (input,), out, (axes, correction, keepdim), saved=(input, OUTPUT) if root else (input,))
    return out


def var(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Tensor:
    """Variance with Bessel's correction by default (``correction=1``)."""
    return _variance(VAR, input, dim, unbiased, keepdim, correction)


def std(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Tensor:
    """Standard deviation, the square root of ``var`` with the same arguments."""
    return _variance(STD, input, dim, unbiased, keepdim, correction)


# ---------------------------------------------------------------- norms

def _norm_forward(x: Tensor, p: float, axes: tuple[int, ...], keepdim: bool) -> Tensor:
    magnitude = x.abs()
    if p == math.inf:
        return amax(magnitude, axes, keepdim)
    if p == -math.inf:
        from .reduce import amin

        return amin(magnitude, axes, keepdim)
    if p == 0:
        return sum((magnitude != 0).to(x.dtype), axes, keepdim)
    if p == 1:
        return sum(magnitude, axes, keepdim)
    if p == 2:
        return sum(x * x, axes, keepdim).sqrt()
    return sum(magnitude ** p, axes, keepdim) ** (1.0 / p)


def _norm_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    x, out = step.saved_values()
    p, axes, keepdim = step.attrs
    g = _expand_back(g, x.shape, axes)
    norm = _expand_back(out, x.shape, axes)
    if p == 0:
        return (g * 0,)
    if p == 1:
        return (g * x.sign(),)
    if math.isinf(p):
        mask = (x.abs() == norm).to(x.dtype)
        count = _expand_back(sum(mask, axes), x.shape, axes)
        return (g * x.sign() * mask / count,)
    if p == 2:
        # Where the norm is 0 the subgradient 0 is used, as PyTorch does.
        safe = norm.masked_fill(norm == 0, 1.0)
        return (g * x / safe * (norm != 0),)
    # sign(x) |x|**(p-1), PyTorch's form: finite at zero components for p >= 1.
    if p < 1:
        # |x|**(p-1) is infinite at zeros, whose subgradient 0 is used; norm**(1-p) is 0 where
        # the norm is.
        scaled = (x.sign() * x.abs() ** (p - 1)).masked_fill(x == 0, 0.0)
        return (g * scaled * norm ** (1 - p),)
    safe = norm.masked_fill(norm == 0, 1.0)
    return (g * x.sign() * x.abs() ** (p - 1) / safe ** (p - 1) * (norm != 0),)


NORM = OpDef("norm", "LinalgVectorNormBackward0", _norm_vjp)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """Vector p-norm over all elements or ``dim`` (``'fro'`` is the 2-norm)."""
    _check_float("norm", input)
    axes = normalize_dims(dim, input.ndim)
    if p == "nuc" or p == "fro" and dim is not None and len(axes) > 2:
        # Matrix norms, as PyTorch's norm hands them to linalg.matrix_norm (over all dims when
        # ``dim`` is None, which must then be two).
        if len(axes) != 2:
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, axes))}")
        from .. import linalg

        return linalg.matrix_norm(input, p, axes, keepdim)
    p = 2.0 if p == "fro" or p is None else float(p)
    out = _without_grad(_norm_forward, input, p, axes, keepdim)
    if grad_mode.state.enabled and input._requires_grad:
        return record(NORM, (input,), out, (p, axes, keepdim), saved=(input, OUTPUT))
    return out


# ---------------------------------------------------------------- softmax family

def _logsumexp_forward(x: Tensor, axes: tuple[int, ...], keepdim: bool) -> Tensor:
    peak = amax(x, axes, keepdim=True)
    # An infinite peak would give inf - inf = nan; shifting by 0 there is exact.
    peak = peak.masked_fill(peak.abs() == math.inf, 0.0)
    total = sum((x - peak).exp(), axes, keepdim=True).log() + peak
    return total if keepdim else total.reshape(tuple(s for d, s in enumerate(x.shape) if d not in axes))


def _logsumexp_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    x, out = step.saved_values()
    axes, keepdim = step.attrs
    return (_expand_back(g, x.shape, axes) * (x - _expand_back(out, x.shape, axes)).exp(),)


LOGSUMEXP = OpDef("logsumexp", "LogsumexpBackward0", _logsumexp_vjp)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    x = input if input.is_floating_point() else input.float()
    axes = normalize_dims(dim, x.ndim)
    out = _without_grad(_logsumexp_forward, x, axes, keepdim)
    if grad_mode.state.enabled and x._requires_grad:
        return record(LOGSUMEXP, (x,), out, (axes, keepdim), saved=(x, OUTPUT))
    return out


def _softmax_dim(name: str, input: Tensor, dim: Any) -> int:
    if dim is None:
        # PyTorch's legacy implicit choice for dim=None.
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return _wrap_dim(dim, input.ndim)


def _softmax_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (out,) = step.saved_values()
    (axis,) = step.attrs
    return (out * (g - sum(g * out, axis, keepdim=True)),)


def _log_softmax_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (out,) = step.saved_values()
    (axis,) = step.attrs
    return (g - out.exp() * sum(g, axis, keepdim=True),)


SOFTMAX = OpDef("softmax", "SoftmaxBackward0", _softmax_vjp)
LOG_SOFTMAX = OpDef("log_softmax", "LogSoftmaxBackward0", _log_softmax_vjp)


def _softmax_forward(x: Tensor, axis: int, log: bool = False) -> Tensor:
    if isinstance(x._data, np.ndarray):
        data = cpu.softmax(x._data, axis, log=log)
    else:
        from ..cuda import _kernels

        data = _kernels.softmax(x._data, axis, log)
    if trace.ACTIVE is not None:
        trace.ACTIVE.emit(rules.SOFTMAX, (x,), data, (axis, log))
    return _wrap(data)


def _log_softmax_forward(x: Tensor, axis: int) -> Tensor:
    return _softmax_forward(x, axis, log=True)


def _cast_for_softmax(name: str, input: Tensor, dtype: Any, axis: int) -> Tensor:
    """``input`` in ``dtype`` if one is given; PyTorch has no integer or bool softmax kernel
    (its error names the kernel it looked for: the last-dim one or the general one)."""
    if dtype is not None:
        return input.to(dtype)
    if not input.is_floating_point():
        kernel = f"{name}_lastdim_kernel_impl" if axis == input.ndim - 1 or input.ndim == 0 else f"{name}_kernel_impl"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{input.dtype.scalar_name}\'')
    return input


def softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    axis = _softmax_dim("softmax", input, dim) if input.ndim else 0
    x = _cast_for_softmax("softmax", input, dtype, axis)
    out = _without_grad(_softmax_forward, x, axis) if x.ndim else _without_grad(lambda: x * 0 + 1)
    if grad_mode.state.enabled and x._requires_grad:
        return record(SOFTMAX, (x,), out, (axis,), saved=(OUTPUT,))
    return out


def log_softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    axis = _softmax_dim("log_softmax", input, dim) if input.ndim else 0
    x = _cast_for_softmax("log_softmax", input, dtype, axis)
    out = _without_grad(_log_softmax_forward, x, axis) if x.ndim else _without_grad(lambda: x * 0)
    if grad_mode.state.enabled and x._requires_grad:
        return record(LOG_SOFTMAX, (x,), out, (axis,), saved=(OUTPUT,))
    return out


# ---------------------------------------------------------------- closeness

def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Where ``|input - other| <= atol + rtol * |other|`` (or the two are equal, infinities
    included; NaNs equal only with ``equal_nan``).

    >>> tapegrad.isclose(tapegrad.tensor([1., 2.]), tapegrad.tensor([1. + 1e-9, 2.1]))
    tensor([ True, False])
    """
    from . import elementwise as ew

    if not isinstance(other, Tensor):
        raise TypeError(f"isclose(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    if input.dtype != other.dtype:
        raise RuntimeError(f"{input.dtype.scalar_name} did not match {other.dtype.scalar_name}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    close = ew.eq(input, other)
    if equal_nan and input.is_floating_point():
        close = ew.logical_or(close, ew.logical_and(ew.isnan(input), ew.isnan(other)))
    if input.is_floating_point():
        actual = ew.abs(ew.sub(input, other))
        allowed = ew.add(ew.abs(ew.mul(other, rtol)), atol)
        # A finite difference within tolerance (inf - inf and NaNs fail the first comparison).
        close = ew.logical_or(close, ew.logical_and(ew.lt(actual, math.inf), ew.le(actual, allowed)))
    return close


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether ``isclose`` holds everywhere."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())
