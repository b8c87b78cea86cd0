"""Adam (and, with decoupled weight decay, AdamW), with AMSGrad and maximize."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, next_step, plan_update, with_grads
from .optimizer import Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype, set_defaults

# The first half of every Adam-family update (Adam, NAdam, RAdam): the gradient with maximize
# and weight decay applied, then both running averages updated in place (``p``, ``g``, ``m``
# and ``v`` are left for the rest of the body). Scalars: lerp_weight, lerp_complement, beta2,
# one_minus_beta2, weight_decay, param_scale; flags: lerp_small, has_weight_decay, decoupled,
# maximize.
ADAM_MOMENTS = """
    g = grad[i]
    if maximize:
        g = -g
    p = param[i]
    if has_weight_decay:
        if decoupled:
            p = p * param_scale
        else:
            g = g + weight_decay * p
    m = exp_avg[i]
    if lerp_small:
        m = m + lerp_weight * (g - m)
    else:
        m = g - (g - m) * lerp_complement
    exp_avg[i] = m
    v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
    exp_avg_sq[i] = v
"""

# PyTorch's single-tensor Adam, per element (t is the step after incrementing):
#   g = -grad if maximize
#   p = p * (1 - lr * weight_decay)      (decoupled, AdamW)   or   g = g + weight_decay * p
#   m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g;  v_max = max(v_max, v)
#   p = p + (-lr / (1 - beta1**t)) * m / (sqrt(v or v_max) / sqrt(1 - beta2**t) + eps)
# lerp is PyTorch's two-sided formula, exact at both ends: the branch is chosen by the weight.
_ADAM = FusedKernel("optim_adam", "param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq",
                    ("lerp_weight", "lerp_complement", "beta2", "one_minus_beta2", "weight_decay", "param_scale",
                     "bias_correction2_sqrt", "eps", "neg_step_size"),
                    ("lerp_small", "has_weight_decay", "decoupled", "amsgrad", "maximize"), ADAM_MOMENTS + """
    if amsgrad:
        # torch.maximum: a NaN on either side wins.
        if v > max_exp_avg_sq[i] or v != v:
            max_exp_avg_sq[i] = v
        v = max_exp_avg_sq[i]
    denom = np.sqrt(v) / bias_correction2_sqrt + eps
    param[i] = p + neg_step_size * m / denom
""")


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``): ``betas`` are the decay rates of the running
    averages of the gradient (``exp_avg``) and of its square (``exp_avg_sq``).

    ``amsgrad`` keeps ``max_exp_avg_sq``; ``decoupled_weight_decay=True`` gives AdamW. Each
    parameter is updated by one fused kernel; ``state[p]["step"]`` is a 0-d float32 tensor.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        check_non_negative(lr=lr, eps=eps)
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        check_non_negative(weight_decay=weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for index, beta in enumerate(betas):
            if isinstance(beta, Tensor) and beta.numel() != 1:
                raise ValueError(f"Tensor betas[{index}] must be 1-element")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)
        check_options(differentiable, fused, foreach)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            set_defaults(group, amsgrad=False, maximize=False, foreach=None, capturable=False, differentiable=False,
                         decoupled_weight_decay=False, fused=None)
            self._steps_to_tensors(group, scalar_step_dtype(group["fused"]))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` at step ``t``."""
        lr = as_float(group["lr"])
        beta1, beta2 = (as_float(b) for b in group["betas"])
        weight_decay = as_float(group["weight_decay"])
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        # lerp's weight and its complement are rounded to the parameter's dtype first.
        lerp_weight = dtype.type(1 - beta1)
        scalars = np.array([lerp_weight, dtype.type(1) - lerp_weight, beta2, 1 - beta2, weight_decay,
                            1 - lr * weight_decay, bias_correction2_sqrt, as_float(group["eps"]), -step_size], dtype)
        flags = (bool(abs(lerp_weight) < 0.5), weight_decay != 0, bool(group["decoupled_weight_decay"]),
                 bool(group["amsgrad"]), bool(group["maximize"]))
        return scalars, flags

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        amsgrad = bool(group["amsgrad"])
        step_dtype = scalar_step_dtype(group["fused"])
        # The scalars depend on the dtype and on the step count, which the parameters of a
        # group normally share: one scalar array (and flag set) per distinct pair.
        by_dtype_and_step: dict[tuple[np.dtype, float], tuple[np.ndarray, tuple[bool, ...]]] = {}
        names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if amsgrad else ("exp_avg", "exp_avg_sq")
        for p, grad, dtype in with_grads(group["params"]):
            entry = self._state_entry(p, names, step_dtype, new_state)
            step = entry["step"]
            t = next_step(step)
            scalars, flags = self._constants_for(by_dtype_and_step, group, dtype, t)
            buffers = (entry["exp_avg"], entry["exp_avg_sq"], entry["max_exp_avg_sq"] if amsgrad else None)
            updates.append(plan_update(_ADAM, flags, p, grad, buffers, scalars, step, t))
