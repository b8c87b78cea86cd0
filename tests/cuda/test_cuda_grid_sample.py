"""``F.grid_sample`` and ``F.affine_grid`` on CUDA tensors against the CPU backend: values, grad_fn
names and gradients to the input, the grid and theta (both are compositions of ops that run on
either device).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    cd tests/cuda && NUMBA_ENABLE_CUDASIM=1 python -m pytest test_cuda_grid_sample.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]


def _spatial_transformer(x: Any, theta: Any) -> Any:
    grid = F.affine_grid(theta, (1, 2, 2, 3), align_corners=True)
    return F.grid_sample(x, grid, padding_mode="reflection", align_corners=True)


SAMPLES: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("bilinear_zeros", lambda x, g: F.grid_sample(x, g, align_corners=False), [(1, 2, 3, 4), (1, 2, 3, 2)]),
    ("bicubic_border", lambda x, g: F.grid_sample(x, g, "bicubic", "border", True), [(1, 1, 3, 4), (1, 2, 2, 2)]),
    ("nearest_reflection_5d", lambda x, g: F.grid_sample(x, g, "nearest", "reflection", False),
     [(1, 2, 2, 3, 2), (1, 1, 2, 2, 3)]),
    ("trilinear_border_5d", lambda x, g: F.grid_sample(x, g, "bilinear", "border", True),
     [(1, 1, 2, 3, 2), (1, 2, 1, 2, 3)]),
    ("affine_grid_3d", lambda theta: F.affine_grid(theta, (1, 1, 2, 3, 2), align_corners=False), [(1, 3, 4)]),
    ("spatial_transformer", _spatial_transformer, [(1, 2, 3, 3), (1, 2, 3)]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn, shapes", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_grid_sample_and_affine_grid_match_cpu(name: str, fn: Callable[..., Any], shapes: list, dtype: Any) -> None:
    # Grid coordinates in [-1.5, 1.5]: inside the input and outside it.
    run_both(fn, [values(shape, dtype, low=-1.5, high=1.5, seed=k + 1) for k, shape in enumerate(shapes)])


def test_input_and_grid_on_different_devices_are_refused() -> None:
    x = tapegrad.zeros(1, 1, 2, 2, device="cuda")
    with pytest.raises(RuntimeError, match="expected input and grid to be on same device, but input is on cuda:0 and "
                                           "grid is on cpu"):
        F.grid_sample(x, tapegrad.zeros(1, 1, 1, 2), align_corners=False)
