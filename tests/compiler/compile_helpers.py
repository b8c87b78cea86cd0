"""Shared pieces of the ``tapegrad.compile`` tests.

Compiling a step costs seconds (Numba), so each configuration is trained once per test
process: ``run(name)`` trains an eager model and an identically initialised compiled one side
by side and records, after every step, the loss, what the step returned, every parameter and
gradient, and every optimizer state tensor. The tests then only compare the records.

Step functions are always built by the same factories with the same ``__name__``, so two
configurations that record the same list (same shapes, optimizer kind and flags) share one
generated module: learning rates and other hyperparameters are host values, not code.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F

F32_TOL = dict(rtol=1e-5, atol=1e-6)
F64_TOL = dict(rtol=1e-12, atol=1e-12)


def tol(dtype: Any) -> dict[str, float]:
    return F64_TOL if np.dtype(dtype) == np.float64 else F32_TOL


def as_numpy(value: Any) -> np.ndarray:
    return np.array(value.detach().numpy(), copy=True)


# ---------------------------------------------------------------------------- models and data
def mlp(sizes: tuple[int, ...], activation: Callable[[], nn.Module] | list = nn.ReLU, seed: int = 0,
        dtype: Any = np.float32) -> nn.Module:
    """Linear layers of ``sizes`` with an activation between them, initialised from ``seed``.
    ``activation`` is a module factory or a list of them, one per hidden layer."""
    tapegrad.manual_seed(seed)
    layers: list[nn.Module] = []
    hidden = len(sizes) - 2
    factories = activation if isinstance(activation, list) else [activation] * hidden
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < hidden:
            layers.append(factories[i]())
    model = nn.Sequential(*layers)
    if np.dtype(dtype) == np.float64:
        model.double()
    return model


def batches(kind: str, count: int, batch: int, features: int, outputs: int, dtype: Any, seed: int = 1) -> list:
    """``count`` (x, y) batches: class indices for ``"ce"``, float targets for ``"mse"``."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        x = tapegrad.from_numpy(rng.standard_normal((batch, features)).astype(dtype))
        if kind == "ce":
            y = tapegrad.from_numpy(rng.integers(0, outputs, batch).astype(np.int64))
        else:
            y = tapegrad.from_numpy(rng.standard_normal((batch, outputs)).astype(dtype))
        result.append((x, y))
    return result


LOSSES = {"ce": F.cross_entropy, "mse": F.mse_loss}


def make_train_step(model: nn.Module, opt: Any, loss: str = "mse", returns: str = "loss",
                    set_to_none: bool = True) -> Callable[..., Any]:
    """The usual training step, always named ``train_step`` so that equal setups generate
    equal code (and share one compiled module)."""
    loss_fn = LOSSES[loss]

    def train_step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        logits = model(x)
        value = loss_fn(logits, y)
        value.backward()
        opt.step()
        if returns == "tuple":
            return value, logits
        if returns == "dict":
            return {"loss": value, "logits": logits}
        return value

    return train_step


# ---------------------------------------------------------------------------- recorded runs
OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "sgd_momentum": lambda p: tapegrad.optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd_nesterov_wd": lambda p: tapegrad.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "sgd_plain": lambda p: tapegrad.optim.SGD(p, lr=0.1),
    "adam": lambda p: tapegrad.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99)),
    "adamw": lambda p: tapegrad.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "rmsprop": lambda p: tapegrad.optim.RMSprop(p, lr=1e-2),
    "adagrad": lambda p: tapegrad.optim.Adagrad(p, lr=5e-2, lr_decay=1e-2),
    # These two keep state the kernel does not write (NAdam's mu_product, ASGD's eta and mu).
    "nadam": lambda p: tapegrad.optim.NAdam(p, lr=1e-2),
    # Averaging (a kernel flag) from the first step on (t0 < 1): one trace, and every replay
    # moves both eta and mu.
    "asgd": lambda p: tapegrad.optim.ASGD(p, lr=1e-2, t0=-1),
}

SMALL = (2, 16, 16, 1)
BIG = (784, 256, 128, 10)


def activations_mix() -> list:
    return [nn.Tanh, nn.GELU, nn.SiLU, lambda: nn.LeakyReLU(0.1), nn.Sigmoid]


CONFIGS: dict[str, dict[str, Any]] = {
    # The required MLPs: 784-256-128-10 with cross entropy, 2-16-16-1 with MSE.
    "big_sgd_momentum": dict(sizes=BIG, loss="ce", opt="sgd_momentum", batch=64, returns="tuple"),
    "big_adamw": dict(sizes=BIG, loss="ce", opt="adamw", batch=64),
    "small_sgd_momentum": dict(sizes=SMALL, loss="mse", opt="sgd_momentum", batch=32),
    "small_sgd_nesterov_wd": dict(sizes=SMALL, loss="mse", opt="sgd_nesterov_wd", batch=32),
    "small_adam": dict(sizes=SMALL, loss="mse", opt="adam", batch=32),
    "small_adamw": dict(sizes=SMALL, loss="mse", opt="adamw", batch=32),
    "small_rmsprop": dict(sizes=SMALL, loss="mse", opt="rmsprop", batch=32),
    "small_adagrad": dict(sizes=SMALL, loss="mse", opt="adagrad", batch=32),
    "small_nadam": dict(sizes=SMALL, loss="mse", opt="nadam", batch=32),
    "small_asgd": dict(sizes=SMALL, loss="mse", opt="asgd", batch=32),
    "small_f64_adam": dict(sizes=SMALL, loss="mse", opt="adam", batch=32, dtype=np.float64),
    "f64_ce_sgd_momentum": dict(sizes=(8, 16, 4), loss="ce", opt="sgd_momentum", batch=24, dtype=np.float64),
    # Gradients zeroed in place and accumulated into the same buffers.
    "small_keep_grads": dict(sizes=SMALL, loss="mse", opt="sgd_momentum", batch=32, set_to_none=False),
    # Smooth activations; returns a dict.
    "activations": dict(sizes=(3, 8, 8, 8, 8, 8, 2), activation=activations_mix, loss="mse", opt="sgd_plain",
                        batch=16, returns="dict"),
    # Schedulers change lr between compiled steps; the step is the small SGD-momentum one.
    "small_sgd_steplr": dict(sizes=SMALL, loss="mse", opt="sgd_momentum", batch=32,
                             scheduler=lambda o: tapegrad.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    "small_sgd_cosine": dict(sizes=SMALL, loss="mse", opt="sgd_momentum", batch=32,
                             scheduler=lambda o: tapegrad.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4)),
    "small_adam_cosine": dict(sizes=SMALL, loss="mse", opt="adam", batch=32,
                              scheduler=lambda o: tapegrad.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4)),
    # Hyperparameter values (not flags) changed by hand before step 4: no retrace needed.
    "small_adam_new_values": dict(sizes=SMALL, loss="mse", opt="adam", batch=32,
                                  change=(3, dict(lr=3e-2, betas=(0.7, 0.9), eps=1e-4))),
    "small_sgd_new_values": dict(sizes=SMALL, loss="mse", opt="sgd_momentum", batch=32,
                                 change=(3, dict(lr=0.01, momentum=0.5, dampening=0.3))),
}

STEPS = 6


class Record:
    """What one side (eager or compiled) looked like after each step."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.came_detached: list[bool] = []  # every returned tensor had no history
        self.results: list[Any] = []
        self.params: list[list[np.ndarray]] = []
        self.grads: list[list[np.ndarray | None]] = []
        self.grad_ids: list[list[int]] = []
        self.state: list[list[dict[str, np.ndarray]]] = []
        self.lrs: list[list[float]] = []

    def snapshot(self, model: nn.Module, opt: Any, result: Any) -> None:
        loss = result["loss"] if isinstance(result, dict) else result[0] if isinstance(result, tuple) else result
        self.losses.append(float(loss.detach().numpy()))
        # Results are kept detached: runs are cached for the whole test process, and a result's
        # history would keep its tape alive (tests/test_memory.py counts live tape steps).
        self.came_detached.append(all(not t.requires_grad and t.grad_fn is None for t in _tensors(result)))
        self.results.append(_detached(result))
        params = list(model.parameters())
        self.params.append([as_numpy(p) for p in params])
        self.grads.append([None if p.grad is None else as_numpy(p.grad) for p in params])
        self.grad_ids.append([id(p.grad) for p in params])
        self.state.append([{k: as_numpy(v) if isinstance(v, tapegrad.Tensor) else np.asarray(v)
                            for k, v in opt.state[p].items()} for p in params])
        self.lrs.append([g["lr"] for g in opt.param_groups])


def _tensors(result: Any) -> list[tapegrad.Tensor]:
    if isinstance(result, tapegrad.Tensor):
        return [result]
    items = result.values() if isinstance(result, dict) else result if isinstance(result, (tuple, list)) else []
    return [t for item in items for t in _tensors(item)]


def _detached(result: Any) -> Any:
    if isinstance(result, tapegrad.Tensor):
        return result.detach()
    if isinstance(result, (tuple, list)):
        return type(result)(_detached(r) for r in result)
    if isinstance(result, dict):
        return {k: _detached(v) for k, v in result.items()}
    return result


class Run:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.eager = Record()
        self.compiled = Record()
        self.function: Any = None
        self.initial: list[np.ndarray] = []
        self.data: list = []


def build(config: dict[str, Any]) -> tuple[nn.Module, Any, Callable[..., Any], Any]:
    dtype = config.get("dtype", np.float32)
    activation = config.get("activation", nn.ReLU)
    activation = activation() if activation is activations_mix else activation
    model = mlp(config["sizes"], activation, seed=config.get("seed", 0), dtype=dtype)
    opt = OPTIMIZERS[config["opt"]](model.parameters())
    step = make_train_step(model, opt, config["loss"], config.get("returns", "loss"), config.get("set_to_none", True))
    scheduler = config["scheduler"](opt) if "scheduler" in config else None
    return model, opt, step, scheduler


@functools.lru_cache(maxsize=None)
def run(name: str, steps: int = STEPS) -> Run:
    """Train configuration ``name`` eagerly and compiled, side by side, for ``steps`` steps."""
    config = CONFIGS[name]
    dtype = config.get("dtype", np.float32)
    sizes = config["sizes"]
    record = Run(config)
    record.data = batches(config["loss"], steps, config["batch"], sizes[0], sizes[-1], dtype)
    eager_model, eager_opt, eager_step, eager_sched = build(config)
    model, opt, step, sched = build(config)
    record.initial = [as_numpy(p) for p in model.parameters()]
    compiled = tapegrad.compile(step)
    record.function = compiled
    change_at, change = config.get("change", (None, {}))
    for i, (x, y) in enumerate(record.data):
        if i == change_at:
            for o in (eager_opt, opt):
                o.param_groups[0].update(change)
        result = eager_step(x, y)
        record.eager.snapshot(eager_model, eager_opt, result)
        if eager_sched is not None:
            eager_sched.step()
        result = compiled(x, y)
        record.compiled.snapshot(model, opt, result)
        if sched is not None:
            sched.step()
    return record


def assert_same_step(run_: Run, i: int) -> None:
    """Loss, parameters, gradients and optimizer state equal after step ``i``."""
    tolerance = tol(run_.config.get("dtype", np.float32))
    eager, compiled = run_.eager, run_.compiled
    np.testing.assert_allclose(compiled.losses[i], eager.losses[i], **tolerance, err_msg=f"loss, step {i}")
    for j, (a, b) in enumerate(zip(compiled.params[i], eager.params[i])):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tolerance, err_msg=f"parameter {j}, step {i}")
    for j, (a, b) in enumerate(zip(compiled.grads[i], eager.grads[i])):
        assert (a is None) == (b is None), f"gradient {j} presence differs at step {i}"
        if a is not None:
            np.testing.assert_allclose(a, b, **tolerance, err_msg=f"gradient {j}, step {i}")
    for j, (sa, sb) in enumerate(zip(compiled.state[i], eager.state[i])):
        assert sorted(sa) == sorted(sb), f"optimizer state keys of parameter {j} differ at step {i}"
        if run_.config["opt"] != "sgd_plain":
            assert sa, f"no optimizer state for parameter {j}"
        for key in sa:
            assert sa[key].dtype == sb[key].dtype, (key, sa[key].dtype, sb[key].dtype)
            np.testing.assert_allclose(sa[key], sb[key], **tolerance, err_msg=f"state {key!r} of parameter {j}, step {i}")


def inference_model() -> nn.Module:
    """Flatten (a view of the batch) -> Linear -> Tanh -> Linear, for the inference tests."""
    tapegrad.manual_seed(11)
    return nn.Sequential(nn.Flatten(), nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 3))


def make_predict(model: nn.Module, inside_no_grad: bool) -> Callable[..., Any]:
    if inside_no_grad:
        def predict(x):
            with tapegrad.no_grad():
                return model(x)
    else:
        def predict(x):
            return model(x)
    return predict


# ---------------------------------------------------------------------------- ad-hoc pairs
class Pair:
    """An eager and a compiled copy of one training setup, stepped together by ``step``."""

    def __init__(self, make_model: Callable[[], nn.Module], make_opt: Callable[[Any], Any], loss: str = "ce",
                 **compile_options: Any) -> None:
        self.eager_model, self.model = make_model(), make_model()
        self.eager_opt, self.opt = make_opt(self.eager_model.parameters()), make_opt(self.model.parameters())
        self.eager_step = make_train_step(self.eager_model, self.eager_opt, loss)
        self.compiled = tapegrad.compile(make_train_step(self.model, self.opt, loss), **compile_options)

    def both(self, fn: Callable[[nn.Module, Any], None]) -> None:
        """Apply the same change to both sides (``fn(model, optimizer)``)."""
        fn(self.eager_model, self.eager_opt)
        fn(self.model, self.opt)

    def step(self, x: Any, y: Any) -> Any:
        want = self.eager_step(x, y)
        got = self.compiled(x, y)
        self.check(got, want)
        return got

    def check(self, got: Any, want: Any) -> None:
        tolerance = tol(as_numpy(want).dtype)
        np.testing.assert_allclose(as_numpy(got), as_numpy(want), **tolerance)
        for p, q in zip(self.eager_model.parameters(), self.model.parameters()):
            np.testing.assert_allclose(as_numpy(q), as_numpy(p), **tolerance)
            assert (p.grad is None) == (q.grad is None)
            if p.grad is not None:
                np.testing.assert_allclose(as_numpy(q.grad), as_numpy(p.grad), **tolerance)
            assert sorted(self.opt.state[q]) == sorted(self.eager_opt.state[p])
            for key, value in self.eager_opt.state[p].items():
                np.testing.assert_allclose(as_numpy(self.opt.state[q][key]), as_numpy(value), **tolerance,
                                           err_msg=key)


def classification_batch(rng: np.random.Generator, batch: int, features: int, classes: int,
                         dtype: Any = np.float32) -> tuple[Any, Any]:
    x = tapegrad.from_numpy(rng.standard_normal((batch, features)).astype(dtype))
    y = tapegrad.from_numpy(rng.integers(0, classes, batch).astype(np.int64))
    return x, y
