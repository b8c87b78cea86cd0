"""``nn.init``: values bit-for-bit equal to ``torch.nn.init`` after the same seed (including how
much of the generator each initialiser consumes), fan computation, gains, errors, no_grad and
the in-place contract."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.nn import init

SHAPES = [(3, 5), (16, 4), (64, 33), (8, 3, 3, 3), (2, 7, 5)]
DTYPES = ["float32", "float64"]


def _torch():
    return pytest.importorskip("torch")


# (id, call(init module, tensor)) for initialisers that draw random numbers
RANDOM_INITS = [
    ("uniform", lambda inits, t: inits.uniform_(t, -0.5, 2.0)),
    ("normal", lambda inits, t: inits.normal_(t, 0.3, 2.0)),
    ("xavier_uniform", lambda inits, t: inits.xavier_uniform_(t, gain=2.0)),
    ("xavier_normal", lambda inits, t: inits.xavier_normal_(t)),
    ("kaiming_uniform_default", lambda inits, t: inits.kaiming_uniform_(t)),
    ("kaiming_uniform_linear", lambda inits, t: inits.kaiming_uniform_(t, a=math.sqrt(5))),
    ("kaiming_uniform_relu_fan_out", lambda inits, t: inits.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_default", lambda inits, t: inits.kaiming_normal_(t)),
    ("kaiming_normal_tanh_fan_out", lambda inits, t: inits.kaiming_normal_(t, mode="Fan_Out", nonlinearity="tanh")),
    ("kaiming_normal_leaky", lambda inits, t: inits.kaiming_normal_(t, a=0.2)),
    ("trunc_normal_wide", lambda inits, t: inits.trunc_normal_(t)),
    ("trunc_normal_std", lambda inits, t: inits.trunc_normal_(t, std=0.02, a=-0.04, b=0.04)),
    ("trunc_normal_narrow", lambda inits, t: inits.trunc_normal_(t, a=-0.1, b=0.1)),
    ("trunc_normal_tail", lambda inits, t: inits.trunc_normal_(t, 0.5, 1.0, 2.0, 3.0)),
    ("trunc_normal_far_tail", lambda inits, t: inits.trunc_normal_(t, 0.0, 1.0, 1.9, 4.0)),
]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name, call", RANDOM_INITS, ids=[r[0] for r in RANDOM_INITS])
def test_random_initialisers_equal_torchs_bit_for_bit(name, call, shape, dtype):
    torch = _torch()
    for seed in (0, 12345):
        torch.manual_seed(seed)
        tapegrad.manual_seed(seed)
        expected = call(torch.nn.init, torch.empty(shape, dtype=getattr(torch, dtype)))
        out = call(init, tapegrad.empty(shape, dtype=getattr(tapegrad, dtype)))
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
        # The generator advanced by exactly as much as PyTorch's.
        np.testing.assert_array_equal(tapegrad.rand(4, dtype=tapegrad.float64).numpy(),
                                      torch.rand(4, dtype=torch.float64).numpy())


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_initialisers_take_an_explicit_generator(dtype):
    torch = _torch()
    for name, call in (("kaiming_uniform_", lambda inits, t, g: inits.kaiming_uniform_(t, generator=g)),
                       ("xavier_normal_", lambda inits, t, g: inits.xavier_normal_(t, generator=g)),
                       ("trunc_normal_", lambda inits, t, g: inits.trunc_normal_(t, a=-0.5, b=0.5, generator=g)),
                       ("uniform_", lambda inits, t, g: inits.uniform_(t, generator=g))):
        ours = call(init, tapegrad.empty(6, 5, dtype=getattr(tapegrad, dtype)), tapegrad.Generator().manual_seed(9))
        theirs = call(torch.nn.init, torch.empty(6, 5, dtype=getattr(torch, dtype)), torch.Generator().manual_seed(9))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonal_and_sparse_match_torch(dtype):
    torch = _torch()
    for shape in ((4, 4), (3, 7), (7, 3), (4, 2, 3)):
        torch.manual_seed(1)
        tapegrad.manual_seed(1)
        ours = init.orthogonal_(tapegrad.empty(shape, dtype=getattr(tapegrad, dtype)), gain=1.5)
        theirs = torch.nn.init.orthogonal_(torch.empty(shape, dtype=getattr(torch, dtype)), gain=1.5)
        # A QR decomposition: LAPACK builds may round differently in the last bits.
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    torch.manual_seed(2)
    tapegrad.manual_seed(2)
    ours = init.sparse_(tapegrad.empty(10, 4, dtype=getattr(tapegrad, dtype)), 0.3, std=0.5)
    theirs = torch.nn.init.sparse_(torch.empty(10, 4, dtype=getattr(torch, dtype)), 0.3, std=0.5)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.torch
def test_deterministic_initialisers_match_torch():
    torch = _torch()
    for call in (lambda inits, t: inits.constant_(t, 0.25), lambda inits, t: inits.ones_(t),
                 lambda inits, t: inits.zeros_(t)):
        np.testing.assert_array_equal(call(init, tapegrad.empty(2, 3)).numpy(),
                                      call(torch.nn.init, torch.empty(2, 3)).numpy())
    for shape in ((3, 5), (5, 3)):
        np.testing.assert_array_equal(init.eye_(tapegrad.empty(shape)).numpy(),
                                      torch.nn.init.eye_(torch.empty(shape)).numpy())
    for shape, groups in (((4, 2, 3), 1), ((4, 2, 3, 3), 2), ((6, 3, 2, 3, 3), 3), ((2, 4, 5), 1)):
        np.testing.assert_array_equal(init.dirac_(tapegrad.empty(shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(shape), groups).numpy())


@pytest.mark.torch
def test_calculate_gain_matches_torch():
    torch = _torch()
    cases = [("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
             ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu", None)]
    for nonlinearity, param in cases:
        assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_calculate_gain_values_and_errors():
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("leaky_relu", 1) == 1.0
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_computation_and_its_errors():
    assert init._calculate_fan_in_and_fan_out(tapegrad.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(tapegrad.empty(8, 4, 3, 2)) == (24, 48)
    for call in (init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_):
        with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2"):
            call(tapegrad.empty(4))
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(tapegrad.empty(2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(tapegrad.empty(2, 2, 2))
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions are supported"):
        init.dirac_(tapegrad.empty(2, 2))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        init.dirac_(tapegrad.empty(3, 2, 3), groups=2)
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(tapegrad.empty(3))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.sparse_(tapegrad.empty(3), 0.5)


def test_kaiming_on_an_empty_tensor_warns_and_leaves_it():
    empty = tapegrad.empty(0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op") as record:
        assert init.kaiming_uniform_(empty) is empty
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_normal_(empty)


def test_trunc_normal_warns_when_the_mean_is_far_from_the_window():
    with pytest.warns(UserWarning, match="mean is more than 2 std from \\[a, b\\]"):
        init.trunc_normal_(tapegrad.empty(10), mean=10.0, std=1.0, a=-1.0, b=1.0)


def test_trunc_normal_stays_in_its_window():
    tapegrad.manual_seed(3)
    for a, b in ((-2.0, 2.0), (-0.1, 0.1), (1.5, 4.0)):
        values = init.trunc_normal_(tapegrad.empty(2000, dtype=tapegrad.float64), a=a, b=b).numpy()
        assert values.min() >= a and values.max() <= b


@pytest.mark.parametrize("call", [
    lambda p: init.uniform_(p), lambda p: init.normal_(p), lambda p: init.constant_(p, 2.0), lambda p: init.ones_(p),
    lambda p: init.zeros_(p), lambda p: init.eye_(p), lambda p: init.xavier_uniform_(p),
    lambda p: init.xavier_normal_(p), lambda p: init.kaiming_uniform_(p), lambda p: init.kaiming_normal_(p),
    lambda p: init.trunc_normal_(p), lambda p: init.orthogonal_(p), lambda p: init.sparse_(p, 0.5),
])
def test_initialisers_fill_parameters_in_place_without_recording(call):
    param = nn.Parameter(tapegrad.zeros(4, 3))
    before = param._version
    out = call(param)
    assert out is param
    assert param.requires_grad and param.is_leaf and param.grad_fn is None
    assert param._version > before
    # The parameter still trains normally afterwards.
    (param * 2).sum().backward()
    assert param.grad.tolist() == [[2.0] * 3] * 4


def test_initialisers_write_through_views():
    base = tapegrad.zeros(4, 6)
    init.ones_(base[:, ::2])
    assert base[0].tolist() == [1.0, 0.0] * 3
    init.eye_(base[:2, :3])
    assert base[:2, :3].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_deprecated_names_warn_and_delegate():
    with pytest.warns(FutureWarning, match="`nn.init.constant` is now deprecated in favor of `nn.init.constant_`"):
        out = init.constant(tapegrad.empty(2), 3.0)
    assert out.tolist() == [3.0, 3.0]
    assert init.kaiming_normal.__name__ == "kaiming_normal"


def test_linear_default_init_is_kaiming_uniform_with_a_sqrt5():
    # Linear's own initialisation equals kaiming_uniform_(a=sqrt(5)) for the weight.
    tapegrad.manual_seed(4)
    layer = nn.Linear(5, 3)
    tapegrad.manual_seed(4)
    weight = init.kaiming_uniform_(tapegrad.empty(3, 5), a=math.sqrt(5))
    np.testing.assert_array_equal(layer.weight.detach().numpy(), weight.numpy())
