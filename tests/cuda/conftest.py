"""The CUDA kernel tests run only when asked for, each kind in its own process.

``python -m pytest`` from the repository root (CI's ``-n auto`` run) does not collect this
directory, so the main suite neither imports ``numba.cuda`` nor needs numba-cuda. It is
collected when a path inside it is named on the command line, when
``NUMBA_ENABLE_CUDASIM=1`` is set, or when ``TAPEGRAD_CUDA_TESTS=1`` is set:

- ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda -q``: ``test_cuda_kernels.py`` launches
  every kernel kind in Numba's CUDA simulator (no GPU needed); the PTX tests skip themselves
  (the simulator has no compiler).
- ``python -m pytest tests/cuda -q``: ``test_cuda_ptx.py`` compiles the real kernels to PTX
  with NVRTC/NVVM (``pip install "numba-cuda[cu12]"``; no GPU needed), which catches the
  typing errors the simulator, running plain Python, never sees. On a machine with a GPU the
  launch tests run on the hardware too; without one they skip, saying to use the simulator.

The simulator must be chosen before Numba is imported (Numba reads the variable once), hence
one process per mode; this file therefore imports Numba only when the variable is already set
(to speed the simulator up, see ``_quick_simulator``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent



def _quick_simulator() -> None:
    """Run the simulator's kernels with a short thread switch interval.

    The simulator runs each thread of a block as a Python thread, and its scheduler polls
    them at every barrier; a poll keeps the GIL for a whole switch interval (5 ms by default)
    while the threads it waits for cannot run. A short interval makes kernels with barriers
    (reductions, matrix products) several times faster. It also lets threads interleave
    within the simulator's ``cuda.shared.array``, which creates a block's array on first use
    by a check-then-insert: two threads could each make their own "shared" array. That one
    step is made atomic here (the simulator's code, under a lock).
    """
    import threading
    import traceback

    import numpy as np
    from numba.cuda import types
    from numba.cuda.np import numpy_support
    from numba.cuda.simulator import kernelapi

    lock = threading.Lock()
    dynamic = kernelapi.FakeCUDAShared.array

    def array(self: Any, shape: Any, dtype: Any, alignment: Any = None) -> Any:
        if shape == 0 or alignment is not None:
            return dynamic(self, shape, dtype, alignment)  # no per-call-site state
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        # One array per call site (file and line), as the simulator keys them.
        caller = tuple(traceback.extract_stack(sys._getframe(1), limit=1)[0][0:2])
        with lock:
            found = self._allocations.get(caller)
            if found is None:
                found = self._allocations[caller] = np.empty(shape, dtype)
        return found

    kernelapi.FakeCUDAShared.array = array
    sys.setswitchinterval(2e-4)


if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    _quick_simulator()


def _asked_for(config: pytest.Config) -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or os.environ.get("TAPEGRAD_CUDA_TESTS") == "1":
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave this directory out of runs that did not ask for it (see the module docstring)."""
    if collection_path.parent == HERE and not _asked_for(config):
        return True
    return None
