"""``tapegrad.compile`` of steps with convolution and pooling: a compiled training step
(forward, loss, backward, optimizer update) replays with the results of the eager one.

Each case trains two copies of one model on the same batches, one eagerly and one through
``tapegrad.compile`` (first call eager, second traced, the rest replayed), and compares the
losses, gradients and parameters after every step. Compiling costs a few seconds per case,
so the configurations are combined: each case covers one convolution setting and one pooling.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.backends import cpu_conv
from tapegrad.compiler import conv_rules

STEPS = 5  # one eager call, one traced call, three replays


def _batches(shape: tuple[int, ...], dtype: Any, steps: int, seed: int) -> list[tapegrad.Tensor]:
    rng = np.random.default_rng(seed)
    return [tapegrad.from_numpy(rng.standard_normal(shape).astype(dtype)) for _ in range(steps)]


def _tol(dtype: Any) -> dict[str, float]:
    return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _compare_training(make_model: Callable[[], nn.Module], input_shape: tuple[int, ...], loss: str,
                      dtype: Any = np.float32, optimizer: str = "sgd", steps: int = STEPS, seed: int = 0,
                      labels: int | None = None) -> tapegrad.compile:
    """Train an eager and a compiled copy of ``make_model()`` side by side; assert they agree
    (losses, gradients, parameters and buffers after every step)."""
    models = []
    for _ in range(2):
        tapegrad.manual_seed(seed)
        model = make_model()
        if np.dtype(dtype) == np.float64:
            model = model.double()
        models.append(model)
    inputs = _batches(input_shape, dtype, steps, seed + 1)
    if labels is not None:
        rng = np.random.default_rng(seed + 2)
        targets = [tapegrad.from_numpy(rng.integers(0, labels, input_shape[0]).astype(np.int64))
                   for _ in range(steps)]
    else:
        with tapegrad.no_grad():
            out_shape = tuple(models[0](inputs[0]).shape)
        targets = _batches(out_shape, dtype, steps, seed + 2)

    def make_step(model: nn.Module) -> Callable[..., tapegrad.Tensor]:
        if optimizer == "adam":
            opt = tapegrad.optim.Adam(model.parameters(), lr=1e-2)
        else:
            opt = tapegrad.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x: tapegrad.Tensor, target: tapegrad.Tensor) -> tapegrad.Tensor:
            opt.zero_grad()
            out = model(x)
            if loss == "sum":
                value = (out * target).sum()
            elif loss == "mse":
                value = F.mse_loss(out, target)
            else:
                value = F.cross_entropy(out, target)
            value.backward()
            opt.step()
            return value
        return step

    eager = make_step(models[0])
    compiled = tapegrad.compile(make_step(models[1]))
    tol = _tol(dtype)
    for i in range(steps):
        expected = eager(inputs[i], targets[i])
        got = compiled(inputs[i], targets[i])
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), **tol, err_msg=f"loss, step {i}")
        for (name, p_eager), (_, p_compiled) in zip(models[0].named_parameters(), models[1].named_parameters()):
            np.testing.assert_allclose(p_compiled.grad.numpy(), p_eager.grad.numpy(), **tol,
                                       err_msg=f"grad of {name}, step {i}")
            np.testing.assert_allclose(p_compiled.detach().numpy(), p_eager.detach().numpy(), **tol,
                                       err_msg=f"{name}, step {i}")
        for (name, b_eager), (_, b_compiled) in zip(models[0].named_buffers(), models[1].named_buffers()):
            np.testing.assert_allclose(b_compiled.numpy(), b_eager.numpy(), **tol, err_msg=f"{name}, step {i}")
    assert compiled.traces == 1, "the step should be traced once and replayed after"
    return compiled


def _rules_used(compiled: Any) -> set[str]:
    return {node.rule.name for node in compiled.tape.nodes}


CASES = {
    # name: (model, input shape, loss, rules the recorded step must contain)
    "stride2-pad1+maxpool2": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        (4, 3, 9, 9), "mse", {"conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_scatter"}),
    "groups2-nobias+maxpool3s2": (
        lambda: nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False), nn.MaxPool2d(3, stride=2, padding=1)),
        (3, 4, 8, 7), "sum", {"conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_scatter"}),
    "dilation2+avgpool": (
        lambda: nn.Sequential(nn.Conv2d(2, 3, (3, 2), dilation=2, padding=(2, 1)), nn.Tanh(),
                              nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)),
        (2, 2, 9, 8), "mse", {"conv2d", "conv2d_backward", "avg_pool2d", "avg_pool2d_backward"}),
    "stride-asym-reflect+adaptive": (
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3, stride=(2, 1), padding=1, padding_mode="reflect"),
                              nn.AdaptiveAvgPool2d((3, 2))),
        (3, 2, 10, 7), "mse", {"conv2d", "conv2d_backward", "index_pad2d", "adaptive_avg_pool2d",
                               "adaptive_avg_pool2d_backward"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_conv_step_matches_eager(name: str) -> None:
    make_model, shape, loss, expected_rules = CASES[name]
    compiled = _compare_training(make_model, shape, loss)
    assert expected_rules <= _rules_used(compiled)


def test_float64_conv_pool_step() -> None:
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(4, 3, 2, stride=2, bias=False), nn.AvgPool2d(2)),
        (3, 2, 8, 8), "mse", dtype=np.float64)
    assert {"conv2d", "conv2d_backward", "max_pool2d", "avg_pool2d"} <= _rules_used(compiled)


def test_chunked_and_threaded_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny limits make the column buffer run in chunks (with a remainder) and the kernels take
    # their threaded variants, as large batches do; the replay must follow the eager path.
    # First conv: 648 column entries per sample, chunks of 2, 2 and 1 samples; second: 972, one
    # sample per chunk, so its input gradient (col2im) runs in chunks too.
    monkeypatch.setattr(cpu_conv, "COLUMN_CHUNK_ELEMENTS", 1300)
    monkeypatch.setattr(cpu_conv, "PARALLEL_THRESHOLD", 256)
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1),
                              nn.MaxPool2d(2)),
        (5, 2, 6, 6), "mse")
    convs = [n for n in compiled.tape.nodes if n.rule is conv_rules.CONV2D]
    assert [len(n.outputs) for n in convs] == [1, 1]  # columns are not kept across chunks


def test_trainer_cnn_adam_step() -> None:
    # examples/train_cpu.py's default model and optimizer.
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(16 * 4 * 4, 10)),
        (64, 1, 8, 8), "cross_entropy", optimizer="adam", labels=10)
    conv = next(n for n in compiled.tape.nodes if n.rule is conv_rules.CONV2D)
    assert len(conv.outputs) == 2  # the weight gradient reuses the forward's column buffer


def test_unbatched_input_and_returned_indices() -> None:
    tapegrad.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)

    @tapegrad.compile
    def forward(x: tapegrad.Tensor) -> Any:
        with tapegrad.no_grad():
            return F.max_pool2d(conv(x), 2, return_indices=True)

    for i, x in enumerate(_batches((2, 6, 6), np.float32, 4, seed=3)):
        with tapegrad.no_grad():
            values, indices = F.max_pool2d(conv(x), 2, return_indices=True)
        got_values, got_indices = forward(x)
        np.testing.assert_allclose(got_values.numpy(), values.numpy(), rtol=1e-5, atol=1e-5, err_msg=f"call {i}")
        np.testing.assert_array_equal(got_indices.numpy(), indices.numpy())
    assert forward.traces == 1


def test_double_backward_through_conv_and_pools() -> None:
    # A gradient penalty: the input gradient is built from recorded ops (conv input and weight
    # gradients, the max-pool scatter and gather, the average pool's adjoint) and differentiated.
    def make() -> tuple[nn.Module, Any]:
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.AvgPool2d(2),
                              nn.Flatten(), nn.Linear(12, 1))
        return model, tapegrad.optim.SGD(model.parameters(), lr=0.05)

    def make_step(model: nn.Module, opt: Any) -> Callable[[tapegrad.Tensor], tapegrad.Tensor]:
        def step(x: tapegrad.Tensor) -> tapegrad.Tensor:
            opt.zero_grad()
            x = x.detach().requires_grad_()
            out = model(x).sum()
            (gx,) = tapegrad.autograd.grad(out, x, create_graph=True)
            loss = (gx * gx).sum() + out
            loss.backward()
            opt.step()
            return loss
        return step

    (m_eager, o_eager), (m_compiled, o_compiled) = make(), make()
    eager, compiled = make_step(m_eager, o_eager), tapegrad.compile(make_step(m_compiled, o_compiled))
    for i, x in enumerate(_batches((2, 2, 8, 8), np.float32, STEPS, seed=5)):
        expected, got = eager(x), compiled(x)
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
        for p, q in zip(m_eager.parameters(), m_compiled.parameters()):
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-5, err_msg=f"step {i}")
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert compiled.traces == 1
    assert {"conv2d_backward", "max_pool2d_gather", "max_pool2d_scatter", "avg_pool2d_backward"} <= _rules_used(compiled)


def test_one_dim_and_transposed_convolutions_and_pools_replay_as_eager() -> None:
    # Each is a 2-d kernel over a unit height (or a convolution's input gradient), so the
    # replay runs the same conv rules; the 1-d results are reshaped views of their outputs.
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Conv1d(2, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.MaxPool1d(2),
                              nn.ConvTranspose1d(4, 3, 3, stride=2, output_padding=1), nn.AvgPool1d(2),
                              nn.AdaptiveAvgPool1d(3)),
        (3, 2, 8), "mse")
    assert {"conv2d", "conv2d_backward", "max_pool2d", "avg_pool2d"} <= _rules_used(compiled)


def test_upsampling_replays_as_eager() -> None:
    # Interpolation is takes along each dim with recorded constant indices and weights.
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Upsample(scale_factor=1.5, mode="bilinear"),
                              nn.Tanh(), nn.Upsample(size=(5, 4)), nn.Conv2d(3, 2, 2)),
        (2, 2, 4, 4), "mse")
    assert {"conv2d", "index", "index_backward"} <= _rules_used(compiled)


class _Recurrent(nn.Module):
    """An RNN over two time steps read out by a linear layer (each step unrolls into the
    recorded list, and Numba's compile time grows with its length; the LSTM and GRU cells are
    the same kinds of ops)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(3, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: tapegrad.Tensor) -> tapegrad.Tensor:
        _, last = self.rnn(x)
        return self.head(last[0])


def test_recurrent_layers_replay_as_eager() -> None:
    compiled = _compare_training(_Recurrent, (2, 2, 3), "mse", optimizer="adam")
    assert {"mm", "join"} <= _rules_used(compiled)
