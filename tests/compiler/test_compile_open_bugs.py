"""Open bugs of ``tapegrad.compile``, each an ``xfail(strict=True)`` that must start passing
(and lose its marker) when fixed. Each test states what eager mode does; the compiled function
must do the same, or refuse with ``TraceError``."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from compile_helpers import Pair, classification_batch
from tapegrad.compiler import TraceError


@pytest.mark.xfail(strict=True, reason="replay.py: the signature ignores which arguments are the same tensor, and "
                                       "_trace keys arguments by id(buffer), so f(x, x) is traced with one "
                                       "argument value that f(x, y) then replays for both")
def test_aliased_arguments_at_trace_time_then_distinct():
    def fn(a, b):
        return (a * 2.0 + b).sum()

    compiled = tapegrad.compile(fn)
    x, y = tapegrad.ones(3), tapegrad.full((3,), 10.0)
    compiled(x, x)
    compiled(x, x)  # traced with a and b the same tensor
    try:
        got = compiled(x, y)
    except TraceError:
        return
    assert float(got.numpy()) == float(fn(x, y).numpy()) == 36.0


@pytest.mark.xfail(strict=True, reason="trace.py Tracer.value: a view is matched to an argument by memory overlap; "
                                       "a slice of a captured data set made inside the step that happens to "
                                       "coincide with the traced batch is recorded as a view of the argument")
def test_slice_of_a_captured_data_set_that_coincides_with_the_traced_batch():
    data = tapegrad.arange(40.0).reshape(10, 4)

    def fn(batch):
        reference = data[0:2]  # always the first two rows of the data set
        return (batch - reference).sum()

    compiled = tapegrad.compile(fn)
    compiled(data[0:2])
    compiled(data[0:2])  # traced: the batch is the same memory as `reference`
    try:
        results = [float(compiled(data[2 * i:2 * i + 2]).numpy()) for i in range(1, 4)]
    except TraceError:
        return
    assert results == [float(fn(data[2 * i:2 * i + 2]).numpy()) for i in range(1, 4)] == [64.0, 128.0, 192.0]


@pytest.mark.xfail(strict=True, reason="replay.py: an argument's existing .grad is scanned as a captured tensor, so "
                                       "replays accumulate into the traced call's argument's gradient instead of "
                                       "the new argument's")
def test_argument_with_an_existing_gradient_accumulates_into_it():
    @tapegrad.compile
    def square_sum(x):
        loss = (x * x).sum()
        loss.backward()
        return loss

    for _ in range(4):
        x = tapegrad.arange(4.0).requires_grad_()
        x.grad = tapegrad.ones(4)
        square_sum(x)
        np.testing.assert_allclose(x.grad.numpy(), 1 + 2 * np.arange(4.0))  # eager: accumulates


@pytest.mark.xfail(strict=True, reason="replay.py: tensors read by reference are not guarded on identity; a global "
                                       "(or closure variable) rebound to another tensor of the same shape is not "
                                       "seen, the replay keeps reading the old one")
def test_rebound_closure_tensor_is_used():
    w = tapegrad.ones(3)

    def scale(x):
        return x * w

    compiled = tapegrad.compile(scale)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        compiled(x)
    w = tapegrad.full((3,), 2.0)  # rebinds the closure cell that `scale` reads
    try:
        got = compiled(x)
    except TraceError:
        return
    np.testing.assert_allclose(got.numpy(), scale(x).numpy())


@pytest.mark.xfail(strict=True, reason="optimizer.py/replay.py: the replay updates the param groups seen when "
                                       "tracing; a group added later (add_param_group) is not guarded, its "
                                       "parameters are never updated")
def test_param_group_added_between_compiled_steps():
    def make():
        tapegrad.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))

    def head_only(params):
        return tapegrad.optim.SGD(list(params)[2:], lr=0.1)

    pair = Pair(make, head_only)
    rng = np.random.default_rng(0)
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    pair.both(lambda m, o: o.add_param_group({"params": list(m[0].parameters())}))  # unfreeze the first layer
    try:
        for _ in range(3):
            pair.step(*classification_batch(rng, 8, 6, 3))
    except TraceError:
        return


@pytest.mark.xfail(strict=True, reason="replay.py: Python numbers the step reads from its closure or globals are "
                                       "baked into the trace as constants and not guarded (an annealed loss "
                                       "weight keeps its traced value)")
def test_annealed_python_loss_weight_is_used():
    w = tapegrad.linspace(-1, 1, 5).requires_grad_()
    beta = 0.0

    def loss_fn(x):
        w.grad = None
        loss = (w * x).sum() + beta * (w * w).sum()
        loss.backward()
        return loss

    compiled = tapegrad.compile(loss_fn)
    x = tapegrad.ones(5)
    for _ in range(3):
        compiled(x)
    beta = 1.0  # e.g. KL annealing: the training loop raises the weight between steps
    try:
        got = compiled(x)
    except TraceError:
        return
    np.testing.assert_allclose(got.numpy(), loss_fn(x).detach().numpy(), rtol=1e-6)
