"""The legacy hook-based ``nn.utils.weight_norm`` / ``remove_weight_norm`` and
``nn.utils.spectral_norm`` / ``remove_spectral_norm`` against PyTorch: parameter and buffer
names, values for a seed, gradients, training steps, state dicts, removal and errors."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.nn.utils import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

pytestmark = pytest.mark.filterwarnings("ignore:`(torch.)?nn.utils.weight_norm` is deprecated:FutureWarning")


def _torch():
    return pytest.importorskip("torch")


def _close(ours, theirs, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


def _seeded(make, seed=11):
    """``make(lib)`` for tapegrad and PyTorch, each seeded with ``seed`` first."""
    results = []
    for lib in (tapegrad, _torch()):
        lib.manual_seed(seed)
        results.append(make(lib))
    return results


def _inputs(lib, module, shape, seed):
    rng = np.random.default_rng(seed)
    dtype = next(module.parameters()).dtype
    return lib.tensor(rng.standard_normal(shape), dtype=dtype), rng


def _loss(lib, module, shape, seed=0):
    x, rng = _inputs(lib, module, shape, seed)
    out = module(x)
    return (out * lib.tensor(rng.standard_normal(tuple(out.shape)), dtype=out.dtype)).sum()


def _same_state(ours, theirs, rtol=1e-6, atol=1e-7):
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        _close(ours_state[key], value, rtol, atol)


def _check_grads(ours, theirs, shape, rtol=1e-6, atol=1e-7):
    loss_ours, loss_theirs = _loss(tapegrad, ours, shape), _loss(_torch(), theirs, shape)
    _close(loss_ours, loss_theirs, rtol, atol)
    loss_ours.backward()
    loss_theirs.backward()
    theirs_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(theirs_params)
    for name, param in ours.named_parameters():
        _close(param.grad, theirs_params[name].grad, rtol, atol)


def _train(ours, theirs, shape, steps=3, rtol=1e-6, atol=1e-7):
    torch = _torch()
    optimizers = (tapegrad.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1))
    for step in range(steps):
        for lib, module, opt in zip((tapegrad, torch), (ours, theirs), optimizers):
            opt.zero_grad()
            _loss(lib, module, shape, seed=step).backward()
            opt.step()
        _same_state(ours, theirs, rtol, atol)


def _raises_like_torch(call):
    torch = _torch()
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    assert str(ours.value).replace("tapegrad.", "torch.") == str(theirs.value)


# ---------------------------------------------------------------- weight_norm

@pytest.mark.torch
@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_matches_torch(dim):
    ours, theirs = _seeded(lambda lib: lib.nn.utils.weight_norm(lib.nn.Linear(3, 4).double(), dim=dim))
    assert list(ours.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert tuple(ours.weight_g.shape) == tuple(theirs.weight_g.shape)  # () for dim=None and -1
    assert "weight" not in ours._parameters and not ours.weight.is_leaf
    _same_state(ours, theirs)
    _close(ours.weight, theirs.weight)
    _check_grads(ours, theirs, (2, 3))
    _train(ours, theirs, (2, 3))
    _close(ours.weight, theirs.weight)


@pytest.mark.torch
def test_weight_norm_conv_and_removal():
    ours, theirs = _seeded(lambda lib: lib.nn.utils.weight_norm(lib.nn.Conv2d(2, 3, 2), dim=1))
    _check_grads(ours, theirs, (1, 2, 3, 3), rtol=1e-5, atol=1e-6)
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        with lib.no_grad():
            module.weight_g.mul_(2)
        lib.nn.utils.remove_weight_norm(module)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    assert isinstance(ours.weight, nn.Parameter) and ours.weight.is_leaf and not ours._forward_pre_hooks
    _same_state(ours, theirs, rtol=1e-5, atol=1e-6)


def test_weight_norm_warns_as_deprecated():
    with pytest.warns(FutureWarning, match="nn.utils.parametrizations.weight_norm"):
        weight_norm(nn.Linear(2, 2))


@pytest.mark.torch
def test_weight_norm_errors():
    def twice(lib):
        lib.nn.utils.weight_norm(lib.nn.utils.weight_norm(lib.nn.Linear(2, 2)))

    _raises_like_torch(twice)
    _raises_like_torch(lambda lib: lib.nn.utils.remove_weight_norm(lib.nn.Linear(2, 2)))
    _raises_like_torch(lambda lib: lib.nn.utils.weight_norm(lib.nn.Linear(2, 2), name="foo"))
    _raises_like_torch(lambda lib: lib.nn.utils.weight_norm(lib.nn.LazyLinear(2)))


# ---------------------------------------------------------------- spectral_norm

@pytest.mark.torch
@pytest.mark.parametrize("n_power_iterations", [1, 2])
def test_spectral_norm_matches_torch_for_a_seed(n_power_iterations):
    def make(lib):
        return lib.nn.utils.spectral_norm(lib.nn.Linear(4, 5), n_power_iterations=n_power_iterations)

    ours, theirs = _seeded(make)
    assert list(ours.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert [n for n, _ in ours.named_buffers()] == ["weight_u", "weight_v"]
    _same_state(ours, theirs, rtol=1e-5, atol=1e-6)  # u and v from the same normal_ draws
    _close(ours.weight, theirs.weight)  # before the first forward: the raw weight
    _check_grads(ours, theirs, (2, 4), rtol=1e-5, atol=1e-6)
    _same_state(ours, theirs, rtol=1e-5, atol=1e-6)  # one power iteration in training
    _close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)
    _train(ours, theirs, (2, 4), rtol=1e-5, atol=1e-6)
    ours.eval()
    theirs.eval()
    u = ours.weight_u.numpy().copy()
    _close(_loss(tapegrad, ours, (2, 4)), _loss(_torch(), theirs, (2, 4)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.weight_u.numpy(), u)  # no power iteration in eval


@pytest.mark.torch
def test_spectral_norm_two_forwards_then_one_backward():
    # The GAN pattern: each forward must keep the u and v it used, though the next updates them.
    ours, theirs = _seeded(lambda lib: lib.nn.utils.spectral_norm(lib.nn.Linear(3, 3).double()))
    losses = []
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        loss = _loss(lib, module, (2, 3), seed=0) - _loss(lib, module, (2, 3), seed=1)
        loss.backward()
        losses.append(loss)
    _close(*losses)
    _close(ours.weight_orig.grad, theirs.weight_orig.grad)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["conv", "conv_transpose", "dim1"])
def test_spectral_norm_dims(kind):
    def make(lib):
        if kind == "conv":
            return lib.nn.utils.spectral_norm(lib.nn.Conv2d(2, 3, 2).double())
        if kind == "conv_transpose":  # dim defaults to 1
            return lib.nn.utils.spectral_norm(lib.nn.ConvTranspose2d(2, 3, 2).double())
        return lib.nn.utils.spectral_norm(lib.nn.Linear(3, 4).double(), dim=1)

    ours, theirs = _seeded(make)
    assert tuple(ours.weight_u.shape) == tuple(theirs.weight_u.shape)
    shape = {"conv": (1, 2, 3, 3), "conv_transpose": (1, 2, 2, 2)}.get(kind, (2, 3))
    _check_grads(ours, theirs, shape)
    _same_state(ours, theirs)


@pytest.mark.torch
def test_remove_spectral_norm_restores_a_plain_parameter():
    ours, theirs = _seeded(lambda lib: lib.nn.utils.spectral_norm(lib.nn.Linear(3, 4).double()))
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        module(lib.ones(1, 3, dtype=lib.float64))
        lib.nn.utils.remove_spectral_norm(module)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    assert isinstance(ours.weight, nn.Parameter) and not ours._forward_pre_hooks
    assert not ours._load_state_dict_pre_hooks
    assert not hasattr(ours, "weight_u") and not hasattr(ours, "weight_orig")
    _same_state(ours, theirs)


@pytest.mark.torch
def test_spectral_norm_state_dict_round_trip_and_version0_conversion():
    torch = _torch()
    ours, theirs = _seeded(lambda lib: lib.nn.utils.spectral_norm(lib.nn.Linear(3, 4).double()))
    for lib, module in ((tapegrad, ours), (torch, theirs)):
        module(lib.ones(2, 3, dtype=lib.float64))
    # A state dict in the current layout loads as it is.
    fresh = spectral_norm(nn.Linear(3, 4).double())
    result = fresh.load_state_dict({key: tapegrad.tensor(v.numpy()) for key, v in theirs.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    _same_state(fresh, theirs)
    # Version 0 saved the normalized weight and no v: v is solved from u and sigma.
    old = {key: value for key, value in theirs.state_dict().items() if key != "weight_v"}
    old["weight"] = theirs.weight.detach()
    targets = []
    for lib, module in ((tapegrad, spectral_norm(nn.Linear(3, 4).double())),
                        (torch, torch.nn.utils.spectral_norm(torch.nn.Linear(3, 4).double()))):
        state = {key: lib.tensor(value.numpy()) for key, value in old.items()}
        module.load_state_dict(state)
        targets.append(module)
    _same_state(*targets, rtol=1e-7, atol=1e-9)
    _close(targets[0].weight_v, theirs.weight_v, rtol=1e-5, atol=1e-7)


@pytest.mark.torch
def test_spectral_norm_errors():
    def twice(lib):
        lib.nn.utils.spectral_norm(lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2)))

    _raises_like_torch(twice)
    _raises_like_torch(lambda lib: lib.nn.utils.remove_spectral_norm(lib.nn.Linear(2, 2)))
    _raises_like_torch(lambda lib: lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2), n_power_iterations=0))
    _raises_like_torch(lambda lib: lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2), name="foo"))
    _raises_like_torch(lambda lib: lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2, bias=False), name="bias"))
    _raises_like_torch(lambda lib: lib.nn.utils.spectral_norm(lib.nn.LazyLinear(2)))


def test_hook_objects_are_public():
    m = spectral_norm(nn.Linear(2, 2))
    hooks = list(m._forward_pre_hooks.values())
    assert len(hooks) == 1 and isinstance(hooks[0], nn.utils.spectral_norm.__globals__["SpectralNorm"])
    assert remove_spectral_norm(m) is m
    assert remove_weight_norm(weight_norm(nn.Linear(2, 2))).weight.is_leaf
