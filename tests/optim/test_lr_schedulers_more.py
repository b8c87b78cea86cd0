"""LinearLR, ConstantLR, PolynomialLR, MultiplicativeLR, SequentialLR, ChainedScheduler,
CosineAnnealingWarmRestarts and CyclicLR: the same rate (and momentum) sequences as PyTorch,
closed forms, state dicts, resuming and argument errors, plus values worked out by hand."""
from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from typing import Any, Callable

import pytest

import tapegrad
from tapegrad import optim
from tapegrad.optim import lr_scheduler

LRS = (0.1, 0.5, 0.02)


def three_groups(lib: Any, name: str = "SGD", **kwargs: Any) -> Any:
    params = [lib.zeros(n, requires_grad=True) for n in (2, 3, 1)]
    return getattr(lib.optim, name)([{"params": [params[0]]}, {"params": [params[1]], "lr": LRS[1]},
                                     {"params": [params[2]], "lr": LRS[2]}], lr=LRS[0], **kwargs)


def snapshot(optimizer: Any, scheduler: Any) -> tuple:
    groups = optimizer.param_groups
    momenta = tuple(g["betas"] if "betas" in g else g.get("momentum") for g in groups)
    return tuple(g["lr"] for g in groups) + momenta + tuple(scheduler.get_last_lr())


def rate_sequence(lib: Any, make: Callable[[Any, Any], Any], steps: int = 40, name: str = "SGD",
                  optimizer_kwargs: dict | None = None) -> list[tuple]:
    """Every group's lr, momentum (or betas) and ``get_last_lr()`` after construction and each step."""
    optimizer = three_groups(lib, name, **(optimizer_kwargs or {}))
    scheduler = make(lib.optim.lr_scheduler, optimizer)
    seen = [snapshot(optimizer, scheduler)]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        seen.append(snapshot(optimizer, scheduler))
    return seen


class Halving:
    """A callable object (its attributes go into state dicts, unlike a function's)."""

    def __init__(self, base: float = 0.5) -> None:
        self.base = base

    def __call__(self, x: float) -> float:
        return self.base ** (x - 1) if x >= 1 else 1.0


MOMENTUM = {"momentum": 0.9}

# (id, make(lr_scheduler module, optimizer), optimizer name, optimizer kwargs)
CASES: list[tuple[str, Callable[[Any, Any], Any], str, dict]] = [
    ("LinearLR-default", lambda s, o: s.LinearLR(o), "SGD", {}),
    ("LinearLR-partial", lambda s, o: s.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=7), "SGD", {}),
    ("LinearLR-decay", lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=13), "SGD", {}),
    ("ConstantLR-default", lambda s, o: s.ConstantLR(o), "SGD", {}),
    ("ConstantLR-factor", lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=11), "SGD", {}),
    ("PolynomialLR-default", lambda s, o: s.PolynomialLR(o), "SGD", {}),
    ("PolynomialLR-square", lambda s, o: s.PolynomialLR(o, total_iters=17, power=2.0), "SGD", {}),
    ("PolynomialLR-sqrt", lambda s, o: s.PolynomialLR(o, total_iters=30, power=0.5), "SGD", {}),
    ("MultiplicativeLR", lambda s, o: s.MultiplicativeLR(o, lambda epoch: 0.95), "SGD", {}),
    ("MultiplicativeLR-per-group", lambda s, o: s.MultiplicativeLR(
        o, [lambda e: 0.9, lambda e: 1.0 if e % 3 else 0.5, lambda e: 1 + 0.01 * e]), "SGD", {}),
    ("SequentialLR-warmup-cosine", lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.2, total_iters=5), s.CosineAnnealingLR(o, T_max=12)], milestones=[5]),
     "SGD", {}),
    ("SequentialLR-three", lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.3, total_iters=6), s.ExponentialLR(o, gamma=0.9), s.StepLR(o, 4, 0.5)],
        milestones=[4, 15]), "SGD", {}),
    ("SequentialLR-multistep-closed-form", lambda s, o: s.SequentialLR(
        o, [s.PolynomialLR(o, total_iters=8, power=1.5), s.MultiStepLR(o, [3, 9, 9], gamma=0.5),
            s.LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=6)], milestones=[8, 25]), "SGD", {}),
    ("SequentialLR-nested-chained", lambda s, o: s.SequentialLR(
        o, [s.ChainedScheduler([s.ConstantLR(o, factor=0.5, total_iters=3), s.ExponentialLR(o, gamma=0.95)]),
            s.CosineAnnealingLR(o, T_max=9, eta_min=0.001)], milestones=[10]), "SGD", {}),
    ("ChainedScheduler", lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, factor=0.1, total_iters=12), s.ExponentialLR(o, gamma=0.9)]), "SGD", {}),
    ("ChainedScheduler-three-optimizer-arg", lambda s, o: s.ChainedScheduler(
        [s.LinearLR(o, start_factor=0.5, total_iters=8), s.StepLR(o, 5, 0.7),
         s.MultiplicativeLR(o, lambda e: 0.99)], optimizer=o), "SGD", {}),
    ("CAWR-T0", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=7), "SGD", {}),
    ("CAWR-Tmult", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), "SGD", {}),
    ("CAWR-T0-1", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3), "SGD", {}),
    ("CyclicLR-triangular", lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4), "SGD", MOMENTUM),
    ("CyclicLR-triangular2-asymmetric", lambda s, o: s.CyclicLR(
        o, base_lr=[0.01, 0.02, 0.001], max_lr=[0.1, 0.3, 0.01], step_size_up=3, step_size_down=5,
        mode="triangular2", base_momentum=[0.7, 0.8, 0.85], max_momentum=[0.95, 0.9, 0.99]), "SGD", MOMENTUM),
    ("CyclicLR-exp_range-adam", lambda s, o: s.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=5, mode="exp_range", gamma=0.97), "Adam", {}),
    ("CyclicLR-scale_fn-cycle", lambda s, o: s.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=2, step_size_down=4, scale_fn=Halving(0.6)), "SGD", MOMENTUM),
    ("CyclicLR-scale_fn-iterations", lambda s, o: s.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=6, scale_fn=lambda x: 1 / (1 + 0.1 * x),
        scale_mode="iterations", mode="ignored"), "AdamW", {}),
    ("CyclicLR-no-momentum", lambda s, o: s.CyclicLR(
        o, base_lr=0.05, max_lr=0.5, step_size_up=7, step_size_down=2, cycle_momentum=False), "Adagrad", {}),
]
CASE_IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_rates_and_momenta_match_torch(case: tuple) -> None:
    torch = pytest.importorskip("torch")
    _, make, name, kwargs = case
    ours = rate_sequence(tapegrad, make, name=name, optimizer_kwargs=kwargs)
    theirs = rate_sequence(torch, make, name=name, optimizer_kwargs=kwargs)
    assert ours == theirs
    assert len({s[:3] for s in ours}) > 1  # the schedule does move


def comparable(value: Any) -> Any:
    """A state-dict value with functions replaced by their kind, for comparing across libraries."""
    if isinstance(value, dict):
        return {key: comparable(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return type(value).__name__


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_matches_torch(case: tuple) -> None:
    torch = pytest.importorskip("torch")
    _, make, name, kwargs = case
    states = []
    for lib in (tapegrad, torch):
        optimizer = three_groups(lib, name, **kwargs)
        scheduler = make(lib.optim.lr_scheduler, optimizer)
        for _ in range(6):
            optimizer.step()
            scheduler.step()
        states.append(comparable(scheduler.state_dict()))
    assert states[0] == states[1]
    assert "optimizer" not in states[0]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_resuming_from_state_dict_continues_the_sequence(case: tuple) -> None:
    _, make, name, kwargs = case
    straight = rate_sequence(tapegrad, make, steps=35, name=name, optimizer_kwargs=kwargs)
    optimizer = three_groups(tapegrad, name, **kwargs)
    scheduler = make(lr_scheduler, optimizer)
    for _ in range(13):
        optimizer.step()
        scheduler.step()
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    resumed_optimizer = three_groups(tapegrad, name, **kwargs)
    resumed = make(lr_scheduler, resumed_optimizer)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved_scheduler)
    assert "_schedulers" not in saved_scheduler or isinstance(saved_scheduler["_schedulers"][0], dict)
    seen = [snapshot(resumed_optimizer, resumed)]
    for _ in range(22):
        resumed_optimizer.step()
        resumed.step()
        seen.append(snapshot(resumed_optimizer, resumed))
    assert seen == straight[13:]


RESUMABLE = [
    ("LinearLR", lambda s, o, e: s.LinearLR(o, start_factor=0.25, total_iters=9, last_epoch=e)),
    ("ConstantLR", lambda s, o, e: s.ConstantLR(o, factor=0.5, total_iters=8, last_epoch=e)),
    ("PolynomialLR", lambda s, o, e: s.PolynomialLR(o, total_iters=12, power=1.7, last_epoch=e)),
    ("MultiplicativeLR", lambda s, o, e: s.MultiplicativeLR(o, lambda k: 0.9, last_epoch=e)),
    ("CAWR", lambda s, o, e: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, last_epoch=e)),
    ("CyclicLR", lambda s, o, e: s.CyclicLR(o, 0.01, 0.1, step_size_up=3, last_epoch=e)),
    ("SequentialLR", lambda s, o, e: s.SequentialLR(o, [s.ConstantLR(o, 0.5, 2), s.ExponentialLR(o, 0.8)],
                                                    milestones=[3], last_epoch=e)),
]


@pytest.mark.parametrize("make", [r[1] for r in RESUMABLE], ids=[r[0] for r in RESUMABLE])
def test_last_epoch_argument_matches_torch(make: Callable) -> None:
    """Built with ``last_epoch=5`` on an optimizer that already has ``initial_lr``."""
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        optimizer = three_groups(lib, momentum=0.9)
        make(lib.optim.lr_scheduler, optimizer, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler = make(lib.optim.lr_scheduler, optimizer, 5)
        seen = [snapshot(optimizer, scheduler)]
        for _ in range(15):
            optimizer.step()
            scheduler.step()
            seen.append(snapshot(optimizer, scheduler))
        results.append(seen)
    assert results[0] == results[1]


CLOSED_FORMS = [
    ("LinearLR", lambda s, o: s.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6)),
    ("ConstantLR", lambda s, o: s.ConstantLR(o, factor=0.4, total_iters=5)),
    ("PolynomialLR", lambda s, o: s.PolynomialLR(o, total_iters=9, power=1.3)),
    ("MultiplicativeLR-no-closed-form", lambda s, o: s.MultiplicativeLR(o, lambda e: 0.8)),
    ("CyclicLR-no-closed-form", lambda s, o: s.CyclicLR(o, 0.01, 0.1, step_size_up=3, cycle_momentum=False)),
]


@pytest.mark.parametrize("make", [c[1] for c in CLOSED_FORMS], ids=[c[0] for c in CLOSED_FORMS])
def test_epoch_argument_matches_torch(make: Callable) -> None:
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        optimizer = three_groups(lib)
        scheduler = make(lib.optim.lr_scheduler, optimizer)
        seen = []
        for epoch in (3, 8, 2, 5, 0, 12, None, None):
            optimizer.step()
            if epoch is None:
                scheduler.step()
            else:
                with pytest.warns(UserWarning, match=re.escape("The epoch parameter in `scheduler.step()`")):
                    scheduler.step(epoch)
            seen.append((scheduler.last_epoch, *scheduler.get_last_lr()))
        results.append(seen)
    assert results[0] == results[1]


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_epoch_argument_matches_torch(t_mult: int) -> None:
    torch = pytest.importorskip("torch")
    results = []
    for lib in (tapegrad, torch):
        optimizer = three_groups(lib)
        scheduler = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=4, T_mult=t_mult,
                                                                       eta_min=0.005)
        seen = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no deprecation warning for this scheduler's epoch argument
            for epoch in (0.5, 1.25, 3.999, 4.0, 7.5, None, None, 13.2, 26, None, 2, None, 40.75):
                optimizer.step()
                scheduler.step(epoch)
                seen.append((scheduler.last_epoch, scheduler.T_cur, scheduler.T_i, *scheduler.get_last_lr()))
        results.append(seen)
    assert results[0] == results[1]


def error_cases(lib: Any) -> list[tuple[str, Callable[[Any], Any]]]:
    s = lib.optim.lr_scheduler

    def other() -> Any:
        return lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1)

    return [
        ("ConstantLR-factor-high", lambda o: s.ConstantLR(o, factor=1.5)),
        ("ConstantLR-factor-negative", lambda o: s.ConstantLR(o, factor=-0.1)),
        ("ConstantLR-not-optimizer", lambda o: s.ConstantLR("sgd")),
        ("LinearLR-start-zero", lambda o: s.LinearLR(o, start_factor=0)),
        ("LinearLR-start-high", lambda o: s.LinearLR(o, start_factor=1.01)),
        ("LinearLR-end-high", lambda o: s.LinearLR(o, end_factor=1.5)),
        ("LinearLR-end-negative", lambda o: s.LinearLR(o, end_factor=-1.0)),
        ("PolynomialLR-not-optimizer", lambda o: s.PolynomialLR(None)),
        ("MultiplicativeLR-length", lambda o: s.MultiplicativeLR(o, [lambda e: 1.0])),
        ("MultiplicativeLR-not-callable", lambda o: s.MultiplicativeLR(o, 0.5)),
        ("MultiplicativeLR-list-not-callable", lambda o: s.MultiplicativeLR(o, [lambda e: 1.0, "x", None])),
        ("SequentialLR-empty", lambda o: s.SequentialLR(o, [], milestones=[])),
        ("SequentialLR-milestones", lambda o: s.SequentialLR(o, [s.StepLR(o, 2), s.StepLR(o, 3)], milestones=[])),
        ("SequentialLR-plateau", lambda o: s.SequentialLR(o, [s.StepLR(o, 2), s.ReduceLROnPlateau(o)], [3])),
        ("SequentialLR-no-optimizer", lambda o: s.SequentialLR(o, [object()], milestones=[])),
        ("SequentialLR-other-optimizer", lambda o: s.SequentialLR(o, [s.StepLR(other(), 2)], milestones=[])),
        ("ChainedScheduler-empty", lambda o: s.ChainedScheduler([])),
        ("ChainedScheduler-plateau", lambda o: s.ChainedScheduler([s.ReduceLROnPlateau(o)])),
        ("ChainedScheduler-other-optimizer", lambda o: s.ChainedScheduler([s.StepLR(o, 2), s.StepLR(other(), 2)])),
        ("ChainedScheduler-optimizer-arg", lambda o: s.ChainedScheduler([s.StepLR(o, 2)], optimizer=other())),
        ("CAWR-T0-zero", lambda o: s.CosineAnnealingWarmRestarts(o, T_0=0)),
        ("CAWR-T0-float", lambda o: s.CosineAnnealingWarmRestarts(o, T_0=2.5)),
        ("CAWR-Tmult-zero", lambda o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0)),
        ("CAWR-Tmult-float", lambda o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5)),
        ("CAWR-eta_min-str", lambda o: s.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0.1")),
        ("CAWR-negative-epoch", lambda o: s.CosineAnnealingWarmRestarts(o, T_0=2).step(-1)),
        ("CyclicLR-not-optimizer", lambda o: s.CyclicLR([1.0], 0.01, 0.1)),
        ("CyclicLR-mode", lambda o: s.CyclicLR(o, 0.01, 0.1, mode="sawtooth")),
        ("CyclicLR-no-momentum", lambda o: s.CyclicLR(lib.optim.Adagrad([lib.zeros(1, requires_grad=True)]),
                                                      0.01, 0.1)),
        ("CyclicLR-base_lr-length", lambda o: s.CyclicLR(o, [0.01, 0.02], 0.1)),
        ("CyclicLR-max_lr-length", lambda o: s.CyclicLR(o, 0.01, [0.1])),
        ("CyclicLR-momentum-length", lambda o: s.CyclicLR(o, 0.01, 0.1, max_momentum=(0.9, 0.95))),
    ]


ERROR_MESSAGES = {
    "ConstantLR-factor-high": (ValueError, "Constant multiplicative factor expected to be between 0 and 1."),
    "ConstantLR-factor-negative": (ValueError, "Constant multiplicative factor expected to be between 0 and 1."),
    "ConstantLR-not-optimizer": (TypeError, "str is not an Optimizer"),
    "LinearLR-start-zero": (ValueError, "Starting multiplicative factor expected to be greater than 0 and less or "
                                        "equal to 1."),
    "LinearLR-start-high": (ValueError, "Starting multiplicative factor expected to be greater than 0 and less or "
                                        "equal to 1."),
    "LinearLR-end-high": (ValueError, "Ending multiplicative factor expected to be between 0 and 1."),
    "LinearLR-end-negative": (ValueError, "Ending multiplicative factor expected to be between 0 and 1."),
    "PolynomialLR-not-optimizer": (TypeError, "NoneType is not an Optimizer"),
    "MultiplicativeLR-length": (ValueError, "Expected 3 lr_lambdas, but got 1"),
    "MultiplicativeLR-not-callable": (TypeError, "lr_lambda should be a function, but got float"),
    "MultiplicativeLR-list-not-callable": (TypeError, "lr_lambda should be a function, but got str"),
    "SequentialLR-empty": (ValueError, "SequentialLR expects at least one scheduler, but got no scheduler."),
    "SequentialLR-milestones": (ValueError, "Sequential Schedulers expects number of schedulers provided to be one "
                                            "more than the number of milestone points, but got number of schedulers "
                                            "2 and the number of milestones to be equal to 0"),
    "SequentialLR-plateau": (ValueError, "SequentialLR does not support `ReduceLROnPlateau` scheduler as it requires "
                                         "additional kwargs to be specified when calling `step`, but got one at "
                                         "index 1 in the given schedulers sequence."),
    "SequentialLR-no-optimizer": (TypeError, "SequentialLR at index 0 should have `optimizer` as its attribute."),
    "SequentialLR-other-optimizer": (ValueError, "SequentialLR expects all schedulers to belong to the same "
                                                 "optimizer, but got scheduler StepLR at index 0 has SGD ("),
    "ChainedScheduler-empty": (ValueError, "ChainedScheduler expects at least one scheduler to be chained, but got "
                                           "no scheduler."),
    "ChainedScheduler-plateau": (ValueError, "ChainedScheduler does not support `ReduceLROnPlateau` scheduler as it "
                                             "requires additional kwargs to be specified when calling `step`, but "
                                             "got one at index 0 in the given schedulers sequence."),
    "ChainedScheduler-other-optimizer": (ValueError, "ChainedScheduler expects all schedulers to belong to the same "
                                                     "optimizer, but got scheduler StepLR at index 1 has SGD ("),
    "ChainedScheduler-optimizer-arg": (ValueError, "ChainedScheduler expects all schedulers to belong to the same "
                                                   "optimizer, but got scheduler StepLR at index 0 has SGD ("),
    "CAWR-T0-zero": (ValueError, "Expected positive integer T_0, but got 0"),
    "CAWR-T0-float": (ValueError, "Expected positive integer T_0, but got 2.5"),
    "CAWR-Tmult-zero": (ValueError, "Expected integer T_mult >= 1, but got 0"),
    "CAWR-Tmult-float": (ValueError, "Expected integer T_mult >= 1, but got 1.5"),
    "CAWR-eta_min-str": (ValueError, "Expected float or int eta_min, but got 0.1 of type <class 'str'>"),
    "CAWR-negative-epoch": (ValueError, "Expected non-negative epoch, but got -1"),
    "CyclicLR-not-optimizer": (TypeError, "list is not an Optimizer"),
    "CyclicLR-mode": (ValueError, "mode is invalid and scale_fn is None"),
    "CyclicLR-no-momentum": (ValueError, "optimizer must support momentum or beta1 with `cycle_momentum` option "
                                         "enabled"),
    "CyclicLR-base_lr-length": (ValueError, "base_lr must have the same length as optimizer.param_groups. base_lr "
                                            "has 2 values, param_groups has 3."),
    "CyclicLR-max_lr-length": (ValueError, "max_lr must have the same length as optimizer.param_groups. max_lr has "
                                           "1 values, param_groups has 3."),
    "CyclicLR-momentum-length": (ValueError, "max_momentum must have the same length as optimizer.param_groups. "
                                             "max_momentum has 2 values, param_groups has 3."),
}
ERROR_IDS = [e[0] for e in error_cases(tapegrad)]


def raised(make: Callable[[Any], Any], optimizer: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        make(optimizer)
    return info.value


@pytest.mark.parametrize("index", range(len(ERROR_IDS)), ids=ERROR_IDS)
def test_argument_errors(index: int) -> None:
    name, make = error_cases(tapegrad)[index]
    error, message = ERROR_MESSAGES[name]
    exc = raised(make, three_groups(tapegrad, momentum=0.9))
    assert type(exc) is error
    if message.endswith("("):  # the message goes on with the optimizer's repr
        assert str(exc).startswith(message)
    else:
        assert str(exc) == message


@pytest.mark.parametrize("index", range(len(ERROR_IDS)), ids=ERROR_IDS)
def test_argument_errors_match_torch(index: int) -> None:
    torch = pytest.importorskip("torch")
    ours = raised(error_cases(tapegrad)[index][1], three_groups(tapegrad, momentum=0.9))
    theirs = raised(error_cases(torch)[index][1], three_groups(torch, momentum=0.9))
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)


def run(optimizer: Any, scheduler: Any, steps: int, key: str = "lr") -> list[Any]:
    """``group[key]`` of the first group after construction and each step."""
    seen = [optimizer.param_groups[0][key]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        seen.append(optimizer.param_groups[0][key])
    return seen


def test_linear_lr_by_hand() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.LinearLR(optimizer, start_factor=0.5, total_iters=4)
    assert scheduler.start_factor == 0.5 and scheduler.end_factor == 1.0
    factors = [0.5, 0.625, 0.75, 0.875, 1.0, 1.0, 1.0]
    assert run(optimizer, scheduler, 6) == pytest.approx([0.1 * f for f in factors], rel=1e-14)
    assert scheduler.get_last_lr() == pytest.approx(list(LRS), rel=1e-14)
    decaying = lr_scheduler.LinearLR(three_groups(tapegrad), start_factor=1.0, end_factor=0.0, total_iters=2)
    assert run(decaying.optimizer, decaying, 3) == [0.1, 0.05, 0.0, 0.0]


def test_linear_lr_default_factors() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.LinearLR(optimizer)
    assert scheduler.total_iters == 5
    expected = [0.1 * (1 / 3 + (2 / 3) * min(t, 5) / 5) for t in range(8)]
    assert run(optimizer, scheduler, 7) == pytest.approx(expected, rel=1e-14)


def test_constant_lr_by_hand() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.ConstantLR(optimizer, factor=0.25, total_iters=3)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(LRS)
    assert run(optimizer, scheduler, 5) == pytest.approx([0.025, 0.025, 0.025, 0.1, 0.1, 0.1], rel=1e-14)
    default = lr_scheduler.ConstantLR(three_groups(tapegrad))
    assert default.factor == pytest.approx(1 / 3) and default.total_iters == 5
    assert run(default.optimizer, default, 6)[4:6] == pytest.approx([0.1 / 3, 0.1], rel=1e-14)


def test_polynomial_lr_by_hand() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.PolynomialLR(optimizer, total_iters=4, power=2.0)
    expected = [0.5 * (1 - min(t, 4) / 4) ** 2 for t in range(7)]  # 0.5, 0.28125, 0.125, 0.03125, 0, 0, 0
    seen = [optimizer.param_groups[1]["lr"]]
    for _ in range(6):
        optimizer.step()
        scheduler.step()
        seen.append(scheduler.get_last_lr()[1])
    assert seen == pytest.approx(expected, rel=1e-14, abs=1e-18)
    linear = lr_scheduler.PolynomialLR(three_groups(tapegrad))
    assert run(linear.optimizer, linear, 6) == pytest.approx([0.1, 0.08, 0.06, 0.04, 0.02, 0.0, 0.0], abs=1e-15)


def test_multiplicative_lr_by_hand_and_state_dict() -> None:
    optimizer = three_groups(tapegrad)
    scales = [Halving(0.5), Halving(0.5), lambda epoch: 2.0]
    scheduler = lr_scheduler.MultiplicativeLR(optimizer, scales)
    lrs = [scheduler.get_last_lr()]
    for _ in range(3):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    # epoch e multiplies by 0.5 ** (e - 1): 1, 0.5, 0.25 for the objects, 2 for the function.
    assert [lr for row in lrs for lr in row] == pytest.approx([0.1, 0.5, 0.02, 0.1, 0.5, 0.04, 0.05, 0.25, 0.08,
                                                               0.0125, 0.0625, 0.16], rel=1e-14)
    saved = scheduler.state_dict()
    assert saved["lr_lambdas"] == [{"base": 0.5}, {"base": 0.5}, None] and saved["last_epoch"] == 3
    fresh = [Halving(0.9), Halving(0.9), lambda epoch: 1.0]
    other = lr_scheduler.MultiplicativeLR(three_groups(tapegrad), fresh)
    other.load_state_dict(saved)
    assert fresh[0].base == 0.5 and "lr_lambdas" in saved and other.last_epoch == 3


def test_sequential_lr_by_hand() -> None:
    optimizer = three_groups(tapegrad)
    warmup = lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=2)
    decay = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    scheduler = lr_scheduler.SequentialLR(optimizer, [warmup, decay], milestones=[2])
    # The constructor undid both first steps and restarted only the warm-up.
    assert (scheduler.last_epoch, warmup.last_epoch, decay.last_epoch) == (0, 0, -1)
    assert scheduler._milestones == [2] and scheduler._schedulers == [warmup, decay]
    assert run(optimizer, scheduler, 5) == pytest.approx([0.05, 0.05, 0.1, 0.05, 0.025, 0.0125], rel=1e-14)
    assert (scheduler.last_epoch, warmup.last_epoch, decay.last_epoch) == (5, 1, 3)
    assert scheduler.get_last_lr() == decay.get_last_lr()
    saved = scheduler.state_dict()
    assert set(saved) == {"_schedulers", "_milestones", "last_epoch", "_last_lr"}
    assert [s["last_epoch"] for s in saved["_schedulers"]] == [1, 3]


def test_chained_scheduler_by_hand() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=2),
                                               lr_scheduler.ExponentialLR(optimizer, gamma=0.5)])
    assert scheduler.optimizer is optimizer and not hasattr(scheduler, "last_epoch")
    assert run(optimizer, scheduler, 3) == pytest.approx([0.05, 0.025, 0.025, 0.0125], rel=1e-14)
    saved = scheduler.state_dict()
    assert set(saved) == {"_schedulers", "_last_lr"} and saved["_schedulers"][1]["last_epoch"] == 3


def test_warm_restarts_by_hand() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=2, eta_min=0.02)
    seen = run(optimizer, scheduler, 15)
    # Restarts at epochs 2, 6 and 14; periods 2, 4, 8.
    starts = {0: 2, 2: 4, 6: 8, 14: 16}
    expected = []
    for epoch in range(16):
        start = max(s for s in starts if s <= epoch)
        expected.append(0.02 + (0.1 - 0.02) * (1 + math.cos(math.pi * (epoch - start) / starts[start])) / 2)
    assert seen == pytest.approx(expected, rel=1e-14)
    assert [seen[e] for e in (0, 2, 6, 14)] == pytest.approx([0.1] * 4, rel=1e-14)
    assert (scheduler.T_cur, scheduler.T_i, scheduler.last_epoch, scheduler._step_count) == (1, 16, 15, 0)
    scheduler.step(2.5)  # fractional epoch: half-way through the second period's first quarter
    assert (scheduler.T_cur, scheduler.T_i, scheduler.last_epoch) == (0.5, 4, 2)
    assert scheduler.get_last_lr()[0] == pytest.approx(0.02 + 0.08 * (1 + math.cos(math.pi / 8)) / 2, rel=1e-14)
    scheduler.step()
    assert (scheduler.T_cur, scheduler.last_epoch) == (1.5, 3)


def test_cyclic_lr_triangular_by_hand() -> None:
    optimizer = three_groups(tapegrad, momentum=0.5)
    scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=0.0, max_lr=1.0, step_size_up=2, step_size_down=6)
    # The group rates become base_lr (and initial_lr), the momenta max_momentum.
    assert [g["lr"] for g in optimizer.param_groups] == [0.0] * 3
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.0] * 3
    assert optimizer.param_groups[0]["max_momentum"] == 0.9 and optimizer.param_groups[0]["base_momentum"] == 0.8
    assert scheduler.total_size == 8.0 and scheduler.step_ratio == 0.25 and scheduler.scale_mode == "cycle"
    lrs = run(optimizer, scheduler, 10)
    up_down = [0.0, 0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0, 0.5, 1.0]
    assert lrs == pytest.approx(up_down, abs=1e-15)
    momenta = [optimizer.param_groups[0]["momentum"]]
    for _ in range(2):
        optimizer.step()
        scheduler.step()
        momenta.append(optimizer.param_groups[2]["momentum"])
    # epochs 10, 11, 12: at the peak (lr 1.0) the momentum is base_momentum, then it climbs back
    assert momenta == pytest.approx([0.8, 0.9 - 0.1 * 5 / 6, 0.9 - 0.1 * 4 / 6], abs=1e-15)


def test_cyclic_lr_triangular2_and_exp_range_by_hand() -> None:
    optimizer = three_groups(tapegrad, momentum=0.9)
    scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=0.1, max_lr=0.9, step_size_up=1, mode="triangular2")
    peaks = run(optimizer, scheduler, 7)[1::2]  # the odd epochs are the cycles' peaks
    assert peaks == pytest.approx([0.9, 0.5, 0.3, 0.2], rel=1e-14)
    optimizer = three_groups(tapegrad, "Adam", betas=(0.5, 0.99))
    scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=0.1, max_lr=0.9, step_size_up=2, mode="exp_range",
                                      gamma=0.5, scale_mode="cycle")
    assert scheduler.scale_mode == "iterations" and scheduler.use_beta1
    betas = [optimizer.param_groups[0]["betas"]]
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(3):
        optimizer.step()
        scheduler.step()
        betas.append(optimizer.param_groups[0]["betas"])
        lrs.append(optimizer.param_groups[0]["lr"])
    # epoch e: scale 0.5 ** e times the triangle 0, 0.5, 1, 0.5
    assert lrs == pytest.approx([0.1, 0.1 + 0.8 * 0.5 * 0.5, 0.1 + 0.8 * 0.25, 0.1 + 0.8 * 0.5 * 0.125], rel=1e-14)
    assert [b[0] for b in betas] == pytest.approx([0.9, 0.9 - 0.1 * 0.25, 0.9 - 0.1 * 0.25, 0.9 - 0.1 * 0.0625],
                                                  rel=1e-14)
    assert {b[1] for b in betas} == {0.99}


def test_cyclic_lr_custom_scale_fn() -> None:
    calls = []

    def scale(x: float) -> float:
        calls.append(x)
        return 1.0 / x

    optimizer = three_groups(tapegrad, momentum=0.9)
    scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=0.0, max_lr=1.0, step_size_up=1, mode="anything",
                                      scale_fn=scale)
    assert scheduler.mode == "anything" and scheduler.scale_mode == "cycle"
    assert run(optimizer, scheduler, 5)[1::2] == pytest.approx([1.0, 0.5, 1 / 3], rel=1e-14)
    assert calls[-6:] == [3] * 6  # once per group for the rates and once per group for the momenta
    objects = lr_scheduler.CyclicLR(three_groups(tapegrad), 0.0, 1.0, step_size_up=2, scale_fn=Halving(0.25),
                                    scale_mode="iterations", cycle_momentum=False)
    assert run(objects.optimizer, objects, 2) == pytest.approx([0.0, 0.5, 0.25], rel=1e-14)
    saved = objects.state_dict()
    assert saved["_scale_fn_custom"] == {"base": 0.25} and "_scale_fn_ref" not in saved
    fresh = Halving(0.75)
    other = lr_scheduler.CyclicLR(three_groups(tapegrad), 0.0, 1.0, step_size_up=2, scale_fn=fresh,
                                  cycle_momentum=False)
    other.load_state_dict(saved)
    assert fresh.base == 0.25 and other.scale_mode == "iterations" and other.last_epoch == 2
    builtin = lr_scheduler.CyclicLR(three_groups(tapegrad, momentum=0.9), 0.0, 1.0, mode="triangular2")
    state = builtin.state_dict()
    assert state["_scale_fn_custom"] is None and "_scale_fn_ref" not in state
    builtin.load_state_dict(state)
    assert builtin.scale_fn(3) == 0.25


def test_cyclic_lr_keeps_an_existing_initial_lr_but_cycles_from_base_lr() -> None:
    optimizer = three_groups(tapegrad, momentum=0.9)
    lr_scheduler.StepLR(optimizer, 3)
    scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=2)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(LRS)
    assert scheduler.base_lrs == [0.01] * 3


def test_get_lr_outside_step_warns() -> None:
    optimizer = three_groups(tapegrad, momentum=0.9)
    for scheduler in (lr_scheduler.LinearLR(optimizer), lr_scheduler.PolynomialLR(optimizer),
                      lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=3),
                      lr_scheduler.CyclicLR(optimizer, 0.01, 0.1)):
        with pytest.warns(UserWarning, match=re.escape("please use `get_last_lr()`")):
            scheduler.get_lr()


def test_step_before_optimizer_step_warns() -> None:
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.LinearLR(optimizer)
    with pytest.warns(UserWarning, match=re.escape("Detected call of `lr_scheduler.step()` before")):
        scheduler.step()
    optimizer = three_groups(tapegrad)
    scheduler = lr_scheduler.PolynomialLR(optimizer)
    optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=2),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2),
    lambda o: lr_scheduler.CyclicLR(o, base_lr=0.25, max_lr=1.0, step_size_up=1, cycle_momentum=False),
], ids=["LinearLR", "CAWR", "CyclicLR"])
def test_tensor_lr_is_filled_in_place(make: Callable) -> None:
    lr = tapegrad.tensor(1.0)
    optimizer = optim.SGD([tapegrad.zeros(2, requires_grad=True)], lr=lr)
    scheduler = make(optimizer)
    values = [lr.item()]
    for _ in range(2):
        optimizer.step()
        scheduler.step()
        values.append(lr.item())
    assert optimizer.param_groups[0]["lr"] is lr and scheduler.get_last_lr()[0] is not lr
    assert len(set(values)) > 1 and scheduler.get_last_lr()[0].item() == values[-1]


def test_names_are_exported() -> None:
    names = ["LinearLR", "ConstantLR", "PolynomialLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler",
             "CosineAnnealingWarmRestarts", "CyclicLR"]
    assert set(names) <= set(lr_scheduler.__all__)
    assert all(issubclass(getattr(optim.lr_scheduler, n), lr_scheduler.LRScheduler) for n in names)
    assert Counter(lr_scheduler.__all__).most_common(1)[0][1] == 1
