"""uint8, int8 and int16 on CUDA against the CPU backend: arithmetic, scalars that wrap into the
narrow type, conversions, comparisons, reductions, indexing and masks; and their kernels compiled
to PTX (without the simulator).

The simulator runs kernels as Python with NumPy scalars, which raise where the hardware wraps
around (an int8 product past 127), so the values here stay in range inside kernels; wrapping of
Python scalars happens on the host and is checked::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_small_ints.py -q
    python -m pytest tests/cuda/test_cuda_small_ints.py -q
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SIMULATED, SKIP_REASON, run_both

NARROW = ("uint8", "int8", "int16")

OPS: list[tuple[str, Callable[..., Any]]] = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("true_divide", lambda a, b: a / b), ("floor_divide", lambda a, b: a // b), ("remainder", lambda a, b: a % b),
    ("scalar_wraps", lambda a, b: a + 300), ("float_scalar", lambda a, b: a * 1.5),
    ("compare", lambda a, b: (a < b) | (a == 7)), ("maximum", lambda a, b: a.maximum(b)),
    ("and_not", lambda a, b: (a & b) ^ ~a), ("to_float", lambda a, b: a.float() + b.double()),
    ("from_float", lambda a, b: (a.float() * 0.7 + 1.2).to(a.dtype)), ("to_int8", lambda a, b: a.char()),
    ("mixed_uint8_int8", lambda a, b: a.byte() + b.char()), ("where", lambda a, b: a.where(a > b, b)),
    ("sum", lambda a, b: a.sum(1)), ("amax", lambda a, b: a.amax(0)), ("argmax", lambda a, b: a.argmax(1)),
    ("cumsum", lambda a, b: a.cumsum(1)), ("sort", lambda a, b: a.sort(1).values),
    ("any", lambda a, b: a.any(1)), ("slice", lambda a, b: a[1:, ::2].contiguous()),
    ("mask", lambda a, b: a[a > b]), ("clamp", lambda a, b: a.clamp(2, 40)),
]


def _operands(name: str) -> tuple[np.ndarray, np.ndarray]:
    # Small magnitudes: every product, sum and cast in the ops above stays in the dtype's range.
    rng = np.random.default_rng(len(name))
    low = 0 if name == "uint8" else -9
    a = rng.integers(low, 10, (3, 5)).astype(name)
    b = rng.integers(1, 10, (3, 5)).astype(name)
    return a, b


@pytest.mark.skipif(not HAVE_CUDA, reason=SKIP_REASON)
@pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("op,fn", OPS, ids=[op for op, _ in OPS])
def test_ops_match_cpu(op: str, fn: Callable[..., Any], name: str) -> None:
    run_both(fn, list(_operands(name)), grad=False)


@pytest.mark.skipif(not HAVE_CUDA, reason=SKIP_REASON)
@pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")
def test_uint8_index_is_a_mask_on_cuda() -> None:
    import tapegrad

    x = tapegrad.arange(6, device="cuda").reshape(2, 3)
    mask = tapegrad.tensor([[1, 0, 2], [0, 0, 1]], dtype=tapegrad.uint8, device="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        picked = x[mask]
    assert picked.device.type == "cuda" and picked.tolist() == [0, 2, 5]
    assert x[mask].dtype is tapegrad.int64 and mask.any().dtype is tapegrad.uint8
    assert mask.type() == "tapegrad.cuda.ByteTensor"
    moved = tapegrad.tensor([1.5]).type("torch.cuda.ShortTensor")
    assert moved.device.type == "cuda" and moved.dtype is tapegrad.int16


@pytest.mark.skipif(SIMULATED, reason="PTX needs the real CUDA compiler: run without NUMBA_ENABLE_CUDASIM")
@pytest.mark.parametrize("name", NARROW)
def test_narrow_integer_kernels_compile(name: str) -> None:
    from numba import cuda, types

    from ptx_helpers import CC  # skips without a PTX compiler
    from tapegrad.backends import cuda_kernels as ck
    from tapegrad.ops import elementwise as ew

    dtype = getattr(types, name)
    for fn, pattern in [(ew._add, "aa"), (ew._mul, "as"), (ew._floor_div_int, "aa"), (ew._identity, "a")]:
        kernel = ck.elementwise_chain(fn, pattern).module().flat
        operands = [dtype if letter == "s" else dtype[::1] for letter in pattern]
        ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(dtype[::1], *operands), cc=CC)
        assert ptx.count(".entry") == 1
    # The float-to-narrow cast runs as float -> int32 -> the narrow type.
    kernel = ck.elementwise_chain(ew._identity, "a").module().flat
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(dtype[::1], types.int32[::1]), cc=CC)
    assert ".entry" in ptx
    assert numba.config.ENABLE_CUDASIM == 0
