"""Compile the convolution, pooling and normalisation kernels (``backends/cuda_conv.py``,
``backends/cuda_norm.py``) to PTX for float32 and float64: no GPU needed.

Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_conv.py -q

The simulator runs kernels as plain Python; these compilations check the typing of every
kernel, the shuffle path of the block sums, and that float32 kernels keep their element
arithmetic in float32 where the CPU kernels do.
"""
from __future__ import annotations

from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_conv as cc
from tapegrad.backends import cuda_kernels as ck
from tapegrad.backends import cuda_norm as cn


FLOATS = [types.float32, types.float64]
I64 = types.int64
F64 = types.float64
BOOL = types.boolean
CONV_GEOMETRY = types.UniTuple(I64, 10)
POOL_GEOMETRY = types.UniTuple(I64, 8)


def _ptx(kernel: Any, *arg_types: Any) -> str:
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(*arg_types), cc=CC)
    assert ptx.count(".entry") == 1  # one kernel, every device function inlined
    return ptx


def _float64_instructions(ptx: str) -> list[str]:
    return [line.strip() for line in ptx.splitlines() if ".f64" in line and not line.strip().startswith(".reg")]


def _c(dtype: Any, ndim: int) -> Any:
    return types.Array(dtype, ndim, "C")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_convolution_kernels_compile(dtype: Any) -> None:
    module = cc.module()
    im2col = _ptx(module.im2col, _c(dtype, 4), _c(dtype, 3), I64, CONV_GEOMETRY, dtype)
    col2im = _ptx(module.col2im, _c(dtype, 3), _c(dtype, 4), I64, CONV_GEOMETRY, dtype)
    rows = _ptx(module.rows_to_output, _c(dtype, 2), _c(dtype, 1), _c(dtype, 3), I64)
    _ptx(ck.elementwise_chain(cc._add, "aa").module().flat, _c(dtype, 1), _c(dtype, 1), _c(dtype, 1))
    if dtype is types.float32:  # copies and float32 sums: no float64 arithmetic
        for ptx in (im2col, col2im, rows):
            assert _float64_instructions(ptx) == []


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_pooling_kernels_compile(dtype: Any) -> None:
    module = cc.module()
    max_pool = _ptx(module.max_pool, _c(dtype, 3), _c(dtype, 3), _c(I64, 3), POOL_GEOMETRY, dtype)
    scatter = _ptx(module.scatter_planes, _c(dtype, 2), _c(I64, 2), _c(dtype, 2))
    _ptx(module.gather_planes, _c(dtype, 2), _c(I64, 2), _c(dtype, 2))
    _ptx(module.avg_pool, _c(dtype, 3), _c(dtype, 3), POOL_GEOMETRY, dtype)
    _ptx(module.avg_pool_backward, _c(dtype, 3), _c(dtype, 3), POOL_GEOMETRY, dtype)
    _ptx(module.adaptive_avg_pool, _c(dtype, 3), _c(dtype, 3))
    _ptx(module.adaptive_avg_pool_backward, _c(dtype, 3), _c(dtype, 3), dtype)
    gather_pad = _ptx(module.gather_rows_cols, _c(dtype, 3), _c(I64, 1), _c(I64, 1), _c(dtype, 3))
    scatter_pad = _ptx(module.scatter_rows_cols, _c(dtype, 3), _c(I64, 1), _c(I64, 1), _c(dtype, 3), dtype)
    assert "atom.global.add" in scatter or "red.global.add" in scatter
    assert "atom." not in scatter_pad and "red." not in scatter_pad  # the padding adjoint gathers
    if dtype is types.float32:
        for ptx in (max_pool, gather_pad, scatter_pad):
            assert _float64_instructions(ptx) == []


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_layer_norm_kernels_compile(dtype: Any) -> None:
    module = cn.module()
    rows = _ptx(module.layer_norm_rows, _c(dtype, 2), _c(dtype, 1), _c(dtype, 1), BOOL, BOOL, F64, _c(dtype, 2),
                _c(F64, 1), _c(F64, 1))
    _ptx(module.layer_norm_backward_rows, _c(dtype, 2), _c(dtype, 2), _c(F64, 1), _c(F64, 1), _c(dtype, 1), BOOL,
         _c(dtype, 2))
    _ptx(module.layer_norm_param_grads, _c(dtype, 2), _c(dtype, 2), _c(F64, 1), _c(F64, 1), BOOL, BOOL,
         _c(dtype, 1), _c(dtype, 1))
    assert "shfl.sync.down" in rows  # warp-level block sums on hardware


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_batch_norm_kernels_compile(dtype: Any) -> None:
    module = cn.module()
    stats = _ptx(module.channel_stats, _c(dtype, 3), _c(F64, 1), _c(F64, 1))
    _ptx(module.update_running, _c(dtype, 1), _c(dtype, 1), _c(F64, 1), _c(F64, 1), F64, F64)
    for statistics in (F64, dtype):  # the batch's (float64), or the running buffers in eval
        _ptx(module.channel_normalize, _c(dtype, 3), _c(statistics, 1), _c(statistics, 1), _c(dtype, 1),
             _c(dtype, 1), BOOL, BOOL, F64, _c(dtype, 3), _c(F64, 1))
    _ptx(module.channel_sums, _c(dtype, 3), _c(dtype, 3), _c(F64, 1), _c(F64, 1), _c(F64, 1), _c(F64, 1), BOOL,
         BOOL, _c(dtype, 1), _c(dtype, 1))
    _ptx(module.channel_input_grad, _c(dtype, 3), _c(dtype, 3), _c(F64, 1), _c(F64, 1), _c(dtype, 1), BOOL, BOOL,
         _c(F64, 1), _c(F64, 1), _c(dtype, 3))
    assert "shfl.sync.down" in stats
