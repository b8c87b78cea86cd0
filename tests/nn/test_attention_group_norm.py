"""Scaled dot-product attention and group norm beyond the op table (which checks values,
gradients and second derivatives against NumPy, finite differences and PyTorch): masks,
grouped-query heads, dropout, the module and PyTorch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from torch_errors import raises_as_torch


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


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_gives_zero_weights_to_a_query_that_may_attend_to_nothing(kind):
    torch = pytest.importorskip("torch")
    allowed = np.array([[True, False, True], [False, False, False], [False, True, False], [False, False, False]])
    mask = allowed if kind == "bool" else np.where(allowed, 0.5, -np.inf)
    q, k, v = _data((2, 4, 5), 1), _data((2, 3, 5), 2), _data((2, 3, 2), 3)
    ours = [tapegrad.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=tapegrad.tensor(mask))
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=torch.tensor(mask))
    assert (out.detach().numpy()[:, [1, 3]] == 0).all()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.square().sum().backward()
    ref.square().sum().backward()
    for a, b in zip(ours, theirs):
        assert np.isfinite(a.grad.numpy()).all()
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


MHA_CASES = [({}, {}), ({"batch_first": True}, {}), ({"bias": False}, {"average_attn_weights": False}),
             ({"batch_first": True}, {"need_weights": False}), ({}, {"attn_mask": "causal"}),
             ({}, {"key_padding_mask": "last"}), ({}, {"cross": True}), ({"dropout": 0.0}, {"unbatched": True}),
             ({"kdim": 3, "vdim": 5}, {"attn_mask": "causal", "key_padding_mask": "last"}),
             ({"kdim": 3, "vdim": 5, "batch_first": True, "bias": False}, {"need_weights": False}),
             ({"add_bias_kv": True}, {"attn_mask": "causal", "key_padding_mask": "last"}),
             ({"add_zero_attn": True}, {"key_padding_mask": "last", "need_weights": False}),
             ({"add_bias_kv": True, "add_zero_attn": True}, {"attn_mask": "float", "cross": True}),
             ({"add_zero_attn": True}, {"unbatched": True, "attn_mask": "causal"}),
             ({}, {"attn_mask": "causal", "is_causal": True, "need_weights": False}),
             ({}, {"attn_mask": "per_head", "key_padding_mask": "last", "need_weights": False})]


def _mha_inputs(options: dict, call: dict) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(query, key, value) data for a case: key and value None for self-attention, one array
    (one tensor) for ``cross``, separate arrays of ``kdim`` and ``vdim`` features otherwise."""
    unbatched = call.get("unbatched")
    x = _data((4, 6) if unbatched else (4, 2, 6), 8)
    if "kdim" in options:
        return x, _data((4, 2, options["kdim"]), 9), _data((4, 2, options["vdim"]), 10)
    if call.get("cross"):
        y = _data((4, 2, 6), 9)
        return x, y, y
    return x, None, None


def _mha_kwargs(lib, call: dict) -> dict:
    kwargs = {}
    masks = {"causal": lambda: lib.tensor(np.triu(np.ones((4, 4), bool), 1)),
             "float": lambda: lib.tensor(_data((4, 4), 11)),
             "per_head": lambda: lib.tensor(_data((6, 4, 4), 12) > 1.0)}
    if call.get("attn_mask"):
        kwargs["attn_mask"] = masks[call["attn_mask"]]()
    if call.get("key_padding_mask"):
        kwargs["key_padding_mask"] = lib.tensor(np.array([[False] * 4, [False] * 3 + [True]]))
    for name in ("average_attn_weights", "need_weights", "is_causal"):
        if name in call:
            kwargs[name] = call[name]
    return kwargs


@pytest.mark.torch
@pytest.mark.parametrize("options, call", MHA_CASES, ids=[str(c) for c in MHA_CASES])
def test_multihead_attention_matches_torch_from_the_same_seed(options, call):
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(0)
    torch.manual_seed(0)
    ours = nn.MultiheadAttention(6, 3, dtype=tapegrad.float64, **options)
    theirs = torch.nn.MultiheadAttention(6, 3, dtype=torch.float64, **options)
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-14)  # the same draws
    x, y, z = _mha_inputs(options, call)
    a, b = tapegrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if y is None:
        ours_kv, theirs_kv = (a, a), (b, b)
    elif y is z:
        ours_kv, theirs_kv = (tapegrad.tensor(y),) * 2, (torch.tensor(y),) * 2
    else:
        ours_kv, theirs_kv = (tapegrad.tensor(y), tapegrad.tensor(z)), (torch.tensor(y), torch.tensor(z))
    out, weights = ours(a, *ours_kv, **_mha_kwargs(tapegrad, call))
    ref, ref_weights = theirs(b, *theirs_kv, **_mha_kwargs(torch, call))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert (weights is None) == (ref_weights is None)
    if weights is not None:
        np.testing.assert_allclose(weights.detach().numpy(), ref_weights.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.square().sum().backward()
    ref.square().sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_multihead_attention_gradients_match_finite_differences():
    tapegrad.manual_seed(0)
    module = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=5,
                                   dtype=tapegrad.float64)
    key, value = tapegrad.tensor(_data((4, 2, 3), 1)), tapegrad.tensor(_data((4, 2, 5), 2))
    mask = tapegrad.tensor(np.array([[False] * 4, [False] * 2 + [True] * 2]))

    def attend(query, *params):
        return module(query, key, value, key_padding_mask=mask)[0]

    query = tapegrad.tensor(_data((3, 2, 4), 3), requires_grad=True)
    assert tapegrad.autograd.gradcheck(attend, (query, *module.parameters()))


MHA_ERRORS = [
    ("int_mask", lambda lib, m, x: m(x, x, x, attn_mask=lib.zeros(3, 3, dtype=lib.int64))),
    ("mask_shape", lambda lib, m, x: m(x, x, x, attn_mask=lib.zeros(3, 2))),
    ("mask_3d_shape", lambda lib, m, x: m(x, x, x, attn_mask=lib.zeros(3, 3, 3))),
    ("padding_shape", lambda lib, m, x: m(x, x, x, key_padding_mask=lib.zeros(2, 2, dtype=lib.bool))),
    ("padding_dims", lambda lib, m, x: m(x, x, x, key_padding_mask=lib.zeros(2, dtype=lib.bool))),
    ("query_dims", lambda lib, m, x: m(x[None], x[None], x[None])),
    ("key_dims", lambda lib, m, x: m(x, x[0], x[0])),
    ("embed_dim", lambda lib, m, x: m(x[..., :2], x[..., :2], x[..., :2])),
    ("kv_shapes", lambda lib, m, x: m(x, x, x[:2])),
    ("is_causal", lambda lib, m, x: m(x, x, x, is_causal=True)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call", MHA_ERRORS, ids=[e[0] for e in MHA_ERRORS])
def test_multihead_attention_errors_match_torch(name, call):
    x = np.ones((3, 2, 4))
    raises_as_torch(lambda L: call(L, L.nn.MultiheadAttention(4, 2, dtype=L.float64), L.tensor(x)))


def test_multihead_attention_refuses_bad_sizes():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 2)
