"""``F.ctc_loss``: the connectionist temporal classification loss, as recorded ops.

For each sample the target ``l`` becomes the extended sequence ``blank, l1, blank, l2, ...,
blank`` and the forward variables ``alpha`` run over time in log space, as in Graves et al.
(2006): ``alpha_t(s)`` is the log-sum-exp of ``alpha_{t-1}`` at ``s``, ``s - 1`` and (between
different labels) ``s - 2``, plus the log-probability of the extended label at ``t``. The loss
is minus the log-sum-exp of the last two forward variables at the sample's last time step. The
batch runs together: each step is a few ops over ``(N, 2 * S + 1)``, and samples whose input has
ended keep their variables.

Unreachable states hold a large finite negative number instead of ``-inf``, so that no
log-sum-exp sees only ``-inf`` (whose gradient is NaN); their contributions underflow to zero. A
sample no alignment can explain gets an infinite loss (and, as in PyTorch, a gradient that is
not finite), or zero and a zero gradient with ``zero_infinity``.

PyTorch's kernel returns as the gradient of ``log_probs`` the gradient of the logits they are
the ``log_softmax`` of (it adds ``exp(log_probs)`` at each valid time step); so does this one,
so ``log_probs.grad`` matches PyTorch's as well as the logits' gradient.

Target labels and lengths are read on the host, so compiled steps refuse this loss.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import creation
from ..ops import elementwise as ew
from ..ops.movement import cat, stack
from ..tensor import Tensor

__all__ = ["ctc_loss"]

# Log-probability of an unreachable state: exp() of it, or of its difference from a reachable
# one, is 0, and sums of a few thousand of them stay finite in float32.
_UNREACHABLE = -1e30


def _lengths(name: str, value: Any, batch: int) -> np.ndarray:
    array = value.numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)
    array = array.astype(np.int64).reshape(-1)
    if array.shape[0] != batch:
        raise RuntimeError(f"Expected {name} to have {batch} elements, but got {array.shape[0]}")
    return array


def _labels(targets: Tensor, target_lengths: np.ndarray) -> list[np.ndarray]:
    """Each sample's target labels, from padded ``(N, S)`` or concatenated 1-D targets."""
    values = targets.numpy(force=True).astype(np.int64)
    if values.ndim == 1:
        if values.shape[0] < target_lengths.sum():
            raise RuntimeError(f"Expected tensor to have size at least {int(target_lengths.sum())} at dimension 0, "
                               f"but got size {values.shape[0]} for argument #2 'targets' (while checking arguments "
                               "for ctc_loss_allocate_outputs)")
        starts = np.concatenate([[0], np.cumsum(target_lengths)[:-1]])
        return [values[s:s + n] for s, n in zip(starts, target_lengths)]
    longest = int(target_lengths.max()) if target_lengths.size else 0
    if values.shape[1] < longest:
        raise RuntimeError(f"Expected tensor to have size at least {longest} at dimension 1, but got size "
                           f"{values.shape[1]} for argument #2 'targets' (while checking arguments for "
                           "ctc_loss_allocate_outputs)")
    return [row[:n] for row, n in zip(values, target_lengths)]


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of ``(T, N, C)`` (or unbatched ``(T, C)``) log-probabilities against targets
    (padded ``(N, S)``, or concatenated), each sample using its first ``input_lengths[n]`` steps
    and ``target_lengths[n]`` labels. ``'mean'`` divides each loss by its target length first.

    >>> log_probs = tapegrad.tensor([[[-0.1, -2.4]], [[-2.4, -0.1]]])
    >>> F.ctc_loss(log_probs, tapegrad.tensor([[1]]), (2,), (1,), reduction="sum")
    tensor(0.0954)
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.reshape(1, -1)
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise RuntimeError("blank must be in label range")
    input_lengths = _lengths("input_lengths", input_lengths, batch)
    target_lengths = _lengths("target_lengths", target_lengths, batch)
    for length in input_lengths:
        if length > steps:
            raise RuntimeError(f"Expected input_lengths to have value at most {steps}, but got value {length} (while "
                               "checking arguments for ctc_loss_allocate_outputs)")
    labels = _labels(targets, target_lengths)
    width = 2 * int(target_lengths.max(initial=0)) + 1
    extended = np.full((batch, width), blank, np.int64)
    for n, row in enumerate(labels):
        extended[n, 1:2 * len(row):2] = row
    s = np.arange(width)
    inside = s[None, :] < 2 * target_lengths[:, None] + 1
    # From s - 2 only onto a label that differs from the one before the blank between them.
    skip = inside & (s >= 2) & (extended != blank) & (extended != np.roll(extended, 2, axis=1))

    def const(values: np.ndarray) -> Tensor:
        return creation._constant_like(values, log_probs)

    index = np.broadcast_to(extended[None], (steps, batch, width))
    emitted = ew.where(const(inside[None]), log_probs.gather(2, const(np.ascontiguousarray(index))), _UNREACHABLE)
    alpha = ew.where(const(inside & (s[None, :] < 2)), emitted[0], _UNREACHABLE)
    border = creation.full((batch, 2), _UNREACHABLE, dtype=log_probs.dtype, device=log_probs.device)
    skip_t = const(skip)
    for t in range(1, int(input_lengths.max(initial=1))):
        shifted = cat([border[:, :1], alpha[:, :-1]], 1)
        skipped = ew.where(skip_t, cat([border, alpha[:, :-2]], 1), _UNREACHABLE)
        advanced = stack([alpha, shifted, skipped]).logsumexp(0) + emitted[t]
        alpha = ew.where(const((t < input_lengths)[:, None] & inside), advanced, alpha)
    ends = 2 * target_lengths
    last = alpha.gather(1, const(ends[:, None]))
    before = ew.where(const((ends >= 1)[:, None]), alpha.gather(1, const(np.maximum(ends - 1, 0)[:, None])),
                      _UNREACHABLE)
    nll = -cat([last, before], 1).logsumexp(1)
    # PyTorch's gradient for log_probs is that of the logits under a log_softmax: add exp(log_probs)
    # over each sample's steps, by a term whose value is exactly zero.
    probabilities = log_probs.exp()
    steps_used = const((np.arange(steps)[:, None] < input_lengths[None, :])[:, :, None])
    nll = nll + ew.where(steps_used, probabilities - probabilities.detach(), 0.0).sum((0, 2))
    impossible = nll > -_UNREACHABLE / 10
    if zero_infinity:
        losses = ew.where(impossible, 0.0, nll)
    else:
        losses = nll * ew.where(impossible, math.inf, 1.0)  # inf, and a gradient that is not finite
    if reduction == "none":
        return losses[0] if unbatched else losses
    if reduction == "sum":
        return losses.sum()
    counts = const(np.maximum(target_lengths, 1).astype(log_probs._data.dtype))
    return (losses / counts).mean()
