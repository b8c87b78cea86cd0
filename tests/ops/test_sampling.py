"""Tests for tapegrad.ops.sampling: bernoulli (function and methods), multinomial, random_, cauchy_,
log_normal_, geometric_, poisson, binomial and randint_like.

The first part needs no PyTorch: supports, moments (fixed seeds, so deterministic), generators,
autograd and errors. The second compares numbers and errors with PyTorch's CPU generator."""
from __future__ import annotations

import math
import platform
import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad.random import Generator

FLOATS = [tapegrad.float32, tapegrad.float64]
ALL_DTYPES = [tapegrad.float32, tapegrad.float64, tapegrad.int64, tapegrad.int32, tapegrad.bool]


def _values(t: tapegrad.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------- bernoulli

@pytest.mark.parametrize("dtype", FLOATS)
def test_bernoulli_function_and_method_draw_the_probabilities(dtype):
    tapegrad.manual_seed(0)
    p = tapegrad.tensor([0.0, 1.0, 0.25] * 4000, dtype=dtype)
    for sample in (tapegrad.bernoulli(p), p.bernoulli()):
        values = _values(sample).reshape(-1, 3)
        assert sample.dtype is dtype and sample.shape == p.shape and not sample.requires_grad
        assert (values[:, 0] == 0).all() and (values[:, 1] == 1).all()
        assert abs(values[:, 2].mean() - 0.25) < 0.02


def test_bernoulli_scalar_p_keeps_shape_and_dtype():
    tapegrad.manual_seed(1)
    x = tapegrad.zeros(200, 50, dtype=tapegrad.int64)
    sample = x.bernoulli(0.7)
    assert sample.dtype is tapegrad.int64 and sample.shape == (200, 50)
    assert set(np.unique(_values(sample))) <= {0, 1}
    assert abs(_values(sample).mean() - 0.7) < 0.02
    assert (_values(x) == 0).all()  # out of place
    assert abs(_values(tapegrad.bernoulli(tapegrad.zeros(10000), 0.1)).mean() - 0.1) < 0.01


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_bernoulli_in_place_scalar_and_tensor_p(dtype):
    tapegrad.manual_seed(2)
    x = tapegrad.zeros(300, 40, dtype=dtype)
    assert x.bernoulli_(0.5) is x
    assert abs(_values(x).astype(float).mean() - 0.5) < 0.02
    row = tapegrad.tensor([0.0, 1.0, 0.5, 0.9] * 10)
    x.bernoulli_(row)  # p broadcast over the rows
    values = _values(x).astype(float)
    assert (values[:, 0::4] == 0).all() and (values[:, 1::4] == 1).all()
    assert abs(values[:, 3::4].mean() - 0.9) < 0.02
    assert x.dtype is dtype
    default = tapegrad.zeros(20000).bernoulli_()  # p = 0.5
    assert abs(_values(default).mean() - 0.5) < 0.01


def test_bernoulli_generator_argument():
    p = tapegrad.full((64,), 0.5)
    first = p.bernoulli(generator=Generator(seed=4))
    again = tapegrad.bernoulli(p, generator=Generator(seed=4))
    filled = tapegrad.empty(64).bernoulli_(p, generator=Generator(seed=4))
    np.testing.assert_array_equal(_values(first), _values(again))
    np.testing.assert_array_equal(_values(first), _values(filled))
    # a separate generator leaves the default stream alone
    tapegrad.manual_seed(9)
    expected = _values(tapegrad.rand(5))
    tapegrad.manual_seed(9)
    p.bernoulli(generator=Generator(seed=1))
    np.testing.assert_array_equal(_values(tapegrad.rand(5)), expected)


def test_bernoulli_errors():
    with pytest.raises(RuntimeError, match=r"bernoulli_ expects p to be in \[0, 1\], but got p=1.5"):
        tapegrad.ones(3).bernoulli_(1.5)
    with pytest.raises(RuntimeError, match=r"Expected p_in >= 0 && p_in <= 1 to be true"):
        tapegrad.ones(3).bernoulli_(tapegrad.tensor([0.1, 2.0, 0.3]))
    with pytest.raises(RuntimeError, match=r"Expected p_in >= 0"):
        tapegrad.tensor([float("nan"), 0.2]).bernoulli()
    with pytest.raises(NotImplementedError, match="\"bernoulli_tensor_cpu_p_\" not implemented for 'Long'"):
        tapegrad.ones(3, dtype=tapegrad.int64).bernoulli()
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        tapegrad.ones(3).bernoulli_(tapegrad.tensor([1, 0, 1]))
    with pytest.raises(RuntimeError, match="must be greater or equal to the number of dimensions"):
        tapegrad.ones(3).bernoulli_(tapegrad.tensor([[0.1, 0.5, 0.3]] * 2))
    with pytest.raises(TypeError, match="must be float, not Tensor"):
        tapegrad.ones(3).bernoulli(tapegrad.tensor([0.5, 0.5, 0.5]))


# ---------------------------------------------------------------- in place and autograd

IN_PLACE = [
    ("bernoulli_", (0.5,)), ("random_", ()), ("random_", (0, 4)), ("cauchy_", ()), ("log_normal_", ()),
    ("geometric_", (0.5,)),
]


@pytest.mark.parametrize("name, args", IN_PLACE)
def test_in_place_into_leaf_requiring_grad_raises(name, args):
    leaf = tapegrad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        getattr(leaf, name)(*args)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        getattr(leaf[:2], name)(*args)
    tapegrad.manual_seed(0)
    with pytest.raises(RuntimeError):
        getattr(leaf, name)(*args)
    expected = tapegrad.rand(3)
    tapegrad.manual_seed(0)
    np.testing.assert_array_equal(_values(tapegrad.rand(3)), _values(expected))  # nothing was drawn
    with tapegrad.no_grad():  # allowed without grad, as torch.nn.init does
        assert getattr(leaf, name)(*args) is leaf
    assert leaf.requires_grad


@pytest.mark.parametrize("name, args", IN_PLACE)
def test_in_place_into_non_leaf_gives_zero_gradient(name, args):
    x = tapegrad.ones(4, requires_grad=True)
    y = x * 2
    getattr(y, name)(*args)
    assert y.requires_grad
    (y * 3).sum().backward()
    np.testing.assert_array_equal(_values(x.grad), np.zeros(4, np.float32))


def test_samples_never_require_grad():
    p = tapegrad.full((5,), 0.5, requires_grad=True)
    assert not tapegrad.bernoulli(p).requires_grad
    assert not p.multinomial(2).requires_grad
    assert not tapegrad.poisson(p).requires_grad
    assert not tapegrad.binomial(p * 10, p).requires_grad
    assert not tapegrad.randint_like(p, 5).requires_grad
    assert tapegrad.randint_like(p, 5, requires_grad=True).requires_grad


def test_in_place_into_views_writes_the_base():
    tapegrad.manual_seed(3)
    base = tapegrad.zeros(4, 6)
    base[:, 1::2].random_(1, 5)
    values = _values(base)
    assert (values[:, 0::2] == 0).all()
    assert ((values[:, 1::2] >= 1) & (values[:, 1::2] < 5)).all()


# ---------------------------------------------------------------- multinomial

@pytest.mark.parametrize("dtype", FLOATS)
def test_multinomial_with_replacement_frequencies(dtype):
    tapegrad.manual_seed(5)
    weights = tapegrad.tensor([1.0, 0.0, 3.0, 6.0], dtype=dtype)  # unnormalized
    sample = tapegrad.multinomial(weights, 20000, replacement=True)
    assert sample.dtype is tapegrad.int64 and sample.shape == (20000,)
    counts = np.bincount(_values(sample), minlength=4) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.3, 0.6], atol=0.015)
    rows = weights.expand(3, 4).multinomial(5000, True)
    assert rows.shape == (3, 5000)
    for row in _values(rows):
        np.testing.assert_allclose(np.bincount(row, minlength=4) / 5000, [0.1, 0.0, 0.3, 0.6], atol=0.03)


def test_multinomial_without_replacement_draws_distinct_categories():
    tapegrad.manual_seed(6)
    weights = tapegrad.tensor([[5.0, 1.0, 1.0, 0.0, 3.0]] * 4000)
    sample = _values(tapegrad.multinomial(weights, 3))
    assert sample.shape == (4000, 3)
    assert all(len(set(row)) == 3 for row in sample)
    assert not (sample == 3).any()  # zero probability is never drawn while others remain
    first = np.bincount(sample[:, 0], minlength=5) / 4000
    np.testing.assert_allclose(first, [0.5, 0.1, 0.1, 0.0, 0.3], atol=0.03)
    # all categories: a permutation, the zero-probability one last
    everything = _values(tapegrad.multinomial(tapegrad.tensor([1.0, 2.0, 0.0, 3.0]), 4))
    assert sorted(everything) == [0, 1, 2, 3] and everything[-1] == 2


def test_multinomial_one_sample_and_empty_batch():
    tapegrad.manual_seed(7)
    one = tapegrad.multinomial(tapegrad.tensor([0.0, 0.0, 2.0]), 1, replacement=True)
    assert one.tolist() == [2]
    empty = tapegrad.multinomial(tapegrad.zeros(0, 3), 2)
    assert empty.shape == (0, 2) and empty.dtype is tapegrad.int64


def test_multinomial_generator_argument():
    weights = tapegrad.tensor([0.1, 0.2, 0.3, 0.4])
    a = weights.multinomial(50, True, generator=Generator(seed=8))
    b = tapegrad.multinomial(weights, 50, replacement=True, generator=Generator(seed=8))
    np.testing.assert_array_equal(_values(a), _values(b))


@pytest.mark.parametrize("call, error, message", [
    (lambda: tapegrad.multinomial(tapegrad.tensor([0.2, 0.8]), 3), RuntimeError,
     r"cannot sample n_sample > prob_dist.size\(-1\) samples without replacement"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([0.2, 0.8]), 0), RuntimeError, "cannot sample n_sample <= 0"),
    (lambda: tapegrad.multinomial(tapegrad.tensor(0.5), 1), RuntimeError, "prob_dist must be 1 or 2 dim"),
    (lambda: tapegrad.multinomial(tapegrad.ones(2, 2, 2), 1), RuntimeError, "prob_dist must be 1 or 2 dim"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([1, 2]), 1), RuntimeError,
     "multinomial only supports floating-point dtypes for input, got: Long"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([-0.1, 1.0]), 1), RuntimeError,
     "probability tensor contains either `inf`, `nan` or element < 0"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([1.0, float("nan")]), 1), RuntimeError,
     "probability tensor contains either `inf`, `nan` or element < 0"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([-0.1, 1.0]), 2, True), RuntimeError,
     r"invalid multinomial distribution \(encountering probability entry < 0\)"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([1.0, float("inf")]), 2, True), RuntimeError,
     r"invalid multinomial distribution \(encountering probability entry = infinity or NaN\)"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([[1.0, 1.0], [0.0, 0.0]]), 2), RuntimeError,
     r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([[1.0, 1.0], [0.0, 0.0]]), 2, True), RuntimeError,
     r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
    (lambda: tapegrad.multinomial(tapegrad.tensor([0.2, 0.8]), 2.0), TypeError,
     "argument 'num_samples' \\(position 2\\) must be int, not float"),
])
def test_multinomial_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- random_

@pytest.mark.parametrize("dtype, high", [(tapegrad.float32, 2**24), (tapegrad.float64, 2**53),
                                         (tapegrad.int64, 2**63 - 1), (tapegrad.int32, 2**31 - 1),
                                         (tapegrad.bool, 1)])
def test_random_default_range(dtype, high):
    tapegrad.manual_seed(10)
    values = _values(tapegrad.empty(4000, dtype=dtype).random_()).astype(np.float64)
    assert values.min() >= 0 and values.max() <= high
    assert abs(values.mean() / high - 0.5) < 0.03  # uniform over [0, high]


@pytest.mark.parametrize("dtype", [tapegrad.float32, tapegrad.float64, tapegrad.int64, tapegrad.int32])
def test_random_ranges(dtype):
    tapegrad.manual_seed(11)
    x = tapegrad.empty(5000, dtype=dtype)
    values = _values(x.random_(7))
    assert set(np.unique(values)) == set(range(7))
    values = _values(x.random_(-3, 4))
    assert set(np.unique(values)) == set(range(-3, 4))
    values = _values(x.random_(**{"from": 2, "to": 5}))
    assert set(np.unique(values)) == {2, 3, 4}
    values = _values(x.random_(to=3))
    assert set(np.unique(values)) == {0, 1, 2}
    values = _values(x.random_(100, None)).astype(np.float64)  # up to the dtype's end
    assert values.min() >= 100 and values.max() > 2**20


def test_random_full_int64_range_and_wide_ranges():
    tapegrad.manual_seed(12)
    values = _values(tapegrad.empty(2000, dtype=tapegrad.int64).random_(-2**63, None))
    assert (values < 0).any() and (values > 0).any() and np.abs(values.astype(float)).max() > 2**62
    values = _values(tapegrad.empty(2000, dtype=tapegrad.int64).random_(0, 2**40))
    assert values.min() >= 0 and values.max() < 2**40 and values.max() > 2**39


def test_random_errors_and_warnings():
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to', but got from=5 >= to=2"):
        tapegrad.empty(3).random_(5, 2)
    with pytest.raises(RuntimeError, match="to - 1 is out of bounds for int"):
        tapegrad.empty(3, dtype=tapegrad.int32).random_(2**40)
    with pytest.raises(RuntimeError, match="from is out of bounds for bool"):
        tapegrad.empty(3, dtype=tapegrad.bool).random_(-1, 2)
    with pytest.raises(RuntimeError, match="'from' casted to dtype to be less than 'to' casted to dtype"):
        tapegrad.empty(3).random_(2**25 + 1, 2**25 + 2)
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        tapegrad.empty(3, dtype=tapegrad.bool).random_(-2**63, None)
    with pytest.raises(RuntimeError, match="handles only int64, double, float and bfloat16"):
        tapegrad.empty(3, dtype=tapegrad.int32).random_(-2**63, None)
    with pytest.raises(TypeError, match=r"random_\(\) received an invalid combination of arguments - got \(float\)"):
        tapegrad.empty(3).random_(3.5)
    with pytest.warns(UserWarning, match=r"to - 1 is out of bounds \[-\(2\^24\), 2\^24\]"):
        tapegrad.empty(3).random_(2**30)


# ---------------------------------------------------------------- cauchy_, log_normal_, geometric_

@pytest.mark.parametrize("dtype", FLOATS)
def test_cauchy_quantiles(dtype):
    tapegrad.manual_seed(13)
    values = _values(tapegrad.empty(40000, dtype=dtype).cauchy_(1.0, 2.0))
    assert values.dtype == dtype.numpy
    # median 1, quartiles at median -/+ sigma
    np.testing.assert_allclose(np.percentile(values, [25, 50, 75]), [-1.0, 1.0, 3.0], atol=0.08)
    standard = _values(tapegrad.empty(40000, dtype=dtype).cauchy_())
    np.testing.assert_allclose(np.percentile(standard, [25, 50, 75]), [-1.0, 0.0, 1.0], atol=0.05)


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_normal_moments(dtype):
    tapegrad.manual_seed(14)
    values = _values(tapegrad.empty(40000, dtype=dtype).log_normal_(0.5, 0.25))
    assert (values > 0).all()
    logs = np.log(values.astype(np.float64))
    assert abs(logs.mean() - 0.5) < 0.01 and abs(logs.std() - 0.25) < 0.01
    defaults = np.log(_values(tapegrad.empty(40000, dtype=dtype).log_normal_()).astype(np.float64))
    assert abs(defaults.mean() - 1.0) < 0.05 and abs(defaults.std() - 2.0) < 0.05


@pytest.mark.parametrize("dtype", [tapegrad.float32, tapegrad.float64, tapegrad.int64, tapegrad.int32])
def test_geometric_moments(dtype):
    tapegrad.manual_seed(15)
    values = _values(tapegrad.empty(40000, dtype=dtype).geometric_(0.25)).astype(np.float64)
    assert values.min() >= 1 and (values == np.round(values)).all()
    assert abs(values.mean() - 4.0) < 0.08  # 1 / p
    assert abs(values.var() - 12.0) < 0.8  # (1 - p) / p**2
    assert abs((values == 1).mean() - 0.25) < 0.01


def test_continuous_sampler_errors():
    with pytest.raises(RuntimeError, match="cauchy_ expects sigma > 0.0, but found sigma=0"):
        tapegrad.empty(3).cauchy_(0, 0)
    with pytest.raises(RuntimeError, match="Cauchy distribution is a continuous probability distribution. dtype must "
                                           "be a floating point but you specified long int"):
        tapegrad.empty(3, dtype=tapegrad.int64).cauchy_()
    with pytest.raises(RuntimeError, match="log_normal_ expects std > 0.0, but found std=-1"):
        tapegrad.empty(3).log_normal_(0, -1)
    with pytest.raises(NotImplementedError, match="\"log_normal_cpu\" not implemented for 'Int'"):
        tapegrad.empty(3, dtype=tapegrad.int32).log_normal_()
    for p in (0, 1, 1.5):
        with pytest.raises(RuntimeError, match=f"geometric_ expects p to be in \\(0, 1\\), but got p={p:g}"):
            tapegrad.empty(3).geometric_(p)


def test_in_place_generators():
    for name, args in IN_PLACE:
        a = getattr(tapegrad.empty(30), name)(*args, generator=Generator(seed=16))
        b = getattr(tapegrad.empty(30), name)(*args, generator=Generator(seed=16))
        np.testing.assert_array_equal(_values(a), _values(b))


# ---------------------------------------------------------------- poisson, randint_like

@pytest.mark.parametrize("dtype", FLOATS)
def test_poisson_moments(dtype):
    tapegrad.manual_seed(17)
    for rate in (0.0, 0.5, 4.0, 30.0, 500.0):  # both samplers (below and above rate 10)
        values = _values(tapegrad.poisson(tapegrad.full((20000,), rate, dtype=dtype))).astype(np.float64)
        assert (values >= 0).all() and (values == np.round(values)).all()
        tolerance = 0.05 * max(math.sqrt(rate), 0.1)
        assert abs(values.mean() - rate) < tolerance and abs(values.var() - rate) < 6 * tolerance * max(1, rate) ** 0.5
    sample = tapegrad.poisson(tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=dtype), generator=Generator(seed=1))
    assert sample.shape == (2, 2) and sample.dtype is dtype


def test_poisson_errors():
    with pytest.raises(RuntimeError, match="invalid Poisson rate, expected rate to be non-negative"):
        tapegrad.poisson(tapegrad.tensor([1.0, -1.0]))
    with pytest.raises(RuntimeError, match="invalid Poisson rate"):
        tapegrad.poisson(tapegrad.tensor([1.0, float("nan")]))
    with pytest.raises(NotImplementedError, match="\"poisson_cpu\" not implemented for 'Long'"):
        tapegrad.poisson(tapegrad.tensor([1, 2]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_binomial_moments(dtype):
    tapegrad.manual_seed(19)
    # inversion (n p < 10) and BTRS (n p >= 10), on p and on 1 - p
    for count, prob in ((8.0, 0.3), (200.0, 0.3), (30.0, 0.9), (1000.0, 0.75), (5.0, 0.0), (5.0, 1.0)):
        values = _values(tapegrad.binomial(tapegrad.full((20000,), count, dtype=dtype),
                                           tapegrad.full((20000,), prob, dtype=dtype))).astype(np.float64)
        assert values.min() >= 0 and values.max() <= count and (values == np.round(values)).all()
        mean, var = count * prob, count * prob * (1 - prob)
        assert abs(values.mean() - mean) < 0.05 * max(math.sqrt(var), 0.1)
        assert abs(values.var() - var) < 0.06 * max(var, 0.1)
    zero = tapegrad.binomial(tapegrad.tensor([0.0, -3.0], dtype=dtype), tapegrad.tensor([0.5, 0.5], dtype=dtype))
    assert zero.tolist() == [0.0, 0.0]
    assert math.isnan(tapegrad.binomial(tapegrad.tensor([4.0]), tapegrad.tensor([float("nan")])).item())


def test_binomial_broadcasts_and_generator():
    counts = tapegrad.tensor([[10.0], [3.0]])
    probs = tapegrad.tensor([0.5, 0.1, 0.2])
    a = tapegrad.binomial(counts, probs, Generator(seed=2))
    b = tapegrad.binomial(counts.expand(2, 3), probs.expand(2, 3), generator=Generator(seed=2))
    assert a.shape == (2, 3) and not a.requires_grad
    np.testing.assert_array_equal(_values(a), _values(b))


def test_binomial_errors():
    with pytest.raises(ValueError, match="binomial only supports floating-point dtypes for count, got: Long"):
        tapegrad.binomial(tapegrad.tensor([10, 5]), tapegrad.tensor([0.5, 0.2]))
    with pytest.raises(ValueError, match="binomial only supports floating-point dtypes for prob, got: Long"):
        tapegrad.binomial(tapegrad.tensor([10.0, 5.0]), tapegrad.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="Found dtype Double but expected Float"):
        tapegrad.binomial(tapegrad.tensor([10.0]), tapegrad.tensor([0.5], dtype=tapegrad.float64))
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(2\) must match the size of tensor b \(3\) at "
                                           "non-singleton dimension 0"):
        tapegrad.binomial(tapegrad.tensor([10.0, 5.0]), tapegrad.tensor([0.5, 0.1, 0.2]))
    with pytest.raises(TypeError, match="argument 'prob' \\(position 2\\) must be Tensor, not float"):
        tapegrad.binomial(tapegrad.tensor([10.0]), 0.5)
    # PyTorch's sampler never returns for these; tapegrad refuses them
    with pytest.raises(RuntimeError, match="binomial expects finite counts"):
        tapegrad.binomial(tapegrad.tensor([float("nan")]), tapegrad.tensor([0.5]))
    with pytest.raises(RuntimeError, match="binomial expects finite counts"):
        tapegrad.binomial(tapegrad.tensor([float("inf")]), tapegrad.tensor([0.5]))


def test_randint_like():
    tapegrad.manual_seed(18)
    like = tapegrad.zeros(50, 40, dtype=tapegrad.int32)
    sample = tapegrad.randint_like(like, 10)
    assert sample.dtype is tapegrad.int32 and sample.shape == (50, 40)
    assert set(np.unique(_values(sample))) == set(range(10))
    sample = tapegrad.randint_like(like, 3, 6, dtype=tapegrad.float64)
    assert sample.dtype is tapegrad.float64 and set(np.unique(_values(sample))) == {3.0, 4.0, 5.0}
    sample = tapegrad.randint_like(like, high=4, low=2)
    assert set(np.unique(_values(sample))) == {2, 3}
    a = tapegrad.randint_like(like, 100, generator=Generator(seed=3))
    b = tapegrad.randint_like(like, 100, generator=Generator(seed=3))
    np.testing.assert_array_equal(_values(a), _values(b))
    with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to', but got from=10 >= to=3"):
        tapegrad.randint_like(like, 10, 3)
    with pytest.raises(RuntimeError, match="to - 1 is out of bounds for int"):
        tapegrad.randint_like(like, 2**40)
    with pytest.raises(TypeError, match=r"received an invalid combination of arguments - got \(Tensor, float\)"):
        tapegrad.randint_like(like, 10.5)


def test_known_values_without_torch():
    # The numbers PyTorch 2.13's CPU generator gives for these calls after manual_seed(0).
    tapegrad.manual_seed(0)
    assert tapegrad.multinomial(tapegrad.tensor([0.1, 0.2, 0.3, 0.4]), 6, True).tolist() == [3, 3, 2, 3, 3, 3]
    assert tapegrad.multinomial(tapegrad.tensor([0.1, 0.2, 0.3, 0.4]), 3).tolist() == [3, 0, 1]
    assert tapegrad.empty(4, dtype=tapegrad.int64).random_(5, 10).tolist() == [6, 9, 6, 9]
    assert tapegrad.poisson(tapegrad.tensor([0.0, 1.0, 20.0])).tolist() == [0.0, 0.0, 22.0]
    tapegrad.manual_seed(0)
    assert tapegrad.binomial(tapegrad.tensor([10.0, 100.0]), tapegrad.tensor([0.5, 0.2])).tolist() == [7.0, 21.0]


# ---------------------------------------------------------------- PyTorch parity

SEEDS = [0, 1, 7, 42, 2**32 + 5]


def _intel_mkl(torch) -> bool:
    """PyTorch draws scalar-p bernoulli_ and exponential_ from MKL's stream on Intel CPUs."""
    if not torch.backends.mkl.is_available():
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return "GenuineIntel" in f.read(4096)
    except OSError:
        return "intel" in platform.processor().lower()


def _torch_dtype(torch, dtype: tapegrad.dtype):
    return getattr(torch, str(dtype).split(".")[-1])


def _assert_same(ours: tapegrad.Tensor, theirs) -> None:
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(_values(ours), theirs.numpy())


def _parity(torch, make_ours, make_theirs) -> None:
    """Same seed, same numbers; and the streams stay in step afterwards."""
    for seed in SEEDS:
        torch.manual_seed(seed)
        tapegrad.manual_seed(seed)
        _assert_same(make_ours(), make_theirs())
        _assert_same(tapegrad.rand(3), torch.rand(3))
        _assert_same(tapegrad.randn(3, dtype=tapegrad.float64), torch.randn(3, dtype=torch.float64))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_torch_bernoulli(dtype):
    torch = pytest.importorskip("torch")
    tdt = _torch_dtype(torch, dtype)
    p = np.random.RandomState(0).rand(6, 30)
    _parity(torch, lambda: tapegrad.tensor(p, dtype=dtype).bernoulli(),
            lambda: torch.tensor(p, dtype=tdt).bernoulli())
    _parity(torch, lambda: tapegrad.bernoulli(tapegrad.tensor(p, dtype=dtype)),
            lambda: torch.bernoulli(torch.tensor(p, dtype=tdt)))
    _parity(torch, lambda: tapegrad.zeros(4, 30, dtype=tapegrad.int64).bernoulli_(tapegrad.tensor(p[0], dtype=dtype)),
            lambda: torch.zeros(4, 30, dtype=torch.int64).bernoulli_(torch.tensor(p[0], dtype=tdt)))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_torch_bernoulli_scalar(dtype):
    torch = pytest.importorskip("torch")
    if _intel_mkl(torch):
        pytest.skip("PyTorch draws scalar-p bernoulli_ from MKL's stream on Intel CPUs")
    tdt = _torch_dtype(torch, dtype)
    _parity(torch, lambda: tapegrad.zeros(5, 9, dtype=dtype).bernoulli_(0.3),
            lambda: torch.zeros(5, 9, dtype=tdt).bernoulli_(0.3))
    _parity(torch, lambda: tapegrad.zeros(50, dtype=dtype).bernoulli(0.7),
            lambda: torch.zeros(50, dtype=tdt).bernoulli(0.7))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(7,), (4, 9)])
@pytest.mark.parametrize("num_samples, replacement", [(1, False), (1, True), (3, False), (-1, False), (25, True)])
def test_torch_multinomial(dtype, shape, num_samples, replacement):
    torch = pytest.importorskip("torch")
    if not (replacement and num_samples > 1) and _intel_mkl(torch):
        pytest.skip("PyTorch draws exponential_ from MKL's stream on Intel CPUs")
    probs = np.random.RandomState(1).rand(*shape)
    probs[..., 2] = 0.0  # a zero-probability category
    num_samples = shape[-1] - 1 if num_samples == -1 else num_samples  # as many as the positive categories
    _parity(torch, lambda: tapegrad.multinomial(tapegrad.tensor(probs, dtype=dtype), num_samples, replacement),
            lambda: torch.multinomial(torch.tensor(probs, dtype=_torch_dtype(torch, dtype)), num_samples, replacement))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_torch_random(dtype):
    torch = pytest.importorskip("torch")
    tdt = _torch_dtype(torch, dtype)
    ranges = [(), (1,), (10,), (3, 7), (-5, 5), (0, 2**28 - 1), (0, 2**28), (-2**30, 2**31 - 1), (0, 2**40),
              (5, None), (-2**31, None), (-2**63, None)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's and tapegrad's precision warnings for wide float ranges
        for bounds in ranges:
            try:
                torch.empty(1, dtype=tdt).random_(*bounds)
            except (RuntimeError, NotImplementedError) as error:
                with pytest.raises(type(error), match=str(error).split("(")[0].strip()[:40]):
                    tapegrad.empty(1, dtype=dtype).random_(*bounds)
                continue
            _parity(torch, lambda bounds=bounds: tapegrad.empty(3, 300, dtype=dtype).random_(*bounds),
                    lambda bounds=bounds: torch.empty(3, 300, dtype=tdt).random_(*bounds))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_torch_cauchy_and_log_normal(dtype):
    torch = pytest.importorskip("torch")
    tdt = _torch_dtype(torch, dtype)
    for shape in [(1,), (3,), (5, 40)]:  # odd counts: the cached second normal carries over
        _parity(torch, lambda shape=shape: tapegrad.empty(shape, dtype=dtype).cauchy_(),
                lambda shape=shape: torch.empty(shape, dtype=tdt).cauchy_())
        _parity(torch, lambda shape=shape: tapegrad.empty(shape, dtype=dtype).cauchy_(-1.5, 0.25),
                lambda shape=shape: torch.empty(shape, dtype=tdt).cauchy_(-1.5, 0.25))
        _parity(torch, lambda shape=shape: tapegrad.empty(shape, dtype=dtype).log_normal_(),
                lambda shape=shape: torch.empty(shape, dtype=tdt).log_normal_())
        _parity(torch, lambda shape=shape: tapegrad.empty(shape, dtype=dtype).log_normal_(0.3, 0.1),
                lambda shape=shape: torch.empty(shape, dtype=tdt).log_normal_(0.3, 0.1))
    # log_normal_ shares the cached Box-Muller value with the other normal draws
    for seed in SEEDS:
        torch.manual_seed(seed)
        tapegrad.manual_seed(seed)
        _assert_same(tapegrad.randn(1, dtype=tapegrad.float64), torch.randn(1, dtype=torch.float64))
        _assert_same(tapegrad.empty(3, dtype=dtype).log_normal_(), torch.empty(3, dtype=tdt).log_normal_())
        _assert_same(tapegrad.randn(3, dtype=tapegrad.float64), torch.randn(3, dtype=torch.float64))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [tapegrad.float32, tapegrad.float64, tapegrad.int64, tapegrad.int32])
def test_torch_geometric(dtype):
    torch = pytest.importorskip("torch")
    tdt = _torch_dtype(torch, dtype)
    for p in (0.01, 0.3, 0.9):
        _parity(torch, lambda p=p: tapegrad.empty(4, 50, dtype=dtype).geometric_(p),
                lambda p=p: torch.empty(4, 50, dtype=tdt).geometric_(p))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_torch_poisson(dtype):
    torch = pytest.importorskip("torch")
    rates = np.concatenate([np.linspace(0, 12, 25), [0.0, 9.99, 10.0, 100.0, 1e4]])
    _parity(torch, lambda: tapegrad.poisson(tapegrad.tensor(rates, dtype=dtype)),
            lambda: torch.poisson(torch.tensor(rates, dtype=_torch_dtype(torch, dtype))))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOATS)
def test_torch_binomial(dtype):
    torch = pytest.importorskip("torch")
    tdt = _torch_dtype(torch, dtype)
    rs = np.random.RandomState(2)
    counts = np.concatenate([rs.randint(0, 300, 200), [0, 5, 1000, 10**6, 20, 40, -2, 7]])
    probs = np.concatenate([rs.rand(200), [0.5, 1.0, 0.01, 0.3, 0.5, 0.999, 0.5, 0.0]])
    _parity(torch, lambda: tapegrad.binomial(tapegrad.tensor(counts, dtype=dtype), tapegrad.tensor(probs, dtype=dtype)),
            lambda: torch.binomial(torch.tensor(counts, dtype=tdt), torch.tensor(probs, dtype=tdt)))
    _parity(torch, lambda: tapegrad.binomial(tapegrad.full((3, 1), 50.0, dtype=dtype),
                                             tapegrad.tensor([0.2, 0.5, 0.7, 0.9], dtype=dtype)),
            lambda: torch.binomial(torch.full((3, 4), 50.0, dtype=tdt), torch.tensor([0.2, 0.5, 0.7, 0.9], dtype=tdt)))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ALL_DTYPES[:4])
def test_torch_randint_like(dtype):
    torch = pytest.importorskip("torch")
    tdt = _torch_dtype(torch, dtype)
    _parity(torch, lambda: tapegrad.randint_like(tapegrad.zeros(3, 8, dtype=dtype), 10),
            lambda: torch.randint_like(torch.zeros(3, 8, dtype=tdt), 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the precision warning for a wide float32 range
        _parity(torch, lambda: tapegrad.randint_like(tapegrad.zeros(3, 8, dtype=dtype), -4, 2**30),
                lambda: torch.randint_like(torch.zeros(3, 8, dtype=tdt), -4, 2**30))


@pytest.mark.torch
def test_torch_generators():
    torch = pytest.importorskip("torch")
    ours, theirs = Generator(seed=21), torch.Generator().manual_seed(21)
    _assert_same(tapegrad.multinomial(tapegrad.ones(10), 4, generator=ours),
                 torch.multinomial(torch.ones(10), 4, generator=theirs))
    _assert_same(tapegrad.empty(5).cauchy_(generator=ours), torch.empty(5).cauchy_(generator=theirs))
    _assert_same(tapegrad.empty(5).random_(3, generator=ours), torch.empty(5).random_(3, generator=theirs))
    _assert_same(tapegrad.poisson(tapegrad.full((5,), 3.0), ours), torch.poisson(torch.full((5,), 3.0), theirs))
    _assert_same(tapegrad.binomial(tapegrad.full((5,), 30.0), tapegrad.full((5,), 0.4), ours),
                 torch.binomial(torch.full((5,), 30.0), torch.full((5,), 0.4), theirs))


@pytest.mark.torch
@pytest.mark.parametrize("name, args", IN_PLACE + [("bernoulli_", "p")])
def test_torch_in_place_draws_follow_memory_order(name, args):
    torch = pytest.importorskip("torch")
    p = np.random.RandomState(3).rand(4, 3)

    def fill(module, x):
        if args == "p":
            return x.bernoulli_(module.tensor(p))
        return getattr(x, name)(*args)

    for seed in SEEDS:
        torch.manual_seed(seed)
        tapegrad.manual_seed(seed)
        # a transposed tensor, a permuted one, and a strided slice
        _assert_same(fill(tapegrad, tapegrad.empty(3, 4).t()), fill(torch, torch.empty(3, 4).t()))
        _assert_same(fill(tapegrad, tapegrad.empty(3, 4, 2).permute(1, 0, 2)[:, :, 0]),
                     fill(torch, torch.empty(3, 4, 2).permute(1, 0, 2)[:, :, 0]))
        _assert_same(fill(tapegrad, tapegrad.empty(6, 8)[1:5, ::3]), fill(torch, torch.empty(6, 8)[1:5, ::3]))


@pytest.mark.torch
def test_torch_multinomial_of_a_transposed_input():
    torch = pytest.importorskip("torch")
    probs = np.random.RandomState(4).rand(5, 4)
    for replacement, num_samples in ((False, 2), (True, 1), (True, 6)):
        if num_samples == 1 or not replacement:
            if _intel_mkl(torch):
                continue
        _parity(torch, lambda r=replacement, n=num_samples: tapegrad.multinomial(tapegrad.tensor(probs).t(), n, r),
                lambda r=replacement, n=num_samples: torch.multinomial(torch.tensor(probs).t(), n, r))


ERROR_CASES = [
    "M.multinomial(M.tensor([0.2, 0.3, 0.5]), 4)", "M.multinomial(M.tensor(0.5), 1)",
    "M.multinomial(M.tensor([1, 2]), 1)", "M.multinomial(M.tensor([-0.1, 1.0]), 2, True)",
    "M.multinomial(M.tensor([float('nan'), 1.0]), 2, True)", "M.multinomial(M.tensor([1.0, float('inf')]), 2, True)",
    "M.multinomial(M.tensor([float('inf'), 1.0]), 1)", "M.multinomial(M.zeros(3, 0), 2, True)",
    "M.multinomial(M.tensor([[1.0, 1.0], [0.0, 0.0]]), 2)", "M.multinomial(M.tensor([0.2, 0.8]), 2.0)",
    "M.ones(3).bernoulli_(-0.5)", "M.ones(3).bernoulli_(M.tensor([0.1, 2.0, 0.3]))",
    "M.ones(2, 3).bernoulli_(M.tensor([0.1, 0.5]))", "M.ones(3, dtype=M.int64).bernoulli()",
    "M.ones(3, requires_grad=True).bernoulli_(0.5)", "M.empty(3, dtype=M.int32).random_(2**40)",
    "M.empty(3, dtype=M.bool).random_(0, 3)", "M.empty(3).random_(2**25 + 1, 2**25 + 2)",
    "M.empty(3, requires_grad=True).random_()", "M.empty(3, dtype=M.int32).cauchy_()",
    "M.empty(3).cauchy_(0, -1)", "M.empty(3, dtype=M.int64).log_normal_()", "M.empty(3).geometric_(1.5)",
    "M.poisson(M.tensor([1.0, -1.0]))", "M.poisson(M.tensor([1, 2]))",
    "M.binomial(M.tensor([10, 5]), M.tensor([0.5, 0.2]))", "M.binomial(M.tensor([10.0]), M.tensor([1, 0]))",
    "M.binomial(M.tensor([10.0]), M.tensor([0.5], dtype=M.float64))",
    "M.binomial(M.ones(2, 2), M.tensor([0.5, 0.1, 0.2]))", "M.binomial(M.tensor([10.0]), 0.5)",
    "M.randint_like(M.zeros(2, 3), 10, 3)",
    "M.randint_like(M.zeros(2, 3, dtype=M.int32), 2**40)",
]


@pytest.mark.torch
@pytest.mark.parametrize("expression", ERROR_CASES)
def test_torch_errors(expression):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        eval(expression, {"M": torch})
    with pytest.raises(type(theirs.value)) as ours:
        eval(expression, {"M": tapegrad})
    assert str(ours.value).splitlines()[0] == str(theirs.value).splitlines()[0]
