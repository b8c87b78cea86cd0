"""Backward-time fusion in eager mode: a tape of elementwise ops and sums, seen often enough,
runs its whole backward sweep as one generated kernel, with the results of the unfused sweep."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
from tapegrad.autograd import fused_backward
from tapegrad.ops.registry import OpDef
from autograd_helpers import central_differences


pytestmark = pytest.mark.usefixtures("fresh_structures")


def _grads(fn: Callable[..., Any], inputs: list[np.ndarray], runs: int) -> list[list[np.ndarray]]:
    tensors = [tapegrad.tensor(x, requires_grad=True) for x in inputs]
    results = []
    for _ in range(runs):
        for t in tensors:
            t.grad = None
        fn(*tensors).backward()
        results.append([t.grad.numpy().copy() for t in tensors])
    return results


CHAINS = {
    "w1b": (lambda a, b: ((a * b + 1).tanh() * a).sum(), [(16,), (16,)]),
    "w2": (lambda x: (tapegrad.tanh(x * 0.5 + 1) * x + tapegrad.sigmoid(x)).sum(), [(257,)]),
    "broadcast": (lambda x, b: (tapegrad.exp(x - b) * x.sigmoid() / (b * b + 1)).mean(), [(5, 7), (7,)]),
    "sum_dim": (lambda x, y: ((x * y).relu().sum(1) ** 2).sum(), [(4, 6), (4, 6)]),
    "pow_where": (lambda x: tapegrad.where(x > 0, x ** 3, -x * 0.5).sum(), [(33,)]),
}


@pytest.mark.parametrize("name, dtype", [(name, np.float32) for name in sorted(CHAINS)]
                         + [("w1b", np.float64), ("broadcast", np.float64)])
def test_fused_sweep_matches_unfused(name: str, dtype: Any) -> None:
    fn, shapes = CHAINS[name]
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    runs = fused_backward.FUSE_AFTER + 3
    results = _grads(fn, inputs, runs)
    assert len(fused_backward._compiled) == 1 and None not in fused_backward._compiled.values()
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for later in results[fused_backward.FUSE_AFTER:]:
        for got, want in zip(later, results[0]):
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_gradients_match_finite_differences_after_fusion() -> None:
    fn, shapes = CHAINS["broadcast"]
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal(s) for s in shapes]
    results = _grads(fn, inputs, fused_backward.FUSE_AFTER + 1)
    fused = results[-1]
    for got, numeric in zip(fused, central_differences(fn, inputs)):
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-8)


def test_other_shapes_get_their_own_kernel() -> None:
    fn, _ = CHAINS["w2"]
    for size in (8, 9):
        _grads(fn, [np.linspace(-2, 2, size)], fused_backward.FUSE_AFTER + 1)
    assert len(fused_backward._compiled) == 2


def test_tape_with_another_op_fuses_only_its_chain() -> None:
    def fn(a: Any, b: Any) -> Any:
        return (a.cumsum(0) * b).tanh().sum()

    _grads(fn, [np.ones((3, 4)), np.ones((3, 4))], fused_backward.FUSE_AFTER + 2)
    # No whole-tape kernel (cumsum is neither elementwise nor a layer's op): only the chain
    # from the root to the cumulative sum is compiled.
    (key,) = fused_backward._compiled
    ops = [part[0].name for part in key if isinstance(part, tuple) and part and isinstance(part[0], OpDef)]
    assert ops == ["sum", "tanh", "mul"]


def test_inplace_change_of_saved_tensor_still_raises() -> None:
    fn, shapes = CHAINS["w1b"]
    a = tapegrad.ones(16, requires_grad=True)
    b = tapegrad.ones(16, requires_grad=True)
    for _ in range(fused_backward.FUSE_AFTER + 1):
        fn(a, b).backward()
    assert fused_backward._compiled
    x = a * 1
    loss = ((x * b + 1).tanh() * x).sum()
    with tapegrad.no_grad():
        x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_hooks_and_retained_grads_take_the_ordinary_sweep() -> None:
    a = tapegrad.ones(4, requires_grad=True)
    for _ in range(fused_backward.FUSE_AFTER + 1):
        (a * 2).sum().backward()
    seen = []
    y = a * 2
    y.register_hook(lambda g: seen.append(g.clone()))
    y.retain_grad()
    a.grad = None
    y.sum().backward()
    assert len(seen) == 1 and y.grad is not None
    np.testing.assert_array_equal(a.grad.numpy(), np.full(4, 2.0, np.float32))


def test_retain_graph_allows_a_second_fused_sweep() -> None:
    a = tapegrad.tensor([0.5, -1.0], requires_grad=True)
    for _ in range(fused_backward.FUSE_AFTER + 1):
        a.grad = None
        loss = (a.exp() * a).sum()
        loss.backward(retain_graph=True)
        loss.backward()
    expected = 2 * (np.exp([0.5, -1.0]) * (1 + np.array([0.5, -1.0])))
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
