"""A compiled training run matches PyTorch's from the same initial weights and batches.

Reuses the runs of test_compile_equality.py (compile_helpers.run): PyTorch replays the same
steps from the recorded initial weights, and its losses must match the compiled losses."""
from __future__ import annotations

import numpy as np
import pytest

from compile_helpers import STEPS, run

pytestmark = pytest.mark.torch

TORCH_OPTIMIZERS = {
    "sgd_momentum": lambda torch, p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd_nesterov_wd": lambda torch, p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adam": lambda torch, p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99)),
    "adamw": lambda torch, p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "rmsprop": lambda torch, p: torch.optim.RMSprop(p, lr=1e-2),
    "adagrad": lambda torch, p: torch.optim.Adagrad(p, lr=5e-2, lr_decay=1e-2),
}

NAMES = ["big_sgd_momentum", "big_adamw", "small_sgd_momentum", "small_sgd_nesterov_wd", "small_adam", "small_adamw",
         "small_rmsprop", "small_adagrad", "small_f64_adam", "f64_ce_sgd_momentum"]


@pytest.mark.parametrize("name", NAMES)
def test_compiled_losses_match_torch(name):
    torch = pytest.importorskip("torch")
    r = run(name)
    config = r.config
    dtype = torch.float64 if np.dtype(config.get("dtype", np.float32)) == np.float64 else torch.float32
    sizes = config["sizes"]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dtype)
    with torch.no_grad():
        for p, initial in zip(model.parameters(), r.initial):
            p.copy_(torch.from_numpy(initial))
    opt = TORCH_OPTIMIZERS[config["opt"]](torch, model.parameters())
    loss_fn = torch.nn.functional.cross_entropy if config["loss"] == "ce" else torch.nn.functional.mse_loss
    tolerance = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for i, (x, y) in enumerate(r.data):
        opt.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x.numpy().copy())), torch.from_numpy(y.numpy().copy()))
        loss.backward()
        opt.step()
        np.testing.assert_allclose(r.compiled.losses[i], loss.item(), **tolerance, err_msg=f"step {i}")
    assert len(r.compiled.losses) == STEPS
    # Parameters too. Adaptive optimizers divide by sqrt(v): where a gradient is nearly zero
    # the rounding differences of the two BLAS libraries are amplified (the eager run shows
    # the same), so their float32 parameters get a looser absolute tolerance.
    adaptive = config["opt"] in ("adam", "adamw", "rmsprop", "adagrad")
    if dtype == torch.float64:
        param_tolerance = dict(rtol=1e-10, atol=1e-10)
    else:
        param_tolerance = dict(rtol=1e-4, atol=1e-3 if adaptive else 1e-5)
    for p, q in zip(model.parameters(), r.compiled.params[-1]):
        np.testing.assert_allclose(q, p.detach().numpy(), **param_tolerance)
