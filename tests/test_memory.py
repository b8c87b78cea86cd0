"""Training loops keep flat memory: no growth in traced allocations and no leaked tape steps.

NumPy reports its buffer allocations to ``tracemalloc``, so the traced total covers tensor data
as well as Python objects.
"""
from __future__ import annotations

import gc
import tracemalloc
import weakref

import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.optim as optim
from tapegrad.autograd.tape import Step

# A leaked graph per step (a few tensors and steps) would cost well over 1 KB a step.
STEPS = 600
GROWTH_BOUND = 16 * 1024


def live_steps() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Step)


def traced_growth(step, warmup: int, steps: int) -> int:
    """Traced memory after ``steps`` more calls of ``step`` minus that after warm-up (bytes)."""
    for _ in range(warmup):
        step()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            step()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before


def _module_loop():
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    x = tapegrad.randn(32, 8)
    y = tapegrad.randn(32, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []

    def step():
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).sum() / 32
        loss.backward()
        optimizer.step()
        if len(losses) < 2:
            losses.append(loss.item())

    return step, losses


def _tensor_loop():
    tapegrad.manual_seed(1)
    w1 = tapegrad.randn(4, 8, requires_grad=True)
    b1 = tapegrad.zeros(8, requires_grad=True)
    w2 = tapegrad.randn(8, 1, requires_grad=True)
    x = tapegrad.randn(16, 4)
    y = tapegrad.randn(16, 1)

    def step():
        hidden = (x @ w1 + b1).tanh()
        out = hidden @ w2
        loss = ((out - y) ** 2).sum()
        loss.backward()
        with tapegrad.no_grad():
            for p in (w1, b1, w2):
                p -= 0.001 * p.grad
                p.grad.zero_()

    return step


def test_module_and_sgd_training_loop_has_flat_memory():
    step, losses = _module_loop()
    growth = traced_growth(step, warmup=100, steps=STEPS)
    assert losses[1] < losses[0]
    assert growth < GROWTH_BOUND, f"traced memory grew by {growth} bytes over {STEPS} steps"


def test_tensor_training_loop_has_flat_memory():
    step = _tensor_loop()
    growth = traced_growth(step, warmup=100, steps=800)
    assert growth < GROWTH_BOUND, f"traced memory grew by {growth} bytes over 800 steps"


def test_mean_loss_training_loop_has_flat_memory():
    """The usual MSE loop (a full ``mean``) must not grow either."""
    tapegrad.manual_seed(2)
    model = nn.Linear(8, 1)
    x = tapegrad.randn(32, 8)
    y = tapegrad.randn(32, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.01)

    def step():
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

    # Two equal windows after a warm-up: a bounded cache would fill in the first one.
    traced_growth(step, warmup=100, steps=200)
    growth = traced_growth(step, warmup=0, steps=800)
    assert growth < 2 * 1024, f"traced memory grew by {growth} bytes over 800 steps"


def test_no_tape_steps_leak_from_training_loop():
    step, _ = _module_loop()
    tensor_step = _tensor_loop()
    for _ in range(50):
        step()
        tensor_step()
    first = live_steps()
    for _ in range(300):
        step()
        tensor_step()
    assert live_steps() <= first
    assert first < 10


def test_graph_is_freed_without_the_cycle_collector():
    x = tapegrad.randn(4, 3, requires_grad=True)
    w = tapegrad.randn(3, 2, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        loss = ((x @ w).tanh() ** 2).mean()
        node = weakref.ref(loss.grad_fn)
        loss.backward()
        del loss
        assert node() is None
        h = x * 2
        h[0] = w[0, 0] * 3
        node = weakref.ref(h.grad_fn)
        del h
        assert node() is None
    finally:
        gc.enable()


def test_unused_graph_is_freed_when_dropped():
    x = tapegrad.randn(5, requires_grad=True)
    before = live_steps()
    outs = [(x * i).exp().sum() for i in range(20)]
    assert live_steps() >= before + 40
    del outs
    assert live_steps() == before


def test_retained_graph_is_freed_after_last_reference():
    x = tapegrad.randn(5, requires_grad=True)
    before = live_steps()
    y = (x.sin() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert live_steps() > before
    del y
    assert live_steps() == before


def test_create_graph_history_is_freed_with_the_grad():
    x = tapegrad.randn(3, requires_grad=True)
    before = live_steps()
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    x.grad = None
    assert live_steps() == before


@pytest.mark.parametrize("make", [
    lambda x: x.sum() / 4,
    lambda x: x.mean(),
], ids=["sum", "mean"])
def test_repeated_scalar_loss_has_flat_memory(make):
    x = tapegrad.randn(32, 1, requires_grad=True)

    def step():
        make(x).backward()

    traced_growth(step, warmup=150, steps=150)
    # The smaller of two windows: a leak grows in both, while a one-off allocation (a bounded
    # cache of the process taking an entry, after the tests run before this one in the worker
    # filled it) lands in one at most.
    growth = min(traced_growth(step, warmup=0, steps=750) for _ in range(2))
    assert growth < 2 * 1024, f"traced memory grew by {growth} bytes over 750 steps"
