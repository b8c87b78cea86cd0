"""3-d convolutions and poolings, max unpooling and power-average pooling on CUDA tensors against
the CPU backend: values, indices, grad_fn names and gradients. Each is a composition of ops
the device already runs, so these check the composition, not new kernels.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); the simulator runs every thread
in Python, so the tensors are tiny and the cases few::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_conv3d_pool3d.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]


def _ties(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Small integers (equal maxima) and a NaN, to check which element the device picks."""
    x = np.random.default_rng(4).integers(-1, 2, shape).astype(dtype)
    x.reshape(-1)[5] = np.nan
    return x


CASES: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("conv3d", lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=(1, 0, 1), groups=2),
     [(1, 2, 3, 2, 3), (2, 1, 2, 2, 2), (2,)]),
    ("conv_transpose3d", lambda x, w: F.conv_transpose3d(x, w, stride=(2, 1, 1), padding=(0, 1, 0),
                                                          output_padding=(1, 0, 0)),
     [(1, 2, 2, 2, 2), (2, 1, 2, 2, 2)]),
    ("max_pool3d", lambda x: F.max_pool3d(x, 2, stride=1, padding=1), [(1, 1, 2, 3, 3)]),
    ("avg_pool3d", lambda x: F.avg_pool3d(x, 2, stride=(1, 2, 1), padding=1, count_include_pad=False),
     [(1, 1, 2, 3, 3)]),
    ("adaptive_max_pool3d", lambda x: F.adaptive_max_pool3d(x, (2, 1, 2)), [(1, 3, 2, 3)]),
    ("lp_pool3d", lambda x: F.lp_pool3d(x.abs() + 0.5, 2, (2, 1, 2)), [(1, 2, 2, 3)]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn, shapes", CASES, ids=[c[0] for c in CASES])
def test_3d_convolutions_and_poolings_match_cpu(name: str, fn: Callable[..., Any], shapes: list, dtype: Any) -> None:
    run_both(fn, [values(shape, dtype, seed=k) for k, shape in enumerate(shapes)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_poolings_pick_the_same_elements_as_the_cpu(dtype: Any) -> None:
    x = _ties((1, 1, 3, 2, 3), dtype)
    run_both(lambda x: F.max_pool3d(x, 2, stride=1, padding=(1, 0, 1)), [x])
    run_both(lambda x: F.max_pool3d(x, 2, stride=1, padding=(1, 0, 1), return_indices=True)[1], [x], grad=False)
    run_both(lambda x: F.adaptive_max_pool3d(x, 2, return_indices=True)[1], [x], grad=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_unpool_matches_cpu(dtype: Any) -> None:
    pooled = values((1, 1, 2, 2, 2), dtype, seed=5)
    indices = np.array([0, 3, 9, 10, 37, 22, 52, 63]).reshape(1, 1, 2, 2, 2)  # in a 4x4x4 volume
    run_both(lambda v, i: F.max_unpool3d(v, i, 2), [pooled, indices])
    run_both(lambda v, i: F.max_unpool2d(v, i, 2), [pooled[0, 0], indices[0, 0] % 16])
