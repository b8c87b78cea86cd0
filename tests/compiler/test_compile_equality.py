"""``tapegrad.compile`` gives the same training as eager mode, step by step.

Each configuration trains an eager model and an identically initialised compiled one on the
same batches; after every step the losses, all parameters, all gradients and all optimizer
state tensors must agree (float32: rtol 1e-5, atol 1e-6; float64: 1e-12). Step 1 of the
compiled function runs eagerly, step 2 is traced (and runs eagerly), steps 3+ replay.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from compile_helpers import CONFIGS, F32_TOL, STEPS, assert_same_step, inference_model, make_predict, mlp, run

TRAINING = [name for name in CONFIGS]


@pytest.mark.parametrize("name", TRAINING)
def test_training_matches_eager_every_step(name):
    r = run(name)
    assert len(r.compiled.losses) == STEPS >= 6
    for i in range(STEPS):
        assert_same_step(r, i)
    # One trace: schedulers and changing hyperparameter values never retrace.
    assert r.function.traces == 1
    assert r.function.tape is not None and len(r.function.tape.nodes) > 0
    # The parameters moved, and the compiled side kept training after the trace (steps 3+).
    for first, last in zip(r.initial, r.compiled.params[-1]):
        assert not np.array_equal(first, last)
    for before, after in zip(r.compiled.params[2], r.compiled.params[-1]):
        assert not np.array_equal(before, after)
    dtype = np.dtype(r.config.get("dtype", np.float32))
    assert all(p.dtype == dtype for p in r.compiled.params[-1])
    # Replays return detached tensors, in the structure the function returned.
    assert r.compiled.came_detached[2:] == [True] * (STEPS - 2)
    assert r.eager.came_detached == [False] * STEPS  # (eager results carry their history)
    for result in r.compiled.results[2:]:
        returns = r.config.get("returns", "loss")
        if returns == "tuple":
            assert isinstance(result, tuple) and len(result) == 2
            tensors = list(result)
        elif returns == "dict":
            assert isinstance(result, dict) and sorted(result) == ["logits", "loss"]
            tensors = list(result.values())
        else:
            tensors = [result]
        assert all(isinstance(t, tapegrad.Tensor) for t in tensors)
        assert tensors[0].shape == () and tensors[0].dtype.is_floating_point


@pytest.mark.parametrize("name", ["big_sgd_momentum", "activations"])
def test_returned_logits_match_eager(name):
    r = run(name)
    for i in range(STEPS):
        got, want = r.compiled.results[i], r.eager.results[i]
        got = got[1] if isinstance(got, tuple) else got["logits"]
        want = want[1] if isinstance(want, tuple) else want["logits"]
        assert got.shape == want.shape == (r.config["batch"], r.config["sizes"][-1])
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **F32_TOL)


def test_zero_grad_in_place_keeps_gradient_buffers():
    """``zero_grad(set_to_none=False)``: the step zeroes and accumulates into the same
    ``.grad`` tensors, eagerly and when replayed."""
    r = run("small_keep_grads")
    for record in (r.eager, r.compiled):
        assert all(g is not None for grads in record.grads for g in grads)
        assert all(ids == record.grad_ids[0] for ids in record.grad_ids)


@pytest.mark.parametrize("name", ["small_sgd_steplr", "small_sgd_cosine", "small_adam_cosine"])
def test_lr_scheduler_between_compiled_steps(name):
    r = run(name)
    assert r.function.traces == 1
    assert r.compiled.lrs == r.eager.lrs
    assert len({lrs[0] for lrs in r.compiled.lrs}) >= 3, "the scheduler should have changed lr"
    # And a different lr really changed the result: these differ from the constant-lr run.
    base = run("small_adam" if "adam" in name else "small_sgd_momentum")
    assert not np.allclose(base.compiled.params[-1][0], r.compiled.params[-1][0])


@pytest.mark.parametrize("name", ["small_adam_new_values", "small_sgd_new_values"])
def test_changing_hyperparameter_values_needs_no_retrace(name):
    """lr, momentum, betas, eps, dampening are read before every replay; only flags are guarded.
    (The step-by-step equality is checked by test_training_matches_eager_every_step.)"""
    r = run(name)
    at, change = r.config["change"]
    assert r.function.traces == 1
    assert r.compiled.lrs[at - 1] != r.compiled.lrs[at] == [change["lr"]]
    base = run(name.replace("_new_values", "_momentum" if "sgd" in name else ""))
    assert np.array_equal(base.compiled.params[at - 1][0], r.compiled.params[at - 1][0])
    assert not np.allclose(base.compiled.params[at][0], r.compiled.params[at][0])


# ---------------------------------------------------------------------------- small functions
def _w2_reference(x: np.ndarray) -> tuple[float, np.ndarray]:
    x = x.astype(np.float64)
    t = np.tanh(x * 0.5 + 1)
    s = 1 / (1 + np.exp(-x))
    loss = (t * x + s).sum()
    grad = t + x * (1 - t * t) * 0.5 + s * (1 - s)
    return loss, grad


def test_elementwise_forward_backward_of_a_captured_tensor():
    rng = np.random.default_rng(7)
    x = tapegrad.from_numpy(rng.standard_normal(1000).astype(np.float32)).requires_grad_()

    def w2():
        x.grad = None
        loss = (tapegrad.tanh(x * .5 + 1) * x + tapegrad.sigmoid(x)).sum()
        loss.backward()
        return loss

    compiled = tapegrad.compile(w2)
    for i in range(6):
        # x is read by reference: changing it in place between calls changes the replay's result.
        with tapegrad.no_grad():
            x.mul_(0.9).add_(0.05)
        got = compiled()
        got_grad = x.grad.numpy().copy()
        want = w2()
        want_grad = x.grad.numpy().copy()
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **F32_TOL)
        np.testing.assert_allclose(got_grad, want_grad, **F32_TOL)
        loss, grad = _w2_reference(x.detach().numpy())
        np.testing.assert_allclose(float(got.detach().numpy()), loss, rtol=1e-5)
        np.testing.assert_allclose(got_grad, grad, rtol=1e-5, atol=1e-6)
        if i >= 2:
            assert not got.requires_grad and got.grad_fn is None
    assert compiled.traces == 1


def _perturb(model: nn.Module, i: int) -> None:
    with tapegrad.no_grad():
        for p in model.parameters():
            p.mul_(1.0 - 0.05 * i).add_(0.01)


@pytest.mark.parametrize("inside", [True, False], ids=["no_grad_inside", "called_under_no_grad"])
def test_inference_under_no_grad(inside):
    """Batches are row slices (views) of a data set the function cannot reach, passed
    positionally or by keyword; parameters change in place between calls."""
    model = inference_model()
    predict = make_predict(model, inside)
    compiled = tapegrad.compile(predict)
    rng = np.random.default_rng(3)
    data = tapegrad.from_numpy(rng.standard_normal((60, 5)).astype(np.float32))
    for i in range(6):
        _perturb(model, i)  # parameters are read by reference at every replay
        x = data[10 * i:10 * i + 10]
        with tapegrad.set_grad_enabled(inside):
            got = compiled(x) if inside else compiled(x=x)
            want = predict(x)
        assert isinstance(got, tapegrad.Tensor) and got.shape == (10, 3) and not got.requires_grad
        np.testing.assert_allclose(got.numpy(), want.numpy(), **F32_TOL)
        assert all(p.grad is None for p in model.parameters())
    assert compiled.traces == 1


def test_compiling_a_module_and_a_bound_method():
    """``tapegrad.compile(model)`` and ``tapegrad.compile(obj.method)``: the tensors are found
    through the module / the bound ``self``."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = inference_model()

        def forward(self, x):
            return self.body(x)

    net = Net()
    x = tapegrad.linspace(-1, 1, 50).reshape(10, 5)
    for compiled in (tapegrad.compile(net.body), tapegrad.compile(net.forward)):
        with tapegrad.no_grad():
            for i in range(4):
                _perturb(net, i)
                np.testing.assert_allclose(compiled(x).numpy(), net(x).numpy(), **F32_TOL)
        assert compiled.traces == 1


def test_gradient_accumulation_over_two_batches():
    """Two backward passes in one step: the second accumulates into gradients the first made."""
    import tapegrad.nn.functional as F

    def make():
        model = mlp((3, 4, 2), seed=1)
        return model, tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def accumulate_step(model, opt):
        def accumulate(x1, y1, x2, y2):
            opt.zero_grad()
            first = F.cross_entropy(model(x1), y1)
            first.backward()
            second = F.cross_entropy(model(x2), y2)
            second.backward()
            opt.step()
            return first, second
        return accumulate

    (me, oe), (mc, oc) = make(), make()
    eager, compiled = accumulate_step(me, oe), tapegrad.compile(accumulate_step(mc, oc))
    rng = np.random.default_rng(0)
    for _ in range(6):
        args = []
        for _ in range(2):
            args += [tapegrad.from_numpy(rng.standard_normal((4, 3)).astype(np.float32)),
                     tapegrad.from_numpy(rng.integers(0, 2, 4))]
        want, got = eager(*args), compiled(*args)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **F32_TOL)
        for p, q in zip(me.parameters(), mc.parameters()):
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), **F32_TOL)
            np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), **F32_TOL)
            np.testing.assert_allclose(oc.state[q]["momentum_buffer"].numpy(),
                                       oe.state[p]["momentum_buffer"].numpy(), **F32_TOL)
    assert compiled.traces == 1
