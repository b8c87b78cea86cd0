"""NAdam: Adam with Nesterov momentum (optionally with decoupled weight decay, NAdamW)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tensor import Tensor
from .adam import ADAM_MOMENTS
from ._fused import FusedKernel, Update, check_state, next_step, plan_update, with_grads, zeros_state
from .adamax import check_betas
from .optimizer import (Optimizer, ParamsT, StateDict, as_float, check_non_negative, check_options,
                        scalar_step_dtype, set_defaults, step_tensor)

# PyTorch's single-tensor NAdam, per element (t is the step after incrementing; mu_t and the
# running product of the mu's are computed per step in Python, see ``NAdam._scalars``):
#   g = -grad if maximize
#   p = p * (1 - lr * weight_decay)      (decoupled)   or   g = g + weight_decay * p
#   m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
#   denom = sqrt(v / (1 - beta2**t)) + eps
#   p = p + grad_coefficient * g / denom;  p = p + exp_avg_coefficient * m / denom
# The two additions round separately, as PyTorch's two addcdiv_ calls do.
_NADAM = FusedKernel("optim_nadam", "param, grad, exp_avg, exp_avg_sq",
                     ("lerp_weight", "lerp_complement", "beta2", "one_minus_beta2", "weight_decay", "param_scale",
                      "bias_correction2", "eps", "grad_coefficient", "exp_avg_coefficient"),
                     ("lerp_small", "has_weight_decay", "decoupled", "maximize"), ADAM_MOMENTS + """
    denom = np.sqrt(v / bias_correction2) + eps
    p = p + grad_coefficient * g / denom
    param[i] = p + exp_avg_coefficient * m / denom
""")


def momentum_coefficient(beta1: float, momentum_decay: float, t: float) -> float:
    """NAdam's mu_t, in Python floats as PyTorch computes it."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))


def times_mu(product: np.floating, beta1: float, momentum_decay: float, t: float) -> np.floating:
    """``mu_product *= mu_t`` as PyTorch's in-place multiply of the 0-d tensor rounds it: the
    factor is first rounded to the tensor's dtype (float32 unless loaded into a float64
    parameter's optimizer or made under a float64 default dtype)."""
    kind = type(product)
    return kind(product * kind(momentum_coefficient(beta1, momentum_decay, t)))


class NAdam(Optimizer):
    """NAdam (PyTorch's ``torch.optim.NAdam``): Adam whose step looks ahead with Nesterov
    momentum, with a momentum coefficient that grows with the step (``momentum_decay``).

    ``decoupled_weight_decay=True`` scales the parameter instead of adding to the gradient
    (NAdamW). State per parameter, as in PyTorch: ``step`` and ``mu_product`` (the running
    product of the momentum coefficients), both 0-d float32 tensors (float64 under a float64
    default dtype), then ``exp_avg`` and ``exp_avg_sq``. Each parameter is updated by one
    fused kernel.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.NAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8944, -1.8944], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        check_non_negative(lr=lr, eps=eps)
        check_betas(betas)
        check_non_negative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        # id(mu_product) -> (mu_product, step, its value once ``step`` is reached): products a
        # compiled replay computed (see ``_mu_product``). The tensor is held so that the id
        # stays its own.
        self._pending_mu_products: dict[int, tuple[Tensor, float, np.floating]] = {}
        super().__init__(params, defaults)
        check_options(differentiable, None, foreach)

    def __getstate__(self) -> dict[str, Any]:
        self._sync_mu_products()
        return super().__getstate__()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pending_mu_products = {}
        step_dtype = scalar_step_dtype()
        for group in self.param_groups:
            set_defaults(group, maximize=False, foreach=None, capturable=False, differentiable=False,
                         decoupled_weight_decay=False)
            self._steps_to_tensors(group, step_dtype)
            for p in group["params"]:
                entry = self.state.get(p)
                if entry and not isinstance(entry["mu_product"], Tensor):
                    entry["mu_product"] = step_tensor(float(entry["mu_product"]), step_dtype)

    def state_dict(self) -> StateDict:
        """The optimizer's state in PyTorch's layout (see ``Optimizer.state_dict``)."""
        self._sync_mu_products()
        return super().state_dict()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    # ------------------------------------------------------------------ mu_product
    # Eager steps write ``mu_product`` after their kernels. A compiled replay runs no Python
    # per parameter: before it runs, ``_constants`` computes each parameter's next product,
    # kept here as pending until the replay has moved the parameter's ``step`` on; the replay
    # then stores it (``_replayed``). A replay that failed leaves it pending, and the next read
    # through the optimizer (a step, ``state_dict``, the next replay) sorts it out.
    def _mu_product(self, group: dict[str, Any], entry: dict[str, Any]) -> tuple[Tensor, np.floating]:
        """``entry``'s ``mu_product`` tensor and its value at the entry's ``step``, storing a
        pending product that a compiled replay has committed."""
        mu_product = entry["mu_product"]
        if not isinstance(mu_product, Tensor):
            raise TypeError(f"optimizer state 'mu_product' must be a Tensor, got {type(mu_product).__name__}")
        data = mu_product._data
        value = data.dtype.type(data.item())
        pending = self._pending_mu_products.get(id(mu_product))
        if pending is not None and pending[0] is mu_product:
            _, t, product = pending
            done = entry["step"]._data.item()
            if done >= t:
                del self._pending_mu_products[id(mu_product)]
                value = data.dtype.type(product)
                # A step moved on further than the replay took it (by hand) takes the current betas.
                for k in range(int(t) + 1, int(done) + 1):
                    value = times_mu(value, as_float(group["betas"][0]), as_float(group["momentum_decay"]), float(k))
                data.fill(value)
        return mu_product, value

    def _replayed(self, group: dict[str, Any], entry: dict[str, Any]) -> None:
        self._mu_product(group, entry)

    def _sync_mu_products(self) -> None:
        if not self._pending_mu_products:
            return
        for group in self.param_groups:
            for p in group["params"]:
                entry = self.state.get(p)
                if entry and "mu_product" in entry and isinstance(entry.get("step"), Tensor):
                    self._mu_product(group, entry)

    def _group_mu_product(self, group: dict[str, Any], t: float) -> np.floating:
        """The ``mu_product`` of ``group``'s parameters at step ``t``, from the state of those
        at step ``t - 1`` (normally all; they share it), each left pending; else (no state
        yet) as a run from step 0 with the current betas accumulates it."""
        beta1 = as_float(group["betas"][0])
        momentum_decay = as_float(group["momentum_decay"])
        result = None
        for p in group["params"]:
            entry = self.state.get(p)
            if entry and isinstance(entry.get("step"), Tensor) and entry["step"]._data.item() == t - 1:
                mu_product, value = self._mu_product(group, entry)
                product = times_mu(value, beta1, momentum_decay, t)
                self._pending_mu_products[id(mu_product)] = (mu_product, t, product)
                if result is None:
                    result = product
        if result is None:
            result = scalar_step_dtype().type(1.0)
            for k in range(1, int(t) + 1):
                result = times_mu(result, beta1, momentum_decay, float(k))
        return result

    # ------------------------------------------------------------------ the update
    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` at step ``t`` (what a compiled
        replay recomputes before it runs)."""
        return self._scalars(group, dtype, t, float(self._group_mu_product(group, t)))

    def _scalars(self, group: dict[str, Any], dtype: np.dtype, t: float,
                 mu_product: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The scalar array and flags at step ``t``, ``mu_product`` being the product after
        this step's factor (the tensor's value, as a Python float)."""
        lr = as_float(group["lr"])
        beta1, beta2 = (as_float(b) for b in group["betas"])
        weight_decay = as_float(group["weight_decay"])
        momentum_decay = as_float(group["momentum_decay"])
        mu = momentum_coefficient(beta1, momentum_decay, t)
        mu_next = momentum_coefficient(beta1, momentum_decay, t + 1)
        # PyTorch takes the next product in Python floats: it is never rounded to a tensor.
        mu_product_next = mu_product * mu_next
        lerp_weight = dtype.type(1 - beta1)
        scalars = np.array([lerp_weight, dtype.type(1) - lerp_weight, beta2, 1 - beta2, weight_decay,
                            1 - lr * weight_decay, 1 - beta2 ** t, as_float(group["eps"]),
                            -lr * (1.0 - mu) / (1.0 - mu_product), (-lr * mu_next) / (1.0 - mu_product_next)],
                           dtype)
        flags = (bool(abs(lerp_weight) < 0.5), weight_decay != 0, bool(group["decoupled_weight_decay"]),
                 bool(group["maximize"]))
        return scalars, flags

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        step_dtype = scalar_step_dtype()
        beta1 = as_float(group["betas"][0])
        momentum_decay = as_float(group["momentum_decay"])
        by_product: dict[tuple[np.dtype, float, float], tuple[np.ndarray, tuple[bool, ...]]] = {}
        for p, grad, dtype in with_grads(group["params"]):
            entry = self.state.get(p)
            if not entry:
                entry = {"step": step_tensor(0.0, step_dtype), "mu_product": step_tensor(1.0, step_dtype),
                         "exp_avg": zeros_state(p), "exp_avg_sq": zeros_state(p)}
                new_state.append((p, entry))
            else:
                check_state(p, "exp_avg", entry["exp_avg"])
                check_state(p, "exp_avg_sq", entry["exp_avg_sq"])
            step = entry["step"]
            t = next_step(step)
            mu_product, value = self._mu_product(group, entry)
            product = times_mu(value, beta1, momentum_decay, t)
            key = (dtype, t, float(product))
            cached = by_product.get(key)
            if cached is None:
                cached = by_product[key] = self._scalars(group, dtype, t, float(product))
            scalars, flags = cached
            update = plan_update(_NADAM, flags, p, grad, (entry["exp_avg"], entry["exp_avg_sq"]), scalars, step, t)
            update.kernel = self._then_set_mu_product(update.kernel, mu_product, product)
            updates.append(update)

    def _then_set_mu_product(self, kernel: Callable[..., None], mu_product: Tensor,
                             product: np.floating) -> Callable[..., None]:
        """``kernel``, followed by the write of the new ``mu_product`` (only once every
        parameter has been planned, like the kernel itself). Its version counter is left
        alone: no autograd graph reads it, and ``tapegrad.compile`` refuses a step that bumps
        a captured tensor's version outside the ops it records."""
        pending = self._pending_mu_products

        def run(*args: Any) -> None:
            kernel(*args)
            mu_product._data.fill(product)
            pending.pop(id(mu_product), None)

        return run
