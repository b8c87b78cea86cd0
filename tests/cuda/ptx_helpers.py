"""Shared by the PTX tests: importing this skips the importing module under the simulator (which
has no compiler) or where NVVM/NVRTC cannot compile, and gives the compute capability to compile
for (the GPU's when there is one, else an H100's)."""
from __future__ import annotations

import numba
import pytest
from numba import cuda, types

if numba.config.ENABLE_CUDASIM:
    pytest.skip("PTX needs the real CUDA compiler: run python -m pytest tests/cuda "
                "without NUMBA_ENABLE_CUDASIM", allow_module_level=True)

from tapegrad.backends import cuda_kernels as ck  # noqa: E402
from tapegrad.ops import elementwise as ew  # noqa: E402

CC = cuda.get_current_device().compute_capability if cuda.is_available() else (9, 0)

try:  # a generated kernel, so that cuda_kernels' compatibility fixes are in place
    cuda.compile_ptx(ck.elementwise_chain(ew._neg, "a").module().flat.py_func,
                     types.void(types.float32[::1], types.float32[::1]), cc=CC)
except Exception as error:  # noqa: BLE001  (any failure: no usable NVVM/NVRTC)
    pytest.skip(f"cannot compile PTX ({type(error).__name__}: {error}); "
                'install numba-cuda with its compiler: pip install "numba-cuda[cu12]"', allow_module_level=True)
