"""Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), made fast and safe enough for
tapegrad's kernels. Applied when ``cuda_launch`` (every kernel launch goes through it) or
``tapegrad.cuda`` first loads under the simulator.

The simulator runs each thread of a block as a Python thread, and its scheduler polls them
at every barrier; a poll keeps the GIL for a whole switch interval (5 ms by default) while
the threads it waits for cannot run. A short interval makes kernels with barriers
(reductions, matrix products) several times faster. It also lets threads interleave within
the simulator's ``cuda.shared.array``, which creates a block's array on first use by a
check-then-insert: two threads could each make their own "shared" array. That one step is
made atomic here (the simulator's code, under a lock).
"""
from __future__ import annotations

import sys
import threading
import traceback
from typing import Any

SWITCH_INTERVAL = 2e-4
_applied = False


def quicken() -> None:
    """Make the simulator's shared arrays atomic and shorten the thread switch interval."""
    global _applied
    if _applied:
        return
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
    sys.setswitchinterval(SWITCH_INTERVAL)
    _applied = True
