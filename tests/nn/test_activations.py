"""Activation functions and modules: in-place forms, dtype errors, softmax's implicit dim, the
shape modules (Flatten, Unflatten, Identity) and module reprs.

The elementwise maths itself (forward against NumPy and PyTorch, gradcheck, gradients and
grad_fn names) is covered by rows of the op table (tests/ops/optable.py); this file covers what
the table does not: the module layer, in-place semantics and error paths.
"""
from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.autograd import gradgradcheck

TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-14)}


def _torch():
    return pytest.importorskip("torch")


def _data(shape, seed: int = 0, dtype: str = "float64") -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 2).astype(dtype)


def _close(ours, theirs, dtype: str) -> None:
    np.testing.assert_allclose(np.array(ours.detach().numpy()), theirs.detach().numpy(), **TOLERANCE[dtype])


# (name, tapegrad call, torch call): each takes (library's functional module, tensor).
ACTIVATIONS = [
    ("relu", lambda F, x: F.relu(x), None),
    ("leaky_relu", lambda F, x: F.leaky_relu(x, 0.1), None),
    ("gelu", lambda F, x: F.gelu(x), None),
    ("gelu_tanh", lambda F, x: F.gelu(x, approximate="tanh"), None),
    ("silu", lambda F, x: F.silu(x), None),
    ("elu", lambda F, x: F.elu(x, 0.7), None),
    ("selu", lambda F, x: F.selu(x), None),
    ("celu", lambda F, x: F.celu(x, 1.3), None),
    ("hardtanh", lambda F, x: F.hardtanh(x, -0.5, 0.8), None),
    ("relu6", lambda F, x: F.relu6(x * 4), None),
    ("softplus", lambda F, x: F.softplus(x, 2.0, 1.0), None),
    ("sigmoid", lambda F, x: F.sigmoid(x), None),
    ("tanh", lambda F, x: F.tanh(x), None),
    ("logsigmoid", lambda F, x: F.logsigmoid(x), None),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x * 2), None),
    ("hardswish", lambda F, x: F.hardswish(x * 2), None),
    ("mish", lambda F, x: F.mish(x), None),
    ("softsign", lambda F, x: F.softsign(x), None),
    ("tanhshrink", lambda F, x: F.tanhshrink(x), None),
    ("softshrink", lambda F, x: F.softshrink(x, 1.2), None),
    ("hardshrink", lambda F, x: F.hardshrink(x, 0.8), None),
    ("threshold", lambda F, x: F.threshold(x, 0.3, -2.0), None),
    ("rrelu_eval", lambda F, x: F.rrelu(x, 0.1, 0.4), None),
]

# (name, call with inplace=True, grad_fn name PyTorch gives the in-place result)
INPLACE = [
    ("relu", lambda F, x: F.relu(x, inplace=True), "ReluBackward0"),
    ("leaky_relu", lambda F, x: F.leaky_relu(x, 0.2, inplace=True), "LeakyReluBackward1"),
    ("leaky_relu_fn", lambda F, x: F.leaky_relu_(x, 0.2), "LeakyReluBackward1"),
    ("elu", lambda F, x: F.elu(x, 0.5, inplace=True), "EluBackward1"),
    ("elu_fn", lambda F, x: F.elu_(x), "EluBackward1"),
    ("selu", lambda F, x: F.selu(x, inplace=True), "EluBackward1"),
    ("celu", lambda F, x: F.celu(x, 2.0, inplace=True), "CeluBackward1"),
    ("silu", lambda F, x: F.silu(x, inplace=True), "SiluBackward0"),
    ("hardtanh", lambda F, x: F.hardtanh(x, -0.5, 0.5, inplace=True), "HardtanhBackward0"),
    ("hardtanh_fn", lambda F, x: F.hardtanh_(x), "HardtanhBackward0"),
    ("relu6", lambda F, x: F.relu6(x * 4, inplace=True), "HardtanhBackward0"),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x, inplace=True), "HardsigmoidBackward0"),
    ("hardswish", lambda F, x: F.hardswish(x, inplace=True), "HardswishBackward0"),
    ("mish", lambda F, x: F.mish(x, inplace=True), "MishBackward0"),
    ("selu_fn", lambda F, x: F.selu_(x), "EluBackward1"),
    ("celu_fn", lambda F, x: F.celu_(x, 2.0), "CeluBackward1"),
    # The result no longer tells which elements were replaced by a value above the threshold:
    # the old values are kept for backward, as in PyTorch.
    ("threshold", lambda F, x: F.threshold(x, 0.1, 5.0, inplace=True), "ThresholdBackward1"),
    ("threshold_fn", lambda F, x: F.threshold_(x, -0.2, 0.0), "ThresholdBackward1"),
    ("rrelu_eval", lambda F, x: F.rrelu(x, 0.2, 0.3, inplace=True), "RreluWithNoiseBackward1"),
]


# ==================================================================== functional forms

@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, call, _", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch_forward_backward_and_grad_fn(name, call, _, dtype):
    torch = _torch()
    data = _data((3, 5), seed=len(name), dtype=dtype)
    x = tapegrad.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    y, ty = call(F, x), call(torch.nn.functional, tx)
    assert y.dtype.scalar_name == {"float32": "Float", "float64": "Double"}[dtype]
    _close(y, ty, dtype)
    assert y.grad_fn.name() == ty.grad_fn.name()
    upstream = _data((3, 5), seed=99, dtype=dtype)
    y.backward(tapegrad.tensor(upstream))
    ty.backward(torch.tensor(upstream))
    _close(x.grad, tx.grad, dtype)


@pytest.mark.torch
@pytest.mark.parametrize("name, call, grad_name", INPLACE, ids=[a[0] for a in INPLACE])
def test_inplace_activation_writes_the_input_and_records_torchs_step(name, call, grad_name):
    torch = _torch()
    data = _data((4, 3), seed=3)
    x = tapegrad.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    h, th = x * 1.5, tx * 1.5
    y, ty = call(F, h), call(torch.nn.functional, th)
    if name != "relu6":  # relu6's call scales first, so its result is a new tensor
        assert y is h
    assert ty.grad_fn.name() == grad_name
    assert y.grad_fn.name() == grad_name
    _close(y, ty, "float64")
    upstream = _data((4, 3), seed=5)
    y.backward(tapegrad.tensor(upstream))
    ty.backward(torch.tensor(upstream))
    _close(x.grad, tx.grad, "float64")


@pytest.mark.parametrize("name, call, _", INPLACE, ids=[a[0] for a in INPLACE])
def test_inplace_activation_without_grad_updates_the_buffer_and_version(name, call, _):
    x = tapegrad.tensor(_data((2, 3), seed=1))
    expected = call(F, x.clone() * 1).detach() if name == "relu6" else None
    before = x._version
    y = call(F, x)
    if name == "relu6":
        np.testing.assert_allclose(y.numpy(), expected.numpy())
    else:
        assert y is x and x._version == before + 1
        assert x.grad_fn is None


@pytest.mark.parametrize("call", [lambda x: F.relu(x, inplace=True), lambda x: F.leaky_relu(x, inplace=True),
                                  lambda x: F.silu(x, inplace=True)])
def test_inplace_activation_on_a_leaf_requiring_grad_raises(call):
    x = tapegrad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        call(x)


def test_inplace_with_negative_slope_fails_in_backward_like_torch():
    x = tapegrad.tensor([-1.0, 2.0], requires_grad=True)
    y = F.leaky_relu(x * 1, -0.2, inplace=True)
    np.testing.assert_allclose(y.detach().numpy(), [0.2, 2.0])
    with pytest.raises(RuntimeError, match="In-place leakyReLu backward calculation is triggered with a negative"):
        y.sum().backward()
    y = F.elu(x * 1, -0.5, inplace=True)
    with pytest.raises(RuntimeError, match="In-place elu backward calculation is triggered with a negative slope"):
        y.sum().backward()


@pytest.mark.parametrize("call, kernel", [
    (lambda x: F.leaky_relu(x), "leaky_relu_cpu"), (lambda x: F.gelu(x), "GeluKernelImpl"),
    (lambda x: F.silu(x), "silu_cpu"), (lambda x: F.elu(x), "elu_cpu"), (lambda x: F.selu(x), "elu_cpu"),
    (lambda x: F.celu(x), "elu_cpu"), (lambda x: F.leaky_relu(x, inplace=True), "leaky_relu_cpu"),
    (lambda x: F.logsigmoid(x), "log_sigmoid_cpu"), (lambda x: F.hardsigmoid(x), "hardsigmoid_cpu"),
    (lambda x: F.hardswish(x, inplace=True), "hardswish_cpu"), (lambda x: F.mish(x), "mish_cpu"),
    (lambda x: F.softshrink(x), "softshrink_check"), (lambda x: F.hardshrink(x), "hardshrink_cpu"),
])
@pytest.mark.parametrize("dtype, scalar_name", [(tapegrad.int64, "Long"), (tapegrad.bool, "Bool")])
def test_float_only_activations_reject_integer_and_bool_tensors_like_torch(call, kernel, dtype, scalar_name):
    x = tapegrad.tensor([1, 0, 1], dtype=dtype)
    with pytest.raises(NotImplementedError, match=f"\"{kernel}\" not implemented for '{scalar_name}'"):
        call(x)


def test_relu_and_hardtanh_keep_integer_dtypes_and_reject_bool():
    x = tapegrad.tensor([-3, 0, 2, 9])
    assert F.relu(x).tolist() == [0, 0, 2, 9] and F.relu(x).dtype is tapegrad.int64
    # Float bounds are truncated to the integer dtype, as PyTorch casts them.
    assert F.hardtanh(x, -1.5, 2.5).tolist() == [-1, 0, 2, 2]
    assert F.relu6(x).tolist() == [0, 0, 2, 6]
    flags = tapegrad.tensor([True, False])
    with pytest.raises(RuntimeError, match="Boolean inputs not supported for relu"):
        F.relu(flags)
    with pytest.raises(RuntimeError, match="Bool inputs not supported for hardtanh"):
        F.hardtanh(flags)


def test_activation_argument_errors_match_torch():
    x = tapegrad.randn(3)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        F.celu(x, 0.0)
    with pytest.raises(RuntimeError, match=r"lambda must be in range \[0, 3.40282e\+38\] for input dtype Float, "
                       "but found -0.5"):
        F.softshrink(x, -0.5)
    with pytest.raises(RuntimeError, match=r"lambda must be in range \[0, 1.79769e\+308\] for input dtype Double"):
        F.softshrink(x.double(), -1)
    assert F.hardshrink(x, -1).tolist() == x.tolist()  # no interval to zero: PyTorch accepts it
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(tapegrad.randn(2, 3))
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 0 is size 3"):
        F.glu(tapegrad.randn(3, 2), -2)
    with pytest.raises(RuntimeError, match="glu does not support scalars because halving size must be even"):
        F.glu(tapegrad.tensor(1.0))


def test_hardtanh_gradient_is_zero_on_the_bounds_unlike_clamp():
    x = tapegrad.tensor([-1.0, -0.5, 0.0, 1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    F.hardtanh(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]


def test_new_activations_at_their_kinks_and_far_tails_match_torch():
    torch = _torch()
    data = np.array([-1000.0, -30.0, -3.0, -0.5, -0.0, 0.0, 0.5, 3.0, 30.0, 1000.0, math.inf, -math.inf])
    for name, kw in (("logsigmoid", {}), ("hardsigmoid", {}), ("hardswish", {}), ("mish", {}), ("softshrink", {}),
                     ("hardshrink", {})):
        for dtype in ("float32", "float64"):
            x = tapegrad.tensor(data.astype(dtype), requires_grad=True)
            tx = torch.tensor(data.astype(dtype), requires_grad=True)
            y, ty = getattr(F, name)(x, **kw), getattr(torch.nn.functional, name)(tx, **kw)
            if "shrink" not in name:  # PyTorch's shrinks give -0 or +0 by which of its loops ran
                np.testing.assert_array_equal(np.signbit(y.detach().numpy()), np.signbit(ty.detach().numpy()),
                                              err_msg=f"{name} {dtype}")
            _close(y, ty, dtype)
            y.sum().backward()
            ty.sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), equal_nan=True, **TOLERANCE[dtype])


def test_activation_values_at_kinks_and_special_points():
    x = tapegrad.tensor([0.0, -0.0, math.inf, -math.inf, math.nan], dtype=tapegrad.float64)
    assert F.leaky_relu(x, 0.5).tolist()[:4] == [0.0, 0.0, math.inf, -math.inf]
    assert F.elu(x).tolist()[:4] == [0.0, 0.0, math.inf, -1.0]
    assert F.gelu(x).tolist()[:3] == [0.0, 0.0, math.inf]
    assert all(math.isnan(v) for v in (F.leaky_relu(x)[4].item(), F.gelu(x)[4].item(), F.silu(x)[4].item(),
                                        F.hardtanh(x)[4].item()))
    # The derivative at 0 takes the left branch (x <= 0), as PyTorch's kernels do.
    z = tapegrad.zeros(1, dtype=tapegrad.float64, requires_grad=True)
    F.leaky_relu(z, 0.3).sum().backward()
    assert z.grad.tolist() == [0.3]
    z.grad = None
    F.elu(z, 0.7).sum().backward()
    assert z.grad.tolist() == [0.7]


@pytest.mark.parametrize("call", [
    lambda x: F.gelu(x), lambda x: F.gelu(x, approximate="tanh"), lambda x: F.silu(x), lambda x: F.elu(x, 0.6),
    lambda x: F.celu(x, 1.7), lambda x: F.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x * 1, 0.2, inplace=True),
    lambda x: F.elu(x * 1, 0.4, inplace=True), lambda x: F.hardtanh(x, -0.7, 0.9),
])
def test_third_order_gradients_of_activations(call):
    # The op table checks second order; one more level runs the backward ops' own VJPs.
    x = tapegrad.tensor(_data((5,), seed=11), requires_grad=True)

    def first(t):
        (g,) = tapegrad.autograd.grad(call(t).sum(), t, create_graph=True)
        return g

    assert gradgradcheck(first, (x,))


# ==================================================================== softmax family

@pytest.mark.parametrize("fn, name", [(F.softmax, "softmax"), (F.log_softmax, "log_softmax"),
                                      (F.softmin, "softmin")])
@pytest.mark.parametrize("shape, implicit", [((4,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)])
def test_softmax_without_dim_warns_and_uses_the_legacy_dim(fn, name, shape, implicit):
    x = tapegrad.tensor(_data(shape, seed=2))
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name} has been deprecated") as record:
        out = fn(x)
    assert record[0].filename == __file__
    np.testing.assert_allclose(out.numpy(), fn(x, dim=implicit).numpy())


def test_softmax_with_dim_does_not_warn_and_keeps_dtype_argument():
    x = tapegrad.tensor(_data((2, 3), seed=4), dtype=tapegrad.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = F.softmax(x, dim=-1, dtype=tapegrad.float64)
        F.log_softmax(x, 1)
    assert out.dtype is tapegrad.float64
    np.testing.assert_allclose(out.numpy().sum(-1), [1.0, 1.0])


@pytest.mark.parametrize("module", [nn.Softmax(), nn.LogSoftmax(), nn.Softmin()])
def test_softmax_modules_without_dim_warn_at_the_callers_line(module):
    x = tapegrad.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice") as record:
        module(x)
    assert record[0].filename == __file__


@pytest.mark.torch
def test_softmax_modules_match_torch():
    torch = _torch()
    data = _data((2, 3, 4), seed=8)
    for ours, theirs in ((nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.LogSoftmax(-1), torch.nn.LogSoftmax(-1)),
                         (nn.Softmin(0), torch.nn.Softmin(0))):
        _close(ours(tapegrad.tensor(data)), theirs(torch.tensor(data)), "float64")
        assert repr(ours) == repr(theirs)


# ==================================================================== activation modules

def _module_pairs(torch):
    """Modules built with the same arguments in both libraries."""
    specs = [
        ("ReLU", (), {}), ("ReLU", (), {"inplace": True}), ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}),
        ("LeakyReLU", (), {"negative_slope": 0.3, "inplace": True}), ("GELU", (), {}), ("GELU", ("tanh",), {}),
        ("SiLU", (), {}), ("SiLU", (True,), {}), ("ELU", (), {}), ("ELU", (0.5, True), {}), ("SELU", (), {}),
        ("SELU", (True,), {}), ("CELU", (), {"alpha": 2.0}), ("CELU", (1.0, True), {}), ("Tanh", (), {}),
        ("Sigmoid", (), {}), ("Hardtanh", (), {}), ("Hardtanh", (-2.0, 3.0), {}), ("Hardtanh", (-1, 1, True), {}),
        ("ReLU6", (), {}), ("ReLU6", (True,), {}), ("Softplus", (), {}), ("Softplus", (2, 10), {}),
        ("Softmax", (), {}), ("Softmax", (1,), {}), ("LogSoftmax", (), {"dim": -1}), ("Softmin", (0,), {}),
        ("Identity", (), {}), ("Identity", (3,), {"unused": "x"}), ("Flatten", (), {}), ("Flatten", (0, 2), {}),
        ("Unflatten", (1, (2, 3)), {}), ("Unflatten", (-1, [3, -1]), {}),
        ("LogSigmoid", (), {}), ("Hardsigmoid", (), {}), ("Hardsigmoid", (True,), {}), ("Hardswish", (), {}),
        ("Hardswish", (), {"inplace": True}), ("Mish", (), {}), ("Mish", (True,), {}), ("Softsign", (), {}),
        ("Tanhshrink", (), {}), ("Softshrink", (), {}), ("Softshrink", (0.3,), {}), ("Hardshrink", (), {}),
        ("Hardshrink", (), {"lambd": 1.5}), ("GLU", (1,), {}), ("GLU", (), {"dim": -2}),
    ]
    return [(getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)) for name, args, kwargs
            in specs]


@pytest.mark.torch
def test_activation_and_shape_module_reprs_equal_torchs():
    torch = _torch()
    for ours, theirs in _module_pairs(torch):
        assert repr(ours) == repr(theirs)


@pytest.mark.torch
def test_activation_modules_compute_what_torch_computes():
    torch = _torch()
    data = _data((2, 6, 3), seed=6)
    for ours, theirs in _module_pairs(torch):
        x, tx = tapegrad.tensor(data) * 1, torch.tensor(data) * 1
        if type(ours).__name__.startswith("Softm") or type(ours).__name__ == "LogSoftmax":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, ty = ours(x), theirs(tx)
        else:
            y, ty = ours(x), theirs(tx)
        assert tuple(y.shape) == tuple(ty.shape)
        _close(y, ty, "float64")
        if getattr(ours, "inplace", False):
            assert y is x and ty is tx


def test_inplace_module_writes_its_input():
    x = tapegrad.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 2.0]
    assert nn.ReLU()(x) is not x


def test_module_attributes_follow_torch_names():
    assert nn.LeakyReLU().negative_slope == 0.01 and nn.LeakyReLU().inplace is False
    assert nn.GELU().approximate == "none"
    assert nn.ELU().alpha == 1.0
    assert (nn.ReLU6().min_val, nn.ReLU6().max_val) == (0.0, 6.0)
    assert nn.Softmax().dim is None
    assert (nn.Flatten().start_dim, nn.Flatten().end_dim) == (1, -1)
    with pytest.raises(AssertionError, match=r"max_val \(1\) must be greater than min_val \(2\)"):
        nn.Hardtanh(2, 1)
    with pytest.warns(FutureWarning, match="min_value` is deprecated"):
        assert nn.Hardtanh(min_value=-3.0).min_val == -3.0


def test_flatten_unflatten_and_identity():
    x = tapegrad.arange(24.0).reshape(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Unflatten(2, (2, 2))(x).shape == (2, 3, 2, 2)
    assert nn.Unflatten(-1, (2, -1))(x).shape == (2, 3, 2, 2)
    assert nn.Identity(1, 2, a=3)(x) is x
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found type int"):
        nn.Unflatten(1, 6)
    with pytest.raises(TypeError, match="found element of type float at pos 1"):
        nn.Unflatten(1, (2, 3.0))
    with pytest.raises(TypeError, match="invalid argument type for dim parameter"):
        nn.Unflatten(1.0, (2, 3))
    # Gradients flow through the reshapes.
    leaf = tapegrad.ones(2, 6, requires_grad=True)
    (nn.Unflatten(1, (2, 3))(leaf) * 2).sum().backward()
    assert leaf.grad.tolist() == [[2.0] * 6] * 2


@pytest.mark.torch
def test_nested_model_repr_equals_torchs():
    torch = _torch()

    def build(lib):
        m = lib.nn
        return m.Sequential(OrderedDict([
            ("flatten", m.Flatten()),
            ("body", m.Sequential(m.Linear(12, 8), m.LeakyReLU(0.2, inplace=True), m.Linear(8, 8, bias=False),
                                  m.GELU(approximate="tanh"))),
            ("blocks", m.ModuleList([m.Linear(8, 8), m.SiLU(), m.SiLU(), m.SiLU(), m.Linear(8, 4)])),
            ("heads", m.ModuleDict({"logits": m.LogSoftmax(dim=1), "probs": m.Softmax(dim=1)})),
            ("act", m.ELU(alpha=0.5)),
            ("empty", m.Sequential()),
            ("loss", m.CrossEntropyLoss(label_smoothing=0.1)),
        ]))

    assert repr(build(tapegrad)) == repr(build(torch))


def test_sequential_forward_trains_an_mlp_with_new_activations():
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 1))
    x = tapegrad.randn(16, 3)
    y = x.sum(1, keepdim=True)
    loss_fn = nn.MSELoss()
    first = None
    for _ in range(40):
        loss = loss_fn(model(x), y)
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        with tapegrad.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
    assert loss.item() < 0.5 * first
