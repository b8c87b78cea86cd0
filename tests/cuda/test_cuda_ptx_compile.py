"""The kernels ``tapegrad.compile`` generates for fused groups on CUDA compile to PTX for
float32 and float64 (no GPU needed), and float32 groups do no float64 arithmetic.

Groups are built by hand here (tracing a step needs CUDA tensors, hence a GPU or the
simulator, which has no compiler). Run without the simulator (see ``conftest.py``)::

    python -m pytest tests/cuda/test_cuda_ptx_compile.py -q
"""
from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest

import ptx_helpers  # noqa: F401  (skips this module without a PTX compiler)

from numba import cuda, types  # noqa: E402

from tapegrad.compiler import rules  # noqa: E402
from tapegrad.compiler.cuda_program import GroupKernel  # noqa: E402
from tapegrad.compiler.graph import ARGUMENT, NODE, Graph, Node, Value  # noqa: E402
from tapegrad.ops import elementwise as ew  # noqa: E402


def _node(graph: Graph, fn: Any, inputs: tuple, shape: tuple[int, ...], dtype: Any, compute: Any) -> Node:
    out = graph.new_value(shape, dtype, NODE)
    return graph.add(Node(rules.ELEMENTWISE, inputs, (out,), (fn, np.dtype(compute))))


def _mlp_layer_group(dtype: Any) -> GroupKernel:
    """The bias add and ReLU after a product, and ReLU's backward mask: a bias broadcast over
    rows, a transposed view, a filled constant, a bool intermediate cast back to floats."""
    graph = Graph()
    product = graph.new_value((8, 5), dtype, ARGUMENT, "product")
    bias = graph.new_value((5,), dtype, ARGUMENT, "bias")
    grad_t = graph.new_value((5, 8), dtype, ARGUMENT, "grad")
    transposed = graph.new_value((8, 5), dtype, NODE)
    graph.add(Node(rules.VIEW, (grad_t,), (transposed,), ((8, 5), (1, 8), 0)))
    half = graph.new_value((), dtype, NODE)
    graph.add(Node(rules.FULL, (), (half,), 0.5))
    added = _node(graph, ew._add, (product, bias), (8, 5), dtype, dtype)
    activated = _node(graph, ew._relu, (added.outputs[0],), (8, 5), dtype, dtype)
    mask = _node(graph, ew._gt, (activated.outputs[0], 0), (8, 5), np.bool_, dtype)
    masked = _node(graph, ew._where, (mask.outputs[0], transposed, 0.0), (8, 5), dtype, dtype)
    scaled = _node(graph, ew._mul, (masked.outputs[0], half), (8, 5), dtype, dtype)
    nodes = [added, activated, mask, masked, scaled]
    return GroupKernel(nodes, (8, 5), [activated.outputs[0], scaled.outputs[0]])


def _ptx(kernel: GroupKernel, dtype: Any) -> str:
    numba_type = numba.from_dtype(np.dtype(dtype))
    arg_types = [numba_type[::1]] * (len(kernel.stored) + len(kernel.buffers))
    ptx, _ = cuda.compile_ptx(kernel.kernel().py_func, types.void(*arg_types), cc=(9, 0))
    return ptx


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_a_fused_layer_group_compiles(dtype: Any) -> None:
    kernel = _mlp_layer_group(dtype)
    assert len(kernel.buffers) == 3  # the product, the bias and the gradient's buffer; 0.5 is a literal
    ptx = _ptx(kernel, dtype)
    assert ".entry" in ptx
    if dtype is np.float32:
        float64 = [line for line in ptx.splitlines() if ".f64" in line and not line.strip().startswith(".reg")]
        assert float64 == []


def test_a_zero_dimensional_group_with_infinite_literals_compiles() -> None:
    graph = Graph()
    x = graph.new_value((), np.float32, ARGUMENT, "x")
    low = _node(graph, ew._maximum, (x, float("-inf")), (), np.float32, np.float32)
    node = _node(graph, ew._minimum, (low.outputs[0], float("inf")), (), np.float32, np.float32)
    assert isinstance(node.outputs[0], Value)
    assert ".entry" in _ptx(GroupKernel([low, node], (), [node.outputs[0]]), np.float32)
