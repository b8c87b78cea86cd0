"""Compile rules for layer norm and batch norm (``ops/layers.py``).

Each rule is one call of the normalisation backends, with the arguments the eager op passes:
on the CPU its ``emit`` writes the call of the same Numba kernel ``backends/cpu_norm.py`` runs
(with the buffers the wrapper would allocate), on CUDA its ``cuda_launch`` calls the function
of ``backends/cuda_norm.py``. Compiled and eager steps therefore compute the same numbers.

Batch norm is recorded as the eager op runs it: the batch statistics (training), the running
statistics' in-place update (a node that writes the buffers), the normalisation, and for the
backward the gradient kernel. Statistics are float64 arrays of their own values.

``ops/layers.py`` reports its kernels through the ``emit_*`` helpers below, which run only
while a step is being recorded.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..backends import cpu
from .graph import Node, Value
from .rules import Env, Launch, Rule, numpy_type

if TYPE_CHECKING:
    from ..tensor import Tensor
    from .codegen import Source

_KERNELS = "__import__('tapegrad.backends.cpu_norm', fromlist=['cpu_norm'])._kernels()"

def _kernel(src: "Source", name: str, size: int | None = None) -> str:
    """A module global naming the cpu_norm kernel ``name``; given ``size``, the threaded
    variant from ``cpu.PARALLEL_THRESHOLD`` elements on, as ``cpu_norm._run`` chooses (the
    replay then holds the backend's parallel lock)."""
    if size is not None and size >= cpu.PARALLEL_THRESHOLD:
        src.threaded = True  # type: ignore[attr-defined]
        name += "_parallel"
    return src.global_(f"norm_{name}", f"{_KERNELS}.{name}")


def _shaped(src: "Source", value: Value, shape: Sequence[int], dtype: np.dtype | None = None) -> str:
    """``value`` as a C-contiguous array of ``shape`` (cast to ``dtype`` when it differs)."""
    text = f"np.ascontiguousarray({src.name(value)})"
    if dtype is not None and value.dtype != dtype:
        text += f".astype({numpy_type(dtype)})"
    return f"{text}.reshape({tuple(int(s) for s in shape)!r})"


def _optional(src: "Source", value: Value | None, size: int, dtype: np.dtype) -> str:
    """A 1-D operand, or the empty array the kernels read as "absent"."""
    return f"np.empty(0, {numpy_type(dtype)})" if value is None else _shaped(src, value, (size,))


def _cuda_norm() -> Any:
    from ..backends import cuda_norm

    return cuda_norm


def _device(env: Env, value: Value | None, shape: Sequence[int], dtype: Any = None) -> Any:
    """A device operand as the eager op passes it: C-contiguous, of ``shape``, or None."""
    if value is None:
        return None
    from ..backends import cuda_conv

    return cuda_conv.contiguous(env[value.index], dtype).reshape(tuple(shape))


def _store(env: Env, node: Node, arrays: Sequence[Any]) -> None:
    """The node's outputs from the backend's results (None for gradients not asked for)."""
    for value, array in zip(node.outputs, [a for a in arrays if a is not None]):
        env[value.index] = array.reshape(value.shape)


# ============================================================================= layer norm

class LayerNorm(Rule):
    """``(out, mean, rstd) = layer_norm(x, weight or None, bias or None)`` over rows of
    ``n`` elements: ``attrs = (rows, n, eps)``; the statistics are float64, one per row."""

    def describe(self, node: Node) -> str:
        rows, n, eps = node.attrs
        return f"{rows}x{n}, eps={eps}"

    def emit(self, node: Node, src: "Source") -> None:
        x, weight, bias = node.inputs
        out, mean, rstd = node.outputs
        rows, n, eps = node.attrs
        names = [src.fresh(v) for v in node.outputs]
        src.line(f"{names[0]} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        src.line(f"{names[1]} = np.empty({rows})")
        src.line(f"{names[2]} = np.empty({rows})")
        src.line(f"{_kernel(src, 'layer_norm_rows', rows * n)}({_shaped(src, x, (rows, n))}, "
                 f"{_optional(src, weight, n, out.dtype)}, {_optional(src, bias, n, out.dtype)}, {float(eps)!r}, "
                 f"{names[0]}.reshape(({rows}, {n})), {names[1]}, {names[2]})")

    def cuda_launch(self, node: Node) -> Launch:
        x, weight, bias = node.inputs
        rows, n, eps = node.attrs

        def launch(env: Env) -> None:
            _store(env, node, _cuda_norm().layer_norm_forward(
                _device(env, x, (rows, n)), _device(env, weight, (n,)), _device(env, bias, (n,)), eps))

        return launch


class LayerNormBackward(Rule):
    """The gradients of ``LAYER_NORM`` asked for (``want``: input, weight, bias), from inputs
    ``(grad, x, mean, rstd, weight or None)``: ``attrs = (rows, n, want)``."""

    def describe(self, node: Node) -> str:
        return _which(node.attrs[2])

    def emit(self, node: Node, src: "Source") -> None:
        grad, x, mean, rstd, weight = node.inputs
        rows, n, want = node.attrs
        dtype = x.dtype
        parts = _gradient_buffers(src, (rows, n), n, want, dtype, "zeros")  # the kernel adds into dw, db
        src.line(f"{_kernel(src, 'layer_norm_backward_rows')}({_shaped(src, grad, (rows, n), dtype)}, "
                 f"{_shaped(src, x, (rows, n))}, {src.name(mean)}, {src.name(rstd)}, "
                 f"{_optional(src, weight, n, dtype)}, {', '.join(parts)})")
        _emit_gradients(node, src, parts, want)

    def cuda_launch(self, node: Node) -> Launch:
        grad, x, mean, rstd, weight = node.inputs
        rows, n, want = node.attrs

        def launch(env: Env) -> None:
            _store(env, node, _cuda_norm().layer_norm_backward(
                _device(env, grad, (rows, n), x.dtype), _device(env, x, (rows, n)), env[mean.index],
                env[rstd.index], _device(env, weight, (n,)), want))

        return launch


def _which(want: Sequence[bool]) -> str:
    return "+".join(name for name, wanted in zip(("input", "weight", "bias"), want) if wanted)


def _gradient_buffers(src: "Source", shape: Sequence[int], size: int, want: Sequence[bool], dtype: np.dtype,
                      make: str) -> list[str]:
    """Emit the backward kernels' ``(dx, dw, db)`` as the wrappers allocate them: ``dx`` of
    ``shape`` in ``dtype``, the parameter gradients float64 of ``size`` (``np.<make>``), each
    empty where not wanted (the kernels skip empty ones)."""
    parts = [src.temp("dx"), src.temp("dw"), src.temp("db")]
    empty = (0,) * len(shape)
    src.line(f"{parts[0]} = np.empty({tuple(shape) if want[0] else empty!r}, {numpy_type(dtype)})")
    for part, wanted in zip(parts[1:], want[1:]):
        src.line(f"{part} = np.{make}({size if wanted else 0})")
    return parts


def _emit_gradients(node: Node, src: "Source", parts: Sequence[str], want: Sequence[bool]) -> None:
    """Name the node's outputs: the input gradient as computed, the parameter gradients (float64
    accumulators) rounded to the input's dtype, as the backend's wrapper returns them."""
    outputs = iter(node.outputs)
    for k, (part, wanted) in enumerate(zip(parts, want)):
        if not wanted:
            continue
        value = next(outputs)
        expr = part if k == 0 else f"{part}.astype({numpy_type(value.dtype)})"
        src.line(f"{src.fresh(value)} = {expr}.reshape({tuple(value.shape)!r})")


# ============================================================================= batch norm

class ChannelStats(Rule):
    """``(mean, var) = channel_stats(x)`` of an ``(N, C, S)`` view of ``x`` (float64, biased
    variance): ``attrs = (N, C, S)``."""

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        mean, var = (src.fresh(v) for v in node.outputs)
        channels = node.attrs[1]
        src.line(f"{mean} = np.empty({channels})")
        src.line(f"{var} = np.empty({channels})")
        src.line(f"{_kernel(src, 'channel_stats')}({_shaped(src, x, node.attrs)}, {mean}, {var})")

    def cuda_launch(self, node: Node) -> Launch:
        (x,) = node.inputs

        def launch(env: Env) -> None:
            _store(env, node, _cuda_norm().channel_stats(_device(env, x, node.attrs)))

        return launch


class UpdateRunning(Rule):
    """``running_mean, running_var`` (C-contiguous, written in place) blended with the batch's
    ``(mean, var)``: ``attrs = (count, momentum)``; the outputs are the buffers' new versions."""

    def describe(self, node: Node) -> str:
        return f"momentum={node.attrs[1]}"

    def emit(self, node: Node, src: "Source") -> None:
        mean, var = node.inputs
        count, momentum = node.attrs
        buffers = [f"{src.name(target)}.reshape(-1)" for target in node.writes]
        src.line(f"{_kernel(src, 'update_running')}({', '.join(buffers)}, {src.name(mean)}, {src.name(var)}, "
                 f"{float(count)!r}, {float(momentum)!r})")
        for out, target in zip(node.outputs, node.writes):
            src.alias(out, target)

    def cuda_launch(self, node: Node) -> Launch:
        mean, var = node.inputs
        count, momentum = node.attrs
        targets = [target.index for target in node.writes]

        def launch(env: Env) -> None:
            running = [env[i] for i in targets]
            _cuda_norm().update_running(*(a.reshape(a.size) for a in running), env[mean.index], env[var.index],
                                        count, momentum)
            for value, array in zip(node.outputs, running):
                env[value.index] = array

        return launch


class ChannelNormalize(Rule):
    """``(out, invstd) = channel_normalize(x, mean, var, weight or None, bias or None)`` per
    channel of an ``(N, C, S)`` view: ``attrs = (shape, eps)``; ``invstd`` is float64."""

    def describe(self, node: Node) -> str:
        return f"eps={node.attrs[1]}"

    def emit(self, node: Node, src: "Source") -> None:
        x, mean, var, weight, bias = node.inputs
        out, invstd = node.outputs
        shape, eps = node.attrs
        channels = shape[1]
        names = [src.fresh(v) for v in node.outputs]
        src.line(f"{names[0]} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        src.line(f"{names[1]} = np.empty({channels})")
        src.line(f"{_kernel(src, 'channel_normalize', int(np.prod(shape)))}({_shaped(src, x, shape)}, "
                 f"{_shaped(src, mean, (channels,))}, {_shaped(src, var, (channels,))}, "
                 f"{_optional(src, weight, channels, out.dtype)}, {_optional(src, bias, channels, out.dtype)}, "
                 f"{float(eps)!r}, {names[0]}.reshape({tuple(shape)!r}), {names[1]})")

    def cuda_launch(self, node: Node) -> Launch:
        x, mean, var, weight, bias = node.inputs
        shape, eps = node.attrs
        channels = (shape[1],)

        def launch(env: Env) -> None:
            _store(env, node, _cuda_norm().channel_normalize(
                _device(env, x, shape), _device(env, mean, channels), _device(env, var, channels),
                _device(env, weight, channels), _device(env, bias, channels), eps))

        return launch


class ChannelBackward(Rule):
    """The batch norm gradients asked for (``want``), from inputs ``(grad, x, mean, invstd,
    weight or None)``: ``attrs = (shape, training, want)`` with ``shape`` the ``(N, C, S)`` view."""

    def describe(self, node: Node) -> str:
        shape, training, want = node.attrs
        return f"{_which(want)}, {'training' if training else 'eval'}"

    def emit(self, node: Node, src: "Source") -> None:
        grad, x, mean, invstd, weight = node.inputs
        shape, training, want = node.attrs
        channels = shape[1]
        dtype = x.dtype
        parts = _gradient_buffers(src, shape, channels, want, dtype, "empty")
        src.line(f"{_kernel(src, 'channel_backward')}({_shaped(src, grad, shape, dtype)}, {_shaped(src, x, shape)}, "
                 f"{src.name(mean)}, {src.name(invstd)}, {_optional(src, weight, channels, dtype)}, "
                 f"{bool(training)}, {', '.join(parts)})")
        _emit_gradients(node, src, parts, want)

    def cuda_launch(self, node: Node) -> Launch:
        grad, x, mean, invstd, weight = node.inputs
        shape, training, want = node.attrs

        def launch(env: Env) -> None:
            _store(env, node, _cuda_norm().channel_backward(
                _device(env, grad, shape, x.dtype), _device(env, x, shape), env[mean.index], env[invstd.index],
                _device(env, weight, (shape[1],)), training, want))

        return launch


LAYER_NORM = LayerNorm("layer_norm")
LAYER_NORM_BACKWARD = LayerNormBackward("layer_norm_backward")
CHANNEL_STATS = ChannelStats("batch_norm_stats")
UPDATE_RUNNING = UpdateRunning("batch_norm_update_running")
CHANNEL_NORMALIZE = ChannelNormalize("batch_norm")
CHANNEL_BACKWARD = ChannelBackward("batch_norm_backward")

CUDA_RULES: frozenset[Rule] = frozenset({LAYER_NORM, LAYER_NORM_BACKWARD, CHANNEL_STATS, UPDATE_RUNNING,
                                         CHANNEL_NORMALIZE, CHANNEL_BACKWARD})
"""The rules above, all of which a CUDA step replays through their ``cuda_launch``."""


# ============================================================================= reporting (ops/layers.py)
# Called only while a step is recorded (``trace.ACTIVE is not None``).

def _tracer() -> Any:
    from . import trace

    return trace.ACTIVE


def _ints(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def emit_layer_norm(x: "Tensor", weight: "Tensor | None", bias: "Tensor | None", results: Sequence[Any],
                    rows: int, n: int, eps: float) -> None:
    """Report ``results = (out, mean, rstd)`` of a layer norm over ``rows`` rows of ``n``."""
    _tracer().emit(LAYER_NORM, (x, weight, bias), tuple(results), (int(rows), int(n), float(eps)))


def emit_layer_norm_backward(grad: "Tensor", x: "Tensor", mean: "Tensor", rstd: "Tensor", weight: "Tensor | None",
                             results: Sequence[Any], rows: int, n: int) -> None:
    """Report the layer norm gradients ``results`` (input, weight, bias; None where not asked)."""
    want = tuple(r is not None for r in results)
    _tracer().emit(LAYER_NORM_BACKWARD, (grad, x, mean, rstd, weight), tuple(r for r in results if r is not None),
                   (int(rows), int(n), want))


def emit_channel_stats(x: "Tensor", mean: Any, var: Any, shape: Sequence[int]) -> None:
    _tracer().emit(CHANNEL_STATS, (x,), (mean, var), _ints(shape))


def emit_update_running(running_mean: "Tensor", running_var: "Tensor", mean: Any, var: Any, count: int,
                        momentum: float) -> None:
    """Report the in-place update of the (C-contiguous) running buffers."""
    from .trace import TraceError

    if not (running_mean._data.flags.c_contiguous and running_var._data.flags.c_contiguous):
        raise TraceError("tapegrad.compile: batch norm's running statistics must be contiguous tensors")
    _tracer().emit(UPDATE_RUNNING, (mean, var), (running_mean._data, running_var._data), (int(count), float(momentum)),
                   into=(running_mean, running_var))


def emit_channel_normalize(x: "Tensor", mean: Any, var: Any, weight: "Tensor | None", bias: "Tensor | None",
                           results: Sequence[Any], shape: Sequence[int], eps: float) -> None:
    """Report ``results = (out, invstd)`` of batch norm's normalisation of ``x``."""
    _tracer().emit(CHANNEL_NORMALIZE, (x, mean, var, weight, bias), tuple(results), (_ints(shape), float(eps)))


def emit_float64_copy(source: Any, copy: Any) -> None:
    """Report ``copy``, a float64 copy of ``source`` (the statistics batch norm saves)."""
    from .rules import ELEMENTWISE, identity

    _tracer().emit(ELEMENTWISE, (source,), copy, (identity, np.dtype(np.float64)))


def emit_channel_backward(grad: "Tensor", x: "Tensor", mean: "Tensor", invstd: "Tensor", weight: "Tensor | None",
                          results: Sequence[Any], shape: Sequence[int], training: bool) -> None:
    """Report the batch norm gradients ``results`` (input, weight, bias; None where not asked)."""
    want = tuple(r is not None for r in results)
    _tracer().emit(CHANNEL_BACKWARD, (grad, x, mean, invstd, weight), tuple(r for r in results if r is not None),
                   (_ints(shape), bool(training), want))
