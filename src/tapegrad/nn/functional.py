"""``tapegrad.nn.functional``: activations and losses.

Losses that PyTorch reports under a grad_fn of their own (``MseLossBackward0``,
``BinaryCrossEntropyWithLogitsBackward0``, ``NllLossBackward0``, …) are recorded as one step
with their own VJP; the rest are compositions of ops.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..ops import elementwise as ew
from ..ops.conv import *  # noqa: F401,F403  (conv2d, max_pool2d, avg_pool2d)
from ..ops.layers import *  # noqa: F401,F403  (dropout, layer_norm, batch_norm, embedding)
from ..ops.composite import _without_grad, log_softmax, softmax  # noqa: F401  (F.softmax)
from ..ops.index import scatter_into_zeros
from ..ops.matmul import linear
from ..ops.registry import OpDef, record
from ..tensor import Tensor, _wrap

relu = ew.relu
sigmoid = ew.sigmoid
tanh = ew.tanh
linear = linear


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return ew.softplus(input, beta, threshold)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _reduce_scale(g: Tensor, reduction: str, numel: int) -> Tensor:
    return g / numel if reduction == "mean" else g


def _check_same_size(name: str, input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")


# ---------------------------------------------------------------- regression losses

def _mse_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    input, target = step.saved_values()
    (reduction,) = step.attrs
    diff = (input - target) * _reduce_scale(g, reduction, input.numel()) * 2
    return (diff if step.needs_input_grad(0) else None, -diff if step.needs_input_grad(1) else None)


MSE_LOSS = OpDef("mse_loss", "MseLossBackward0", _mse_vjp)


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Mean squared error.

    >>> F.mse_loss(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 4.]))
    tensor(4.)
    """
    _check_reduction(reduction)
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have "
                      "the same size.", UserWarning, stacklevel=2)
        shape = ew._broadcast_shape((input, target))
        input, target = input.expand(shape), target.expand(shape)
    out = _without_grad(lambda: _reduce((input - target) ** 2, reduction))
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(MSE_LOSS, (input, target), out, (reduction,), saved=(input, target))
    return out


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    return _reduce((input - target).abs(), reduction)


def _smooth_l1_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    input, target = step.saved_values()
    reduction, beta = step.attrs
    diff = input - target
    slope = diff.sign() if beta == 0 else ew.where(diff.abs() < beta, diff / beta, diff.sign())
    grad = slope * _reduce_scale(g, reduction, input.numel())
    return (grad if step.needs_input_grad(0) else None, -grad if step.needs_input_grad(1) else None)


SMOOTH_L1_LOSS = OpDef("smooth_l1_loss", "SmoothL1LossBackward0", _smooth_l1_vjp)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Quadratic below ``beta``, linear above it (``beta=0`` is the L1 loss)."""
    _check_reduction(reduction)
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)

    def forward() -> Tensor:
        diff = (input - target).abs()
        if beta == 0:
            return _reduce(diff, reduction)
        return _reduce(ew.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta), reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(SMOOTH_L1_LOSS, (input, target), out, (reduction, float(beta)), saved=(input, target))
    return out


# ---------------------------------------------------------------- binary cross entropy

def _bce_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
    input, target, weight = step.saved_values()
    (reduction,) = step.attrs
    scale = _reduce_scale(g, reduction, input.numel())
    grad = scale * (input - target) / ((1 - input) * input).clamp_min(1e-12)
    if weight is not None:
        grad = grad * weight
    grad_target = None
    if step.needs_input_grad(1):
        grad_target = scale * ((1 - input).log().clamp_min(-100) - input.log().clamp_min(-100))
        if weight is not None:
            grad_target = grad_target * weight
    return grad if step.needs_input_grad(0) else None, grad_target, None


BCE = OpDef("binary_cross_entropy", "BinaryCrossEntropyBackward0", _bce_vjp)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    _check_same_size("binary_cross_entropy", input, target)
    if input.numel() and (float(input._data.min()) < 0 or float(input._data.max()) > 1):
        raise RuntimeError("all elements of input should be between 0 and 1")

    def forward() -> Tensor:
        # log is clamped at -100 as in PyTorch, so a saturated prediction gives a finite loss.
        loss = -(target * input.log().clamp_min(-100) + (1 - target) * (1 - input).log().clamp_min(-100))
        return _reduce(loss * weight if weight is not None else loss, reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(BCE, (input, target, weight), out, (reduction,), saved=(input, target, weight))
    return out


def _bce_logits_terms(input: Tensor, target: Tensor, pos_weight: Tensor | None) -> Tensor:
    # log(1 + exp(-|x|)) + max(-x, 0) is log(1 + exp(-x)) without overflow.
    log_sigmoid_neg = (-input.abs()).exp().log1p() + (-input).clamp_min(0)
    if pos_weight is None:
        return (1 - target) * input + log_sigmoid_neg
    log_weight = (pos_weight - 1) * target + 1
    return (1 - target) * input + log_weight * log_sigmoid_neg


def _bce_logits_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
    input, target, weight, pos_weight = step.saved_values()
    (reduction,) = step.attrs
    scale = _reduce_scale(g, reduction, input.numel())
    s = input.sigmoid()
    if pos_weight is None:
        grad = (s - target) * scale
    else:
        grad = (((pos_weight - 1) * target + 1) * s - pos_weight * target) * scale
    if weight is not None:
        grad = grad * weight
    grad_target = None
    if step.needs_input_grad(1):
        # d/dy of (1 - y) x + (1 + (p - 1) y) log(1 + exp(-x)).
        grad_target = -input
        if pos_weight is not None:
            grad_target = grad_target + (pos_weight - 1) * ((-input.abs()).exp().log1p() + (-input).clamp_min(0))
        grad_target = grad_target * scale
        if weight is not None:
            grad_target = grad_target * weight
    return grad if step.needs_input_grad(0) else None, grad_target, None, None


BCE_LOGITS = OpDef("binary_cross_entropy_with_logits", "BinaryCrossEntropyWithLogitsBackward0", _bce_logits_vjp)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one numerically stable step."""
    _check_reduction(reduction)
    _check_same_size("binary_cross_entropy_with_logits", input, target)

    def forward() -> Tensor:
        loss = _bce_logits_terms(input, target, pos_weight)
        return _reduce(loss * weight if weight is not None else loss, reduction)

    out = _without_grad(forward)
    if grad_mode.state.enabled and (input._requires_grad or target._requires_grad):
        return record(BCE_LOGITS, (input, target, weight, pos_weight), out, (reduction,),
                      saved=(input, target, weight, pos_weight))
    return out


# ---------------------------------------------------------------- negative log likelihood

def _nll_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, None, None]:
    target_index, picked_weight = step.saved_values()
    reduction, denominator, class_axis = step.attrs
    scale = g if reduction != "mean" else g / denominator
    grad = scatter_into_zeros((-scale * picked_weight).unsqueeze(class_axis), step.input_meta[0][0],
                              class_axis, target_index.unsqueeze(class_axis))
    return grad, None, None


NLL_LOSS = OpDef("nll_loss", "NllLossBackward0", _nll_vjp)
NLL_LOSS_2D = OpDef("nll_loss2d", "NllLoss2DBackward0", _nll_vjp)


class _Targets:
    """Class-index targets checked against log-probabilities, with their per-element weights."""

    def __init__(self, log_probs: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int) -> None:
        if log_probs.ndim == 0:
            raise ValueError("Expected 1 or more dimensions (got 0)")
        if not isinstance(target, Tensor) or target._data.dtype.kind not in "iu":
            if isinstance(target, Tensor) and target.is_floating_point():
                raise RuntimeError(f"expected scalar type Long but found {target.dtype.scalar_name}")
            raise TypeError("target must be an integer tensor of class indices")
        self.class_axis = 0 if log_probs.ndim == 1 else 1
        classes = self.classes = log_probs.shape[self.class_axis]
        if log_probs.ndim > 1 and target.shape[0] != log_probs.shape[0]:
            raise ValueError(f"Expected input batch_size ({log_probs.shape[0]}) to match target batch_size "
                             f"({target.shape[0]}).")
        expected = tuple(s for d, s in enumerate(log_probs.shape) if d != self.class_axis)
        if tuple(target.shape) != expected:
            raise RuntimeError(f"expected target size {list(expected)}, got {list(target.shape)}")
        if weight is not None and tuple(weight.shape) != (classes,):
            raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no classes but "
                               f"got weight tensor of shape: {list(weight.shape)}")
        labels = target._data.astype(np.int64)
        self.ignored = np.asarray(labels == ignore_index)
        valid = np.asarray(np.where(self.ignored, 0, labels))
        if np.any((valid < 0) | (valid >= classes)):
            bad = int(valid[(valid < 0) | (valid >= classes)].reshape(-1)[0])
            raise IndexError(f"Target {bad} is out of bounds.")
        dtype = log_probs._data.dtype
        self.class_weights = np.ones(classes, dtype) if weight is None else weight._data.astype(dtype)
        self.index = _wrap(valid)
        picked = np.asarray(np.where(self.ignored, 0, self.class_weights[valid])).astype(dtype)
        self.picked_weight = _wrap(picked)
        self.total_weight = float(picked.sum())


def _nll(log_probs: Tensor, targets: _Targets, reduction: str) -> Tensor:
    _check_reduction(reduction)
    class_axis = targets.class_axis
    denominator = targets.total_weight if reduction == "mean" else 1.0

    def forward() -> Tensor:
        chosen = log_probs.gather(class_axis, targets.index.unsqueeze(class_axis)).squeeze(class_axis)
        loss = -chosen * targets.picked_weight
        if reduction == "none":
            return loss
        total = loss.sum()
        return total / denominator if reduction == "mean" else total

    out = _without_grad(forward)
    if grad_mode.state.enabled and log_probs._requires_grad:
        # PyTorch runs inputs with spatial dims through nll_loss2d (and views the result back).
        op = NLL_LOSS_2D if log_probs.ndim > 2 else NLL_LOSS
        out = record(op, (log_probs, None, None), out, (reduction, denominator, class_axis),
                     saved=(targets.index, targets.picked_weight))
        if reduction == "none" and log_probs.ndim > 2:
            out = out.view(tuple(out.shape))
    return out


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    return _nll(input, _Targets(input, target, weight, ignore_index), reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Log-softmax over the class dim (dim 1, or 0 for unbatched input) then NLL.

    Targets are class indices (int) or class probabilities (float, same shape as ``input``).
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_axis = 0 if input.ndim == 1 else 1
    log_probs = log_softmax(input, class_axis)
    classes = input.shape[class_axis]
    shape = [1] * input.ndim
    shape[class_axis] = classes
    if isinstance(target, Tensor) and target.is_floating_point():
        return _cross_entropy_probabilities(log_probs, target, weight, reduction, label_smoothing, tuple(shape))
    targets = _Targets(log_probs, target, weight, ignore_index)
    nll = _nll(log_probs, targets, reduction)
    if not label_smoothing:
        return nll
    # PyTorch's composition: (1 - e) * nll + e / classes * (weighted sum of -log p over classes).
    terms = log_probs * _wrap(targets.class_weights.reshape(shape)) if weight is not None else log_probs
    smooth = -terms.sum(class_axis) * _wrap(np.asarray(~targets.ignored).astype(log_probs._data.dtype))
    if reduction == "mean":
        smooth = smooth.sum() / targets.total_weight
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def _cross_entropy_probabilities(log_probs: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                                 label_smoothing: float, class_shape: tuple[int, ...]) -> Tensor:
    if tuple(target.shape) != tuple(log_probs.shape):
        raise RuntimeError(f"Expected target size {list(log_probs.shape)}, got {list(target.shape)}")
    class_axis = 0 if log_probs.ndim == 1 else 1
    classes = log_probs.shape[class_axis]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = log_probs * target
    if weight is not None:
        terms = terms * weight.reshape(class_shape)
    if reduction == "none":
        return -terms.sum(class_axis)
    if reduction == "sum":
        return -terms.sum()
    return ew.apply(ew.DIV_SCALAR, (-terms.sum(), log_probs.numel() // classes))
