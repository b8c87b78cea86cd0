"""Names available to every scalar definition compiled into a kernel.

Elementwise ops are written as scalar Python functions; generated kernel modules do
``from tapegrad.backends.scalar_math import *`` so those functions may call what is
exported here. Its source is part of every kernel's cache key.
"""
from __future__ import annotations

import math

from numba import njit

from . import kernel_cache

# Flags that keep nan/inf semantics but let LLVM contract and vectorise. Not 'reassoc':
# it lets LLVM fold away the magic-number rounding used by the polynomial approximations.
FASTMATH_FLAGS = {"nsz", "arcp", "contract", "afn"}

__all__ = ["FASTMATH_FLAGS"]

kernel_cache.add_fingerprint(open(__file__).read())
