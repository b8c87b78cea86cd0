"""Shared pieces of the optimizer tests: a small MLP built identically in tapegrad and PyTorch,
and a training loop that records every loss."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import tapegrad
from tapegrad import nn
import tapegrad.nn.functional as F

BATCH, IN, HIDDEN, OUT = 16, 4, 8, 3


def data(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    return rng.standard_normal((BATCH, IN)).astype(dtype), rng.integers(0, OUT, BATCH)


def initial_weights(dtype: np.dtype) -> dict[str, np.ndarray]:
    """Weights for Linear(4, 8) -> Tanh -> Linear(8, 3), named as in ``Sequential.state_dict()``."""
    rng = np.random.default_rng(99)
    return {"0.weight": rng.uniform(-0.5, 0.5, (HIDDEN, IN)).astype(dtype),
            "0.bias": rng.uniform(-0.5, 0.5, HIDDEN).astype(dtype),
            "2.weight": rng.uniform(-0.4, 0.4, (OUT, HIDDEN)).astype(dtype),
            "2.bias": rng.uniform(-0.4, 0.4, OUT).astype(dtype)}


def tapegrad_model(weights: dict[str, np.ndarray]) -> nn.Module:
    model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, OUT))
    if weights["0.weight"].dtype == np.float64:
        model.double()
    model.load_state_dict({k: tapegrad.tensor(v) for k, v in weights.items()})
    return model


def train_tapegrad(make_optimizer: Callable[[Any], Any], dtype: np.dtype, steps: int = 25,
                   model: nn.Module | None = None, optimizer: Any = None) -> tuple[list[float], nn.Module, Any]:
    x, y = data(dtype)
    x_t, y_t = tapegrad.tensor(x), tapegrad.tensor(y)
    model = model if model is not None else tapegrad_model(initial_weights(dtype))
    optimizer = optimizer if optimizer is not None else make_optimizer(model)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_t), y_t)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, model, optimizer


def parameters_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


# (optimizer, keyword arguments, exception, PyTorch's message) for bad constructor arguments.
VALIDATION_CASES = [
    ("SGD", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ("SGD", {"momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
    ("SGD", {"weight_decay": -1e-3}, ValueError, "Invalid weight_decay value: -0.001"),
    ("SGD", {"nesterov": True}, ValueError, "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError,
     "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", {"fused": True, "foreach": True}, RuntimeError, "`fused` and `foreach` cannot be `True` together."),
    ("Adam", {"lr": -0.1}, ValueError, "Invalid learning rate: -0.1"),
    ("Adam", {"eps": -1.0}, ValueError, "Invalid epsilon value: -1.0"),
    ("Adam", {"betas": (1.0, 0.999)}, ValueError, "Invalid beta parameter at index 0: 1.0"),
    ("Adam", {"betas": (0.9, -0.1)}, ValueError, "Invalid beta parameter at index 1: -0.1"),
    ("Adam", {"betas": (0, 0.999)}, ValueError, "betas must be either both floats or both Tensors"),
    ("Adam", {"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
    ("AdamW", {"betas": (0.9, 1.5)}, ValueError, "Invalid beta parameter at index 1: 1.5"),
    ("AdamW", {"lr": -1e-3}, ValueError, "Invalid learning rate: -0.001"),
    ("RMSprop", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ("RMSprop", {"eps": -1.0}, ValueError, "Invalid epsilon value: -1.0"),
    ("RMSprop", {"momentum": -1.0}, ValueError, "Invalid momentum value: -1.0"),
    ("RMSprop", {"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
    ("RMSprop", {"alpha": -1.0}, ValueError, "Invalid alpha value: -1.0"),
    ("Adagrad", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ("Adagrad", {"lr_decay": -1.0}, ValueError, "Invalid lr_decay value: -1.0"),
    ("Adagrad", {"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, ValueError, "Invalid initial_accumulator_value value: -1.0"),
    ("Adagrad", {"eps": -1.0}, ValueError, "Invalid epsilon value: -1.0"),
]


def assert_raises_like_torch(theirs: Callable[[], Any], ours: Callable[[], Any]) -> None:
    """``ours()`` raises what ``theirs()`` (the same call in PyTorch) raises: type and message."""
    import pytest

    with pytest.raises(Exception) as expected:
        theirs()
    with pytest.raises(Exception) as got:
        ours()
    assert type(got.value) is type(expected.value)
    assert str(got.value) == str(expected.value).replace("torch.", "tapegrad.")


# What the parameter list and a tensor ``lr`` must be, given the library (torch or tapegrad):
# (parameters, keyword arguments) that every optimizer refuses.
PARAMETER_CASES = {
    "tensor-lr": lambda m: ([m.zeros(1, requires_grad=True)], {"lr": m.tensor([0.1, 0.2])}),
    "no-parameters": lambda m: ([], {}),
    "one-tensor": lambda m: (m.zeros(1, requires_grad=True), {}),
    "non-leaf": lambda m: ([m.zeros(1, requires_grad=True) * 2], {}),
}
