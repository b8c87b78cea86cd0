"""``tapegrad.compile`` records ``scatter_add``, ``index_add``, ``index_fill``, ``take``,
``take_along_dim``, ``put(accumulate=True)``, ``repeat_interleave`` with an int and
``count_nonzero`` (compositions of recorded gather/scatter-add ops): replays give eager mode's
numbers and gradients for inputs that change every call, and check each call's indices. Ops
whose output shape depends on values (``masked_select``, ``unique``, ...) and ops built on the
overwrite/reduce kernel (``scatter``, ``scatter_reduce``, ...) raise ``TraceError`` on the
traced call instead of freezing that call's values. Call 1 runs eagerly, call 2 is traced,
calls 3+ replay.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
from tapegrad.compiler import TraceError, trace

W = np.linspace(-1.5, 1.5, 24).reshape(4, 6)
INDEX = tapegrad.tensor([[0, 3, 1, 1, 2, 0], [2, 2, 0, 3, 1, 1]])
COLUMNS = tapegrad.tensor([5, 0, 5])
ALONG = tapegrad.tensor([[1, -1], [0, 0], [5, 2], [3, 3]])


def _loss(w: Any, x: Any) -> Any:
    y = w * x
    return (w.scatter_add(0, INDEX, y[:2]).square().sum()
            + y.index_add(1, COLUMNS, x[:, :3], alpha=0.5).square().sum()
            + tapegrad.take_along_dim(y, ALONG, 1).square().sum()
            + y.repeat_interleave(2, dim=1).square().sum() + (w + x).repeat_interleave(3).sum()
            + y.index_fill(1, COLUMNS, 0.5).square().sum()
            + y.put(COLUMNS, x[0, :3], accumulate=True).square().sum()
            + y.take(ALONG).sum() + tapegrad.count_nonzero(x > 0, dim=1).mul(w[:, 0]).sum())


def _step() -> tuple[Callable[[Any], Any], Any]:
    w = tapegrad.tensor(W, requires_grad=True)

    def step(x: Any) -> Any:
        w.grad = None
        loss = _loss(w, x)
        loss.backward()
        return loss

    return step, w


def test_scatter_and_index_ops_replay_as_eager() -> None:
    (eager, eager_w), (step, w) = _step(), _step()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(5)
    for i in range(5):
        x = tapegrad.tensor(rng.uniform(-2, 2, (4, 6)))
        want, got = eager(x), compiled(x)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12, err_msg=f"loss, call {i}")
        np.testing.assert_allclose(w.grad.numpy(), eager_w.grad.numpy(), rtol=1e-11, atol=1e-13,
                                   err_msg=f"gradient, call {i}")
    assert compiled.traces == 1 and compiled.tape is not None


ONE = tapegrad.tensor([1])


def test_in_place_forms_replay_as_eager() -> None:
    def make() -> tuple[Callable[[Any], Any], Any]:
        w = tapegrad.tensor(W, requires_grad=True)

        def step(x: Any) -> Any:
            w.grad = None
            y = w * x
            y.scatter_add_(0, INDEX, x[:2] * w[:2])
            y.index_add_(1, COLUMNS // 2, x[:, :3], alpha=2.0)  # an index computed in the step
            y.index_fill_(0, ONE, 0.25)
            y.put_(COLUMNS, x[0, :3] * w[0, :3], accumulate=True)
            loss = y.square().sum()
            loss.backward()
            return loss

        return step, w

    (eager, eager_w), (step, w) = make(), make()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(6)
    for i in range(4):
        x = tapegrad.tensor(rng.uniform(-2, 2, (4, 6)))
        np.testing.assert_allclose(compiled(x).item(), eager(x).item(), rtol=1e-12, err_msg=f"loss, call {i}")
        np.testing.assert_allclose(w.grad.numpy(), eager_w.grad.numpy(), rtol=1e-11, atol=1e-13,
                                   err_msg=f"gradient, call {i}")
    assert compiled.traces == 1 and compiled.tape is not None


CHECKED = {
    "index_add": (lambda x, i: x.index_add(1, i, x[:, :3]), RuntimeError),
    "index_fill": (lambda x, i: x.index_fill(1, i, 0.5), IndexError),
    "put_accumulate": (lambda x, i: x.put(i, x[0, :3], accumulate=True), IndexError),
    "scatter_add": (lambda x, i: x.scatter_add(1, i[None].expand(4, 3), x[:, :3]), RuntimeError),
    "take_along_dim": (lambda x, i: x.take_along_dim(i[None].expand(4, 3), 1), RuntimeError),
}


@pytest.mark.parametrize("name", list(CHECKED))
def test_replays_check_each_calls_indices(name: str) -> None:
    fn, error = CHECKED[name]
    compiled = tapegrad.compile(lambda x, i: fn(x, i).square().sum())
    x = tapegrad.tensor(W)
    for _ in range(3):
        np.testing.assert_allclose(compiled(x, COLUMNS).item(), fn(x, COLUMNS).square().sum().item(), rtol=1e-12)
    with pytest.raises(error, match="out of"):
        fn(x, COLUMNS * 5)  # eagerly
    with pytest.raises(error, match="out of"):
        compiled(x, COLUMNS * 5)  # a replay, with an index out of range
    assert compiled.traces == 1


REFUSED = {
    "masked_select": (lambda x: x.masked_select(x > 0).sum(), "shape depends on the values"),
    "unique": (lambda x: tapegrad.unique(x.round()).sum(), "shape depends on the values"),
    "argwhere": (lambda x: tapegrad.argwhere(x > 0).sum(), "shape depends on the values"),
    "repeat_interleave_tensor": (lambda x: x.repeat_interleave(tapegrad.tensor([1, 2, 0, 1]), dim=0).sum(),
                                 "shape depends on the values"),
    "bincount": (lambda x: tapegrad.bincount((x.abs() * 2).long().reshape(-1)).sum(), "shape depends on the values"),
    "scatter": (lambda x: x.scatter(0, INDEX, x[:2]).sum(), "does not record scatter"),
    "scatter_reduce": (lambda x: x.scatter_reduce(0, INDEX, x[:2], "amax").sum(), "does not record scatter_reduce"),
    "histc_own_range": (lambda x: tapegrad.histc(x, bins=3).sum(), "histc with min == max"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_value_dependent_and_kernel_ops_raise_trace_error(name: str) -> None:
    fn, message = REFUSED[name]
    compiled = tapegrad.compile(fn)
    x = tapegrad.tensor(W)
    eager = compiled(x)  # the first call runs eagerly and works
    np.testing.assert_allclose(eager.item(), fn(x).item())
    with pytest.raises(TraceError, match=message):
        compiled(x)
    assert trace.ACTIVE is None
    assert compiled.traces == 0 and compiled.tape is None
