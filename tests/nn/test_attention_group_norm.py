"""Scaled dot-product attention and group norm beyond the op table (which checks values,
gradients and second derivatives against NumPy, finite differences and PyTorch): masks,
grouped-query heads, dropout, the module and PyTorch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F


def _data(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["bool_mask", "float_mask", "gqa"])
def test_attention_masks_and_grouped_heads_match_torch(kind):
    torch = pytest.importorskip("torch")
    heads = 2 if kind == "gqa" else 4
    q, k, v = _data((2, 4, 3, 5), 1), _data((2, heads, 6, 5), 2), _data((2, heads, 6, 3), 3)
    mask = {"bool_mask": _data((3, 6), 4) > -0.5, "float_mask": _data((4, 3, 6), 5), "gqa": None}[kind]
    kw = {"enable_gqa": True} if kind == "gqa" else {}
    ours = [tapegrad.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=None if mask is None else tapegrad.tensor(mask), **kw)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=None if mask is None else
                                                           torch.tensor(mask), **kw)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.square().sum().backward()
    ref.square().sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_attention_dropout_draws_from_the_generator_and_keeps_the_expectation():
    q = tapegrad.tensor(_data((1, 4, 8), 1))
    tapegrad.manual_seed(3)
    first = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    tapegrad.manual_seed(3)
    again = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    plain = F.scaled_dot_product_attention(q, q, q)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert not np.allclose(first.numpy(), plain.numpy())


def test_attention_refuses_a_mask_with_is_causal():
    q = tapegrad.ones(2, 3, 4)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=tapegrad.ones(3, 3), is_causal=True)


@pytest.mark.torch
def test_group_norm_module_matches_torch():
    torch = pytest.importorskip("torch")
    data = _data((2, 6, 3, 2), 7).astype(np.float32)  # the modules' parameters are float32
    for args, kw in (((3, 6), {}), ((2, 6), {"eps": 1e-3, "affine": False}), ((6, 6), {"bias": False})):
        ours, theirs = nn.GroupNorm(*args, **kw), torch.nn.GroupNorm(*args, **kw)
        assert repr(ours) == repr(theirs)
        assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
        np.testing.assert_allclose(ours(tapegrad.tensor(data)).detach().numpy(),
                                   theirs(torch.tensor(data)).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        nn.GroupNorm(4, 6)


@pytest.mark.parametrize("call, message", [
    (lambda: F.group_norm(tapegrad.ones(2, 3, 4), 2),
     r"Expected number of channels in input to be divisible by num_groups, but got input of shape \[2, 3, 4\] and "
     "num_groups=2"),
    (lambda: F.group_norm(tapegrad.ones(3), 1), "Expected at least 2 dimensions for input tensor but received 1"),
    (lambda: F.group_norm(tapegrad.ones(2, 4), 2, tapegrad.ones(3)),
     r"Expected weight to be a vector of size equal to the number of channels in input, but got weight of shape \[3\]"),
])
def test_group_norm_errors_match_torch(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()
