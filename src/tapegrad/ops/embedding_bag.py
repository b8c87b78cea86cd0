"""``F.embedding_bag``: the sum, mean or max of the embeddings of each bag of indices, as
recorded ops.

The indices' rows are looked up once (``embedding``, so ``max_norm`` and
``scale_grad_by_freq`` act as there), one zero row is appended, and the bags are laid out as a
(bags, longest bag) grid of row numbers, places past a bag's end reading the zero row. Entries
equal to ``padding_idx`` are masked out of the reduction (and of a mean's count); an empty bag
gives zeros in every mode, as in PyTorch. A 2-D input is a batch of bags of one length and
needs no host read; bags given by ``offsets`` are laid out from the offsets' values, which are
read on the host.
"""
from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..tensor import Tensor, type_name
from . import elementwise as ew
from .layers import _padding_index, embedding
from .movement import cat

__all__: list[str] = ["embedding_bag"]

_INDEX_TYPES = (np.dtype(np.int64), np.dtype(np.int32))


def _bag_lengths(offsets: Tensor, total: int, include_last_offset: bool) -> np.ndarray:
    """Each bag's length from ``offsets`` (read on the host), with PyTorch's checks."""
    if offsets._data.dtype not in _INDEX_TYPES:
        raise RuntimeError("Expected tensor for argument #2 'offsets' to have one of the following scalar types: "
                           f"Long, Int; but got {type_name(offsets)} instead (while checking arguments for "
                           "embedding_bag)")
    starts = offsets.numpy(force=True).astype(np.int64)
    if starts.size and starts[0] != 0:
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                           f"position 0. However, got {starts[0]}")
    if starts.size and starts[-1] > total:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {total} but got offsets[-1] of "
                           f"{starts[-1]}")
    if (np.diff(starts) < 0).any():
        raise RuntimeError(f"offsets have to be non-decreasing, but got {starts.tolist()}")
    ends = starts[1:] if include_last_offset else np.append(starts[1:], total)
    return ends - starts[:len(ends)]


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Reduce (``mode`` ``'sum'``, ``'mean'`` or ``'max'``) the rows of ``weight`` each bag picks:
    the rows of a 2-D ``input`` are its bags; a 1-D ``input`` is cut into bags at ``offsets``.

    >>> weight = tapegrad.tensor([[0., 1.], [2., 3.], [4., 5.]])
    >>> F.embedding_bag(tapegrad.tensor([0, 2, 1]), weight, tapegrad.tensor([0, 2]), mode="sum")
    tensor([[4., 6.],
            [2., 3.]])
    """
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it "
                         f"must have the same shape as the input ({input.shape})")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets)}")
        lengths = np.full(input.shape[0], input.shape[1], np.int64)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        lengths = None
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    if input._data.dtype not in _INDEX_TYPES:
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {type_name(input)} instead (while checking arguments for "
                           "embedding_bag)")
    padding_idx = _padding_index(padding_idx, weight.shape[0])
    flat = input.reshape(-1)
    total = flat.shape[0]
    if lengths is None:
        lengths = _bag_lengths(offsets, total, include_last_offset)
    rows = embedding(flat, weight, None, max_norm, norm_type, scale_grad_by_freq, sparse)
    # The bags as a grid of positions in ``flat``; past a bag's end, position ``total`` (an
    # appended zero row, and an index no row has).
    longest = max(int(lengths.max()) if lengths.size else 0, 1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    step = np.arange(longest)
    inside = step[None, :] < lengths[:, None]
    grid = np.where(inside, starts[:, None] + step[None, :], total).reshape(-1)
    place = creation._constant_like(grid, rows)
    width = weight.shape[1]
    zero = creation.zeros((1, width), dtype=rows.dtype, device=rows.device)
    picked = cat([rows, zero]).index_select(0, place).reshape((len(lengths), longest, width))
    keep = creation._constant_like(inside, rows)
    if padding_idx is not None:
        ids = cat([flat, creation.full((1,), -1, dtype=flat.dtype, device=flat.device)]).index_select(0, place)
        keep = keep & (ids.reshape(len(lengths), longest) != padding_idx)
        picked = ew.where(keep.unsqueeze(-1), picked, 0.0)
    if per_sample_weights is not None:
        scales = cat([per_sample_weights.reshape(-1), creation.zeros((1,), dtype=per_sample_weights.dtype,
                                                                    device=per_sample_weights.device)])
        picked = picked * scales.index_select(0, place).reshape(len(lengths), longest, 1)
    if mode == "sum":
        return picked.sum(1)
    count = keep.sum(1, keepdim=True)
    if mode == "mean":
        return picked.sum(1) / count.clamp(min=1).to(picked.dtype)
    largest = ew.where(keep.unsqueeze(-1), picked, -math.inf).max(1).values
    return ew.where(count == 0, 0.0, largest)
