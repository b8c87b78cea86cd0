"""F.ctc_loss and nn.CTCLoss: losses and gradients (of the logits and of the log-probabilities)
against PyTorch for every reduction, target layout, blank and zero_infinity; impossible
alignments; unbatched input; finite differences; PyTorch's errors; CUDA; compile's refusal."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from torch_errors import raises_as_torch
from tapegrad.compiler import TraceError

LOGITS = np.random.default_rng(0).standard_normal((6, 3, 5))
PADDED = np.array([[1, 2, 2], [3, 4, 0], [4, 4, 1]])
INPUT_LENGTHS, TARGET_LENGTHS = [6, 3, 5], [3, 1, 2]


def _run(lib: Any, targets: np.ndarray, dtype: str, upstream: np.ndarray | None, **options: Any) -> list[Any]:
    logits = lib.tensor(LOGITS.astype(dtype), requires_grad=True)
    log_probs = logits.log_softmax(2)
    log_probs.retain_grad()
    loss = lib.nn.functional.ctc_loss(log_probs, lib.tensor(targets), lib.tensor(INPUT_LENGTHS),
                                      lib.tensor(TARGET_LENGTHS), **options)
    (loss * lib.tensor(upstream.astype(dtype)) if upstream is not None else loss).sum().backward()
    return [loss, logits.grad, log_probs.grad]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("options", [dict(), dict(reduction="sum", blank=4), dict(reduction="none"),
                                     dict(reduction="mean", zero_infinity=True, blank=2)], ids=str)
def test_ctc_loss_matches_torch(options: dict, layout: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    targets = PADDED if layout == "padded" else np.concatenate([r[:n] for r, n in zip(PADDED, TARGET_LENGTHS)])
    if options.get("blank") is not None:  # the blank is no label: move labels equal to it
        targets = np.where(targets == options["blank"], 0 if options["blank"] else 1, targets)
    upstream = np.array([0.5, -1.0, 2.0]) if options.get("reduction") == "none" else None
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(_run(tapegrad, targets, dtype, upstream, **options),
                            _run(torch, targets, dtype, upstream, **options), strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **tol)


@pytest.mark.torch
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_impossible_alignments_match_torch(zero_infinity: bool) -> None:
    torch = pytest.importorskip("torch")
    # Three repeated labels need five steps; the first two samples have two.
    targets, lengths = np.array([[1, 1, 1]] * 3), ([2, 2, 2], [3, 3, 1])
    results = []
    for lib in (tapegrad, torch):
        logits = lib.tensor(LOGITS[:2], requires_grad=True)
        loss = lib.nn.functional.ctc_loss(logits.log_softmax(2), lib.tensor(targets), lengths[0], lengths[1],
                                          reduction="none", zero_infinity=zero_infinity)
        loss.sum().backward()
        results.append((loss.detach().numpy(), logits.grad.numpy()))
    (loss, grad), (expected, expected_grad) = results
    np.testing.assert_allclose(loss, expected, rtol=1e-10)
    if zero_infinity:
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-12)
    else:
        assert np.isinf(loss[:2]).all() and not np.isfinite(grad[:, :2]).all()


@pytest.mark.torch
def test_unbatched_input_and_module_match_torch() -> None:
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        loss = lib.nn.CTCLoss(blank=1)(lib.tensor(LOGITS[:, 0]).log_softmax(1), lib.tensor([2, 3, 3]), (6,), (3,))
        assert repr(lib.nn.CTCLoss(blank=1)) == "CTCLoss()"
        results.append(loss.numpy())
    np.testing.assert_allclose(*results, rtol=1e-10)


def test_ctc_loss_gradcheck() -> None:
    logits = tapegrad.tensor(LOGITS[:4, :2, :4], requires_grad=True)
    targets = tapegrad.tensor([[1, 1], [3, 2]])
    assert tapegrad.autograd.gradcheck(
        lambda x: F.ctc_loss(x.log_softmax(2), targets, (4, 3), (2, 1), reduction="sum"), (logits,))


ERRORS: list[Callable[[Any], Any]] = [
    lambda L: L.nn.functional.ctc_loss(L.zeros(5, 2, 4), L.tensor([[1, 2, 3]] * 2), (5, 5), (4, 1)),
    lambda L: L.nn.functional.ctc_loss(L.zeros(5, 2, 4), L.tensor([[1, 2, 3]] * 2), (6, 5), (3, 1)),
    lambda L: L.nn.functional.ctc_loss(L.zeros(5, 2, 4), L.tensor([[1, 2, 3]] * 2), (5, 5), (3, 1), blank=4),
    lambda L: L.nn.functional.ctc_loss(L.zeros(5, 2, 4), L.tensor([[1, 2, 3]] * 2), (5, 5), (3, 1), reduction="avg"),
]


@pytest.mark.torch
@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


def test_a_compiled_step_with_ctc_loss_is_refused() -> None:
    @tapegrad.compile
    def step(x: Any, targets: Any) -> Any:
        return F.ctc_loss(x.log_softmax(2), targets, (4, 3), (2, 1))

    x, targets = tapegrad.tensor(LOGITS[:4, :2, :4]), tapegrad.tensor([[1, 1], [3, 2]])
    step(x, targets)  # the first call runs eagerly
    with pytest.raises(TraceError):
        step(x, targets)


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.nn import ctc

    result = doctest.testmod(ctc, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
    assert result.attempted and not result.failed
