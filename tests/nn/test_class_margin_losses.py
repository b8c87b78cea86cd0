"""multi_margin_loss, multilabel_margin_loss and triplet_margin_with_distance_loss, functions
and modules: values and gradients against PyTorch (float64) for every option, exact margins
(where PyTorch's gradient is zero), finite differences, reprs and PyTorch's errors."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradcheck, gradgradcheck
from torch_errors import raises_as_torch


def _data(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _compare(fn: Callable[..., Any], arrays: list[np.ndarray], fixed: list[Any] = ()) -> None:
    """``fn(lib, *tensors, *fixed)`` in both libraries (``fixed``: arrays passed without grad):
    equal values, grad_fns and input gradients."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *inputs, *[lib.tensor(a) for a in fixed])
        (out * lib.tensor(_data(tuple(out.shape), 9))).sum().backward()
        results.append([out.grad_fn.name(), out, *[x.grad for x in inputs]])
    assert results[0][0] == results[1][0]
    for ours, theirs in zip(results[0][1:], results[1][1:], strict=True):
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


# (input shape, target) pairs: batched, a single sample, a sample with a 1-element target, 0-d
MULTI_MARGIN_CASES = [((4, 5), np.array([0, 4, 2, 2])), ((5,), np.array(3)), ((3,), np.array([1])),
                      ((), np.array(0))]


@pytest.mark.torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [dict(), dict(p=2), dict(margin=0.3), dict(p=2, margin=2.0, weighted=True)],
                         ids=str)
@pytest.mark.parametrize("case", range(len(MULTI_MARGIN_CASES)))
def test_multi_margin_loss_matches_torch(case: int, options: dict, reduction: str) -> None:
    shape, target = MULTI_MARGIN_CASES[case]
    options = dict(options)
    classes = shape[-1] if shape else 1
    weight = np.linspace(0.5, 2.0, classes) if options.pop("weighted", False) else None
    fixed = [target] if weight is None else [target, weight]
    _compare(lambda L, x, t, *w: L.nn.functional.multi_margin_loss(x, t, weight=w[0] if w else None,
                                                                   reduction=reduction, **options),
             [_data(shape, 1)], fixed)


@pytest.mark.torch
def test_multi_margin_loss_gradient_is_zero_where_the_margin_is_met_exactly() -> None:
    x = np.array([[0.0, 0.0, 1.0, 0.5]])  # margin 1 - x[2] + x[0] == 0 exactly
    _compare(lambda L, x, t: L.nn.functional.multi_margin_loss(x, t), [x], [np.array([2])])


MULTILABEL_CASES = [
    ((3, 5), np.array([[3, 0, -1, 1, 2], [4, 4, 1, -1, -1], [0, 1, 2, 3, 4]])),  # repeats; no -1 at all
    ((4,), np.array([2, -1, 0, 0])),
    ((3,), np.array([-1, 0, 1])),  # no targets
    ((), np.array(0)),
]


@pytest.mark.torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", range(len(MULTILABEL_CASES)))
def test_multilabel_margin_loss_matches_torch(case: int, reduction: str) -> None:
    shape, target = MULTILABEL_CASES[case]
    _compare(lambda L, x, t: L.nn.functional.multilabel_margin_loss(x, t, reduction=reduction), [_data(shape, 2)],
             [target])


@pytest.mark.torch
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("distance", ["default", "cosine", "lambda"])
def test_triplet_margin_with_distance_loss_matches_torch(distance: str, reduction: str, swap: bool) -> None:
    def call(L: Any, a: Any, p: Any, n: Any) -> Any:
        function = {"default": None, "cosine": L.nn.CosineSimilarity(), "lambda": lambda u, v: (u - v).abs().sum(-1)}
        return L.nn.functional.triplet_margin_with_distance_loss(a, p, n, distance_function=function[distance],
                                                                 margin=0.7, swap=swap, reduction=reduction)

    _compare(call, [_data((4, 3), 3), _data((4, 3), 4), _data((4, 3), 5)])


def test_gradients_against_finite_differences() -> None:
    x = tapegrad.tensor(_data((3, 4), 6), requires_grad=True)
    weight = tapegrad.tensor([0.5, 1.0, 2.0, 1.5], dtype=tapegrad.float64)
    assert gradcheck(lambda a: F.multi_margin_loss(a, tapegrad.tensor([1, 3, 0]), p=2, weight=weight), (x,))
    assert gradgradcheck(lambda a: F.multi_margin_loss(a, tapegrad.tensor([1, 3, 0]), p=2), (x,))
    assert gradcheck(lambda a: F.multilabel_margin_loss(a, tapegrad.tensor([[1, 2, -1, 0]] * 3), reduction="sum"),
                     (x,))
    y = tapegrad.tensor(_data((3, 4), 12), requires_grad=True)
    assert gradcheck(lambda a, b: F.triplet_margin_with_distance_loss(a, b, a * b, swap=True), (x, y))


@pytest.mark.torch
def test_modules_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for build in (lambda L: L.nn.MultiMarginLoss(), lambda L: L.nn.MultiMarginLoss(p=2, margin=0.5),
                  lambda L: L.nn.MultiLabelMarginLoss(reduction="sum"), lambda L: L.nn.TripletMarginWithDistanceLoss(),
                  lambda L: L.nn.TripletMarginWithDistanceLoss(distance_function=L.nn.CosineSimilarity(), swap=True)):
        assert repr(build(tapegrad)) == repr(build(torch))
    weight = np.array([1.0, 2.0, 0.5])
    _compare(lambda L, x, t, w: L.nn.MultiMarginLoss(p=2, weight=w)(x, t), [_data((2, 3), 7)],
             [np.array([2, 0]), weight])
    _compare(lambda L, x, t: L.nn.MultiLabelMarginLoss(reduction="none")(x, t), [_data((2, 3), 8)],
             [np.array([[2, -1, 0], [0, 1, -1]])])
    _compare(lambda L, a, p, n: L.nn.TripletMarginWithDistanceLoss(margin=2.0)(a, p, n),
             [_data((2, 3), 9), _data((2, 3), 10), _data((2, 3), 11)])
    assert isinstance(nn.TripletMarginWithDistanceLoss().distance_function, nn.PairwiseDistance)


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(5)),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(-1)),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor([1, 2])),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(1.0)),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(2, 0), L.tensor([1, 2])),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(2, 3, 4), L.tensor([1, 2])),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(1), weight=L.ones(3)),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(1), weight=L.ones(2, 2)),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(1), p=3),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4).int(), L.tensor(1)),
    lambda L: L.nn.functional.multi_margin_loss(L.randn(4), L.tensor(1), reduction="max"),
    lambda L: L.nn.functional.multilabel_margin_loss(L.randn(4), L.tensor([4, -1, 0, 0])),
    lambda L: L.nn.functional.multilabel_margin_loss(L.randn(4), L.tensor([0, -1, -2, 0])),
    lambda L: L.nn.functional.multilabel_margin_loss(L.randn(4), L.tensor([1, 2])),
    lambda L: L.nn.functional.multilabel_margin_loss(L.randn(2, 4), L.tensor([1, 2, 0, 0])),
    lambda L: L.nn.functional.multilabel_margin_loss(L.randn(4), L.tensor([1.0, 2, 0, 0])),
    lambda L: L.nn.functional.triplet_margin_with_distance_loss(L.randn(3), L.randn(3), L.randn(1, 3)),
    lambda L: L.nn.functional.triplet_margin_with_distance_loss(L.randn(3), L.randn(3), L.randn(3), margin=0),
    lambda L: L.nn.functional.triplet_margin_with_distance_loss(L.randn(3), L.randn(3), L.randn(3), reduction="x"),
    lambda L: L.nn.MultiMarginLoss(p=3),
    lambda L: L.nn.MultiMarginLoss(weight=L.ones(2, 2)),
    lambda L: L.nn.TripletMarginWithDistanceLoss(margin=-1),
], ids=["target_high", "target_negative", "target_size", "target_float", "empty_classes", "input_rank",
        "weight_size", "weight_rank", "p", "int_input", "reduction", "label_high", "label_low", "labels_size",
        "labels_rank", "labels_float", "triplet_dims", "triplet_margin", "triplet_reduction", "module_p",
        "module_weight", "module_margin"])
def test_errors_match_torch(call: Callable) -> None:
    raises_as_torch(call)
