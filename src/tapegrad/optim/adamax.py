"""Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, next_step, plan_update, with_grads
from .optimizer import Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype, set_defaults

# PyTorch's single-tensor Adamax, per element (t is the step after incrementing):
#   g = -grad if maximize;  g = g + weight_decay * p
#   m = lerp(m, g, 1 - beta1);  u = maximum(u * beta2, |g| + eps)
#   p = p + (-lr / (1 - beta1**t)) * m / u
# lerp is PyTorch's two-sided formula, as in Adam.
_ADAMAX = FusedKernel("optim_adamax", "param, grad, exp_avg, exp_inf",
                      ("lerp_weight", "lerp_complement", "beta2", "weight_decay", "eps", "neg_clr"),
                      ("lerp_small", "has_weight_decay", "maximize"), """
    g = grad[i]
    if maximize:
        g = -g
    if has_weight_decay:
        g = g + weight_decay * param[i]
    m = exp_avg[i]
    if lerp_small:
        m = m + lerp_weight * (g - m)
    else:
        m = g - (g - m) * lerp_complement
    exp_avg[i] = m
    u = exp_inf[i] * beta2
    norm = abs(g) + eps
    # torch.maximum: a NaN on either side wins.
    if norm > u or norm != norm:
        u = norm
    exp_inf[i] = u
    param[i] = param[i] + neg_clr * m / u
""")


def check_betas(betas: tuple[float, float]) -> None:
    """PyTorch's range checks of ``betas`` (each in [0, 1), so NaN fails)."""
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


class Adamax(Optimizer):
    """Adamax (PyTorch's ``torch.optim.Adamax``): Adam whose step divides by a running
    maximum of the gradient's magnitude (``exp_inf``, decay ``betas[1]``) instead of the root
    of a running mean of its square.

    Each parameter is updated by one fused kernel; ``state[p]["step"]`` is a 0-d float32
    tensor (float64 under a float64 default dtype).

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adamax([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False) -> None:
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
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
        """The kernel's scalar array and flags for ``group`` at step ``t``."""
        beta1, beta2 = (as_float(b) for b in group["betas"])
        weight_decay = as_float(group["weight_decay"])
        clr = as_float(group["lr"]) / (1 - beta1 ** t)
        lerp_weight = dtype.type(1 - beta1)
        scalars = np.array([lerp_weight, dtype.type(1) - lerp_weight, beta2, weight_decay, as_float(group["eps"]),
                            -clr], dtype)
        return scalars, (bool(abs(lerp_weight) < 0.5), weight_decay != 0, bool(group["maximize"]))

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        step_dtype = scalar_step_dtype()
        by_dtype_and_step: dict[tuple[np.dtype, float], tuple[np.ndarray, tuple[bool, ...]]] = {}
        for p, grad, dtype in with_grads(group["params"]):
            entry = self._state_entry(p, ("exp_avg", "exp_inf"), step_dtype, new_state)
            step = entry["step"]
            t = next_step(step)
            scalars, flags = self._constants_for(by_dtype_and_step, group, dtype, t)
            updates.append(plan_update(_ADAMAX, flags, p, grad, (entry["exp_avg"], entry["exp_inf"]), scalars,
                                       step, t))
