"""``nn.AdaptiveLogSoftmaxWithLoss`` against PyTorch: parameters (names, shapes, the values drawn
after the same seed), forward outputs and loss, gradients of the input and of every parameter,
``log_prob``, ``predict`` along each of its paths, and PyTorch's errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch_errors import raises_as_torch

import tapegrad
from tapegrad import nn

# PyTorch warns about the last config's empty cluster layer (5 // 2 ** 3 hidden features).
pytestmark = pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op")

# (in_features, n_classes, cutoffs, div_value, head_bias)
CONFIGS = [(8, 10, [3, 6], 2.0, False), (16, 20, [4, 10, 15], 4.0, True), (6, 5, [2], 1.5, False),
           (5, 12, [1, 2, 11], 2.0, True)]


def _module(lib: Any, config: tuple, dtype: Any = None) -> Any:
    in_features, n_classes, cutoffs, div_value, head_bias = config
    lib.manual_seed(0)
    return lib.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=div_value,
                                             head_bias=head_bias, dtype=dtype)


def _tolerance(dtype: Any) -> dict:
    return {"rtol": 1e-12, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-5, "atol": 2e-6}


@pytest.mark.torch
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_parameters_are_registered_and_drawn_as_in_torch(config: tuple) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _module(tapegrad, config), _module(torch, config)
    assert repr(ours) == repr(theirs)
    ours_named, theirs_named = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ours_named) == list(theirs_named)
    for name, parameter in theirs_named.items():
        np.testing.assert_array_equal(ours_named[name].detach().numpy(), parameter.detach().numpy())
    for attribute in ("in_features", "n_classes", "cutoffs", "div_value", "head_bias", "shortlist_size", "n_clusters",
                      "head_size"):
        assert getattr(ours, attribute) == getattr(theirs, attribute)
    assert type(ours.tail).__name__ == "ModuleList" and all(type(c).__name__ == "Sequential" for c in ours.tail)
    # reset_parameters draws again in the same order.
    tapegrad.manual_seed(5), torch.manual_seed(5)
    ours.reset_parameters(), theirs.reset_parameters()
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=name)


def _targets(n_classes: int, cutoffs: list[int], batch: int, seed: int) -> np.ndarray:
    """Targets in every cluster (and the shortlist), then random ones."""
    bounds = [0] + cutoffs + [n_classes]
    firsts = [low for low in bounds[:-1]]
    rest = np.random.default_rng(seed).integers(0, n_classes, batch - len(firsts))
    return np.concatenate([firsts, rest]).astype(np.int64)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_forward_loss_and_all_gradients_match_torch(config: tuple, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    in_features, n_classes, cutoffs = config[:3]
    x = np.random.default_rng(1).standard_normal((9, in_features)).astype(dtype)
    targets = _targets(n_classes, cutoffs, 9, 2)
    results = []
    for lib in (tapegrad, torch):
        module = _module(lib, config, getattr(lib, dtype))
        inputs = lib.tensor(x, requires_grad=True)
        result = module(inputs, lib.tensor(targets))
        assert type(result).__name__ == "_ASMoutput" and result._fields == ("output", "loss")
        (result.output.sum() * 0.25 + result.loss).backward()
        results.append([result.output, result.loss, inputs.grad] + [p.grad for p in module.parameters()])
    for ours, theirs in zip(*results, strict=True):
        assert tuple(ours.shape) == tuple(theirs.shape) and str(ours.dtype).split(".")[1] == dtype
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **_tolerance(dtype))


@pytest.mark.torch
@pytest.mark.parametrize("target", [0, 4, 9])
def test_an_unbatched_input_and_a_scalar_target_match_torch(target: int) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal(8).astype(np.float64)
    results = []
    for lib in (tapegrad, torch):
        module = _module(lib, CONFIGS[0], lib.float64)
        inputs = lib.tensor(x, requires_grad=True)
        output, loss = module(inputs, lib.tensor(target))
        loss.backward()
        results.append([output, loss, inputs.grad, module.head.weight.grad])
    for ours, theirs in zip(*results, strict=True):
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_log_prob_matches_torch_and_sums_to_one(config: tuple) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((7, config[0]))
    results = []
    for lib in (tapegrad, torch):
        module = _module(lib, config, lib.float64)
        inputs = lib.tensor(x, requires_grad=True)
        log_prob = module.log_prob(inputs)
        (log_prob * lib.tensor(np.random.default_rng(5).standard_normal(log_prob.shape))).sum().backward()
        results.append([log_prob, inputs.grad] + [p.grad for p in module.parameters()])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.exp(results[0][0].detach().numpy()).sum(1), 1.0, rtol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("favoured", ["shortlist", "clusters", "mixed"])
def test_predict_matches_torch_on_each_path(favoured: str) -> None:
    """A head bias steers the head's argmax into the shortlist, into the clusters, or half and
    half, which are ``predict``'s three paths."""
    torch = pytest.importorskip("torch")
    config = CONFIGS[1]
    x = np.random.default_rng(6).standard_normal((10, config[0]))
    bias = np.zeros(config[2][0] + len(config[2]))
    bias[{"shortlist": [1], "clusters": [-1], "mixed": [1, -2]}[favoured]] = 50.0
    predictions = []
    for lib in (tapegrad, torch):
        module = _module(lib, config, lib.float64)
        with lib.no_grad():
            module.head.bias.copy_(lib.tensor(bias))
            if favoured == "mixed":  # rows with a positive first feature lean to the cluster
                module.head.weight.zero_()
                module.head.weight[1, 0] = -100.0
                module.head.weight[-2, 0] = 100.0
        inputs = lib.tensor(x)
        prediction = module.predict(inputs)
        np.testing.assert_array_equal(prediction.numpy(), module.log_prob(inputs).argmax(1).numpy())
        predictions.append(prediction.numpy())
    np.testing.assert_array_equal(*predictions)
    in_shortlist = predictions[0] < config[2][0]
    expected = {"shortlist": in_shortlist.all(), "clusters": not in_shortlist.any(),
                "mixed": in_shortlist.any() and not in_shortlist.all()}
    assert expected[favoured]


ERRORS = [
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, []),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [6, 3]),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [0, 3]),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 10]),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 3]),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 4.5]),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])(L.zeros(4, 8), L.tensor([0, 1, 2])),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])(L.zeros(3, 2, 8), L.tensor([0, 1, 2])),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])(L.zeros(3, 8), L.tensor(1)),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])(L.zeros(3, 8), L.tensor([[0, 1, 2]])),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])(L.zeros(3, 8), L.tensor([0, 10, 2])),
    lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6])(L.zeros(3, 8), L.tensor([-1, 4, 2])),
]


@pytest.mark.torch
@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Any) -> None:
    raises_as_torch(call)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.nn import adaptive

    result = doctest.testmod(adaptive, extraglobs={"tapegrad": tapegrad, "nn": nn})
    assert result.attempted and not result.failed
