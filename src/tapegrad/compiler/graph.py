"""The compiled step's Wengert list: a flat list of typed nodes over typed values.

A ``Value`` is one array of the step: a call argument, a tensor the step reads by reference
(a parameter, an optimizer buffer), a constant, or a node's result. A ``Node`` applies one
``Rule`` to values and Python scalars. In-place writes (``p.add_(...)``, an optimizer update)
produce a new value that shares the written value's storage, so the list stays in static
single assignment form and the passes can see who reads a storage before it is overwritten.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .rules import Rule

# Where a value comes from.
ARGUMENT = "argument"   # a tensor among the call's arguments (found again at every call)
CAPTURED = "captured"   # a tensor the step reads by reference: its current buffer at every call
HOST = "host"           # an array computed in Python just before each replay (optimizer scalars)
NODE = "node"           # made by a node of the list


class Value:
    """One array of the step. ``storage`` is the value whose buffer this one lives in (itself
    unless a node wrote it in place or it is a view)."""

    __slots__ = ("index", "shape", "dtype", "kind", "source", "producer", "storage", "users")

    def __init__(self, index: int, shape: tuple[int, ...], dtype: np.dtype, kind: str, source: Any = None) -> None:
        self.index = index
        self.shape = shape
        self.dtype = dtype
        self.kind = kind
        self.source = source          # argument path, captured tensor, or host provider
        self.producer: Node | None = None
        self.storage: Value = self
        self.users: list[Node] = []

    @property
    def name(self) -> str:
        return f"v{self.index}"

    def __repr__(self) -> str:
        return f"%{self.index}:{self.dtype.name}{list(self.shape)}"


class Node:
    """``outputs = rule(inputs, attrs)``. An in-place node names in ``writes`` the values whose
    storage it overwrites; ``outputs[i]`` is the new version of ``writes[i]``."""

    __slots__ = ("rule", "inputs", "outputs", "attrs", "writes")

    def __init__(self, rule: "Rule", inputs: tuple[Any, ...], outputs: tuple[Value, ...], attrs: Any,
                 writes: tuple[Value, ...] = ()) -> None:
        self.rule = rule
        self.inputs = inputs
        self.outputs = outputs
        self.attrs = attrs
        self.writes = writes

    def input_values(self) -> list[Value]:
        return [x for x in self.inputs if isinstance(x, Value)]

    def __repr__(self) -> str:
        outs = ", ".join(map(repr, self.outputs))
        args = ", ".join(repr(x) for x in self.inputs)
        detail = self.rule.describe(self)
        target = f" into {', '.join(map(repr, self.writes))}" if self.writes else ""
        return f"{outs} = {self.rule.name}{f'[{detail}]' if detail else ''}({args}){target}"


class Graph:
    """The recorded step: its values, nodes in execution order, and what the step returns or
    leaves behind (``outputs``: values handed back to Python after each replay)."""

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.nodes: list[Node] = []
        self.arguments: list[Value] = []
        self.captured: list[Value] = []
        self.host: list[Value] = []
        self.outputs: list[Value] = []

    def new_value(self, shape: tuple[int, ...], dtype: np.dtype, kind: str, source: Any = None) -> Value:
        value = Value(len(self.values), tuple(shape), np.dtype(dtype), kind, source)
        self.values.append(value)
        if kind == ARGUMENT:
            self.arguments.append(value)
        elif kind == CAPTURED:
            self.captured.append(value)
        elif kind == HOST:
            self.host.append(value)
        return value

    def add(self, node: Node) -> Node:
        for out in node.outputs:
            out.producer = node
        for out, target in zip(node.outputs, node.writes):
            out.storage = target.storage
        self.nodes.append(node)
        return node

    def link_users(self) -> None:
        """Recompute every value's ``users`` from the node list (after a pass rewrote it)."""
        for value in self.values:
            value.users = []
        for node in self.nodes:
            for x in node.input_values():
                x.users.append(node)
            for target in node.writes:
                target.users.append(node)

    def format(self) -> str:
        """The list as text: inputs, one line per node, outputs (``TAPEGRAD_LOG=compile``)."""
        lines = []
        for value in self.arguments:
            lines.append(f"  {value!r} = argument {value.source}")
        for value in self.captured:
            lines.append(f"  {value!r} = captured {_describe_tensor(value.source)}")
        for value in self.host:
            lines.append(f"  {value!r} = host {getattr(value.source, '__name__', 'value')}")
        lines += [f"  {node!r}" for node in self.nodes]
        lines.append("  return " + ", ".join(map(repr, self.outputs)))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes)\n{self.format()}"


def _describe_tensor(tensor: Any) -> str:
    data = getattr(tensor, "_data", None)
    if data is None:
        return repr(tensor)
    return f"tensor {list(data.shape)} {data.dtype.name}"
