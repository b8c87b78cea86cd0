"""The multi-class hinge losses: ``multi_margin_loss`` (one target class per sample) and
``multilabel_margin_loss`` (a ``-1``-terminated list of target classes per sample).

PyTorch runs each as one kernel; here each is recorded ops, so it runs on either device,
compiled steps record it, and gradients of any order come for free. The hinge is ``relu``, whose
gradient is zero where the margin is exactly met, as PyTorch's kernel counts only ``z > 0``.
The target's own class (and, for the multi-label loss, every target class) is masked out by
comparing class positions with the targets, so no value is read on the host except to check
that the targets are in range (skipped while a step is being compiled). The final division by
the number of classes is recorded under PyTorch's grad_fn name.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..compiler import trace
from ..ops import elementwise as ew
from ..tensor import Tensor
from .composed_losses import _reduction

__all__: list[str] = ["multi_margin_loss", "multilabel_margin_loss"]

_MULTI_MARGIN = ew.DIV.renamed("multi_margin_loss", "MultiMarginLossBackward0")
_MULTILABEL_MARGIN = ew.DIV.renamed("multilabel_margin_loss", "MultilabelMarginLossBackward0")


def _frames(input: Tensor) -> tuple[int, int]:
    """(samples, classes) of a 0-d, ``(C,)`` or ``(N, C)`` input, checked as PyTorch checks them."""
    ndim = input.ndim
    if not ((ndim == 2 and input.shape[1] != 0) or (ndim == 1 and input.shape[0] != 0) or ndim == 0):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{list(input.shape)}")
    if ndim == 2:
        return input.shape[0], input.shape[1]
    return 1, 1 if ndim == 0 else input.shape[0]


def _check_long(target: Tensor) -> None:
    if target._data.dtype != np.int64:
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.scalar_name}")


def _in_range(target: Tensor, low: int, high: int) -> bool:
    """Whether every target lies in ``[low, high)`` (assumed while a step is being compiled,
    where reading the values would freeze them into the replay)."""
    if trace.ACTIVE is not None or target.numel() == 0:
        return True
    values = target.detach().cpu().numpy()
    return bool(values.min() >= low and values.max() < high)


def _classes(count: int, like: Tensor) -> Tensor:
    from ..creation import _constant_like

    return _constant_like(np.arange(count), like)


def _reduced(h: Tensor, classes: int, reduction: str, op: Any, shape: tuple[int, ...]) -> Tensor:
    """The per-sample sums of hinge terms ``h`` (samples by anything) over ``classes``, reduced,
    the last division recorded as ``op``."""
    per_sample = h.sum(tuple(range(1, h.ndim)))
    if reduction == "none":
        return ew.apply(op, (per_sample.reshape(shape), classes))
    total = per_sample.sum()
    return ew.apply(op, (total, classes * (per_sample.shape[0] if reduction == "mean" else 1)))


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """The multi-class hinge loss: for each sample with target class ``y``, the mean over the
    other classes ``i`` of ``max(0, margin - x[y] + x[i]) ** p`` (``p`` 1 or 2), times
    ``weight[y]``.

    >>> F.multi_margin_loss(tapegrad.tensor([[0.1, 0.2, 0.4, 0.8]]), tapegrad.tensor([3]))
    tensor(0.3250)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    samples, classes = _frames(input)
    if target.ndim > 1 or target.numel() != samples:
        raise RuntimeError("multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                           f"samples (batch size). Expected target size [{samples}], but got {list(target.shape)}. "
                           f"Input has shape {list(input.shape)}.")
    if weight is not None and weight.numel() != classes:
        raise RuntimeError(f"inconsistent weight size, expected {classes} but got {list(weight.shape)}")
    _check_long(target)
    if not input.is_floating_point():
        raise NotImplementedError(f"\"multi_margin_loss_cpu_kernel\" not implemented for '{input.dtype.scalar_name}'")
    if not _in_range(target, 0, classes):
        raise RuntimeError("target out of range")
    x = input.reshape((samples, classes))
    y = target.reshape((samples, 1))
    h = ew.relu(ew.add(ew.sub(x, x.gather(1, y)), margin))
    if p == 2:
        h = ew.mul(h, h)
    if weight is not None:
        h = ew.mul(h, weight.index_select(0, y.reshape(-1)).reshape((samples, 1)))
    h = ew.mul(h, ew.ne(_classes(classes, input), y).to(input.dtype))  # not the target's own class
    return _reduced(h, classes, reduction, _MULTI_MARGIN, tuple(target.shape))


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                           reduction: str = "mean") -> Tensor:
    """The multi-label hinge loss: ``target`` lists each sample's classes, ended by the first
    ``-1``; each pair of a target class ``j`` and a non-target class ``i`` adds
    ``max(0, 1 - (x[j] - x[i]))``, and the sum is divided by the number of classes.

    >>> F.multilabel_margin_loss(tapegrad.tensor([[0.1, 0.2, 0.4, 0.8]]), tapegrad.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    reduction = _reduction(size_average, reduce, reduction)
    samples, classes = _frames(input)
    if input.ndim <= 1:
        consistent = target.ndim <= 1 and target.numel() == classes
    else:
        consistent = target.ndim == 2 and tuple(target.shape) == (samples, classes)
    if not consistent:
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    _check_long(target)
    if not input.is_floating_point():
        raise NotImplementedError(f"\"multilabel_margin_loss_forward_out_frame\" not implemented for "
                                  f"'{input.dtype.scalar_name}'")
    if not _in_range(target, -1, classes):
        raise RuntimeError("argument #2 'target' is out of range")
    x = input.reshape((samples, classes))
    labels = target.reshape((samples, classes))
    # The labels before each sample's first -1, and the classes among them.
    listed = ew.eq(ew.eq(labels, -1).cumsum(1), 0)  # (samples, slots)
    matches = ew.logical_and(ew.eq(labels.unsqueeze(2), _classes(classes, input)), listed.unsqueeze(2))
    others = ew.eq(matches.sum(1), 0).to(input.dtype)  # (samples, classes): not a target class
    picked = x.gather(1, ew.mul(labels, listed))  # the listed classes' scores (class 0 elsewhere)
    h = ew.relu(ew.add(ew.sub(x.unsqueeze(1), picked.unsqueeze(2)), 1.0))  # (samples, slots, classes)
    h = ew.mul(ew.mul(h, others.unsqueeze(1)), listed.to(input.dtype).unsqueeze(2))
    return _reduced(h, classes, reduction, _MULTILABEL_MARGIN, () if input.ndim <= 1 else (samples,))
