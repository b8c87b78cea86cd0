"""The primitives of a compiled step, each with the Numba source it becomes.

Ops report themselves to the tracer with one of these rules. Elementwise work is one rule,
``ELEMENTWISE``, carrying the op's scalar function: the fusion pass merges such nodes into
loop nests that ``codegen`` writes (so no rule here writes an elementwise loop). The other
rules write a few lines each, calling the same Numba kernels the eager backend runs where one
exists, so the compiled and eager steps share their arithmetic.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .graph import Node, Value

if TYPE_CHECKING:
    from .codegen import Source


Env = list
"""A CUDA replay's arrays, by value index (``cuda_program``)."""
Launch = Callable[[Env], None]
"""One call of a CUDA replay: reads its inputs from the ``Env`` and stores its outputs there.
Rules that CUDA steps replay by calling eager kernels return one from ``cuda_launch(node)``."""


def divisor_literal(divisor: float) -> str:
    """A mean's divisor in generated code (NaN, from a mean over no elements, included)."""
    return "np.nan" if divisor != divisor else repr(float(divisor))


def numpy_type(dtype: np.dtype) -> str:
    """The NumPy scalar type's name in generated code (``np.bool`` is missing before NumPy 2)."""
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


class Rule:
    """One primitive. ``elementwise`` rules are fused by the fusion pass; the others ``emit``.
    ``effect`` rules are kept even when nothing uses their result (checks that raise)."""

    elementwise = False
    effect = False

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self, node: Node) -> str:
        return ""

    def emit(self, node: Node, src: "Source") -> None:
        raise NotImplementedError(f"rule {self.name} has no code generator")

    def __repr__(self) -> str:
        return f"Rule({self.name})"


class ElementwiseRule(Rule):
    """``attrs = (scalar function, compute dtype)``: inputs are cast to the compute dtype,
    broadcast to the output's shape, and the scalar function is applied per element."""

    elementwise = True

    def describe(self, node: Node) -> str:
        fn, compute = node.attrs
        return f"{fn.__name__.strip('_')}:{np.dtype(compute).name}"


def identity(x):  # noqa: ANN001, ANN201 - a scalar definition compiled by Numba
    return x


ELEMENTWISE = ElementwiseRule("elementwise")


class View(Rule):
    """``attrs = (shape, strides in elements, offset in elements)`` over the input's buffer."""

    def describe(self, node: Node) -> str:
        shape, strides, offset = node.attrs
        return f"{list(shape)}/{list(strides)}+{offset}"

    def emit(self, node: Node, src: "Source") -> None:
        (base,) = node.inputs
        (out,) = node.outputs
        shape, strides, offset = node.attrs
        base_name = src.name(base)
        c_strides = _c_strides(shape)
        if offset == 0 and strides == c_strides and _size(shape) == _size(base.shape):
            expr = f"{base_name}.reshape({shape!r})"
        elif (offset == 0 and len(shape) == 2 and len(base.shape) == 2 and shape == base.shape[::-1]
              and strides == (1, shape[0])):
            expr = f"{base_name}.T"
        elif all(s == 0 for s in strides) and offset == 0:
            expr = f"np.broadcast_to({base_name}.reshape(-1)[0], {shape!r})"
        else:
            itemsize = out.dtype.itemsize
            byte_strides = tuple(s * itemsize for s in strides)
            expr = (f"np.lib.stride_tricks.as_strided({base_name}.reshape(-1)[{offset}:], "
                    f"{shape!r}, {byte_strides!r})")
        src.define(out, expr)


VIEW = View("view")


class Sum(Rule):
    """``attrs = (axes, divisor)``: the sum over ``axes`` (float32 accumulates in float64, as
    the eager kernel does), divided by ``divisor`` (1 for sum, the count for mean); the output
    keeps the reduced axes as size 1 or drops them, as the eager op's result does."""

    def describe(self, node: Node) -> str:
        axes, divisor = node.attrs
        return f"axes={list(axes)}" + (f"/{divisor}" if divisor != 1 else "")

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        axes, divisor = node.attrs
        kept = [d for d in range(len(x.shape)) if d not in axes]
        kept_shape = tuple(x.shape[d] for d in kept)
        acc_dtype = "np.float64" if out.dtype.kind == "f" else "np.int64"
        acc = src.temp("acc")
        src.line(f"{acc} = np.zeros({kept_shape!r}, {acc_dtype})")
        indices = [f"i{d}" for d in range(len(x.shape))]
        for depth, size in enumerate(x.shape):
            src.line("    " * depth + f"for i{depth} in range({size}):")
        kept_index = ", ".join(indices[d] for d in kept) if kept else ""
        load = f"{src.name(x)}[{', '.join(indices)}]" if x.shape else f"{src.name(x)}[()]"
        src.line("    " * len(x.shape) + f"{acc}[{kept_index or '()'}] += {load}")
        if divisor != 1:
            # In place: Numba makes a scalar of a 0-d array divided by a number.
            src.line(f"{acc} /= {divisor_literal(divisor)}")
        result = src.fresh(out)
        src.line(f"{result} = {acc}.astype({numpy_type(out.dtype)}).reshape({out.shape!r})")


SUM = Sum("sum")


class Extreme(Rule):
    """``attrs = (axes, largest)``: (values, int64 positions within the reduced block) of the
    max or min over ``axes``, reduced dims dropped, as ``cpu.reduce_extreme`` computes them."""

    def describe(self, node: Node) -> str:
        axes, largest = node.attrs
        return f"{'max' if largest else 'min'} axes={list(axes)}"

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        values, indices = node.outputs
        axes, largest = node.attrs
        kept = [d for d in range(len(x.shape)) if d not in axes]
        inner = _size(tuple(x.shape[d] for d in axes))
        name = src.name(x)
        trailing = tuple(axes) == tuple(range(len(x.shape) - len(axes), len(x.shape)))
        moved = name if trailing else f"np.transpose({name}, {tuple(kept + list(axes))!r})"
        rows, found, where = src.temp("rows"), src.temp("values"), src.temp("indices")
        count = _size(values.shape)
        src.line(f"{rows} = np.ascontiguousarray({moved}).reshape(({count}, {inner}))")
        src.line(f"{found} = np.empty({count}, {numpy_type(values.dtype)})")
        src.line(f"{where} = np.empty({count}, np.int64)")
        # Booleans compare as bytes (the eager kernel reads them so too).
        as_bytes = ".view(np.uint8)" if values.dtype == np.bool_ else ""
        kernel = src.global_("extreme_rows", "_cpu._reduce_module().extreme_rows")
        src.line(f"{kernel}({rows}{as_bytes}, {found}{as_bytes}, {where}, {bool(largest)})")
        src.define(values, f"{found}.reshape({values.shape!r})")
        src.define(indices, f"{where}.reshape({indices.shape!r})")


EXTREME = Extreme("extreme")


class ReshapeCopy(Rule):
    """The input (any strides) copied into a new C-ordered array of the output's shape."""

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        src.define(out, f"np.ascontiguousarray({src.name(x)}).reshape({out.shape!r})")


RESHAPE_COPY = ReshapeCopy("reshape_copy")


class Join(Rule):
    """``attrs = (axis, stacked)``: the inputs joined along ``axis`` (``cat``), or each placed
    at its own index of a new ``axis`` (``stack``), cast to the output's dtype."""

    def describe(self, node: Node) -> str:
        axis, stacked = node.attrs
        return f"{'stack' if stacked else 'cat'} axis={axis}"

    def emit(self, node: Node, src: "Source") -> None:
        (out,) = node.outputs
        axis, stacked = node.attrs
        result = src.fresh(out)
        src.line(f"{result} = np.empty({out.shape!r}, {numpy_type(out.dtype)})")
        start = 0
        for k, part in enumerate(node.inputs):
            name = src.name(part)
            if stacked:
                where, value = str(k), name if part.shape else f"{name}[()]"
            else:
                length = part.shape[axis]
                where, value, start = f"{start}:{start + length}", name, start + length
            src.line(f"{result}[{', '.join([':'] * axis + [where])}] = {value}")


JOIN = Join("join")


def name_of_base(view: Node, src: "Source") -> str:
    return src.name(view.inputs[0])


def _as_matrix_expr(src: "Source", value: Value) -> str:
    # np.dot in Numba wants C- or F-ordered operands; views reach here as reshapes or
    # transposes of contiguous buffers (C and F), anything else is copied.
    name = src.name(value)
    producer = value.producer
    if producer is not None and producer.rule is VIEW:
        code = src.expression(value)
        if code.endswith(".T") or (code.startswith(name_of_base(producer, src)) and ".reshape(" in code):
            return name
        return f"np.ascontiguousarray({name})"
    return name


class MatMul(Rule):
    """``out = a @ b`` for 2-D float operands, or stacked 3-D ones (``attrs`` unused), as
    ``cpu.matmul`` computes it."""

    def emit(self, node: Node, src: "Source") -> None:
        a, b = node.inputs
        (out,) = node.outputs
        result = src.fresh(out)
        src.line(f"{result} = {src.allocate(out)}")
        if a.shape[-1] == 0:
            src.line(f"{result}[...] = 0")
        elif len(out.shape) == 3:
            kernel = src.global_("batched_dot", "_cpu._linalg_module().batched_dot")
            src.line(f"{kernel}(np.ascontiguousarray({src.name(a)}), np.ascontiguousarray({src.name(b)}), {result})")
        else:
            src.line(f"np.dot({_as_matrix_expr(src, a)}, {_as_matrix_expr(src, b)}, {result})")


MATMUL = MatMul("mm")


class AddMatMul(Rule):
    """``out = beta * bias + alpha * (a @ b)`` (``attrs = (beta, alpha)``): ``nn.Linear``."""

    def describe(self, node: Node) -> str:
        beta, alpha = node.attrs
        return "" if beta == 1 and alpha == 1 else f"beta={beta}, alpha={alpha}"

    def emit(self, node: Node, src: "Source") -> None:
        bias, a, b = node.inputs
        (out,) = node.outputs
        beta, alpha = node.attrs
        result = src.fresh(out)
        dtype = f"{numpy_type(out.dtype)}"
        src.line(f"{result} = {src.allocate(out)}")
        src.line(f"np.dot({_as_matrix_expr(src, a)}, {_as_matrix_expr(src, b)}, {result})")
        rows, cols = out.shape
        bias_index = src.broadcast_index(bias, out.shape, ["i0", "i1"])
        product = f"{result}[i0, i1]" if alpha == 1 else f"{dtype}({alpha!r}) * {result}[i0, i1]"
        bias_term = bias_index if beta == 1 else f"{dtype}({beta!r}) * {bias_index}"
        src.line(f"for i0 in range({rows}):")
        src.line(f"    for i1 in range({cols}):")
        src.line(f"        {result}[i0, i1] = {product} + {bias_term}")


ADDMM = AddMatMul("addmm")


class Softmax(Rule):
    """``attrs = (axis, log)``: softmax or log-softmax along ``axis`` (the eager row kernel)."""

    def describe(self, node: Node) -> str:
        axis, log = node.attrs
        return f"{'log_' if log else ''}axis={axis}"

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        axis, log = node.attrs
        kernel = src.global_("softmax_rows", "_cpu._reduce_module().softmax_rows")
        last = axis == len(x.shape) - 1
        width = x.shape[axis]
        rows = _size(x.shape) // width if width else 0
        name = src.name(x)
        moved = name if last else f"np.moveaxis({name}, {axis}, -1)"
        source_rows = src.temp("rows")
        src.line(f"{source_rows} = np.ascontiguousarray({moved}).reshape(({rows}, {width}))")
        result_rows = src.temp("rows")
        src.line(f"{result_rows} = {src.allocate(out, (rows, width))}")
        src.line(f"{kernel}({source_rows}, {result_rows}, {bool(log)})")
        result = src.fresh(out)
        if last:
            src.line(f"{result} = {result_rows}.reshape({out.shape!r})")
        else:
            moved_shape = tuple(s for d, s in enumerate(x.shape) if d != axis) + (width,)
            src.line(f"{result} = np.ascontiguousarray(np.moveaxis({result_rows}.reshape({moved_shape!r}), -1, {axis}))")


SOFTMAX = Softmax("softmax")


class PickedSum(Rule):
    """``-sum(rows[i, index[i]] * weight[i]) / total``, the NLL of class-index targets for
    (batch, classes) log-probabilities, as a 0-d array (inputs: rows, index, weight, and for a
    mean the 0-d total weight it divides by)."""

    def emit(self, node: Node, src: "Source") -> None:
        rows, index, weight, *total = node.inputs
        (out,) = node.outputs
        kernel = src.global_("picked_sum", "_cpu._linalg_module().picked_sum")
        denominator = f"np.float64({src.name(total[0])}[()])" if total else "1.0"
        result = src.fresh(out)
        src.line(f"{result} = np.empty((), {numpy_type(out.dtype)})")
        src.line(f"{result}[()] = {kernel}({src.name(rows)}, {src.name(index)}, {src.name(weight)}, {denominator})")


PICKED_SUM = PickedSum("nll")


class Full(Rule):
    """``attrs = value``: a new array of the output's shape and dtype filled with ``value``."""

    def describe(self, node: Node) -> str:
        return repr(node.attrs)

    def emit(self, node: Node, src: "Source") -> None:
        (out,) = node.outputs
        value = src.literal(node.attrs, out.dtype)
        if node.writes:
            src.alias(out, node.writes[0])
            src.line(f"{src.name(out)}.fill({value})")
            return
        result = src.fresh(out)
        src.line(f"{result} = np.full({out.shape!r}, {value}, {numpy_type(out.dtype)})")


FULL = Full("full")


class UnitIntervalCheck(Rule):
    """Raise PyTorch's error if an element of the input lies outside [0, 1] (NaN does):
    ``binary_cross_entropy``'s check of each replay's probabilities."""

    effect = True
    message = "all elements of input should be between 0 and 1"

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        flat = src.temp("probabilities")
        src.line(f"{flat} = np.ascontiguousarray({src.name(x)}).reshape(-1)")
        src.line(f"for i0 in range({flat}.shape[0]):")
        src.line(f"    if not ({flat}[i0] >= 0 and {flat}[i0] <= 1):")
        src.line(f"        raise RuntimeError({self.message!r})")

    def cuda_launch(self, node: Node) -> Launch:
        from ..backends import cuda_capture
        from ..cuda import _kernels

        x = node.inputs[0]
        axes = tuple(range(len(x.shape)))

        def launch(env: Env) -> None:
            data = env[x.index]

            def check() -> None:
                # Two reductions, two numbers read back (a recording re-runs the whole check).
                low, high = (float(_kernels.reduce_extreme(data, axes, largest)[0].copy_to_host())
                             for largest in (False, True))
                if not (low >= 0 and high <= 1):  # a NaN wins both reductions, and fails
                    raise RuntimeError(self.message)

            cuda_capture.host_check(check)

        return launch


UNIT_INTERVAL = UnitIntervalCheck("unit_interval_check")


class NllTargets(Rule):
    """``attrs = (classes, ignore_index)``: class-index targets (and the class weights, when
    given) to (the class each target picks, its weight, whether it is ignored, the 0-d total
    weight), as ``cpu.nll_targets``; raises for a target out of range."""

    effect = True  # the range check raises even when the results go unused

    def emit(self, node: Node, src: "Source") -> None:
        labels, *weights = node.inputs
        classes, ignore_index = node.attrs
        index, picked, ignored, total = node.outputs
        kernel = src.global_("nll_targets", "_cpu._linalg_module().nll_targets")
        for out in (index, picked, ignored):
            src.line(f"{src.fresh(out)} = np.empty({out.shape!r}, {numpy_type(out.dtype)})")
        src.line(f"{src.fresh(total)} = np.empty((), {numpy_type(total.dtype)})")
        class_weights = src.name(weights[0]) if weights else f"np.empty(0, {numpy_type(picked.dtype)})"
        src.line(f"{src.name(total)}[()] = {kernel}(np.ascontiguousarray({src.name(labels)}).reshape(-1), "
                 f"{class_weights}, {int(classes)}, {int(ignore_index)}, {src.name(index)}.reshape(-1), "
                 f"{src.name(picked)}.reshape(-1), {src.name(ignored)}.reshape(-1))")


NLL_TARGETS = NllTargets("nll_targets")


class FusedUpdate(Rule):
    """An optimizer's per-parameter update kernel (``attrs = (FusedKernel, flags, present)``):
    inputs are the parameter, its gradient, the state buffers (``present`` says which of the
    kernel's buffer slots are used) and the scalar array Python computes before each replay."""

    def describe(self, node: Node) -> str:
        kernel, flags, present = node.attrs
        return kernel.name

    def emit(self, node: Node, src: "Source") -> None:
        kernel, flags, present = node.attrs
        bits = "".join("1" if flag else "0" for flag in flags)
        _OPTIMIZER_KERNELS[kernel.name] = kernel
        function = src.global_(f"{kernel.name}_{bits}", _optimizer_kernel_call(kernel, flags))
        param, grad, *buffers, scalars = node.inputs
        dtype = f"{numpy_type(param.dtype)}"
        args = [f"{src.name(param)}.reshape(-1)", f"{src.name(grad)}.reshape(-1)"]
        supplied = iter(buffers)
        for used in present:
            args.append(f"{src.name(next(supplied))}.reshape(-1)" if used else f"np.empty(0, {dtype})")
        args.append(src.name(scalars))
        src.line(f"{function}({', '.join(args)})")
        for out, target in zip(node.outputs, node.writes):
            src.alias(out, target)


FUSED_UPDATE = FusedUpdate("optimizer_update")

# Parameters are cut into pieces of this many elements for the many-parameter update, so its
# threads share out a few large weights and many small biases evenly.
UPDATE_CHUNK = 1 << 16
# The many-parameter update runs on threads from this many elements in all (the per-parameter
# kernels' threshold, measured in optim/_fused.py).
UPDATE_PARALLEL_THRESHOLD = 1 << 20


class MultiUpdate(Rule):
    """The updates of several parameters by one optimizer kernel, as ONE loop over all their
    elements (``attrs = (FusedKernel, flags, present, count)``): ``count`` runs of the inputs
    of ``FUSED_UPDATE`` (parameter, gradient, present buffers, scalar array) follow each other,
    as do the written values. Made by ``passes.fuse_updates``."""

    def describe(self, node: Node) -> str:
        kernel, flags, present, count = node.attrs
        return f"{kernel.name} x{count}"

    def emit(self, node: Node, src: "Source") -> None:
        kernel, flags, present, count = node.attrs
        _OPTIMIZER_KERNELS[kernel.name] = kernel
        width = len(node.inputs) // count
        runs = [node.inputs[k * width:(k + 1) * width] for k in range(count)]
        sizes = [_size(run[0].shape) for run in runs]
        parallel = sum(sizes) >= UPDATE_PARALLEL_THRESHOLD
        variant = "multi_parallel" if parallel else "multi"
        src.threaded |= parallel
        bits = "".join("1" if flag else "0" for flag in flags)
        function = src.global_(f"{kernel.name}_{bits}_{variant}", _optimizer_kernel_call(kernel, flags, variant))
        chunks = [(k, start, min(start + UPDATE_CHUNK, size))
                  for k, size in enumerate(sizes) for start in range(0, size, UPDATE_CHUNK)]
        table = src.global_(src.temp("chunks"), f"np.array({chunks!r}, np.int64).reshape(({len(chunks)}, 3))")
        dtype = numpy_type(runs[0][0].dtype)
        tuples = []
        for slot in range(2 + len(present)):
            items = []
            for run in runs:
                param, grad, *buffers, _ = run
                if slot == 0:
                    items.append(f"{src.name(param)}.reshape(-1)")
                elif slot == 1:
                    # The tuple's arrays must share one type: a gradient typed as a strided
                    # view becomes C-ordered (Numba returns a C-ordered array unchanged).
                    items.append(f"np.ascontiguousarray({src.name(grad)}).reshape(-1)")
                elif present[slot - 2]:
                    items.append(f"{src.name(buffers[sum(present[:slot - 2])])}.reshape(-1)")
                else:
                    items.append(f"np.empty(0, {dtype})")
            tuples.append(f"({', '.join(items)},)")
        scalars = src.temp("scalars")
        width_scalars = len(kernel.scalars)
        src.line(f"{scalars} = np.empty(({count}, {width_scalars}), {dtype})")
        for k, run in enumerate(runs):
            src.line(f"{scalars}[{k}] = {src.name(run[-1])}")
        src.line(f"{function}({', '.join(tuples)}, {scalars}, {table})")
        for out, target in zip(node.outputs, node.writes):
            src.alias(out, target)


MULTI_UPDATE = MultiUpdate("optimizer_update_all")


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for s in shape:
        total *= s
    return total


_OPTIMIZER_KERNELS: dict[str, Any] = {}


def _optimizer_kernel_call(kernel: Any, flags: tuple[bool, ...], variant: str = "flat") -> str:
    """The generated expression that fetches an optimizer kernel, ending in a digest of the
    kernel's source: Numba's cache of the step refers to the kernel's module by name, and that
    name changes with the source, so a changed update body must change the step's source too
    (else a warm cache loads a step that imports a module no longer made)."""
    flags = tuple(bool(f) for f in flags)
    digest = hashlib.sha256(kernel.source(flags).encode()).hexdigest()[:16]
    return f"_rules.optimizer_kernel({kernel.name!r}, {flags!r}, {variant!r})  # {digest}"


def optimizer_kernel(name: str, flags: tuple[bool, ...], variant: str = "flat") -> Any:
    """A kernel (``flat``, ``multi`` or ``multi_parallel``) of a registered optimizer update
    (generated modules call this)."""
    return getattr(_OPTIMIZER_KERNELS[name].module(flags), variant)
