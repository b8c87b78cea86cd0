"""Compile the real CUDA kernels to PTX, for float32 and float64: no GPU needed.

The simulator runs scalar definitions as Python, so it never sees a typing error, an
unsupported function or float64 arithmetic creeping into a float32 kernel; NVVM does. Run
without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda -q

It needs numba-cuda's compiler libraries (``pip install "numba-cuda[cu12]"``, or ``[cu13]``);
without them, or under ``NUMBA_ENABLE_CUDASIM=1``, this module skips and says why.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_kernels as ck
from tapegrad.ops import elementwise as ew
from tapegrad.ops.pointwise import BOOL, ElementwiseOp


FLOATS = [types.float32, types.float64]
TUPLE = types.UniTuple(types.int64, ck.MAX_DIMS)


def _ptx(kernel: Any, *arg_types: Any) -> str:
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(*arg_types), cc=CC)
    return ptx


def _float64_instructions(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if ".f64" in line and not line.strip().startswith(".reg")]


def _signature(chain: ck.Chain, kind: str, dtype: Any, out_types: list[Any], first: Any = None) -> list[Any]:
    """Argument types of ``chain``'s ``kind`` kernel; ``first`` overrides operand 0's dtype."""
    arg_types = [t[::1] for t in out_types] + ([TUPLE] if kind == "strided" else [])
    for k, letter in enumerate(chain.pattern):
        scalar = first if k == 0 and first is not None else dtype
        if letter == "s":
            arg_types.append(scalar)
        else:
            arg_types.append(scalar[::1])
            if kind == "strided":
                arg_types.append(TUPLE)
    return arg_types


# ------------------------------------------------------------------- every elementwise op

_OPS = {id(op.scalar): op for op in vars(ew).values() if isinstance(op, ElementwiseOp)}


def _op_params() -> list[Any]:
    return [pytest.param(op, dtype, id=f"{op.scalar.__name__}-{dtype}")
            for op in _OPS.values() if op.scalar is not ew._integer_pow  # integers only; below
            for dtype in FLOATS]


@pytest.mark.parametrize("op,dtype", _op_params())
def test_every_elementwise_op_compiles(op: ElementwiseOp, dtype: Any) -> None:
    arity = len(inspect.signature(op.scalar).parameters)
    chain = ck.elementwise_chain(op.scalar, "a" * arity)
    out = types.boolean if op.result == BOOL else dtype
    first = types.boolean if op.scalar is ew._where else None
    assert ".entry" in _ptx(chain.module().flat, *_signature(chain, "flat", dtype, [out], first))


@pytest.mark.parametrize("dtype", [types.int32, types.int64])
def test_integer_pow_compiles(dtype: Any) -> None:
    chain = ck.elementwise_chain(ew._integer_pow, "as")
    _ptx(chain.module().flat, *_signature(chain, "flat", dtype, [dtype]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn,pattern", [(ew._add, "aa"), (ew._mul, "as"), (ew._where, "aaa"), (ew._clamp, "ass")],
                         ids=lambda v: getattr(v, "__name__", v))
def test_strided_kernels_compile(fn: Callable[..., Any], pattern: str, dtype: Any) -> None:
    chain = ck.elementwise_chain(fn, pattern)
    first = types.boolean if fn is ew._where else None
    _ptx(chain.module().strided, *_signature(chain, "strided", dtype, [dtype], first))


# --------------------------------------------------------------- float32 stays float32

CLEAN_FLOAT32 = [ew._add, ew._sub, ew._mul, ew._div, ew._neg, ew._exp, ew._expm1, ew._log, ew._log1p,
                 ew._tanh, ew._sigmoid, ew._relu, ew._maximum, ew._minimum, ew._lt, ew._where, ew._silu, ew._sign]


@pytest.mark.parametrize("fn", CLEAN_FLOAT32, ids=lambda f: f.__name__)
def test_float32_kernels_compute_in_float32(fn: Callable[..., Any]) -> None:
    # float64 arithmetic is 2x to 64x slower than float32 on GPUs; it sneaks in through
    # float literals and through the CUDA versions of fast_exp & co.
    arity = len(inspect.signature(fn).parameters)
    chain = ck.elementwise_chain(fn, "a" * arity)
    out = types.boolean if fn is ew._lt else types.float32
    first = types.boolean if fn is ew._where else None
    ptx = _ptx(chain.module().flat, *_signature(chain, "flat", types.float32, [out], first))
    assert _float64_instructions(ptx) == []


# libdevice's float64 floor/ceil/rint are one instruction each and exact for float32 too.
ROUNDING = {ew._floor: "cvt.rmi.f64.f64", ew._ceil: "cvt.rpi.f64.f64", ew._round: "cvt.rni.f64.f64"}


@pytest.mark.parametrize("fn", list(ROUNDING), ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", FLOATS)
def test_rounding_kernels_use_one_conversion_instruction(fn: Callable[..., Any], dtype: Any) -> None:
    chain = ck.elementwise_chain(fn, "a")
    ptx = _ptx(chain.module().flat, *_signature(chain, "flat", dtype, [dtype]))
    assert ROUNDING[fn] in ptx
    assert "call" not in ptx.replace(".callprototype", "")  # inlined, no libm-style routine
    if dtype == types.float32:
        # float32 in, float32 out: the round trip through float64 is exact, the result float32.
        assert "st.global.f32" in ptx


@pytest.mark.parametrize("dtype", FLOATS)
def test_fused_sign_chain_stays_in_its_dtype(dtype: Any) -> None:
    # abs's gradient g * sign(x) fused: sign's constants must not make float32 arithmetic float64.
    chain = ck.Chain("aa", [(ew._sign, (1,)), (ew._mul, (0, 2))], outputs=(3,))
    ptx = _ptx(chain.module().flat, *_signature(chain, "flat", dtype, [dtype]))
    if dtype == types.float32:
        assert _float64_instructions(ptx) == []


# ------------------------------------------------------------------------- fused chains

def _w2(with_derivative: bool) -> ck.Chain:
    # y = tanh(x * c + d) * x + sigmoid(x); dy/dx by the VJP rules (as in test_cuda_kernels.py)
    steps = [(ew._mul, (0, 1)), (ew._add, (4, 2)), (ew._tanh, (5,)), (ew._mul, (6, 0)),
             (ew._sigmoid, (0,)), (ew._add, (7, 8))]
    if not with_derivative:
        return ck.Chain("asss", steps, outputs=(9,))
    steps += [(ew._sigmoid_backward, (3, 8)), (ew._mul, (3, 0)), (ew._mul, (3, 6)),
              (ew._tanh_backward, (11, 6)), (ew._mul, (13, 1)), (ew._add, (12, 14)), (ew._add, (15, 10))]
    return ck.Chain("asss", steps, outputs=(9, 16))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kind", ["flat", "strided"])
def test_fused_w2_chain_compiles(kind: str, dtype: Any) -> None:
    chain = _w2(with_derivative=True)
    kernel = getattr(chain.module(), kind)
    ptx = _ptx(kernel, *_signature(chain, kind, dtype, [dtype, dtype]))
    assert ptx.count(".entry") == 1  # one kernel, everything inlined


def test_fused_w2_forward_computes_in_float32() -> None:
    chain = _w2(with_derivative=False)
    ptx = _ptx(chain.module().flat, *_signature(chain, "flat", types.float32, [types.float32]))
    assert _float64_instructions(ptx) == []


@pytest.mark.xfail(strict=True, reason="_tanh_backward and _sigmoid_backward write `1 - y`: Numba types "
                                       "int - float32 as float64, so these steps compute in float64")
def test_fused_w2_derivative_computes_in_float32() -> None:
    chain = _w2(with_derivative=True)
    ptx = _ptx(chain.module().flat, *_signature(chain, "flat", types.float32, [types.float32] * 2))
    assert _float64_instructions(ptx) == []


# ---------------------------------------------------------------------------------- sums

@pytest.mark.parametrize("data,acc", [(types.float32, "float64"), (types.float64, "float64"),
                                      (types.float32, "float32"), (types.int32, "int64"),
                                      (types.boolean, "int64")], ids=str)
def test_sum_kernels_compile(data: Any, acc: str) -> None:
    module = ck.sum_module(acc, ck.DEFAULT_REDUCE_BLOCK)
    acc_type = getattr(types, acc)
    out = data if data in FLOATS else types.int64
    _ptx(module.sum_rows, data[:, ::1], out[::1])
    _ptx(module.partial_sums, data[::1], acc_type[::1])
    _ptx(module.sum_rows, acc_type[:, ::1], out[::1])  # the second pass of sum_all
    if acc == "float32":
        assert _float64_instructions(_ptx(module.partial_sums, data[::1], acc_type[::1])) == []


# ------------------------------------------------------------------------------ products

@pytest.mark.parametrize("data,acc", [(types.float32, "float64"), (types.float64, "float64"),
                                      (types.int64, "int64")], ids=str)
def test_product_kernels_compile(data: Any, acc: str) -> None:
    from tapegrad.backends import cuda_reduce as cr

    module = cr.axis_module("prod", acc)
    acc_type = getattr(types, acc)
    for target in (data, acc_type):  # the last pass stores the output, a segment pass a partial
        rows = _ptx(module.prod_rows, data[:, ::1], target[:, ::1], types.int64)
        assert "shfl.sync.down" in rows  # the warp step multiplies through shuffles
        _ptx(module.prod_cols, data[:, :, ::1], target[:, :, ::1], types.int64)
