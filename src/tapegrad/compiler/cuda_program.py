"""Compiled steps on CUDA: the recorded list replayed as a short program of kernel launches.

The trace, the passes and fusion are the CPU ones (``fuse(graph, any_sum=True)``: a group's
sums run as reduction kernels right after it). Then each fused group becomes ONE generated CUDA kernel, a
grid-stride loop over the group's elements whose body calls the ops' own scalar functions
(pasted in as device functions, as ``backends.cuda_kernels`` does for eager ops). A
compiled step has static shapes, so every operand's strides, offset and broadcasting are
baked into the kernel's index arithmetic as constants, and filled constants (the ones
backward starts from, a mean's divisor) become literals. The other nodes call the kernels
the eager CUDA ops call (``tapegrad.cuda._kernels``: sums, max/min, matmul, softmax, NLL,
optimizer updates; ``ops.movement.joined`` for cat and stack; ``backends.cuda_conv`` and ``cuda_norm`` through the convolution,
pooling and norm rules' own ``cuda_launch``), so compiled and eager steps share their arithmetic.

A replay is then one Python call per unit, no autograd bookkeeping, and a forward chain, its
backward and the activation after a matmul (the bias add) run as one launch each.
Generated kernels are cached on disk by numba-cuda (``cuda.jit(cache=True)``) under the
kernel cache, keyed by their source, so a new process compiles none it has seen.

The first replay runs under a recording of its device work, and later calls issue that
recording again instead of the units' Python (``cuda_replay``).
"""
from __future__ import annotations

import hashlib
import threading
from typing import Any, Sequence

import numpy as np

from . import conv_rules, cuda_replay, index_rules, line_rules, norm_rules
from .codegen import literal
from .fusion import Group, stored_values
from .graph import Graph, Node, Value
from .rules import (ADDMM, ELEMENTWISE, EXTREME, FULL, FUSED_UPDATE, JOIN, UNIT_INTERVAL, MATMUL, RESHAPE_COPY, SOFTMAX, SUM, VIEW, Env, Launch, Rule,
                    _c_strides, _size)
from .trace import ON_CUDA, TraceError


class CudaOnly(Rule):
    """A primitive of CUDA steps only (the CPU code generator never meets it)."""

    def emit(self, node: Node, src: Any) -> None:
        raise TraceError(f"tapegrad.compile: {self.name} runs on CUDA only")


NLL_CUDA = CudaOnly("nll_cuda")
"""``(loss, total weight) = nll(log_probs, target, class weights or None)``,
``attrs = (ignore_index, reduction)``: ``cuda_nn.nll_loss``, which checks the targets' range
on the device at every replay."""
NLL_BACKWARD_CUDA = CudaOnly("nll_backward_cuda")
"""The gradient of ``NLL_CUDA`` (inputs: gradient, target, total weight, class weights or
None; ``attrs = (shape, ignore_index, reduction)``)."""

SUPPORTED: frozenset[Rule] = frozenset({ELEMENTWISE, VIEW, SUM, EXTREME, RESHAPE_COPY, JOIN, MATMUL, ADDMM, SOFTMAX, FULL,
                                         FUSED_UPDATE, NLL_CUDA, NLL_BACKWARD_CUDA})
# Convolution, pooling, the norms, gathers, embeddings and cumulative sums: each rule makes its own call of the
# eager CUDA kernels.
CALLING_RULES: frozenset[Rule] = (conv_rules.CUDA_RULES | norm_rules.CUDA_RULES | index_rules.CUDA_RULES
                                  | line_rules.CUDA_RULES | {UNIT_INTERVAL})


def check_rule(rule: Rule) -> None:
    """Refuse, while tracing, a primitive that CUDA steps cannot replay yet."""
    if rule not in SUPPORTED and rule not in CALLING_RULES:
        raise TraceError(f"{ON_CUDA} (it met {rule.name!r})")




# ------------------------------------------------------------------ fused groups as kernels

def _constant(value: Value) -> Any:
    """The number a filled constant holds (a FULL node's value, directly or through a
    stride-0 view of one), else None."""
    producer = value.producer
    if producer is not None and producer.rule is VIEW and all(s == 0 for s in producer.attrs[1]):
        value = producer.inputs[0]
        producer = value.producer
    if producer is not None and producer.rule is FULL and not producer.writes and value.storage is value:
        return producer.attrs
    return None


def _layout(value: Value) -> tuple[Value, tuple[int, ...], int]:
    """(the value whose C-contiguous buffer holds ``value``, element strides, offset)."""
    producer = value.producer
    if producer is not None and producer.rule is VIEW:
        shape, strides, offset = producer.attrs
        return producer.inputs[0], tuple(strides), offset
    return value, _c_strides(value.shape), 0


def _index(strides: tuple[int, ...], shape_of: tuple[int, ...], group_shape: tuple[int, ...], offset: int) -> str:
    """The element index of an operand (``strides`` over its own ``shape_of``) at the group's
    coordinates ``c0, c1, ...``; broadcast dimensions contribute nothing."""
    lead = len(group_shape) - len(shape_of)
    terms = [f"{offset}"] if offset else []
    for d, (size, stride) in enumerate(zip(shape_of, strides)):
        if size == 1 or stride == 0:
            continue
        terms.append(f"c{lead + d}" if stride == 1 else f"c{lead + d} * {stride}")
    return " + ".join(terms) or "0"


class GroupKernel:
    """One fused group as a generated CUDA kernel: ``outputs`` (value indices stored) and the
    distinct buffers it reads (``buffers``: value indices), in the kernel's parameter order."""

    def __init__(self, nodes: list[Node], shape: tuple[int, ...], stored: list[Value]) -> None:
        self.shape = shape
        self.size = _size(shape)
        self.stored = stored
        members = {node.outputs[0].index for node in nodes}
        self.buffers: list[Value] = []
        positions: dict[int, int] = {}
        coords = ["    r = i"]
        for d in range(len(shape) - 1, 0, -1):
            coords.append(f"    c{d} = r % {shape[d]}")
            coords.append(f"    r //= {shape[d]}")
        coords.append("    c0 = r" if shape else "")
        body: list[str] = []
        functions: dict[Any, str] = {}
        for node in nodes:
            fn, compute = node.attrs
            compute = np.dtype(compute)
            if fn not in functions:
                functions[fn] = f"_f{len(functions)}"
            args = []
            for x in node.inputs:
                if not isinstance(x, Value):
                    args.append(literal(x, compute) if isinstance(x, (bool, int, float)) else repr(x))
                    continue
                if x.index in members:
                    expr = f"t{x.index}"
                elif _constant(x) is not None:
                    expr = literal(_constant(x), x.dtype)
                else:
                    buffer, strides, offset = _layout(x)
                    if buffer.storage.index not in positions:
                        positions[buffer.storage.index] = len(self.buffers)
                        self.buffers.append(buffer)
                    expr = f"a{positions[buffer.storage.index]}[{_index(strides, x.shape, shape, offset)}]"
                if x.dtype != compute:
                    expr = f"np.{compute.name}({expr})" if compute.kind != "b" else f"({expr} != 0)"
                args.append(expr)
            out = node.outputs[0]
            # Rounded to the output's type at every step, as the eager kernels store it.
            call = f"{functions[fn]}({', '.join(args)})"
            body.append(f"    t{out.index} = " + (f"np.{out.dtype.name}({call})" if out.dtype.kind != "b"
                                                    else f"({call} != 0)"))
        for k, value in enumerate(stored):
            body.append(f"    o{k}[i] = t{value.index}")
        self.functions = functions
        params = [f"o{k}" for k in range(len(stored))] + [f"a{k}" for k in range(len(self.buffers))]
        self.source_body = (f"\n@kernel\ndef group({', '.join(params)}):\n"
                            f"  start = cuda.grid(1)\n  step = cuda.gridsize(1)\n"
                            f"  for i in range(start, {self.size}, step):\n"
                            + "\n".join("  " + line for line in coords + body if line) + "\n")
        self._kernel: Any = None

    def source(self) -> str:
        from ..backends import cuda_kernels as ck

        parts = [ck._header(), ck._CUDA_MATH_SOURCE]
        for fn, alias in self.functions.items():
            parts.append(f"\n{ck._scalar_source(fn)}\n{alias} = device_function({fn.__name__})\n")
        parts.append(self.source_body)
        return "\n".join(parts)

    def kernel(self) -> Any:
        if self._kernel is None:
            from ..backends import cuda_kernels as ck

            source = self.source()
            digest = hashlib.sha256(source.encode()).hexdigest()[:12]
            self._kernel = ck._load(f"cuda_step_group_{digest}", source).group
        return self._kernel


def _group_launch(kernel: GroupKernel, writes: dict[int, Value]) -> Launch:
    """Allocate the group's stored values (an in-place node's go into the written buffer) and
    launch its kernel."""
    from ..backends import cuda_kernels as ck
    from ..cuda._arrays import empty, flat

    blocks, threads = ck.launch_shape(max(kernel.size, 1))

    def launch(env: Env) -> None:
        outs = []
        for value in kernel.stored:
            target = writes.get(value.index)
            array = env[target.index] if target is not None else empty(value.shape, value.dtype)
            env[value.index] = array
            outs.append(flat(array))
        if kernel.size:
            ins = [flat(env[buffer.storage.index]) for buffer in kernel.buffers]
            ck.launch(kernel.kernel(), blocks, threads, 0, *outs, *ins)

    return launch


# ------------------------------------------------------------------ other nodes

def _node_launch(node: Node) -> Launch:
    from ..backends import cuda_kernels as ck
    from ..cuda import _kernels, _ops
    from ..cuda._arrays import flat, view

    rule = node.rule
    if rule in CALLING_RULES:
        return rule.cuda_launch(node)
    out = node.outputs[0]
    ins = [x.index if isinstance(x, Value) else x for x in node.inputs]
    if rule is VIEW:
        shape, strides, offset = node.attrs
        itemsize = out.dtype.itemsize
        byte_strides = tuple(s * itemsize for s in strides)

        def launch(env: Env) -> None:
            env[out.index] = view(env[ins[0]], shape, byte_strides, offset * itemsize)
    elif rule is SUM:
        axes, divisor = node.attrs
        reduce = _kernels.reduce_sum if divisor == 1 else _kernels.reduce_mean

        def launch(env: Env) -> None:
            env[out.index] = reduce(env[ins[0]], tuple(axes), out.dtype).reshape(out.shape)
    elif rule is EXTREME:
        axes, largest = node.attrs
        positions = node.outputs[1]

        def launch(env: Env) -> None:
            values, indices = _kernels.reduce_extreme(env[ins[0]], tuple(axes), largest)
            env[out.index], env[positions.index] = values.reshape(out.shape), indices.reshape(positions.shape)
    elif rule is RESHAPE_COPY:
        def launch(env: Env) -> None:
            env[out.index] = _ops.contiguous_copy(env[ins[0]]).reshape(out.shape)
    elif rule is JOIN:
        from ..ops.movement import joined

        axis, stacked = node.attrs

        def launch(env: Env) -> None:
            env[out.index] = joined([env[i] for i in ins], axis, stacked, out.dtype)
    elif rule is MATMUL:
        def launch(env: Env) -> None:
            env[out.index] = _kernels.matmul(env[ins[0]], env[ins[1]]).reshape(out.shape)
    elif rule is ADDMM:
        beta, alpha = node.attrs

        def launch(env: Env) -> None:
            env[out.index] = _kernels.addmm(env[ins[0]], env[ins[1]], env[ins[2]], beta, alpha)
    elif rule is SOFTMAX:
        axis, log = node.attrs

        def launch(env: Env) -> None:
            env[out.index] = _kernels.softmax(env[ins[0]], axis, log)
    elif rule is FULL:
        value = out.dtype.type(node.attrs)
        fill = ck.elementwise_chain(_ops._copy, "s")
        target = node.writes[0].index if node.writes else None

        def launch(env: Env) -> None:
            if target is None:
                env[out.index] = _ops.full(out.shape, value, out.dtype)
            else:
                env[out.index] = env[target]
                if out.shape and _size(out.shape):
                    ck.run_chain(fill, [flat(env[target])], [value])
    elif rule is FUSED_UPDATE:
        kernel, flags, present = node.attrs
        targets = [w.index for w in node.writes]

        def launch(env: Env) -> None:
            param, grad, *buffers, scalars = [env[i] for i in ins]
            supplied = iter(buffers)
            slots = [next(supplied) if used else None for used in present]
            _kernels.optimizer_update(kernel, flags, param, grad, slots, scalars)
            for value, target in zip(node.outputs, targets):
                env[value.index] = env[target]
    elif rule is NLL_CUDA:
        ignore_index, reduction = node.attrs
        total = node.outputs[1] if len(node.outputs) > 1 else None  # none for reduction="none"

        def launch(env: Env) -> None:
            weights = None if ins[2] is None else env[ins[2]]
            env[out.index], weight = _kernels.nll(env[ins[0]], env[ins[1]], weights, ignore_index, reduction)
            if total is not None:
                env[total.index] = weight
    elif rule is NLL_BACKWARD_CUDA:
        shape, ignore_index, reduction = node.attrs

        def launch(env: Env) -> None:
            total, weights = (None if i is None else env[i] for i in ins[2:])
            env[out.index] = _kernels.nll_backward(env[ins[0]], shape, env[ins[1]], total, weights, ignore_index,
                                                   reduction)
    else:  # check_rule refused it while tracing
        raise TraceError(f"{ON_CUDA} (it met {rule.name!r})")
    return launch


# ------------------------------------------------------------------ the program

def _literal_only(graph: Graph, units: list["Node | Group"]) -> set[int]:
    """The FULL nodes (and stride-0 views of them) whose every user is a fused elementwise
    node, which reads the number as a literal (``_constant``): launching them would fill
    arrays nobody reads. Returns their ids."""
    fused = set()
    for unit in units:
        for node in unit.nodes if isinstance(unit, Group) else [unit] if unit.rule.elementwise else []:
            fused.add(id(node))
    outputs = {v.index for v in graph.outputs}
    skipped: set[int] = set()
    for node in reversed(graph.nodes):  # users first, so a view's verdict is known at its FULL
        value = node.outputs[0] if node.outputs else None
        constant = (node.rule is FULL and not node.writes) or (
            node.rule is VIEW and all(s == 0 for s in node.attrs[1]) and _constant(node.outputs[0]) is not None)
        if (constant and value.index not in outputs and value.users
                and all(id(user) in fused or id(user) in skipped for user in value.users)):
            skipped.add(id(node))
    return skipped


class CudaProgram:
    """The replay of a CUDA step: called with the step's arguments, captured buffers and host
    arrays (the CPU step function's parameters), returns the values Python needs back."""

    def __init__(self, graph: Graph, units: list["Node | Group"]) -> None:
        self.inputs = [v.index for v in graph.arguments + graph.captured + graph.host]
        self.outputs = [v.index for v in graph.outputs]
        self.size = len(graph.values)
        # Replays from a recording of the device work (``cuda_replay``), once one is made.
        self.layout = cuda_replay.Layout(graph)
        self.recorded: cuda_replay.Recorded | None = None
        self.recordings = 0
        self.refused = self.layout.refused if cuda_replay.enabled() else "TAPEGRAD_CUDA_RECORD=0"
        self.lock = threading.Lock()
        self.launches: list[Launch] = []
        self.kernels: list[GroupKernel] = []
        stored = stored_values(graph, units)
        inlined = _literal_only(graph, units)
        for unit in units:
            if not isinstance(unit, Group) and id(unit) in inlined:
                continue
            if isinstance(unit, Group):
                summed = {n.inputs[0].index for n in unit.sums}
                keep = [n.outputs[0] for n in unit.nodes if n.outputs[0].index in stored[id(unit)] | summed]
                self._add_group(unit.nodes, unit.shape, keep)
                self.launches += [_node_launch(n) for n in unit.sums]
            elif unit.rule.elementwise:
                # An in-place elementwise node (a gradient accumulated into ``.grad``).
                self._add_group([unit], unit.outputs[0].shape, [unit.outputs[0]])
            else:
                self.launches.append(_node_launch(unit))

    def _add_group(self, nodes: list[Node], shape: tuple[int, ...], stored: list[Value]) -> None:
        kernel = GroupKernel(nodes, shape, stored)
        writes = {n.outputs[0].index: n.writes[0] for n in nodes if n.writes}
        self.kernels.append(kernel)
        self.launches.append(_group_launch(kernel, writes))

    def __call__(self, *arrays: Any) -> tuple:
        with self.lock:  # a recording's buffers serve one call at a time
            recorded = self.recorded
            if recorded is not None and recorded.accepts(arrays):
                return recorded(arrays)
            if self.refused is None and self.recordings < cuda_replay.MAX_RECORDINGS:
                return self._record(arrays)
            self.recorded = None  # its buffers moved for good: let them go
        return self._run(arrays)

    def _record(self, arrays: Sequence[Any]) -> tuple:
        """Run the program under a recording; keep the recording for later calls if it can
        reproduce them."""
        from ..backends import cuda_capture

        self.recorded = None
        self.recordings += 1
        recorded = cuda_replay.Recorded(self.layout, arrays)
        inputs = recorded.inputs(arrays)  # per-call copies: not part of the recording
        with cuda_capture.Recording() as recording:
            outputs = self._run(inputs)
        self.refused = recording.invalid or recorded.keep(recording.ops, outputs)
        if self.refused is not None:
            return outputs  # the recording is dropped: these arrays are the caller's alone
        self.recorded = recorded
        return recorded.copy_outputs()

    def _run(self, arrays: Sequence[Any]) -> tuple:
        """One replay, unit by unit."""
        env: Env = [None] * self.size
        for index, array in zip(self.inputs, arrays):
            env[index] = array
        for launch in self.launches:
            launch(env)
        return tuple(env[i] for i in self.outputs)

    def launch_count(self) -> int:
        """Launches per replay, counting each generated group kernel and each other node once
        (views launch nothing; library kernels such as a reduction may launch two)."""
        return len(self.launches)
