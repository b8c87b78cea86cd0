"""``tapegrad.compile`` records ``conv3d``, ``max_pool3d`` and ``avg_pool3d``: each is a composition
of recorded ops (2-d convolution and pooling, gathers, sums), so a compiled training step gives
eager mode's numbers and gradients. Call 1 runs eagerly, call 2 is traced, calls 3+ replay.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tapegrad
import tapegrad.nn.functional as F

W = np.linspace(-1.0, 1.2, 3 * 2 * 8).reshape(3, 2, 2, 2, 2)


def _step() -> tuple[Callable[[Any], Any], Any]:
    w = tapegrad.tensor(W, requires_grad=True)

    def step(x: Any) -> Any:
        w.grad = None
        y = F.conv3d(x, w, padding=1)
        loss = (F.max_pool3d(y, 2, stride=(1, 2, 2), padding=(1, 0, 0)).square().sum()
                + F.avg_pool3d(y, (2, 1, 2), padding=(1, 0, 1), count_include_pad=False).sum())
        loss.backward()
        return loss

    return step, w


def test_a_conv3d_and_3d_pooling_step_replays_as_eager() -> None:
    (eager, eager_w), (step, w) = _step(), _step()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(3)
    for i in range(4):
        x = tapegrad.tensor(rng.uniform(-2, 2, (2, 2, 3, 4, 4)))
        want, got = eager(x), compiled(x)
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12, err_msg=f"loss, call {i}")
        np.testing.assert_allclose(w.grad.numpy(), eager_w.grad.numpy(), rtol=1e-11, atol=1e-13,
                                   err_msg=f"gradient, call {i}")
    assert compiled.traces == 1 and compiled.tape is not None
