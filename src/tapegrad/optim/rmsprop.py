"""RMSprop, optionally centered and with momentum."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, next_step, plan_update, with_grads
from .optimizer import Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype, set_defaults

# PyTorch's single-tensor RMSprop, per element:
#   g = -grad if maximize; g = g + weight_decay * p
#   sq = sq * alpha + (1 - alpha) * g * g
#   avg = sqrt(sq - ga * ga) with ga = lerp(ga, g, 1 - alpha) (centered), else sqrt(sq); avg += eps
#   buf = buf * momentum + g / avg; p = p + (-lr) * buf     (momentum > 0)
#   p = p + (-lr) * g / avg                                  (otherwise)
_RMSPROP = FusedKernel("optim_rmsprop", "param, grad, square_avg, grad_avg, momentum_buffer",
                       ("alpha", "one_minus_alpha", "lerp_complement", "weight_decay", "eps", "momentum", "neg_lr"),
                       ("lerp_small", "has_weight_decay", "centered", "has_momentum", "maximize"), """
    g = grad[i]
    if maximize:
        g = -g
    if has_weight_decay:
        g = g + weight_decay * param[i]
    sq = square_avg[i] * alpha + one_minus_alpha * g * g
    square_avg[i] = sq
    if centered:
        ga = grad_avg[i]
        if lerp_small:
            ga = ga + one_minus_alpha * (g - ga)
        else:
            ga = g - (g - ga) * lerp_complement
        grad_avg[i] = ga
        avg = np.sqrt(sq - ga * ga) + eps
    else:
        avg = np.sqrt(sq) + eps
    if has_momentum:
        b = momentum_buffer[i] * momentum + g / avg
        momentum_buffer[i] = b
        param[i] = param[i] + neg_lr * b
    else:
        param[i] = param[i] + neg_lr * g / avg
""")


class RMSprop(Optimizer):
    """RMSprop (PyTorch's ``torch.optim.RMSprop``): divides the gradient by the root of a
    running average of its square (``square_avg``, decay ``alpha``).

    ``centered`` also tracks the gradient's average (``grad_avg``) and uses the variance;
    ``momentum`` keeps a ``momentum_buffer``. Each parameter is updated by one fused kernel.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)
        check_options(differentiable, None, foreach)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            set_defaults(group, momentum=0, centered=False, foreach=None, maximize=False, differentiable=False,
                         capturable=False)
            self._steps_to_tensors(group, scalar_step_dtype())

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group``."""
        alpha = as_float(group["alpha"])
        weight_decay = as_float(group["weight_decay"])
        momentum = as_float(group["momentum"])
        # grad_avg's lerp weight is 1 - alpha, rounded to the dtype like its complement.
        one_minus_alpha = dtype.type(1 - alpha)
        scalars = np.array([alpha, one_minus_alpha, dtype.type(1) - one_minus_alpha, weight_decay,
                            as_float(group["eps"]), momentum, -as_float(group["lr"])], dtype)
        flags = (bool(abs(one_minus_alpha) < 0.5), weight_decay != 0, bool(group["centered"]), momentum > 0,
                 bool(group["maximize"]))
        return scalars, flags

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        centered = bool(group["centered"])
        has_momentum = as_float(group["momentum"]) > 0
        step_dtype = scalar_step_dtype()
        by_dtype: dict[np.dtype, tuple[np.ndarray, tuple[bool, ...]]] = {}
        names = ("square_avg",) + (("momentum_buffer",) if has_momentum else ()) + (("grad_avg",) if centered else ())
        for p, grad, dtype in with_grads(group["params"]):
            entry = self._state_entry(p, names, step_dtype, new_state)
            step = entry["step"]
            t = next_step(step)
            cached = by_dtype.get(dtype)
            if cached is None:
                cached = by_dtype[dtype] = self._constants(group, dtype, t)
            scalars, flags = cached
            buffers = (entry["square_avg"], entry["grad_avg"] if centered else None,
                       entry["momentum_buffer"] if has_momentum else None)
            updates.append(plan_update(_RMSPROP, flags, p, grad, buffers, scalars, step, t))
