"""``nn.MultiheadAttention``: PyTorch's module with its parameters, initial draws and the
computation of ``F.multi_head_attention_forward`` when it returns the attention weights
(packed input projection, scaled ``q`` times ``k``, masks added, softmax, dropout, the
output projection), as recorded ops on either device.

Supported: ``batch_first``, unbatched inputs, boolean or float ``attn_mask`` (2-D, or 3-D per
batch and head) and ``key_padding_mask``, ``need_weights`` with ``average_attn_weights``.
``add_bias_kv``, ``add_zero_attn`` and key/value sizes other than ``embed_dim`` raise
``NotImplementedError``.
"""
from __future__ import annotations

import math
from typing import Any

from .. import creation
from ..autograd.grad_mode import no_grad
from ..ops import elementwise as ew
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .modules import Linear
from .parameter import Parameter

__all__: list[str] = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """``Linear`` under the name PyTorch's attention module gives its output projection."""


def _as_bias(mask: Tensor | None, dtype: Any) -> Tensor | None:
    """A boolean mask (True: do not attend) as an additive float mask (``-inf`` there)."""
    if mask is None or mask.dtype.is_floating_point:
        return mask
    zeros = creation.zeros(tuple(mask.shape), dtype=dtype, device=mask.device)
    return ew.where(mask, -math.inf, zeros)


class MultiheadAttention(Module):
    """Attention of ``num_heads`` heads over ``embed_dim`` features.

    >>> attention = nn.MultiheadAttention(4, 2, batch_first=True)
    >>> out, weights = attention(tapegrad.ones(1, 3, 4), tapegrad.ones(1, 3, 4), tapegrad.ones(1, 3, 4))
    >>> tuple(out.shape), tuple(weights.shape)
    ((1, 3, 4), (1, 3, 3))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        if add_bias_kv or add_zero_attn or (kdim not in (None, embed_dim)) or (vdim not in (None, embed_dim)):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim other than "
                                      "embed_dim are not supported by tapegrad")
        super().__init__()
        self.embed_dim, self.kdim, self.vdim = embed_dim, embed_dim, embed_dim
        self._qkv_same_embed_dim = True
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self.in_proj_weight = Parameter(creation.empty((3 * embed_dim, embed_dim), dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(creation.empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # PyTorch's order of draws: out_proj's (in its constructor), then in_proj_weight's.
        init.xavier_uniform_(self.in_proj_weight)
        with no_grad():
            if self.in_proj_bias is not None:
                self.in_proj_bias.zero_()
                self.out_proj.bias.zero_()

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                               "method `generate_square_subsequent_mask` to create this mask.")
        batched = query.dim() == 3
        if not batched or self.batch_first:
            # To sequence-first (L, N, E); self-attention keeps one tensor (one packed projection).
            move = (lambda x: x.unsqueeze(1)) if not batched else (lambda x: x.transpose(0, 1))
            moved = {id(x): move(x) for x in (query, key, value)}
            query, key, value = moved[id(query)], moved[id(key)], moved[id(value)]
            if not batched and key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        out, weights = self._attend(query, key, value, key_padding_mask, attn_mask)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        heads = weights.reshape(query.shape[1], self.num_heads, query.shape[0], key.shape[0])
        heads = heads.mean(1) if average_attn_weights else heads
        return out, heads if batched else heads.squeeze(0)

    def _attend(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None,
                attn_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """(output (L, N, E), weights (N * heads, L, S)) for sequence-first inputs."""
        length, batch, embed = query.shape
        source = key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim
        if query is key and key is value:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, -1)
        else:
            weights = self.in_proj_weight.chunk(3)
            biases = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
            q, k, v = (F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))
        mask = _as_bias(attn_mask, query.dtype)
        if mask is not None and mask.dim() == 2:
            mask = mask.unsqueeze(0)
        padding = _as_bias(key_padding_mask, query.dtype)
        if padding is not None:
            padding = padding.reshape(batch, 1, 1, source).expand(batch, heads, 1, source).reshape(
                batch * heads, 1, source)
            mask = padding if mask is None else mask + padding
        q = q.reshape(length, batch * heads, head_dim).transpose(0, 1)
        k = k.reshape(source, batch * heads, head_dim).transpose(0, 1)
        v = v.reshape(source, batch * heads, head_dim).transpose(0, 1)
        scores = (q * math.sqrt(1.0 / head_dim)).bmm(k.transpose(-2, -1))
        if mask is not None:
            scores = scores + mask
        weights = F.softmax(scores, dim=-1)
        if self.dropout > 0.0 and self.training:
            weights = F.dropout(weights, self.dropout)
        out = weights.bmm(v).transpose(0, 1).reshape(length * batch, embed)
        out = F.linear(out, self.out_proj.weight, self.out_proj.bias).reshape(length, batch, embed)
        return out, weights
