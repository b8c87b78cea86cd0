"""Sampling ops on CUDA tensors (``tapegrad.ops.sampling``): the CUDA generator draws on the host,
so after ``tapegrad.manual_seed(s)`` a CUDA sample equals the CPU sample drawn after the same seed.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_sampling.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
CUDA = tapegrad.device("cuda", 0)


def _same_on_both(sample: Callable[[Any], tapegrad.Tensor]) -> tapegrad.Tensor:
    """``sample(device)`` on CUDA and on the CPU after the same seed: equal numbers, right devices."""
    tapegrad.manual_seed(3)
    on_cuda = sample("cuda")
    tapegrad.manual_seed(3)
    on_cpu = sample("cpu")
    assert on_cuda.device == CUDA and on_cpu.device.type == "cpu"
    assert not on_cuda.requires_grad
    assert_close(on_cuda, on_cpu)
    return on_cuda


SAMPLERS = {
    "bernoulli": lambda d: tapegrad.bernoulli(tapegrad.tensor([0.1, 0.5, 0.9, 1.0], device=d)),
    "bernoulli_method": lambda d: tapegrad.zeros(5, device=d).bernoulli(0.4),
    "bernoulli_": lambda d: tapegrad.zeros(2, 3, device=d).bernoulli_(0.5),
    "bernoulli_tensor_p": lambda d: tapegrad.zeros(2, 3, device=d).bernoulli_(
        tapegrad.tensor([0.2, 0.5, 0.8], device=d)),
    "multinomial": lambda d: tapegrad.multinomial(tapegrad.tensor([[0.1, 0.2, 0.7], [1.0, 0.0, 1.0]], device=d), 2),
    "multinomial_replacement": lambda d: tapegrad.tensor([0.1, 0.2, 0.7], device=d).multinomial(6, True),
    "random_": lambda d: tapegrad.zeros(6, dtype=tapegrad.int64, device=d).random_(),
    "random_range": lambda d: tapegrad.zeros(6, device=d).random_(-3, 9),
    "cauchy_": lambda d: tapegrad.zeros(5, device=d).cauchy_(1.0, 0.5),
    "log_normal_": lambda d: tapegrad.zeros(5, dtype=tapegrad.float64, device=d).log_normal_(),
    "geometric_": lambda d: tapegrad.zeros(5, dtype=tapegrad.int32, device=d).geometric_(0.3),
    "poisson": lambda d: tapegrad.poisson(tapegrad.tensor([0.5, 3.0, 25.0], device=d)),
    "binomial": lambda d: tapegrad.binomial(tapegrad.tensor([5.0, 40.0, 300.0], device=d),
                                            tapegrad.tensor([0.5, 0.3, 0.8], device=d)),
    "randint_like": lambda d: tapegrad.randint_like(tapegrad.zeros(2, 3, device=d), 2, 9),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_cuda_samples_match_the_cpu_stream(name: str) -> None:
    _same_on_both(SAMPLERS[name])


def test_cuda_sampling_leaves_the_cpu_stream_alone() -> None:
    tapegrad.manual_seed(5)
    expected = tapegrad.rand(4).numpy()
    tapegrad.manual_seed(5)
    tapegrad.zeros(4, device="cuda").cauchy_()
    tapegrad.multinomial(tapegrad.ones(3, device="cuda"), 2)
    np.testing.assert_array_equal(tapegrad.rand(4).numpy(), expected)


def test_cuda_generators() -> None:
    own = tapegrad.Generator("cuda").manual_seed(7)
    drawn = tapegrad.zeros(4, device="cuda").random_(0, 100, generator=own)
    again = tapegrad.zeros(4, device="cuda").random_(0, 100, generator=tapegrad.Generator("cuda").manual_seed(7))
    assert_close(drawn, again)
    with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator but found 'cpu'"):
        tapegrad.zeros(2, device="cuda").geometric_(0.5, generator=tapegrad.Generator())
    with pytest.raises(RuntimeError, match="Expected a 'cpu' device type for generator but found 'cuda'"):
        tapegrad.multinomial(tapegrad.ones(3), 1, generator=own)


def test_cuda_in_place_errors_and_versions() -> None:
    leaf = tapegrad.ones(3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        leaf.bernoulli_(0.5)
    x = tapegrad.zeros(3, device="cuda")
    version = x._version
    x.log_normal_()
    assert x._version == version + 1 and (x.cpu().numpy() > 0).all()


@pytest.mark.parametrize("fill", ["uniform_", "normal_", "exponential_"])
@pytest.mark.parametrize("view", [lambda t: t.t(), lambda t: t[:, ::2], lambda t: t.permute(1, 0)[1:]],
                         ids=["transposed", "strided", "permuted-slice"])
def test_cuda_random_fills_of_non_contiguous_views_match_the_cpu(fill: str, view: Callable[[Any], Any]) -> None:
    """A view of a CUDA tensor is filled with the numbers the same view of a CPU tensor gets (in
    memory order, as PyTorch draws), and the rest of its base is left alone."""
    results = []
    for device in ("cuda", "cpu"):
        base = tapegrad.full((4, 6), -7.0, device=device)
        target = view(base)
        assert not target.is_contiguous()
        version = base._version
        tapegrad.manual_seed(11)
        getattr(target, fill)()
        assert base._version == version + 1
        results.append(base.cpu().numpy())
    np.testing.assert_array_equal(*results)
    assert (results[0] == -7.0).sum() == 24 - target.numel()
