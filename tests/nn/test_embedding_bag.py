"""F.embedding_bag and nn.EmbeddingBag: values and gradients (weights and per-sample weights)
against PyTorch for every mode, bag layout, padding index, max_norm and scale_grad_by_freq;
finite differences; the module's draws and repr; PyTorch's errors; a compiled step."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from torch_errors import raises_as_torch

FLAT = [1, 2, 4, 5, 4, 3, 2, 9]
LAYOUTS: list[tuple[str, Any, Any, dict]] = [
    ("offsets", FLAT, [0, 4], {}),
    ("empty_bags", FLAT, [0, 4, 4, 8], {}),
    ("last_offset", FLAT, [0, 3, 8], dict(include_last_offset=True)),
    ("fixed_length", [[1, 2, 0], [4, 4, 0], [0, 0, 0]], None, {}),
    ("padding_idx", FLAT, [0, 2, 5], dict(padding_idx=4)),
    ("padding_fixed", [[1, 2, 0], [4, 4, 0], [0, 0, 0]], None, dict(padding_idx=0)),
    ("no_indices", [], [0, 0], {}),
    ("max_norm", FLAT, [0, 5], dict(max_norm=1.0, norm_type=1.5)),
    ("grad_by_freq", FLAT, [0, 1, 6], dict(scale_grad_by_freq=True)),
]


def _weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((10, 3))


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("name, indices, offsets, options", LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_embedding_bag_matches_torch(name: str, indices: Any, offsets: Any, options: dict, mode: str) -> None:
    torch = pytest.importorskip("torch")
    if mode == "max" and options.get("scale_grad_by_freq"):
        return  # PyTorch refuses this combination: see the errors
    index = np.array(indices, dtype=np.int64)
    per_sample = np.random.default_rng(1).standard_normal(index.shape) if mode == "sum" else None
    results = []
    for lib in (tapegrad, torch):
        weight = lib.tensor(_weights(), requires_grad=True)
        scales = None if per_sample is None else lib.tensor(per_sample, requires_grad=True)
        # PyTorch's CPU kernel misapplies scale_grad_by_freq (rows seen once get half their
        # gradient): its unscaled gradient divided by each row's count is the reference.
        by_freq = lib is tapegrad and options.get("scale_grad_by_freq", False)
        out = lib.nn.functional.embedding_bag(lib.tensor(index), weight,
                                              None if offsets is None else lib.tensor(np.array(offsets)),
                                              mode=mode, per_sample_weights=scales,
                                              **{**options, "scale_grad_by_freq": by_freq})
        (out * lib.tensor(np.random.default_rng(2).standard_normal(tuple(out.shape)))).sum().backward()
        grad = weight.grad
        if options.get("scale_grad_by_freq") and lib is torch:
            grad = grad / torch.tensor(np.maximum(np.bincount(index.reshape(-1), minlength=10), 1))[:, None]
        results.append([out, weight.detach(), grad] + ([] if scales is None else [scales.grad]))
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_embedding_bag_gradcheck() -> None:
    index, offsets = tapegrad.tensor(FLAT), tapegrad.tensor([0, 3, 3, 6])
    weight = tapegrad.tensor(_weights(3), requires_grad=True)
    per_sample = tapegrad.tensor(np.linspace(-1, 2, len(FLAT)), requires_grad=True)
    assert tapegrad.autograd.gradcheck(
        lambda w, p: F.embedding_bag(index, w, offsets, mode="sum", per_sample_weights=p), (weight, per_sample))
    for mode in ("mean", "max"):
        assert tapegrad.autograd.gradcheck(lambda w: F.embedding_bag(index, w, offsets, mode=mode, padding_idx=2),
                                           (weight,))


@pytest.mark.torch
def test_module_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for options in ({}, dict(mode="max", padding_idx=0, include_last_offset=True), dict(mode="sum", max_norm=2.0)):
        tapegrad.manual_seed(0)
        torch.manual_seed(0)
        ours, theirs = nn.EmbeddingBag(10, 3, **options), torch.nn.EmbeddingBag(10, 3, **options)
        assert repr(ours) == repr(theirs)
        np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
        index, offsets = np.array(FLAT), np.array([0, 4, 8])
        np.testing.assert_allclose(ours(tapegrad.tensor(index), tapegrad.tensor(offsets)).detach().numpy(),
                                   theirs(torch.tensor(index), torch.tensor(offsets)).detach().numpy(), rtol=1e-6,
                                   atol=1e-6)
    assert not isinstance(nn.EmbeddingBag(3, 2), nn.Embedding)
    frozen = nn.EmbeddingBag.from_pretrained(tapegrad.tensor(_weights()), mode="sum")
    assert not frozen.weight.requires_grad and repr(frozen) == "EmbeddingBag(10, 3, mode='sum')"


ERRORS: list[Callable[[Any], Any]] = [
    lambda L: L.nn.functional.embedding_bag(L.tensor([[1, 2]]), L.ones(10, 3), L.tensor([0])),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3)),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([[0]])),
    lambda L: L.nn.functional.embedding_bag(L.tensor([[[1]]]), L.ones(10, 3)),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([0]), mode="mean",
                                            per_sample_weights=L.ones(2)),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([0]),
                                            per_sample_weights=L.ones(3)),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([0]), mode="median"),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([1])),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([0, 3])),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10), L.tensor([0])),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1, 2]), L.ones(10, 3), L.tensor([0]), mode="max",
                                            scale_grad_by_freq=True),
    lambda L: L.nn.functional.embedding_bag(L.tensor([1., 2.]), L.ones(10, 3), L.tensor([0])),
    lambda L: L.nn.EmbeddingBag(4, 2, padding_idx=4),
]


@pytest.mark.torch
@pytest.mark.parametrize("call", ERRORS, ids=range(len(ERRORS)))
def test_errors_match_torch(call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


def test_decreasing_offsets_are_refused() -> None:
    with pytest.raises(RuntimeError, match=r"offsets have to be non-decreasing, but got \[0, 2, 1\]"):
        F.embedding_bag(tapegrad.tensor(FLAT), tapegrad.ones(10, 3), tapegrad.tensor([0, 2, 1]))


def test_a_bag_classifier_trains_compiled_as_eager() -> None:
    # Fixed-length bags (a 2-D input) need no host read of the indices, so the step records.
    def trainer() -> tuple[Any, Any]:
        tapegrad.manual_seed(0)
        bags = nn.EmbeddingBag(12, 4, mode="mean", padding_idx=0, dtype=tapegrad.float64)
        head = nn.Linear(4, 3, dtype=tapegrad.float64)
        optimizer = tapegrad.optim.SGD(list(bags.parameters()) + list(head.parameters()), lr=0.5)

        def step(tokens: Any, labels: Any) -> Any:
            optimizer.zero_grad()
            loss = F.cross_entropy(head(bags(tokens)), labels)
            loss.backward()
            optimizer.step()
            return loss

        return step, bags

    (eager, eager_bags), (step, bags) = trainer(), trainer()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(5)
    for i in range(4):
        tokens, labels = tapegrad.tensor(rng.integers(0, 12, (5, 3))), tapegrad.tensor(rng.integers(0, 3, 5))
        np.testing.assert_allclose(compiled(tokens, labels).item(), eager(tokens, labels).item(), rtol=1e-12,
                                   err_msg=f"call {i}")
        np.testing.assert_allclose(bags.weight.detach().numpy(), eager_bags.weight.detach().numpy(), rtol=1e-11,
                                   atol=1e-13)
    assert compiled.traces == 1 and compiled.tape is not None


def test_docstring_examples_run() -> None:
    import doctest

    from tapegrad.ops import embedding_bag

    result = doctest.testmod(embedding_bag, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
    assert result.attempted and not result.failed
