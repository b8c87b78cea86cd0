"""Gradient clipping: by total norm (``clip_grad_norm_``) or elementwise (``clip_grad_value_``).

The total norm is PyTorch's: the ``norm_type``-norm of each gradient, then the same norm of those
norms, so the result (and the scaling it implies) matches PyTorch's for every ``norm_type``.
"""
from __future__ import annotations

import functools
import math
import types
from typing import Any, Callable, Iterable, TypeVar

from ... import creation
from ...autograd.grad_mode import no_grad
from ...ops import composite, elementwise as ew, movement
from ...tensor import Tensor
from ...user_warnings import warn_user

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

TensorOrTensors = Tensor | Iterable[Tensor]
_Function = TypeVar("_Function", bound=Callable[..., Any])


def _no_grad(function: _Function) -> _Function:
    """Run ``function`` with gradient recording off (clipping is never part of a graph)."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with no_grad():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _as_list(tensors: TensorOrTensors) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


@_no_grad
def get_total_norm(tensors: TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of the norms of ``tensors`` (as if concatenated into one vector).

    ``foreach`` is accepted for PyTorch compatibility; tensors are always processed in a loop.

    >>> nn.utils.get_total_norm([tapegrad.tensor([3.]), tapegrad.tensor([4.])])
    tensor(5.)
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return creation.tensor(0.0)
    norms = [composite.norm(t, norm_type) for t in tensors]
    total_norm = composite.norm(movement.stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(total_norm.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`")
    return total_norm


@_no_grad
def clip_grads_with_norm_(parameters: TensorOrTensors, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))``.

    >>> p = tapegrad.tensor([1.], requires_grad=True); p.grad = tapegrad.tensor([4.])
    >>> nn.utils.clip_grads_with_norm_([p], 2.0, tapegrad.tensor(4.)); p.grad
    tensor([2.0000])
    """
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    if not grads:
        return
    # The 1e-6 keeps a zero norm from dividing by zero (PyTorch's constant).
    clip_coef = ew.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for grad in grads:
        grad.mul_(clip_coef)


@_no_grad
def clip_grad_norm_(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients of ``parameters`` in place so their total ``norm_type``-norm is at most
    ``max_norm``; returns the total norm before clipping. Parameters without a gradient are
    skipped.

    >>> p = tapegrad.tensor([1., 1.], requires_grad=True); p.grad = tapegrad.tensor([3., 4.])
    >>> nn.utils.clip_grad_norm_(p, max_norm=1.0)
    tensor(5.)
    >>> p.grad
    tensor([0.6000, 0.8000])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warn_user("`parameters` is an empty generator, no gradient clipping will occur.")
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated: use ``clip_grad_norm_``."""
    warn_user("`nn.utils.clip_grad_norm` is now deprecated in favor of `nn.utils.clip_grad_norm_`.",
              FutureWarning)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@_no_grad
def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place.

    >>> p = tapegrad.tensor([1., 1.], requires_grad=True); p.grad = tapegrad.tensor([-3., 0.5])
    >>> nn.utils.clip_grad_value_(p, 1.0); p.grad
    tensor([-1.0000,  0.5000])
    """
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            p.grad.clamp_(min=-clip_value, max=clip_value)
