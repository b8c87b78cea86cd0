"""Passes over the recorded list that run before fusion: matmul epilogues, constant folding,
transposed products, copy elision, dead-step elimination and the merging of optimizer updates. Each takes and rewrites a ``Graph`` in place."""
from __future__ import annotations

import numpy as np

from .graph import NODE, Graph, Node, Value
from .rules import ADDMM, ELEMENTWISE, FULL, FUSED_UPDATE, MATMUL, MULTI_UPDATE, VIEW, identity


def split_bias_products(graph: Graph) -> int:
    """``addmm(bias, a, b)`` (``nn.Linear``) becomes ``a @ b`` followed by an elementwise bias
    add, so that fusion puts the bias add into the loop of what follows the product (the
    activation, its backward mask): the matmul epilogue. Scaled forms (``beta``, ``alpha``
    not 1) stay one node. Returns how many products were split."""
    from ..ops.elementwise import _add

    nodes: list[Node] = []
    split = 0
    for node in graph.nodes:
        if node.rule is not ADDMM or node.attrs != (1, 1) or node.writes:
            nodes.append(node)
            continue
        bias, a, b = node.inputs
        (out,) = node.outputs
        product = graph.new_value(out.shape, out.dtype, NODE)
        nodes.append(Node(MATMUL, (a, b), (product,), None))
        product.producer = nodes[-1]
        nodes.append(Node(ELEMENTWISE, (product, bias), (out,), (_add, out.dtype)))
        out.producer = nodes[-1]
        split += 1
    graph.nodes = nodes
    graph.link_users()
    return split


def fold_constants(graph: Graph) -> int:
    """Evaluate elementwise nodes whose inputs are all Python scalars or filled constants
    (the ones that start backward, divided by a mean's count, ...) into one filled constant.
    Returns how many nodes were folded."""
    folded = 0
    for position, node in enumerate(graph.nodes):
        if node.rule is not ELEMENTWISE or node.writes:
            continue
        values = []
        for x in node.inputs:
            if isinstance(x, Value):
                producer = x.producer
                if producer is None or producer.rule is not FULL:
                    break
                values.append(x.dtype.type(producer.attrs))
            else:
                values.append(x)
        else:
            fn, compute = node.attrs
            compute = np.dtype(compute)
            with np.errstate(all="ignore"):
                args = [compute.type(v) if not isinstance(v, bool) else v for v in values]
                result = fn(*args)
            out = node.outputs[0]
            graph.nodes[position] = Node(FULL, (), node.outputs, out.dtype.type(result).item())
            out.producer = graph.nodes[position]
            folded += 1
    return folded


def elide_copies(graph: Graph) -> int:
    """Drop identity copies (``clone``, a gradient stored into ``.grad``) of a fresh array
    nothing else uses: the copy's users read the original instead."""
    graph.link_users()
    outputs = {v.index for v in graph.outputs}
    replace: dict[int, Value] = {}
    kept = []
    for node in graph.nodes:
        if node.rule is ELEMENTWISE and not node.writes and node.attrs[0] is identity:
            (source,) = node.inputs
            out = node.outputs[0]
            if (isinstance(source, Value) and source.dtype == out.dtype and source.shape == out.shape
                    and len(source.users) == 1 and source.index not in outputs and _fresh(source)):
                replace[out.index] = source
                continue
        kept.append(node)
    if not replace:
        return 0

    def original(value: Value) -> Value:
        while value.index in replace:  # a copy of a copy: follow the chain to its start
            value = replace[value.index]
        return value

    for node in kept:
        node.inputs = tuple(original(x) if isinstance(x, Value) else x for x in node.inputs)
        node.writes = tuple(original(x) for x in node.writes)
    graph.outputs = [original(v) for v in graph.outputs]
    for value in graph.values:
        # A later in-place write into the copy now writes the original: its versions live there.
        if value.storage.index in replace:
            value.storage = original(value.storage).storage
    graph.nodes = kept
    graph.link_users()
    return len(replace)


def _fresh(value: Value) -> bool:
    """Whether ``value`` is a new array no one else sees (or a reshaping view of one): a copy
    of it can be the array itself."""
    producer = value.producer
    if value.kind != NODE or producer is None or producer.rule is FULL or value.storage is not value:
        return False
    if producer.rule is VIEW:
        (base,) = producer.inputs
        shape, strides, offset = producer.attrs
        c_order = all(strides[d] == _size(shape[d + 1:]) for d in range(len(shape)) if shape[d] != 1)
        return offset == 0 and c_order and len(base.users) == 1 and _fresh(base)
    return True


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for s in shape:
        total *= s
    return total


def eliminate_dead(graph: Graph) -> int:
    """Remove nodes whose results nothing uses and that write no buffer."""
    graph.link_users()
    live = {v.index for v in graph.outputs}
    kept: list[Node] = []
    removed = 0
    for node in reversed(graph.nodes):
        if node.writes or node.rule.effect or any(out.index in live for out in node.outputs):
            kept.append(node)
            for x in node.input_values():
                live.add(x.index)
            for target in node.writes:
                live.add(target.index)
        else:
            removed += 1
    kept.reverse()
    graph.nodes = kept
    graph.link_users()
    return removed


def _transpose_of(value: Value) -> Value | None:
    """The value whose 2-D transpose ``value`` is, if it is one (a view node's base)."""
    producer = value.producer
    if producer is None or producer.rule is not VIEW or len(value.shape) != 2:
        return None
    (base,) = producer.inputs
    shape, strides, offset = producer.attrs
    if offset == 0 and len(base.shape) == 2 and shape == base.shape[::-1] and strides == (1, shape[0]):
        return base
    return None


def fold_transposes(graph: Graph) -> int:
    """``(a @ b).T`` becomes ``b.T @ a.T`` when the product is used only transposed: the
    gradient of a weight used as ``x @ w.T`` then comes out in the weight's own layout, and
    the copy into ``.grad`` becomes a copy of a contiguous array that ``elide_copies`` drops."""
    graph.link_users()
    folded = 0
    removed: set[int] = set()
    inserted: dict[int, list[Node]] = {}
    for position, node in enumerate(graph.nodes):
        if node.rule is not VIEW:
            continue
        (out,) = node.outputs
        base = _transpose_of(out)
        if base is None or base.producer is None or base.producer.rule is not MATMUL or len(base.users) != 1:
            continue
        a, b = base.producer.inputs
        a_t, a_view = _transposed(graph, a)
        b_t, b_view = _transposed(graph, b)
        if a_t is None or b_t is None:
            continue
        inserted.setdefault(position, []).extend(v for v in (b_view, a_view) if v is not None)
        product = Node(MATMUL, (b_t, a_t), (out,), None)
        out.producer = product
        graph.nodes[position] = product
        removed.add(id(base.producer))
        folded += 1
    nodes = []
    for position, node in enumerate(graph.nodes):
        nodes += inserted.get(position, [])
        if id(node) not in removed:
            nodes.append(node)
    graph.nodes = nodes
    graph.link_users()
    return folded


def _transposed(graph: Graph, value: Value) -> tuple[Value | None, Node | None]:
    """``value.T`` as a value: the base of a transposing view, or a new view of a 2-D
    C-ordered value (returned with the node that makes it)."""
    base = _transpose_of(value)
    if base is not None:
        return base, None
    if len(value.shape) != 2 or (value.producer is not None and value.producer.rule is VIEW):
        return None, None
    rows, cols = value.shape
    out = graph.new_value((cols, rows), value.dtype, NODE)
    node = Node(VIEW, (value,), (out,), ((cols, rows), (1, cols), 0))
    out.producer = node
    return out, node


def fuse_updates(graph: Graph) -> int:
    """Merge each run of consecutive optimizer updates that share a kernel, its options and a
    dtype (an optimizer's ``step()`` over its parameters) into one ``MULTI_UPDATE`` node: one
    loop over all the parameters' elements instead of a call per parameter. Only adjacent
    nodes merge, so no update moves past a node that reads or writes what it touches.
    Returns how many nodes were merged away."""
    nodes: list[Node] = []
    run: list[Node] = []
    merged = 0

    def key(node: Node) -> tuple:
        kernel, flags, present = node.attrs
        return kernel.name, flags, present, node.inputs[0].dtype

    def flush() -> None:
        nonlocal merged
        if len(run) < 2:
            nodes.extend(run)
        else:
            kernel, flags, present = run[0].attrs
            node = Node(MULTI_UPDATE, tuple(x for n in run for x in n.inputs), tuple(v for n in run for v in n.outputs),
                        (kernel, flags, present, len(run)), tuple(v for n in run for v in n.writes))
            for out in node.outputs:
                out.producer = node
            nodes.append(node)
            merged += len(run) - 1
        run.clear()

    for node in graph.nodes:
        if node.rule is FUSED_UPDATE and (not run or key(run[0]) == key(node)):
            run.append(node)
            continue
        flush()
        if node.rule is FUSED_UPDATE:
            run.append(node)
        else:
            nodes.append(node)
    flush()
    graph.nodes = nodes
    graph.link_users()
    return merged
