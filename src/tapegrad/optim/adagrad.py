"""Adagrad with learning-rate decay and weight decay."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, check_state, next_step, plan_update, with_grads, zeros_state
from .optimizer import (Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype,
                        set_defaults, step_tensor)

# PyTorch's single-tensor Adagrad, per element (clr = lr / (1 + (t - 1) * lr_decay)):
#   g = -grad if maximize; g = g + weight_decay * p
#   sum = sum + g * g;  p = p + (-clr) * g / (sqrt(sum) + eps)
_ADAGRAD = FusedKernel("optim_adagrad", "param, grad, state_sum", ("weight_decay", "eps", "neg_clr"),
                       ("has_weight_decay", "maximize"), """
    g = grad[i]
    if maximize:
        g = -g
    if has_weight_decay:
        g = g + weight_decay * param[i]
    s = state_sum[i] + g * g
    state_sum[i] = s
    param[i] = param[i] + neg_clr * g / (np.sqrt(s) + eps)
""")


class Adagrad(Optimizer):
    """Adagrad (PyTorch's ``torch.optim.Adagrad``): divides the gradient by the root of the
    running sum of its squares (``state[p]["sum"]``, starting at ``initial_accumulator_value``).

    State is created for every parameter when the optimizer is made, as in PyTorch. Each
    parameter is updated by one fused kernel.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        check_options(differentiable, fused, foreach)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._initial_state(p, group["fused"])

    def _initial_state(self, p: Tensor, fused: bool | None) -> dict[str, Any]:
        return {"step": step_tensor(0.0, scalar_step_dtype(fused)),
                "sum": zeros_state(p, float(self.defaults["initial_accumulator_value"]))}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            set_defaults(group, foreach=None, maximize=False, differentiable=False, fused=None)
            self._steps_to_tensors(group, scalar_step_dtype(group["fused"]))

    def share_memory(self) -> None:
        """Kept for PyTorch compatibility: state buffers are ordinary process memory here."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` at step ``t``."""
        weight_decay = as_float(group["weight_decay"])
        clr = as_float(group["lr"]) / (1 + (t - 1) * as_float(group["lr_decay"]))
        scalars = np.array([weight_decay, as_float(group["eps"]), -clr], dtype)
        return scalars, (weight_decay != 0, bool(group["maximize"]))

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        by_dtype_and_step: dict[tuple[np.dtype, float], tuple[np.ndarray, tuple[bool, ...]]] = {}
        state = self.state
        for p, grad, dtype in with_grads(group["params"]):
            entry = state.get(p)
            if not entry:
                # A parameter added after construction (add_param_group) starts here.
                entry = self._initial_state(p, group["fused"])
                new_state.append((p, entry))
            state_sum = check_state(p, "sum", entry["sum"])
            step = entry["step"]
            t = next_step(step)
            scalars, flags = self._constants_for(by_dtype_and_step, group, dtype, t)
            updates.append(plan_update(_ADAGRAD, flags, p, grad, (state_sum,), scalars, step, t))
