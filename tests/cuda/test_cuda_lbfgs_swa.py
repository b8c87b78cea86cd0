"""LBFGS and swa_utils on CUDA tensors against the CPU (the algorithms are tensor ops, so this
checks that every op they use runs on the device and keeps its state there).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_lbfgs_swa.py -q
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad
from tapegrad.optim import swa_utils
from tapegrad.optim.lbfgs import LBFGS

FLOAT64 = {"rtol": 1e-9, "atol": 1e-11}
FLOAT32 = {"rtol": 2e-5, "atol": 2e-6}


def state_of(optimizer: Any) -> dict[str, Any]:
    return optimizer.state[optimizer.param_groups[0]["params"][0]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_matches_cpu(dtype: type) -> None:
    # A tiny least-squares problem: the simulator runs each kernel in Python.
    rng = np.random.default_rng(0)
    x_np, y_np = rng.standard_normal((6, 3)).astype(dtype), rng.standard_normal(6).astype(dtype)

    def solve(device: str) -> tuple[list[float], np.ndarray, LBFGS]:
        w = tapegrad.zeros(3, dtype=tapegrad.float64 if dtype == np.float64 else tapegrad.float32,
                           device=device, requires_grad=True)
        x, y = tapegrad.tensor(x_np, device=device), tapegrad.tensor(y_np, device=device)
        optimizer = LBFGS([w], max_iter=3, history_size=2, line_search_fn="strong_wolfe")

        def closure() -> Any:
            optimizer.zero_grad()
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            return loss

        losses = [optimizer.step(closure).item() for _ in range(2)]
        return losses, w.detach().cpu().numpy(), optimizer

    cpu, cuda = solve("cpu"), solve("cuda")
    tolerance = FLOAT64 if dtype == np.float64 else FLOAT32
    np.testing.assert_allclose(cuda[0], cpu[0], **tolerance)
    np.testing.assert_allclose(cuda[1], cpu[1], **tolerance)
    state = state_of(cuda[2])
    assert state["d"].device.type == "cuda" and state["prev_flat_grad"].device.type == "cuda"
    assert state["func_evals"] == state_of(cpu[2])["func_evals"]


def test_cuda_default_average_is_the_multi_tensor_lerp() -> None:
    # On CUDA the default mean is PyTorch's multi-tensor form: a lerp_ whose weight
    # 1 / (n + 1) is rounded to float32. On the CPU that form is asked for explicitly.
    model = tapegrad.nn.Sequential(tapegrad.nn.Linear(2, 3), tapegrad.nn.BatchNorm1d(3)).double()
    on_cuda = swa_utils.AveragedModel(model, device="cuda")
    on_cpu = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    for step in range(3):
        with tapegrad.no_grad():
            for p in model.parameters():
                p.mul_(-1.5).add_(0.25 * step)
        on_cuda.update_parameters(model)
        on_cpu.update_parameters(model)
    assert on_cuda.n_averaged.device.type == "cuda" and on_cuda.n_averaged.item() == 3
    mine = {name: value.cpu() for name, value in on_cuda.state_dict().items()}
    want = on_cpu.state_dict()
    assert list(mine) == list(want)
    for name, value in want.items():
        assert on_cuda.state_dict()[name].device.type == "cuda"
        np.testing.assert_allclose(mine[name].numpy(), value.numpy(), rtol=1e-14, atol=1e-16, err_msg=name)
