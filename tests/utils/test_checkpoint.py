"""``tapegrad.utils.checkpoint``: checkpointed calls give the gradients of the plain calls (and
PyTorch's), keep one step instead of the call's intermediate values, replay random draws, and
refuse what PyTorch refuses."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.utils.checkpoint import checkpoint, checkpoint_sequential


def model(m: Any) -> Any:
    m.manual_seed(0)
    return m.nn.Sequential(m.nn.Linear(4, 8), m.nn.Tanh(), m.nn.Linear(8, 8), m.nn.GELU(), m.nn.Linear(8, 2))


def copy_parameters(source: Any, target: Any) -> None:
    import torch

    with torch.no_grad():
        for p, q in zip(source.parameters(), target.parameters(), strict=True):
            q.copy_(torch.tensor(p.detach().numpy()))


def run(m: Any, net: Any, how: str, checkpointed: bool = True) -> tuple[float, list[np.ndarray]]:
    """One loss and its gradients (input first), with ``checkpoint`` or with plain calls."""
    x = m.tensor(np.linspace(-1.0, 1.0, 12).reshape(3, 4), dtype=m.float32, requires_grad=True)
    if checkpointed:
        ck, sequential = m.utils.checkpoint.checkpoint, m.utils.checkpoint.checkpoint_sequential
    else:
        ck = lambda f, *args, use_reentrant: f(*args)  # noqa: E731
        sequential = lambda net, segments, x, use_reentrant: net(x)  # noqa: E731
    if how == "reentrant":
        out = net[4](ck(lambda a: net[3](net[2](net[1](net[0](a)))), x, use_reentrant=True))
    elif how == "non-reentrant":
        out = net[4](ck(net[:4], x, use_reentrant=False))
    elif how == "tuple outputs":
        h, g = ck(lambda a: (net[1](net[0](a)), net[0](a).sin()), x, use_reentrant=True)
        out = net[4](net[3](net[2](h))) + g.sum(1, keepdim=True)
    else:
        out = sequential(net, 2, x, use_reentrant=False)
    loss = (out * out).sum()
    loss.backward()
    return loss.item(), [x.grad.numpy()] + [p.grad.numpy() for p in net.parameters()]


HOWS = ["reentrant", "non-reentrant", "tuple outputs", "sequential"]


@pytest.mark.parametrize("how", HOWS)
def test_checkpointed_gradients_equal_the_plain_ones(how: str) -> None:
    loss, grads = run(tapegrad, model(tapegrad), how)
    expected_loss, expected = run(tapegrad, model(tapegrad), how, checkpointed=False)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.torch
@pytest.mark.parametrize("how", HOWS)
def test_matches_pytorch(how: str) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = model(tapegrad), model(torch)
    copy_parameters(ours, theirs)
    loss, grads = run(tapegrad, ours, how)
    expected_loss, expected = run(torch, theirs, how)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_one_step_stands_for_the_call() -> None:
    net = model(tapegrad)
    x = tapegrad.ones(2, 4, requires_grad=True)
    y = checkpoint(net, x, use_reentrant=True)
    assert y.grad_fn.name() == "CheckpointFunctionBackward"
    # Its inputs are the leaves: nothing of the network's forward pass was recorded.
    assert [type(f).__name__ for f, _ in y.grad_fn.next_functions if f is not None] == ["AccumulateGrad"]


@pytest.mark.parametrize("preserve", [True, False])
def test_random_draws_are_replayed_unless_asked_not_to(preserve: bool) -> None:
    layer = nn.Linear(6, 6)
    drop = nn.Dropout(0.5)

    def grads(checkpointed: bool) -> np.ndarray:
        x = tapegrad.ones(4, 6, requires_grad=True)
        tapegrad.manual_seed(3)
        f = lambda a: drop(layer(a)).tanh()  # noqa: E731
        y = checkpoint(f, x, use_reentrant=False, preserve_rng_state=preserve) if checkpointed else f(x)
        tapegrad.rand(5)  # draws between forward and backward move the generator on
        y.sum().backward()
        return x.grad.numpy()

    same = np.array_equal(grads(True), grads(False))
    assert same == preserve


def test_reentrant_without_inputs_that_require_grad_warns_and_gives_no_graph() -> None:
    net = model(tapegrad)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(net, tapegrad.ones(2, 4), use_reentrant=True)
    assert not y.requires_grad


def test_non_reentrant_reaches_parameters_without_inputs_that_require_grad() -> None:
    net = model(tapegrad)
    checkpoint(net, tapegrad.ones(2, 4), use_reentrant=False).sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in net.parameters())


def test_use_reentrant_left_out_warns() -> None:
    with pytest.warns(UserWarning, match="the use_reentrant parameter should be passed explicitly"):
        checkpoint(lambda a: a * 2, tapegrad.ones(2, requires_grad=True))


def test_keyword_arguments_reach_the_function_when_non_reentrant() -> None:
    x = tapegrad.ones(3, requires_grad=True)
    checkpoint(lambda a, scale: (a * scale).sum(), x, use_reentrant=False, scale=3.0).backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


@pytest.mark.parametrize("call, error, message", [
    (lambda x: checkpoint(lambda a, k: a * k, x, use_reentrant=True, k=2), ValueError,
     "Unexpected keyword arguments: k"),
    (lambda x: checkpoint(lambda a: a, x, use_reentrant=True, debug=True), ValueError,
     "Passing `context_fn` or `debug` is only supported when use_reentrant=False."),
    (lambda x: checkpoint(lambda a: a, x, use_reentrant=False, determinism_check="strict"), ValueError,
     "determinism_check should be one of ['default', 'none'], but got strict"),
    (lambda x: checkpoint(lambda a: (a, 3), x, use_reentrant=False), NotImplementedError,
     "supports functions that return a Tensor or a tuple of floating-point Tensors"),
])
def test_refusals(call: Callable[[Any], Any], error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        call(tapegrad.ones(2, requires_grad=True))
    assert message in str(caught.value)


def test_an_input_changed_in_place_before_backward_is_an_error() -> None:
    x = tapegrad.ones(3, requires_grad=True)
    h = x * 1.0
    y = checkpoint(lambda a: (a * a).sum(), h, use_reentrant=True)
    with tapegrad.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_sequential_of_a_list_and_warning() -> None:
    layers = [nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)]
    x = tapegrad.ones(2, 3, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checkpoint_sequential(layers, 2, x).sum().backward()
    assert any("use_reentrant parameter should be passed explicitly" in str(w.message) for w in caught)
    assert x.grad is not None and layers[0].weight.grad is not None


def test_context_fn_wraps_the_forward_pass_and_the_recomputation() -> None:
    entered: list[str] = []

    class Marker:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            entered.append(self.name)

        def __exit__(self, *exc: object) -> None:
            pass

    x = tapegrad.ones(3, requires_grad=True)
    y = checkpoint(lambda a: (a * a).sum(), x, use_reentrant=False,
                   context_fn=lambda: (Marker("forward"), Marker("recompute")))
    assert entered == ["forward"]
    y.backward()
    assert entered == ["forward", "recompute"] and x.grad.tolist() == [2.0, 2.0, 2.0]
