"""Backward-time fusion on mixed tapes: chains of elementwise steps and sums between matrix
products run as one kernel per chain, with the gradients of the unfused sweep.

The tapes here (matrix products and elementwise ops) would run as one whole-tape kernel
(test_fused_backward_layers.py); these tests turn that off, so that the chains a tape with
other ops (convolutions, indexing, ...) gets are tested on small, readable tapes."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad.autograd import fused_backward
from tapegrad.ops.pointwise import ElementwiseOp
from autograd_helpers import assert_second_sweep_fused

TOL = {np.float32: 2e-5, np.float64: 1e-12}


pytestmark = pytest.mark.usefixtures("fresh_structures")


@pytest.fixture(autouse=True)
def chains_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused_backward, "run", lambda *args: None)


@pytest.fixture
def elementwise_vjps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the elementwise VJPs the sweep runs one by one (fused chains run none)."""
    calls: list[str] = []
    original = ElementwiseOp.vjp

    def counting(self: ElementwiseOp, step: Any, grad: Any) -> Any:
        calls.append(self.name)
        return original(self, step, grad)

    monkeypatch.setattr(ElementwiseOp, "vjp", counting)
    return calls


def _params(shapes: list[tuple[int, ...]], dtype: Any, seed: int = 0) -> list[tapegrad.Tensor]:
    rng = np.random.default_rng(seed)
    return [tapegrad.tensor((rng.standard_normal(s) * 0.5).astype(dtype), requires_grad=True) for s in shapes]


def _grads(loss_fn: Callable[[], Any], params: list[tapegrad.Tensor], runs: int,
           reset: bool = True) -> list[list[np.ndarray]]:
    """Gradients of ``params`` after each of ``runs`` fresh forward and backward passes."""
    results = []
    for _ in range(runs):
        if reset:
            for p in params:
                p.grad = None
        loss_fn().backward()
        results.append([p.grad.numpy().copy() for p in params])
    return results


def _assert_close(got: list[np.ndarray], want: list[np.ndarray], dtype: Any) -> None:
    tol = TOL[dtype]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


ACTIVATIONS = {"relu": tapegrad.relu, "tanh": tapegrad.tanh, "sigmoid": tapegrad.sigmoid}


def _mlp(activation: str, dtype: Any) -> tuple[Callable[[], Any], list[tapegrad.Tensor]]:
    rng = np.random.default_rng(1)
    x = tapegrad.tensor(rng.standard_normal((8, 12)).astype(dtype))
    y = tapegrad.tensor(rng.standard_normal((8, 3)).astype(dtype))
    w1, b1, w2, b2 = params = _params([(12, 16), (16,), (16, 3), (3,)], dtype)
    act = ACTIVATIONS[activation]

    def loss() -> Any:
        out = act(x @ w1 + b1) @ w2 + b2
        return ((out - y) ** 2).mean()

    return loss, params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_gradients_match_unfused(activation: str, dtype: Any, unfused: Any) -> None:
    loss, params = _mlp(activation, dtype)
    want = unfused(lambda: _grads(loss, params, 1))[0]
    runs = fused_backward.FUSE_AFTER + 2
    results = _grads(loss, params, runs)
    # The loss chain (mean, pow, sub, add) and the hidden chain (activation, add) compiled.
    assert len(fused_backward._compiled) == 2 and None not in fused_backward._compiled.values()
    for got in results:
        _assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_between_two_matmuls(dtype: Any, unfused: Any) -> None:
    rng = np.random.default_rng(2)
    x = tapegrad.tensor(rng.standard_normal((5, 6)).astype(dtype))
    a, b = params = _params([(6, 7), (7, 4)], dtype)

    def loss() -> Any:
        h = ((x @ a).tanh() * 2 + 1).sigmoid()
        return (h * h.exp() @ b).sum()

    want = unfused(lambda: _grads(loss, params, 1))[0]
    results = _grads(loss, params, fused_backward.FUSE_AFTER + 2)
    assert len(fused_backward._compiled) == 1
    for got in results:
        _assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_recomputation_in_vjps_is_fused(dtype: Any, unfused: Any, elementwise_vjps: list[str]) -> None:
    """softplus's VJP recomputes ``sigmoid(beta * x)`` from the saved input; that forward
    work lands in the chain's kernel too."""
    rng = np.random.default_rng(7)
    x = tapegrad.tensor(rng.standard_normal((5, 6)).astype(dtype))
    a, b = params = _params([(6, 6), (6, 2)], dtype)

    def loss() -> Any:
        h = x @ a
        return ((F.softplus(h, beta=2.0) + F.silu(h)).tanh() @ b).sum()

    want = unfused(lambda: _grads(loss, params, 1))[0]
    results = _grads(loss, params, fused_backward.FUSE_AFTER)
    elementwise_vjps.clear()
    results += _grads(loss, params, 2)
    assert len(fused_backward._compiled) == 1 and not elementwise_vjps
    for got in results:
        _assert_close(got, want, dtype)


def test_sightings_are_forgotten_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused_backward, "SEEN_LIMIT", 4)
    w = _params([(3, 3)], np.float64)[0]
    for rows in range(1, 10):
        x = tapegrad.ones(rows, 3, dtype=tapegrad.float64)
        ((x @ w).tanh() * 2).sum().backward()
        assert len(fused_backward._seen) <= 4
    assert not fused_backward._compiled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_used_by_two_chains(dtype: Any, unfused: Any) -> None:
    """``h`` feeds two chains: its own step gets their gradients added up."""
    rng = np.random.default_rng(3)
    x = tapegrad.tensor(rng.standard_normal((4, 5)).astype(dtype))
    w, v, u = params = _params([(5, 6), (6, 2), (6, 3)], dtype)

    def loss() -> Any:
        h = (x @ w).tanh()
        left = (h * 2).sigmoid() @ v
        right = (h + 1).relu() @ u
        return left.sum() + (right * right).mean()

    want = unfused(lambda: _grads(loss, params, 1))[0]
    results = _grads(loss, params, fused_backward.FUSE_AFTER + 2)
    # (sigmoid, mul), (relu, add) and the loss (add, sum, mean, mul); tanh runs on its own.
    assert len(fused_backward._compiled) == 3
    for got in results:
        _assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_output_meets_a_matmul_gradient(dtype: Any, unfused: Any) -> None:
    """``h`` is read by a matrix product and by a chain; the chain runs before the product."""
    rng = np.random.default_rng(4)
    x = tapegrad.tensor(rng.standard_normal((4, 5)).astype(dtype))
    w, v = params = _params([(5, 5), (5, 5)], dtype)

    def loss() -> Any:
        h = (x @ w).tanh()
        return ((h @ v + h * 3).sigmoid() * 2).sum()

    want = unfused(lambda: _grads(loss, params, 1))[0]
    results = _grads(loss, params, fused_backward.FUSE_AFTER + 2)
    assert len(fused_backward._compiled) == 1
    for got in results:
        _assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaves_inside_chains(dtype: Any, unfused: Any) -> None:
    """Leaves read by the chain (a scale used twice, a broadcast bias) get their gradients
    from the chain's kernel, as does the matrix product feeding it."""
    rng = np.random.default_rng(5)
    x = tapegrad.tensor(rng.standard_normal((6, 4)).astype(dtype))
    w, s, b = params = _params([(4, 3), (3,), (1, 3)], dtype)

    def loss() -> Any:
        h = x @ w
        return ((h * s + s).tanh() - b * h).pow(2).sum(1).mean()

    want = unfused(lambda: _grads(loss, params, 1))[0]
    results = _grads(loss, params, fused_backward.FUSE_AFTER + 2)
    assert len(fused_backward._compiled) == 1
    for got in results:
        _assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accumulates_into_existing_grad(dtype: Any, unfused: Any) -> None:
    loss, params = _mlp("tanh", dtype)
    runs = fused_backward.FUSE_AFTER + 2
    want = unfused(lambda: _grads(loss, params, runs, reset=False))
    for p in params:
        p.grad = None
    got = _grads(loss, params, runs, reset=False)
    assert fused_backward._compiled
    for g, w in zip(got, want):
        _assert_close(g, w, dtype)


def test_retain_graph_allows_a_second_fused_sweep(unfused: Any, elementwise_vjps: list[str]) -> None:
    loss, params = _mlp("sigmoid", np.float64)
    want = unfused(lambda: _grads(loss, params, 1))[0]
    _grads(loss, params, fused_backward.FUSE_AFTER)
    assert_second_sweep_fused(loss, params, want, elementwise_vjps)


def test_fused_chains_run_no_elementwise_vjp(elementwise_vjps: list[str]) -> None:
    loss, params = _mlp("relu", np.float32)
    _grads(loss, params, fused_backward.FUSE_AFTER)
    elementwise_vjps.clear()
    _grads(loss, params, 2)
    assert elementwise_vjps == []


def test_structure_seen_fewer_than_fuse_after_times_is_not_compiled(elementwise_vjps: list[str]) -> None:
    loss, params = _mlp("relu", np.float32)
    _grads(loss, params, fused_backward.FUSE_AFTER - 1)
    assert not fused_backward._compiled
    # Until then, every sweep runs the elementwise VJPs one by one.
    assert elementwise_vjps.count("relu") == fused_backward.FUSE_AFTER - 1
    _grads(loss, params, 1)
    assert len(fused_backward._compiled) == 2


def test_single_fusable_steps_between_matmuls_are_not_compiled() -> None:
    params = _params([(3, 4), (4, 2)], np.float64)
    x = tapegrad.ones(5, 3, dtype=tapegrad.float64)

    def loss() -> Any:
        return ((x @ params[0]).tanh() @ params[1]).sum()

    _grads(loss, params, fused_backward.FUSE_AFTER + 2)
    assert not fused_backward._compiled


def test_long_chains_are_split(monkeypatch: pytest.MonkeyPatch, unfused: Any) -> None:
    monkeypatch.setattr(fused_backward, "MAX_STEPS", 3)
    rng = np.random.default_rng(6)
    x = tapegrad.tensor(rng.standard_normal((3, 4)))
    w, v = params = _params([(4, 4), (4, 2)], np.float64)

    def loss() -> Any:
        h = x @ w
        for _ in range(4):
            h = (h * 0.9 + 0.1).tanh()
        return (h @ v).sum()

    want = unfused(lambda: _grads(loss, params, 1))[0]
    results = _grads(loss, params, fused_backward.FUSE_AFTER + 1)
    # Four chains (tanh, add, mul) of one structure: they share one kernel.
    assert len(fused_backward._compiled) == 1
    for got in results:
        _assert_close(got, want, np.float64)


def test_hooks_and_retained_grads_take_the_ordinary_sweep(unfused: Any) -> None:
    loss, params = _mlp("tanh", np.float64)
    want = unfused(lambda: _grads(loss, params, 1))[0]
    _grads(loss, params, fused_backward.FUSE_AFTER + 1)
    w1, b1, w2, b2 = params
    rng = np.random.default_rng(1)
    x = tapegrad.tensor(rng.standard_normal((8, 12)))
    y = tapegrad.tensor(rng.standard_normal((8, 3)))
    for p in params:
        p.grad = None
    seen = []
    hidden = (x @ w1 + b1).tanh()
    hidden.register_hook(lambda g: seen.append(g.clone()))
    out = hidden @ w2 + b2
    out.retain_grad()
    ((out - y) ** 2).mean().backward()
    assert len(seen) == 1 and out.grad is not None
    _assert_close([p.grad.numpy() for p in params], want, np.float64)


def test_inplace_change_of_saved_tensor_still_raises() -> None:
    loss, params = _mlp("tanh", np.float64)
    _grads(loss, params, fused_backward.FUSE_AFTER + 1)
    w1, b1, w2, b2 = params
    x = tapegrad.ones(8, 12, dtype=tapegrad.float64)
    hidden = (x @ w1 + b1).tanh()
    value = (hidden @ w2 + b2).pow(2).mean()
    with tapegrad.no_grad():
        hidden.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        value.backward()


def test_chain_the_tracer_cannot_record_runs_unfused(untraceable_vjps: Any, unfused: Any) -> None:
    loss, params = _mlp("tanh", np.float64)
    want = unfused(lambda: _grads(loss, params, 1))[0]
    untraceable_vjps(ElementwiseOp)
    results = _grads(loss, params, fused_backward.FUSE_AFTER + 2)
    assert fused_backward._compiled and set(fused_backward._compiled.values()) == {None}
    for got in results:
        _assert_close(got, want, np.float64)
