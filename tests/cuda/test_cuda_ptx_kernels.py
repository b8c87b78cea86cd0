"""Compile the reduction, matmul, softmax/NLL/index and optimizer kernels to PTX, for float32
and float64: no GPU needed (as ``test_cuda_ptx.py`` does for the elementwise kernels).

Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_kernels.py -q

The simulator runs kernels as Python and has no warp shuffles, so these compilations are what
checks the typing of every kernel and its shuffle path.
"""
from __future__ import annotations

from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_linalg as cl
from tapegrad.backends import cuda_nn as cn
from tapegrad.backends import cuda_optim as co
from tapegrad.backends import cuda_reduce as cr
from tapegrad.optim.adagrad import _ADAGRAD
from tapegrad.optim.adam import _ADAM
from tapegrad.optim.rmsprop import _RMSPROP
from tapegrad.optim.sgd import _SGD


FLOATS = [types.float32, types.float64]
I64 = types.int64
BOOL = types.boolean


def _ptx(kernel: Any, *arg_types: Any) -> str:
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(*arg_types), cc=CC)
    assert ptx.count(".entry") == 1  # one kernel, every device function inlined
    return ptx


def _float64_instructions(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if ".f64" in line and not line.strip().startswith(".reg")]


# ---------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("data,acc", [(types.float32, "float64"), (types.float64, "float64"), (types.float32, "float32"),
                                      (types.int32, "int64"), (types.boolean, "int64")], ids=str)
def test_sum_kernels_compile(data: Any, acc: str) -> None:
    module = cr.sum_module(acc)
    acc_type = getattr(types, acc)
    out = data if data in FLOATS else I64
    for target in (out, acc_type):  # the final pass, and a pass into a temporary
        rows = _ptx(module.sum_rows, data[:, ::1], target[:, ::1], I64)
        _ptx(module.sum_cols, data[:, :, ::1], target[:, :, ::1], I64)
    assert "shfl.sync.down" in rows  # warp-level reduction on hardware
    if acc == "float32":
        assert _float64_instructions(rows) == []


@pytest.mark.parametrize("data", [types.float32, types.float64, types.int32, types.boolean], ids=str)
def test_scan_and_sort_kernels_compile(data: Any) -> None:
    out, start = (data, types.float64) if data in FLOATS else (I64, I64)
    module = cr.lines_module()
    _ptx(module.scan_lines, data[:, :, ::1], out[:, :, ::1], BOOL, BOOL, start)
    _ptx(module.scan_lines, start[:, :, ::1], start[:, :, ::1], BOOL, BOOL, start)  # the scan of chunk totals
    _ptx(module.scan_chunks, data[:, :, ::1], out[:, :, ::1], start[:, :, ::1], I64, BOOL, BOOL, start, BOOL)
    if data is not types.boolean:
        _ptx(module.sort_lines, data[:, :, ::1], data[:, :, ::1], I64[:, :, ::1], BOOL)
        _ptx(module.merge_runs, data[:, :, ::1], I64[:, :, ::1], data[:, :, ::1], I64[:, :, ::1], I64, BOOL, BOOL)


@pytest.mark.parametrize("data", [types.float32, types.float64, types.int32, types.int64, types.boolean], ids=str)
def test_extreme_kernels_compile(data: Any) -> None:
    module = cr.extreme_module(cr._lane(data.name if data is not types.boolean else "bool"))
    rows = _ptx(module.extreme_rows, data[:, ::1], data[::1], I64[::1], BOOL)
    _ptx(module.extreme_cols, data[:, :, ::1], data[:, ::1], I64[:, ::1], BOOL)
    assert "shfl.sync.down" in rows
    if data is types.float32:
        assert _float64_instructions(rows) == []


# -------------------------------------------------------------------------------- matmul

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("tile", [*sorted(set(cl.DEFAULT_TILES.values())), cl.Tile(8, 8, 4, 2, 2)], ids=str)
def test_matmul_kernels_compile(tile: cl.Tile, dtype: Any) -> None:
    module = cl.tiled_module(tile)
    for a, b in ((dtype[:, ::1], dtype[:, ::1]), (dtype[:, :], dtype[:, :])):  # contiguous, and any strides
        ptx = _ptx(module.gemm, a, b, dtype[:, ::1], dtype[:, ::1], dtype, dtype, BOOL, BOOL, BOOL, BOOL)
    batched = _ptx(module.bmm, dtype[:, :, :], dtype[:, :, ::1], dtype[:, :, ::1], BOOL, BOOL)
    if dtype is types.float32:
        assert _float64_instructions(ptx) == [] and _float64_instructions(batched) == []


# --------------------------------------------------------------------- softmax, NLL, index

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("acc", ["float64", "float32"])
def test_softmax_kernels_compile(acc: str, dtype: Any) -> None:
    module = cn.softmax_module(acc)
    forward = _ptx(module.softmax_rows, dtype[:, ::1], dtype[:, ::1], BOOL)
    backward = _ptx(module.softmax_backward_rows, dtype[:, ::1], dtype[:, ::1], dtype[:, ::1], BOOL)
    assert "shfl.sync.down" in forward and "shfl.sync.down" in backward
    if acc == "float32" and dtype is types.float32:
        assert _float64_instructions(forward) == [] and _float64_instructions(backward) == []


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_nll_kernels_compile(dtype: Any) -> None:
    module = cn.nll_module()
    _ptx(module.nll_terms, dtype[:, :, ::1], I64[::1], dtype[::1], BOOL, I64, dtype, dtype, types.float64[:, ::1],
         dtype[::1], BOOL, I64[::1])
    backward = _ptx(module.nll_backward, dtype[::1], I64[::1], dtype[::1], BOOL, I64, dtype, dtype,
                    types.float64[::1], I64, dtype[:, :, ::1])
    if dtype is types.float32:
        # Only the float64 total weight is converted; the gradient is float32 arithmetic.
        assert all(line.startswith(("cvt", "ld.global.f64", "ld.param")) for line in _float64_instructions(backward))


@pytest.mark.parametrize("dtype", [*FLOATS, types.int64], ids=str)
def test_index_kernels_compile(dtype: Any) -> None:
    module = cn.index_module()
    _ptx(module.gather_rows, dtype[:, ::1], I64[::1], dtype[:, ::1], I64[::1])
    ptx = _ptx(module.scatter_add_rows, dtype[:, ::1], I64[::1], dtype[:, ::1], I64[::1])
    assert "atom.global.add" in ptx or "red.global.add" in ptx


@pytest.mark.parametrize("layout", ["C", "A"])  # a weight may be a strided view
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_embedding_renorm_kernels_compile(dtype: Any, layout: str) -> None:
    module = cn.index_module()
    _ptx(module.mark_rows, I64[::1], types.uint8[::1])
    _ptx(module.renorm_rows, types.Array(dtype, 2, layout), types.uint8[::1], types.float64, types.float64, dtype)


# ---------------------------------------------------------------------------- optimizers

OPTIMIZERS = [_SGD, _ADAM, _RMSPROP, _ADAGRAD]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("kernel", OPTIMIZERS, ids=lambda k: k.name)
def test_optimizer_kernels_compile(kernel: Any, dtype: Any) -> None:
    arrays = len(co._names(kernel))
    for flags in ((True,) * len(kernel.flags), (False,) * len(kernel.flags)):
        module = co.module(kernel, flags)
        flat = _ptx(module.flat, *[dtype[::1]] * arrays, dtype[::1])
        column = types.UniTuple(dtype[::1], co.MULTI_WIDTH)
        _ptx(module.multi, *[column] * arrays, dtype[:, ::1], I64[:, ::1])
        if dtype is types.float32:
            assert _float64_instructions(flat) == []  # float32 parameters update in float32
