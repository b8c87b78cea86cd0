"""Adadelta: steps scaled by the ratio of two running root-mean-squares, of past updates and
of gradients, so that no learning rate has to be tuned (``lr`` only scales the result)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, next_step, plan_update, with_grads
from .optimizer import Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype, set_defaults

# PyTorch's single-tensor Adadelta, per element:
#   g = -grad if maximize;  g = g + weight_decay * p
#   v = v * rho + (1 - rho) * g * g
#   delta = sqrt(u + eps) / sqrt(v + eps) * g        (u: acc_delta before this step)
#   u = u * rho + (1 - rho) * delta * delta;  p = p + (-lr) * delta
_ADADELTA = FusedKernel("optim_adadelta", "param, grad, square_avg, acc_delta",
                        ("rho", "one_minus_rho", "eps", "weight_decay", "neg_lr"), ("has_weight_decay", "maximize"), """
    g = grad[i]
    if maximize:
        g = -g
    if has_weight_decay:
        g = g + weight_decay * param[i]
    v = square_avg[i] * rho + one_minus_rho * g * g
    square_avg[i] = v
    u = acc_delta[i]
    delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
    acc_delta[i] = u * rho + one_minus_rho * delta * delta
    param[i] = param[i] + neg_lr * delta
""")

# The device types PyTorch lets a ``capturable`` optimizer step on (its
# ``_get_capturable_supported_devices``; "xla" is left out for some optimizers).
_CAPTURABLE_DEVICES = ["cuda", "xpu", "hpu", "privateuseone"]


def check_capturable(param: Tensor, with_xla: bool = True, what: str = "params and state_steps") -> None:
    """PyTorch's check that a ``capturable=True`` optimizer only steps parameters on a device
    that can capture the step in a graph (a CPU parameter fails it)."""
    devices = (_CAPTURABLE_DEVICES + ["xla"]) if with_xla else _CAPTURABLE_DEVICES
    if param.device.type not in devices:
        raise AssertionError(f"If capturable=True, {what} must be on supported devices: {devices}.")


class Adadelta(Optimizer):
    """Adadelta (PyTorch's ``torch.optim.Adadelta``): keeps running averages (decay ``rho``)
    of the squared gradient (``square_avg``) and of the squared update (``acc_delta``) and
    steps by the gradient times the ratio of their roots.

    Each parameter is updated by one fused kernel; ``state[p]["step"]`` is a 0-d float32
    tensor (float64 under a float64 default dtype).

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adadelta([w])
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9968, -1.9968], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        check_non_negative(lr=lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_non_negative(eps=eps, weight_decay=weight_decay)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable, "foreach": foreach, "differentiable": differentiable}
        super().__init__(params, defaults)
        check_options(differentiable, None, foreach)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            set_defaults(group, foreach=None, maximize=False, differentiable=False, capturable=False)
            self._steps_to_tensors(group, scalar_step_dtype())

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` (the same at every step)."""
        rho = as_float(group["rho"])
        weight_decay = as_float(group["weight_decay"])
        scalars = np.array([rho, 1 - rho, as_float(group["eps"]), weight_decay, -as_float(group["lr"])], dtype)
        return scalars, (weight_decay != 0, bool(group["maximize"]))

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        capturable = bool(group["capturable"])
        step_dtype = scalar_step_dtype()
        by_dtype: dict[np.dtype, tuple[np.ndarray, tuple[bool, ...]]] = {}
        for p, grad, dtype in with_grads(group["params"]):
            if capturable:
                check_capturable(p, with_xla=False)
            entry = self._state_entry(p, ("square_avg", "acc_delta"), step_dtype, new_state)
            step = entry["step"]
            t = next_step(step)
            cached = by_dtype.get(dtype)
            if cached is None:
                cached = by_dtype[dtype] = self._constants(group, dtype, t)
            scalars, flags = cached
            updates.append(plan_update(_ADADELTA, flags, p, grad, (entry["square_avg"], entry["acc_delta"]), scalars,
                                       step, t))
