"""L-BFGS against PyTorch's: on the Rosenbrock function, a small MLP and a logistic regression,
with and without the strong-Wolfe line search, every loss ``step`` returns, the function
evaluations, the final parameters and the saved state agree; plus its argument errors."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
from tapegrad.optim.lbfgs import LBFGS
from optim_helpers import data, initial_weights

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

# The two libraries differ only in the last bits of a dot product or of a fused multiply-add
# (PyTorch's ``add_(..., alpha=)``), which the iterations carry along.
FLOAT64 = {"rtol": 1e-9, "atol": 1e-11}
FLOAT32 = {"rtol": 2e-5, "atol": 2e-6}

STATE_KEYS = ["func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad",
              "prev_loss", "al"]


def optimizer_class(lib: Any) -> type:
    return LBFGS if lib is tapegrad else torch.optim.LBFGS


# A problem makes the parameters and the loss from them, identically in both libraries.
def rosenbrock(lib: Any, dtype: type) -> tuple[list[Any], Callable[[], Any]]:
    x = lib.tensor(np.array([-1.2, 1.0, -0.5, 0.8], dtype=dtype), requires_grad=True)

    def loss() -> Any:
        return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()

    return [x], loss


def mlp(lib: Any, dtype: type) -> tuple[list[Any], Callable[[], Any]]:
    x, y = data(dtype)
    x, y = lib.tensor(x), lib.tensor(y)
    weights = initial_weights(dtype)
    params = [lib.tensor(weights[name], requires_grad=True) for name in ("0.weight", "0.bias", "2.weight", "2.bias")]
    w1, b1, w2, b2 = params
    # A parameter the loss does not use has no gradient: L-BFGS counts it as zeros.
    unused = lib.tensor(np.ones(3, dtype=dtype), requires_grad=True)

    def loss() -> Any:
        hidden = (x @ w1.t() + b1).tanh()
        return lib.nn.functional.cross_entropy(hidden @ w2.t() + b2, y)

    return [w1, b1, unused, w2, b2], loss


def logistic(lib: Any, dtype: type) -> tuple[list[Any], Callable[[], Any]]:
    rng = np.random.default_rng(3)
    x = lib.tensor(rng.standard_normal((24, 5)).astype(dtype))
    y = lib.tensor((rng.random(24) < 0.5).astype(dtype))
    w = lib.tensor((0.1 * rng.standard_normal(5)).astype(dtype), requires_grad=True)
    b = lib.tensor(np.zeros(1, dtype=dtype), requires_grad=True)

    def loss() -> Any:
        logits = x @ w + b
        return lib.nn.functional.binary_cross_entropy_with_logits(logits, y) + 0.01 * (w * w).sum()

    return [w, b], loss


def run(lib: Any, problem: Callable, dtype: type, kwargs: dict[str, Any],
        steps: int = 3) -> tuple[list[float], list[np.ndarray], Any]:
    params, loss_fn = problem(lib, dtype)
    optimizer = optimizer_class(lib)(params, **kwargs)

    def closure() -> Any:
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    losses = [optimizer.step(closure).item() for _ in range(steps)]
    return losses, [p.detach().numpy().copy() for p in params], optimizer


def state_of(optimizer: Any) -> dict[str, Any]:
    return optimizer.state[optimizer.param_groups[0]["params"][0]]


def assert_same(ours: tuple, theirs: tuple, tolerance: dict[str, float]) -> None:
    np.testing.assert_allclose(ours[0], theirs[0], **tolerance)
    for mine, want in zip(ours[1], theirs[1], strict=True):
        assert mine.dtype == want.dtype
        np.testing.assert_allclose(mine, want, **tolerance)
    mine, want = state_of(ours[2]), state_of(theirs[2])
    assert (mine["func_evals"], mine["n_iter"]) == (want["func_evals"], want["n_iter"])
    assert len(mine["old_dirs"]) == len(want["old_dirs"])


CONFIGS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"max_iter": 6, "history_size": 3},
    {"max_iter": 9, "history_size": 2, "line_search_fn": "strong_wolfe"},
    {"max_iter": 5, "max_eval": 4, "lr": 0.5},
    {"max_iter": 4, "lr": 0.1, "line_search_fn": "strong_wolfe", "history_size": 1},
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_rosenbrock_matches_torch_float64(kwargs: dict[str, Any]) -> None:
    # The defaults run 20 iterations a step; on Rosenbrock's curved valley a last-bit
    # difference grows along them, so those runs take two steps.
    steps = 2 if "max_iter" not in kwargs else 3
    ours = run(tapegrad, rosenbrock, np.float64, kwargs, steps)
    theirs = run(torch, rosenbrock, np.float64, kwargs, steps)
    assert ours[0][-1] < ours[0][0] / 10  # it did minimise
    assert_same(ours, theirs, FLOAT64)


@pytest.mark.parametrize("problem", [mlp, logistic])
@pytest.mark.parametrize("kwargs", CONFIGS[2:], ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_models_match_torch_float64(problem: Callable, kwargs: dict[str, Any]) -> None:
    ours = run(tapegrad, problem, np.float64, kwargs)
    theirs = run(torch, problem, np.float64, kwargs)
    assert ours[0][-1] < ours[0][0]
    assert_same(ours, theirs, FLOAT64)


@pytest.mark.parametrize("kwargs", [{"max_iter": 5}, {"max_iter": 5, "line_search_fn": "strong_wolfe"},
                                    {"max_iter": 4, "history_size": 2}])
def test_logistic_regression_matches_torch_float32(kwargs: dict[str, Any]) -> None:
    # Two steps: nearer the minimum the loss is flat to float32's resolution, and the
    # last-bit differences of the gradients then move the parameters visibly.
    ours = run(tapegrad, logistic, np.float32, kwargs, steps=2)
    theirs = run(torch, logistic, np.float32, kwargs, steps=2)
    assert_same(ours, theirs, FLOAT32)
    assert state_of(ours[2])["d"].dtype == tapegrad.float32


def test_tensor_lr_matches_torch() -> None:
    def with_lr(lib: Any) -> tuple:
        params, loss_fn = logistic(lib, np.float64)
        optimizer = optimizer_class(lib)(params, lr=lib.tensor([0.5], dtype=lib.float64), max_iter=4)

        def closure() -> Any:
            optimizer.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        return [optimizer.step(closure).item() for _ in range(2)], [p.detach().numpy() for p in params], optimizer

    assert_same(with_lr(tapegrad), with_lr(torch), FLOAT64)


def test_state_dict_matches_torch() -> None:
    ours = run(tapegrad, mlp, np.float64, {"max_iter": 4, "history_size": 2}, steps=2)[2]
    theirs = run(torch, mlp, np.float64, {"max_iter": 4, "history_size": 2}, steps=2)[2]
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert ours_sd["param_groups"] == theirs_sd["param_groups"]
    assert list(ours_sd["state"]) == list(theirs_sd["state"]) == [0]
    mine, want = ours_sd["state"][0], theirs_sd["state"][0]
    # Same keys, in the same insertion order ("al" comes in during the first step's
    # second iteration, before the end-of-step entries).
    assert list(mine) == list(want)
    assert sorted(mine) == sorted(STATE_KEYS)

    def compare(a: Any, b: Any) -> None:
        if isinstance(b, torch.Tensor):
            assert isinstance(a, tapegrad.Tensor) and tuple(a.shape) == tuple(b.shape)
            assert str(a.dtype).replace("tapegrad", "torch") == str(b.dtype)
            np.testing.assert_allclose(a.numpy(), b.numpy(), **FLOAT64)
        elif isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b)
            for x, y in zip(a, b):
                compare(x, y)
        else:
            assert type(a) is type(b)
            assert a == pytest.approx(b, rel=1e-9) if isinstance(b, float) else a == b

    for key in STATE_KEYS:
        compare(mine[key], want[key])


def test_load_state_dict_continues_the_run() -> None:
    kwargs = {"max_iter": 3, "history_size": 3, "line_search_fn": "strong_wolfe"}
    params, loss_fn = mlp(tapegrad, np.float64)
    first = LBFGS(params, **kwargs)

    def closure_for(optimizer: LBFGS) -> Callable[[], Any]:
        def closure() -> Any:
            optimizer.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss
        return closure

    for _ in range(2):
        first.step(closure_for(first))
    saved = first.state_dict()
    resumed = LBFGS(params, **kwargs)
    resumed.load_state_dict(saved)
    loss = resumed.step(closure_for(resumed)).item()
    theirs = run(torch, mlp, np.float64, kwargs, steps=3)
    np.testing.assert_allclose(loss, theirs[0][-1], **FLOAT64)
    for mine, want in zip(params, theirs[1], strict=True):
        np.testing.assert_allclose(mine.detach().numpy(), want, **FLOAT64)
    assert state_of(resumed)["n_iter"] == state_of(theirs[2])["n_iter"]


def test_stops_at_once_when_the_gradient_is_zero() -> None:
    def at_minimum(lib: Any) -> tuple[Any, Any]:
        x = lib.ones(3, dtype=lib.float64, requires_grad=True)
        optimizer = optimizer_class(lib)([x])

        def closure() -> Any:
            optimizer.zero_grad()
            loss = ((x - 1) ** 2).sum()
            loss.backward()
            return loss

        return optimizer.step(closure), state_of(optimizer)

    (ours, ours_state), (theirs, theirs_state) = at_minimum(tapegrad), at_minimum(torch)
    assert ours.item() == theirs.item() == 0.0
    assert ours_state == theirs_state == {"func_evals": 1, "n_iter": 0}


def test_defaults_match_torch() -> None:
    for kwargs in ({}, {"max_iter": 7}, {"max_iter": 3, "max_eval": 10}):
        ours = LBFGS([tapegrad.zeros(2, requires_grad=True)], **kwargs)
        theirs = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)], **kwargs)
        assert ours.param_groups[0].keys() == theirs.param_groups[0].keys()
        assert {k: v for k, v in ours.param_groups[0].items() if k != "params"} == \
               {k: v for k, v in theirs.param_groups[0].items() if k != "params"}
        assert ours.defaults == theirs.defaults


def torch_error(make: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:
        make()
    return info.value


@pytest.mark.parametrize("case", ["two_groups", "negative_lr", "tensor_lr", "line_search"])
def test_errors_match_torch(case: str) -> None:
    def attempt(lib: Any) -> Callable[[], Any]:
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
        make = optimizer_class(lib)
        if case == "two_groups":
            return lambda: make([{"params": [a]}, {"params": [b], "lr": 0.1}])
        if case == "negative_lr":
            return lambda: make([a], lr=-0.5)
        if case == "tensor_lr":
            return lambda: make([a], lr=lib.tensor([0.1, 0.2]))

        def bad_line_search() -> Any:
            optimizer = make([a], line_search_fn="wolfe")

            def closure() -> Any:
                optimizer.zero_grad()
                loss = ((a - 1) ** 2).sum()
                loss.backward()
                return loss

            return optimizer.step(closure)

        return bad_line_search

    theirs = torch_error(attempt(torch))
    with pytest.raises(type(theirs)) as ours:
        attempt(tapegrad)()
    assert str(ours.value) == str(theirs)


def test_step_needs_a_closure() -> None:
    ours = LBFGS([tapegrad.zeros(2, requires_grad=True)])
    theirs = torch.optim.LBFGS([torch.zeros(2, requires_grad=True)])
    with pytest.raises(TypeError, match="closure"):
        theirs.step()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'closure'"):
        ours.step()


def test_closure_runs_with_grad_enabled() -> None:
    x = tapegrad.tensor([3.0, -1.0], dtype=tapegrad.float64, requires_grad=True)
    optimizer = LBFGS([x], max_iter=2)
    modes = []

    def closure() -> Any:
        modes.append(tapegrad.is_grad_enabled())
        optimizer.zero_grad()
        loss = (x ** 2).sum()
        loss.backward()
        return loss

    with tapegrad.no_grad():
        optimizer.step(closure)
    assert modes == [True, True]
    assert not x.grad_fn and x.requires_grad


def test_doc_examples() -> None:
    import doctest

    from tapegrad.optim import lbfgs

    result = doctest.testmod(lbfgs, extraglobs={"tapegrad": tapegrad})
    assert result.attempted > 0 and result.failed == 0
