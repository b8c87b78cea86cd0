"""Whole-tape backward kernels for small networks: a tape of matrix products, their transposes
and reshapes, softmax, losses and elementwise steps, seen often enough, runs its backward as
one generated kernel, with the gradients of the ordinary sweep, of finite differences and of
PyTorch."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.autograd import fused_backward
from tapegrad.ops.pointwise import ElementwiseOp
from tapegrad.ops.registry import OpDef
from autograd_helpers import assert_second_sweep_fused, central_differences

TOL = {np.float32: 2e-5, np.float64: 1e-12}
DTYPES = {np.float32: tapegrad.float32, np.float64: tapegrad.float64}


pytestmark = pytest.mark.usefixtures("fresh_structures")


@pytest.fixture
def python_vjps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the VJPs the sweep runs one by one in Python (a whole-tape kernel runs none)."""
    calls: list[str] = []
    for cls in (OpDef, ElementwiseOp):
        original = cls.vjp

        def counting(self: Any, step: Any, grad: Any, original: Any = original) -> Any:
            calls.append(self.name)
            return original(self, step, grad)

        monkeypatch.setattr(cls, "vjp", counting)
    return calls


def _network(loss: str, activation: str, dtype: Any, batch: int = 8) -> tuple[Callable[[], Any], list[Any]]:
    """A two-layer network of ``nn.Linear`` layers and its loss on a fixed batch."""
    tapegrad.manual_seed(0)
    act = {"relu": nn.ReLU(), "tanh": nn.Tanh()}[activation]
    model = nn.Sequential(nn.Linear(5, 16), act, nn.Linear(16, 3)).to(DTYPES[dtype])
    x = tapegrad.randn(batch, 5, dtype=DTYPES[dtype])
    if loss == "mse":
        target = tapegrad.randn(batch, 3, dtype=DTYPES[dtype])
        return (lambda: F.mse_loss(model(x), target)), list(model.parameters())
    labels = tapegrad.randint(0, 3, (batch,))
    return (lambda: F.cross_entropy(model(x), labels)), list(model.parameters())


def _grads(loss_fn: Callable[[], Any], params: list[Any], runs: int) -> list[list[Any]]:
    """The ``.grad`` tensors of ``params`` after each of ``runs`` forward and backward passes."""
    results = []
    for _ in range(runs):
        for p in params:
            p.grad = None
        loss_fn().backward()
        results.append([p.grad for p in params])
    return results


def _assert_close(got: list[Any], want: list[Any], dtype: Any) -> None:
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_network_gradients_match_unfused(loss: str, activation: str, dtype: Any, unfused: Any,
                                         python_vjps: list[str]) -> None:
    loss_fn, params = _network(loss, activation, dtype)
    want = unfused(lambda: _grads(loss_fn, params, 1))[0]
    results = _grads(loss_fn, params, fused_backward.FUSE_AFTER)
    python_vjps.clear()
    results += _grads(loss_fn, params, 2)
    assert python_vjps == []
    assert len(fused_backward._compiled) == 1 and None not in fused_backward._compiled.values()
    snapshots = [[g.numpy().copy() for g in run] for run in results]
    for got in results:
        _assert_close(got, want, dtype)
    # Each run's gradients are buffers of their own: later kernel runs leave them alone.
    for got, snapshot in zip(results, snapshots):
        for g, s in zip(got, snapshot):
            np.testing.assert_array_equal(g.numpy(), s)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_network_gradients_match_torch(loss: str) -> None:
    torch = pytest.importorskip("torch")
    loss_fn, params = _network(loss, "relu", np.float32)
    got = _grads(loss_fn, params, fused_backward.FUSE_AFTER + 1)[-1]
    assert fused_backward._compiled and None not in fused_backward._compiled.values()

    tapegrad.manual_seed(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        for theirs, ours in zip(model.parameters(), params):
            theirs.copy_(torch.from_numpy(ours.detach().numpy()))
    x = torch.randn(8, 5)
    if loss == "mse":
        torch.nn.functional.mse_loss(model(x), torch.randn(8, 3)).backward()
    else:
        torch.nn.functional.cross_entropy(model(x), torch.randint(0, 3, (8,))).backward()
    for ours, theirs in zip(got, model.parameters()):
        np.testing.assert_allclose(ours.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_gradients_match_finite_differences() -> None:
    """mm, t, softmax, view and log_softmax in one kernel, against central differences."""
    rng = np.random.default_rng(1)
    x = tapegrad.tensor(rng.standard_normal((4, 3)))
    c = tapegrad.tensor(rng.standard_normal(10))

    def fn(w: Any, v: Any) -> Any:
        h = (x @ w).t().softmax(0) @ v
        return (F.log_softmax(h.view(-1), 0) * c).sum()

    inputs = [rng.standard_normal((3, 5)), rng.standard_normal((4, 2))]
    params = [tapegrad.tensor(v, requires_grad=True) for v in inputs]
    fused = _grads(lambda: fn(*params), params, fused_backward.FUSE_AFTER + 1)[-1]
    assert len(fused_backward._compiled) == 1 and None not in fused_backward._compiled.values()
    for got, numeric in zip(fused, central_differences(fn, inputs)):
        np.testing.assert_allclose(got.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_batches_sliced_from_one_array_share_a_kernel(unfused: Any) -> None:
    """A batch sliced from a data set is saved as a view at another offset each time: the
    structure (and kernel) stays the same, and each batch gets its own gradients."""
    tapegrad.manual_seed(2)
    data = tapegrad.randn(64, 5, dtype=tapegrad.float64)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1)).to(tapegrad.float64)
    params = list(model.parameters())
    for start in range(0, 64, 8):
        batch = data[start:start + 8]

        def loss_fn(batch: Any = batch) -> Any:
            return model(batch).pow(2).mean()

        want = unfused(lambda loss_fn=loss_fn: _grads(loss_fn, params, 1))[0]
        _assert_close(_grads(loss_fn, params, 1)[0], want, np.float64)
    assert len(fused_backward._compiled) == 1 and None not in fused_backward._compiled.values()


def test_weight_read_through_two_views(unfused: Any) -> None:
    """``w`` and ``w.t()`` are saved by two products: both reach the kernel through one buffer."""
    rng = np.random.default_rng(3)
    x = tapegrad.tensor(rng.standard_normal((6, 4)))
    w = tapegrad.tensor(rng.standard_normal((4, 4)), requires_grad=True)

    def loss() -> Any:
        return ((x @ w).tanh() @ w.t()).pow(2).sum()

    want = unfused(lambda: _grads(loss, [w], 1))[0]
    for got in _grads(loss, [w], fused_backward.FUSE_AFTER + 2):
        _assert_close(got, want, np.float64)
    assert len(fused_backward._compiled) == 1 and None not in fused_backward._compiled.values()


def test_ignored_targets_are_part_of_the_structure(unfused: Any) -> None:
    """The mean over the targets not ignored is a constant of the kernel: batches ignoring a
    different number of targets get a kernel each."""
    rng = np.random.default_rng(4)
    x = tapegrad.tensor(rng.standard_normal((6, 4)))
    w = tapegrad.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    targets = [tapegrad.tensor([0, 2, 1, 1, 0, 2]), tapegrad.tensor([0, -100, 1, -100, 0, 2])]
    for _ in range(fused_backward.FUSE_AFTER + 1):
        for target in targets:
            def loss_fn(target: Any = target) -> Any:
                return F.cross_entropy(x @ w, target)

            want = unfused(lambda loss_fn=loss_fn: _grads(loss_fn, [w], 1))[0]
            _assert_close(_grads(loss_fn, [w], 1)[0], want, np.float64)
    assert len(fused_backward._compiled) == 2 and None not in fused_backward._compiled.values()


def test_layer_vjp_the_tracer_cannot_record_runs_unfused(untraceable_vjps: Any, unfused: Any) -> None:
    loss_fn, params = _network("cross_entropy", "tanh", np.float64)
    want = unfused(lambda: _grads(loss_fn, params, 1))[0]
    untraceable_vjps(OpDef)
    for run in range(fused_backward.FUSE_AFTER + 2):
        for p in params:
            p.grad = None
        value = loss_fn()
        value.backward()
        _assert_close([p.grad for p in params], want, np.float64)
        if run == fused_backward.FUSE_AFTER - 1:
            # The failed recording ran the sweep again untraced, and released the graph then.
            with pytest.raises(RuntimeError, match="second time"):
                value.backward()
    assert fused_backward._compiled and set(fused_backward._compiled.values()) == {None}


def test_retain_graph_allows_a_second_sweep_through_the_kernel(unfused: Any, python_vjps: list[str]) -> None:
    loss_fn, params = _network("mse", "relu", np.float64)
    want = unfused(lambda: _grads(loss_fn, params, 1))[0]
    _grads(loss_fn, params, fused_backward.FUSE_AFTER)
    assert_second_sweep_fused(loss_fn, params, [w.numpy() for w in want], python_vjps)


def test_inplace_change_of_a_saved_weight_still_raises() -> None:
    loss_fn, params = _network("mse", "relu", np.float64)
    _grads(loss_fn, params, fused_backward.FUSE_AFTER + 1)
    assert fused_backward._compiled
    value = loss_fn()
    with tapegrad.no_grad():
        params[2].add_(1)  # the second layer's weight, saved (transposed) by its product
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        value.backward()
