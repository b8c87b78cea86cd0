"""Compile rules for indexing (``ops/index.py``, ``ops/layers.py``): gathers along a dim,
``x[index]`` along one dim, embedding lookups, their scatter-add adjoints, and the adjoint of a
view made by basic indexing.

Indices are values of the step: each replay reads this call's indices, checks their range
as the eager op does (the same exception and message), and gathers or scatters with them.

- ``GATHER`` / ``SCATTER_ADD``: ``gather(x, axis, index)`` and its adjoint, zeros with the
  gradient added at the gathered positions (repeats accumulate, in C order of the index as
  the eager kernel adds them). The CPU code is loops over the index's shape; CUDA replays call
  the eager op's device functions.
- ``TAKE`` / ``PUT_ADD``: ``x[:, ..., index]`` with one integer index array of any shape
  (``index_select`` too; negative entries count from the end) and its adjoint. Other advanced
  keys (masks, several arrays) are not reported, so a step using their result is refused.
- ``VIEW_ADJOINT``: zeros with a gradient written where a basic-index view (``x[:, 0]``,
  ``x[1:3]``) lies.
- ``ROW_LOOKUP`` / ``ROW_SCATTER`` / ``ROW_FACTORS``: ``embedding``'s row gather, its
  scatter-add gradient, and the per-row factors of ``padding_idx`` and
  ``scale_grad_by_freq``, computed from each replay's indices. The CPU code calls the kernels
  of ``backends/cpu_norm.py`` the eager op calls; CUDA replays call the same ``cuda._ops``
  functions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .graph import Node, Value
from .rules import Env, Launch, Rule, _size, numpy_type

if TYPE_CHECKING:
    from ..tensor import Tensor
    from .codegen import Source

_KERNELS = "__import__('tapegrad.backends.cpu_norm', fromlist=['cpu_norm'])._kernels()"


def _loops(src: "Source", shape: Sequence[int]) -> tuple[str, list[str]]:
    """Open loops over ``shape`` (C order); returns the body's indent and the loop indices."""
    indices = [f"i{d}" for d in range(len(shape))]
    for depth, size in enumerate(shape):
        src.line("    " * depth + f"for i{depth} in range({int(size)}):")
    return "    " * len(shape), indices


def _shaped(src: "Source", value: Value, shape: Sequence[int]) -> str:
    """``value`` under ``shape`` (a 0-d value as a 1-element array, as the eager ops read it)."""
    name = src.name(value)
    return name if tuple(value.shape) == tuple(shape) else f"{name}.reshape({tuple(int(s) for s in shape)!r})"


def _at(array: str, indices: list[str]) -> str:
    return f"{array}[{', '.join(indices)}]" if indices else f"{array}[()]"


class _AlongAxis(Rule):
    """A rule indexing one dim: ``attrs = axis``."""

    def describe(self, node: Node) -> str:
        return f"axis={node.attrs}"


def _gather_loops(src: "Source", shape: Sequence[int], positions: str, axis: int) -> tuple[str, list[str], list[str]]:
    """Loops over the index's ``shape``: the body's indent, the loop indices, and the same
    coordinate with dim ``axis`` read from ``positions`` (gather's addressing)."""
    indent, indices = _loops(src, shape)
    moved = list(indices)
    moved[axis] = _at(positions, indices)
    return indent, indices, moved


def _take_loops(src: "Source", shape: Sequence[int], index: Value, name: str, axis: int, size: int
                ) -> tuple[str, list[str], list[str]]:
    """Loops over ``shape``, a ``Take`` output's: the body's indent, the loop indices, and the
    coordinate in the indexed array (dim ``axis`` read from the index ``name``, negative
    entries counted from the end)."""
    indent, indices = _loops(src, shape)
    before, picked, after = indices[:axis], indices[axis:axis + len(index.shape)], indices[axis + len(index.shape):]
    row = src.temp("row")
    src.line(f"{indent}{row} = {_at(name, picked)}")
    return indent, indices, before + [f"{row} % {size}"] + after


# ============================================================================= gather along a dim

def _gather_shapes(node: Node) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes the eager op works on: the source's and the index's (0-d ones as 1-element)."""
    source, index = node.inputs[:2]
    return tuple(source.shape) or (1,), tuple(index.shape) or (1,)


class Gather(_AlongAxis):
    """``out = gather(x, axis, index)`` (``attrs = axis``); raises ``RuntimeError`` for an index
    out of range, naming the largest (or, when none is too large, the smallest) as the eager
    op does."""

    effect = True  # the range check raises even when the result goes unused

    def emit(self, node: Node, src: "Source") -> None:
        x, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs
        x_shape, index_shape = _gather_shapes(node)
        size = x_shape[axis]
        source, positions = _shaped(src, x, x_shape), _shaped(src, index, index_shape)
        if _size(index_shape):
            low, high = src.temp("low"), src.temp("high")
            src.line(f"{low} = {positions}.min()")
            src.line(f"{high} = {positions}.max()")
            where = f" + ' is out of bounds for dimension {axis} with size {size}'"
            src.line(f"if {high} >= {size}:")
            src.line(f"    raise RuntimeError('index ' + str({high}){where})")
            src.line(f"if {low} < 0:")
            src.line(f"    raise RuntimeError('index ' + str({low}){where})")
        result = src.temp("gathered")
        src.line(f"{result} = np.empty({index_shape!r}, {numpy_type(out.dtype)})")
        indent, indices, moved = _gather_loops(src, index_shape, positions, axis)
        src.line(f"{indent}{_at(result, indices)} = {_at(source, moved)}")
        src.define(out, f"{result}.reshape({tuple(out.shape)!r})")

    def cuda_launch(self, node: Node) -> Launch:
        x, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs
        x_shape, index_shape = _gather_shapes(node)

        def launch(env: Env) -> None:
            from ..ops import index as index_ops

            positions = env[index.index].reshape(index_shape)
            index_ops.check_gather_range(positions, x_shape[axis], axis)
            env[out.index] = index_ops.cuda_gather(env[x.index].reshape(x_shape), axis, positions).reshape(out.shape)

        return launch


GATHER = Gather("gather")


class ScatterAdd(_AlongAxis):
    """``attrs = axis``: zeros of the output's shape with ``src`` added at ``index`` along
    ``axis`` (inputs ``(src, index)``, both of the index's shape): gather's gradient. The
    indices are the ones the gather checked."""

    def emit(self, node: Node, src: "Source") -> None:
        values, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs
        index_shape = tuple(index.shape) or (1,)
        shape = tuple(out.shape) or (1,)
        positions, added = _shaped(src, index, index_shape), _shaped(src, values, index_shape)
        result = src.temp("scattered")
        src.line(f"{result} = {src.allocate(out, shape)}")
        src.line(f"{result}.fill(0)")
        indent, indices, moved = _gather_loops(src, index_shape, positions, axis)
        src.line(f"{indent}{_at(result, moved)} += {_at(added, indices)}")
        src.define(out, f"{result}.reshape({tuple(out.shape)!r})")

    def cuda_launch(self, node: Node) -> Launch:
        values, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs
        index_shape = tuple(index.shape) or (1,)

        def launch(env: Env) -> None:
            from ..ops import index as index_ops

            env[out.index] = index_ops.cuda_scatter_add(env[values.index], tuple(out.shape), axis,
                                                        env[index.index].reshape(index_shape))

        return launch


SCATTER_ADD = ScatterAdd("scatter_add")


# ============================================================================= x[index] along one dim

class Take(_AlongAxis):
    """``out = x[:, ..., index]``: one dim (``attrs = axis``) indexed by an integer array of any
    shape (negative entries count from the end), full slices elsewhere, as ``x[index]`` and
    ``index_select`` do; raises ``IndexError`` for the first entry out of range (C order), with
    the eager op's message."""

    effect = True

    def emit(self, node: Node, src: "Source") -> None:
        x, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs
        size = x.shape[axis]
        name = src.name(index)
        indent, indices = _loops(src, index.shape)
        entry = _at(name, indices)
        src.line(f"{indent}if {entry} < {-size} or {entry} >= {size}:")
        src.line(f"{indent}    raise IndexError('index ' + str({entry}) + "
                 f"' is out of bounds for dimension {axis} with size {size}')")
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        indent, indices, moved = _take_loops(src, out.shape, index, name, axis, size)
        src.line(f"{indent}{_at(result, indices)} = {_at(src.name(x), moved)}")

    def cuda_launch(self, node: Node) -> Launch:
        x, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs

        def launch(env: Env) -> None:
            from ..ops import index as index_ops

            env[out.index] = index_ops.cuda_take(env[x.index], (slice(None),) * axis + (env[index.index],))

        return launch


TAKE = Take("index")


class PutAdd(_AlongAxis):
    """``Take``'s adjoint: zeros of the output's shape with ``g`` added at ``[:, ..., index]``
    (inputs ``(g, index)``, ``attrs = axis``; repeated entries accumulate in C order, as the
    eager scatter adds them)."""

    def emit(self, node: Node, src: "Source") -> None:
        g, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs
        size = out.shape[axis]
        name = src.name(index)
        result = src.fresh(out)
        src.line(f"{result} = np.zeros({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        indent, indices, moved = _take_loops(src, g.shape, index, name, axis, size)
        src.line(f"{indent}{_at(result, moved)} += {_at(src.name(g), indices)}")

    def cuda_launch(self, node: Node) -> Launch:
        g, index = node.inputs
        (out,) = node.outputs
        axis = node.attrs

        def launch(env: Env) -> None:
            from ..cuda import _ops
            from ..cuda._arrays import DeviceKey
            from ..ops import index as index_ops

            # The indices were checked by the forward lookup, as the eager backward assumes.
            key = DeviceKey([slice(None)] * axis + [_ops.as_int64(env[index.index])])
            env[out.index] = index_ops.cuda_embed(env[g.index], tuple(out.shape), key, True)

        return launch


PUT_ADD = PutAdd("index_backward")


class ViewAdjoint(Rule):
    """Zeros of ``shape`` with ``g`` written at ``[key]`` for a basic key (ints, slices with a
    positive step, None, Ellipsis): the gradient of a view made by indexing (``x[:, 0]``,
    ``x[1:3]``). ``attrs = (shape, key)``."""

    def describe(self, node: Node) -> str:
        return repr(node.attrs[1])

    def emit(self, node: Node, src: "Source") -> None:
        (g,) = node.inputs
        (out,) = node.outputs
        shape, key = node.attrs
        # Where the view lies in a C-ordered array of ``shape``: one-byte elements make the
        # byte strides and offset element counts.
        base = np.empty(shape, np.uint8)
        view = base[key if any(k is Ellipsis for k in key) else key + (Ellipsis,)]
        offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        result = src.fresh(out)
        src.line(f"{result} = np.zeros({tuple(shape)!r}, {numpy_type(out.dtype)})")
        if not view.size:
            return
        flat = src.temp("flat")
        src.line(f"{flat} = {result}.reshape(-1)")
        indent, indices = _loops(src, view.shape)
        position = " + ".join([str(offset)] + [f"{i} * {s}" for i, s, n in zip(indices, view.strides, view.shape)
                                               if n > 1])
        src.line(f"{indent}{flat}[{position}] = {_at(src.name(g), indices)}")

    def cuda_launch(self, node: Node) -> Launch:
        (g,) = node.inputs
        (out,) = node.outputs
        shape, key = node.attrs

        def launch(env: Env) -> None:
            from ..ops import index as index_ops

            env[out.index] = index_ops.cuda_embed(env[g.index], shape, key, False)

        return launch


VIEW_ADJOINT = ViewAdjoint("index_view_backward")


# ============================================================================= embedding rows

def _row_kernel(src: "Source", name: str) -> str:
    return src.global_(f"rows_{name}", f"{_KERNELS}.{name}")


def _factor(src: "Source", factor: Value | None, dtype: np.dtype) -> str:
    """The per-row factors, or the empty array the kernels read as "all ones"."""
    return f"np.empty(0, {numpy_type(dtype)})" if factor is None else src.name(factor)


class RowLookup(Rule):
    """``out = table[index] * factor[:, None]`` for a 2-D table, flat int64 indices and
    optional per-row factors (inputs ``(table, index, factor or None)``), shaped as the
    output. ``attrs = check``: raise ``IndexError`` for an index out of range, with the
    eager ``embedding``'s message (the adjoint's lookups reuse checked indices)."""

    effect = True

    def emit(self, node: Node, src: "Source") -> None:
        table, index, factor = node.inputs
        (out,) = node.outputs
        rows, width = table.shape
        (count,) = index.shape
        result, bad = src.temp("rows"), src.temp("bad")
        src.line(f"{result} = np.empty(({count}, {width}), {numpy_type(out.dtype)})")
        src.line(f"{bad} = {_row_kernel(src, 'gather_rows')}(np.ascontiguousarray({src.name(table)}), "
                 f"{src.name(index)}, {_factor(src, factor, out.dtype)}, {result})")
        if node.attrs:
            src.line(f"if {bad} >= 0:")
            src.line(f"    raise IndexError('index out of range in self: got index ' + str({src.name(index)}[{bad}]) "
                     f"+ ', but the weight has {rows} rows')")
        src.define(out, f"{result}.reshape({tuple(out.shape)!r})")

    def cuda_launch(self, node: Node) -> Launch:
        table, index, factor = node.inputs
        (out,) = node.outputs
        check = node.attrs

        def launch(env: Env) -> None:
            from ..ops import layers

            rows = layers.lookup_rows(env[table.index], env[index.index], None if factor is None else env[factor.index],
                                      check)
            env[out.index] = rows.reshape(out.shape)

        return launch


ROW_LOOKUP = RowLookup("embedding")


class RowScatter(Rule):
    """Zeros of ``(rows, width)`` with row ``k`` of ``src`` (times ``factor[k]``) added at row
    ``index[k]`` (inputs ``(src, index, factor or None)``, ``attrs = rows``): the embedding's
    weight gradient."""

    def emit(self, node: Node, src: "Source") -> None:
        values, index, factor = node.inputs
        (out,) = node.outputs
        rows, width = out.shape
        (count,) = index.shape
        result = src.fresh(out)
        src.line(f"{result} = np.zeros(({rows}, {width}), {numpy_type(out.dtype)})")
        src.line(f"{_row_kernel(src, 'scatter_rows')}({result}, {src.name(index)}, "
                 f"np.ascontiguousarray({src.name(values)}).reshape(({count}, {width})), "
                 f"{_factor(src, factor, out.dtype)})")

    def cuda_launch(self, node: Node) -> Launch:
        values, index, factor = node.inputs
        (out,) = node.outputs
        rows, width = out.shape
        (count,) = index.shape

        def launch(env: Env) -> None:
            from ..cuda import _ops

            flat = _ops.contiguous_copy(env[values.index]) if not env[values.index].is_c_contiguous() \
                else env[values.index]
            env[out.index] = _ops.scatter_rows(flat.reshape(count, width), env[index.index], rows,
                                               None if factor is None else env[factor.index])

        return launch


ROW_SCATTER = RowScatter("embedding_backward")


class RowFactors(Rule):
    """What each looked-up row's gradient is multiplied by (input: the flat indices; ``attrs =
    (rows, padding_idx or None, scale_grad_by_freq)``): 0 for the padding row, else
    ``1 / count`` of its index with ``scale_grad_by_freq``, else 1, as ``layers._gradient_factors``."""

    def describe(self, node: Node) -> str:
        rows, padding_idx, by_frequency = node.attrs
        return f"padding_idx={padding_idx}" + (", by frequency" if by_frequency else "")

    def emit(self, node: Node, src: "Source") -> None:
        (index,) = node.inputs
        (out,) = node.outputs
        rows, padding_idx, by_frequency = node.attrs
        (count,) = index.shape
        name, dtype = src.name(index), numpy_type(out.dtype)
        result = src.fresh(out)
        src.line(f"{result} = np.ones({count}, {dtype})")
        if by_frequency:
            counts = src.temp("counts")
            src.line(f"{counts} = np.zeros({rows}, np.int64)")
            src.line(f"for k in range({count}):")
            src.line(f"    {counts}[{name}[k]] += 1")
            src.line(f"for k in range({count}):")
            src.line(f"    {result}[k] = {dtype}(1.0 / {counts}[{name}[k]])")  # float64, then rounded
        if padding_idx is not None:
            src.line(f"for k in range({count}):")
            src.line(f"    if {name}[k] == {int(padding_idx)}:")
            src.line(f"        {result}[k] = 0")

    def cuda_launch(self, node: Node) -> Launch:
        (index,) = node.inputs
        (out,) = node.outputs
        rows, padding_idx, by_frequency = node.attrs

        def launch(env: Env) -> None:
            from ..cuda import _ops

            env[out.index] = _ops.row_factors(env[index.index], rows, padding_idx, by_frequency, out.dtype)

        return launch


ROW_FACTORS = RowFactors("embedding_row_factors")

CUDA_RULES: frozenset[Rule] = frozenset({GATHER, SCATTER_ADD, TAKE, PUT_ADD, VIEW_ADJOINT, ROW_LOOKUP, ROW_SCATTER,
                                          ROW_FACTORS})


# ============================================================================= what the ops report

def emit_index_copy(tracer: Any, indices: "Tensor", copy: Any) -> None:
    """``copy``: the op's private int64 copy of ``indices`` (its backward reads this call's
    indices even if the tensor changes later)."""
    from .rules import ELEMENTWISE, identity

    tracer.emit(ELEMENTWISE, (indices,), copy, (identity, np.dtype(np.int64)))


def single_axis(key: tuple) -> int | None:
    """The dim a normalised advanced key indexes when it is ``x[:, ..., index]`` (full slices,
    then one integer index array, then full slices or one Ellipsis), else None (recorded
    steps refuse other advanced keys)."""
    arrays = [n for n, k in enumerate(key) if not (isinstance(k, slice) or k is Ellipsis)]
    if len(arrays) != 1:
        return None
    axis = arrays[0]
    index = key[axis]
    if isinstance(index, int) or index is None or index.dtype.kind not in "iu":
        return None
    if any(not (isinstance(k, slice) and k == slice(None)) for k in key[:axis]):
        return None
    rest = key[axis + 1:]
    if any(not (k is Ellipsis or (isinstance(k, slice) and k == slice(None))) for k in rest):
        return None
    return axis if sum(1 for k in rest if k is Ellipsis) <= 1 else None


def emit_take(tracer: Any, input: "Tensor", key: tuple, checked: tuple, out: Any) -> None:
    """``out = input[key]`` for a single-dim advanced key (other keys are not reported, so
    using their result refuses the step). ``checked`` is the key as the CUDA path resolved
    it: its index array holds the same numbers (range-checked, as int64)."""
    axis = single_axis(key)
    if axis is None:
        return
    if checked[axis] is not key[axis]:
        tracer.alias(checked[axis], key[axis])
    tracer.emit(TAKE, (input, key[axis]), out, axis)


def emit_embed(tracer: Any, g: "Tensor", shape: tuple[int, ...], key: tuple, advanced: bool, out: Any) -> None:
    """``out``: zeros of ``shape`` with ``g`` added at ``[key]``, the adjoint of ``emit_take``
    (a single-dim advanced key; others are not reported) or of a view made by a basic key."""
    if not advanced:
        tracer.emit(VIEW_ADJOINT, (g,), out, (tuple(shape), key))
        return
    axis = single_axis(key)
    if axis is not None:
        tracer.emit(PUT_ADD, (g, key[axis]), out, axis)
