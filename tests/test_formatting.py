"""Tests for tapegrad.formatting: tensor text must match PyTorch exactly."""

import importlib.util
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapegrad.formatting import (
    get_printoptions,
    printoptions,
    set_printoptions,
    tensor_repr,
)

HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed")

HYPOTHESIS_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _reset_all_options():
    set_printoptions(profile="default")
    if HAVE_TORCH:
        import torch

        torch.set_printoptions(profile="default")


@pytest.fixture(autouse=True)
def _restore_printoptions():
    _reset_all_options()
    yield
    _reset_all_options()


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------------
# helpers comparing against the reference implementation
# ---------------------------------------------------------------------------


def _expected(t):
    return repr(t).replace("torch.", "tapegrad.")


def _ours(t):
    import torch as _torch

    grad_fn = t.grad_fn
    return tensor_repr(
        t.detach().numpy(),
        dtype_name=str(t.dtype).split(".")[-1],
        default_float_dtype_name=str(_torch.get_default_dtype()).split(".")[-1],
        requires_grad=t.requires_grad,
        grad_fn_name=None if grad_fn is None else type(grad_fn).__name__,
    )


def assert_same(t):
    expected = _expected(t)
    got = _ours(t)
    assert got == expected, f"\nexpected:\n{expected}\ngot:\n{got}"
    assert str(t).replace("torch.", "tapegrad.") == got


def _set_both(**kwargs):
    import torch as _torch

    _torch.set_printoptions(**kwargs)
    set_printoptions(**kwargs)


# ---------------------------------------------------------------------------
# literal expectations (no torch needed)
# ---------------------------------------------------------------------------


def test_literal_copy_slices_grad_fn():
    out = tensor_repr(np.array([[4.0, 27.0]], dtype=np.float32), dtype_name="float32",
                      grad_fn_name="CopySlices")
    assert out == "tensor([[ 4., 27.]], grad_fn=<CopySlices>)"


def test_literal_requires_grad_leaf():
    out = tensor_repr(np.array([2.0, 3.0], dtype=np.float32), dtype_name="float32",
                      requires_grad=True)
    assert out == "tensor([2., 3.], requires_grad=True)"


def test_literal_scalar_grad_fn():
    out = tensor_repr(np.array(28.0, dtype=np.float32), dtype_name="float32",
                      requires_grad=True, grad_fn_name="MulBackward0")
    assert out == "tensor(28., grad_fn=<MulBackward0>)"


def test_literal_scalar_fraction_grad_fn():
    out = tensor_repr(np.array(1128.6014, dtype=np.float32), dtype_name="float32",
                      grad_fn_name="MulBackward0")
    assert out == "tensor(1128.6014, grad_fn=<MulBackward0>)"


def test_literal_bools():
    out = tensor_repr(np.array([True, True, True, True]), dtype_name="bool")
    assert out == "tensor([True, True, True, True])"
    out = tensor_repr(np.array([True, False]), dtype_name="bool")
    assert out == "tensor([ True, False])"


def test_literal_integer_valued_floats_aligned():
    out = tensor_repr(np.arange(0, 16, 4, dtype=np.float32), dtype_name="float32")
    assert out == "tensor([ 0.,  4.,  8., 12.])"


def test_literal_ints_and_suffixes():
    assert tensor_repr(np.array(3), dtype_name="int64") == "tensor(3)"
    assert (tensor_repr(np.array([1, -20], dtype=np.int32), dtype_name="int32")
            == "tensor([  1, -20], dtype=tapegrad.int32)")
    assert (tensor_repr(np.array(3.0), dtype_name="float64")
            == "tensor(3., dtype=tapegrad.float64)")
    assert (tensor_repr(np.array(3.0), dtype_name="float64",
                        default_float_dtype_name="float64") == "tensor(3.)")


def test_literal_empty():
    assert tensor_repr(np.zeros((0,), np.float32), dtype_name="float32") == "tensor([])"
    assert (tensor_repr(np.zeros((0, 3), np.float32), dtype_name="float32")
            == "tensor([], size=(0, 3))")
    assert (tensor_repr(np.zeros((0,), np.int64), dtype_name="int64")
            == "tensor([], dtype=tapegrad.int64)")
    assert (tensor_repr(np.zeros((2, 0), np.bool_), dtype_name="bool")
            == "tensor([], size=(2, 0), dtype=tapegrad.bool)")


def test_literal_special_values():
    out = tensor_repr(np.array([math.nan, math.inf, -0.0, 1.0], np.float32),
                      dtype_name="float32")
    assert out == "tensor([nan, inf, -0., 1.])"
    assert tensor_repr(np.array(-0.0, np.float32), dtype_name="float32") == "tensor(-0.)"
    out = tensor_repr(np.array([math.nan, 1.5], np.float32), dtype_name="float32")
    assert out == "tensor([   nan, 1.5000])"
    out = tensor_repr(np.array([1e10, 1.0, -3.0], np.float32), dtype_name="float32")
    assert out == "tensor([ 1.0000e+10,  1.0000e+00, -3.0000e+00])"


def test_literal_device_suffix():
    out = tensor_repr(np.array([1.0, 2.0], np.float32), dtype_name="float32",
                      device="cuda:0", requires_grad=True)
    assert out == "tensor([1., 2.], device='cuda:0', requires_grad=True)"


SCI_ROWS = [
    [0.092806, 0.035988, -0.078202, 0.0071528, 0.066484, -0.028678, 0.16206,
     -0.15967, -0.0051681, -0.030598, 0.02485, -0.022256, 0.091315, 0.020434,
     0.057398, 0.041633, 0.02615, 0.093112, -0.051446, -0.16517],
    [0.1046, 0.052219, -0.016681, 0.0053033, -0.11963, 3.1e-05, 0.0071891,
     -0.018448, -0.15159, 0.091252, 0.025389, -0.069236, 0.056159, -0.024815,
     -0.108, 0.059162, 0.072424, -0.034918, -0.052899, -0.068947],
]

SCI_EXPECTED = """\
tensor([[ 9.2806e-02,  3.5988e-02, -7.8202e-02,  7.1528e-03,  6.6484e-02,
         -2.8678e-02,  1.6206e-01, -1.5967e-01, -5.1681e-03, -3.0598e-02,
          2.4850e-02, -2.2256e-02,  9.1315e-02,  2.0434e-02,  5.7398e-02,
          4.1633e-02,  2.6150e-02,  9.3112e-02, -5.1446e-02, -1.6517e-01],
        [ 1.0460e-01,  5.2219e-02, -1.6681e-02,  5.3033e-03, -1.1963e-01,
          3.1000e-05,  7.1891e-03, -1.8448e-02, -1.5159e-01,  9.1252e-02,
          2.5389e-02, -6.9236e-02,  5.6159e-02, -2.4815e-02, -1.0800e-01,
          5.9162e-02,  7.2424e-02, -3.4918e-02, -5.2899e-02, -6.8947e-02]])"""


def test_literal_sci_mode_wrapped_rows():
    out = tensor_repr(np.array(SCI_ROWS, dtype=np.float32), dtype_name="float32")
    assert out == SCI_EXPECTED


def test_literal_dtype_suffix_wrapping():
    values = np.array([[1.0188, 1.0018, -0.6397],
                       [-1.8880, 0.5333, 1.3320],
                       [0.7616, -0.2088, -0.7816]])
    out = tensor_repr(values, dtype_name="float64", requires_grad=True)
    assert out == (
        "tensor([[ 1.0188,  1.0018, -0.6397],\n"
        "        [-1.8880,  0.5333,  1.3320],\n"
        "        [ 0.7616, -0.2088, -0.7816]], dtype=tapegrad.float64, requires_grad=True)"
    )
    out = tensor_repr(np.full(7, 123456.5), dtype_name="float64", requires_grad=True)
    assert out == (
        "tensor([123456.5000, 123456.5000, 123456.5000, 123456.5000, 123456.5000,\n"
        "        123456.5000, 123456.5000], dtype=tapegrad.float64, requires_grad=True)"
    )


def test_literal_summarized():
    out = tensor_repr(np.arange(2000, dtype=np.int64), dtype_name="int64")
    assert out == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"


def test_printoptions_api():
    defaults = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
                "sci_mode": None}
    assert get_printoptions() == defaults
    set_printoptions(profile="short")
    assert get_printoptions() == {**defaults, "precision": 2, "edgeitems": 2}
    set_printoptions(profile="full", precision=6)
    assert get_printoptions() == {**defaults, "precision": 6, "threshold": math.inf}
    set_printoptions(sci_mode=True)
    assert get_printoptions()["sci_mode"] is True
    # omitting sci_mode resets it, like the reference implementation
    set_printoptions(precision=3)
    assert get_printoptions()["sci_mode"] is None
    set_printoptions(profile="default")
    assert get_printoptions() == defaults
    with printoptions(precision=2, threshold=5):
        assert tensor_repr(np.array([1.12345], np.float32), dtype_name="float32") == \
            "tensor([1.12])"
        assert tensor_repr(np.arange(10), dtype_name="int64") == \
            "tensor([0, 1, 2,  ..., 7, 8, 9])"
    assert get_printoptions() == defaults
    assert tensor_repr(np.array([1.12345], np.float32), dtype_name="float32") == \
        "tensor([1.1235])"


# ---------------------------------------------------------------------------
# comparisons against torch on chosen cases
# ---------------------------------------------------------------------------


def _cases(torch):
    g = torch.Generator().manual_seed(1234)
    nan, inf = float("nan"), float("inf")
    t = torch.tensor
    return [
        # 0-d
        t(2.2043), t(0.0), t(-0.0), t(7.0), t(nan), t(-inf), t(1e-7), t(3e12),
        t(5), t(True), t(-2, dtype=torch.int32), t(1.5, dtype=torch.float64),
        # 1-d
        t([1.0, 2.0, 3.0]), t([0.0, 4.0, 8.0, 12.0]), t([-1.0, 0.5, 100.25]),
        t([1e-5, 1.0]), t([1e-4, 1.0]), t([1.0, 1000.0]), t([1.0, 1001.0]),
        t([1e8, 1.0]), t([1.1e8]), t([123456789.0]), t([1e20, -1e-20]),
        t([inf, -inf, nan]), t([inf, 2.0]), t([nan, 1.5]), t([-0.0, 1.0]),
        t([-0.0, 0.0]), t([-0.0, 0.5]), t([0.0, 0.0]), t([1e10, 1.0, -3.0]),
        t([1, -20, 300]), t([1, 2], dtype=torch.int32), t([True, False]),
        t([True, True, True, True]), t([False]),
        t([0.1, 0.25, 123.456], dtype=torch.float64),
        t([2**40, -(2**40)], dtype=torch.int64),
        t([1.0, 2.5], dtype=torch.float16), t([65504.0, 1.0], dtype=torch.float16),
        torch.arange(10.0), torch.arange(0, 16, 4).float(),
        torch.randn(30, generator=g), torch.randn(100, generator=g) * 1e5,
        torch.arange(1000.0), torch.arange(1001.0), torch.arange(5000),
        torch.randn(2000, generator=g), torch.randint(-10**6, 10**6, (50,), generator=g),
        # 2-d
        torch.randn(3, 4, generator=g), torch.randn(2, 20, generator=g),
        torch.randn(2, 20, generator=g) * torch.logspace(-3, 3, 20),
        torch.randn(4, 3, generator=g) * 1e-6, torch.eye(3), -torch.eye(4),
        torch.randint(0, 100, (5, 7), generator=g), torch.ones(2, 3, dtype=torch.bool),
        torch.randn(100, 100, generator=g), torch.randn(1, 2000, generator=g),
        torch.randn(2000, 1, generator=g), torch.randn(40, 30, generator=g),
        torch.randn(7, 150, generator=g),
        torch.arange(2000).reshape(2, 1000), torch.randn(3, 3, dtype=torch.float64, generator=g),
        t([[nan, 1.0], [inf, -inf]]), t([[1e-10, 1e10]]),
        # 3-d and 4-d
        torch.randn(2, 3, 4, generator=g), torch.randn(10, 10, 20, generator=g),
        torch.randn(3, 1, 2, generator=g), torch.arange(24.0).reshape(2, 3, 4),
        torch.randn(2, 2, 2, 2, generator=g), torch.arange(120).reshape(2, 3, 4, 5),
        torch.randn(8, 8, 8, 8, generator=g), torch.randn(1, 1, 1, 1, generator=g),
        torch.randn(3, 400, 2, generator=g),
        # empty
        torch.zeros(0), torch.zeros(0, 3), torch.zeros(2, 0, 3), torch.zeros(0, dtype=torch.int64),
        torch.zeros(0, dtype=torch.int32), torch.zeros(0, 0, dtype=torch.bool),
        torch.zeros(0, dtype=torch.float64), torch.zeros(1, 0),
    ]


def test_against_torch_cases(torch):
    for t in _cases(torch):
        assert_same(t)


def test_against_torch_long_wrapping_rows(torch):
    g = torch.Generator().manual_seed(7)
    for n in (7, 8, 9, 15, 16, 17, 40, 81):
        assert_same(torch.randn(n, generator=g) * 100)
        assert_same(torch.randint(-(10**9), 10**9, (n,), generator=g))
        assert_same(torch.randn(2, n, generator=g, dtype=torch.float64))
        assert_same(torch.randn(2, n, generator=g).requires_grad_())


def test_against_torch_grad_suffixes(torch):
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    assert_same(x)
    assert_same(x * 2)
    assert_same((x * x).sum())
    assert_same(x[0])
    assert_same(x + 1)
    assert_same(x.exp())
    y = torch.zeros(1, 2)
    y[0] = x ** 3
    assert_same(y)
    assert _ours(y) == "tensor([[ 8., 27.]], grad_fn=<CopySlices>)"
    assert_same(torch.randn(3, 3, dtype=torch.float64, requires_grad=True))
    assert_same(torch.randn(3, 3, dtype=torch.float64, requires_grad=True) @ torch.ones(
        3, 3, dtype=torch.float64))
    assert_same(torch.zeros(0, 2, requires_grad=True))
    assert_same(torch.zeros(0, dtype=torch.float64, requires_grad=True))
    assert_same(torch.randn(2000, requires_grad=True) * 3)
    # a suffix that does not fit on the last line goes onto its own line
    assert_same(torch.full((7,), 123456.5, dtype=torch.float64, requires_grad=True))
    assert_same(torch.full((6,), 123456.5, dtype=torch.float64, requires_grad=True))
    assert_same(torch.full((6,), 123456.5, dtype=torch.float64) * torch.ones(
        6, dtype=torch.float64, requires_grad=True))


def test_against_torch_default_dtype_float64(torch):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert_same(torch.tensor([1.5, 2.0]))
        assert_same(torch.tensor([1.5, 2.0], dtype=torch.float32))
        assert_same(torch.zeros(0, dtype=torch.float32))
        assert_same(torch.zeros(0))
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize(
    "options",
    [
        {"precision": 2},
        {"precision": 0},
        {"precision": 8},
        {"threshold": 5},
        {"threshold": 0},
        {"edgeitems": 1, "threshold": 10},
        {"edgeitems": 0},
        {"edgeitems": 0, "threshold": 10},
        {"linewidth": 30},
        {"linewidth": 5},
        {"linewidth": 200},
        {"sci_mode": True},
        {"sci_mode": False},
        {"profile": "short"},
        {"profile": "full"},
        {"profile": "full", "sci_mode": True},
    ],
)
def test_against_torch_printoptions(torch, options):
    _set_both(**options)
    assert get_printoptions() == torch._tensor_str.get_printoptions()
    g = torch.Generator().manual_seed(99)
    cases = [
        torch.tensor(3.14159),
        torch.tensor([1.23456789, -2.5, 1e-5]),
        torch.tensor([1.0, 2.0, 300.0]),
        torch.tensor([float("nan"), 0.0, -0.0]),
        torch.arange(20),
        torch.arange(20.0).reshape(4, 5),
        torch.randn(30, 40, generator=g),
        torch.randn(6, 7, 8, generator=g) * 1e3,
        torch.randn(1200, generator=g),
        torch.tensor([True, False, True]),
        torch.randn(5, requires_grad=True, dtype=torch.float64),
        torch.zeros(0, 4),
    ]
    for t in cases:
        assert_same(t)


# ---------------------------------------------------------------------------
# property-based comparisons against torch
# ---------------------------------------------------------------------------

_shapes = st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple)


def _float_elements(allow_nonfinite):
    parts = [
        st.integers(-1000, 1000).map(float),
        st.floats(-10, 10),
        st.builds(lambda m, e: m * 10.0 ** e, st.floats(-10, 10), st.integers(-14, 14)),
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-4, 1e8, 999.0, 1000.0]),
        st.floats(allow_nan=False, allow_infinity=False),
    ]
    if allow_nonfinite:
        parts.append(st.sampled_from([math.nan, math.inf, -math.inf, -math.nan]))
    return st.one_of(*parts)


@st.composite
def float_arrays(draw):
    shape = draw(_shapes)
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    n = int(np.prod(shape)) if shape else 1
    elems = draw(st.lists(_float_elements(draw(st.booleans())), min_size=n, max_size=n))
    with np.errstate(over="ignore"):
        return np.array(elems, dtype=np.float64).astype(dtype).reshape(shape)


@st.composite
def int_or_bool_arrays(draw):
    shape = draw(_shapes)
    kind = draw(st.sampled_from(["int32", "int64", "bool"]))
    n = int(np.prod(shape)) if shape else 1
    if kind == "bool":
        elems = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return np.array(elems, dtype=np.bool_).reshape(shape)
    info = np.iinfo(kind)
    elems = draw(st.lists(
        st.one_of(st.integers(-100, 100), st.integers(int(info.min), int(info.max))),
        min_size=n, max_size=n))
    return np.array(elems, dtype=kind).reshape(shape)


def _torch_from(arr, requires_grad=False):
    import torch as _torch

    t = _torch.from_numpy(np.ascontiguousarray(arr).copy())
    if requires_grad and t.is_floating_point():
        t.requires_grad_()
    return t


@needs_torch
@HYPOTHESIS_SETTINGS
@given(arr=float_arrays(), requires_grad=st.booleans())
def test_hypothesis_floats(arr, requires_grad):
    assert_same(_torch_from(arr, requires_grad))


@needs_torch
@HYPOTHESIS_SETTINGS
@given(arr=int_or_bool_arrays())
def test_hypothesis_ints_and_bools(arr):
    assert_same(_torch_from(arr))


@needs_torch
@HYPOTHESIS_SETTINGS
@given(
    arr=st.one_of(float_arrays(), int_or_bool_arrays()),
    precision=st.integers(0, 8),
    threshold=st.integers(0, 40),
    edgeitems=st.integers(0, 4),
    linewidth=st.integers(10, 120),
    sci_mode=st.sampled_from([None, True, False]),
)
def test_hypothesis_with_printoptions(arr, precision, threshold, edgeitems, linewidth,
                                      sci_mode):
    try:
        _set_both(precision=precision, threshold=threshold, edgeitems=edgeitems,
                  linewidth=linewidth, sci_mode=sci_mode)
        assert_same(_torch_from(arr))
    finally:
        _reset_all_options()


@needs_torch
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.sampled_from([(1001,), (40, 30), (3, 400), (11, 10, 10), (2, 3, 200),
                           (7, 7, 7, 7)]),
    scale_exp=st.integers(-8, 10),
    seed=st.integers(0, 2**31 - 1),
    with_special=st.booleans(),
)
def test_hypothesis_summarized(shape, scale_exp, seed, with_special):
    rng = np.random.default_rng(seed)
    arr = (rng.standard_normal(shape) * 10.0 ** scale_exp).astype(np.float32)
    if with_special:
        flat = arr.reshape(-1)
        idx = rng.integers(0, flat.size, size=4)
        flat[idx] = [np.nan, np.inf, -np.inf, -0.0]
    assert_same(_torch_from(arr))
