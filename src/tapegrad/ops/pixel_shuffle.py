"""``pixel_shuffle`` and ``pixel_unshuffle``: moving ``r * r`` channels into an ``r``-times larger
plane and back; ``channel_shuffle``: interleaving groups of channels. Each is a reshape, a
permutation and a reshape (so either device, compiled steps and gradients of any order come
with them)."""
from __future__ import annotations

from ..tensor import Tensor

__all__: list[str] = ["channel_shuffle", "pixel_shuffle", "pixel_unshuffle"]


def _check(name: str, input: Tensor, factor: int, what: str) -> None:
    if input.ndim < 3:
        raise RuntimeError(f"{name} expects input to have at least 3 dimensions, but got input with {input.ndim} "
                           "dimension(s)")
    if factor <= 0:
        raise RuntimeError(f"{name} expects a positive {what}, but got {factor}")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C * r * r, H, W)`` to ``(*, C, H * r, W * r)`` for ``r = upscale_factor``.

    >>> F.pixel_shuffle(tapegrad.arange(4.).reshape(1, 4, 1, 1), 2)
    tensor([[[[0., 1.],
              [2., 3.]]]])
    """
    r = int(upscale_factor)
    _check("pixel_shuffle", input, r, "upscale_factor")
    *lead, channels, height, width = input.shape
    if channels % (r * r):
        raise RuntimeError("pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={channels} is not divisible by {r * r}")
    n = len(lead)
    blocks = input.reshape(tuple(lead) + (channels // (r * r), r, r, height, width))
    order = tuple(range(n)) + tuple(n + d for d in (0, 3, 1, 4, 2))  # C, H, r, W, r
    return blocks.permute(order).reshape(tuple(lead) + (channels // (r * r), height * r, width * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H * r, W * r)`` to ``(*, C * r * r, H, W)`` for ``r = downscale_factor``:
    ``pixel_shuffle``'s inverse.

    >>> F.pixel_unshuffle(tapegrad.arange(4.).reshape(1, 1, 2, 2), 2).flatten()
    tensor([0., 1., 2., 3.])
    """
    r = int(downscale_factor)
    _check("pixel_unshuffle", input, r, "downscale_factor")
    *lead, channels, height, width = input.shape
    for what, axis, size in (("height", -2, height), ("width", -1, width)):
        if size % r:
            raise RuntimeError(f"pixel_unshuffle expects {what} to be divisible by downscale_factor, but "
                               f"input.size({axis})={size} is not divisible by {r}")
    n = len(lead)
    blocks = input.reshape(tuple(lead) + (channels, height // r, r, width // r, r))
    order = tuple(range(n)) + tuple(n + d for d in (0, 2, 4, 1, 3))  # C, r, r, H, W
    return blocks.permute(order).reshape(tuple(lead) + (channels * r * r, height // r, width // r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Channels (dim 1) of ``groups`` groups of ``k`` interleaved: channel ``g * k + i`` moves to
    ``i * groups + g``.

    >>> F.channel_shuffle(tapegrad.arange(4.).reshape(1, 4, 1), 2).flatten()
    tensor([0., 2., 1., 3.])
    """
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    batch, channels, *rest = input.shape
    if channels % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {channels} channels and {groups} "
                           "groups.")
    grouped = input.reshape((batch, groups, channels // groups) + tuple(rest))
    return grouped.transpose(1, 2).reshape(tuple(input.shape))
