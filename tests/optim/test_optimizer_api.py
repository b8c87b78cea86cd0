"""Optimizer behaviour that needs no PyTorch: hand-computed updates, skipped parameters, odd
buffers, state dicts, version counters, closures and argument validation."""
from __future__ import annotations

import copy
import io
import math
import re
import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad import optim
from optim_helpers import VALIDATION_CASES, initial_weights, parameters_of, tapegrad_model, train_tapegrad

ALL_OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
]


def ids(config: tuple) -> str:
    return config[0] + "-" + "-".join(f"{k}={v}" for k, v in config[1].items())


def make(name: str, params, **kwargs):
    return getattr(optim, name)(params, **kwargs)


def leaf(values, dtype=np.float64) -> tapegrad.Tensor:
    return tapegrad.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------------- hand-computed updates

def test_first_adam_step_by_hand() -> None:
    p0 = np.array([0.5, -1.5, 2.0])
    g = np.array([0.1, -2.0, 0.0])
    w = leaf(p0)
    w.grad = tapegrad.tensor(g)
    lr, (b1, b2), eps, wd = 0.01, (0.9, 0.999), 1e-8, 0.1
    opt = optim.Adam([w], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    opt.step()
    g_wd = g + wd * p0
    m = (1 - b1) * g_wd
    v = (1 - b2) * g_wd * g_wd
    expected = p0 - lr / (1 - b1) * m / (np.sqrt(v) / math.sqrt(1 - b2) + eps)
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-14)
    state = opt.state[w]
    assert list(state) == ["step", "exp_avg", "exp_avg_sq"]
    assert state["step"].dtype is tapegrad.float32 and state["step"].shape == () and state["step"].item() == 1.0
    np.testing.assert_allclose(state["exp_avg"].numpy(), m, rtol=1e-15)
    np.testing.assert_allclose(state["exp_avg_sq"].numpy(), v, rtol=1e-15)


def test_adam_second_step_uses_bias_correction_of_step_two() -> None:
    w = leaf([1.0])
    opt = optim.Adam([w], lr=0.1)
    for _ in range(2):
        w.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
        opt.step()
    # A constant gradient gives m_hat = v_hat = 1, so each step moves by lr / (1 + eps).
    np.testing.assert_allclose(w.item(), 1.0 - 2 * 0.1 / (1 + 1e-8), rtol=1e-14)
    assert opt.state[w]["step"].item() == 2.0


def test_float32_update_is_computed_in_float32() -> None:
    # The kernel must not promote to float64: the result equals float32 arithmetic exactly.
    f = np.float32
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal(50).astype(f), rng.standard_normal(50).astype(f)
    w = leaf(p0, f)
    w.grad = tapegrad.tensor(g)
    optim.Adam([w], lr=0.01).step()
    m = f(1 - 0.9) * g
    v = f(1 - 0.999) * g * g
    expected = p0 + f(-0.01 / (1 - 0.9)) * m / (np.sqrt(v) / f((1 - 0.999) ** 0.5) + f(1e-8))
    assert w.dtype is tapegrad.float32
    np.testing.assert_array_equal(w.detach().numpy(), expected)


def test_sgd_momentum_nesterov_and_weight_decay_by_hand() -> None:
    w = leaf([1.0, -1.0])
    opt = optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    p = np.array([1.0, -1.0])
    buf = None
    for g in ([0.2, 0.4], [-0.1, 0.3], [0.0, 1.0]):
        w.grad = tapegrad.tensor(g, dtype=tapegrad.float64)
        opt.step()
        d = np.array(g) + 0.5 * p
        buf = d if buf is None else 0.9 * buf + d
        p = p - 0.1 * (d + 0.9 * buf)
        np.testing.assert_allclose(w.detach().numpy(), p, rtol=1e-15)
    np.testing.assert_allclose(opt.state[w]["momentum_buffer"].numpy(), buf, rtol=1e-15)


def test_sgd_dampening_and_maximize_by_hand() -> None:
    w = leaf([2.0])
    opt = optim.SGD([w], lr=0.5, momentum=0.5, dampening=0.25, maximize=True)
    w.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()  # buf = -1 (first step: no dampening); p = 2 + 0.5
    w.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()  # buf = 0.5 * -1 + 0.75 * -1 = -1.25; p = 2.5 + 0.625
    assert w.item() == 3.125


def test_rmsprop_and_adagrad_by_hand() -> None:
    w = leaf([1.0])
    opt = optim.RMSprop([w], lr=0.1, alpha=0.5, eps=0.0, centered=True)
    w.grad = tapegrad.tensor([2.0], dtype=tapegrad.float64)
    opt.step()  # sq = 2, grad_avg = 1, avg = sqrt(2 - 1) = 1
    assert w.item() == pytest.approx(1.0 - 0.1 * 2.0)
    assert opt.state[w]["grad_avg"].item() == 1.0

    w = leaf([1.0])
    opt = optim.Adagrad([w], lr=0.3, lr_decay=0.5, initial_accumulator_value=5.0, eps=0.0)
    for _ in range(2):
        w.grad = tapegrad.tensor([2.0], dtype=tapegrad.float64)
        opt.step()
    # step 1: sum 9, clr 0.3, p -= 0.3 * 2 / 3; step 2: sum 13, clr 0.2, p -= 0.2 * 2 / sqrt(13)
    assert w.item() == pytest.approx(1.0 - 0.2 - 0.4 / math.sqrt(13), rel=1e-14)


def test_lr_may_be_a_one_element_tensor() -> None:
    w = leaf([1.0])
    opt = optim.SGD([w], lr=tapegrad.tensor(0.5))
    w.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()
    assert w.item() == 0.5


# ---------------------------------------------------------------------- which parameters move

@pytest.mark.parametrize("config", ALL_OPTIMIZERS, ids=ids)
def test_parameters_without_grad_are_skipped(config) -> None:
    name, kwargs = config
    a, b = leaf([1.0, 2.0]), leaf([3.0])
    opt = make(name, [a, b], **kwargs)
    a.grad = tapegrad.tensor([0.5, -0.5], dtype=tapegrad.float64)
    version = b._version
    opt.step()
    assert b.tolist() == [3.0]
    assert b._version == version
    if name == "Adagrad":  # Adagrad makes state for every parameter up front, as PyTorch does
        assert opt.state[b]["step"].item() == 0.0
    else:
        assert b not in opt.state
    assert a.tolist() != [1.0, 2.0]


@pytest.mark.parametrize("config", ALL_OPTIMIZERS, ids=ids)
def test_non_contiguous_parameter_and_grad(config) -> None:
    name, kwargs = config
    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 6))
    grads = [rng.standard_normal((6, 4)) for _ in range(3)]
    # A transposed (non-contiguous) parameter buffer, updated in place through the view.
    strided = tapegrad.Tensor._from_array(base.T).requires_grad_()
    plain = leaf(base.T.copy())
    opt_strided, opt_plain = make(name, [strided], **kwargs), make(name, [plain], **kwargs)
    for g in grads:
        strided.grad = tapegrad.Tensor._from_array(np.asfortranarray(g))  # non-contiguous grad
        plain.grad = tapegrad.tensor(g)
        opt_strided.step()
        opt_plain.step()
    assert strided._data.base is base or np.shares_memory(strided._data, base)
    np.testing.assert_array_equal(strided.detach().numpy(), plain.detach().numpy())
    np.testing.assert_array_equal(base.T, plain.detach().numpy())


def test_strided_slice_parameter_is_updated_in_place() -> None:
    storage = np.zeros(10)
    view = tapegrad.Tensor._from_array(storage[::2]).requires_grad_()
    opt = optim.Adam([view], lr=0.1)
    view.grad = tapegrad.tensor([1.0, -1.0, 1.0, -1.0, 1.0], dtype=tapegrad.float64)
    opt.step()
    np.testing.assert_allclose(storage[::2], [-0.1, 0.1, -0.1, 0.1, -0.1], rtol=1e-6)
    assert storage[1::2].tolist() == [0.0] * 5


def test_zero_size_and_scalar_parameters() -> None:
    empty, scalar = leaf(np.zeros((0, 3))), leaf(2.0)
    opt = optim.Adam([empty, scalar], lr=0.1)
    empty.grad = tapegrad.zeros(0, 3, dtype=tapegrad.float64)
    scalar.grad = tapegrad.tensor(1.0, dtype=tapegrad.float64)
    opt.step()
    assert empty.shape == (0, 3)
    assert scalar.item() == pytest.approx(1.9)


# ---------------------------------------------------------------------- versions and autograd

@pytest.mark.parametrize("config", ALL_OPTIMIZERS, ids=ids)
def test_step_bumps_the_version_counter(config) -> None:
    name, kwargs = config
    w = leaf([1.0, 2.0])
    opt = make(name, [w], **kwargs)
    y = (w * w).sum()  # mul saves w for backward
    y.backward(retain_graph=True)
    before = w._version
    opt.step()
    assert w._version == before + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_step_records_nothing_on_the_tape() -> None:
    w = leaf([1.0, 2.0])
    opt = optim.Adam([w])
    (w * 3).sum().backward()
    opt.step()
    assert w.grad_fn is None and w.requires_grad and w.is_leaf


def test_closure_runs_with_grad_enabled_and_its_loss_is_returned() -> None:
    w = leaf([1.0, -2.0])
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        assert tapegrad.is_grad_enabled()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tapegrad.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    assert w.tolist() == pytest.approx([0.8, -1.6])


def test_zero_grad() -> None:
    w = leaf([1.0])
    opt = optim.SGD([w], lr=0.1)
    (w * 2).sum().backward()
    grad = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.tolist() == [0.0]
    opt.zero_grad()
    assert w.grad is None


# ---------------------------------------------------------------------- groups, repr, state dicts

def test_param_groups_get_defaults_and_their_own_values() -> None:
    a, b = leaf([1.0]), leaf([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"] == [b]
    assert opt.param_groups[0]["momentum"] == 0
    c = leaf([1.0])
    opt.add_param_group({"params": [c], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1
    for p in (a, b, c):
        p.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()
    assert [a.item(), b.item(), c.item()] == pytest.approx([0.9, 0.5, 1.0 - 0.1 * 1.1])


def test_named_parameters_are_accepted() -> None:
    model = tapegrad_model(initial_weights(np.float64))
    opt = optim.Adam(model.named_parameters())
    assert opt.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"][0] == "0.weight"


def test_adagrad_makes_state_up_front_and_for_added_groups() -> None:
    a, b = leaf([1.0, 1.0]), leaf([1.0])
    opt = optim.Adagrad([a], initial_accumulator_value=0.25)
    assert opt.state[a]["sum"].tolist() == [0.25, 0.25]
    opt.add_param_group({"params": [b]})
    b.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()
    assert opt.state[b]["sum"].tolist() == [1.25]
    assert opt.state[b]["step"].item() == 1.0


def test_step_follows_the_default_dtype() -> None:
    previous = tapegrad.get_default_dtype()
    tapegrad.set_default_dtype(tapegrad.float64)
    try:
        w = leaf([1.0])
        opt = optim.Adam([w])
        w.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
        opt.step()
        assert opt.state[w]["step"].dtype is tapegrad.float64
    finally:
        tapegrad.set_default_dtype(previous)


def test_repr() -> None:
    opt = optim.SGD([leaf([1.0])], lr=0.1, momentum=0.9)
    assert repr(opt) == ("SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n    foreach: None\n"
                         "    fused: None\n    lr: 0.1\n    maximize: False\n    momentum: 0.9\n    nesterov: False\n"
                         "    weight_decay: 0\n)")


@pytest.mark.parametrize("config", ALL_OPTIMIZERS, ids=ids)
def test_state_dict_round_trip_continues_identically(config) -> None:
    name, kwargs = config
    dtype = np.float64

    def new_optimizer(model):
        return make(name, [{"params": list(model.parameters())[:2]},
                           {"params": list(model.parameters())[2:], "lr": kwargs["lr"] / 2}], **kwargs)

    straight, straight_model, _ = train_tapegrad(new_optimizer, dtype, steps=20)

    first, model, opt = train_tapegrad(new_optimizer, dtype, steps=10)
    saved = opt.state_dict()
    buffer = io.BytesIO()
    tapegrad.save({"model": model.state_dict(), "optimizer": saved}, buffer)
    buffer.seek(0)
    checkpoint = tapegrad.load(buffer)
    resumed_model = tapegrad_model(initial_weights(dtype))
    resumed_model.load_state_dict(checkpoint["model"])
    resumed_opt = new_optimizer(resumed_model)
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    assert resumed_opt.state_dict()["param_groups"] == saved["param_groups"]
    second, resumed_model, _ = train_tapegrad(None, dtype, steps=10, model=resumed_model, optimizer=resumed_opt)

    assert first + second == straight
    for key, value in parameters_of(straight_model).items():
        np.testing.assert_array_equal(parameters_of(resumed_model)[key], value)


def test_load_state_dict_copies_state_and_loads_hyperparameters() -> None:
    w = leaf([1.0, 2.0])
    opt = optim.Adam([w], lr=0.1)
    w.grad = tapegrad.tensor([1.0, 1.0], dtype=tapegrad.float64)
    opt.step()
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = 0.25
    other_w = leaf([1.0, 2.0])
    other = optim.Adam([other_w], lr=0.1)
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.25
    assert other.param_groups[0]["params"] == [other_w]
    assert saved["param_groups"][0]["params"] == [0]  # the given dict is not changed
    loaded = other.state[other_w]
    for key in ("step", "exp_avg", "exp_avg_sq"):
        assert loaded[key] is not saved["state"][0][key]
        assert not np.shares_memory(loaded[key]._data, saved["state"][0][key]._data)
        assert loaded[key].tolist() == saved["state"][0][key].tolist()
    assert loaded["step"].dtype is tapegrad.float32


def test_load_casts_state_to_the_parameter_dtype_but_not_step() -> None:
    w64 = leaf([1.0])
    opt = optim.Adam([w64])
    w64.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()
    w32 = leaf([1.0], np.float32)
    other = optim.Adam([w32])
    other.load_state_dict(opt.state_dict())
    assert other.state[w32]["exp_avg"].dtype is tapegrad.float32
    assert other.state[w32]["step"].dtype is tapegrad.float32
    w32.grad = tapegrad.tensor([1.0])
    other.step()
    assert other.state[w32]["step"].item() == 2.0


def test_load_converts_a_numeric_step() -> None:
    w = leaf([1.0])
    opt = optim.Adam([w])
    opt.load_state_dict({"state": {0: {"step": 3, "exp_avg": tapegrad.zeros(1), "exp_avg_sq": tapegrad.zeros(1)}},
                         "param_groups": opt.state_dict()["param_groups"]})
    assert isinstance(opt.state[w]["step"], tapegrad.Tensor) and opt.state[w]["step"].item() == 3.0


def test_load_state_dict_mismatches() -> None:
    a, b = leaf([1.0]), leaf([1.0])
    opt = optim.SGD([a, b], lr=0.1)
    two_groups = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match="^loaded state dict has a different number of parameter groups$"):
        opt.load_state_dict(two_groups.state_dict())
    with pytest.raises(ValueError, match=re.escape("loaded state dict contains a parameter group that doesn't "
                                                   "match the size of optimizer's group")):
        opt.load_state_dict(optim.SGD([a], lr=0.1).state_dict())


def test_optimizer_pickles_through_deepcopy() -> None:
    w = leaf([1.0])
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    opt.step()
    clone = copy.deepcopy(opt)
    assert clone.param_groups[0]["lr"] == 0.1 and len(clone.state) == 1


# ---------------------------------------------------------------------- bad input, validated first

@pytest.mark.parametrize("config", ALL_OPTIMIZERS, ids=ids)
def test_bad_state_raises_before_anything_changes(config) -> None:
    name, kwargs = config
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    opt = make(name, [a, b], **kwargs)
    for _ in range(2):
        a.grad = tapegrad.tensor([0.1, 0.2], dtype=tapegrad.float64)
        b.grad = tapegrad.tensor([0.3, 0.4], dtype=tapegrad.float64)
        opt.step()
    snapshot = copy.deepcopy({k: {n: v.tolist() for n, v in s.items()} for k, s in
                              ((0, opt.state.get(a, {})), (1, opt.state.get(b, {})))})
    values = (a.tolist(), b.tolist())
    if opt.state.get(b):
        key = next(k for k in opt.state[b] if k != "step")
        opt.state[b][key] = tapegrad.zeros(5, dtype=tapegrad.float64)  # wrong shape for b
        with pytest.raises(RuntimeError, match=re.escape(f"optimizer state '{key}' has shape [5]")):
            opt.step()
    else:  # plain SGD keeps no state: a gradient of the wrong shape (set behind the setter's back)
        b._grad = tapegrad.zeros(5, dtype=tapegrad.float64)
        with pytest.raises(RuntimeError, match=re.escape("gradient has shape [5] but its parameter has shape [2]")):
            opt.step()
    assert (a.tolist(), b.tolist()) == values
    assert {n: v.tolist() for n, v in opt.state.get(a, {}).items()} == snapshot[0]


def test_bad_hyperparameter_in_a_later_group_changes_nothing() -> None:
    a, b = leaf([1.0]), leaf([1.0])
    opt = optim.Adam([{"params": [a]}, {"params": [b]}])
    opt.param_groups[1]["lr"] = "fast"
    a.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    b.grad = tapegrad.tensor([1.0], dtype=tapegrad.float64)
    with pytest.raises(ValueError):
        opt.step()
    assert a.item() == 1.0 and a not in opt.state


@pytest.mark.parametrize("name, kwargs, error, message", VALIDATION_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}" for c in VALIDATION_CASES])
def test_argument_validation(name, kwargs, error, message) -> None:
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        make(name, [leaf([1.0])], **kwargs)


def test_tensor_lr_must_have_one_element() -> None:
    with pytest.raises(ValueError, match="^Tensor lr must be 1-element$"):
        optim.SGD([leaf([1.0])], lr=tapegrad.tensor([0.1, 0.2]))


def test_params_validation() -> None:
    w = leaf([1.0])
    with pytest.raises(TypeError, match=re.escape("params argument given to the optimizer should be an iterable "
                                                  "of Tensors or dicts, but got tapegrad.DoubleTensor")):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        optim.Adam([])
    with pytest.raises(TypeError, match="^optimizer can only optimize Tensors, but one of the params is int$"):
        optim.SGD([w, 3], lr=0.1)
    with pytest.raises(ValueError, match="^can't optimize a non-leaf Tensor$"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordering of tensors in sets will change between runs"):
        optim.SGD([{"params": {w}}], lr=0.1)
    with pytest.raises(ValueError, match="^some parameters appear in more than one parameter group$"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([w, w], lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(TypeError, match="^param_group must be a dict, but got <class 'list'>$"):
        opt.add_param_group([leaf([2.0])])


def test_required_hyperparameter() -> None:
    from tapegrad.optim.optimizer import required

    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": required})

    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Plain([leaf([1.0])])
    assert Plain([{"params": [leaf([1.0])], "lr": 0.1}]).param_groups[0]["lr"] == 0.1
    with pytest.raises(NotImplementedError):
        Plain([{"params": [leaf([1.0])], "lr": 0.1}]).step()


def test_differentiable_is_not_supported() -> None:
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([leaf([1.0])], differentiable=True)
    with pytest.raises(RuntimeError, match="^`fused` does not support `differentiable`$"):
        optim.Adam([leaf([1.0])], differentiable=True, fused=True)


def test_options_without_effect_are_kept_in_the_group() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optim.Adam([leaf([1.0])], foreach=False, fused=True, capturable=True)
    group = opt.param_groups[0]
    assert (group["foreach"], group["fused"], group["capturable"]) == (False, True, True)
