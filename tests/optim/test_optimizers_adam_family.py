"""Adamax, NAdam and RAdam against PyTorch's single-tensor (foreach=False) implementations:
training runs, random-gradient updates (serial and threaded kernels, a transposed parameter),
state dicts and their round trips, constructor checks, and a compiled training step against
eager mode."""
from __future__ import annotations

import doctest
import inspect
import io
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.optim import adamax, nadam, radam
from tapegrad.optim.adamax import Adamax
from tapegrad.optim.nadam import NAdam
from tapegrad.optim.radam import RAdam
from optim_helpers import (PARAMETER_CASES, assert_raises_like_torch, data, initial_weights, parameters_of,
                           tapegrad_model, train_tapegrad)
from test_optimizers_vs_torch import TOLERANCES, assert_same_run, config_id, groups_of, torch_run

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

CLASSES = {"Adamax": Adamax, "NAdam": NAdam, "RAdam": RAdam}

CONFIGS = [
    ("Adamax", {"lr": 2e-2}),
    ("Adamax", {"lr": 2e-2, "betas": (0.3, 0.9), "eps": 1e-6, "weight_decay": 0.05}),  # lerp's other branch
    ("Adamax", {"lr": 1e-2, "maximize": True, "weight_decay": 1e-2}),
    ("NAdam", {"lr": 1e-2}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 0.05, "momentum_decay": 1e-2}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("NAdam", {"lr": 2e-2, "betas": (0.3, 0.9), "eps": 1e-6}),
    ("RAdam", {"lr": 1e-2}),  # plain momentum steps for t <= 5, rectified ones after
    ("RAdam", {"lr": 1e-2, "weight_decay": 0.05}),
    ("RAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"lr": 2e-2, "betas": (0.3, 0.9)}),  # lerp's other branch
]


def make(name: str, params: Any, **kwargs: Any) -> Any:
    return CLASSES[name](params, **kwargs)


def tapegrad_run(name: str, kwargs: dict[str, Any], dtype: type, grouped: bool = False,
                 steps: int = 25) -> tuple[list[float], dict[str, np.ndarray]]:
    losses, model, _ = train_tapegrad(lambda m: make(name, groups_of(m, grouped), **kwargs), dtype, steps)
    return losses, parameters_of(model)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_training_matches_torch(config: tuple[str, dict[str, Any]], dtype: type) -> None:
    name, kwargs = config
    ours = tapegrad_run(name, kwargs, dtype)
    theirs = torch_run(name, kwargs, dtype)
    assert ours[0][-1] != ours[0][0]  # the run really trained
    assert_same_run(ours, theirs, dtype)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_parameter_groups_with_their_own_lr_match_torch(name: str) -> None:
    kwargs = {"lr": 1e-2}
    assert_same_run(tapegrad_run(name, kwargs, np.float64, grouped=True, steps=10),
                    torch_run(name, kwargs, np.float64, grouped=True, steps=10), np.float64)


RANDOM_CONFIGS = [
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.3, 0.9)}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.3, 0.9)}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
]


def random_steps(name: str, kwargs: dict[str, Any], start: np.ndarray, steps: int,
                 make_param: Any = None) -> tuple[Any, Any, Any, Any]:
    """``steps`` updates of ours and PyTorch's from ``start`` with the same random gradients."""
    make_param = make_param or (lambda module, x: module.tensor(x, requires_grad=True))
    rng = np.random.default_rng(5)
    ours_p, theirs_p = make_param(tapegrad, start), make_param(torch, start)
    ours = make(name, [ours_p], **kwargs)
    theirs = getattr(torch.optim, name)([theirs_p], foreach=False, **kwargs)
    for _ in range(steps):
        g = rng.standard_normal(start.shape).astype(start.dtype)
        ours_p.grad = tapegrad.tensor(g)
        theirs_p.grad = torch.tensor(g)
        ours.step()
        theirs.step()
    return ours_p, theirs_p, ours, theirs


def random_tolerance(dtype: Any) -> dict[str, float]:
    return {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("config", RANDOM_CONFIGS, ids=config_id)
def test_random_gradients_match_torch(config: tuple[str, dict[str, Any]], dtype: type) -> None:
    # Independent random gradients each step keep every update well conditioned, so the
    # comparison isolates the update arithmetic; 8 steps take RAdam past its switch at t = 6.
    name, kwargs = config
    start = np.random.default_rng(1).standard_normal(37).astype(dtype)
    ours_p, theirs_p, ours, theirs = random_steps(name, kwargs, start, 8)
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(dtype))
    mine = ours.state_dict()["state"][0]
    for key, value in theirs.state_dict()["state"][0].items():
        np.testing.assert_allclose(mine[key].numpy(), value.numpy(), err_msg=key, **random_tolerance(dtype))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_threaded_kernel_matches_torch(name: str) -> None:
    from tapegrad.optim._fused import PARALLEL_THRESHOLD

    start = np.random.default_rng(2).standard_normal(PARALLEL_THRESHOLD + 17).astype(np.float32)
    ours_p, theirs_p, _, _ = random_steps(name, {"lr": 0.01, "weight_decay": 0.1}, start, 7)
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(np.float32))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_transposed_parameter_matches_torch(name: str) -> None:
    def transposed(module: Any, x: np.ndarray) -> Any:
        return module.tensor(x.T.copy()).t().detach().requires_grad_()

    start = np.random.default_rng(3).standard_normal((4, 5))
    ours_p, theirs_p, ours, theirs = random_steps(name, {"lr": 0.01, "weight_decay": 0.1}, start, 7, transposed)
    assert not ours_p.is_contiguous()
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(np.float64))
    for key, value in theirs.state[theirs_p].items():
        np.testing.assert_allclose(ours.state[ours_p][key].numpy(), value.numpy(), err_msg=key,
                                   **random_tolerance(np.float64))


# ---------------------------------------------------------------------------- state dicts
STATE_KEYS = {"Adamax": ["step", "exp_avg", "exp_inf"], "NAdam": ["step", "mu_product", "exp_avg", "exp_avg_sq"],
              "RAdam": ["step", "exp_avg", "exp_avg_sq"]}


def torch_trained(name: str, kwargs: dict[str, Any], dtype: type, steps: int) -> tuple[Any, Any]:
    x, y = data(dtype)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model.to(torch.float64 if dtype == np.float64 else torch.float32)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in initial_weights(dtype).items()})
    optimizer = getattr(torch.optim, name)(model.parameters(), foreach=False, **kwargs)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        optimizer.step()
    return model, optimizer


def assert_same_state(ours: dict[str, Any], theirs: dict[str, Any], **tolerance: float) -> None:
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for index, entry in theirs["state"].items():
        assert list(ours["state"][index]) == list(entry)
        for key, value in entry.items():
            mine = ours["state"][index][key]
            assert str(mine.dtype).replace("tapegrad", "torch") == str(value.dtype), key
            assert tuple(mine.shape) == tuple(value.shape), key
            np.testing.assert_allclose(mine.numpy(), value.numpy(), err_msg=key, **tolerance)


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_state_names_and_values_match_torch(name: str, default: str) -> None:
    # ``step`` (and NAdam's ``mu_product``) follow the default dtype, not the parameters'.
    kwargs = {"lr": 1e-2, "weight_decay": 0.1}
    previous = tapegrad.get_default_dtype(), torch.get_default_dtype()
    tapegrad.set_default_dtype(getattr(tapegrad, default))
    torch.set_default_dtype(getattr(torch, default))
    try:
        _, _, ours = train_tapegrad(lambda m: make(name, m.parameters(), foreach=False, **kwargs), np.float64, 3)
        _, theirs = torch_trained(name, kwargs, np.float64, 3)
    finally:
        tapegrad.set_default_dtype(previous[0])
        torch.set_default_dtype(previous[1])
    assert list(ours.state_dict()["state"][0]) == STATE_KEYS[name]
    assert_same_state(ours.state_dict(), theirs.state_dict(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_state_dict_round_trip_continues_identically(name: str) -> None:
    # float32 parameters: loading casts state to the parameter's dtype, which for float32
    # leaves NAdam's mu_product as it was, so the resumed run is the straight one.
    dtype = np.float32
    kwargs = {"lr": 1e-2, "weight_decay": 0.05}

    def new_optimizer(model: Any) -> Any:
        params = list(model.parameters())
        return make(name, [{"params": params[:2]}, {"params": params[2:], "lr": 5e-3}], **kwargs)

    straight, straight_model, straight_opt = train_tapegrad(new_optimizer, dtype, steps=8)
    first, model, opt = train_tapegrad(new_optimizer, dtype, steps=4)
    buffer = io.BytesIO()
    tapegrad.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = tapegrad.load(buffer)
    resumed_model = tapegrad_model(initial_weights(dtype))
    resumed_model.load_state_dict(checkpoint["model"])
    resumed_opt = new_optimizer(resumed_model)
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    assert resumed_opt.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    second, resumed_model, _ = train_tapegrad(None, dtype, steps=4, model=resumed_model, optimizer=resumed_opt)
    assert first + second == straight
    for key, value in parameters_of(straight_model).items():
        np.testing.assert_array_equal(parameters_of(resumed_model)[key], value)
    want, got = straight_opt.state_dict()["state"], resumed_opt.state_dict()["state"]
    for index, entry in want.items():
        for key, value in entry.items():
            np.testing.assert_array_equal(got[index][key].numpy(), value.numpy(), err_msg=key)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_loading_torchs_state_dict_continues_as_torch(name: str) -> None:
    # float64 parameters: PyTorch casts the loaded mu_product to float64, and so do we; the
    # products taken after the load are then float64 products on both sides.
    dtype = np.float64
    kwargs = {"lr": 1e-2, "decoupled_weight_decay": True, "weight_decay": 0.1} if name != "Adamax" else {"lr": 1e-2}
    tmodel, theirs = torch_trained(name, kwargs, dtype, 4)
    loaded = theirs.state_dict()
    converted = {"state": {i: {k: tapegrad.tensor(v.numpy().copy()) for k, v in entry.items()}
                           for i, entry in loaded["state"].items()},
                 "param_groups": loaded["param_groups"]}
    theirs.load_state_dict(loaded)
    model = tapegrad_model({k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()})
    ours = make(name, model.parameters(), **kwargs)
    ours.load_state_dict(converted)
    assert_same_state(ours.state_dict(), theirs.state_dict(), rtol=0, atol=0)
    if name == "NAdam":
        assert ours.state_dict()["state"][0]["mu_product"].dtype == tapegrad.float64
    losses, model, ours = train_tapegrad(None, dtype, steps=5, model=model, optimizer=ours)
    x, y = data(dtype)
    their_losses = []
    for _ in range(5):
        theirs.zero_grad()
        loss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        theirs.step()
        their_losses.append(loss.item())
    assert_same_run((losses, parameters_of(model)),
                    (their_losses, {n: p.detach().numpy() for n, p in tmodel.named_parameters()}), dtype)
    assert_same_state(ours.state_dict(), theirs.state_dict(), **TOLERANCES[np.float64])


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_old_checkpoints_get_torchs_defaults(name: str) -> None:
    # A checkpoint from before the newer options, with plain-number steps: __setstate__ fills
    # the options in and makes tensors of the numbers, as PyTorch's does.
    saved: dict[str, Any] = {}
    for module in (torch, tapegrad):
        w = module.zeros(3, requires_grad=True)
        w.grad = module.ones(3)
        opt = make(name, [w]) if module is tapegrad else getattr(torch.optim, name)([w], foreach=False)
        opt.step()
        state_dict = opt.state_dict()
        for key in ("maximize", "foreach", "capturable", "differentiable", "decoupled_weight_decay"):
            state_dict["param_groups"][0].pop(key, None)
        entry = state_dict["state"][0]
        entry["step"] = float(entry["step"])
        if "mu_product" in entry:
            entry["mu_product"] = float(entry["mu_product"])
        fresh = module.zeros(3, requires_grad=True)
        other = make(name, [fresh]) if module is tapegrad else getattr(torch.optim, name)([fresh])
        other.load_state_dict(state_dict)
        saved[module.__name__] = other.state_dict()
    assert_same_state(saved["tapegrad"], saved["torch"], rtol=0, atol=0)


def test_repr_and_signature_match_torch() -> None:
    for name, cls in CLASSES.items():
        ours = cls([tapegrad.zeros(2, requires_grad=True)])
        theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
        assert repr(ours) == repr(theirs)
        assert ours.defaults == theirs.defaults
        assert list(ours.defaults) == list(theirs.defaults)
        mine = inspect.signature(cls.__init__).parameters.values()
        torchs = inspect.signature(getattr(torch.optim, name).__init__).parameters.values()
        assert [(p.name, p.kind, p.default) for p in mine] == [(p.name, p.kind, p.default) for p in torchs]


# ---------------------------------------------------------------------------- constructor checks
VALIDATION_CASES = [
    ("Adamax", {"lr": -1.0}), ("Adamax", {"eps": -1.0}), ("Adamax", {"betas": (1.0, 0.999)}),
    ("Adamax", {"betas": (0.9, -0.1)}), ("Adamax", {"weight_decay": -1e-3}), ("Adamax", {"fused": True}),
    ("Adamax", {"betas": (float("nan"), 0.9)}),
    ("NAdam", {"lr": -1e-3}), ("NAdam", {"eps": -1e-8}), ("NAdam", {"betas": (0.9, 1.0)}),
    ("NAdam", {"betas": (-0.5, 0.9)}), ("NAdam", {"weight_decay": -0.1}), ("NAdam", {"momentum_decay": -4e-3}),
    ("NAdam", {"fused": False}), ("NAdam", {"amsgrad": True}),
    ("RAdam", {"lr": -0.5}), ("RAdam", {"eps": -1.0}), ("RAdam", {"betas": (1.5, 0.9)}),
    ("RAdam", {"betas": (0.9, 1.0)}), ("RAdam", {"weight_decay": -1.0}), ("RAdam", {"momentum_decay": 0.1}),
    ("RAdam", {"lr": -1.0, "eps": -1.0}),  # the learning rate is checked first
]


@pytest.mark.parametrize("name, kwargs", VALIDATION_CASES, ids=[f"{c[0]}-{'-'.join(c[1])}" for c in VALIDATION_CASES])
def test_validation_errors_are_torchs(name: str, kwargs: dict[str, Any]) -> None:
    assert_raises_like_torch(lambda: getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs),
                             lambda: make(name, [tapegrad.zeros(1, requires_grad=True)], **kwargs))


@pytest.mark.parametrize("case", sorted(PARAMETER_CASES))
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_parameter_and_tensor_lr_errors_are_torchs(name: str, case: str) -> None:
    theirs, ours = PARAMETER_CASES[case](torch), PARAMETER_CASES[case](tapegrad)
    assert_raises_like_torch(lambda: getattr(torch.optim, name)(theirs[0], **theirs[1]),
                             lambda: make(name, ours[0], **ours[1]))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_options_are_kept_and_differentiable_is_refused(name: str) -> None:
    w = tapegrad.zeros(2, requires_grad=True)
    opt = make(name, [w], foreach=True, capturable=True)
    group = opt.param_groups[0]
    assert (group["foreach"], group["capturable"]) == (True, True)
    w.grad = tapegrad.ones(2)
    opt.step()  # foreach and capturable choose no other arithmetic here
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        make(name, [w], differentiable=True)


def test_doc_examples_run() -> None:
    for module in (adamax, nadam, radam):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad})
        assert result.attempted >= 5 and result.failed == 0


# ---------------------------------------------------------------------------- compiled steps
COMPILED = [("Adamax", {"lr": 1e-2, "weight_decay": 0.1}),
            ("NAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
            ("RAdam", {"lr": 1e-2})]


def compiled_model(name: str, kwargs: dict[str, Any]) -> tuple[nn.Module, Any, Any]:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    opt = make(name, model.parameters(), **kwargs)

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, train_step


@pytest.mark.parametrize("config", COMPILED, ids=config_id)
def test_compiled_step_matches_eager(config: tuple[str, dict[str, Any]]) -> None:
    # Call 1 runs eagerly, call 2 is traced, calls 3 to 9 replay: RAdam's switch to rectified
    # steps (t = 6) happens in a replay, without a retrace.
    name, kwargs = config
    tolerance = {"rtol": 1e-5, "atol": 1e-6}
    rng = np.random.default_rng(0)
    eager_model, eager_opt, eager_step = compiled_model(name, kwargs)
    model, opt, step = compiled_model(name, kwargs)
    compiled = tapegrad.compile(step)
    for _ in range(9):
        x = tapegrad.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))
        y = tapegrad.from_numpy(rng.standard_normal((4, 2)).astype(np.float32))
        np.testing.assert_allclose(compiled(x, y).item(), eager_step(x, y).item(), **tolerance)
        for got, want in zip(model.parameters(), eager_model.parameters()):
            np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tolerance)
    assert compiled.traces == 1
    got, want = opt.state_dict(), eager_opt.state_dict()
    assert got["param_groups"] == want["param_groups"]
    for index, entry in want["state"].items():
        assert list(got["state"][index]) == list(entry)
        for key, value in entry.items():
            np.testing.assert_allclose(got["state"][index][key].numpy(), value.numpy(), err_msg=key, **tolerance)
    # An eager step after the replays continues from the state they left.
    x = tapegrad.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))
    y = tapegrad.from_numpy(rng.standard_normal((4, 2)).astype(np.float32))
    step(x, y)
    eager_step(x, y)
    for got, want in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tolerance)
