"""rms_norm / RMSNorm, local_response_norm / LocalResponseNorm, channel_shuffle /
ChannelShuffle, pdist and the deprecated upsample functions: values and gradients against
PyTorch (float64), finite differences, reprs, warnings and PyTorch's errors."""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck
from torch_errors import raises_as_torch


def _data(shape: tuple[int, ...], seed: int, dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _compare(fn: Callable[..., Any], arrays: list[np.ndarray], rtol: float = 1e-10) -> None:
    """``fn(lib, *tensors)`` in both libraries: equal values and input gradients."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(lib, *inputs)
        (out * lib.tensor(_data(tuple(out.shape), 9, arrays[0].dtype.name))).sum().backward()
        results.append([out, *[x.grad for x in inputs]])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=rtol)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, normalized, eps", [((2, 3, 4), (4,), None), ((2, 3, 4), (3, 4), 1e-3),
                                                    ((5,), (5,), 0.5)], ids=str)
def test_rms_norm_matches_torch(shape: tuple, normalized: Any, eps: Any, dtype: str) -> None:
    rtol = 1e-10 if dtype == "float64" else 2e-6
    _compare(lambda L, x: L.nn.functional.rms_norm(x, normalized, eps=eps), [_data(shape, 1, dtype)], rtol)
    _compare(lambda L, x, w: L.nn.functional.rms_norm(x, normalized, w, eps),
             [_data(shape, 2, dtype), _data(normalized, 3, dtype)], rtol)


@pytest.mark.torch
def test_rms_norm_module_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for args in (((3,), {}), (([3, 4],), dict(eps=1e-3, elementwise_affine=False)), ((4,), dict(eps=0.1))):
        ours, theirs = nn.RMSNorm(*args[0], **args[1]), torch.nn.RMSNorm(*args[0], **args[1])
        assert repr(ours) == repr(theirs)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    module = nn.RMSNorm(4, dtype=tapegrad.float64)
    np.testing.assert_array_equal(module.weight.detach().numpy(), 1.0)
    x = _data((3, 4), 4)
    _compare(lambda L, t: (nn.RMSNorm(4, dtype=tapegrad.float64) if L is tapegrad
                           else torch.nn.RMSNorm(4, dtype=torch.float64))(t), [x])


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 4, 3, 2), (1, 6, 2, 1, 2)], ids=str)
@pytest.mark.parametrize("size", [1, 2, 3, 6])
def test_local_response_norm_matches_torch(shape: tuple, size: int) -> None:
    _compare(lambda L, x: L.nn.functional.local_response_norm(x, size, alpha=0.5, beta=0.6, k=1.5), [_data(shape, 5)])
    _compare(lambda L, x: L.nn.LocalResponseNorm(size)(x), [_data(shape, 6)])


@pytest.mark.torch
@pytest.mark.parametrize("shape, groups", [((2, 6, 3), 2), ((1, 6, 2, 2), 3), ((2, 4, 1, 1, 2), 4), ((2, 5, 2), 1)],
                         ids=str)
def test_channel_shuffle_matches_torch(shape: tuple, groups: int) -> None:
    _compare(lambda L, x: L.nn.functional.channel_shuffle(x, groups), [_data(shape, 7)])
    _compare(lambda L, x: L.nn.ChannelShuffle(groups)(x), [_data(shape, 8)])


@pytest.mark.torch
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5, 3.0, 0.5, float("inf"), 0.0])
def test_pdist_matches_torch(p: float) -> None:
    x = _data((5, 3), 10)
    x[3] = x[1]  # a zero distance: PyTorch's gradient there is zero
    _compare(lambda L, t: L.nn.functional.pdist(t, p), [x])
    _compare(lambda L, t: L.nn.functional.pdist(t, p), [_data((1, 4), 11)])


def test_gradients_against_finite_differences() -> None:
    x = tapegrad.tensor(_data((2, 4, 3), 12), requires_grad=True)
    w = tapegrad.tensor(_data((3,), 13), requires_grad=True)
    assert gradcheck(lambda a, b: F.rms_norm(a, (3,), b, 1e-3), (x, w))
    assert gradgradcheck(lambda a, b: F.rms_norm(a, (3,), b, 1e-3), (x, w))
    assert gradcheck(lambda a: F.local_response_norm(a, 3, alpha=0.3, beta=0.7), (x,))
    assert gradcheck(lambda a: F.channel_shuffle(a, 2), (x,))
    assert gradcheck(lambda a: F.pdist(a[0], 2.5), (x,))


@pytest.mark.torch
@pytest.mark.parametrize("name, call", [
    ("upsample", lambda L, x: L.nn.functional.upsample(x, scale_factor=2, mode="bilinear", align_corners=False)),
    ("upsample_nearest", lambda L, x: L.nn.functional.upsample_nearest(x, size=(3, 5))),
    ("upsample_bilinear", lambda L, x: L.nn.functional.upsample_bilinear(x, scale_factor=1.5)),
])
def test_upsample_functions_warn_and_match_torch(name: str, call: Callable) -> None:
    torch = pytest.importorskip("torch")
    _compare(call, [_data((1, 2, 2, 3), 14)])
    texts = []
    for lib in (tapegrad, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call(lib, lib.ones(1, 1, 2, 2))
        texts.append([(w.category, str(w.message)) for w in caught])
    assert texts[0] == texts[1] and name in str(texts[0])


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.rms_norm(L.randn(2, 3), (2,)),
    lambda L: L.nn.functional.rms_norm(L.randn(2, 3), (3,), L.ones(2)),
    lambda L: L.nn.functional.rms_norm(L.tensor([[1, 2]]), (2,)),
    lambda L: L.nn.functional.local_response_norm(L.randn(2, 3), 2),
    lambda L: L.nn.functional.channel_shuffle(L.randn(2, 6, 2), 4),
    lambda L: L.nn.functional.channel_shuffle(L.randn(6, 2), 2),
    lambda L: L.nn.functional.channel_shuffle(L.randn(2, 6, 2), 0),
    lambda L: L.nn.functional.pdist(L.randn(3)),
    lambda L: L.nn.functional.pdist(L.randn(3, 2), -1),
    lambda L: L.nn.functional.pdist(L.tensor([[1, 2]])),
], ids=["rms_shape", "rms_weight", "rms_long", "lrn_rank", "shuffle_groups", "shuffle_rank", "shuffle_zero",
        "pdist_rank", "pdist_p", "pdist_long"])
def test_errors_match_torch(call: Callable) -> None:
    raises_as_torch(call)


def test_local_response_norm_of_an_empty_input_is_the_input() -> None:
    x = tapegrad.ones(0, 3, 2)
    assert F.local_response_norm(x, 2) is x
