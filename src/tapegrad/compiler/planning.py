"""Buffer planning: the step's temporaries live in one workspace per dtype that is allocated
once and reused by every replay (no allocator calls, no page faults on fresh memory), and
within a step two temporaries share memory when their lifetimes do not overlap.

A temporary is an array a unit allocates (a fused group's stored value, a product, softmax
rows, a scattered gradient) that never reaches Python: values the step returns, hands to
``.grad`` or writes into a caller's tensor are allocated fresh at every call, because the
caller keeps them. Lifetimes are measured in units (fused groups and single nodes, in
execution order) and follow aliases: a view, an in-place write or a node the planner does not
know may share its input's memory, so their uses keep that memory alive.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .fusion import Group
from .graph import NODE, Graph, Node, Value
from .index_rules import SCATTER_ADD
from .rules import ADDMM, EXTREME, FULL, JOIN, MATMUL, NLL_TARGETS, PICKED_SUM, SOFTMAX, SUM

# Rules whose result is a new array that aliases none of their inputs. The result of any other
# rule (a view, a reshaping copy that may return its input, a convolution helper) is assumed to
# share memory with every input.
_FRESH = {MATMUL, ADDMM, SOFTMAX, PICKED_SUM, NLL_TARGETS, SCATTER_ADD, SUM, EXTREME, JOIN, FULL}
# Rules whose result ``codegen`` asks the plan for (the others allocate as they always did).
PLANNED_RULES = {MATMUL, ADDMM, SOFTMAX, SCATTER_ADD}
# Slots start on 64-byte boundaries, so vector loads in the loops stay aligned.
_ALIGN = 64


@dataclass
class Plan:
    """Where each planned value lives: ``slots[value index] = (dtype, offset in elements)``;
    ``sizes[dtype]`` is the length of that dtype's workspace."""

    slots: dict[int, tuple[np.dtype, int]] = field(default_factory=dict)
    sizes: dict[np.dtype, int] = field(default_factory=dict)
    requested: int = 0  # bytes the planned temporaries would take as separate arrays

    def workspaces(self) -> list[np.ndarray]:
        """New workspace arrays, in the order of ``parameter_names``."""
        return [np.empty(size, dtype) for dtype, size in self.sizes.items()]

    def parameter_names(self) -> list[str]:
        return [workspace_name(dtype) for dtype in self.sizes]

    @property
    def bytes(self) -> int:
        return sum(np.dtype(dtype).itemsize * size for dtype, size in self.sizes.items())

    def __repr__(self) -> str:
        return (f"{len(self.slots)} temporaries in {self.bytes} bytes of workspace "
                f"({self.requested} bytes as separate arrays)")


def workspace_name(dtype: np.dtype) -> str:
    return f"workspace_{np.dtype(dtype).name}"


def plan(graph: Graph, units: list["Node | Group"], stored: dict[int, set[int]]) -> Plan:
    """Lay out the temporaries of ``units`` (``stored``: each group's values that need an array,
    from ``fusion.stored_values``)."""
    candidates = _candidates(units, stored)
    roots = _roots(graph)
    escaped = set()
    for value in graph.outputs:
        escaped |= roots.get(value.index, {value.index})
    for node in graph.nodes:
        for target in node.writes:
            if target.kind != NODE:
                escaped |= roots.get(target.index, {target.index})
    last_use = _last_uses(units, roots)
    result = Plan()
    free: dict[np.dtype, list[tuple[int, int]]] = {}     # dtype -> released (offset, length)
    live: list[tuple[int, np.dtype, int, int]] = []      # (last unit, dtype, offset, length)
    for position, value in candidates:
        if value.index in escaped:
            continue
        for item in [item for item in live if item[0] < position]:
            live.remove(item)
            free.setdefault(item[1], []).append((item[2], item[3]))
        dtype = value.dtype
        length = _aligned_length(value)
        result.requested += length * dtype.itemsize
        slots = free.setdefault(dtype, [])
        fitting = [slot for slot in slots if slot[1] >= length]
        if fitting:
            slot = min(fitting, key=lambda s: s[1])
            slots.remove(slot)
            offset, length = slot
        else:
            offset = result.sizes.get(dtype, 0)
            result.sizes[dtype] = offset + length
        result.slots[value.index] = (dtype, offset)
        live.append((last_use.get(value.index, position), dtype, offset, length))
    return result


def _aligned_length(value: Value) -> int:
    per = max(_ALIGN // value.dtype.itemsize, 1)
    size = int(np.prod(value.shape, dtype=np.int64))
    return -(-size // per) * per


def _candidates(units: list["Node | Group"], stored: dict[int, set[int]]) -> list[tuple[int, Value]]:
    """(unit position, value) for each array a unit allocates that the plan may place."""
    found = []
    for position, unit in enumerate(units):
        if isinstance(unit, Group):
            for node in unit.nodes:
                out = node.outputs[0]
                if out.index in stored[id(unit)] and not node.writes and out.shape:
                    found.append((position, out))
        elif unit.rule in PLANNED_RULES and not unit.writes and unit.outputs[0].shape:
            found.append((position, unit.outputs[0]))
    return found


def _roots(graph: Graph) -> dict[int, set[int]]:
    """For each value, the values whose memory it may share (itself included)."""
    roots: dict[int, set[int]] = {}
    for value in graph.values:
        roots[value.index] = {value.index}
    for node in graph.nodes:
        for out, target in zip(node.outputs, node.writes):
            roots[out.index] = roots[out.index] | roots[target.index]
        if node.writes or node.rule in _FRESH or node.rule.elementwise:
            continue
        shared = set()
        for x in node.input_values():
            shared |= roots[x.index]
        for out in node.outputs:
            roots[out.index] = roots[out.index] | shared
    return roots


def _last_uses(units: list["Node | Group"], roots: dict[int, set[int]]) -> dict[int, int]:
    """The position of the last unit that reads (or writes) each value's memory."""
    last: dict[int, int] = {}
    for position, unit in enumerate(units):
        nodes = unit.nodes + unit.sums if isinstance(unit, Group) else [unit]
        for node in nodes:
            for value in node.input_values() + list(node.writes) + list(node.outputs):
                for root in roots[value.index]:
                    last[root] = position
    return last


def with_workspaces(step: Callable[..., Any], plan: Plan) -> Callable[..., Any]:
    """``step`` (a generated function taking ``plan``'s workspaces last) called with workspaces
    kept from one call to the next. Each thread gets its own, so concurrent replays of one
    step never share temporaries."""
    if not plan.sizes:
        return step
    local = threading.local()

    def run(*arrays: Any) -> Any:
        spaces = getattr(local, "spaces", None)
        if spaces is None:
            spaces = local.spaces = plan.workspaces()
        return step(*arrays, *spaces)

    return run
