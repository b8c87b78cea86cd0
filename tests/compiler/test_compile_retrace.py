"""Guards and retracing: a changed signature or a failed guard traces again, keeps the older
versions (up to ``cache_size``), and every call still computes what eager mode computes."""
from __future__ import annotations

import numpy as np

import tapegrad
import tapegrad.nn as nn
from compile_helpers import F32_TOL, Pair, classification_batch, make_predict, mlp


def _sgd(p):
    return tapegrad.optim.SGD(p, lr=0.1, momentum=0.9)


def _shape_pair(**options) -> Pair:
    # The same setup (so the same generated code: compiling costs seconds) in every test here.
    return Pair(lambda: mlp((6, 3), seed=1), _sgd, **options)


def _kept(compiled) -> int:
    return sum(len(versions) for versions in compiled._steps.values())


def test_new_batch_shape_traces_again_and_the_old_version_still_replays():
    pair = _shape_pair()
    rng = np.random.default_rng(0)
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 1
    assert pair.compiled.tape.arguments[0].shape == (8, 6)
    for _ in range(3):
        pair.step(*classification_batch(rng, 5, 6, 3))
    assert pair.compiled.traces == 2
    assert pair.compiled.tape.arguments[0].shape == (5, 6)
    for batch in (8, 5, 8, 5):
        got = pair.step(*classification_batch(rng, batch, 6, 3))
        assert not got.requires_grad  # replayed, not run eagerly
    assert pair.compiled.traces == 2
    assert _kept(pair.compiled) == 2


def test_cache_size_one_with_alternating_shapes_stays_correct():
    pair = _shape_pair(cache_size=1)
    rng = np.random.default_rng(1)
    for batch in (8, 5) * 4:
        pair.step(*classification_batch(rng, batch, 6, 3))
        assert _kept(pair.compiled) <= 1
    # Each shape's first call runs eagerly; after that every call evicts the other shape's
    # version and traces again.
    assert pair.compiled.traces == 6


def test_cache_size_bounds_the_kept_versions():
    pair = _shape_pair(cache_size=2)
    rng = np.random.default_rng(2)
    for batch in (5, 5, 8, 8, 5, 8):
        pair.step(*classification_batch(rng, batch, 6, 3))
    assert pair.compiled.traces == 2
    # A flag change adds a third version for the batch of 8: the oldest (batch 5) goes.
    pair.both(lambda m, o: o.param_groups[0].__setitem__("weight_decay", 0.1))
    pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 3
    assert _kept(pair.compiled) == 2
    pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 3
    pair.both(lambda m, o: o.param_groups[0].__setitem__("weight_decay", 0))
    pair.step(*classification_batch(rng, 8, 6, 3))  # replays the first batch-8 version
    assert pair.compiled.traces == 3
    pair.step(*classification_batch(rng, 5, 6, 3))  # evicted: traced again, not run eagerly
    assert pair.compiled.traces == 4
    assert _kept(pair.compiled) == 2


class ModeScale(nn.Module):
    """Behaves differently in training and evaluation (in Python, so only the guard sees it)."""

    def forward(self, x):
        return x * (2.0 if self.training else 0.5)


def test_train_eval_toggle_retraces_and_keeps_both(monkeypatch, capfd):
    monkeypatch.setenv("TAPEGRAD_LOG", "compile")

    def make():
        tapegrad.manual_seed(4)
        return nn.Sequential(nn.Linear(4, 3), ModeScale())

    pair = Pair(make, _sgd)
    rng = np.random.default_rng(3)
    for _ in range(3):
        pair.step(*classification_batch(rng, 7, 4, 3))
    assert pair.compiled.traces == 1
    capfd.readouterr()
    pair.both(lambda m, o: m.eval())
    pair.step(*classification_batch(rng, 7, 4, 3))
    assert pair.compiled.traces == 2
    err = capfd.readouterr().err
    assert "guard failed" in err and "training changed to False" in err and "retracing" in err
    for _ in range(2):
        pair.step(*classification_batch(rng, 7, 4, 3))
    pair.both(lambda m, o: m.train())
    for _ in range(2):
        pair.step(*classification_batch(rng, 7, 4, 3))
    pair.both(lambda m, o: m.eval())
    pair.step(*classification_batch(rng, 7, 4, 3))
    assert pair.compiled.traces == 2


def test_dropout_switched_to_training_mode_is_not_replayed_from_eval_mode():
    tapegrad.manual_seed(11)  # inference_model() plus a dropout, which eval mode skips: the same code
    model = nn.Sequential(nn.Flatten(), nn.Linear(5, 32), nn.Tanh(), nn.Dropout(0.5), nn.Linear(32, 3)).eval()
    predict = make_predict(model, inside_no_grad=True)
    compiled = tapegrad.compile(predict)
    x = tapegrad.linspace(-1, 1, 50).reshape(10, 5)
    for _ in range(3):
        np.testing.assert_allclose(compiled(x).numpy(), predict(x).numpy(), **F32_TOL)
    assert compiled.traces == 1
    evaluated = predict(x).numpy()
    model.train()
    for seed in range(3):  # a retrace, then replays of the training-mode version
        tapegrad.manual_seed(seed)
        want = predict(x).numpy()
        tapegrad.manual_seed(seed)
        got = compiled(x).numpy()
        np.testing.assert_allclose(got, want, **F32_TOL)
        assert not np.allclose(got, evaluated)
    assert compiled.traces == 2
    model.eval()
    np.testing.assert_allclose(compiled(x).numpy(), evaluated, **F32_TOL)
    assert compiled.traces == 2


def test_optimizer_flag_change_retraces_with_correct_results():
    pair = _shape_pair()
    rng = np.random.default_rng(4)
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 1
    pair.both(lambda m, o: o.param_groups[0].__setitem__("weight_decay", 0.1))
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 2
    # Back and forth: both versions are kept and replayed.
    pair.both(lambda m, o: o.param_groups[0].__setitem__("weight_decay", 0))
    pair.step(*classification_batch(rng, 8, 6, 3))
    pair.both(lambda m, o: o.param_groups[0].__setitem__("weight_decay", 0.1))
    pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 2


def test_requires_grad_change_of_a_parameter_retraces():
    pair = _shape_pair()
    rng = np.random.default_rng(6)
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    frozen = [p.detach().numpy().copy() for p in (pair.model[0].weight, pair.eager_model[0].weight)]
    bias = pair.model[0].bias.detach().numpy().copy()
    pair.both(lambda m, o: m[0].weight.requires_grad_(False))
    for _ in range(3):
        pair.step(*classification_batch(rng, 8, 6, 3))
    assert pair.compiled.traces == 2
    assert pair.model[0].weight.grad is None
    np.testing.assert_array_equal(pair.model[0].weight.detach().numpy(), frozen[0])
    np.testing.assert_array_equal(pair.eager_model[0].weight.detach().numpy(), frozen[1])
    assert not np.array_equal(pair.model[0].bias.detach().numpy(), bias)


def _w2_closure(x):
    def w2():
        x.grad = None
        loss = (tapegrad.tanh(x * .5 + 1) * x + tapegrad.sigmoid(x)).sum()
        loss.backward()
        return loss
    return w2


def test_captured_tensor_shape_and_dtype_change_retraces():
    x = tapegrad.linspace(-2, 2, 1000).requires_grad_()
    fn = _w2_closure(x)
    compiled = tapegrad.compile(fn)

    def check():
        got = compiled()
        got_grad = x.grad.numpy().copy()
        want = fn()
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(got_grad, x.grad.numpy(), rtol=1e-5, atol=1e-6)
        assert got.dtype == x.dtype

    for _ in range(3):
        check()
    assert compiled.traces == 1
    x.data = tapegrad.linspace(-1, 3, 300)  # a new buffer of another shape: the guard fails
    for _ in range(2):
        check()
    assert compiled.traces == 2
    x.data = tapegrad.linspace(-1, 3, 300, dtype=tapegrad.float64)
    for _ in range(2):
        check()
    assert compiled.traces == 3
    x.data = tapegrad.linspace(0, 1, 1000)  # back to the first shape: replays version 1
    check()
    assert compiled.traces == 3


def test_non_tensor_arguments_are_part_of_the_signature():
    w = tapegrad.linspace(-1, 1, 50)

    def scaled(x, scale, offset=0.0):
        return (x * w * scale + offset).sum()

    compiled = tapegrad.compile(scaled)
    x = tapegrad.linspace(0, 1, 50)
    expected = {s: float((x.numpy() * w.numpy() * s).sum()) for s in (0.5, 2.0)}
    for scale in (0.5, 0.5, 0.5, 2.0, 2.0, 2.0, 0.5, 2.0):
        np.testing.assert_allclose(float(compiled(x, scale).numpy()), expected[scale], rtol=1e-5)
    assert compiled.traces == 2
    np.testing.assert_allclose(float(compiled(x, 2.0, offset=1.0).numpy()), expected[2.0] + 50, rtol=1e-5)
