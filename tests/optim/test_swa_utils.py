"""``swa_utils`` against PyTorch's: a small model with BatchNorm1d trained a few epochs while
``AveragedModel`` averages it (SWA and EMA, buffers averaged or copied) and ``SWALR`` sets the
rate; the averaged weights and buffers, the rates and ``update_bn``'s statistics agree."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
from tapegrad.optim import swa_utils

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    # PyTorch's thread pool on these tiny tensors only waits for busy cores (a BatchNorm1d
    # forward took 40 ms on 2 shared cores, well under 1 ms on one thread); its numbers are
    # the same either way.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# The libraries' lerp differs in its last bit (PyTorch's vector kernel fuses the multiply-add).
TOLERANCE = {"rtol": 1e-12, "atol": 1e-14}
IN, HIDDEN, OUT, BATCH, BATCHES = 3, 4, 2, 8, 3


def swa_module(lib: Any) -> Any:
    return swa_utils if lib is tapegrad else torch.optim.swa_utils


def make_model(lib: Any) -> Any:
    rng = np.random.default_rng(7)
    model = lib.nn.Sequential(lib.nn.Linear(IN, HIDDEN), lib.nn.BatchNorm1d(HIDDEN), lib.nn.ReLU(),
                              lib.nn.Linear(HIDDEN, OUT)).double()
    weights = {"0.weight": rng.uniform(-0.6, 0.6, (HIDDEN, IN)), "0.bias": rng.uniform(-0.6, 0.6, HIDDEN),
               "1.weight": rng.uniform(0.5, 1.5, HIDDEN), "1.bias": rng.uniform(-0.2, 0.2, HIDDEN),
               "3.weight": rng.uniform(-0.5, 0.5, (OUT, HIDDEN)), "3.bias": rng.uniform(-0.5, 0.5, OUT)}
    with lib.no_grad():
        for name, value in model.named_parameters():
            value.copy_(lib.tensor(weights[name]))
    return model


def batches(lib: Any) -> list[tuple[Any, Any]]:
    rng = np.random.default_rng(11)
    return [(lib.tensor(rng.standard_normal((BATCH, IN)) * 2 + 1), lib.tensor(rng.standard_normal((BATCH, OUT))))
            for _ in range(BATCHES)]


def snapshot(module: Any) -> dict[str, np.ndarray]:
    return {name: value.detach().numpy().copy() for name, value in module.state_dict().items()}


def assert_same_state(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert list(ours) == list(theirs)
    for name, want in theirs.items():
        mine = ours[name]
        assert mine.dtype == want.dtype and mine.shape == want.shape, name
        np.testing.assert_allclose(mine, want, err_msg=name, **TOLERANCE)


# name -> (AveragedModel keyword arguments, built from a library's swa_utils)
AVERAGES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "swa": lambda swa: {},
    "swa-buffers": lambda swa: {"use_buffers": True},
    "swa-avg_fn-buffers": lambda swa: {"avg_fn": swa.get_swa_avg_fn(), "use_buffers": True},
    "swa-multi_avg_fn": lambda swa: {"multi_avg_fn": swa.get_swa_multi_avg_fn()},
    "ema-multi_avg_fn": lambda swa: {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.9)},
    "ema-multi_avg_fn-buffers": lambda swa: {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.7), "use_buffers": True},
    "ema-avg_fn-buffers": lambda swa: {"avg_fn": swa.get_ema_avg_fn(0.8), "use_buffers": True},
    "ema-avg_fn": lambda swa: {"avg_fn": swa.get_ema_avg_fn(0.3)},
}


def train_and_average(lib: Any, average: str, epochs: int = 4) -> dict[str, Any]:
    """SGD for ``epochs`` epochs; from the second on, average the model and anneal with SWALR."""
    swa = swa_module(lib)
    model = make_model(lib)
    averaged = swa.AveragedModel(model, **AVERAGES[average](swa))
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    scheduler = swa.SWALR(optimizer, swa_lr=0.02, anneal_epochs=2)
    loader = batches(lib)
    rates, states = [], []
    for epoch in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            lib.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        if epoch >= 1:
            averaged.update_parameters(model)
            scheduler.step()
            states.append(snapshot(averaged))
        rates.append(optimizer.param_groups[0]["lr"])
    result = {"rates": rates, "states": states, "model": snapshot(model), "n_averaged": averaged.n_averaged.item()}
    swa.update_bn(loader, averaged)
    result["after_update_bn"] = snapshot(averaged)
    averaged.eval()
    result["output"] = averaged(loader[0][0]).detach().numpy()
    return result


@pytest.mark.parametrize("average", list(AVERAGES))
def test_averaged_model_matches_torch(average: str) -> None:
    ours, theirs = train_and_average(tapegrad, average), train_and_average(torch, average)
    assert ours["n_averaged"] == theirs["n_averaged"] == 3
    assert ours["rates"] == theirs["rates"]
    assert_same_state(ours["model"], theirs["model"])
    for mine, want in zip(ours["states"], theirs["states"], strict=True):
        assert_same_state(mine, want)
    assert_same_state(ours["after_update_bn"], theirs["after_update_bn"])
    np.testing.assert_allclose(ours["output"], theirs["output"], **TOLERANCE)
    # The average is not the model itself.
    assert not np.allclose(ours["states"][-1]["module.0.weight"], ours["model"]["0.weight"])


def test_first_update_copies_and_the_copy_is_independent() -> None:
    model = make_model(tapegrad)
    averaged = swa_utils.AveragedModel(model, avg_fn=swa_utils.get_ema_avg_fn(0.5))
    assert averaged.module is not model and averaged.module[0].weight is not model[0].weight
    with tapegrad.no_grad():
        model[0].weight.add_(1.0)
    assert not np.allclose(averaged.module[0].weight.detach().numpy(), model[0].weight.detach().numpy())
    averaged.update_parameters(model)
    np.testing.assert_array_equal(averaged.module[0].weight.detach().numpy(), model[0].weight.detach().numpy())
    assert averaged.module[0].weight.requires_grad and averaged.module[0].weight.grad_fn is None
    assert averaged.n_averaged.dtype == tapegrad.int64


def test_state_dict_keys_match_torch() -> None:
    ours = swa_utils.AveragedModel(make_model(tapegrad), use_buffers=True)
    theirs = torch.optim.swa_utils.AveragedModel(make_model(torch), use_buffers=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def errors(make: Callable[[Any], Any]) -> tuple[BaseException, BaseException]:
    caught = []
    for lib in (torch, tapegrad):
        with pytest.raises(Exception) as info:
            make(lib)
        caught.append(info.value)
    return caught[1], caught[0]


ERROR_CASES: dict[str, Callable[[Any], Any]] = {
    "both_avg_fns": lambda lib: swa_module(lib).AveragedModel(
        lib.nn.Linear(2, 2), avg_fn=swa_module(lib).get_swa_avg_fn(),
        multi_avg_fn=swa_module(lib).get_swa_multi_avg_fn()),
    "ema_decay_high": lambda lib: swa_module(lib).get_ema_avg_fn(1.5),
    "ema_multi_decay_negative": lambda lib: swa_module(lib).get_ema_multi_avg_fn(-0.1),
    # The integer counter of BatchNorm through the multi-tensor mean: integer addcdiv.
    "swa_multi_integer_buffer": lambda lib: [
        averaged.update_parameters(averaged.module) for averaged in
        [swa_module(lib).AveragedModel(lib.nn.BatchNorm1d(2), multi_avg_fn=swa_module(lib).get_swa_multi_avg_fn(),
                                       use_buffers=True)] for _ in range(2)],
    "swalr_strategy": lambda lib: swa_module(lib).SWALR(lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1),
                                                        swa_lr=0.01, anneal_strategy="exp"),
    "swalr_negative_epochs": lambda lib: swa_module(lib).SWALR(
        lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1), swa_lr=0.01, anneal_epochs=-1),
    "swalr_float_epochs": lambda lib: swa_module(lib).SWALR(
        lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1), swa_lr=0.01, anneal_epochs=2.0),
    "swalr_lr_count": lambda lib: swa_module(lib).SWALR(
        lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1), swa_lr=[0.01, 0.02]),
    "swalr_not_optimizer": lambda lib: swa_module(lib).SWALR(object(), swa_lr=0.01),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_match_torch(case: str) -> None:
    ours, theirs = errors(ERROR_CASES[case])
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)


def rates(lib: Any, swa_lr: Any, anneal_epochs: int, strategy: str, warmup: int = 0, steps: int = 7) -> list:
    """Each group's lr after SWALR's construction and after each step, optionally after a
    few epochs of StepLR first."""
    a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
    optimizer = lib.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.3}], lr=0.1)
    if warmup:
        first = lib.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        for _ in range(warmup):
            optimizer.step()
            first.step()
    scheduler = swa_module(lib).SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=anneal_epochs,
                                      anneal_strategy=strategy)
    seen = [tuple(g["lr"] for g in optimizer.param_groups) + tuple(scheduler.get_last_lr())]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        seen.append(tuple(g["lr"] for g in optimizer.param_groups) + tuple(scheduler.get_last_lr()))
    return seen


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3, 5])
@pytest.mark.parametrize("swa_lr", [0.05, [0.01, 0.2]], ids=["one", "per_group"])
def test_swalr_rates_match_torch(strategy: str, anneal_epochs: int, swa_lr: Any) -> None:
    ours = rates(tapegrad, swa_lr, anneal_epochs, strategy)
    assert ours == rates(torch, swa_lr, anneal_epochs, strategy)
    assert ours[-1][:2] == (tuple(swa_lr) if isinstance(swa_lr, list) else (swa_lr, swa_lr))


def test_swalr_after_another_scheduler_matches_torch() -> None:
    assert rates(tapegrad, 0.02, 3, "cos", warmup=3) == rates(torch, 0.02, 3, "cos", warmup=3)


def test_swalr_state_dict_matches_torch() -> None:
    def saved(lib: Any) -> tuple[Any, Any]:
        optimizer = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = swa_module(lib).SWALR(optimizer, swa_lr=0.01, anneal_epochs=4, anneal_strategy="linear")
        optimizer.step()
        scheduler.step()
        return scheduler, optimizer

    (ours, ours_opt), (theirs, _) = saved(tapegrad), saved(torch)
    state = ours.state_dict()
    assert sorted(state) == sorted(theirs.state_dict())
    assert "anneal_func" not in state and state["_anneal_strategy"] == "linear"
    assert ours_opt.param_groups[0]["swa_lr"] == 0.01

    other = swa_utils.SWALR(tapegrad.optim.SGD([tapegrad.zeros(1, requires_grad=True)], lr=0.1), swa_lr=0.5)
    assert other.anneal_func == swa_utils.SWALR._cosine_anneal
    other.load_state_dict(state)
    assert other.anneal_func == swa_utils.SWALR._linear_anneal
    assert other.anneal_epochs == 4 and other.last_epoch == 1


def test_swalr_get_lr_outside_step_warns() -> None:
    scheduler = swa_utils.SWALR(tapegrad.optim.SGD([tapegrad.zeros(1, requires_grad=True)], lr=0.1), swa_lr=0.01)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        scheduler.get_lr()


def norm_model(lib: Any) -> Any:
    """Linear -> BatchNorm1d(momentum 0.3) -> InstanceNorm1d (with running statistics, which
    update_bn leaves alone) -> BatchNorm1d without affine parameters."""

    class Net(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = lib.nn.Linear(IN, HIDDEN)
            self.bn = lib.nn.BatchNorm1d(HIDDEN, momentum=0.3)
            self.instance = lib.nn.InstanceNorm1d(HIDDEN, track_running_stats=True)
            self.plain = lib.nn.BatchNorm1d(HIDDEN, affine=False)

        def forward(self, x: Any) -> Any:
            h = self.bn(self.linear(x)).unsqueeze(-1)
            h = self.instance(lib.cat([h, 2 * h * h], -1))
            return self.plain(h.sum(-1))

    model = Net().double()
    with lib.no_grad():
        model.linear.weight.copy_(lib.tensor(np.linspace(-1, 1, HIDDEN * IN).reshape(HIDDEN, IN)))
        model.linear.bias.copy_(lib.tensor(np.linspace(-0.5, 0.3, HIDDEN)))
    return model


def bn_statistics(lib: Any, loader_kind: str, training: bool) -> tuple[dict[str, np.ndarray], Any, Any]:
    model = norm_model(lib)
    data = batches(lib)
    # Some statistics from ordinary training first: update_bn must reset them.
    for x, _ in data[:2]:
        model(x)
    model.train(training)
    loader = {"tensors": [x for x, _ in data], "tuples": data, "lists": [[x, y] for x, y in data]}[loader_kind]
    swa_module(lib).update_bn(loader, model, device="cpu")
    return snapshot(model), model.training, (model.bn.momentum, model.plain.momentum, model.instance.momentum)


@pytest.mark.parametrize("loader_kind", ["tensors", "tuples", "lists"])
@pytest.mark.parametrize("training", [True, False])
def test_update_bn_matches_torch(loader_kind: str, training: bool) -> None:
    ours = bn_statistics(tapegrad, loader_kind, training)
    theirs = bn_statistics(torch, loader_kind, training)
    assert_same_state(ours[0], theirs[0])
    assert ours[1] == theirs[1] == training
    assert ours[2] == theirs[2] == (0.3, 0.1, 0.1)
    assert ours[0]["bn.num_batches_tracked"] == BATCHES
    # The instance norm's statistics were not reset (it went on averaging at its own momentum).
    assert not np.allclose(ours[0]["instance.running_var"], 1.0)


def test_update_bn_without_batch_norm_leaves_the_model_alone() -> None:
    model = tapegrad.nn.Sequential(tapegrad.nn.Linear(2, 2)).eval()
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    swa_utils.update_bn([tapegrad.zeros(1, 2)], model)
    assert calls == [] and not model.training


def test_doc_examples() -> None:
    import doctest

    result = doctest.testmod(swa_utils, extraglobs={"tapegrad": tapegrad})
    assert result.attempted > 0 and result.failed == 0
