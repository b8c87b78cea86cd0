"""Fractional max pooling on CUDA tensors against the CPU backend: values, indices, grad_fn names
and gradients. It is made of ``gather`` and ``argmax``, which the device already runs, so these
check the composition (and that samples on either device are read), not new kernels.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``)::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_fractional_max_pool.py -q
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from cuda_helpers import HAVE_CUDA, SKIP_REASON, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]


def _samples(x: tapegrad.Tensor, rows: list[list[float]]) -> tapegrad.Tensor:
    """The samples in the input's dtype, on its device."""
    return tapegrad.tensor(np.array([rows]), dtype=x.dtype, device=x.device)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_fractional_max_pooling_matches_cpu(dtype: Any) -> None:
    def pool2d(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.fractional_max_pool2d(x, 2, (2, 3), _random_samples=_samples(x, [[0.3, 0.7]]))

    def pool3d(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.fractional_max_pool3d(x, (1, 2, 2), (2, 1, 2), _random_samples=_samples(x, [[0.2, 0.5, 0.9]]))

    def indices2d(x: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.fractional_max_pool2d(x, 2, (2, 3), return_indices=True, _random_samples=_samples(x, [[0.3, 0.7]]))[1]

    run_both(pool2d, [values((1, 1, 4, 5), dtype)])
    run_both(pool3d, [values((1, 3, 3, 4), dtype)])
    run_both(indices2d, [values((1, 1, 4, 5), dtype)], grad=False)


def test_drawn_samples_stay_on_the_device() -> None:
    tapegrad.manual_seed(0)
    x = tapegrad.tensor(values((1, 1, 4, 5)), device="cuda")
    out, indices = F.fractional_max_pool2d(x, 2, (2, 2), return_indices=True)
    assert out.device.type == "cuda" and indices.device.type == "cuda"
