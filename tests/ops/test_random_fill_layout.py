"""In-place random fills (``uniform_``, ``normal_``, ``exponential_``) of tensors that are not
contiguous draw in memory order, as PyTorch does (``normal_`` then takes PyTorch's one-at-a-time
stream, not its block algorithm), and a fill of a tensor with history cuts that history off."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad

VIEWS: list[tuple[tuple[int, ...], Callable[[Any], Any]]] = [
    ((8, 6), lambda x: x.t()),
    ((4, 5, 6), lambda x: x.permute(2, 0, 1)),
    ((6, 8), lambda x: x[:, ::2]),
    ((8, 6), lambda x: x[1:]),
    ((2, 3), lambda x: x.t()),
]
FILLS = ["uniform_", "normal_", "exponential_"]


@pytest.mark.parametrize("fill", FILLS)
def test_a_transposed_fill_is_the_contiguous_fill_transposed(fill: str) -> None:
    tapegrad.manual_seed(3)
    base = getattr(tapegrad.empty(8, 6), fill)()
    tapegrad.manual_seed(3)
    transposed = getattr(tapegrad.empty(8, 6).t(), fill)()
    if fill == "normal_":
        # A non-contiguous tensor takes the one-at-a-time stream: other numbers, the same law.
        assert not np.array_equal(transposed.numpy(), base.t().numpy())
    else:
        np.testing.assert_array_equal(transposed.numpy(), base.t().numpy())


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("view", range(len(VIEWS)))
@pytest.mark.parametrize("fill", FILLS)
def test_fills_of_views_match_torch(fill: str, view: int, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    shape, make = VIEWS[view]
    torch.manual_seed(11)
    theirs = make(torch.empty(*shape, dtype=getattr(torch, dtype)))
    getattr(theirs, fill)()
    tapegrad.manual_seed(11)
    ours = make(tapegrad.empty(*shape, dtype=getattr(tapegrad, dtype)))
    getattr(ours, fill)()
    if fill == "exponential_":
        # The same uniforms u, mapped to -log1p(-u): PyTorch's vectorized logarithm depends on the
        # CPU it runs on (AVX2 or AVX512) in the last bit, so the values are compared to a few ulp
        # (numbers from another stream would differ in every digit).
        np.testing.assert_array_max_ulp(ours.numpy(), theirs.numpy(), maxulp=4)
    else:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("fill", FILLS + ["cauchy_"])
def test_a_fill_cuts_off_the_history_of_what_it_overwrites(fill: str) -> None:
    x = tapegrad.ones(3, requires_grad=True)
    y = x * 2
    getattr(y, fill)()
    assert y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]  # the old values' history gets no gradient
