"""Compile rules for ops along one dim: the cumulative sum and product (``ops/reduce.py``).

``CUMSUM`` / ``CUMPROD``: ``out = cumsum(x)`` / ``cumprod(x)`` along ``axis`` (from the end
with ``reverse``, as gradients run), ``attrs = (axis, reverse)``. As the eager op does, running
values accumulate in float64 (floats) or int64 (integers and bools) and each is rounded once
to the output dtype. On the CPU the generated code scans each line of the ``(outer, n,
inner)`` view in a loop (NumPy's ``cumsum`` has no wide accumulator in Numba); on CUDA the
replay calls the eager op's ``cuda_reduce.scan``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .graph import Node
from .rules import Env, Launch, Rule, numpy_type

if TYPE_CHECKING:
    from .codegen import Source


def _lines(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    """``shape`` as (outer, n, inner) around ``axis`` (a 0-d value is one line of one)."""
    if not shape:
        return 1, 1, 1
    return (int(np.prod(shape[:axis], dtype=np.int64)), int(shape[axis]),
            int(np.prod(shape[axis + 1:], dtype=np.int64)))


class Scan(Rule):
    """``out = cumsum(x, axis)`` (``cumprod`` with ``product``), from the end with ``reverse``:
    ``attrs = (axis, reverse)``."""

    def __init__(self, name: str, product: bool) -> None:
        super().__init__(name)
        self.product = product

    def describe(self, node: Node) -> str:
        axis, reverse = node.attrs
        return f"axis={axis}" + (", reverse" if reverse else "")

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        axis, reverse = node.attrs
        outer, n, inner = lines = _lines(tuple(x.shape), axis)
        source, result, total = src.temp("lines"), src.temp("scanned"), src.temp("total")
        o, i, k, j = (src.temp(name) for name in ("o", "i", "k", "j"))
        src.line(f"{source} = np.ascontiguousarray({src.name(x)}).reshape({lines!r})")
        src.line(f"{result} = np.empty({lines!r}, {numpy_type(out.dtype)})")
        src.line(f"for {o} in range({outer}):")
        src.line(f"    for {i} in range({inner}):")
        src.line(f"        {total} = {'np.float64' if out.dtype.kind == 'f' else 'np.int64'}({int(self.product)})")
        src.line(f"        for {k} in range({n}):")
        src.line(f"            {j} = {n - 1} - {k}" if reverse else f"            {j} = {k}")
        src.line(f"            {total} {'*' if self.product else '+'}= {source}[{o}, {j}, {i}]")
        src.line(f"            {result}[{o}, {j}, {i}] = {total}")
        src.define(out, f"{result}.reshape({tuple(out.shape)!r})")

    def cuda_launch(self, node: Node) -> Launch:
        (x,) = node.inputs
        (out,) = node.outputs
        axis, reverse = node.attrs

        def launch(env: Env) -> None:
            from ..cuda import _kernels

            env[out.index] = _kernels.scan(env[x.index], axis, out.dtype, reverse, self.product)

        return launch


CUMSUM = Scan("cumsum", False)
CUMPROD = Scan("cumprod", True)

CUDA_RULES: frozenset[Rule] = frozenset({CUMSUM, CUMPROD})
"""The rules above, all of which a CUDA step replays through their ``cuda_launch``."""
