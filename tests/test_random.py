"""Tests for tapegrad.random: statistical sanity, state handling and PyTorch parity."""
from __future__ import annotations

import platform

import numpy as np
import pytest

from tapegrad import random as trandom
from tapegrad.random import Generator

SHAPES = [(), (1,), (2,), (15,), (16,), (17,), (31,), (33,), (1000,), (1001,), (3, 7),
          (4, 8), (5, 13), (2, 3, 4)]
SEEDS = [0, 1, 2, 7, 42, 1234, 2**31 - 1, 2**32 + 5, 67280421310721, 2**64 - 1]
FLOAT_DTYPES = [np.float32, np.float64]


# --------------------------------------------------------------------------- no torch


def test_mt19937_known_answer():
    # The 10000th output of MT19937 seeded with 5489 is fixed by the C++ standard.
    assert Generator(seed=5489).random_bits(10000)[-1] == 4123659995


def test_known_torch_values_without_torch():
    g = Generator(seed=0)
    np.testing.assert_array_equal(
        g.uniform((3,), 0.0, 1.0, np.float32),
        np.array([0.49625658988952637, 0.7682217955589294, 0.08847743272781372], np.float32))
    np.testing.assert_array_equal(
        g.normal((3,), 0.0, 1.0, np.float32),
        np.array([0.3643381893634796, 0.13439632952213287, 0.16421625018119812], np.float32))
    np.testing.assert_array_equal(g.randint(0, 10, (5,)), [6, 6, 9, 8, 6])
    np.testing.assert_array_equal(g.randperm(6), [0, 4, 1, 3, 2, 5])
    np.testing.assert_array_equal(
        Generator(seed=0).normal((20,), 0.0, 1.0, np.float32)[:4],
        np.array([-1.1258398294448853, -1.152360200881958, -0.2505785822868347,
                  -0.4338788092136383], np.float32))


def _draw_all(g: Generator) -> list[np.ndarray]:
    return [g.uniform((5,), 0, 1, np.float32), g.normal((3,), 0, 1, np.float64),
            g.normal((40,), 0, 1, np.float32), g.randint(-3, 9, (6,), np.int64),
            g.randperm(9), g.bernoulli(0.4, (7,), np.float32)]


def test_same_seed_same_numbers_and_different_seeds_differ():
    a, b, c = _draw_all(Generator(seed=3)), _draw_all(Generator(seed=3)), _draw_all(Generator(seed=4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))
    assert not np.array_equal(a[2], c[2])


def test_manual_seed_resets_and_module_api():
    g = trandom.manual_seed(11)
    assert g is trandom.default_generator
    assert trandom.initial_seed() == 11
    first = _draw_all(g)
    assert trandom.manual_seed(11) is g
    for x, y in zip(first, _draw_all(trandom.default_generator)):
        np.testing.assert_array_equal(x, y)
    # Reseeding clears the cached second normal value.
    trandom.manual_seed(5)
    x = trandom.default_generator.normal((1,), 0, 1, np.float64)
    trandom.default_generator.normal((1,), 0, 1, np.float64)  # leaves no cached value
    trandom.default_generator.normal((1,), 0, 1, np.float64)  # leaves a cached value
    trandom.manual_seed(5)
    np.testing.assert_array_equal(trandom.default_generator.normal((1,), 0, 1, np.float64), x)


def test_seed_values_and_wrapping():
    assert Generator().initial_seed() == 67280421310721
    assert Generator(seed=-1).initial_seed() == 2**64 - 1
    np.testing.assert_array_equal(Generator(seed=-1).random_bits(5), Generator(seed=2**64 - 1).random_bits(5))
    # Only the low 32 bits seed the engine.
    np.testing.assert_array_equal(Generator(seed=2**32 + 9).random_bits(5), Generator(seed=9).random_bits(5))
    with pytest.raises(ValueError):
        Generator(seed=2**64)
    with pytest.raises(ValueError):
        Generator(seed=-2**63 - 1)
    g = Generator(seed=0)
    s = g.seed()
    assert isinstance(s, int) and 0 <= s < 2**64
    assert g.initial_seed() == s
    np.testing.assert_array_equal(g.random_bits(8), Generator(seed=s).random_bits(8))
    s2 = trandom.seed()
    assert trandom.initial_seed() == s2


def test_get_set_state_round_trip():
    g = Generator(seed=21)
    g.uniform((700,), 0, 1, np.float32)  # cross a twist boundary
    g.normal((3,), 0, 1, np.float32)  # leaves a cached normal value
    state = g.get_state()
    assert state.dtype == np.uint8 and state.ndim == 1
    expected = _draw_all(g)
    g.set_state(state)
    for x, y in zip(expected, _draw_all(g)):
        np.testing.assert_array_equal(x, y)
    other = Generator(seed=99)
    other.set_state(state)
    assert other.initial_seed() == 21
    for x, y in zip(expected, _draw_all(other)):
        np.testing.assert_array_equal(x, y)
    # The module-level functions act on the default generator.
    trandom.manual_seed(8)
    saved = trandom.get_rng_state()
    a = trandom.default_generator.normal((5,), 0, 1, np.float32)
    trandom.set_rng_state(saved)
    np.testing.assert_array_equal(trandom.default_generator.normal((5,), 0, 1, np.float32), a)
    with pytest.raises(ValueError):
        g.set_state(state[:-1])
    with pytest.raises(ValueError):
        g.set_state(state.astype(np.int16))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_shapes_and_dtypes(dtype):
    g = Generator(seed=1)
    for shape in SHAPES + [(0,), (3, 0)]:
        for out in (g.uniform(shape, 0, 1, dtype), g.normal(shape, 0, 1, dtype)):
            assert out.shape == shape and out.dtype == dtype
    assert g.randint(0, 5, (2, 3), np.int32).dtype == np.int32
    assert g.randint(0, 5, (), np.int64).shape == ()
    assert g.randperm(4, np.int32).dtype == np.int32
    assert g.bernoulli(0.5, (2, 2), np.bool_).dtype == np.bool_
    with pytest.raises(TypeError):
        g.uniform((2,), 0, 1, np.int64)
    with pytest.raises(TypeError):
        g.normal((2,), 0, 1, np.float16)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_uniform_range(dtype):
    g = Generator(seed=5)
    x = g.uniform((200_000,), 0.0, 1.0, dtype)
    assert x.min() >= 0.0 and x.max() < 1.0
    assert abs(x.mean() - 0.5) < 5 * np.sqrt(1 / 12 / x.size)
    y = g.uniform((100_000,), -3.0, 2.0, dtype)
    assert y.min() >= -3.0 and y.max() < 2.0
    assert abs(y.mean() + 0.5) < 5 * 5 * np.sqrt(1 / 12 / y.size)
    with pytest.raises(RuntimeError):
        g.uniform((2,), 1.0, 0.0, dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n", [15, 200_000, 200_003])
def test_normal_statistics(dtype, n):
    g = Generator(seed=6)
    reps = max(1, 200_000 // n)
    x = np.concatenate([g.normal((n,), 0.0, 1.0, dtype) for _ in range(reps)]).astype(np.float64)
    assert np.all(np.isfinite(x))
    assert abs(x.mean()) < 5 / np.sqrt(x.size)
    assert abs(x.std() - 1.0) < 5 * np.sqrt(0.5 / x.size)
    # fourth moment of a standard normal is 3
    assert abs(np.mean(x**4) - 3.0) < 0.1
    y = g.normal((100_000,), 2.5, 0.5, dtype).astype(np.float64)
    assert abs(y.mean() - 2.5) < 5 * 0.5 / np.sqrt(y.size)
    assert abs(y.std() - 0.5) < 0.01
    with pytest.raises(RuntimeError):
        g.normal((2,), 0.0, -1.0, dtype)


def test_randint_bounds():
    g = Generator(seed=7)
    for low, high in [(0, 1), (0, 2), (-5, 5), (10, 17), (0, 2**28 + 3), (-2**40, 2**40)]:
        x = g.randint(low, high, (20_000,))
        assert x.dtype == np.int64
        assert x.min() >= low and x.max() < high
    small = g.randint(-2, 3, (10_000,))
    assert set(np.unique(small).tolist()) == {-2, -1, 0, 1, 2}
    assert abs(small.mean()) < 0.1
    with pytest.raises(ValueError):
        g.randint(3, 3, (2,))
    with pytest.raises(ValueError):
        g.randint(0, 2**40, (2,), np.int32)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 16, 1000, 10_000])
def test_randperm_is_permutation(n):
    perm = Generator(seed=8).randperm(n)
    assert perm.dtype == np.int64
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_randperm_is_shuffled():
    perm = Generator(seed=8).randperm(1000)
    assert not np.array_equal(perm, np.arange(1000))
    firsts = [Generator(seed=s).randperm(4)[0] for s in range(400)]
    counts = np.bincount(firsts, minlength=4)
    assert counts.min() > 60


def test_bernoulli():
    g = Generator(seed=9)
    assert g.bernoulli(0.0, (1000,)).sum() == 0
    assert g.bernoulli(1.0, (1000,)).sum() == 1000
    x = g.bernoulli(0.3, (100_000,))
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}
    assert abs(x.mean() - 0.3) < 5 * np.sqrt(0.21 / x.size)
    p = np.array([0.0, 0.25, 1.0])
    y = g.bernoulli(p, (40_000, 3), np.float64)
    assert y[:, 0].sum() == 0 and y[:, 2].sum() == 40_000
    assert abs(y[:, 1].mean() - 0.25) < 0.02
    assert g.bernoulli(np.full((2, 3), 0.5, np.float32)).shape == (2, 3)
    with pytest.raises(ValueError):
        g.bernoulli(1.5, (2,))
    with pytest.raises(ValueError):
        g.bernoulli(np.array([0.5, -0.1]))


# --------------------------------------------------------------------------- torch parity

torch = pytest.importorskip("torch")

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _fma_kernels() -> bool:
    """Whether PyTorch runs its vectorized (FMA-using) CPU kernels here; with its
    baseline kernels a few float results differ in the last bit."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def _intel_mkl_bernoulli() -> bool:
    """PyTorch uses MKL's own stream for scalar-p bernoulli_ on Intel CPUs."""
    if not torch.backends.mkl.is_available():
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return "GenuineIntel" in f.read(4096)
    except OSError:
        return "intel" in platform.processor().lower()


EXACT = _fma_kernels()


def assert_matches(ours: np.ndarray, theirs, exact: bool = True):
    theirs = theirs.numpy()
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype
    if exact:
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=2e-6)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_torch_rand_and_uniform(dtype):
    tdt = TORCH_DTYPE[dtype]
    for seed in SEEDS:
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        for shape in SHAPES:
            assert_matches(g.uniform(shape, 0.0, 1.0, dtype), torch.rand(shape, dtype=tdt))
            assert_matches(g.uniform(shape, -1.5, 2.25, dtype),
                           torch.empty(shape, dtype=tdt).uniform_(-1.5, 2.25), EXACT)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_torch_randn_and_normal(dtype):
    tdt = TORCH_DTYPE[dtype]
    for seed in SEEDS:
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        for shape in SHAPES:
            assert_matches(g.normal(shape, 0.0, 1.0, dtype), torch.randn(shape, dtype=tdt), EXACT)
            assert_matches(g.normal(shape, 0.7, 2.3, dtype),
                           torch.empty(shape, dtype=tdt).normal_(0.7, 2.3), EXACT)


@pytest.mark.torch
def test_torch_randn_large():
    for seed in (0, 3):
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        for n in (100_000, 262_147):
            assert_matches(g.normal((n,), 0.0, 1.0, np.float32), torch.randn(n), EXACT)
        assert_matches(g.normal((50_001,), 0.0, 1.0, np.float64),
                       torch.randn(50_001, dtype=torch.float64), EXACT)
        assert_matches(g.uniform((3, 100_000), 0.0, 1.0, np.float32), torch.rand(3, 100_000))


@pytest.mark.torch
def test_torch_randint():
    ranges = [(0, 10), (-5, 7), (0, 2), (0, 2**28 - 1), (0, 2**28), (3, 2**32 + 3),
              (-2**40, 2**40), (-2**63, 2**63 - 1)]
    for seed in SEEDS:
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        for shape in [(), (1,), (17,), (4, 5), (1000,)]:
            for low, high in ranges:
                assert_matches(g.randint(low, high, shape), torch.randint(low, high, shape))
            assert_matches(g.randint(-3, 100, shape, np.int32),
                           torch.randint(-3, 100, shape, dtype=torch.int32))
            assert_matches(g.randint(0, 5, shape, np.int32),
                           torch.empty(shape, dtype=torch.int32).random_(0, 5))


@pytest.mark.torch
def test_torch_randperm():
    for seed in SEEDS[:6]:
        for n in [0, 1, 2, 3, 15, 16, 17, 100, 1000, 10_000, 65_537]:
            torch.manual_seed(seed)
            g = trandom.manual_seed(seed)
            assert_matches(g.randperm(n), torch.randperm(n))
    torch.manual_seed(4)
    g = trandom.manual_seed(4)
    assert_matches(g.randperm(50, np.int32), torch.randperm(50, dtype=torch.int32))


@pytest.mark.torch
def test_torch_bernoulli_tensor_p():
    rs = np.random.RandomState(0)
    for seed in SEEDS[:6]:
        p32 = rs.rand(3, 50).astype(np.float32)
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        assert_matches(g.bernoulli(p32, None, np.float32), torch.bernoulli(torch.from_numpy(p32)))
        p64 = rs.rand(7, 9)
        assert_matches(g.bernoulli(p64, None, np.float64), torch.bernoulli(torch.from_numpy(p64)))
        row = rs.rand(7).astype(np.float32)
        assert_matches(g.bernoulli(row, (4, 7), np.float32),
                       torch.empty(4, 7).bernoulli_(torch.from_numpy(row)))


@pytest.mark.torch
@pytest.mark.skipif(_intel_mkl_bernoulli(),
                    reason="PyTorch draws scalar-p bernoulli_ from MKL on Intel CPUs")
def test_torch_bernoulli_scalar_and_dropout():
    for seed in SEEDS:
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        for shape in [(), (1,), (17,), (4, 5), (10_000,)]:
            for p in (0.0, 0.1, 0.5, 0.9, 1.0):
                assert_matches(g.bernoulli(p, shape, np.float32),
                               torch.empty(shape).bernoulli_(p))
            assert_matches(g.bernoulli(0.3, shape, np.float64),
                           torch.empty(shape, dtype=torch.float64).bernoulli_(0.3))
        # dropout(p) keeps an element when a Bernoulli(1 - p) draw is 1
        keep = g.bernoulli(1 - 0.25, (64, 32), np.float32)
        dropped = torch.nn.functional.dropout(torch.ones(64, 32), 0.25, training=True)
        np.testing.assert_array_equal(keep != 0, dropped.numpy() != 0)


@pytest.mark.torch
def test_torch_mixed_sequences():
    for seed in range(12):
        torch.manual_seed(seed)
        g = trandom.manual_seed(seed)
        assert_matches(g.uniform((3,), 0, 1, np.float32), torch.rand(3))
        assert_matches(g.normal((20,), 0, 1, np.float32), torch.randn(20), EXACT)
        assert_matches(g.randint(0, 10, (5,)), torch.randint(0, 10, (5,)))
        # odd-sized small normals leave a cached value that later small calls consume,
        # also across an intervening large call
        assert_matches(g.normal((3,), 0, 1, np.float32), torch.randn(3), EXACT)
        assert_matches(g.normal((17,), 0, 1, np.float64), torch.randn(17, dtype=torch.float64),
                       EXACT)
        assert_matches(g.normal((1,), 0, 1, np.float64), torch.randn(1, dtype=torch.float64),
                       EXACT)
        assert_matches(g.normal((), 1.0, 3.0, np.float32), torch.empty(()).normal_(1.0, 3.0),
                       EXACT)
        assert_matches(g.randperm(7), torch.randperm(7))
        assert_matches(g.uniform((2, 2), 0, 1, np.float64), torch.rand(2, 2, dtype=torch.float64))
        assert_matches(g.bernoulli(np.full(5, 0.5, np.float32)),
                       torch.bernoulli(torch.full((5,), 0.5)))
        assert_matches(g.randint(0, 2**33, (3,)), torch.randint(0, 2**33, (3,)))
        assert_matches(g.normal((2, 3), 0, 1, np.float32), torch.randn(2, 3), EXACT)


@pytest.mark.torch
def test_torch_state_round_trip():
    torch.manual_seed(17)
    g = trandom.manual_seed(17)
    assert_matches(g.normal((5,), 0, 1, np.float64), torch.randn(5, dtype=torch.float64), EXACT)
    ours, theirs = g.get_state(), torch.get_rng_state()
    first = [g.normal((3,), 0, 1, np.float32), g.uniform((40,), 0, 1, np.float32)]
    g.set_state(ours)
    torch.set_rng_state(theirs)
    second = [g.normal((3,), 0, 1, np.float32), g.uniform((40,), 0, 1, np.float32)]
    expected = [torch.randn(3), torch.rand(40)]
    for a, b, t in zip(first, second, expected):
        np.testing.assert_array_equal(a, b)
        assert_matches(b, t, EXACT)


@pytest.mark.torch
def test_torch_separate_generators():
    for seed in (0, 5, 2**40 + 3):
        tg = torch.Generator().manual_seed(seed)
        g = Generator(seed=seed)
        assert g.initial_seed() == tg.initial_seed()
        assert_matches(g.normal((33,), 0, 1, np.float32), torch.randn(33, generator=tg), EXACT)
        assert_matches(g.randperm(20), torch.randperm(20, generator=tg))
        assert_matches(g.uniform((4,), 0, 1, np.float64),
                       torch.rand(4, dtype=torch.float64, generator=tg))
    assert Generator().initial_seed() == torch.Generator().initial_seed()


# --------------------------------------------------------------------------- normal() of tensors

NORMAL_FORMS = {
    "both tensors": lambda m: m.normal(m.zeros(2, 1, dtype=m.float64), m.ones(3, dtype=m.float64) * 2),
    "tensor mean": lambda m: m.normal(m.tensor([1.0, -2.0, 3.0])),
    "tensor std": lambda m: m.normal(1.5, m.tensor([[0.5, 1.0], [2.0, 0.0]])),
    "numbers": lambda m: m.normal(2.0, 3.0, (4,)),
}


@pytest.mark.torch
@pytest.mark.parametrize("form", list(NORMAL_FORMS))
def test_torch_normal_of_tensors(form):
    import tapegrad

    for seed in SEEDS[:4]:
        torch.manual_seed(seed)
        tapegrad.manual_seed(seed)
        ours, theirs = NORMAL_FORMS[form](tapegrad), NORMAL_FORMS[form](torch)
        assert_matches(ours.numpy(), theirs, EXACT)
        assert not ours.requires_grad


@pytest.mark.parametrize("call, error, message", [
    (lambda m: m.normal(m.ones(2), -m.ones(2)), RuntimeError, "normal expects all elements of std >= 0.0"),
    (lambda m: m.normal(m.ones(2), -1.0), RuntimeError, "normal expects std >= 0.0, but found std -1.0"),
    (lambda m: m.normal(m.ones(2), m.ones(3)), RuntimeError,
     "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"),
    (lambda m: m.normal(m.ones(2, dtype=m.int64), 1.0), NotImplementedError,
     "\"normal_kernel_cpu\" not implemented for 'Long'"),
])
def test_normal_of_tensors_refuses_bad_arguments(call, error, message):
    import re

    import tapegrad

    with pytest.raises(error, match=re.escape(message)):
        call(tapegrad)


@pytest.mark.parametrize("fill", ["uniform_", "normal_", "exponential_"])
def test_filling_a_leaf_that_requires_grad_is_refused_before_any_draw(fill):
    import tapegrad

    tapegrad.manual_seed(0)
    leaf = tapegrad.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        getattr(leaf, fill)()
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        getattr(leaf[1:], fill)()
    after = tapegrad.rand(2)
    tapegrad.manual_seed(0)
    assert tapegrad.rand(2).tolist() == after.tolist()  # nothing was drawn
    with tapegrad.no_grad():
        assert getattr(leaf, fill)() is leaf and leaf.grad_fn is None  # as nn.init fills parameters
