"""``use_deterministic_algorithms`` on CUDA: kernels that add floats with atomics (their sums
round in a different order from run to run) refuse to run, or warn with ``warn_only``, and
ops without such kernels run as usual."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from cuda_helpers import assert_close, needs_cuda, values

pytestmark = needs_cuda()

import tapegrad  # noqa: E402
import tapegrad.nn.functional as F  # noqa: E402


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    yield
    tapegrad.use_deterministic_algorithms(False)


def embedding_backward(device: str) -> Any:
    weight = tapegrad.tensor(values((4, 3)), device=device, requires_grad=True)
    index = tapegrad.tensor(np.array([0, 2, 2, 1]), device=device)
    F.embedding(index, weight).sum().backward()
    return weight.grad


def index_add(device: str) -> Any:
    target = tapegrad.zeros(4, 2, device=device, dtype=tapegrad.float64)
    source = tapegrad.tensor(values((3, 2)), device=device)
    return target.index_add(0, tapegrad.tensor(np.array([1, 1, 3]), device=device), source)


def max_pool_backward(device: str) -> Any:
    x = tapegrad.tensor(values((1, 1, 4, 4)), device=device, requires_grad=True)
    F.max_pool2d(x, 3, 1).sum().backward()  # overlapping windows
    return x.grad


ATOMIC: dict[str, tuple[Callable[[str], Any], str]] = {
    "embedding backward": (embedding_backward, "scatter_add_cuda_"),
    "index_add": (index_add, "scatter_add_cuda_"),
    "max_pool2d backward": (max_pool_backward, "max_pool2d_with_indices_backward_cuda"),
}


@pytest.mark.parametrize("name", list(ATOMIC))
def test_atomic_kernels_refuse_in_deterministic_mode(name: str) -> None:
    run, kernel = ATOMIC[name]
    tapegrad.use_deterministic_algorithms(True)
    with pytest.raises(RuntimeError, match=f"{kernel} does not have a deterministic implementation"):
        run("cuda")
    run("cpu")  # the CPU kernels are deterministic: no refusal


@pytest.mark.parametrize("name", list(ATOMIC))
def test_warn_only_warns_and_computes(name: str) -> None:
    run, kernel = ATOMIC[name]
    tapegrad.use_deterministic_algorithms(True, warn_only=True)
    with pytest.warns(UserWarning, match=f"{kernel} does not have a deterministic implementation"):
        got = run("cuda")
    assert_close(got, run("cpu"))


def test_ops_without_atomics_run_in_deterministic_mode() -> None:
    tapegrad.use_deterministic_algorithms(True)
    x = tapegrad.tensor(values((3, 4)), device="cuda", requires_grad=True)
    (x.tanh() * x).sum().backward()
    reference = tapegrad.tensor(values((3, 4)), requires_grad=True)
    (reference.tanh() * reference).sum().backward()
    assert_close(x.grad, reference.grad)
