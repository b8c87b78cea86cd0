"""``tapegrad.gradient``: finite-difference derivative estimates (central inside, one-sided of
order 1 or 2 at the ends) for even spacings and for coordinates, differentiable, with PyTorch's
errors; against PyTorch where it is installed."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad

F64 = tapegrad.float64


def test_second_order_formulas_are_exact_on_quadratics() -> None:
    # Central differences and second-order ends differentiate a quadratic exactly, for even
    # spacing and for unevenly spaced coordinates alike.
    coords = np.array([0.0, 0.5, 1.5, 1.75, 3.0, 4.5])
    (estimate,) = tapegrad.gradient(tapegrad.tensor(3 * coords ** 2 - coords + 2, dtype=F64),
                                    spacing=[tapegrad.tensor(coords, dtype=F64)], edge_order=2)
    np.testing.assert_allclose(estimate.numpy(), 6 * coords - 1, rtol=1e-12, atol=1e-12)
    even = np.arange(6) * 0.5
    (estimate,) = tapegrad.gradient(tapegrad.tensor(even ** 2, dtype=F64), spacing=0.5, edge_order=2)
    np.testing.assert_allclose(estimate.numpy(), 2 * even, rtol=1e-12, atol=1e-12)
    # First-order ends are the plain one-sided differences.
    (estimate,) = tapegrad.gradient(tapegrad.tensor([1.0, 4.0, 9.0, 16.0]))
    assert estimate.tolist() == [3.0, 4.0, 6.0, 7.0]


def test_every_dim_by_default_and_chosen_dims_and_spacings() -> None:
    x = tapegrad.tensor(np.arange(12.0).reshape(3, 4) ** 2, dtype=F64)
    rows, columns = tapegrad.gradient(x, spacing=(2.0, 0.5))
    np.testing.assert_allclose(rows.numpy(), np.gradient(x.numpy(), 2.0, axis=0))
    np.testing.assert_allclose(columns.numpy(), np.gradient(x.numpy(), 0.5, axis=1))
    (only,) = tapegrad.gradient(x, dim=-1, edge_order=2)
    np.testing.assert_allclose(only.numpy(), np.gradient(x.numpy(), axis=1, edge_order=2))
    assert tapegrad.gradient(tapegrad.tensor([1, 4, 9]))[0].dtype is tapegrad.float32


def test_gradients_flow_through_the_estimates() -> None:
    rng = np.random.default_rng(0)
    x = tapegrad.tensor(rng.standard_normal((4, 5)), dtype=F64, requires_grad=True)
    coords = tapegrad.tensor(np.cumsum(rng.random(5) + 0.2), dtype=F64, requires_grad=True)
    assert tapegrad.autograd.gradcheck(lambda t, c: tapegrad.gradient(t, spacing=[c], dim=1, edge_order=2)[0],
                                       (x, coords))
    assert tapegrad.autograd.gradcheck(lambda t: sum(g.sum() for g in tapegrad.gradient(t * t, spacing=0.3)), (x,))


def test_errors() -> None:
    x = tapegrad.ones(3, 4)
    for kwargs, message in [(dict(edge_order=3), "only supports edge_order=1 and edge_order=2"),
                            (dict(spacing=[1.0, 2.0, 3.0]), r"a list of length equal to 'self.dim\(\) = 2', since dim "
                                                            "argument was not given, but got a list of length 3"),
                            (dict(dim=1, spacing=[1.0, 2.0]), "spacing argument of length 2 and a dim argument of "
                                                              "length 1"),
                            (dict(dim=0, edge_order=2, spacing=1.0), None)]:
        if message is None:
            tapegrad.gradient(x, **kwargs)  # three rows are enough for second-order ends
            continue
        with pytest.raises(RuntimeError, match=message):
            tapegrad.gradient(x, **kwargs)
    with pytest.raises(RuntimeError, match="expected each dimension size to be at least edge_order\\+1"):
        tapegrad.gradient(tapegrad.ones(2), edge_order=2)
    with pytest.raises(RuntimeError, match="coordinates of dim 1 to be a 1-D tensor of its size 4"):
        tapegrad.gradient(x, spacing=[tapegrad.ones(3)], dim=1)


def test_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 6))
    coords = [np.cumsum(rng.random(4) + 0.1), np.cumsum(rng.random(6) + 0.1)]
    for edge_order in (1, 2):
        for spacing in (1, 0.7, (2.0, 0.5), "coords"):
            results = []
            for lib in (tapegrad, torch):
                given = [lib.tensor(c) for c in coords] if spacing == "coords" else spacing
                results.append([g.numpy() for g in lib.gradient(lib.tensor(a), spacing=given, edge_order=edge_order)])
            for ours, theirs in zip(*results):
                np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
