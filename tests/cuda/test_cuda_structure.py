"""``tapegrad.ops.structure`` on CUDA against the CPU backend: the in-place products and shape
changes, diagonal and slice embedding, covariance, integration, ``vander``, ``mode``,
``combinations``, ``isin``, ``unravel_index`` and the windows (values, grad_fn names and
gradients).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_structure.py -q
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")


# name -> (function of the tensors, the arrays they are made from)
CASES: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    "addmm_": (lambda x, a, b: (x * 1).addmm_(a, b, beta=0.5), [values((2, 3)), values((2, 2), seed=1),
                                                                 values((2, 3), seed=2)]),
    "addr_": (lambda x, a, b: (x * 1).addr_(a, b, alpha=2), [values((2, 3)), values((2,), seed=1),
                                                             values((3,), seed=2)]),
    "t_ and unsqueeze_": (lambda x: (x * 1).t_().unsqueeze_(0) * 2, [values((2, 3))]),
    "transpose_": (lambda x: (x * 1).transpose_(0, 2) * 2, [values((2, 1, 3))]),
    "tril_": (lambda x: (x * 1).tril_(), [values((3, 3))]),
    "fill_diagonal_": (lambda x: (x * 1).fill_diagonal_(0.5, wrap=True), [values((5, 2))]),
    "renorm": (lambda x: x.renorm(2, 0, 1.0), [values((3, 2))]),
    "diag_embed": (lambda x: tapegrad.diag_embed(x, 1), [values((2, 2))]),
    "diagonal_scatter": (lambda x, s: tapegrad.diagonal_scatter(x, s), [values((2, 3)), values((2,), seed=1)]),
    "select_scatter": (lambda x, s: tapegrad.select_scatter(x, s, 1, 0), [values((2, 3)), values((2,), seed=1)]),
    "slice_scatter": (lambda x, s: tapegrad.slice_scatter(x, s, 0, 1, None, 2), [values((4, 2)),
                                                                                 values((2, 2), seed=1)]),
    "cov aweights": (lambda x, a: tapegrad.cov(x, aweights=a), [values((2, 4)), values((4,), low=0.5, seed=1)]),
    "corrcoef": (lambda x: tapegrad.corrcoef(x), [values((2, 4))]),
    "trapezoid x": (lambda y, x: tapegrad.trapezoid(y, x), [values((2, 3)), values((3,), seed=1)]),
    "cumulative_trapezoid": (lambda y: tapegrad.cumulative_trapezoid(y, dx=0.5), [values((2, 3))]),
    "vander": (lambda x: tapegrad.vander(x, 3), [values((3,), low=0.5)]),
    "mode": (lambda x: tapegrad.mode(x, 0).values, [np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0]])]),
    "combinations": (lambda x: tapegrad.combinations(x), [values((3,))]),
    "dist": (lambda x, y: x.dist(y, 3), [values((2, 2)), values((2,), seed=1)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_cpu(name: str) -> None:
    fn, arrays = CASES[name]
    run_both(fn, arrays)


def test_non_differentiable_results_match_cpu() -> None:
    run_both(lambda x: tapegrad.mode(x, 1).indices, [np.array([[1, 2, 2], [3, 3, 1]])], grad=False)
    run_both(lambda x, t: tapegrad.isin(x, t), [np.array([1, 2, 3]), np.array([2.0, 5.0])], grad=False)
    run_both(lambda x: tapegrad.unravel_index(x, (2, 3))[1], [np.array([4, -1, 5])], grad=False)
    run_both(lambda x: tapegrad.vander(x), [np.array([1, 2, 3])], grad=False)
    # Enough pairs for isin to search the sorted test elements instead of comparing every pair.
    run_both(lambda x, t: tapegrad.isin(x, t), [np.arange(300) % 37, np.arange(0, 900, 3)], grad=False)


def test_factories_make_tensors_on_the_device() -> None:
    for make in (lambda **kw: tapegrad.hann_window(4, **kw), lambda **kw: tapegrad.kaiser_window(3, False, **kw),
                 lambda **kw: tapegrad.logspace(0, 2, 3, **kw)):
        on_device = make(device="cuda")
        assert on_device.device.type == "cuda"
        assert_close(on_device, make())


def test_in_place_shape_change_on_device_keeps_the_buffer() -> None:
    x = tapegrad.arange(6.0, device="cuda").reshape(2, 3)
    pointer = x.data_ptr()
    x.t_()
    assert tuple(x.shape) == (3, 2) and x.data_ptr() == pointer and x.is_cuda and not x.is_cpu
    assert x.nbytes == 6 * 4 and x.itemsize == 4
    assert x.cpu().tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
