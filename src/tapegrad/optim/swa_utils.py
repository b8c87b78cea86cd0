"""``tapegrad.optim.swa_utils``: stochastic weight averaging (SWA) and exponential moving
averages (EMA) of a model's weights, as in PyTorch's ``torch.optim.swa_utils``.

``AveragedModel`` keeps a copy of a model whose parameters (and optionally buffers) are a
running average of the model's; ``SWALR`` anneals the learning rate to a constant for the
averaging phase; ``update_bn`` recomputes BatchNorm statistics for the averaged weights.
"""
from __future__ import annotations

import itertools
import math
from copy import deepcopy
from typing import Any, Callable, Iterable, Literal, Sequence

from .. import dtypes as _dtypes
from ..autograd.grad_mode import no_grad
from ..creation import tensor as _tensor
from ..nn.layers import _BatchNorm, _InstanceNorm
from ..nn.module import Module
from ..tensor import Tensor
from .lr_scheduler import LRScheduler, _format_param, _warn_get_lr_called_within_step
from .optimizer import Optimizer

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]

ParamList = Sequence[Tensor]
AvgFn = Callable[[Tensor, Tensor, "Tensor | int"], Tensor]
MultiAvgFn = Callable[[ParamList, ParamList, "Tensor | int"], None]

# Devices on which PyTorch's default average takes its multi-tensor (``_foreach``) path.
_FOREACH_DEVICES = ("cuda",)


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """An in-place EMA over lists of tensors: ``ema = decay * ema + (1 - decay) * current``
    (a ``lerp_`` with weight ``1 - decay`` for floating tensors). For ``AveragedModel``'s
    ``multi_avg_fn``.

    >>> import tapegrad
    >>> ema, current = [tapegrad.zeros(2)], [tapegrad.ones(2)]
    >>> get_ema_multi_avg_fn(0.75)(ema, current, 1)
    >>> ema[0]
    tensor([0.2500, 0.2500])
    """
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        if ema_param_list[0].is_floating_point():
            for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                p_ema.lerp_(p_model, 1 - decay)
        else:
            for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """An in-place running mean over lists of tensors: ``avg += (current - avg) / (n + 1)``
    after ``n`` models were averaged. For ``AveragedModel``'s ``multi_avg_fn``.

    >>> import tapegrad
    >>> avg, current = [tapegrad.zeros(2)], [tapegrad.ones(2)]
    >>> get_swa_multi_avg_fn()(avg, current, 3)
    >>> avg[0]
    tensor([0.2500, 0.2500])
    """

    @no_grad()
    def swa_update(averaged_param_list: ParamList, current_param_list: ParamList,
                   num_averaged: Tensor | int) -> None:
        if averaged_param_list[0].is_floating_point():
            weight = 1 / (num_averaged + 1)
            # PyTorch passes this 0-d tensor (of the default dtype) as a Python number, so the
            # weight is rounded to that dtype even for float64 parameters.
            if isinstance(weight, Tensor):
                weight = weight.item()
            for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
                p_avg.lerp_(p_model, weight)
        else:
            diffs = [current - averaged for current, averaged in zip(current_param_list, averaged_param_list)]
            if isinstance(num_averaged, Tensor):
                for p_avg, diff in zip(averaged_param_list, diffs):
                    p_avg.addcdiv_(diff, num_averaged + 1)
            else:
                for p_avg, diff in zip(averaged_param_list, diffs):
                    p_avg.add_(diff, alpha=1.0 / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The EMA of one tensor: returns ``decay * ema + (1 - decay) * current``. For
    ``AveragedModel``'s ``avg_fn``.

    >>> import tapegrad
    >>> get_ema_avg_fn(0.5)(tapegrad.zeros(2), tapegrad.ones(2), 1)
    tensor([0.5000, 0.5000])
    """
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The running mean of one tensor: returns ``avg + (current - avg) / (n + 1)``. For
    ``AveragedModel``'s ``avg_fn``.

    >>> import tapegrad
    >>> get_swa_avg_fn()(tapegrad.zeros(2), tapegrad.ones(2), 1)
    tensor([0.5000, 0.5000])
    """

    @no_grad()
    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Tensor | int) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _group_by_device_and_dtype(averaged: list[Tensor], current: list[Tensor]) -> dict[Any, tuple[list, list]]:
    """Pairs of tensors grouped by the averaged tensor's device and dtype, in order of first
    appearance (PyTorch's ``_group_tensors_by_device_and_dtype``)."""
    groups: dict[Any, tuple[list, list]] = {}
    for p_averaged, p_model in zip(averaged, current):
        mine, theirs = groups.setdefault((p_averaged.device, p_averaged.dtype), ([], []))
        mine.append(p_averaged)
        theirs.append(p_model)
    return groups


class AveragedModel(Module):
    """A copy of ``model`` (on ``device``, if given) whose weights ``update_parameters(model)``
    turns into a running average of ``model``'s: an equal-weight mean (SWA) by default, or
    what ``avg_fn`` (one tensor at a time) or ``multi_avg_fn`` (lists, in place) computes.
    The first update copies the weights. With ``use_buffers`` the buffers are averaged too;
    otherwise they are copied from ``model`` at each update. ``n_averaged`` counts the updates.
    Calling it runs the copy's ``forward``.

    >>> import tapegrad
    >>> model = tapegrad.nn.Linear(2, 1)
    >>> swa = AveragedModel(model)
    >>> with tapegrad.no_grad():
    ...     _ = model.bias.fill_(1.0)
    ...     swa.update_parameters(model)
    ...     _ = model.bias.fill_(3.0)
    ...     swa.update_parameters(model)
    >>> swa.module.bias, swa.n_averaged
    (Parameter containing:
    tensor([2.], requires_grad=True), tensor(2))
    """

    n_averaged: Tensor

    def __init__(self, model: Module, device: Any = None, avg_fn: AvgFn | None = None,
                 multi_avg_fn: MultiAvgFn | None = None, use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", _tensor(0, dtype=_dtypes.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current weights into this copy's (copy them the first time)."""
        if self.use_buffers:
            self_params: Iterable[Tensor] = itertools.chain(self.module.parameters(), self.module.buffers())
            model_params: Iterable[Tensor] = itertools.chain(model.parameters(), model.buffers())
        else:
            # ``self.parameters()`` are the copy's parameters (the counter is a buffer).
            self_params, model_params = self.parameters(), model.parameters()
        self_detached: list[Tensor] = []
        model_detached: list[Tensor] = []
        copy_param = bool(self.n_averaged == 0)
        # Tensors are paired by position (PyTorch's zip is not strict here). Every write goes
        # through a detached alias, so nothing is recorded for autograd.
        for p_averaged, p_model in zip(self_params, model_params):
            p_model_ = p_model.detach().to(p_averaged.device)
            self_detached.append(p_averaged.detach())
            model_detached.append(p_model_)
            if copy_param:
                p_averaged.detach().copy_(p_model_)

        if self.n_averaged > 0:
            if self.multi_avg_fn is not None or self.avg_fn is None:
                self._average_groups(self_detached, model_detached)
            else:
                for p_averaged, p_model in zip(self_detached, model_detached, strict=True):
                    n_averaged = self.n_averaged.to(p_averaged.device)
                    p_averaged.detach().copy_(self.avg_fn(p_averaged.detach(), p_model, n_averaged))

        if not self.use_buffers:
            # Buffers are not averaged: keep them in sync with the source model.
            for b_swa, b_model in zip(self.module.buffers(), model.buffers(), strict=True):
                b_swa.detach().copy_(b_model.detach().to(b_swa.device))
        self.n_averaged += 1

    def _average_groups(self, averaged: list[Tensor], current: list[Tensor]) -> None:
        """``multi_avg_fn`` (or the default mean) over each device-and-dtype group. As in
        PyTorch, the default mean is the multi-tensor ``lerp_`` form on CUDA and the one-tensor
        form elsewhere (the two round differently)."""
        for (device, _), (self_group, model_group) in _group_by_device_and_dtype(averaged, current).items():
            n_averaged = self.n_averaged.to(device)
            if self.multi_avg_fn:
                self.multi_avg_fn(self_group, model_group, n_averaged)
            elif device.type in _FOREACH_DEVICES:
                get_swa_multi_avg_fn()(self_group, model_group, n_averaged)
            else:
                avg_fn = get_swa_avg_fn()
                for p_averaged, p_model in zip(self_group, model_group, strict=True):
                    p_averaged.copy_(avg_fn(p_averaged, p_model, n_averaged))


def _is_batch_norm(module: Module) -> bool:
    # tapegrad's instance norms derive from _BatchNorm; PyTorch's do not, and update_bn leaves
    # them alone.
    return isinstance(module, _BatchNorm) and not isinstance(module, _InstanceNorm)


@no_grad()
def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the running statistics of ``model``'s BatchNorm layers by one pass over
    ``loader`` (each batch a tensor, or a list or tuple whose first item is the input, moved
    to ``device`` if given). The statistics are reset first and the pass averages over all
    batches equally (momentum ``None``); the layers' momenta and the model's training mode are
    restored afterwards.

    >>> import tapegrad
    >>> model = tapegrad.nn.BatchNorm1d(1)
    >>> loader = [tapegrad.tensor([[0.0], [2.0]]), tapegrad.tensor([[4.0], [6.0]])]
    >>> update_bn(loader, model)
    >>> model.running_mean, model.num_batches_tracked
    (tensor([3.]), tensor(2))
    """
    momenta: dict[Module, float | None] = {}
    for module in model.modules():
        if _is_batch_norm(module):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return

    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for input in loader:
        if isinstance(input, (list, tuple)):
            input = input[0]
        if device is not None:
            input = input.to(device)
        model(input)
    for bn_module in momenta:
        bn_module.momentum = momenta[bn_module]
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's learning rate to ``swa_lr`` (one value, or one per group) over
    ``anneal_epochs`` epochs, along half a cosine (``"cos"``) or a line (``"linear"``), then
    hold it there: the schedule for the averaging phase of SWA.

    >>> import tapegrad
    >>> opt = tapegrad.optim.SGD([tapegrad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = SWALR(opt, swa_lr=0.25, anneal_epochs=3, anneal_strategy="linear")
    >>> rates = []
    >>> for _ in range(4):
    ...     opt.step()
    ...     sched.step()
    ...     rates.append(round(sched.get_last_lr()[0], 6))
    >>> rates
    [0.75, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float | Sequence[float], anneal_epochs: int = 10,
                 anneal_strategy: Literal["cos", "linear"] = "cos", last_epoch: int = -1) -> None:
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for group_swa_lr, group in zip(swa_lrs, optimizer.param_groups, strict=True):
            group["swa_lr"] = group_swa_lr
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: Any, swa_lr: Any, alpha: float) -> Any:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[Any]:
        """The next rates: the rate the annealing started from is recovered from the current
        one (so other schedulers may have changed it), then moved ``alpha`` of the way to
        ``swa_lr``."""
        _warn_get_lr_called_within_step(self)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs, strict=True)]

    def _set_anneal_func(self, anneal_strategy: Literal["cos", "linear"]) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer and the annealing function."""
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
