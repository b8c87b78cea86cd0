"""Learning-rate schedulers: the same rate (and momentum) sequences as PyTorch, state dicts,
warnings and argument errors."""
from __future__ import annotations

import math
import re
import warnings
from typing import Any, Callable

import pytest

import tapegrad
from tapegrad import optim
from tapegrad.optim import lr_scheduler


def two_groups(lib: Any, name: str = "SGD", **kwargs: Any) -> Any:
    a = lib.zeros(2, requires_grad=True)
    b = lib.zeros(3, requires_grad=True)
    return getattr(lib.optim, name)([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, **kwargs)


def rate_sequence(lib: Any, make: Callable[[Any], Any], steps: int = 30, name: str = "SGD",
                  optimizer_kwargs: dict | None = None, metrics: list[float] | None = None) -> list[tuple]:
    """Every group's lr (and momentum or beta1) after construction and after each step."""
    optimizer = two_groups(lib, name, **(optimizer_kwargs or {}))
    scheduler = make(optimizer)

    def snapshot() -> tuple:
        groups = optimizer.param_groups
        momenta = tuple(g["betas"][0] if "betas" in g else g.get("momentum") for g in groups)
        return tuple(g["lr"] for g in groups) + momenta + tuple(scheduler.get_last_lr())

    seen = [snapshot()]
    for index in range(steps):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[index])
        seen.append(snapshot())
    return seen


SCHEDULERS: list[tuple[str, Callable[[Any], Any], dict]] = [
    ("StepLR", lambda s: lambda o: s.StepLR(o, step_size=4, gamma=0.5), {}),
    ("StepLR-default-gamma", lambda s: lambda o: s.StepLR(o, 7), {}),
    ("MultiStepLR", lambda s: lambda o: s.MultiStepLR(o, milestones=[3, 10, 10, 22], gamma=0.3), {}),
    ("ExponentialLR", lambda s: lambda o: s.ExponentialLR(o, gamma=0.9), {}),
    ("CosineAnnealingLR", lambda s: lambda o: s.CosineAnnealingLR(o, T_max=10), {}),
    ("CosineAnnealingLR-eta_min", lambda s: lambda o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01), {}),
    ("LambdaLR", lambda s: lambda o: s.LambdaLR(o, lambda epoch: 0.95 ** epoch), {}),
    ("LambdaLR-per-group", lambda s: lambda o: s.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: e // 3]), {}),
    ("OneCycleLR-cos-sgd", lambda s: lambda o: s.OneCycleLR(o, max_lr=1.0, total_steps=30), {"momentum": 0.9}),
    ("OneCycleLR-linear", lambda s: lambda o: s.OneCycleLR(o, max_lr=[1.0, 0.2], epochs=3, steps_per_epoch=10,
                                                           anneal_strategy="linear", pct_start=0.25),
     {"momentum": 0.9}),
    ("OneCycleLR-three-phase", lambda s: lambda o: s.OneCycleLR(o, max_lr=0.5, total_steps=31, three_phase=True,
                                                                div_factor=10.0, final_div_factor=100.0),
     {"momentum": 0.5}),
    ("OneCycleLR-no-momentum", lambda s: lambda o: s.OneCycleLR(o, max_lr=0.5, total_steps=30,
                                                                cycle_momentum=False), {}),
    ("OneCycleLR-adam-betas", lambda s: lambda o: s.OneCycleLR(o, max_lr=0.01, total_steps=30, base_momentum=0.8,
                                                               max_momentum=[0.9, 0.95]), "Adam"),
]


def scheduler_case(case: tuple) -> tuple[str, dict]:
    extra = case[2]
    return ("Adam", {}) if extra == "Adam" else ("SGD", extra)


@pytest.mark.parametrize("case", SCHEDULERS, ids=[c[0] for c in SCHEDULERS])
def test_rates_match_torch(case: tuple) -> None:
    torch = pytest.importorskip("torch")
    name, optimizer_kwargs = scheduler_case(case)
    ours = rate_sequence(tapegrad, case[1](lr_scheduler), name=name, optimizer_kwargs=optimizer_kwargs)
    theirs = rate_sequence(torch, case[1](torch.optim.lr_scheduler), name=name, optimizer_kwargs=optimizer_kwargs)
    assert ours == theirs


PLATEAU_LOSSES = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.92, 0.8, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.7, 0.7,
                  0.7, 0.7, 0.7, 0.7, 0.7, 0.6, 0.69, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]

PLATEAUS = [
    ("default", {}),
    ("patience-1", {"patience": 1, "factor": 0.5}),
    ("cooldown", {"patience": 0, "cooldown": 2, "factor": 0.5}),
    ("abs-threshold", {"patience": 1, "threshold": 0.05, "threshold_mode": "abs"}),
    ("max-mode", {"mode": "max", "patience": 2, "factor": 0.2}),
    ("max-abs", {"mode": "max", "threshold_mode": "abs", "patience": 1, "threshold": 0.01}),
    ("min_lr", {"patience": 0, "factor": 0.1, "min_lr": [0.05, 1e-3]}),
    ("eps", {"patience": 0, "factor": 0.9, "eps": 0.01}),
]


@pytest.mark.parametrize("kwargs", [p[1] for p in PLATEAUS], ids=[p[0] for p in PLATEAUS])
def test_reduce_on_plateau_matches_torch(kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    ours = rate_sequence(tapegrad, lambda o: lr_scheduler.ReduceLROnPlateau(o, **kwargs), metrics=PLATEAU_LOSSES)
    theirs = rate_sequence(torch, lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs),
                           metrics=PLATEAU_LOSSES)
    assert ours == theirs


def test_closed_form_epoch_argument_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        optimizer = two_groups(lib)
        schedulers = [lib.optim.lr_scheduler.StepLR(optimizer, 3),
                      lib.optim.lr_scheduler.CosineAnnealingLR(two_groups(lib), T_max=5)]
        seen = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in (4, 9, 2):
                for scheduler in schedulers:
                    scheduler.optimizer.step()
                    scheduler.step(epoch)
                    seen.append(scheduler.get_last_lr())
        results.append(seen)
    assert results[0] == results[1]


@pytest.mark.parametrize("case", SCHEDULERS[:8], ids=[c[0] for c in SCHEDULERS[:8]])
def test_resuming_from_state_dict_continues_the_sequence(case: tuple) -> None:
    make = case[1](lr_scheduler)
    straight = rate_sequence(tapegrad, make, steps=20)
    optimizer = two_groups(tapegrad)
    scheduler = make(optimizer)
    for _ in range(8):
        optimizer.step()
        scheduler.step()
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    assert "optimizer" not in saved_scheduler
    resumed_optimizer = two_groups(tapegrad)
    resumed = make(resumed_optimizer)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    seen = []
    for _ in range(12):
        resumed_optimizer.step()
        resumed.step()
        seen.append(tuple(g["lr"] for g in resumed_optimizer.param_groups))
    assert seen == [s[:2] for s in straight[9:]]


def test_step_lr_and_cosine_by_hand() -> None:
    seen = rate_sequence(tapegrad, lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), steps=5)
    assert [s[0] for s in seen] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert [s[1] for s in seen] == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    seen = rate_sequence(tapegrad, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.02), steps=8)
    closed = [0.02 + (0.5 - 0.02) * (1 + math.cos(math.pi * t / 8)) / 2 for t in range(9)]
    assert [s[1] for s in seen] == pytest.approx(closed, rel=1e-12)


def test_construction_sets_initial_lr_and_takes_the_first_step() -> None:
    optimizer = two_groups(tapegrad)
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    assert scheduler.last_epoch == 0 and scheduler._step_count == 1
    assert scheduler.base_lrs == [0.1, 0.5] and scheduler.get_last_lr() == [0.1, 0.5]
    optimizer.step()
    scheduler.step()
    assert scheduler.last_epoch == 1 and scheduler.get_last_lr() == [0.05, 0.25]


def test_one_cycle_sets_momentum_and_betas() -> None:
    sgd = two_groups(tapegrad, momentum=0.9)
    lr_scheduler.OneCycleLR(sgd, max_lr=1.0, total_steps=10)
    assert [g["momentum"] for g in sgd.param_groups] == [0.95, 0.95]
    assert [g["lr"] for g in sgd.param_groups] == pytest.approx([1.0 / 25, 1.0 / 25])
    adam = two_groups(tapegrad, "Adam")
    scheduler = lr_scheduler.OneCycleLR(adam, max_lr=0.1, total_steps=10, pct_start=0.5)
    assert [g["betas"] for g in adam.param_groups] == [(0.95, 0.999), (0.95, 0.999)]
    for _ in range(4):
        adam.step()
        scheduler.step()
    # At the peak of the rate, beta1 reaches base_momentum; beta2 is untouched.
    assert [g["betas"] for g in adam.param_groups] == [(0.85, 0.999), (0.85, 0.999)]
    assert [g["lr"] for g in adam.param_groups] == [0.1, 0.1]


def test_one_cycle_past_total_steps() -> None:
    optimizer = two_groups(tapegrad)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError, match="^Tried to step 4 times. The specified number of total steps is 3$"):
        scheduler.step()


def test_reduce_on_plateau_by_hand() -> None:
    optimizer = two_groups(tapegrad)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=2, factor=0.5)
    rates = []
    for loss in [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]:
        scheduler.step(tapegrad.tensor(loss))
        rates.append(scheduler.get_last_lr()[0])
    assert rates == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025]
    saved = scheduler.state_dict()
    other = lr_scheduler.ReduceLROnPlateau(two_groups(tapegrad), mode="max")
    other.load_state_dict(saved)
    assert other.mode == "min" and other.best == 0.5 and other.num_bad_epochs == 0


def test_warnings() -> None:
    optimizer = two_groups(tapegrad)
    scheduler = lr_scheduler.StepLR(optimizer, 2)
    with pytest.warns(UserWarning, match=re.escape("Detected call of `lr_scheduler.step()` before "
                                                   "`optimizer.step()`")):
        scheduler.step()
    with pytest.warns(UserWarning, match=re.escape("please use `get_last_lr()`")):
        scheduler.get_lr()
    optimizer = two_groups(tapegrad)
    scheduler = lr_scheduler.StepLR(optimizer, 2)
    optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


def test_tensor_lr_is_filled_in_place() -> None:
    w = tapegrad.zeros(2, requires_grad=True)
    lr = tapegrad.tensor(1.0)
    optimizer = optim.SGD([w], lr=lr)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] is lr and lr.item() == 0.5
    assert scheduler.get_last_lr()[0] is not lr and scheduler.get_last_lr()[0].item() == 0.5


def test_lambda_lr_state_dict_keeps_callable_objects_only() -> None:
    class Scale:
        def __init__(self) -> None:
            self.factor = 0.5

        def __call__(self, epoch: int) -> float:
            return self.factor ** epoch

    optimizer = two_groups(tapegrad)
    scheduler = lr_scheduler.LambdaLR(optimizer, [Scale(), lambda e: 1.0])
    saved = scheduler.state_dict()
    assert saved["lr_lambdas"] == [{"factor": 0.5}, None]
    fresh = Scale()
    fresh.factor = 0.1
    other = lr_scheduler.LambdaLR(two_groups(tapegrad), [fresh, lambda e: 1.0])
    other.load_state_dict(saved)
    assert fresh.factor == 0.5


ERRORS = [
    (lambda o: lr_scheduler.StepLR("not an optimizer", 2), TypeError, "str is not an Optimizer"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), ValueError,
     "You must define either total_steps OR (epochs AND steps_per_epoch)"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError,
     "Expected positive integer total_steps, but got 0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=-1), ValueError,
     "Expected positive integer steps_per_epoch, but got -1"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be one of 'cos' or 'linear', instead got exp"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError,
     "max_lr must have the same length as optimizer.param_groups. max_lr has 1 values, param_groups has 2."),
    (lambda o: lr_scheduler.OneCycleLR(optim.Adagrad([tapegrad.zeros(1, requires_grad=True)]), max_lr=1.0,
                                       total_steps=5), ValueError,
     "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0."),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "mode up is unknown!"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold mode pct is unknown!"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
]


@pytest.mark.parametrize("make, error, message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_argument_errors(make: Callable, error: type, message: str) -> None:
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        make(two_groups(tapegrad))


def test_resuming_without_initial_lr() -> None:
    with pytest.raises(KeyError, match=re.escape("param 'initial_lr' is not specified in param_groups[0]")):
        lr_scheduler.StepLR(two_groups(tapegrad), 2, last_epoch=3)
