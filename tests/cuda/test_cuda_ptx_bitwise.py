"""Compile the kernels of the bitwise and integer ops (and, or, xor, not, shifts, gcd, lcm), fmax/fmin
and ldexp/frexp to PTX, for the dtypes and operand patterns their public functions use: no GPU
needed. The simulator runs scalar definitions as Python and never sees a typing error; NVVM does.

Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_bitwise.py -q
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_kernels as ck  # noqa: E402
from tapegrad.ops import bitwise as bw  # noqa: E402


TUPLE = types.UniTuple(types.int64, ck.MAX_DIMS)


def _ptx(fn: Callable[..., Any], pattern: str, kind: str, operand_type: Any, out: Any) -> str:
    """PTX of the ``kind`` kernel of ``fn`` for operands of ``operand_type`` (scalars where the
    pattern says ``s``) writing ``out``."""
    chain = ck.elementwise_chain(fn, pattern)
    arg_types: list[Any] = [out[::1]] + ([TUPLE] if kind == "strided" else [])
    for letter in pattern:
        if letter == "s":
            arg_types.append(operand_type)
        else:
            arg_types.append(operand_type[::1])
            if kind == "strided":
                arg_types.append(TUPLE)
    ptx, _ = cuda.compile_ptx(getattr(chain.module(), kind).py_func, types.void(*arg_types), cc=CC)
    assert ptx.count(".entry") == 1  # one kernel, every device function inlined
    return ptx


def _float64_instructions(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if ".f64" in line and not line.strip().startswith(".reg")]


# (scalar definition, the dtypes it is compiled for): the op functions pick the int32 or int64
# definition by the promoted dtype, so each is compiled for the dtypes it really gets.
INTEGER_OPS: list[tuple[Callable[..., Any], list[Any]]] = [
    (bw._bitwise_and, [types.boolean, types.int32, types.int64]),
    (bw._bitwise_or, [types.boolean, types.int32, types.int64]),
    (bw._bitwise_xor, [types.boolean, types.int32, types.int64]),
    (bw._left_shift_int32, [types.int32]), (bw._left_shift_int64, [types.int64]),
    (bw._right_shift, [types.int32, types.int64]),
    (bw._gcd_int32, [types.int32]), (bw._gcd_int64, [types.int64]),
    (bw._lcm_int32, [types.int32]), (bw._lcm_int64, [types.int64]),
]
INTEGER_CASES = [pytest.param(fn, dtype, id=f"{fn.__name__.strip('_')}-{dtype}")
                 for fn, dtypes in INTEGER_OPS for dtype in dtypes]


@pytest.mark.parametrize("pattern, kind", [("aa", "flat"), ("as", "flat"), ("sa", "flat"), ("aa", "strided")])
@pytest.mark.parametrize("fn, dtype", INTEGER_CASES)
def test_integer_kernels_compile(fn: Callable[..., Any], dtype: Any, pattern: str, kind: str) -> None:
    ptx = _ptx(fn, pattern, kind, dtype, dtype)
    assert not _float64_instructions(ptx)  # integer arithmetic only


@pytest.mark.parametrize("dtype", [types.boolean, types.int32, types.int64], ids=str)
@pytest.mark.parametrize("kind", ["flat", "strided"])
def test_bitwise_not_compiles(dtype: Any, kind: str) -> None:
    _ptx(bw._bitwise_not, "a", kind, dtype, dtype)


FLOAT_OPS = [bw._fmax, bw._fmin, bw._ldexp_exact, bw._ldexp_power32]


@pytest.mark.parametrize("kind", ["flat", "strided"])
@pytest.mark.parametrize("fn", FLOAT_OPS, ids=lambda f: f.__name__.strip("_"))
def test_float32_kernels_stay_in_float32(fn: Callable[..., Any], kind: str) -> None:
    assert _float64_instructions(_ptx(fn, "aa", kind, types.float32, types.float32)) == []


@pytest.mark.parametrize("kind", ["flat", "strided"])
@pytest.mark.parametrize("fn", FLOAT_OPS + [bw._ldexp_power64], ids=lambda f: f.__name__.strip("_"))
def test_float64_kernels_compile(fn: Callable[..., Any], kind: str) -> None:
    _ptx(fn, "aa", kind, types.float64, types.float64)


@pytest.mark.parametrize("dtype", [types.boolean, types.int32, types.int64], ids=str)
@pytest.mark.parametrize("fn", [bw._fmax, bw._fmin], ids=lambda f: f.__name__.strip("_"))
def test_fmax_fmin_compile_for_integers_and_bools(fn: Callable[..., Any], dtype: Any) -> None:
    _ptx(fn, "aa", "flat", dtype, dtype)


@pytest.mark.parametrize("dtype", [types.float32, types.float64], ids=str)
@pytest.mark.parametrize("fn", [bw._frexp_mantissa, bw._frexp_exponent], ids=lambda f: f.__name__.strip("_"))
def test_frexp_kernels_compile(fn: Callable[..., Any], dtype: Any) -> None:
    ptx = _ptx(fn, "a", "flat", dtype, dtype)
    if dtype == types.float32:
        assert _float64_instructions(ptx) == []
    _ptx(fn, "a", "strided", dtype, dtype)
