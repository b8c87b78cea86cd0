"""``nn.utils.stateless.functional_call``, conv/linear + batch-norm fusion and ``skip_init``
against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.nn.utils import skip_init, stateless

pytestmark = pytest.mark.filterwarnings("ignore:`(torch.)?nn.utils.stateless.functional_call` is deprecated")


def _torch():
    return pytest.importorskip("torch")


def _close(ours, theirs, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


def _raises_like_torch(call):
    torch = _torch()
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    assert str(ours.value).replace("tapegrad.", "torch.") == str(theirs.value)


def _net(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()


def _given(lib, names_and_shapes, seed=1):
    rng = np.random.default_rng(seed)
    return {name: lib.tensor(rng.standard_normal(shape), requires_grad=True) for name, shape in names_and_shapes}


class _Tied:
    """A module holding one Parameter under two names (``first.weight`` and ``second.weight``)."""

    @staticmethod
    def make(lib):
        lib.manual_seed(0)
        module = lib.nn.Sequential(lib.nn.Linear(2, 2, bias=False), lib.nn.Linear(2, 2, bias=False)).double()
        module[1].weight = module[0].weight
        return module


# ---------------------------------------------------------------- functional_call

@pytest.mark.torch
def test_functional_call_values_gradients_and_module_untouched():
    torch = _torch()
    names = [("0.weight", (4, 3)), ("3.bias", (2,))]
    x = np.random.default_rng(2).standard_normal((5, 3))
    results = []
    for lib in (tapegrad, torch):
        net = _net(lib)
        before = {key: value.clone() for key, value in net.state_dict().items()}
        given = _given(lib, names)
        out = lib.nn.utils.stateless.functional_call(net, given, lib.tensor(x))
        out.square().sum().backward()
        for key, value in net.state_dict().items():
            if key.endswith("running_mean") or key.endswith("running_var") or key.endswith("tracked"):
                continue
            assert lib.equal(value, before[key]), key  # the module's own tensors are back
        assert net[0].weight.grad is None and net[3].bias.grad is None
        assert net[0].bias.grad is not None  # the tensors not given are the module's
        results.append((out, given["0.weight"].grad, given["3.bias"].grad, net[0].bias.grad))
    for mine, theirs in zip(*results):
        _close(mine, theirs)


@pytest.mark.torch
def test_functional_call_buffers_are_updated_in_the_given_dict():
    torch = _torch()
    x = np.random.default_rng(3).standard_normal((6, 3))
    results = []
    for lib in (tapegrad, torch):
        net = _net(lib)
        given = {"1.running_mean": lib.zeros(4, dtype=lib.float64), "1.running_var": lib.ones(4, dtype=lib.float64)}
        running_mean = given["1.running_mean"]
        lib.nn.utils.stateless.functional_call(net, given, (lib.tensor(x),))
        assert given["1.running_mean"] is running_mean
        assert lib.equal(net[1].running_mean, lib.zeros(4, dtype=lib.float64))  # the module's own: untouched
        results.append(given["1.running_mean"])
    _close(*results)


def _shifted_affine(lib):
    """A module whose forward takes a keyword argument, its linear weight parametrized as 2 * original."""
    class Affine(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = lib.nn.Linear(2, 2).double()

        def forward(self, x, *, shift):
            return self.linear(x) + shift

    class Double(lib.nn.Module):
        def forward(self, w):
            return w * 2

    lib.manual_seed(0)
    module = Affine()
    lib.nn.utils.parametrize.register_parametrization(module.linear, "weight", Double())
    return module


@pytest.mark.torch
def test_functional_call_args_kwargs_and_parametrized_originals():
    torch = _torch()
    results = []
    for lib in (tapegrad, torch):
        module = _shifted_affine(lib)
        given = {"linear.parametrizations.weight.original": lib.eye(2, dtype=lib.float64)}
        out = lib.nn.utils.stateless.functional_call(module, given, lib.ones(1, 2, dtype=lib.float64),
                                                      {"shift": lib.tensor(10.0, dtype=lib.float64)})
        # The given original is parametrized (weight = 2 I): out = 2 + bias + shift.
        np.testing.assert_allclose((out - module.linear.bias).detach().numpy(), [[12.0, 12.0]])
        results.append(out)
    _close(*results)


@pytest.mark.torch
@pytest.mark.parametrize("tie_weights", [True, False])
def test_functional_call_tied_weights(tie_weights):
    torch = _torch()
    x = np.array([[1.0, -2.0]])
    results = []
    for lib in (tapegrad, torch):
        module = _Tied.make(lib)
        given = {"0.weight": lib.eye(2, dtype=lib.float64) * 3}
        results.append(lib.nn.utils.stateless.functional_call(module, given, lib.tensor(x), tie_weights=tie_weights))
    _close(*results)
    if tie_weights:
        np.testing.assert_allclose(results[0].numpy(), 9 * x)


@pytest.mark.torch
def test_functional_call_errors():
    def conflicting(lib):
        module = _Tied.make(lib)
        given = {"0.weight": lib.zeros(2, 2), "1.weight": lib.ones(2, 2)}
        lib.nn.utils.stateless.functional_call(module, given, lib.ones(1, 2))

    def strict(lib):
        lib.nn.utils.stateless.functional_call(_net(lib), {"0.weight": lib.zeros(4, 3), "nope": lib.zeros(1)},
                                                lib.ones(2, 3), strict=True)

    def not_a_tensor(lib):
        lib.nn.utils.stateless.functional_call(_net(lib), {"0.weight": 3.0}, lib.ones(2, 3))

    def no_submodule(lib):
        lib.nn.utils.stateless.functional_call(_net(lib), {"7.weight": lib.zeros(1)}, lib.ones(2, 3))

    for call in (conflicting, strict, not_a_tensor, no_submodule):
        _raises_like_torch(call)


def test_functional_call_puts_back_what_it_swapped_when_a_later_entry_fails():
    net = _net(tapegrad)
    weight = net[0].weight
    with pytest.raises(TypeError):
        stateless.functional_call(net, {"0.weight": tapegrad.zeros(4, 3), "3.bias": "x"}, tapegrad.ones(2, 3))
    assert net[0].weight is weight


def test_functional_call_warns_as_deprecated():
    with pytest.warns(FutureWarning, match="functional_call"):
        stateless.functional_call(nn.Linear(2, 1), {}, tapegrad.ones(1, 2))


def test_functional_call_strict_accepts_exact_keys():
    net = nn.Linear(2, 1)
    given = {"weight": tapegrad.ones(1, 2), "bias": tapegrad.zeros(1)}
    out = stateless.functional_call(net, given, tapegrad.tensor([[1.0, 2.0]]), strict=True)
    assert out.tolist() == [[3.0]]


# ---------------------------------------------------------------- fusion

def _bn_with_statistics(lib, bn, seed):
    rng = np.random.default_rng(seed)
    n = bn.num_features
    with lib.no_grad():
        bn.running_mean.copy_(lib.tensor(rng.standard_normal(n)))
        bn.running_var.copy_(lib.tensor(rng.uniform(0.5, 2.0, n)))
        if bn.weight is not None:
            bn.weight.copy_(lib.tensor(rng.standard_normal(n)))
            bn.bias.copy_(lib.tensor(rng.standard_normal(n)))
    return bn.eval()


@pytest.mark.torch
@pytest.mark.parametrize("case", ["conv", "conv_no_bias", "conv_transpose", "bn_not_affine", "conv1d"])
def test_fuse_conv_bn_eval_matches_torch(case):
    torch = _torch()
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(0)
        if case == "conv_transpose":
            conv, bn, shape = lib.nn.ConvTranspose2d(2, 3, 2), lib.nn.BatchNorm2d(3), (1, 2, 3, 3)
        elif case == "conv1d":
            conv, bn, shape = lib.nn.Conv1d(2, 3, 2), lib.nn.BatchNorm1d(3), (2, 2, 5)
        else:
            conv = lib.nn.Conv2d(2, 3, 2, bias=case != "conv_no_bias")
            bn, shape = lib.nn.BatchNorm2d(3, affine=case != "bn_not_affine"), (1, 2, 4, 4)
        conv.eval()
        bn = _bn_with_statistics(lib, bn, 1)
        fused = lib.nn.utils.fuse_conv_bn_eval(conv, bn, transpose=case == "conv_transpose")
        assert fused is not conv and type(fused) is type(conv)
        assert isinstance(fused.weight, lib.nn.Parameter) and isinstance(fused.bias, lib.nn.Parameter)
        x = lib.tensor(np.random.default_rng(2).standard_normal(shape), dtype=lib.float32)
        _close(fused(x), bn(conv(x)), rtol=1e-4, atol=1e-5)
        results.append((fused.weight, fused.bias, fused(x)))
    for mine, theirs in zip(*results):
        _close(mine, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("features", [3, 1])
def test_fuse_linear_bn_eval_matches_torch(features):
    torch = _torch()
    results = []
    for lib in (tapegrad, torch):
        lib.manual_seed(0)
        linear = lib.nn.Linear(4, 3).eval()
        bn = _bn_with_statistics(lib, lib.nn.BatchNorm1d(features), 3)
        fused = lib.nn.utils.fuse_linear_bn_eval(linear, bn)
        results.append((fused.weight, fused.bias))
    for mine, theirs in zip(*results):
        _close(mine, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_fuse_weights_dtypes_and_requires_grad():
    torch = _torch()
    results = []
    for lib in (tapegrad, torch):
        conv_w = lib.ones(3, 2, 1, 1, dtype=lib.float64)
        w, b = lib.nn.utils.fuse_conv_bn_weights(conv_w, None, lib.zeros(3), lib.ones(3) * 4, 0.0, None, None)
        lw, lb = lib.nn.utils.fuse_linear_bn_weights(lib.ones(3, 2, requires_grad=True),
                                                     lib.ones(3, dtype=lib.float64), lib.zeros(3), lib.ones(3), 1.0,
                                                     lib.ones(3), lib.zeros(3))
        assert not w.requires_grad and lw.requires_grad
        results.append((w, b, lw, lb))
    for mine, theirs in zip(*results):
        assert str(mine.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        _close(mine, theirs)


@pytest.mark.torch
def test_fusion_errors():
    _raises_like_torch(lambda lib: lib.nn.utils.fuse_conv_bn_eval(lib.nn.Conv2d(1, 2, 1), lib.nn.BatchNorm2d(2)))
    _raises_like_torch(lambda lib: lib.nn.utils.fuse_linear_bn_eval(lib.nn.Linear(2, 3).eval(),
                                                                    lib.nn.BatchNorm1d(2).eval()))
    _raises_like_torch(lambda lib: lib.nn.utils.fuse_linear_bn_eval(
        lib.nn.Linear(2, 3).eval(), lib.nn.BatchNorm1d(3, track_running_stats=False).eval()))


# ---------------------------------------------------------------- skip_init

@pytest.mark.torch
def test_skip_init_leaves_the_random_stream_as_torch_does():
    torch = _torch()
    for lib in (tapegrad, torch):
        lib.manual_seed(5)
        module = lib.nn.utils.skip_init(lib.nn.Linear, 3, 2, dtype=lib.float64)
        assert tuple(module.weight.shape) == (2, 3) and module.weight.dtype == lib.float64
        assert module.weight.requires_grad and isinstance(module.bias, lib.nn.Parameter)
        after = lib.rand(4)
        lib.manual_seed(5)
        assert lib.equal(after, lib.rand(4))
    keyword = skip_init(nn.Conv2d, in_channels=1, out_channels=2, kernel_size=3)
    assert tuple(keyword.weight.shape) == (2, 1, 3, 3) and keyword.weight.device.type == "cpu"


@pytest.mark.torch
def test_skip_init_errors():
    _raises_like_torch(lambda lib: lib.nn.utils.skip_init(int))
    _raises_like_torch(lambda lib: lib.nn.utils.skip_init(lib.nn.ReLU))


def test_module_doctests():
    import doctest
    import sys
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for name in ("stateless", "fusion", "init", "weight_norm", "spectral_norm"):
            module = sys.modules[f"tapegrad.nn.utils.{name}"]
            result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn})
            assert result.failed == 0 and result.attempted > 0, name
