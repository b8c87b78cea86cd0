"""ASGD: stochastic gradient descent with a decaying step size and a running average of the
iterates (Polyak-Ruppert averaging)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import dtypes as _dtypes
from ..tensor import Tensor
from ._fused import FusedKernel, Update, check_state, next_step, plan_update, with_grads, zeros_state
from .adadelta import check_capturable
from .optimizer import (Optimizer, ParamsT, StateDict, as_float, check_non_negative, check_options,
                        scalar_step_dtype, set_defaults, step_tensor)
from ..user_warnings import warn_user

# PyTorch's single-tensor ASGD, per element (eta and mu are the state's values, from the end
# of the previous step):
#   g = -grad if maximize;  g = g + weight_decay * p
#   p = p * (1 - lambd * eta);  p = p + (-eta) * g
#   ax = ax + (p - ax) * mu     (mu != 1, or capturable)   or   ax = p     (mu == 1: a copy)
# Then, in Python, eta = lr / (1 + lambd * lr * t) ** alpha and mu = 1 / max(1, t - t0).
_ASGD = FusedKernel("optim_asgd", "param, grad, ax", ("weight_decay", "param_scale", "neg_eta", "mu"),
                    ("has_weight_decay", "maximize", "averaging"), """
    g = grad[i]
    if maximize:
        g = -g
    p = param[i]
    if has_weight_decay:
        g = g + weight_decay * p
    p = p * param_scale
    p = p + neg_eta * g
    param[i] = p
    if averaging:
        a = ax[i]
        ax[i] = a + (p - a) * mu
    else:
        ax[i] = p
""")


# PyTorch warns once per process that a complex eta lost its imaginary part.
_warned_complex = False


def _scalar_state(entry: dict[str, Any], name: str) -> Tensor:
    value = entry[name]
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise TypeError(f"optimizer state '{name}' must be a one-element Tensor, got {type(value).__name__}")
    return value


def _value(tensor: Tensor) -> np.floating:
    """A 0-d state tensor's value as a NumPy scalar of its dtype."""
    data = tensor._data
    return data.dtype.type(data.item())


class ASGD(Optimizer):
    """Averaged SGD (PyTorch's ``torch.optim.ASGD``): SGD whose step size ``eta`` decays as
    ``lr / (1 + lambd * lr * t) ** alpha``, with the parameter shrunk by ``1 - lambd * eta``
    each step, and ``ax``, the average of the iterates from step ``t0`` on (before it, ``ax``
    is the latest iterate).

    State per parameter, as in PyTorch: ``step``, ``eta`` and ``mu`` (the averaging weight),
    0-d float32 tensors (float64 under a float64 default dtype), and ``ax``. Each parameter is
    updated by one fused kernel.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.ASGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float | Tensor = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        check_non_negative(lr=lr, weight_decay=weight_decay)
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        # id(eta) -> (eta, mu, step, their values once ``step`` is reached): what a compiled
        # replay computed (see ``_synced``). The tensors are held so that the id stays theirs.
        self._pending: dict[int, tuple[Tensor, Tensor, float, np.floating, np.floating]] = {}
        super().__init__(params, defaults)
        check_options(differentiable, None, foreach)

    def __getstate__(self) -> dict[str, Any]:
        self._sync_all()
        return super().__getstate__()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pending = {}
        step_dtype = scalar_step_dtype()
        for group in self.param_groups:
            set_defaults(group, foreach=None, maximize=False, differentiable=False, capturable=False)
            self._steps_to_tensors(group, step_dtype)
            for p in group["params"]:
                entry = self.state.get(p)
                if entry:
                    for name in ("eta", "mu"):
                        if not isinstance(entry[name], Tensor):
                            entry[name] = step_tensor(float(entry[name]), step_dtype)

    def state_dict(self) -> StateDict:
        """The optimizer's state in PyTorch's layout (see ``Optimizer.state_dict``)."""
        self._sync_all()
        return super().state_dict()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        return self._fused_step(closure)

    # ------------------------------------------------------------------ eta and mu
    def _next_eta_mu(self, group: dict[str, Any], t: float, eta_dtype: np.dtype, mu_dtype: np.dtype,
                     step_dtype: np.dtype) -> tuple[np.floating, np.floating]:
        """``eta`` and ``mu`` after step ``t``, rounded as PyTorch stores them.

        Normally in Python floats, then made a tensor of the default dtype and copied into the
        state's (a tensor ``lr`` makes the arithmetic tensor arithmetic in its dtype);
        ``capturable`` takes them in the step counter's dtype, with ``scalar / tensor`` as
        PyTorch evaluates it: a reciprocal times the scalar."""
        lr = group["lr"]
        lambd, alpha, t0 = as_float(group["lambd"]), as_float(group["alpha"]), as_float(group["t0"])
        if group["capturable"]:
            kind = step_dtype.type
            step = kind(t)
            rate = as_float(lr)
            since = step - kind(t0)
            with np.errstate(all="ignore"):  # tensors divide by zero quietly
                eta = kind(1) / (kind(1) + kind(lambd * rate) * step) ** kind(alpha) * kind(rate)
                # torch.maximum(since, 1): a NaN wins.
                mu = kind(1) / (since if since > 1 or since != since else kind(1))
            return eta_dtype.type(eta), mu_dtype.type(mu)
        if isinstance(lr, Tensor):
            # pow(tensor, exponent) on the CPU raises the value to the power in double.
            kind = lr._data.dtype.type
            rate = kind(lr._data.item())
            base = kind(1) + kind(lambd) * rate * kind(t)
            with np.errstate(all="ignore"):  # a negative base gives NaN, as in PyTorch
                eta = rate / kind(np.power(float(base), alpha))
        else:
            eta = lr / ((1 + lambd * lr * t) ** alpha)
            if isinstance(eta, complex):
                # A negative base to a fractional power: PyTorch copies a complex tensor into
                # eta, keeping the real part, and says so once per process.
                global _warned_complex
                if not _warned_complex:
                    _warned_complex = True
                    warn_user("Casting complex values to real discards the imaginary part", UserWarning)
                eta = eta.real
            eta = _dtypes.get_default_dtype().numpy.type(eta)
        mu = _dtypes.get_default_dtype().numpy.type(1 / max(1, t - t0))
        return eta_dtype.type(eta), mu_dtype.type(mu)

    def _synced(self, group: dict[str, Any], entry: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """``entry``'s ``eta`` and ``mu``, first storing the values a compiled replay left
        pending once the entry's ``step`` shows that the replay ran.

        Eager steps write ``eta`` and ``mu`` after their kernels. A compiled replay runs no
        Python per parameter: before it runs, ``_constants`` works out their next values,
        kept here until the replay has moved ``step`` on; the replay then stores them
        (``_replayed``). A replay that failed leaves them pending, and the next read through
        the optimizer (a step, ``state_dict``, the next replay) sorts them out."""
        eta, mu = _scalar_state(entry, "eta"), _scalar_state(entry, "mu")
        pending = self._pending.get(id(eta))
        if pending is not None and pending[0] is eta:
            _, pending_mu, t, eta_value, mu_value = pending
            step = entry["step"]
            done = next_step(step) - 1.0
            if done >= t:
                del self._pending[id(eta)]
                if done > t:  # replays this object did not see (none, in a compiled loop)
                    eta_value, mu_value = self._next_eta_mu(group, done, eta._data.dtype, mu._data.dtype,
                                                            step._data.dtype)
                eta._data.fill(eta_value)
                if pending_mu is mu:
                    mu._data.fill(mu_value)
        return eta, mu

    def _replayed(self, group: dict[str, Any], entry: dict[str, Any]) -> None:
        self._synced(group, entry)

    def _sync_all(self) -> None:
        if not self._pending:
            return
        for group in self.param_groups:
            for p in group["params"]:
                entry = self.state.get(p)
                if entry and "eta" in entry and isinstance(entry.get("step"), Tensor):
                    self._synced(group, entry)

    # ------------------------------------------------------------------ the update
    def _scalars(self, group: dict[str, Any], dtype: np.dtype, eta: np.floating,
                 mu: np.floating) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags, ``eta`` and ``mu`` being the state's values."""
        weight_decay = as_float(group["weight_decay"])
        lambd = as_float(group["lambd"])
        capturable = bool(group["capturable"])
        if capturable:
            # 1 - lambd * eta as 0-d tensor arithmetic, in eta's dtype.
            kind = type(eta)
            param_scale = kind(1) - kind(lambd) * eta
        else:
            param_scale = 1 - lambd * float(eta)
        scalars = np.array([weight_decay, param_scale, -eta, mu], dtype)
        return scalars, (weight_decay != 0, bool(group["maximize"]), capturable or bool(mu != 1))

    def _constants(self, group: dict[str, Any], dtype: np.dtype, t: float) -> tuple[np.ndarray, tuple[bool, ...]]:
        """The kernel's scalar array and flags for ``group`` at step ``t`` (what a compiled
        replay recomputes before it runs): from the ``eta`` and ``mu`` of the group's
        parameters at step ``t - 1`` (normally all; they share them), whose values after
        step ``t`` are left pending; else (no state yet) as a run from step 0 with the current
        hyperparameters has them."""
        current = None
        for p in group["params"]:
            entry = self.state.get(p)
            if not entry or not isinstance(entry.get("step"), Tensor) or entry["step"]._data.item() != t - 1:
                continue
            eta, mu = self._synced(group, entry)
            if current is None:
                current = _value(eta), _value(mu)
            step_dtype = entry["step"]._data.dtype
            self._pending[id(eta)] = (eta, mu, t, *self._next_eta_mu(group, t, eta._data.dtype, mu._data.dtype,
                                                                       step_dtype))
        if current is None:
            step_dtype = scalar_step_dtype()
            if t > 1:
                current = self._next_eta_mu(group, t - 1, step_dtype, step_dtype, step_dtype)
            else:
                current = step_dtype.type(as_float(group["lr"])), step_dtype.type(1.0)
        return self._scalars(group, dtype, *current)

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        capturable = bool(group["capturable"])
        step_dtype = scalar_step_dtype()
        by_values: dict[tuple[np.dtype, float, float], tuple[np.ndarray, tuple[bool, ...]]] = {}
        for p, grad, dtype in with_grads(group["params"]):
            if capturable:
                check_capturable(p, what="params, mus, etas, and state_steps")
            entry = self.state.get(p)
            if not entry:
                entry = {"step": step_tensor(0.0, step_dtype), "eta": step_tensor(as_float(group["lr"]), step_dtype),
                         "mu": step_tensor(1.0, step_dtype), "ax": zeros_state(p)}
                new_state.append((p, entry))
            else:
                check_state(p, "ax", entry["ax"])
            step = entry["step"]
            t = next_step(step)
            eta, mu = self._synced(group, entry)
            # What a replay that did not run left pending is stale: this step writes both.
            self._pending.pop(id(eta), None)
            eta_value, mu_value = _value(eta), _value(mu)
            key = (dtype, float(eta_value), float(mu_value))
            cached = by_values.get(key)
            if cached is None:
                cached = by_values[key] = self._scalars(group, dtype, eta_value, mu_value)
            scalars, flags = cached
            new_eta, new_mu = self._next_eta_mu(group, t, eta._data.dtype, mu._data.dtype, step._data.dtype)
            update = plan_update(_ASGD, flags, p, grad, (entry["ax"],), scalars, step, t)
            update.kernel = _then_fill(update.kernel, eta, new_eta, mu, new_mu)
            updates.append(update)


def _then_fill(kernel: Callable[..., None], eta: Tensor, eta_value: np.floating, mu: Tensor,
               mu_value: np.floating) -> Callable[..., None]:
    """``kernel``, followed by the writes of the new ``eta`` and ``mu`` (only once every
    parameter has been planned, like the kernel itself). Their version counters are left
    alone: no autograd graph reads them, and ``tapegrad.compile`` refuses a step that bumps a
    captured tensor's version outside the ops it records."""
    def run(*args: Any) -> None:
        kernel(*args)
        eta._data.fill(eta_value)
        mu._data.fill(mu_value)

    return run
