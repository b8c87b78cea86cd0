"""Names available to every scalar definition compiled into a kernel.

Elementwise ops are written as scalar Python functions; generated kernel modules do
``from tapegrad.backends.scalar_math import *`` so those functions may call what is
exported here. Its source is part of every kernel's cache key.
"""
from __future__ import annotations

from pathlib import Path

from . import fastmath, kernel_cache
from .fastmath import (FASTMATH_FLAGS, fast_exp, fast_expm1, fast_log, fast_log1p, fast_sigmoid,
                       fast_tanh)

__all__ = ["FASTMATH_FLAGS", "fast_exp", "fast_expm1", "fast_log", "fast_log1p", "fast_sigmoid",
           "fast_tanh"]

# Kernels compiled against these names must be rebuilt when either module changes.
kernel_cache.add_fingerprint(Path(__file__).read_text())
kernel_cache.add_fingerprint(Path(fastmath.__file__).read_text())
