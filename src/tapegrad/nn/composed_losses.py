"""Losses PyTorch composes from other ops, composed here from the same ops in the same order
(so values, gradients and grad_fn names agree): the margin and embedding losses, the
multi-label soft margin and the Poisson and Gaussian negative log likelihoods. The soft
margin loss has a step of its own, as in PyTorch. All run on either device and compiled
steps record them (the Gaussian NLL reads its variance's sign in Python, so compile refuses it).

``nn.functional`` exports these functions.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..ops import elementwise as ew
from ..ops.composite import _without_grad
from ..ops.registry import OpDef, record
from ..tensor import Tensor

__all__: list[str] = ["cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss", "margin_ranking_loss",
                      "multilabel_soft_margin_loss", "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
                      "triplet_margin_with_distance_loss"]


def _reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    from .functional import _check_reduction, _legacy_reduction

    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    from .functional import _reduce as reduce

    return reduce(loss, reduction)


def _zeros_like(x: Tensor) -> Tensor:
    from ..creation import zeros_like

    return zeros_like(x)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average: Any = None,
                        reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` 1 wants ``input1`` ranked higher.

    >>> F.margin_ranking_loss(tapegrad.tensor([1., 2.]), tapegrad.tensor([2., 1.]), tapegrad.tensor([1., 1.]))
    tensor(0.5000)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError("margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    return _reduce(ew.clamp_min(-target * (input1 - input2) + margin, 0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average: Any = None,
                         reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``input`` where ``target`` is 1, ``max(0, margin - input)`` where it is -1.

    >>> F.hinge_embedding_loss(tapegrad.tensor([0.3, 2.]), tapegrad.tensor([1., -1.]), reduction="none")
    tensor([0.3000, 0.0000])
    """
    reduction = _reduction(size_average, reduce, reduction)
    zeros = _zeros_like(input)
    margin_clamp = ew.clamp_min(margin - input, 0)
    output_margin = ew.where(target != 1, margin_clamp, zeros)
    output_self = ew.where(target != -1, input, zeros)
    return _reduce(output_margin + output_self, reduction)


_EPSILON = 1e-12  # PyTorch's, added to each squared magnitude


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average: Any = None,
                          reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``1 - cos`` where ``target`` is 1, ``max(0, cos - margin)`` where it is -1, ``cos`` the
    cosine similarity of the rows of ``input1`` and ``input2``.

    >>> F.cosine_embedding_loss(tapegrad.tensor([[1., 0.]]), tapegrad.tensor([[1., 1.]]), tapegrad.tensor([1.]))
    tensor(0.2929)
    """
    reduction = _reduction(size_average, reduce, reduction)
    dim = target.dim()
    if dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.dim() != dim + 1 or input2.dim() != dim + 1:
        raise RuntimeError(f"{dim}D target tensor expects {dim + 1}D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    prod_sum = (input1 * input2).sum(dim)
    mag_square1 = (input1 * input1).sum(dim) + _EPSILON
    mag_square2 = (input2 * input2).sum(dim) + _EPSILON
    cos = prod_sum / (mag_square1 * mag_square2).sqrt()
    zeros = _zeros_like(cos)
    output_pos = ew.where(target == 1, 1 - cos, zeros)
    output_neg = ew.where(target == -1, ew.clamp_min(cos - margin, 0), zeros)
    return _reduce(output_pos + output_neg, reduction)


def _check_triplet_dims(anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    if not anchor.dim() == positive.dim() == negative.dim():
        raise RuntimeError("The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.dim()}D, positive {positive.dim()}D, and negative "
                           f"{negative.dim()}D inputs")


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))``, ``d`` the pairwise
    ``p``-distance; ``swap`` uses the positive-negative distance where it is smaller.

    >>> a = tapegrad.tensor([[0., 0.]])
    >>> F.triplet_margin_loss(a, tapegrad.tensor([[0., 1.]]), tapegrad.tensor([[0., 3.]]), eps=0.)
    tensor(0.)
    """
    from .functional import pairwise_distance

    reduction = _reduction(size_average, reduce, reduction)
    _check_triplet_dims(anchor, positive, negative)
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = ew.minimum(dist_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(ew.clamp_min(margin + dist_pos - dist_neg, 0), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
                                      margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """``triplet_margin_loss`` with any ``distance_function`` (``pairwise_distance`` by default).

    >>> a = tapegrad.tensor([[0., 0.]])
    >>> F.triplet_margin_with_distance_loss(a, tapegrad.tensor([[0., 1.]]), tapegrad.tensor([[0., 1.5]]))
    tensor(0.5000)
    """
    from .functional import pairwise_distance

    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    _check_triplet_dims(anchor, positive, negative)
    distance = pairwise_distance if distance_function is None else distance_function
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:
        dist_neg = ew.minimum(dist_neg, distance(positive, negative))
    return _reduce(ew.clamp_min(margin + dist_pos - dist_neg, 0), reduction)


def _soft_margin_vjp(step: Step, g: Tensor) -> tuple[Tensor, None]:
    input, target = step.saved_values()
    (reduction,) = step.attrs
    scale = g / input.numel() if reduction == "mean" else g
    return (-target * (-input * target).sigmoid() * scale, None)


SOFT_MARGIN_LOSS = OpDef("soft_margin_loss", "SoftMarginLossBackward0", _soft_margin_vjp)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-target * input))``, targets 1 or -1.

    >>> F.soft_margin_loss(tapegrad.tensor([0.]), tapegrad.tensor([1.]))
    tensor(0.6931)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if target._requires_grad and grad_mode.state.enabled:
        raise RuntimeError("The function 'soft_margin_loss' is not differentiable with respect to argument 'target'. "
                           "This input cannot have requires_grad True.")
    out = _without_grad(lambda: _reduce((-input * target).exp().log1p(), reduction))
    if grad_mode.state.enabled and input._requires_grad:
        return record(SOFT_MARGIN_LOSS, (input, target), out, (reduction,), saved=(input, target))
    return out


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
                                reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of each label's logit in the last dim, averaged over the labels.

    >>> F.multilabel_soft_margin_loss(tapegrad.tensor([[0., 0.]]), tapegrad.tensor([[1., 0.]]))
    tensor(0.6931)
    """
    from .functional import logsigmoid

    reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    return _reduce(loss.sum(class_dim) / input.shape[class_dim], reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: Any = None, eps: float = 1e-8, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """The negative log likelihood of ``target`` counts under Poisson rates ``exp(input)``
    (``log_input``) or ``input``; ``full`` adds Stirling's approximation of ``log(target!)``.

    >>> F.poisson_nll_loss(tapegrad.tensor([0.]), tapegrad.tensor([2.]))
    tensor(1.)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + (target * (2 * math.pi)).log() * 0.5
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """The negative log likelihood of ``target`` under normal distributions of mean ``input``
    and variance ``var`` (at least ``eps``; one per element, or shared along one dim).

    >>> F.gaussian_nll_loss(tapegrad.tensor([0.]), tapegrad.tensor([1.]), tapegrad.tensor([1.]))
    tensor(0.5000)
    """
    from ..creation import ones_like

    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * ones_like(input)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.dim() == var.dim()
                  and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var.clone()
    _without_grad(lambda: var.clamp_(min=eps))
    loss = ((input - target) ** 2 / var + var.log()) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
