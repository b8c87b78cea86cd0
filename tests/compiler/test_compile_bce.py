"""``tapegrad.compile`` of steps with ``binary_cross_entropy``: its check that the
probabilities lie in [0, 1] is recorded, so every replay checks its own call's values and
raises eager mode's error before anything is updated."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F


def _step(squash: Any) -> tuple[nn.Module, Any]:
    tapegrad.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.5)

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.binary_cross_entropy(squash(model(x)), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_bce_steps_replay_as_eager():
    rng = np.random.default_rng(2)
    batches = [(tapegrad.tensor(rng.standard_normal((6, 3)).astype(np.float32)),
                tapegrad.tensor(rng.integers(0, 2, (6, 1)).astype(np.float32))) for _ in range(5)]
    runs = []
    for compiled in (False, True):
        model, step = _step(tapegrad.sigmoid)
        fn = tapegrad.compile(step) if compiled else step
        runs.append(([fn(x, y).item() for x, y in batches], [p.detach().numpy().copy() for p in model.parameters()]))
        if compiled:
            assert fn.traces == 1
            assert "unit_interval_check" in {node.rule.name for node in fn.tape.nodes}
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-6)
    for got, want in zip(runs[1][1], runs[0][1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_a_replay_with_probabilities_outside_the_unit_interval_raises_and_changes_nothing():
    # A clamp lets the model push "probabilities" past 1 when its output grows.
    model, step = _step(lambda z: z.clamp(0.0, 2.0))
    compiled = tapegrad.compile(step)
    y = tapegrad.ones(2, 1)
    small = tapegrad.tensor([[0.1, 0.0, 0.0], [0.0, 0.1, 0.0]])
    for _ in range(3):
        with tapegrad.no_grad():
            model.weight.fill_(1.0)
            model.bias.fill_(0.2)
        compiled(small, y)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    large = tapegrad.tensor([[0.5, 0.5, 0.5], [0.0, 0.1, 0.0]])  # 1.7 for the first row
    with pytest.raises(RuntimeError, match=r"^all elements of input should be between 0 and 1$"):
        compiled(large, y)
    with pytest.raises(RuntimeError, match=r"^all elements of input should be between 0 and 1$"):
        step(large, y)
    for p, want in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), want)
    assert compiled.traces == 1


def test_a_nan_probability_raises_as_in_pytorch_eager_and_compiled():
    model, step = _step(tapegrad.sigmoid)
    compiled = tapegrad.compile(step)
    x, y = tapegrad.ones(2, 3), tapegrad.ones(2, 1)
    for _ in range(3):
        compiled(x, y)
    bad = tapegrad.tensor([[np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for fn in (compiled, step):
        with pytest.raises(RuntimeError, match=r"^all elements of input should be between 0 and 1$"):
            fn(bad, y)
