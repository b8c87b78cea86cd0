"""RAdam: Adam with the variance of its adaptive learning rate rectified (optionally with
decoupled weight decay, RAdamW)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from .adam import ADAM_MOMENTS
from ._fused import FusedKernel, Update, next_step, plan_update, with_grads
from .adamax import check_betas
from .optimizer import Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype, set_defaults

# PyTorch's single-tensor RAdam, per element (t is the step after incrementing; rho_t and the
# rectification ``rect`` are computed per step in Python, see ``RAdam._constants``):
#   g = -grad if maximize
#   p = p * (1 - lr * weight_decay)      (decoupled)   or   g = g + weight_decay * p
#   m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
#   rho_t > 5:  p = p - m / (1 - beta1**t) * lr * (1 / (sqrt(v) + eps) * sqrt(1 - beta2**t)) * rect
#   otherwise:  p = p - m / (1 - beta1**t) * lr
# The products are taken in PyTorch's order, and its ``scalar / tensor`` is a reciprocal
# times the scalar. Which branch runs changes with the step, so it is chosen by ``rect`` (0
# until rho_t > 5), a scalar: as a flag it would make a compiled step retrace when it flips.
_RADAM = FusedKernel("optim_radam", "param, grad, exp_avg, exp_avg_sq",
                     ("lerp_weight", "lerp_complement", "beta2", "one_minus_beta2", "weight_decay", "param_scale",
                      "bias_correction1", "lr", "one", "bias_correction2_sqrt", "eps", "rect"),
                     ("lerp_small", "has_weight_decay", "decoupled", "maximize"), ADAM_MOMENTS + """
    update = m / bias_correction1 * lr
    if rect > 0:
        update = update * (one / (np.sqrt(v) + eps) * bias_correction2_sqrt) * rect
    param[i] = p - update
""")


def rectification(beta2: float, t: float) -> float:
    """RAdam's variance rectification term at step ``t``, or 0 while the approximated SMA
    length rho_t is at most 5 (PyTorch's formulas, in Python floats)."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2 ** t) / (1 - beta2 ** t)
    if not rho_t > 5.0:
        return 0.0
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


class RAdam(Optimizer):
    """RAdam (PyTorch's ``torch.optim.RAdam``): Adam that takes plain momentum steps while the
    second-moment estimate is too young to trust (the first steps), then adaptive steps
    scaled by a rectification term.

    ``decoupled_weight_decay=True`` scales the parameter instead of adding to the gradient
    (RAdamW). Each parameter is updated by one fused kernel; ``state[p]["step"]`` is a 0-d
    float32 tensor (float64 under a float64 default dtype).

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.RAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable, "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)
        check_options(differentiable, None, foreach)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            set_defaults(group, foreach=None, maximize=False, differentiable=False, decoupled_weight_decay=False,
                         capturable=False)
            self._steps_to_tensors(group, scalar_step_dtype())

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` at step ``t``."""
        lr = as_float(group["lr"])
        beta1, beta2 = (as_float(b) for b in group["betas"])
        weight_decay = as_float(group["weight_decay"])
        lerp_weight = dtype.type(1 - beta1)
        scalars = np.array([lerp_weight, dtype.type(1) - lerp_weight, beta2, 1 - beta2, weight_decay,
                            1 - lr * weight_decay, 1 - beta1 ** t, lr, 1.0, (1 - beta2 ** t) ** 0.5,
                            as_float(group["eps"]), rectification(beta2, t)], dtype)
        flags = (bool(abs(lerp_weight) < 0.5), weight_decay != 0, bool(group["decoupled_weight_decay"]),
                 bool(group["maximize"]))
        return scalars, flags

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        step_dtype = scalar_step_dtype()
        by_dtype_and_step: dict[tuple[np.dtype, float], tuple[np.ndarray, tuple[bool, ...]]] = {}
        for p, grad, dtype in with_grads(group["params"]):
            entry = self._state_entry(p, ("exp_avg", "exp_avg_sq"), step_dtype, new_state)
            step = entry["step"]
            t = next_step(step)
            scalars, flags = self._constants_for(by_dtype_and_step, group, dtype, t)
            updates.append(plan_update(_RADAM, flags, p, grad, (entry["exp_avg"], entry["exp_avg_sq"]), scalars,
                                       step, t))
