"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad``, ``state_dict`` and the
fused step that the concrete optimizers share.

A concrete optimizer (``SGD``, ``Adam``, ...) only says, per parameter, which fused kernel to run
with which buffers and scalars (its ``_plan`` method, built from ``with_grads``, ``_state_entry``
and ``plan_update``). ``_fused_step`` first plans every
parameter of every group, which reads and validates everything and allocates new state, and
only then runs the kernels. So bad input (a gradient of the wrong shape, a state tensor of the
wrong size, a hyperparameter that is not a number) raises before any parameter or state has
changed.
"""
from __future__ import annotations

from collections import defaultdict
from copy import deepcopy
from itertools import chain
from typing import Any, Callable, Iterable

import numpy as np

from .. import dtypes as _dtypes
from ..autograd.grad_mode import enable_grad
from ..nn.parameter import zero_grads
from ..tensor import Tensor, _wrap
from ..compiler import trace
from ..compiler import rules
from ._fused import Update, check_state, zeros_state
from ..user_warnings import warn_user

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
StateDict = dict[str, Any]


def _record_update(tracer: "trace.Tracer", optimizer: "Optimizer", group: dict[str, Any], update: Update) -> None:
    """Report one parameter's update to the tracer. Its scalars (learning rate, bias
    corrections) are recomputed by Python before every replay, from the group's current
    hyperparameters and the advanced step counter, so schedulers keep working."""
    if update.copy_back:
        raise trace.TraceError("tapegrad.compile: optimizers over non-contiguous parameters are not supported")
    param, grad, *buffers = update.tensors
    step = update.step
    flags = update.flags
    dtype = param._data.dtype
    kernel_scalars = update.args[-1]
    held = tuple(b for b in (*buffers, step) if b is not None)
    names: list[tuple[str, Tensor]] = []  # where ``held`` sits in the state entry, found at the first replay
    # State kept on the host (NAdam's mu_product, ASGD's eta and mu) is stored once the
    # replay has run, so that ``optimizer.state`` reads as after an eager step.
    stores_host_state = type(optimizer)._replayed is not Optimizer._replayed

    def scalars(memo: dict) -> tuple[np.ndarray, Any]:
        # Stateless updates (plain SGD) keep no entry, so there is nothing to have been replaced.
        # (``optimizer.state`` is read each time: load_state_dict replaces the dict.)
        if held:
            entry = optimizer.state.get(param)
            if entry is not None and not names:
                names.extend((key, value) for key, value in entry.items() if any(value is b for b in held))
            if entry is None or len(names) != len(held) or any(entry.get(key) is not value for key, value in names):
                from ..compiler.replay import GuardFailure
                raise GuardFailure(f"{type(optimizer).__name__}'s state was replaced (load_state_dict?)")
        t = 0.0
        if step is not None:
            t = step._data.item() + 1.0
        # One replay updates every parameter of a group with the same scalars (unless their
        # step counts differ): ``memo`` lives for one replay, so they are computed once.
        key = (id(group), dtype, t)
        constants = memo.get(key)
        if constants is None:
            constants = memo[key] = optimizer._constants(group, dtype, t)
        values, now = constants
        if now != flags:
            from ..compiler.replay import GuardFailure
            raise GuardFailure(f"{type(optimizer).__name__} options changed to {now} (traced with {flags})")
        if step is None:
            return values, None

        def commit() -> None:
            # The step counter moves only once the replay has run (its version is bumped then too).
            step._data.fill(t)
            if stores_host_state:
                entry = optimizer.state.get(param)
                if entry is not None:
                    optimizer._replayed(group, entry)

        return values, commit

    scalars.__name__ = f"{type(optimizer).__name__.lower()}_scalars"
    host = tracer.host(scalars, kernel_scalars)
    # State this call created (a parameter seen for the first time) stays in optimizer.state:
    # later replays read it there. A first-step flag, if any, makes the next call retrace.
    for tensor in (*buffers, step):
        if tensor is not None:
            tracer.adopt(tensor)
    written = tuple(b for b in [param, *buffers] if b is not None)
    present = tuple(b is not None for b in buffers)
    tracer.emit(rules.FUSED_UPDATE, (param, grad, *(b for b in buffers if b is not None), host),
                tuple(t._data for t in written), (update.fused, flags, present), into=written)
    if step is not None:
        key = id(step._counter)
        tracer.bumps[key] = tracer.bumps.get(key, 0) + 1


class _RequiredParameter:
    """Marks a hyperparameter that every parameter group must give (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def typename(obj: Any) -> str:
    """The type name PyTorch's messages use: ``tapegrad.FloatTensor``, ``int``, ``module.Class``."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def scalar_step_dtype(fused: bool | None = None) -> np.dtype:
    """The dtype of a ``step`` state tensor: float32, or float64 under a float64 default dtype
    (PyTorch's rule; its fused kernels always keep float32)."""
    if not fused and _dtypes.get_default_dtype() is _dtypes.float64:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def step_tensor(value: float, dtype: np.dtype) -> Tensor:
    """A 0-d ``step`` counter as PyTorch keeps it for Adam, AdamW, RMSprop and Adagrad."""
    return _wrap(np.array(value, dtype=dtype))


class Optimizer:
    """Base class of all optimizers: holds ``param_groups`` and per-parameter ``state``.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts each
    defining a parameter group (a ``"params"`` entry plus hyperparameters overriding
    ``defaults``).

    >>> import tapegrad
    >>> w = tapegrad.zeros(3, requires_grad=True)
    >>> opt = tapegrad.optim.SGD([{"params": [w]}], lr=0.1)
    >>> (w - 1.0).pow(2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.2000, 0.2000, 0.2000], requires_grad=True)
    """

    # Keys of a state entry that stay as saved on load (PyTorch never casts ``step``).
    _uncast_state_keys = ("step",)

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            "dicts, but got " + typename(params))
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ------------------------------------------------------------------ pickling and repr
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ------------------------------------------------------------------ parameter groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own hyperparameters) to ``param_groups``.

        >>> import tapegrad
        >>> a, b = tapegrad.zeros(2, requires_grad=True), tapegrad.zeros(2, requires_grad=True)
        >>> opt = tapegrad.optim.SGD([a], lr=0.1)
        >>> opt.add_param_group({"params": [b], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors: list[Any] = []
        names: list[Any] = []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names

        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + typename(param))
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        if len(tensors) != len(set(tensors)):
            warn_user("optimizer contains a parameter group with duplicate parameters; in future, this will "
                      "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information")

        existing: set[Tensor] = set()
        for group in self.param_groups:
            existing.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not existing.isdisjoint(tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: drop it (``set_to_none``) or zero it in place."""
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; ``closure`` (if given) re-evaluates the loss first and
        its value is returned. Each optimizer defines it."""
        raise NotImplementedError

    def _plan(self, group: dict[str, Any], updates: list[Update], new_state: list[tuple[Tensor, dict]]) -> None:
        """Append one ``Update`` per parameter of ``group`` that has a gradient, validating
        everything it reads. State for a parameter seen for the first time goes to
        ``new_state`` (committed only once every group planned)."""
        raise NotImplementedError

    def _fused_step(self, closure: Callable[[], Any] | None) -> Any:
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        updates: list[Update] = []
        groups: list[dict[str, Any]] = []
        new_state: list[tuple[Tensor, dict]] = []
        for group in self.param_groups:
            self._plan(group, updates, new_state)
            groups += [group] * (len(updates) - len(groups))
        state = self.state
        for param, entry in new_state:
            state[param] = entry
        tracer = trace.ACTIVE
        for update, group in zip(updates, groups):
            if tracer is not None:
                _record_update(tracer, self, group, update)
            update.run()
        return loss

    def _constants_for(self, cache: dict, group: dict[str, Any], dtype: Any, t: float) -> Any:
        """``self._constants(group, dtype, t)`` (an optimizer's scalar array and flags), made once
        per dtype and step count in ``cache``: a group's parameters normally share both."""
        found = cache.get((dtype, t))
        if found is None:
            found = cache[(dtype, t)] = self._constants(group, dtype, t)
        return found

    def _replayed(self, group: dict[str, Any], entry: dict[str, Any]) -> None:
        """Store the state a compiled replay worked out on the host for ``entry`` (whose
        ``step`` the replay has just moved on). Most optimizers keep none: their kernels
        write all of their state."""

    def _state_entry(self, param: Tensor, names: tuple[str, ...], step_dtype: np.dtype,
                     new_state: list[tuple[Tensor, dict]]) -> dict[str, Any]:
        """``param``'s state entry for a ``_plan``: a new one (a zero ``step`` and zero buffers
        ``names``, in that order) is appended to ``new_state``; an existing one has those
        buffers checked."""
        entry = self.state.get(param)
        if not entry:
            entry = {"step": step_tensor(0.0, step_dtype)}
            for name in names:
                entry[name] = zeros_state(param)
            new_state.append((param, entry))
        else:
            for name in names:
                check_state(param, name, entry[name])
        return entry

    def _steps_to_tensors(self, group: dict[str, Any], step_dtype: np.dtype) -> None:
        """For ``__setstate__``: old checkpoints keep ``step`` as a number; PyTorch turns it into
        a 0-d tensor."""
        for p in group["params"]:
            entry = self.state.get(p)
            if entry and not isinstance(entry["step"], Tensor):
                entry["step"] = step_tensor(float(entry["step"]), step_dtype)

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self) -> StateDict:
        """The optimizer's state in PyTorch's layout: ``{"state": {index: {...}},
        "param_groups": [{..., "params": [index, ...]}]}``; parameters are numbered in group
        order and the state tensors are the live ones (as in PyTorch).

        >>> import tapegrad
        >>> w = tapegrad.zeros(2, requires_grad=True)
        >>> opt = tapegrad.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.sum().backward(); opt.step()
        >>> sd = opt.state_dict()
        >>> sd["state"][0]["momentum_buffer"], sd["param_groups"][0]["params"]
        (tensor([1., 1.]), [0])
        """
        mapping: dict[int, int] = {}
        start = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): dict(v) for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Load a ``state_dict()``: hyperparameters from its groups, state matched to this
        optimizer's parameters by position. State tensors are copied (and cast to their
        parameter's dtype, except ``step``)."""
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param: Tensor, value: Any, key: Any = None) -> Any:
            if isinstance(value, Tensor):
                data = value._data
                if key not in self._uncast_state_keys and param._data.dtype.kind == "f":
                    data = data.astype(param._data.dtype)
                return _wrap(np.array(data, order="C"))
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return value

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = cast(param, value)
            else:
                state[key] = value

        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})


def check_options(differentiable: bool, fused: bool | None, foreach: bool | None) -> None:
    """The option checks every optimizer makes: PyTorch's ``fused``/``foreach`` conflict, and
    ``differentiable`` (a step recorded for autograd), which fused kernels cannot give."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("tapegrad optimizers update parameters with fused kernels outside autograd; "
                                  "differentiable=True is not supported")


# How PyTorch's messages name a hyperparameter that is out of range.
_INVALID_NAMES = {"lr": "learning rate", "eps": "epsilon value"}


def check_non_negative(**values: Any) -> None:
    """PyTorch's constructor checks, in the order given: a tensor ``lr`` must have one element,
    and every value must be at least 0 (so NaN fails)."""
    for name, value in values.items():
        if name == "lr" and isinstance(value, Tensor) and value.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_INVALID_NAMES.get(name, name + ' value')}: {value}")


def set_defaults(group: dict[str, Any], **defaults: Any) -> None:
    """For ``__setstate__``: give a parameter group the options older checkpoints lack."""
    for key, value in defaults.items():
        group.setdefault(key, value)


def as_float(value: Any) -> float:
    """A hyperparameter as a Python float (a 1-element tensor ``lr`` is allowed, as in PyTorch)."""
    return float(value)
