"""``F.scaled_dot_product_attention``: PyTorch's reference formulation, as recorded ops.

``softmax(q @ k^T * scale + bias) @ v``, where the bias comes from a boolean mask (``False``
positions get ``-inf``), a float mask (added) or ``is_causal`` (a constant lower-triangular
mask), and dropout applies to the attention weights. Made of matmuls, a softmax, ``where``
and dropout, it runs on either device, and compiled steps record it (the causal mask is a
constant of the recording; dropout draws anew at every replay).
"""
from __future__ import annotations

import math
import numpy as np

from ..ops import elementwise as ew
from ..tensor import Tensor

__all__: list[str] = ["scaled_dot_product_attention"]


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """Attention of ``query`` (..., L, E) over ``key`` (..., S, E) and ``value`` (..., S, Ev).

    >>> q = tapegrad.tensor([[[1., 0.], [0., 1.]]])
    >>> F.scaled_dot_product_attention(q, q, tapegrad.tensor([[[1.], [3.]]]), is_causal=True)
    tensor([[[1.0000],
             [2.3395]]])
    """
    from ..creation import _constant_like
    from .functional import dropout, softmax

    length, source = query.shape[-2], key.shape[-2]
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = _repeat_heads(key, repeats)
        value = _repeat_heads(value, repeats)
    factor = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ key.transpose(-2, -1) * factor
    if is_causal:
        attn_mask = _constant_like(np.tri(length, source, dtype=np.bool_), query)
    if attn_mask is not None:
        if attn_mask.dtype.is_floating_point:
            scores = scores + attn_mask
        else:
            scores = ew.where(attn_mask, scores, -math.inf)
    weights = softmax(scores, dim=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return weights @ value


def _repeat_heads(x: Tensor, repeats: int) -> Tensor:
    """``x.repeat_interleave(repeats, dim=-3)``: each head (dim -3) ``repeats`` times in a row."""
    shape = tuple(x.shape)
    grown = x.unsqueeze(-3).expand(shape[:-2] + (repeats,) + shape[-2:])
    return grown.reshape(shape[:-3] + (shape[-3] * repeats,) + shape[-2:])
