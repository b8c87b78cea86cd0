"""Compile the indexing kernels (``backends/cuda_index.py``) and the elementwise chains the CUDA
index ops generate (``cuda/_ops.py``) to PTX, for float32 and float64: no GPU needed.

Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_index.py -q

The simulator runs kernels as Python, so only these compilations check their typing (tuple
shapes indexed at run time, atomics on int64, int64 index arithmetic).
"""
from __future__ import annotations

from typing import Any

import pytest
from numba import cuda, types

from ptx_helpers import CC  # skips this module without a PTX compiler

from tapegrad.backends import cuda_index as ci
from tapegrad.backends import cuda_kernels as ck
from tapegrad.cuda import _ops


FLOATS = [types.float32, types.float64]
I64 = types.int64
CHAIN_TUPLE = types.UniTuple(I64, ck.MAX_DIMS)


def _ptx(kernel: Any, *arg_types: Any) -> str:
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(*arg_types), cc=CC)
    assert ptx.count(".entry") == 1  # one kernel, every device function inlined
    return ptx


def _tuple(ndim: int) -> Any:
    return types.UniTuple(I64, ndim)


@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("dtype", FLOATS + [types.int64, types.boolean], ids=str)
def test_strided_copy_compiles(dtype: Any, ndim: int) -> None:
    _ptx(ci.module().strided_copy, dtype[::1], _tuple(ndim), dtype[::1], _tuple(ndim), _tuple(ndim), I64)


@pytest.mark.parametrize("ndim", [1, 4])
def test_offsets_compiles(ndim: int) -> None:
    _ptx(ci.module().offsets, I64[::1], _tuple(ndim), _tuple(ndim), I64)


def test_first_out_of_range_compiles() -> None:
    ptx = _ptx(ci.module().first_out_of_range, I64[::1], I64, I64, I64[::1])
    assert "atom" in ptx


@pytest.mark.parametrize("dtype", FLOATS + [types.boolean], ids=str)
def test_scatter_flat_compiles(dtype: Any) -> None:
    _ptx(ci.module().scatter_flat, dtype[::1], I64[::1], dtype[::1])


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("dtype", FLOATS + [types.boolean, types.int64], ids=str)
def test_nonzero_kernels_compile(dtype: Any, ndim: int) -> None:
    _ptx(ci.module().nonzero_counts, dtype[::1], I64, I64[::1])
    _ptx(ci.module().nonzero_write, dtype[::1], I64, I64[::1], _tuple(ndim), I64[:, ::1])


def test_add_index_chain_compiles() -> None:
    chain = ck.elementwise_chain(_ops._add_index, "aass")
    _ptx(chain.module().flat, I64[::1], I64[::1], I64[::1], I64, I64)
    _ptx(chain.module().strided, I64[::1], CHAIN_TUPLE, I64[::1], CHAIN_TUPLE, I64[::1], CHAIN_TUPLE, I64, I64)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_embedding_chains_compile(dtype: Any) -> None:
    scale = ck.elementwise_chain(_ops._scale, "aa").module()
    _ptx(scale.strided, dtype[::1], CHAIN_TUPLE, dtype[::1], CHAIN_TUPLE, dtype[::1], CHAIN_TUPLE)
    _ptx(ck.elementwise_chain(_ops._inverse, "a").module().flat, dtype[::1], types.float64[::1])
    _ptx(ck.elementwise_chain(_ops._unless_padding, "aas").module().flat, dtype[::1], dtype[::1], dtype[::1], dtype)
