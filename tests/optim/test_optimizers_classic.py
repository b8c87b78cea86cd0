"""Adadelta, Rprop and ASGD against PyTorch's single-tensor (foreach=False) implementations:
training runs, random-gradient updates (serial and threaded kernels, a transposed parameter,
Rprop's sign and clamping edge cases, ASGD's averaging and step-size decay), state dicts and
their round trips, constructor and step checks, and a compiled training step against eager
mode."""
from __future__ import annotations

import doctest
import inspect
import io
import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.optim import adadelta, asgd, rprop
from tapegrad.optim.adadelta import Adadelta
from tapegrad.optim.asgd import ASGD
from tapegrad.optim.rprop import Rprop
from optim_helpers import (PARAMETER_CASES, assert_raises_like_torch, data, initial_weights, parameters_of,
                           tapegrad_model, train_tapegrad)
from test_optimizers_vs_torch import TOLERANCES, assert_same_run, config_id, groups_of, torch_run

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

CLASSES = {"Adadelta": Adadelta, "Rprop": Rprop, "ASGD": ASGD}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    # PyTorch's thread pool on these tiny tensors only waits for busy cores (25 steps took
    # 0.6 s on 2 shared cores, 0.03 s on one thread); its numbers are the same either way.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

CONFIGS = [
    ("Adadelta", {}),  # lr = 1.0
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.05}),
    ("Adadelta", {"rho": 0.3, "maximize": True, "weight_decay": 1e-2}),
    ("Rprop", {"lr": 1e-2}),
    ("Rprop", {"lr": 5e-3, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.02)}),  # step sizes hit the maximum
    ("Rprop", {"lr": 1e-2, "maximize": True}),
    ("ASGD", {"lr": 0.1}),  # t0 = 1e6: ax is a copy of the parameter throughout
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 5, "weight_decay": 0.01}),  # averaging from step 7
    ("ASGD", {"lr": 0.2, "lambd": 0.5, "alpha": 1.0, "t0": 0, "maximize": True}),
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


# ---------------------------------------------------------------------------- random gradients
RANDOM_CONFIGS = [
    ("Adadelta", {"lr": 0.5, "rho": 0.7, "weight_decay": 0.1}),
    ("Rprop", {"lr": 0.05, "etas": (0.4, 1.3), "step_sizes": (1e-3, 0.1)}),
    ("Rprop", {"lr": 0.05, "maximize": True}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "t0": 3, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.05, "alpha": 0.5, "t0": 0.5, "maximize": True}),  # mu = 1 / 7.5 at the last step
]


def random_steps(name: str, kwargs: dict[str, Any], start: np.ndarray, grads: list[np.ndarray],
                 make_param: Any = None) -> tuple[Any, Any, Any, Any]:
    """Updates of ours and PyTorch's from ``start`` with the gradients ``grads``."""
    make_param = make_param or (lambda module, x: module.tensor(x, requires_grad=True))
    ours_p, theirs_p = make_param(tapegrad, start), make_param(torch, start)
    ours = make(name, [ours_p], **kwargs)
    theirs = getattr(torch.optim, name)([theirs_p], foreach=False, **kwargs)
    for g in grads:
        ours_p.grad = tapegrad.tensor(g)
        theirs_p.grad = torch.tensor(g)
        ours.step()
        theirs.step()
    return ours_p, theirs_p, ours, theirs


def normal_grads(shape: tuple[int, ...], dtype: Any, steps: int, seed: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


def random_tolerance(dtype: Any) -> dict[str, float]:
    return {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}


def assert_same_entry(ours: dict[str, Any], theirs: dict[str, Any], **tolerance: float) -> None:
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        mine = ours[key]
        assert str(mine.dtype).replace("tapegrad", "torch") == str(value.dtype), key
        assert tuple(mine.shape) == tuple(value.shape), key
        np.testing.assert_allclose(mine.numpy(), value.numpy(), err_msg=key, **tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("config", RANDOM_CONFIGS, ids=config_id)
def test_random_gradients_match_torch(config: tuple[str, dict[str, Any]], dtype: type) -> None:
    # Independent random gradients each step keep every update well conditioned, so the
    # comparison isolates the update arithmetic; Rprop's gradient signs flip about half the time.
    name, kwargs = config
    start = np.random.default_rng(1).standard_normal(37).astype(dtype)
    ours_p, theirs_p, ours, theirs = random_steps(name, kwargs, start, normal_grads((37,), dtype, 8))
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(dtype))
    assert_same_entry(ours.state_dict()["state"][0], theirs.state_dict()["state"][0], **random_tolerance(dtype))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_threaded_kernel_matches_torch(name: str) -> None:
    from tapegrad.optim._fused import PARALLEL_THRESHOLD

    kwargs = {"lr": 0.01, "t0": 2} if name == "ASGD" else {"lr": 0.01}
    start = np.random.default_rng(2).standard_normal(PARALLEL_THRESHOLD + 17).astype(np.float32)
    grads = normal_grads(start.shape, np.float32, 4)
    ours_p, theirs_p, _, _ = random_steps(name, kwargs, start, grads)
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(np.float32))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_transposed_parameter_matches_torch(name: str) -> None:
    def transposed(module: Any, x: np.ndarray) -> Any:
        return module.tensor(x.T.copy()).t().detach().requires_grad_()

    kwargs = {"lr": 0.01, "weight_decay": 0.1, "t0": 2} if name == "ASGD" else {"lr": 0.01}
    start = np.random.default_rng(3).standard_normal((4, 5))
    ours_p, theirs_p, ours, theirs = random_steps(name, kwargs, start, normal_grads((4, 5), np.float64, 6),
                                                  transposed)
    assert not ours_p.is_contiguous()
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(np.float64))
    for key, value in theirs.state[theirs_p].items():
        np.testing.assert_allclose(ours.state[ours_p][key].numpy(), value.numpy(), err_msg=key,
                                   **random_tolerance(np.float64))


# Rprop edge cases: (constructor options, {step: etas set by hand before it}, special gradients).
RPROP_EDGES = {
    "default": ({"lr": 0.05}, {}, False),
    "min-above-max": ({"lr": 0.05, "step_sizes": (0.08, 0.03)}, {}, False),  # clamp gives the maximum
    # etas the constructor refuses: the masked assignments still run in order, so etaminus = 0
    # makes a flip's factor 1 (no skipped step), and etaplus < 0 turns a kept sign into a flip.
    "etas-changed": ({"lr": 0.05}, {3: (0.0, 1.2), 7: (0.5, -1.0)}, False),
    "tiny-and-nan": ({"lr": 0.05}, {}, True),  # products that underflow to zero, then a NaN gradient
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", sorted(RPROP_EDGES))
def test_rprop_signs_and_clamping_match_torch(case: str, dtype: type) -> None:
    # Gradients of a few values with exact zeros: every sign of the product (torch.sign is 0
    # for NaN as for zero), and step sizes at both limits.
    kwargs, etas, special = RPROP_EDGES[case]
    rng = np.random.default_rng(7)
    grads = [rng.choice([-2.0, -0.5, 0.0, 0.5, 2.0], 12).astype(dtype) for _ in range(12)]
    if special:
        tiny = np.finfo(dtype).tiny ** 0.75  # its square underflows to zero
        grads[3][:4] = np.array([tiny, -tiny, tiny, tiny], dtype)
        grads[4][:4] = np.array([tiny, tiny, -tiny, np.nan], dtype)
    start = rng.standard_normal(12).astype(dtype)
    ours_p, theirs_p = tapegrad.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    ours, theirs = Rprop([ours_p], **kwargs), torch.optim.Rprop([theirs_p], foreach=False, **kwargs)
    for k, g in enumerate(grads):
        if k in etas:
            ours.param_groups[0]["etas"] = theirs.param_groups[0]["etas"] = etas[k]
        ours_p.grad, theirs_p.grad = tapegrad.tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()
        np.testing.assert_array_equal(ours_p.detach().numpy(), theirs_p.detach().numpy())
    assert_same_entry(ours.state_dict()["state"][0], theirs.state_dict()["state"][0], rtol=0, atol=0)


# ---------------------------------------------------------------------------- ASGD's eta and mu
def test_asgd_with_a_scheduler_matches_torch() -> None:
    # eta is computed at the end of a step from that step's lr: a changed lr shows one step later.
    dtype = np.float32
    kwargs = {"lr": 0.1, "lambd": 0.05, "alpha": 0.6, "t0": 4}
    start = np.random.default_rng(4).standard_normal(9).astype(dtype)
    ours_p, theirs_p = tapegrad.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    ours, theirs = ASGD([ours_p], **kwargs), torch.optim.ASGD([theirs_p], foreach=False, **kwargs)
    ours_s = tapegrad.optim.lr_scheduler.StepLR(ours, step_size=2, gamma=0.5)
    theirs_s = torch.optim.lr_scheduler.StepLR(theirs, step_size=2, gamma=0.5)
    for g in normal_grads((9,), dtype, 8):
        ours_p.grad, theirs_p.grad = tapegrad.tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()
        ours_s.step()
        theirs_s.step()
        assert_same_entry(ours.state_dict()["state"][0], theirs.state_dict()["state"][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(dtype))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_tensor_lr_matches_torch(name: str) -> None:
    # A 1-element tensor lr: ASGD's eta is then computed in tensor arithmetic, in lr's dtype.
    start = np.random.default_rng(6).standard_normal(11)
    kwargs = {"lambd": 0.3, "t0": 2} if name == "ASGD" else {}
    ours_p, theirs_p = tapegrad.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    ours = make(name, [ours_p], lr=tapegrad.tensor([0.07]), **kwargs)
    theirs = getattr(torch.optim, name)([theirs_p], lr=torch.tensor([0.07]), foreach=False, **kwargs)
    for g in normal_grads((11,), np.float64, 5):
        ours_p.grad, theirs_p.grad = tapegrad.tensor(g), torch.tensor(g)
        ours.step()
        theirs.step()
    np.testing.assert_allclose(ours_p.detach().numpy(), theirs_p.detach().numpy(), **random_tolerance(np.float64))
    ours_state, theirs_state = ours.state_dict()["state"][0], theirs.state_dict()["state"][0]
    assert_same_entry(ours_state, theirs_state, **random_tolerance(np.float64))
    for key in ("step", "eta", "mu", "step_size"):
        if key in theirs_state:  # rounded as PyTorch rounds them
            np.testing.assert_array_equal(ours_state[key].numpy(), theirs_state[key].numpy(), err_msg=key)


@pytest.mark.parametrize("lambd", [-2.0, -1.0], ids=["complex-eta", "zero-division"])
def test_asgd_eta_edge_cases_are_torchs(lambd: float) -> None:
    # lambd is never checked: 1 + lambd * lr * t may be negative (a complex power, whose real
    # part PyTorch keeps with a warning) or zero (Python's division error).
    results = {}
    for module, cls in ((torch, torch.optim.ASGD), (tapegrad, ASGD)):
        w = module.ones(3, requires_grad=True)
        w.grad = module.ones(3)
        opt = cls([w], lr=1.0, lambd=lambd, foreach=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                opt.step()
                w.grad = module.full((3,), 0.5)
                opt.step()
                outcome: Any = {key: value.numpy() for key, value in opt.state_dict()["state"][0].items()}
            except ZeroDivisionError as error:
                outcome = str(error)
        results[module.__name__] = outcome, [str(c.message).split(" (Triggered")[0] for c in caught]
    ours, theirs = results["tapegrad"], results["torch"]
    assert ours[1] == theirs[1]
    if isinstance(theirs[0], str):
        assert ours[0] == theirs[0]
    else:
        assert theirs[1]  # the warning was given
        for key, value in theirs[0].items():
            np.testing.assert_allclose(ours[0][key], value, rtol=1e-6, err_msg=key)


# ---------------------------------------------------------------------------- state dicts
STATE_KEYS = {"Adadelta": ["step", "square_avg", "acc_delta"], "Rprop": ["step", "prev", "step_size"],
              "ASGD": ["step", "eta", "mu", "ax"]}
STATE_OPTIONS = {"Adadelta": {"weight_decay": 0.1}, "Rprop": {"lr": 1e-2}, "ASGD": {"lr": 0.05, "t0": 1}}


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
        assert_same_entry(ours["state"][index], entry, **tolerance)


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_state_names_and_values_match_torch(name: str, default: str) -> None:
    # step (and ASGD's eta and mu) follow the default dtype, not the parameters'.
    kwargs = STATE_OPTIONS[name]
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
    assert ours.state_dict()["state"][0]["step"].dim() == 0
    assert_same_state(ours.state_dict(), theirs.state_dict(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_state_dict_round_trip_continues_identically(name: str) -> None:
    dtype = np.float32
    kwargs = STATE_OPTIONS[name]

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
        assert list(got[index]) == list(entry)
        for key, value in entry.items():
            np.testing.assert_array_equal(got[index][key].numpy(), value.numpy(), err_msg=key)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_loading_torchs_state_dict_continues_as_torch(name: str) -> None:
    # float64 parameters: both cast ASGD's loaded eta and mu to float64 (step stays float32).
    dtype = np.float64
    kwargs = STATE_OPTIONS[name]
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
    # A checkpoint from before the newer options, with plain numbers for the 0-d state:
    # __setstate__ fills the options in and makes tensors of the numbers, as PyTorch's does.
    saved: dict[str, Any] = {}
    for module in (torch, tapegrad):
        w = module.zeros(3, requires_grad=True)
        w.grad = module.ones(3)
        opt = make(name, [w]) if module is tapegrad else getattr(torch.optim, name)([w], foreach=False)
        opt.step()
        state_dict = opt.state_dict()
        for key in ("maximize", "foreach", "capturable", "differentiable"):
            state_dict["param_groups"][0].pop(key)
        entry = state_dict["state"][0]
        for key in ("step", "eta", "mu"):
            if key in entry:
                entry[key] = float(entry[key])
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


# ---------------------------------------------------------------------------- checks
VALIDATION_CASES = [
    ("Adadelta", {"lr": -1.0}), ("Adadelta", {"rho": 1.5}), ("Adadelta", {"rho": -0.1}),
    ("Adadelta", {"rho": float("nan")}), ("Adadelta", {"eps": -1e-6}), ("Adadelta", {"weight_decay": -0.1}),
    ("Adadelta", {"lr": -1.0, "rho": 2.0}),  # the learning rate is checked first
    ("Adadelta", {"fused": True}),
    ("Rprop", {"lr": -0.1}), ("Rprop", {"etas": (1.0, 1.2)}), ("Rprop", {"etas": (0.0, 1.2)}),
    ("Rprop", {"etas": (0.5, 1.0)}), ("Rprop", {"etas": (0.5, 0.9)}), ("Rprop", {"etas": (0.5, float("nan"))}),
    ("Rprop", {"lr": -1.0, "etas": (2.0, 1.0)}),
    ("ASGD", {"lr": -0.01}), ("ASGD", {"weight_decay": -1.0}), ("ASGD", {"lr": float("nan")}),
    ("ASGD", {"lr": -1.0, "weight_decay": -1.0}), ("ASGD", {"amsgrad": True}),
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
def test_capturable_on_the_cpu_fails_at_the_step_as_in_torch(name: str) -> None:
    errors = {}
    for module, cls in ((torch, getattr(torch.optim, name)), (tapegrad, CLASSES[name])):
        w = module.zeros(2, requires_grad=True)
        opt = cls([w], capturable=True, foreach=False)
        opt.step()  # no gradient: nothing to check
        w.grad = module.ones(2)
        with pytest.raises(AssertionError) as error:
            opt.step()
        errors[module.__name__] = str(error.value)
        assert w.detach().numpy().tolist() == [0.0, 0.0]
    assert errors["tapegrad"] == errors["torch"]


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_options_are_kept_and_differentiable_is_refused(name: str) -> None:
    w = tapegrad.zeros(2, requires_grad=True)
    opt = make(name, [w], foreach=True)
    assert opt.param_groups[0]["foreach"] is True
    w.grad = tapegrad.ones(2)
    opt.step()  # foreach chooses no other arithmetic here
    assert w.detach().numpy().tolist() != [0.0, 0.0]
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        make(name, [w], differentiable=True)


def test_doc_examples_run() -> None:
    for module in (adadelta, rprop, asgd):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad})
        assert result.attempted >= 5 and result.failed == 0


# ---------------------------------------------------------------------------- compiled steps
COMPILED = [("Adadelta", {"weight_decay": 0.1}),
            ("Rprop", {"lr": 1e-2, "etas": (0.4, 1.3)}),
            ("ASGD", {"lr": 0.05, "lambd": 0.1, "weight_decay": 0.01}),
            ("ASGD", {"lr": 0.05, "lambd": 0.1, "t0": 0})]  # averaging (mu < 1) from step 3: one retrace


def compiled_model(name: str, kwargs: dict[str, Any]) -> tuple[nn.Module, Any, Any, Any]:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    opt = make(name, model.parameters(), **kwargs)
    scheduler = tapegrad.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, scheduler, train_step


@pytest.mark.parametrize("config", COMPILED, ids=config_id)
def test_compiled_step_matches_eager(config: tuple[str, dict[str, Any]]) -> None:
    # Call 1 runs eagerly, call 2 is traced, later calls replay; a scheduler halves lr every
    # third step, which ASGD's eta takes up one step later.
    name, kwargs = config
    tolerance = {"rtol": 1e-5, "atol": 1e-6}
    rng = np.random.default_rng(0)
    eager_model, eager_opt, eager_scheduler, eager_step = compiled_model(name, kwargs)
    model, opt, scheduler, step = compiled_model(name, kwargs)
    compiled = tapegrad.compile(step)
    for _ in range(8):
        x = tapegrad.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))
        y = tapegrad.from_numpy(rng.standard_normal((4, 2)).astype(np.float32))
        np.testing.assert_allclose(compiled(x, y).item(), eager_step(x, y).item(), **tolerance)
        scheduler.step()
        eager_scheduler.step()
        for got, want in zip(model.parameters(), eager_model.parameters()):
            np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tolerance)
    assert compiled.traces == (2 if kwargs.get("t0") == 0 else 1)
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
    for p, q in zip(model.parameters(), eager_model.parameters()):
        for key, value in eager_opt.state[q].items():
            np.testing.assert_allclose(opt.state[p][key].numpy(), value.numpy(), err_msg=key, **tolerance)
