"""``tapegrad.histogram``: counts, weights and densities over equal bins of a range (the input's own
by default) or between given edges, the last bin closed, with PyTorch's errors; against PyTorch
where it is installed."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad


def test_counts_edges_and_the_closed_last_bin() -> None:
    x = tapegrad.tensor([0.0, 1.0, 1.0, 2.5, 3.0, -1.0, 4.0, float("nan")])
    hist, edges = tapegrad.histogram(x, bins=3, range=(0.0, 3.0))
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert hist.tolist() == [1.0, 2.0, 2.0]  # 3.0 is in the last bin; -1, 4 and NaN are outside
    assert hist.dtype is x.dtype and not hist.requires_grad
    # The input's own range, widened by a half on each side when it is one value.
    assert tapegrad.histogram(tapegrad.tensor([2.0, 2.0]), 2).bin_edges.tolist() == [1.5, 2.0, 2.5]
    assert tapegrad.histogram(tapegrad.tensor([]), 2).bin_edges.tolist() == [0.0, 0.5, 1.0]
    # Given edges, of any widths.
    hist, _ = tapegrad.histogram(tapegrad.tensor([0.5, 1.5, 1.7, 9.0]), bins=tapegrad.tensor([0.0, 1.0, 2.0, 10.0]))
    assert hist.tolist() == [1.0, 2.0, 1.0]
    assert x.histogram(3, range=(0.0, 3.0)).hist.tolist() == [1.0, 2.0, 2.0]


def test_weights_and_density() -> None:
    x = tapegrad.tensor([[0.5, 1.5], [1.5, 3.5]], dtype=tapegrad.float64)
    weight = tapegrad.tensor([[2.0, 1.0], [0.5, 4.0]], dtype=tapegrad.float64)
    hist, edges = tapegrad.histogram(x, bins=2, range=(0.0, 4.0), weight=weight)
    assert hist.tolist() == [3.5, 4.0]
    density, _ = tapegrad.histogram(x, bins=tapegrad.tensor([0.0, 1.0, 4.0], dtype=tapegrad.float64), density=True)
    # Counts 1 and 3 over widths 1 and 3, divided by the total 4: the density integrates to 1.
    assert density.tolist() == [0.25, 0.25]
    assert float((density * tapegrad.tensor([1.0, 3.0], dtype=tapegrad.float64)).sum()) == 1.0


def test_errors() -> None:
    x = tapegrad.tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="\"histogramdd\" not implemented for 'Long'"):
        tapegrad.histogram(tapegrad.tensor([1, 2]), 2)
    with pytest.raises(RuntimeError, match="bins must be > 0, but got 0 for dimension 0"):
        tapegrad.histogram(x, 0)
    with pytest.raises(RuntimeError, match="min should not exceed max, but got min 3 max 1 for dimension 0"):
        tapegrad.histogram(x, 2, range=(3.0, 1.0))
    with pytest.raises(RuntimeError, match=r"dimension 0's range \[1, inf\] is not finite"):
        tapegrad.histogram(tapegrad.tensor([1.0, float("inf")]), 2)
    with pytest.raises(RuntimeError, match="weight tensor is provided it should have the same shape"):
        tapegrad.histogram(x, 2, weight=tapegrad.tensor([1.0]))


def _run(lib: Any, a: np.ndarray, kw: dict[str, Any]) -> Any:
    kw = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return lib.histogram(lib.tensor(a), **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch(dtype: Any) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for n in (1, 7, 100, 1000):
        a = (rng.standard_normal(n) * 3).astype(dtype)
        edges = np.array([-3.0, -1.0, 0.0, 0.5, 4.0], dtype)
        for kw in (dict(bins=5), dict(bins=13, range=(-2.0, 2.0)), dict(bins=7, density=True), dict(bins=edges),
                   dict(bins=4, weight=rng.random(n).astype(dtype))):
            ours, theirs = _run(tapegrad, a, kw), _run(torch, a, kw)
            # The edges are linspace's, which may round an edge an ulp apart from PyTorch's.
            np.testing.assert_allclose(ours.bin_edges.numpy(), theirs.bin_edges.numpy(), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(ours.hist.numpy(), theirs.hist.numpy(), rtol=1e-5)
            assert ours.hist.dtype.name == str(theirs.hist.dtype).split(".")[1]
