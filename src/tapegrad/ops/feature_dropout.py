"""Channel-wise and self-normalising dropout: ``dropout1d/2d/3d`` (PyTorch's feature dropout),
``alpha_dropout`` and ``feature_alpha_dropout``.

They follow PyTorch's kernel step by step, so a seed gives PyTorch's masks. Feature dropout
draws one Bernoulli(1 - p) per channel, a mask shaped ``(N, C, 1, ...)`` (``(C, 1, ...)`` for an
unbatched input) that broadcasts over the positions, divided by ``1 - p`` as dropout's. Alpha
dropout keeps the 0/1 draw ``m`` and returns ``x * (a m) + b`` with
``b = (m - 1) alpha a + alpha a p``: dropped values go to SELU's negative saturation value
``-alpha`` scaled, and ``a`` restores zero mean and unit variance for SELU networks.

The mask is a constant of the step (a compiled step draws a new one per replay, as for dropout)
and the rest is recorded ops, so the input's gradient is ``g`` times the mask's scale.
"""
from __future__ import annotations

import math

from ..tensor import Tensor, _wrap
from . import elementwise as ew
from .inplace import add_, mul_
from .layers import _dropout_mask, dropout
from ..user_warnings import warn_user

__all__: list[str] = ["alpha_dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"]

# SELU's negative saturation value, -SELU_SCALE * SELU_ALPHA, negated (PyTorch's constant).
_ALPHA = 1.7580993408473766


def check_probability(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def drop(input: Tensor, p: float, training: bool, inplace: bool, channel_dims: int, alpha: bool) -> Tensor:
    """Dropout of ``input`` with one draw per element, or, when ``channel_dims`` is 1 or 2, one
    per index of the first ``channel_dims`` dims (channels, or batch and channels); alpha
    dropout when ``alpha``."""
    if p == 0 or not training or input._data.size == 0:
        return input
    if p == 1:
        return dropout(input, 1.0, True, inplace)
    if input.ndim < channel_dims:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if not input.is_floating_point():
        raise RuntimeError(f"result type Float can't be cast to the desired output type {input.dtype.scalar_name}")
    shape = tuple(input.shape[:channel_dims]) + (1,) * (input.ndim - channel_dims) if channel_dims else None
    keep = 1.0 - p
    if not alpha:
        noise = _wrap(_dropout_mask(input._data, keep, shape))
        return mul_(input, noise) if inplace else ew.mul(input, noise)
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * keep)
    mask = _wrap(_dropout_mask(input._data, keep, shape, divide=False))
    shift = ew.add(ew.mul(ew.sub(mask, 1), _ALPHA * a), _ALPHA * a * p)
    scale = ew.mul(mask, a)
    if inplace:
        return add_(mul_(input, scale), shift)
    return ew.add(ew.mul(input, scale), shift)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU activations at zero mean and unit variance: dropped elements take
    a fixed negative value and the result is rescaled (the identity in eval mode, the default).

    >>> _ = tapegrad.manual_seed(0)
    >>> F.alpha_dropout(tapegrad.zeros(4), 0.5, training=True)
    tensor([-0.7792, -0.7792,  0.7792, -0.7792])
    """
    check_probability(p)
    return drop(input, p, training, inplace, 0, alpha=True)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels (dim 1 of an ``(N, C, ...)`` input).

    >>> _ = tapegrad.manual_seed(0)
    >>> F.feature_alpha_dropout(tapegrad.zeros(1, 3, 2), 0.5, training=True)
    tensor([[[-0.7792, -0.7792],
             [-0.7792, -0.7792],
             [ 0.7792,  0.7792]]])
    """
    check_probability(p)
    return drop(input, p, training, inplace, 2, alpha=True)


def _deprecated_rank(fn: str, ndim: int, spatial: int) -> None:
    warn_user(f"{fn}: Received a {ndim}-D input to {fn}, which is deprecated and will result in an error in a "
              "future release. To retain the behavior and silence this warning, please use dropout instead. Note "
              f"that {fn} exists to provide channel-wise dropout on inputs with {spatial} spatial dimensions, a "
              "channel dimension, and an optional batch dimension (i.e. "
              f"{spatial + 1}D or {spatial + 2}D inputs).")


def _batched_or_not(input: Tensor, p: float, training: bool, inplace: bool, batched: bool) -> Tensor:
    """Channel dropout of a batched input, or of an unbatched one through a batch of one (and
    PyTorch's grad_fn for it; in place, the mask is drawn for the channels directly, the same
    draws)."""
    if batched:
        return drop(input, p, training, inplace, 2, alpha=False)
    if inplace or input.ndim == 0:
        return drop(input, p, training, inplace, 1, alpha=False)
    return drop(input.unsqueeze(0), p, training, False, 2, alpha=False).squeeze(0)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an ``(N, C, L)`` or ``(C, L)`` input with probability ``p``, scaling
    the rest by ``1 / (1 - p)``.

    >>> _ = tapegrad.manual_seed(0)
    >>> F.dropout1d(tapegrad.ones(3, 2))
    tensor([[0., 0.],
            [0., 0.],
            [2., 2.]])
    """
    check_probability(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _batched_or_not(input, p, training, inplace, input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an ``(N, C, H, W)`` input with probability ``p``, scaling the rest by
    ``1 / (1 - p)``. As in PyTorch, a 3-D input is read as ``(N, C, L)`` (with a warning)."""
    check_probability(p)
    if input.ndim not in (3, 4):
        _deprecated_rank("dropout2d", input.ndim, 2)
    if input.ndim == 3:
        warn_user("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                  "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
                  "will change in a future release to interpret the input as one without a batch dimension, i.e. "
                  "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
                  "dropout1d instead.")
    return drop(input, p, training, inplace, 2, alpha=False)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of an ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with probability
    ``p``, scaling the rest by ``1 / (1 - p)``."""
    check_probability(p)
    if input.ndim not in (4, 5):
        _deprecated_rank("dropout3d", input.ndim, 3)
    return _batched_or_not(input, p, training, inplace, input.ndim == 5)
