"""``tapegrad.compile`` of steps whose loss weighs classes or ignores targets.

A compiled step computes each batch's picked weights, ignored mask and total weight itself, so
batches with other ignored targets than the traced one (none, some, all of them) give the eager
numbers without a new trace. Call 1 runs eagerly, call 2 is traced, calls 3+ replay.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F

IGNORE = 1
CLASSES = 3
CLASS_WEIGHTS = [0.5, 2.0, 1.25]


def _model(dtype: Any, spatial: bool) -> nn.Module:
    tapegrad.manual_seed(0)
    model = nn.Conv2d(2, CLASSES, 1) if spatial else nn.Linear(4, CLASSES)
    return model.double() if np.dtype(dtype) == np.float64 else model


def _labels(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> tapegrad.Tensor:
    """Class indices with none, some or all of them equal to ``IGNORE``."""
    if kind == "none":
        labels = rng.choice([0, 2], shape)
    elif kind == "all":
        labels = np.full(shape, IGNORE)
    else:
        labels = rng.integers(0, CLASSES, shape)
        labels.reshape(-1)[0] = IGNORE
    return tapegrad.tensor(labels.astype(np.int64))


# The traced call sees no ignored target; later ones see some, then all, then some again.
KINDS = ["none", "none", "none", "some", "all", "some", "none"]


def _batches(dtype: Any, spatial: bool) -> list[tuple[tapegrad.Tensor, tapegrad.Tensor]]:
    rng = np.random.default_rng(3)
    x_shape, y_shape = ((4, 2, 2, 3), (4, 2, 3)) if spatial else ((6, 4), (6,))
    return [(tapegrad.tensor(rng.standard_normal(x_shape).astype(dtype)), _labels(rng, y_shape, kind))
            for kind in KINDS]


def _make(dtype: Any, spatial: bool, **loss_options: Any):
    model = _model(dtype, spatial)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if loss_options.pop("weighted", False):
        loss_options["weight"] = tapegrad.tensor(CLASS_WEIGHTS, dtype=model.weight.dtype)

    def step(x: tapegrad.Tensor, y: tapegrad.Tensor) -> tapegrad.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y, ignore_index=IGNORE, **loss_options)
        if loss.ndim:
            loss = loss.sum()
        loss.backward()
        opt.step()
        return loss

    return model, step


CASES = {
    "weighted_mean": dict(weighted=True),
    "ignored_mean": dict(),
    "weighted_sum": dict(weighted=True, reduction="sum"),
    "weighted_none": dict(weighted=True, reduction="none"),
    "smoothed_weighted_mean": dict(weighted=True, label_smoothing=0.1),
    "spatial_weighted_mean": dict(weighted=True, spatial=True),
    "f64_smoothed_mean": dict(label_smoothing=0.2, dtype=np.float64),
}


@pytest.mark.parametrize("case", list(CASES))
def test_weighted_and_ignored_targets_match_eager_without_retracing(case):
    options = dict(CASES[case])
    dtype = options.pop("dtype", np.float32)
    spatial = options.pop("spatial", False)
    tolerance = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    eager_model, eager = _make(dtype, spatial, **options)
    model, step = _make(dtype, spatial, **options)
    compiled = tapegrad.compile(step)
    for i, (x, y) in enumerate(_batches(dtype, spatial)):
        want, got = eager(x, y), compiled(x, y)
        # An all-ignored batch's mean is 0 / 0: NaN on both sides, and no gradient at all.
        np.testing.assert_allclose(got.item(), want.item(), **tolerance, err_msg=f"loss, step {i} ({KINDS[i]})")
        for p, q in zip(eager_model.parameters(), model.parameters()):
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), **tolerance, err_msg=f"grad, step {i}")
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), **tolerance,
                                       err_msg=f"parameter, step {i}")
        if KINDS[i] == "all":
            assert np.isnan(got.item()) == (options.get("reduction", "mean") == "mean")
            assert all(not q.grad.numpy().any() for q in model.parameters())
    assert compiled.traces == 1
    assert "nll_targets" in {node.rule.name for node in compiled.tape.nodes}


def test_class_weights_are_read_at_every_replay():
    """The class weights are a captured tensor: changing them between calls changes the loss."""
    weights = tapegrad.tensor(CLASS_WEIGHTS)
    logits = tapegrad.tensor([[0.2, -0.4, 1.0], [0.5, 0.1, -0.3]])

    def loss(y):
        return F.nll_loss(F.log_softmax(logits, 1), y, weight=weights)

    compiled = tapegrad.compile(loss)
    y = tapegrad.tensor([2, 1])
    for scale in (1.0, 1.0, 1.0, 3.0, 0.5):
        with tapegrad.no_grad():
            weights.copy_(tapegrad.tensor(CLASS_WEIGHTS) * tapegrad.tensor([scale, 1.0, 1.0]))
        np.testing.assert_allclose(compiled(y).item(), loss(y).item(), rtol=1e-6)
    weights_now = np.array(CLASS_WEIGHTS, np.float32) * [0.5, 1, 1]
    picked = F.log_softmax(logits, 1).numpy()[[0, 1], [2, 1]]
    want = -(picked * weights_now[[2, 1]]).sum() / weights_now[[2, 1]].sum()
    np.testing.assert_allclose(compiled(y).item(), want, rtol=1e-6)


@pytest.mark.parametrize("bad", [3, -2])
def test_a_target_out_of_range_raises_from_a_replay_and_changes_nothing(bad):
    model, step = _make(np.float32, False, weighted=True)
    compiled = tapegrad.compile(step)
    batches = _batches(np.float32, False)
    for x, y in batches[:3]:
        compiled(x, y)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    x, y = batches[3]
    labels = y.numpy().copy()
    labels[2] = bad
    with pytest.raises(IndexError, match=f"^Target {bad} is out of bounds.$"):
        compiled(x, tapegrad.tensor(labels))
    with pytest.raises(IndexError, match=f"^Target {bad} is out of bounds.$"):
        step(x, tapegrad.tensor(labels))  # the eager op's own message
    for p, want in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), want)
    assert compiled.traces == 1
