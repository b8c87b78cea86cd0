"""Fusion: partition the list into maximal groups of elementwise nodes over one shape, each
written as a single loop nest, with whole-array sums (and, in single-threaded loops, sums over
leading axes such as a bias gradient's) of a group's values fused in as accumulators
(epilogues).

One pass in list order. An elementwise node joins the open group of its shape when that is
safe; a group stays open (its loop is emitted later, where it closes) until a node outside it
needs one of its values, a node is about to overwrite a buffer it reads, or a member needs a
sum it accumulates. Forward and backward chains of one shape therefore land in one loop, so
the forward values the backward reads never go through memory.
"""
from __future__ import annotations

from .graph import Graph, Node, Value
from .rules import SUM


class Group:
    """Elementwise ``nodes`` evaluated per element of ``shape`` in one loop nest; ``sums`` are
    SUM nodes over all of a member's elements, or over its leading axes, accumulated in that
    loop."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.nodes: list[Node] = []
        self.sums: list[Node] = []
        self.members: set[int] = set()     # indices of values the nodes produce
        self.sum_outputs: set[int] = set()
        self.reads: set[int] = set()       # storage indices of values read from memory

    def __repr__(self) -> str:
        ops = ", ".join(n.rule.describe(n) for n in self.nodes)
        sums = f" + {len(self.sums)} sum(s)" if self.sums else ""
        return f"fused {list(self.shape)}: {ops}{sums}"


Unit = "Node | Group"

# Groups at least this large run their outermost loop on threads (as the eager kernels do).
PARALLEL_THRESHOLD = 1 << 17


def _column_sum(axes: tuple[int, ...], group: Group) -> bool:
    """Whether a sum over ``axes`` of a member can be accumulated in the group's loop: over
    leading axes only (a bias gradient: the batch axis) of a group whose loop runs on one
    thread, so each kept position's accumulator has one writer."""
    size = 1
    for extent in group.shape:
        size *= extent
    return 0 < len(axes) < len(group.shape) and axes == tuple(range(len(axes))) and size < PARALLEL_THRESHOLD


def fuse(graph: Graph, any_sum: bool = False) -> list["Node | Group"]:
    """The list's units in order. With ``any_sum``, every sum of a member joins its group,
    whatever its axes: the CUDA program runs a group's sums as reduction kernels right after
    its loop, so a sum no longer splits a forward chain from its backward."""
    units: list[Node | Group] = []
    open_groups: dict[tuple[int, ...], Group] = {}
    owner: dict[int, Group] = {}  # value index -> open group producing it

    def close(group: Group) -> None:
        if open_groups.get(group.shape) is group:
            del open_groups[group.shape]
            units.append(group)
            for index in group.members | group.sum_outputs:
                owner.pop(index, None)

    for node in graph.nodes:
        inputs = node.input_values()
        if node.rule.elementwise and not node.writes:
            shape = node.outputs[0].shape
            group = open_groups.get(shape)
            for x in inputs:
                other = owner.get(x.index)
                if other is None:
                    continue
                if other is not group or x.index in other.sum_outputs:
                    close(other)
            group = open_groups.get(shape)
            if group is None:
                group = open_groups[shape] = Group(shape)
            group.nodes.append(node)
            group.members.add(node.outputs[0].index)
            owner[node.outputs[0].index] = group
            group.reads.update(x.storage.index for x in inputs if x.index not in group.members)
            continue
        if node.rule is SUM and len(inputs) == 1:
            (x,) = inputs
            group = owner.get(x.index)
            axes, _ = node.attrs
            if group is not None and x.index in group.members and x.dtype.kind == "f" and (
                    any_sum or tuple(axes) == tuple(range(len(x.shape))) or _column_sum(tuple(axes), group)):
                group.sums.append(node)
                group.sum_outputs.add(node.outputs[0].index)
                owner[node.outputs[0].index] = group
                continue
        for x in inputs:
            group = owner.get(x.index)
            if group is not None:
                close(group)
        written = {target.storage.index for target in node.writes}
        if written:
            for group in list(open_groups.values()):
                if group.reads & written or any(owner.get(t.index) is group for t in node.writes):
                    close(group)
        units.append(node)
    for group in list(open_groups.values()):
        close(group)
    return units


def stored_values(graph: Graph, units: list["Node | Group"]) -> dict[int, set[int]]:
    """For each group (by id), the indices of its values that need an array: used outside
    the group or returned by the step."""
    outputs = {v.index for v in graph.outputs}
    result: dict[int, set[int]] = {}
    for unit in units:
        if not isinstance(unit, Group):
            continue
        inside = {id(n) for n in unit.nodes} | {id(n) for n in unit.sums}
        stored = set()
        for node in unit.nodes:
            value: Value = node.outputs[0]
            if value.index in outputs or any(id(user) not in inside for user in value.users):
                stored.add(value.index)
        result[id(unit)] = stored
    return result
