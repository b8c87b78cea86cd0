"""``nn.utils.parametrize`` and ``nn.utils.parametrizations`` (orthogonal, weight_norm,
spectral_norm) against PyTorch: values, gradients, training steps, state-dict keys, removal and
errors."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.nn.utils import parametrize as P


def _torch():
    return pytest.importorskip("torch")


def _with_values_of(ours, theirs):
    """``ours`` with every parameter and buffer set to ``theirs``'s values (same state-dict layout)."""
    with tapegrad.no_grad():
        for (key, mine), (their_key, value) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert key == their_key
            mine.copy_(tapegrad.tensor(value.numpy()))
    return ours


def _pair(make):
    """``make(lib)`` for PyTorch and for tapegrad, tapegrad's module holding PyTorch's values."""
    theirs = make(_torch())
    return _with_values_of(make(tapegrad), theirs), theirs


def _close(ours, theirs, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


def _loss(lib, module, shape=(2, 3), seed=0):
    rng = np.random.default_rng(seed)
    dtype = next(module.parameters()).dtype
    x = lib.tensor(rng.standard_normal(shape), dtype=dtype)
    out = module(x)
    weights = lib.tensor(rng.standard_normal(tuple(out.shape)), dtype=dtype)
    return (out * weights).sum()


def _check_step(ours, theirs, shape=(2, 3), rtol=1e-6, atol=1e-7):
    """Same loss, same gradients of every parameter (by name)."""
    torch = _torch()
    loss_ours, loss_theirs = _loss(tapegrad, ours, shape), _loss(torch, theirs, shape)
    _close(loss_ours, loss_theirs, rtol, atol)
    loss_ours.backward()
    loss_theirs.backward()
    ours_grads = {name: p.grad for name, p in ours.named_parameters()}
    theirs_grads = {name: p.grad for name, p in theirs.named_parameters()}
    assert list(ours_grads) == list(theirs_grads)
    for name, grad in theirs_grads.items():
        assert (ours_grads[name] is None) == (grad is None), name
        if grad is not None:
            _close(ours_grads[name], grad, rtol, atol)


def _train(ours, theirs, steps=3, shape=(2, 3), rtol=1e-6, atol=1e-7):
    """A few SGD steps on both; parameters and buffers agree after each."""
    torch = _torch()
    opt_ours = tapegrad.optim.SGD(ours.parameters(), lr=0.1)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(steps):
        for lib, module, opt in ((tapegrad, ours, opt_ours), (torch, theirs, opt_theirs)):
            opt.zero_grad()
            _loss(lib, module, shape, seed=step).backward()
            opt.step()
        for (key, mine), (their_key, value) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert key == their_key
            _close(mine, value, rtol, atol)


def _message(error) -> str:
    return str(error).replace("tapegrad.", "torch.")


def _raises_like_torch(call):
    """``call(lib)`` raises the same type with the same message in PyTorch and tapegrad."""
    torch = _torch()
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    assert _message(ours.value) == str(theirs.value)


# ---------------------------------------------------------------- parametrizations to register

def _symmetric(lib, with_inverse=True):
    class Symmetric(lib.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).mT

    if with_inverse:
        Symmetric.right_inverse = lambda self, a: a.triu()
    return Symmetric()


def _scale(lib, factor=2.0):
    class Scale(lib.nn.Module):
        def forward(self, x):
            return x * factor

        def right_inverse(self, x):
            return x / factor

    return Scale()


def _split(lib):
    """A parametrization of two tensors: w = a * exp(b), started from a = w, b = 0."""
    class Split(lib.nn.Module):
        def forward(self, a, b):
            return a * b.exp()

        def right_inverse(self, w):
            return w, lib.zeros_like(w)

    return Split()


def _linear(lib, dtype="float64"):
    return lib.nn.Linear(3, 3).to(getattr(lib, dtype))


# ---------------------------------------------------------------- register_parametrization

@pytest.mark.torch
def test_register_swaps_the_class_and_moves_the_tensor():
    ours, theirs = _pair(_linear)
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        original = module.weight
        lib.nn.utils.parametrize.register_parametrization(module, "weight", _symmetric(lib))
        assert module.parametrizations.weight.original is original  # kept: an optimizer still holds it
    assert type(ours).__name__ == type(theirs).__name__ == "ParametrizedLinear"
    assert isinstance(ours, nn.Linear) and type(ours) is not nn.Linear
    assert P.type_before_parametrizations(ours) is nn.Linear
    assert P.type_before_parametrizations(nn.Linear(2, 2)) is nn.Linear
    assert P.is_parametrized(ours) and P.is_parametrized(ours, "weight") and not P.is_parametrized(ours, "bias")
    assert not P.is_parametrized(nn.Linear(2, 2))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    # Other Linear instances keep their own class and a plain weight.
    assert type(nn.Linear(2, 2)) is nn.Linear
    _close(ours.weight, theirs.weight)
    assert tapegrad.equal(ours.weight, ours.weight.mT)
    _check_step(ours, theirs, shape=(2, 3))


@pytest.mark.torch
def test_chained_parametrizations_assignment_and_training():
    ours, theirs = _pair(_linear)
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        register = lib.nn.utils.parametrize.register_parametrization
        register(module, "weight", _symmetric(lib))
        register(module, "weight", _scale(lib, 3.0))
        assert len(module.parametrizations.weight) == 2
    _close(ours.parametrizations.weight.original, theirs.parametrizations.weight.original)
    _close(ours.weight, theirs.weight)
    # Assigning runs the right inverses, last registered first, into the original.
    value = np.arange(9.0).reshape(3, 3)
    value = value + value.T
    ours.weight = tapegrad.tensor(value)
    theirs.weight = _torch().tensor(value)
    _close(ours.parametrizations.weight.original, theirs.parametrizations.weight.original)
    _close(ours.weight, theirs.weight)
    _train(ours, theirs)


@pytest.mark.torch
def test_sequence_right_inverse_registers_original0_original1():
    ours, theirs = _pair(_linear)
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        lib.nn.utils.parametrize.register_parametrization(module, "weight", _split(lib))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    parametrizations = ours.parametrizations.weight
    assert not parametrizations.is_tensor and parametrizations.ntensors == 2
    assert isinstance(parametrizations.original0, nn.Parameter) and parametrizations.original1.requires_grad
    _close(ours.weight, theirs.weight)
    _check_step(ours, theirs)
    _train(ours, theirs)


@pytest.mark.torch
def test_parametrized_buffer():
    def make(lib):
        module = _linear(lib)
        module.register_buffer("mask", lib.tensor([[1.0, -2.0, 0.5]] * 3, dtype=lib.float64))
        return module

    ours, theirs = _pair(make)
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        lib.nn.utils.parametrize.register_parametrization(module, "mask", _scale(lib, 4.0))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == ["parametrizations.mask.original"]
    _close(ours.mask, theirs.mask)
    _close(ours.parametrizations.mask.original, theirs.parametrizations.mask.original)


@pytest.mark.torch
@pytest.mark.parametrize("leave_parametrized", [True, False])
def test_remove_parametrizations(leave_parametrized):
    ours, theirs = _pair(_linear)
    originals = []
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        lib.nn.utils.parametrize.register_parametrization(module, "weight", _scale(lib, 2.0))
        lib.nn.utils.parametrize.register_parametrization(module, "bias", _scale(lib, 5.0))
        originals.append(module.parametrizations.weight.original)
        lib.nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized)
        assert type(module).__name__ == "ParametrizedLinear"  # bias is still parametrized
        lib.nn.utils.parametrize.remove_parametrizations(module, "bias", leave_parametrized)
    assert type(ours) is nn.Linear and not hasattr(ours, "parametrizations")
    assert ours.weight is originals[0] and isinstance(ours.weight, nn.Parameter)  # same object, new values
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    _close(ours.weight, theirs.weight)
    _close(ours.bias, theirs.bias)
    _train(ours, theirs, steps=2)


@pytest.mark.torch
def test_remove_sequence_parametrization():
    ours, theirs = _pair(_linear)
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        lib.nn.utils.parametrize.register_parametrization(module, "weight", _split(lib))
        with lib.no_grad():
            module.parametrizations.weight.original1.fill_(0.25)
        lib.nn.utils.parametrize.remove_parametrizations(module, "weight")
    assert type(ours) is nn.Linear and isinstance(ours.weight, nn.Parameter) and ours.weight.grad_fn is None
    _close(ours.weight, theirs.weight)

    def leave_unparametrized(lib):
        module = lib.nn.Linear(2, 2)
        lib.nn.utils.parametrize.register_parametrization(module, "weight", _split(lib))
        lib.nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)

    _raises_like_torch(leave_unparametrized)


def test_cached_computes_once_per_block():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 2

    m = P.register_parametrization(nn.Linear(2, 2), "weight", Counting())
    calls.clear()
    with P.cached():
        first = m.weight
        with P.cached():
            assert m.weight is first
        assert m.weight is first  # the outer block still caches
    assert len(calls) == 1
    assert m.weight is not first and len(calls) == 2
    assert not P._cache


def test_deepcopy_works_and_pickling_refuses():
    m = P.register_parametrization(nn.Linear(2, 2), "weight", _scale(tapegrad, 2.0))
    replica = copy.deepcopy(m)
    assert type(replica) is type(m)
    assert replica.parametrizations.weight.original is not m.parametrizations.weight.original
    assert tapegrad.equal(replica.weight, m.weight)
    with tapegrad.no_grad():
        replica.parametrizations.weight.original.zero_()
    # The cache is per instance: a copy (which shares the generated class) reads its own value.
    with P.cached():
        assert not tapegrad.equal(replica.weight, m.weight)
    with pytest.raises(RuntimeError, match="Serialization of parametrized modules is only supported"):
        pickle.dumps(m)


@pytest.mark.torch
def test_transfer_parametrizations_and_params():
    torch = _torch()
    results = []
    for lib in (torch, tapegrad):
        lib.manual_seed(0)
        source = lib.nn.Linear(3, 3).double()
        lib.nn.utils.parametrize.register_parametrization(source, "weight", _symmetric(lib))
        lib.nn.utils.parametrize.register_parametrization(source, "bias", _scale(lib))
        target = lib.nn.Linear(3, 3).double()
        lib.nn.utils.parametrize.transfer_parametrizations_and_params(source, target, "weight")
        assert target.parametrizations.weight.original is source.parametrizations.weight.original
        assert not lib.nn.utils.parametrize.is_parametrized(target, "bias")
        fresh = lib.nn.Module()
        lib.nn.utils.parametrize.transfer_parametrizations_and_params(source, fresh)
        assert sorted(fresh.parametrizations.keys()) == ["bias", "weight"]
        results.append((target.weight, fresh.bias, list(fresh.state_dict())))
    _close(results[1][0], results[0][0])
    _close(results[1][1], results[0][1])
    assert results[1][2] == results[0][2]


@pytest.mark.torch
@pytest.mark.parametrize("case", ["missing", "dtype", "shape", "second_dtype", "second_shape", "inverse_dtype",
                                  "not_tensor", "inverse_not_tensor", "no_inverse_on_assign", "remove_missing"])
def test_errors_match_torch(case):
    def call(lib):
        module = lib.nn.Linear(3, 3)
        register = lib.nn.utils.parametrize.register_parametrization

        class Cast(lib.nn.Module):
            def forward(self, x):
                return x.double()

        class Grow(lib.nn.Module):
            def forward(self, x):
                return lib.cat([x, x])

        class NotTensor(lib.nn.Module):
            def forward(self, x):
                return 1.0

        class InverseCast(lib.nn.Module):
            def forward(self, x):
                return x

            def right_inverse(self, x):
                return x.double()

        class InverseNotTensor(lib.nn.Module):
            def forward(self, x):
                return x

            def right_inverse(self, x):
                return 3

        if case == "missing":
            register(module, "foo", _scale(lib))
        elif case == "dtype":
            register(module, "weight", Cast())
        elif case == "shape":
            register(module, "weight", Grow())
        elif case == "second_dtype":
            register(module, "weight", _scale(lib))
            register(module, "weight", Cast())
        elif case == "second_shape":
            register(module, "weight", _scale(lib))
            register(module, "weight", Grow())
        elif case == "inverse_dtype":
            register(module, "weight", InverseCast())
        elif case == "not_tensor":
            register(module, "weight", NotTensor())
        elif case == "inverse_not_tensor":
            register(module, "weight", InverseNotTensor())
        elif case == "no_inverse_on_assign":
            register(module, "weight", _symmetric(lib, with_inverse=False))
            module.weight = lib.zeros(3, 3)
        elif case == "remove_missing":
            register(module, "weight", _scale(lib))
            lib.nn.utils.parametrize.remove_parametrizations(module, "bias")

    _raises_like_torch(call)


@pytest.mark.torch
def test_unsafe_allows_dtype_and_shape_changes():
    def make(lib):
        class Grow(lib.nn.Module):
            def forward(self, x):
                return lib.cat([x, x]).double()

        module = lib.nn.Linear(3, 2)
        lib.nn.utils.parametrize.register_parametrization(module, "weight", Grow(), unsafe=True)
        return module

    ours, theirs = make(tapegrad), make(_torch())
    assert ours.weight.shape == (4, 3) and ours.weight.dtype == tapegrad.float64
    assert ours.parametrizations.weight.unsafe
    P.register_parametrization(ours, "weight", _scale(tapegrad))
    assert ours.parametrizations.weight.unsafe  # stays unsafe
    assert theirs.weight.shape == (4, 3)


# ---------------------------------------------------------------- parametrizations.weight_norm

@pytest.mark.torch
@pytest.mark.parametrize("dim", [0, 1, None, -1, -2])
def test_weight_norm_parametrization_linear(dim):
    ours, theirs = _pair(lambda lib: lib.nn.Linear(3, 4).double())
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        lib.nn.utils.parametrizations.weight_norm(module, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    g_ours, g_theirs = ours.parametrizations.weight.original0, theirs.parametrizations.weight.original0
    assert tuple(g_ours.shape) == tuple(g_theirs.shape)
    _close(g_ours, g_theirs)
    _close(ours.weight, theirs.weight)
    _check_step(ours, theirs)
    _train(ours, theirs)


@pytest.mark.torch
@pytest.mark.parametrize("dim", [0, 2])
def test_weight_norm_parametrization_conv_float32(dim):
    ours, theirs = _pair(lambda lib: lib.nn.Conv2d(2, 3, 2))
    for lib, module in ((tapegrad, ours), (_torch(), theirs)):
        lib.nn.utils.parametrizations.weight_norm(module, dim=dim)
    _close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)
    _check_step(ours, theirs, shape=(1, 2, 3, 3), rtol=1e-4, atol=1e-5)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
def test_weight_norm_parametrization_loads_legacy_state_dict_and_removes():
    torch = _torch()
    legacy = torch.nn.utils.weight_norm(torch.nn.Linear(3, 2).double())
    state = {key: tapegrad.tensor(value.numpy()) for key, value in legacy.state_dict().items()}
    assert sorted(state) == ["bias", "weight_g", "weight_v"]
    ours = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2).double())
    result = ours.load_state_dict(dict(state))
    assert not result.missing_keys and not result.unexpected_keys
    _close(ours.parametrizations.weight.original0, legacy.weight_g)
    _close(ours.weight, legacy.weight)
    P.remove_parametrizations(ours, "weight")
    assert type(ours) is nn.Linear and isinstance(ours.weight, nn.Parameter)
    _close(ours.weight, legacy.weight)


# ---------------------------------------------------------------- parametrizations.spectral_norm

def _seeded(make, seed=7):
    """``make(lib)`` for both libraries right after seeding each with ``seed``."""
    torch = _torch()
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(seed)
        results.append(make(lib))
    return results


@pytest.mark.torch
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_parametrization_matches_torch_for_a_seed(n_power_iterations):
    def make(lib):
        module = lib.nn.Linear(4, 5)
        return lib.nn.utils.parametrizations.spectral_norm(module, n_power_iterations=n_power_iterations)

    ours, theirs = _seeded(make)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "bias", "parametrizations.weight.original", "parametrizations.weight.0._u", "parametrizations.weight.0._v"]
    _close(ours.parametrizations.weight[0]._u, theirs.parametrizations.weight[0]._u, rtol=1e-5, atol=1e-6)
    _close(ours.parametrizations.weight[0]._v, theirs.parametrizations.weight[0]._v, rtol=1e-5, atol=1e-6)
    # Each access in training mode runs n_power_iterations more steps; eval runs none.
    for _ in range(2):
        _close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)
    _close(ours.parametrizations.weight[0]._u, theirs.parametrizations.weight[0]._u, rtol=1e-5, atol=1e-6)
    _check_step(ours, theirs, shape=(2, 4), rtol=1e-5, atol=1e-6)
    _train(ours, theirs, shape=(2, 4), rtol=1e-5, atol=1e-6)
    ours.eval()
    theirs.eval()
    u = ours.parametrizations.weight[0]._u.numpy().copy()
    _close(ours.weight, theirs.weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.parametrizations.weight[0]._u.numpy(), u)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["conv", "conv_transpose", "dim1", "vector"])
def test_spectral_norm_parametrization_shapes(kind):
    def make(lib):
        if kind == "conv":
            return lib.nn.utils.parametrizations.spectral_norm(lib.nn.Conv2d(2, 3, 2).double())
        if kind == "conv_transpose":  # dim defaults to 1: the output channels
            return lib.nn.utils.parametrizations.spectral_norm(lib.nn.ConvTranspose2d(2, 3, 2).double())
        if kind == "dim1":
            return lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(3, 4).double(), dim=-1)
        return lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(3, 4).double(), name="bias")

    ours, theirs = _seeded(make)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (_, mine), (_, value) in zip(ours.named_buffers(), theirs.named_buffers()):
        _close(mine, value)
    shape = {"conv": (1, 2, 3, 3), "conv_transpose": (1, 2, 2, 2)}.get(kind, (2, 3))
    _check_step(ours, theirs, shape=shape)


@pytest.mark.torch
def test_spectral_norm_parametrization_errors():
    _raises_like_torch(lambda lib: lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(2, 2), "foo"))
    _raises_like_torch(lambda lib: lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(2, 2), dim=2))
    _raises_like_torch(lambda lib: lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(2, 2),
                                                                               n_power_iterations=0))


# ---------------------------------------------------------------- parametrizations.orthogonal

@pytest.mark.torch
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)], ids=["square", "tall", "wide"])
@pytest.mark.parametrize("use_trivialization", [True, False])
def test_orthogonal_matches_torch(orthogonal_map, shape, use_trivialization):
    def make(lib):
        module = lib.nn.Linear(shape[1], shape[0]).double()
        return lib.nn.utils.parametrizations.orthogonal(module, orthogonal_map=orthogonal_map,
                                                        use_trivialization=use_trivialization)

    ours, theirs = _seeded(make)  # a tall non-square base is completed with randn draws
    assert list(ours.state_dict()) == list(theirs.state_dict())
    weight = ours.weight
    n, k = shape
    gram = weight.mT @ weight if n >= k else weight @ weight.mT
    np.testing.assert_allclose(gram.detach().numpy(), np.eye(min(n, k)), atol=1e-10)
    _close(weight, theirs.weight, rtol=1e-9, atol=1e-10)
    _check_step(ours, theirs, shape=(2, shape[1]), rtol=1e-8, atol=1e-9)
    _train(ours, theirs, steps=2, shape=(2, shape[1]), rtol=1e-8, atol=1e-9)


@pytest.mark.torch
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "householder"])
def test_orthogonal_assignment_and_batches(orthogonal_map):
    torch = _torch()
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((2, 4, 3))
    q, _ = np.linalg.qr(rng.standard_normal((2, 4, 3)))
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(1)
        module = lib.nn.Module()
        module.weight = lib.nn.Parameter(lib.tensor(batch))
        lib.nn.utils.parametrizations.orthogonal(module, orthogonal_map=orthogonal_map)
        first = module.weight.detach().clone()
        module.weight = lib.tensor(q)  # orthogonal already: stored as the new base
        results.append((first, module.weight))
    for mine, theirs in zip(*results):
        _close(mine, theirs, rtol=1e-9, atol=1e-10)


@pytest.mark.torch
def test_orthogonal_errors():
    _raises_like_torch(lambda lib: lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), "foo"))
    _raises_like_torch(lambda lib: lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), "bias"))
    _raises_like_torch(lambda lib: lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), orthogonal_map="qr"))

    def assign_without_trivialization(lib):
        module = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), use_trivialization=False)
        module.weight = lib.eye(2)

    _raises_like_torch(assign_without_trivialization)

    def assign_wrong_shape(lib):
        module = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2))
        module.weight = lib.eye(3)

    _raises_like_torch(assign_wrong_shape)


def test_module_doctests():
    import doctest
    import sys

    for name in ("parametrize", "parametrizations"):
        module = sys.modules[f"tapegrad.nn.utils.{name}"]
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn})
        assert result.failed == 0 and result.attempted > 0


@pytest.mark.torch
def test_assigning_a_parameter_to_a_parametrized_name_is_refused():
    def assign(lib):
        module = _linear(lib)
        P.register_parametrization(module, "weight", _scale(tapegrad)) if lib is tapegrad else \
            lib.nn.utils.parametrize.register_parametrization(module, "weight", _scale(lib))
        module.weight = lib.nn.Parameter(lib.zeros(3, 3, dtype=lib.float64))

    _raises_like_torch(assign)


def test_load_state_dict_leaves_the_callers_dict_alone():
    module = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2))
    legacy = {"weight_g": tapegrad.ones(2, 1), "weight_v": tapegrad.ones(2, 3), "bias": tapegrad.zeros(2)}
    keys = list(legacy)
    module.load_state_dict(legacy)  # a pre-hook renames the legacy keys while loading
    assert list(legacy) == keys
    np.testing.assert_allclose(module.weight.detach().numpy(), np.full((2, 3), 3 ** -0.5), rtol=1e-6)
