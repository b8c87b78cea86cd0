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
one process per mode; this file therefore never imports Numba. Under the simulator,
tapegrad shortens the thread switch interval and makes shared arrays atomic before its first
launch (see ``tapegrad.backends.cuda_simulator``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


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
