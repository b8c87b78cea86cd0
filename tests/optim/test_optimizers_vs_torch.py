"""Each optimizer trains a small MLP for 25 steps exactly as PyTorch's single-tensor
(foreach=False) implementation does: every loss and the final parameters agree to float
rounding, in float64 and float32, across the optimizers' options."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
from optim_helpers import VALIDATION_CASES, data, initial_weights, parameters_of, train_tapegrad

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.8, "maximize": True}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 2e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("Adam", {"lr": 1e-2, "maximize": True, "amsgrad": True, "weight_decay": 1e-3}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 1e-2, "betas": (0.3, 0.9)}),  # beta1 < 0.5 takes lerp's other branch
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2, "maximize": True}),
    ("RMSprop", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "centered": True}),
    ("RMSprop", {"lr": 5e-3, "momentum": 0.9}),
    ("RMSprop", {"lr": 5e-3, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 1e-3, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-6}),
    ("Adagrad", {"lr": 0.05, "maximize": True}),
]

TOLERANCES = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 2e-4, "atol": 2e-5}}


def config_id(config: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = config
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def torch_run(name: str, kwargs: dict[str, Any], dtype: type, grouped: bool = False,
              steps: int = 25) -> tuple[list[float], dict[str, np.ndarray]]:
    x, y = data(dtype)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model.to(torch.float64 if dtype == np.float64 else torch.float32)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in initial_weights(dtype).items()})
    optimizer = getattr(torch.optim, name)(groups_of(model, grouped), foreach=False, **kwargs)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_t), y_t)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def groups_of(model: Any, grouped: bool) -> Any:
    if not grouped:
        return model.parameters()
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if n.startswith("0.")], "lr": 0.03},
            {"params": [p for n, p in named if n.startswith("2.")]}]


def tapegrad_run(name: str, kwargs: dict[str, Any], dtype: type, grouped: bool = False,
                 steps: int = 25) -> tuple[list[float], dict[str, np.ndarray]]:
    losses, model, _ = train_tapegrad(lambda m: getattr(tapegrad.optim, name)(groups_of(m, grouped), **kwargs),
                                      dtype, steps)
    return losses, parameters_of(model)


def assert_same_run(ours: tuple, theirs: tuple, dtype: type) -> None:
    tolerance = TOLERANCES[dtype]
    np.testing.assert_allclose(ours[0], theirs[0], **tolerance)
    assert ours[1].keys() == theirs[1].keys()
    for key in ours[1]:
        assert ours[1][key].dtype == theirs[1][key].dtype
        np.testing.assert_allclose(ours[1][key], theirs[1][key], err_msg=key, **tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_training_matches_torch(config: tuple[str, dict[str, Any]], dtype: type) -> None:
    name, kwargs = config
    ours = tapegrad_run(name, kwargs, dtype)
    theirs = torch_run(name, kwargs, dtype)
    assert ours[0][-1] != ours[0][0]  # the run really trained
    assert_same_run(ours, theirs, dtype)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 1e-2}),
                                          ("RMSprop", {"lr": 1e-2, "centered": True}), ("Adagrad", {"lr": 0.1})])
def test_parameter_groups_with_their_own_lr_match_torch(name: str, kwargs: dict[str, Any]) -> None:
    assert_same_run(tapegrad_run(name, kwargs, np.float64, grouped=True),
                    torch_run(name, kwargs, np.float64, grouped=True), np.float64)


@pytest.mark.parametrize("name, kwargs, keys", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, ["momentum_buffer"]),
    ("SGD", {"lr": 0.1}, []),
    ("Adam", {"amsgrad": True}, ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]),
    ("AdamW", {}, ["step", "exp_avg", "exp_avg_sq"]),
    ("RMSprop", {"momentum": 0.9, "centered": True}, ["step", "square_avg", "momentum_buffer", "grad_avg"]),
    ("Adagrad", {}, ["step", "sum"]),
])
def test_state_names_and_values_match_torch(name: str, kwargs: dict[str, Any], keys: list[str]) -> None:
    dtype = np.float64
    _, _, ours = train_tapegrad(
        lambda m: getattr(tapegrad.optim, name)(m.parameters(), foreach=False, **kwargs), dtype, 3)
    x, y = data(dtype)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    tmodel.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in initial_weights(dtype).items()})
    theirs = getattr(torch.optim, name)(tmodel.parameters(), foreach=False, **kwargs)
    for _ in range(3):
        theirs.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        theirs.step()
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert ours_sd["param_groups"] == theirs_sd["param_groups"]
    assert ours_sd["state"].keys() == theirs_sd["state"].keys()
    for index, entry in theirs_sd["state"].items():
        assert list(ours_sd["state"][index]) == list(entry) == keys
        for key, value in entry.items():
            mine = ours_sd["state"][index][key]
            assert str(mine.dtype).replace("tapegrad", "torch") == str(value.dtype)
            assert tuple(mine.shape) == tuple(value.shape)
            np.testing.assert_allclose(mine.numpy(), value.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
                                          ("RMSprop", {}), ("Adagrad", {})])
def test_repr_matches_torch(name: str, kwargs: dict[str, Any]) -> None:
    ours = getattr(tapegrad.optim, name)([tapegrad.zeros(2, requires_grad=True)], **kwargs)
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    assert repr(ours) == repr(theirs)


RANDOM_CONFIGS = [
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9)}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
    ("RMSprop", {"alpha": 0.3, "centered": True}),  # 1 - alpha > 0.5: lerp's other branch
    ("Adagrad", {"lr_decay": 0.1, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("size", ["small", "threaded"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("config", RANDOM_CONFIGS, ids=config_id)
def test_random_gradients_match_torch(config: tuple[str, dict[str, Any]], dtype: type, size: str) -> None:
    # Independent random gradients each step keep every update well conditioned, so the
    # comparison isolates the update arithmetic. Above the threading threshold the prange
    # kernel runs; its results must be the same.
    from tapegrad.optim._fused import PARALLEL_THRESHOLD

    name, kwargs = config
    n = 37 if size == "small" else PARALLEL_THRESHOLD + 17
    rng = np.random.default_rng(5)
    start = rng.standard_normal(n).astype(dtype)
    ours_p = tapegrad.tensor(start, requires_grad=True)
    theirs_p = torch.tensor(start, requires_grad=True)
    ours = getattr(tapegrad.optim, name)([ours_p], **kwargs)
    theirs = getattr(torch.optim, name)([theirs_p], foreach=False, **kwargs)
    for _ in range(4):
        g = rng.standard_normal(n).astype(dtype)
        ours_p.grad = tapegrad.tensor(g)
        theirs_p.grad = torch.tensor(g)
        ours.step()
        theirs.step()
    tolerance = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **tolerance)


@pytest.mark.parametrize("name, kwargs, error, message", VALIDATION_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}" for c in VALIDATION_CASES])
def test_validation_messages_are_torch_messages(name: str, kwargs: dict[str, Any], error: type,
                                                message: str) -> None:
    with pytest.raises(error) as theirs:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    assert str(theirs.value) == message


def test_load_state_dict_messages_are_torch_messages() -> None:
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([a, b], lr=0.1)
    messages = []
    for other in (torch.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1), torch.optim.SGD([a], lr=0.1)):
        with pytest.raises(ValueError) as error:
            opt.load_state_dict(other.state_dict())
        messages.append(str(error.value))
    assert messages == ["loaded state dict has a different number of parameter groups",
                        ("loaded state dict contains a parameter group that doesn't match the size of "
                         "optimizer's group")]
