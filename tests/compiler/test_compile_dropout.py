"""``tapegrad.compile`` of steps with dropout: every replay draws a new mask from the generator
eager mode draws from, so a compiled and an eager run seeded alike see the same masks, and
switching the model to eval mode retraces into a step without dropout."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.compiler import TraceError


def _training(inplace: bool) -> tuple[nn.Module, Any, Any]:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.3, inplace=inplace), nn.ReLU(), nn.Linear(8, 3))
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(F.dropout(model(x), 0.25), y)  # two masks a step
        loss.backward()
        opt.step()
        return loss

    return model, opt, step


@pytest.mark.parametrize("inplace", [False, True], ids=["dropout", "dropout_inplace"])
def test_compiled_dropout_draws_the_eager_masks(inplace):
    rng = np.random.default_rng(0)
    batches = [(tapegrad.tensor(rng.standard_normal((5, 6)).astype(np.float32)), tapegrad.tensor(rng.integers(0, 3, 5)))
               for _ in range(6)]
    runs = []
    for compiled in (False, True):
        model, _, step = _training(inplace)
        fn = tapegrad.compile(step) if compiled else step
        losses = [fn(x, y).item() for x, y in batches]
        runs.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
        if compiled:
            assert fn.traces == 1
            assert any(value.kind == "host" for value in fn.tape.host)
    (eager_losses, eager_params), (losses, params) = runs
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    for got, want in zip(params, eager_params):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_each_replay_draws_a_new_mask_and_eval_mode_drops_nothing():
    tapegrad.manual_seed(1)
    weight = tapegrad.tensor(np.linspace(0.5, 1.5, 40).reshape(8, 5), requires_grad=True)
    drop = nn.Dropout(0.5)

    @tapegrad.compile
    def masked(x):
        weight.grad = None
        out = drop(weight * x).sum()
        out.backward()
        return out, weight.grad

    x = tapegrad.ones(8, 5)
    grads = [masked(x)[1].numpy().copy() for _ in range(5)]
    # Kept elements get the scaled gradient 1 / (1 - p) = 2 times x, dropped ones 0.
    for grad in grads:
        assert set(np.unique(grad)) <= {0.0, 2.0}
    assert len({grad.tobytes() for grad in grads[2:]}) == 3  # replays draw new masks
    drop.eval()
    loss, grad = masked(x)
    np.testing.assert_allclose(loss.item(), weight.sum().item())
    np.testing.assert_array_equal(grad.numpy(), np.ones((8, 5)))
    assert masked.traces == 2


def test_a_guard_failure_draws_no_mask_twice():
    """Changing an optimizer flag fails the replay's guard and retraces; the failed replay must
    not have drawn its masks, or every later call would draw twice and leave eager's stream."""
    rng = np.random.default_rng(4)
    batches = [(tapegrad.tensor(rng.standard_normal((5, 6)).astype(np.float32)), tapegrad.tensor(rng.integers(0, 3, 5)))
               for _ in range(7)]
    runs = []
    for compiled in (False, True):
        model, opt, step = _training(False)
        fn = tapegrad.compile(step) if compiled else step
        losses = []
        for i, (x, y) in enumerate(batches):
            if i == 4:
                opt.param_groups[0]["weight_decay"] = 1e-3
            losses.append(fn(x, y).item())
        runs.append((losses, tapegrad.rand(3).numpy()))
        if compiled:
            assert fn.traces == 2
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-6)
    np.testing.assert_array_equal(runs[1][1], runs[0][1])  # the generator is where eager left it


def test_seeding_inside_a_compiled_step_is_refused():
    @tapegrad.compile
    def reseeded(x):
        tapegrad.manual_seed(123)
        return F.dropout(x, 0.5).sum()

    x = tapegrad.ones(8)
    reseeded(x)
    with pytest.raises(TraceError, match="seeds a random generator"):
        reseeded(x)
