"""Guards on what a compiled step reads besides its tensor arguments: how the arguments alias
each other, views of captured data, arguments' existing gradients, closure variables and
globals (tensors by identity, Python numbers by value), and optimizers' parameter groups.
Each test states what eager mode does; the compiled function must do the same (by retracing
when what it read changed), or refuse with ``TraceError`` where it says so."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from compile_helpers import Pair, classification_batch
from tapegrad.compiler import TraceError


# ---------------------------------------------------------------------------- aliased arguments
def test_aliased_arguments_at_trace_time_then_distinct():
    def fn(a, b):
        return (a * 2.0 + b).sum()

    compiled = tapegrad.compile(fn)
    x, y = tapegrad.ones(3), tapegrad.full((3,), 10.0)
    compiled(x, x)
    compiled(x, x)  # traced with a and b the same tensor
    assert compiled.traces == 1
    assert float(compiled(x, y).numpy()) == float(fn(x, y).numpy()) == 36.0  # a signature of its own: eager
    assert float(compiled(x, y).numpy()) == 36.0  # traced
    assert compiled.traces == 2
    for a, b, want in ((x, x, 9.0), (x, y, 36.0), (y, y, 90.0), (y, x, 63.0)):
        assert float(compiled(a, b).detach().numpy()) == float(fn(a, b).numpy()) == want
    assert compiled.traces == 2  # (y, y) replays the (x, x) version, (y, x) the (x, y) one
    assert len(compiled._steps) == 2


def test_overlapping_argument_views_are_a_pattern_of_their_own():
    def fn(a, b):
        return (a * 3.0 - b).sum()

    compiled = tapegrad.compile(fn)
    base = tapegrad.arange(6.0)
    other = tapegrad.arange(6.0) * 10.0
    for a, b in [(base[0:4], base[2:6])] * 3 + [(base[0:4], other[2:6])] * 3 + [(other[0:4], other[2:6])]:
        np.testing.assert_allclose(compiled(a, b).detach().numpy(), fn(a, b).numpy())
    assert compiled.traces == 2


def test_argument_that_the_function_also_reads_by_reference():
    w = tapegrad.linspace(1, 2, 4)

    def fn(a):
        return (a * w).sum()

    compiled = tapegrad.compile(fn)
    for _ in range(3):
        np.testing.assert_allclose(compiled(w).numpy(), fn(w).numpy(), rtol=1e-6)  # traced with a is w
    z = tapegrad.full((4,), 3.0)
    for _ in range(3):
        np.testing.assert_allclose(compiled(z).detach().numpy(), fn(z).numpy(), rtol=1e-6)
    assert compiled.traces == 2
    np.testing.assert_allclose(compiled(w).numpy(), fn(w).numpy(), rtol=1e-6)
    assert compiled.traces == 2


# ---------------------------------------------------------------------------- views of captured data
def test_slice_of_a_captured_data_set_that_coincides_with_the_traced_batch():
    data = tapegrad.arange(40.0).reshape(10, 4)

    def fn(batch):
        reference = data[0:2]  # always the first two rows of the data set
        return (batch - reference).sum()

    compiled = tapegrad.compile(fn)
    compiled(data[0:2])
    assert float(compiled(data[0:2]).numpy()) == 0.0  # traced: the batch is the same memory as `reference`
    results = [float(compiled(data[2 * i:2 * i + 2]).numpy()) for i in range(1, 4)]
    assert results == [float(fn(data[2 * i:2 * i + 2]).numpy()) for i in range(1, 4)] == [64.0, 128.0, 192.0]
    assert compiled.traces == 1


def test_view_of_the_batch_and_of_the_data_set_it_was_sliced_from():
    data = tapegrad.arange(40.0).reshape(10, 4)

    def fn(batch):
        # A view of the argument follows the argument; a view of the data set reads the data set.
        return (batch.reshape(2, 2, 2) * data[0:2].reshape(2, 2, 2)).sum(dim=(1, 2))

    compiled = tapegrad.compile(fn)
    for i in (0, 0, 1, 2, 3, 4):
        batch = data[2 * i:2 * i + 2]
        np.testing.assert_allclose(compiled(batch).numpy(), fn(batch).numpy())
    assert compiled.traces == 1


def test_view_of_a_non_contiguous_argument_is_refused():
    data = tapegrad.arange(40.0).reshape(10, 4)

    def fn(batch):
        return (batch[0] * 2.0).sum()

    compiled = tapegrad.compile(fn)
    compiled(data[:, 1:3])
    with pytest.raises(TraceError, match="view of a non-contiguous argument"):
        compiled(data[:, 1:3])


# ---------------------------------------------------------------------------- arguments' gradients
def _square_sum_backward():
    @tapegrad.compile
    def square_sum(x):
        loss = (x * x).sum()
        loss.backward()
        return loss
    return square_sum


def test_argument_with_an_existing_gradient_accumulates_into_it():
    square_sum = _square_sum_backward()
    for _ in range(4):
        x = tapegrad.arange(4.0).requires_grad_()
        x.grad = tapegrad.ones(4)
        grad = x.grad
        version = grad._version
        square_sum(x)
        np.testing.assert_allclose(x.grad.numpy(), 1 + 2 * np.arange(4.0))  # eager: accumulates
        assert x.grad is grad and grad._version == version + 1  # in place, as eager mode does
    assert square_sum.traces == 1


def test_argument_gradient_presence_is_part_of_the_signature():
    square_sum = _square_sum_backward()
    for with_grad in (True, True, False, False, True, False):
        x = tapegrad.arange(4.0).requires_grad_()
        if with_grad:
            x.grad = tapegrad.full((4,), 5.0)
        square_sum(x)
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.arange(4.0) + (5.0 if with_grad else 0.0))
    assert square_sum.traces == 2


def test_argument_gradient_of_another_dtype_is_a_signature_of_its_own():
    square_sum = _square_sum_backward()
    for dtype in (tapegrad.float32, tapegrad.float32, tapegrad.float32, tapegrad.float64, tapegrad.float64):
        x = tapegrad.arange(4.0, dtype=dtype).requires_grad_()
        x.grad = tapegrad.ones(4, dtype=dtype)
        square_sum(x)
        assert x.grad.dtype == dtype
        np.testing.assert_allclose(x.grad.numpy(), 1 + 2 * np.arange(4.0))
    assert square_sum.traces == 2


def test_non_contiguous_argument_gradient():
    square_sum = _square_sum_backward()
    for _ in range(2):
        x = tapegrad.arange(4.0).requires_grad_()
        x.grad = tapegrad.ones(4)
        square_sum(x)
    x = tapegrad.arange(4.0).requires_grad_()
    x.grad = tapegrad.ones(8)[::2]  # a replay could only write a contiguous copy of it
    with pytest.raises(TraceError, match="argument's .grad that is not contiguous"):
        square_sum(x)


# ---------------------------------------------------------------------------- names read by reference
def test_rebound_closure_tensor_is_used():
    w = tapegrad.ones(3)

    def scale(x):
        return x * w

    compiled = tapegrad.compile(scale)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        compiled(x)
    first = w
    w = tapegrad.full((3,), 2.0)  # rebinds the closure cell that `scale` reads
    np.testing.assert_allclose(compiled(x).detach().numpy(), scale(x).numpy())
    np.testing.assert_allclose(compiled(x).numpy(), [0.0, 2.0, 4.0])
    assert compiled.traces == 2
    w = first  # back to the traced tensor: the first version replays
    np.testing.assert_allclose(compiled(x).numpy(), [0.0, 1.0, 2.0])
    assert compiled.traces == 2


GLOBAL_WEIGHT = tapegrad.ones(3)
GLOBAL_BETA = 0.0


def _global_scale(x):
    return x * GLOBAL_WEIGHT


def _helper_penalty(x):
    return GLOBAL_BETA * (x * x).sum()


def _global_loss(x):
    return x.sum() + _helper_penalty(x)  # reads GLOBAL_BETA through a helper function


def test_rebound_global_tensor_is_used(monkeypatch):
    compiled = tapegrad.compile(_global_scale)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        compiled(x)
    monkeypatch.setitem(globals(), "GLOBAL_WEIGHT", tapegrad.full((3,), 3.0))
    for _ in range(2):
        np.testing.assert_allclose(compiled(x).detach().numpy(), [0.0, 3.0, 6.0])
    assert compiled.traces == 2


def test_number_read_by_a_helper_function_is_guarded(monkeypatch):
    compiled = tapegrad.compile(_global_loss)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        assert float(compiled(x).detach().numpy()) == 3.0
    monkeypatch.setitem(globals(), "GLOBAL_BETA", 0.5)
    for _ in range(2):
        assert float(compiled(x).detach().numpy()) == float(_global_loss(x).numpy()) == 5.5
    assert compiled.traces == 2


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
    for beta in (1.0, 1.0, 0.5, 0.0, 1.0):  # e.g. KL annealing: the training loop changes the weight
        got = compiled(x).detach().numpy()
        got_grad = w.grad.numpy().copy()
        want = loss_fn(x).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
        np.testing.assert_allclose(got_grad, w.grad.numpy(), rtol=1e-6)
    assert compiled.traces == 3  # beta 0.0 (traced first), 1.0 and 0.5; the others replay


def test_equal_number_of_another_object_does_not_retrace():
    scale = 0.5

    def fn(x):
        return x * scale

    compiled = tapegrad.compile(fn)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        compiled(x)
    scale = float("0." + "5")  # a new float object with the traced value
    np.testing.assert_allclose(compiled(x).numpy(), [0.0, 0.5, 1.0])
    scale = 1  # equal to no float traced, and an int: traced again
    np.testing.assert_allclose(compiled(x).detach().numpy(), [0.0, 1.0, 2.0])
    assert compiled.traces == 2


def test_step_that_assigns_a_name_it_reads_is_refused():
    calls = 0
    w = tapegrad.ones(3)

    def fn(x):
        nonlocal calls
        calls += 1  # a replay runs no Python: this would stop counting
        return (x * w).sum() + calls

    compiled = tapegrad.compile(fn)
    x = tapegrad.arange(3.0)
    compiled(x)
    with pytest.raises(TraceError, match="assigns a name it reads .*closure variable 'calls' of .*fn is now 2, traced as 1.*outside the compiled function"):
        compiled(x)
    assert compiled.traces == 0


class Scaler:
    def __init__(self) -> None:
        self.factor = 2.0
        self.offset = tapegrad.ones(3)

    def step(self, x):
        return x * self.factor + self.offset


def test_bound_object_attributes_are_guarded():
    scaler = Scaler()
    compiled = tapegrad.compile(scaler.step)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        np.testing.assert_allclose(compiled(x).numpy(), [1.0, 3.0, 5.0])
    scaler.factor = 3.0
    np.testing.assert_allclose(compiled(x).detach().numpy(), [1.0, 4.0, 7.0])
    scaler.offset = tapegrad.zeros(3)
    np.testing.assert_allclose(compiled(x).detach().numpy(), [0.0, 3.0, 6.0])
    np.testing.assert_allclose(compiled(x).numpy(), [0.0, 3.0, 6.0])
    assert compiled.traces == 3


def test_guard_failure_names_what_changed(monkeypatch, capfd):
    monkeypatch.setenv("TAPEGRAD_LOG", "compile")
    beta = 0.25

    def fn(x):
        return x * beta

    compiled = tapegrad.compile(fn)
    x = tapegrad.arange(3.0)
    for _ in range(3):
        compiled(x)
    capfd.readouterr()
    beta = 0.75
    compiled(x)
    err = capfd.readouterr().err
    assert "guard failed" in err and "closure variable 'beta'" in err and "now 0.75, traced as 0.25" in err


# ---------------------------------------------------------------------------- optimizers
HEAD_ONLY = {
    # These create state for the new group's parameters while the step is traced again.
    "sgd_momentum": lambda params: tapegrad.optim.SGD(list(params)[2:], lr=0.1, momentum=0.9),
    "adam": lambda params: tapegrad.optim.Adam(list(params)[2:], lr=1e-2),
}


@pytest.mark.parametrize("opt", list(HEAD_ONLY))
def test_param_group_added_between_compiled_steps(opt):
    def make():
        tapegrad.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))

    pair = Pair(make, HEAD_ONLY[opt])
    rng = np.random.default_rng(0)
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 1
    first = pair.model[0].weight.detach().numpy().copy()
    pair.both(lambda m, o: o.add_param_group({"params": list(m[0].parameters())}))  # unfreeze the first layer
    for _ in range(4):
        pair.step(*classification_batch(rng, 8, 6, 3))  # compares parameters and state with eager mode's
    # SGD's momentum buffers start with a first-step branch: one more trace once they exist.
    assert pair.compiled.traces == (3 if opt == "sgd_momentum" else 2)
    assert not np.array_equal(pair.model[0].weight.detach().numpy(), first)
    assert pair.model[0].weight in pair.opt.state


def test_param_group_params_replaced_in_place_retraces():
    def make():
        tapegrad.manual_seed(1)
        return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))

    pair = Pair(make, lambda p: tapegrad.optim.SGD(list(p), lr=0.1, momentum=0.9))
    rng = np.random.default_rng(1)
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    pair.both(lambda m, o: o.param_groups[0]["params"].pop(0))  # stop updating the first weight
    frozen = pair.model[0].weight.detach().numpy().copy()
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 2
    np.testing.assert_array_equal(pair.model[0].weight.detach().numpy(), frozen)
