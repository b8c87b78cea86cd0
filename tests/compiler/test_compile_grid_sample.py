"""``tapegrad.compile`` records a spatial-transformer training step (``affine_grid`` feeding a
bilinear ``grid_sample``, then an SGD update) without refusing it: both are compositions of
recorded ops, the neighbours' indices computed from the grid included. Every replay (calls 3+)
gives eager mode's loss, gradients and updated parameters for inputs that change every call.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tapegrad
import tapegrad.nn.functional as F

SIZE = (2, 2, 3, 4)


def _trainer() -> tuple[list[Any], Callable[[Any, Any], Any]]:
    rng = np.random.default_rng(0)
    theta = tapegrad.tensor(np.eye(2, 3)[None].repeat(2, 0) + 0.2 * rng.standard_normal((2, 2, 3)), requires_grad=True)
    scale = tapegrad.tensor(1 + 0.1 * rng.standard_normal(SIZE[1:]), requires_grad=True)
    optimizer = tapegrad.optim.SGD([theta, scale], lr=0.05, momentum=0.5)

    def step(x: Any, target: Any) -> Any:
        optimizer.zero_grad()
        grid = F.affine_grid(theta, SIZE, align_corners=False)
        out = F.grid_sample(x * scale, grid, mode="bilinear", padding_mode="border", align_corners=False)
        loss = (out - target).square().mean()
        loss.backward()
        optimizer.step()
        return loss

    return [theta, scale], step


def test_a_spatial_transformer_step_replays_as_eager() -> None:
    (eager_params, eager), (params, step) = _trainer(), _trainer()
    compiled = tapegrad.compile(step)
    rng = np.random.default_rng(1)
    for call in range(5):
        x, target = tapegrad.tensor(rng.standard_normal(SIZE)), tapegrad.tensor(rng.standard_normal(SIZE))
        np.testing.assert_allclose(compiled(x, target).item(), eager(x, target).item(), rtol=1e-12,
                                   err_msg=f"loss, call {call}")
        for name, p, q in zip(("theta", "scale"), params, eager_params):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-11, atol=1e-13,
                                       err_msg=f"{name} gradient, call {call}")
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name}, call {call}")
        assert not np.allclose(params[0].detach().numpy(), _trainer()[0][0].detach().numpy())  # it trains
    assert compiled.traces == 1 and compiled.tape is not None
