"""``tapegrad.compile`` of steps with layer norm and batch norm: compiled training steps replay
with the eager step's losses, gradients, parameters and running statistics (the comparison of
``test_compile_conv``), in training and in eval mode."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.compiler import TraceError
from test_compile_conv import _batches, _compare_training, _rules_used

BATCH_NORM_TRAINING = {"batch_norm_stats", "batch_norm_update_running", "batch_norm", "batch_norm_backward"}


def test_cnn_with_batch_norm_and_layer_norm() -> None:
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.LayerNorm(12), nn.Linear(12, 4)),
        (4, 2, 4, 4), "cross_entropy", labels=4)
    assert BATCH_NORM_TRAINING | {"layer_norm", "layer_norm_backward"} <= _rules_used(compiled)


def test_mlp_batch_norm_without_running_stats_or_affine_and_plain_layer_norm() -> None:
    # BatchNorm1d over (N, C) rows (the channel-innermost kernels), no buffers to update; a
    # layer norm over two dims without weight and bias; float64.
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6, affine=False, track_running_stats=False),
                              nn.Tanh(), nn.Unflatten(1, (2, 3)), nn.LayerNorm((2, 3), elementwise_affine=False),
                              nn.Flatten(), nn.Linear(6, 2)),
        (7, 5), "mse", dtype=np.float64)
    rules = _rules_used(compiled)
    assert {"batch_norm_stats", "batch_norm", "layer_norm_backward"} <= rules
    assert "batch_norm_update_running" not in rules


def test_batch_norm_in_eval_mode_uses_the_running_statistics() -> None:
    def make() -> nn.Module:
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
        with tapegrad.no_grad():  # running statistics of their own, not the initial zeros and ones
            model[1].running_mean.copy_(tapegrad.tensor([0.5, -0.25]))
            model[1].running_var.copy_(tapegrad.tensor([2.0, 0.5]))
        return model.eval()

    compiled = _compare_training(make, (3, 1, 4, 4), "mse")
    rules = _rules_used(compiled)
    assert {"batch_norm", "batch_norm_backward"} <= rules and "batch_norm_stats" not in rules


def test_gradient_penalty_through_the_norms() -> None:
    # create_graph: the norm VJPs are composite (recorded) ops, differentiated again.
    def make(compiled: bool) -> tuple[nn.Module, Any]:
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LayerNorm(4), nn.Linear(4, 1))
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.05)

        def step(x: tapegrad.Tensor) -> tapegrad.Tensor:
            opt.zero_grad()
            x = x.detach().requires_grad_()
            out = model(x).sum()
            (gx,) = tapegrad.autograd.grad(out, x, create_graph=True)
            loss = out + (gx * gx).sum()
            loss.backward()
            opt.step()
            return loss

        return model, tapegrad.compile(step) if compiled else step

    (eager_model, eager), (compiled_model, compiled) = make(False), make(True)
    for i, x in enumerate(_batches((5, 3), np.float32, 4, seed=7)):
        np.testing.assert_allclose(compiled(x).item(), eager(x).item(), rtol=1e-5, err_msg=f"step {i}")
    for p, q in zip(eager_model.state_dict().values(), compiled_model.state_dict().values()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-5, atol=1e-6)
    assert compiled.traces == 1


def test_strided_running_statistics_are_refused_before_they_change() -> None:
    norm = nn.BatchNorm1d(3)
    storage = tapegrad.zeros(6)
    norm.running_mean = storage[::2]  # a strided view: eager mode updates it, compile refuses

    @tapegrad.compile
    def forward(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return norm(x).sum()

    x = tapegrad.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3))
    forward(x)  # eager
    before = norm.running_mean.numpy().copy()
    with pytest.raises(TraceError, match="running statistics must be contiguous"):
        forward(x)
    np.testing.assert_array_equal(norm.running_mean.numpy(), before)
