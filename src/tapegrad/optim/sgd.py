"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, check_state, plan_update, with_grads, zeros_state
from .optimizer import Optimizer, ParamsT, as_float, check_options, set_defaults

# PyTorch's single-tensor SGD, per element:
#   g = -grad if maximize; g = g + weight_decay * p
#   buf = g (first step) or buf * momentum + (1 - dampening) * g
#   g = g + momentum * buf (nesterov) or buf;  p = p + (-lr) * g
_SGD = FusedKernel("optim_sgd", "param, grad, buf", ("weight_decay", "momentum", "one_minus_dampening", "neg_lr"),
                   ("has_weight_decay", "has_momentum", "first", "nesterov", "maximize"), """
    g = grad[i]
    if maximize:
        g = -g
    if has_weight_decay:
        g = g + weight_decay * param[i]
    if has_momentum:
        if first:
            b = g
        else:
            b = buf[i] * momentum + one_minus_dampening * g
        buf[i] = b
        if nesterov:
            g = g + momentum * b
        else:
            g = b
    param[i] = param[i] + neg_lr * g
""")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``).

    Each parameter is updated by one fused kernel; the momentum buffer is kept in
    ``state[p]["momentum_buffer"]``.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w
    tensor([ 0.4600, -0.9200], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float | Tensor = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        # PyTorch's SGD tests ``< 0`` (a NaN passes), unlike the ``check_non_negative`` of the others.
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_options(differentiable, fused, foreach)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            set_defaults(group, nesterov=False, maximize=False, foreach=None, differentiable=False, fused=False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` (``first`` is set per parameter)."""
        momentum = as_float(group["momentum"])
        weight_decay = as_float(group["weight_decay"])
        scalars = np.array([weight_decay, momentum, 1.0 - as_float(group["dampening"]), -as_float(group["lr"])], dtype)
        return scalars, (weight_decay != 0, momentum != 0, False, bool(group["nesterov"]), bool(group["maximize"]))

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        has_momentum = as_float(group["momentum"]) != 0
        by_dtype: dict[np.dtype, tuple[np.ndarray, tuple[bool, ...]]] = {}
        state = self.state
        for p, grad, dtype in with_grads(group["params"]):
            constants = by_dtype.get(dtype)
            if constants is None:
                constants = by_dtype[dtype] = self._constants(group, dtype, 0.0)
            scalars, flags = constants
            buf = None
            first = False
            if has_momentum:
                entry = state.get(p)
                buf = entry.get("momentum_buffer") if entry else None
                if buf is None:
                    # PyTorch starts the buffer as a copy of the (decayed) gradient: the
                    # kernel's first-step branch writes it (zeros only make it on any device).
                    first = True
                    buf = zeros_state(p)
                    new_state.append((p, {**(entry or {}), "momentum_buffer": buf}))
                else:
                    check_state(p, "momentum_buffer", buf)
            if first:
                flags = flags[:2] + (True,) + flags[3:]
            updates.append(plan_update(_SGD, flags, p, grad, (buf,), scalars, bump_buffers=not first))
