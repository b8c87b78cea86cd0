"""Names available to every scalar definition compiled into a kernel.

Elementwise ops are written as scalar Python functions; generated kernel modules do
``from tapegrad.backends.scalar_math import *`` so those functions may call what is
exported here. Its source is part of every kernel's cache key.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from . import fastmath, kernel_cache
from .fastmath import (FASTMATH_FLAGS, fast_exp, fast_expm1, fast_log, fast_log1p, fast_sigmoid,
                       fast_tanh)

__all__ = ["FASTMATH_FLAGS", "accumulate", "fast_exp", "fast_expm1", "fast_log", "fast_log1p", "fast_sigmoid",
           "fast_tanh", "float_ceil", "float_floor", "float_round"]

# Kernels compiled against these names must be rebuilt when either module changes.
kernel_cache.add_fingerprint(Path(__file__).read_text())
kernel_cache.add_fingerprint(Path(fastmath.__file__).read_text())


@njit(fastmath=FASTMATH_FLAGS | {"reassoc"}, cache=True)
def accumulate(total, x):  # noqa: ANN001, ANN201 - compiled by Numba
    """``total + x`` for a sum accumulated in a loop. Only this addition may be reassociated,
    which lets LLVM keep several partial sums in vector lanes; the loop's other arithmetic
    keeps the kernel's own flags. (Left to LLVM's inliner, not Numba's ``inline='always'``,
    so the instruction keeps this function's flags.) Measured: a float32 array summed into
    float64 ran about 20x faster than with ``total += x``."""
    return total + x


# Rounding to an integral value that stays a float (math.floor would convert to int64, which
# overflows). Named here rather than written as np.floor in scalar definitions because
# numba-cuda has no lowering of np.floor & co. for scalars: the CUDA kernel modules define the
# same names over libdevice (``cuda_kernels._CUDA_MATH_SOURCE``). LLVM inlines these into the
# calling kernel, where they vectorise as np.floor written inline did.

@njit(cache=True)
def float_floor(x):  # noqa: ANN001, ANN201 - compiled by Numba
    return np.floor(x)


@njit(cache=True)
def float_ceil(x):  # noqa: ANN001, ANN201 - compiled by Numba
    return np.ceil(x)


@njit(cache=True)
def float_round(x):  # noqa: ANN001, ANN201 - compiled by Numba
    """Round half to even, as np.round and torch.round."""
    return np.round(x)
