"""Rprop (resilient backpropagation): each weight moves by its own step size, against the sign
of its gradient; the step size grows while that sign holds and shrinks when it flips."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from ._fused import FusedKernel, Update, check_state, next_step, plan_update, with_grads, zeros_state
from .adadelta import check_capturable
from .optimizer import (Optimizer, ParamsT, as_float, check_non_negative, check_options, scalar_step_dtype,
                        set_defaults, step_tensor)

# PyTorch's single-tensor Rprop, per element:
#   g = -grad if maximize
#   sign = sign(g * prev), then sign = etaplus where > 0, etaminus where < 0, 1 where 0
#   step_size = clamp(step_size * sign, step_size_min, step_size_max)
#   g = 0 where sign == etaminus (no step, and no sign to compare next time, after a flip)
#   p = p + (-1 * sign(g)) * step_size;  prev = g
# torch.sign is 0 for NaN, so a NaN product takes the factor 1 as a zero does. The factor
# for each sign of the product is worked out in Python (``factors``), exactly as the three
# masked assignments leave it. A zero or NaN gradient still adds -0 * step_size (NaN when
# the step size is not finite), as PyTorch's addcmul_ does.
_RPROP = FusedKernel("optim_rprop", "param, grad, prev, step_size",
                     ("factor_up", "factor_down", "one", "etaminus", "step_size_min", "step_size_max", "zero"),
                     ("maximize",), """
    g = grad[i]
    if maximize:
        g = -g
    product = g * prev[i]
    if product > 0:
        factor = factor_up
    elif product < 0:
        factor = factor_down
    else:
        factor = one
    s = step_size[i] * factor
    # clamp_: a NaN step size stays NaN.
    if s < step_size_min:
        s = step_size_min
    if s > step_size_max:
        s = step_size_max
    step_size[i] = s
    if factor == etaminus:
        g = zero
    prev[i] = g
    if g > 0:
        param[i] = param[i] - s
    elif g < 0:
        param[i] = param[i] + s
    else:
        param[i] = param[i] - zero * s
""")


def factors(etaminus: float, etaplus: float, dtype: np.dtype) -> tuple[np.floating, np.floating]:
    """The step-size factors for a positive and for a negative ``g * prev``, in ``dtype``:
    PyTorch writes ``etaplus`` where the sign is positive, then ``etaminus`` where it is (now)
    negative, then 1 where it is (now) zero, each rounded to the tensor's dtype."""
    def factor(sign: float) -> np.floating:
        value = dtype.type(sign)
        if value > 0:
            value = dtype.type(etaplus)
        if value < 0:
            value = dtype.type(etaminus)
        if value == 0:
            value = dtype.type(1)
        return value

    return factor(1.0), factor(-1.0)


class Rprop(Optimizer):
    """Rprop (PyTorch's ``torch.optim.Rprop``): every element keeps a step size
    (``state[p]["step_size"]``, starting at ``lr``) and the previous gradient (``prev``).

    While the gradient keeps its sign the step size is multiplied by ``etas[1]``; when the
    sign flips it is multiplied by ``etas[0]`` and that element skips its step. Step sizes
    stay within ``step_sizes``. Each parameter is updated by one fused kernel.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Rprop([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        check_non_negative(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
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
        etaminus, etaplus = (as_float(eta) for eta in group["etas"])
        step_size_min, step_size_max = (as_float(size) for size in group["step_sizes"])
        factor_up, factor_down = factors(etaminus, etaplus, dtype)
        scalars = np.array([factor_up, factor_down, 1.0, etaminus, step_size_min, step_size_max, 0.0], dtype)
        return scalars, (bool(group["maximize"]),)

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        capturable = bool(group["capturable"])
        step_dtype = scalar_step_dtype()
        by_dtype: dict[np.dtype, tuple[np.ndarray, tuple[bool, ...]]] = {}
        for p, grad, dtype in with_grads(group["params"]):
            if capturable:
                check_capturable(p)
            entry = self.state.get(p)
            if not entry:
                # Every step size starts at the learning rate (rounded to the parameter's dtype).
                entry = {"step": step_tensor(0.0, step_dtype), "prev": zeros_state(p),
                         "step_size": zeros_state(p, as_float(group["lr"]))}
                new_state.append((p, entry))
            else:
                check_state(p, "prev", entry["prev"])
                check_state(p, "step_size", entry["step_size"])
            step = entry["step"]
            t = next_step(step)
            cached = by_dtype.get(dtype)
            if cached is None:
                cached = by_dtype[dtype] = self._constants(group, dtype, t)
            scalars, flags = cached
            updates.append(plan_update(_RPROP, flags, p, grad, (entry["prev"], entry["step_size"]), scalars, step, t))
