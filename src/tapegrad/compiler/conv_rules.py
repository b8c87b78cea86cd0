"""Compile rules for convolution and pooling (``ops/conv.py``).

Each rule writes the same sequence of calls the eager function in ``backends/cpu_conv.py``
makes (im2col, the per-group BLAS products, col2im, the pooling loops), calling the very same
Numba kernels, so compiled and eager steps compute bit-identical results. What the eager
wrappers decide at run time from shapes (chunking of the column buffer, serial or threaded
kernel, the unrolled 2x2 max pool) is decided here once, from the recorded shapes.

Constants passed to the kernels are written as ``np.int64(...)`` / ``np.bool_(...)``: a bare
literal would make Numba type the argument as a literal and compile (and cache) a new
version of the kernel for every geometry.

On CUDA, each rule's ``cuda_launch`` makes the replay's call instead: the function of
``backends/cuda_conv.py`` the eager op calls, with the recorded geometry (CUDA steps are a
list of such calls, see ``cuda_program``).

``ops/conv.py`` reports its ops through the ``emit_*`` helpers below, which run only while a
step is being recorded (the eager path checks ``trace.ACTIVE`` and nothing else).
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..backends import cpu_conv
from .graph import Node, Value
from .rules import Env, Launch, Rule, numpy_type

if TYPE_CHECKING:
    from ..tensor import Tensor
    from .codegen import Source

_MODULE = "__import__('tapegrad.backends.cpu_conv', fromlist=['cpu_conv'])"


# ----------------------------------------------------------------------------- helpers

def _kernel(src: "Source", name: str) -> str:
    """A module global naming the cpu_conv kernel ``name``."""
    return src.global_(f"conv_{name.lstrip('_')}", f"{_MODULE}.{name}")


def _launched(src: "Source", name: str, size: int) -> str:
    """``cpu_conv._launch``'s choice for ``size`` elements: the serial or the threaded kernel.
    Choosing a threaded one sets ``src.threaded``: the replay must then hold the backend's
    parallel lock (Numba's workqueue layer aborts on concurrent launches)."""
    if size >= cpu_conv.PARALLEL_THRESHOLD:
        src.threaded = True  # type: ignore[attr-defined]
        return _kernel(src, f"{name}_parallel")
    return _kernel(src, name)


def _ints(values: Sequence[int]) -> str:
    """A tuple of int64 values Numba does not type as literals."""
    return "(" + ", ".join(f"np.int64({int(v)})" for v in values) + ("," if len(values) == 1 else "") + ")"


def _contiguous(src: "Source", value: Value) -> str:
    """``value`` as a C-contiguous array, as the kernels' compiled signatures take it: free for
    arrays Numba already types as C-ordered, a run-time check (and copy when needed) for views."""
    return f"np.ascontiguousarray({src.name(value)})"


def _size(shape: Sequence[int]) -> int:
    total = 1
    for s in shape:
        total *= int(s)
    return total


def _planes(shape: Sequence[int]) -> tuple[int, int, int]:
    return _size(shape[:-2]), int(shape[-2]), int(shape[-1])


def _chunk(n: int, columns_per_sample: int) -> int:
    return cpu_conv._chunk(n, columns_per_sample)


def _cuda_conv() -> Any:
    from ..backends import cuda_conv

    return cuda_conv


def _index(x: Any) -> int | None:
    """The value index of a node input, None for an absent optional one."""
    return x.index if isinstance(x, Value) else None


def _device_planes(array: Any, shape: Sequence[int]) -> Any:
    """A device array of ``shape`` as C-contiguous (planes, H, W), as ``ops/conv.py`` passes
    one to the pooling kernels."""
    return _cuda_conv().contiguous(array).reshape(_planes(shape))


# ============================================================================= convolution

class Conv2d(Rule):
    """``out = conv2d(x, weight, bias)`` (``bias`` may be None): ``attrs = (geom, groups, keep)``.
    With ``keep`` a second output is the column buffer of ``x`` (the whole batch in one chunk),
    which the backward reuses for the weight gradient as the eager backward does."""

    def describe(self, node: Node) -> str:
        geom, groups, keep = node.attrs
        return f"geom={list(geom)}, groups={groups}" + (", keep columns" if keep else "")

    def emit(self, node: Node, src: "Source") -> None:
        x, weight, bias = node.inputs
        out = node.outputs[0]
        geom, groups, keep = node.attrs
        dtype = numpy_type(out.dtype)
        n, out_channels, oh, ow = out.shape
        kh, kw = geom[0], geom[1]
        length = oh * ow
        k_group = weight.shape[1] * kh * kw
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {dtype})")
        if _size(out.shape) == 0:
            return
        if bias is None:
            bias_name = src.temp("bias")
            src.line(f"{bias_name} = np.zeros({out_channels}, {dtype})")
        else:
            bias_name = _contiguous(src, bias)
        if k_group == 0:
            src.line(f"for i0 in range({n}):")
            src.line(f"    for i1 in range({out_channels}):")
            src.line(f"        {result}[i0, i1] = {bias_name}[i1]")
            return
        group_out = out_channels // groups
        geom_name = src.temp("geom")
        src.line(f"{geom_name} = {_ints(geom)}")
        x_name = src.temp("x")
        src.line(f"{x_name} = {_contiguous(src, x)}")
        w3 = src.temp("w3")
        src.line(f"{w3} = {_contiguous(src, weight)}.reshape(({groups}, {group_out}, {k_group}))")
        out3 = src.temp("out3")
        src.line(f"{out3} = {result}.reshape(({n}, {out_channels}, {length}))")
        step = _chunk(n, groups * k_group * length)
        im2col = _launched(src, "_im2col", groups * k_group * step * length)
        to_output = _launched(src, "_rows_to_output", groups * group_out * step * length)
        gemm = _kernel(src, "_gemm_forward")
        cols = src.temp("cols")
        rows = src.temp("rows")
        body = [f"{cols} = np.empty(({groups}, {k_group}, COUNT * {length}), {dtype})",
                f"{im2col}({x_name}, {cols}, N0, {geom_name})",
                f"{rows} = np.empty(({groups}, {group_out}, COUNT * {length}), {dtype})",
                f"{gemm}({w3}, {cols}, {rows})",
                f"{to_output}({rows}.reshape(({out_channels}, COUNT * {length})), {bias_name}, {out3}, N0)"]
        _chunks(src, n, step, body)
        if keep:
            src.line(f"{src.fresh(node.outputs[1])} = {cols}")

    def cuda_launch(self, node: Node) -> Launch:
        x, weight, bias = (_index(v) for v in node.inputs)
        outputs = [v.index for v in node.outputs]
        geom, groups, keep = node.attrs
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            out, columns = cc.conv2d_forward(cc.contiguous(env[x]), cc.contiguous(env[weight]),
                                             None if bias is None else cc.contiguous(env[bias]), geom, groups,
                                             keep_columns=keep)
            env[outputs[0]] = out
            if keep:  # the shapes that kept them while tracing keep them at every replay
                env[outputs[1]] = columns

        return launch


def _chunks(src: "Source", n: int, step: int, body: list[str]) -> None:
    """``body`` once per chunk of ``step`` samples (``N0``: first sample, ``COUNT``: samples)."""
    if step >= n:
        for text in body:
            src.line(text.replace("COUNT", str(n)).replace("N0", "np.int64(0)"))
        return
    n0 = src.temp("n0")
    count = src.temp("count")
    src.line(f"for {n0} in range(0, {n}, {step}):")
    src.line(f"    {count} = min({step}, {n} - {n0})")
    for text in body:
        src.line("    " + text.replace("COUNT", count).replace("N0", n0))


class Conv2dBackward(Rule):
    """The gradients of a convolution with respect to its input, weight and bias, each when
    asked for: inputs ``(grad, x or None, weight or None, columns or None)``, outputs the asked
    ones in that order; ``attrs = (input_shape, weight_shape, geom, groups, need_input,
    need_weight, need_bias)``."""

    def describe(self, node: Node) -> str:
        _, _, geom, groups, need_input, need_weight, need_bias = node.attrs
        which = [name for name, need in (("input", need_input), ("weight", need_weight), ("bias", need_bias))
                 if need]
        return f"{'+'.join(which)}, geom={list(geom)}, groups={groups}"

    def emit(self, node: Node, src: "Source") -> None:
        grad, x, weight, columns = node.inputs
        input_shape, weight_shape, geom, groups, need_input, need_weight, need_bias = node.attrs
        outputs = iter(node.outputs)
        out_input = next(outputs) if need_input else None
        out_weight = next(outputs) if need_weight else None
        out_bias = next(outputs) if need_bias else None
        dtype_np = node.outputs[0].dtype
        dtype = numpy_type(dtype_np)
        n, out_channels, oh, ow = grad.shape
        kh, kw = geom[0], geom[1]
        length = oh * ow
        k_group = weight_shape[1] * kh * kw
        grad_name = _contiguous(src, grad)
        if grad.dtype != dtype_np:
            grad_name = f"np.ascontiguousarray({src.name(grad)}).astype({dtype})"
        grad3 = src.temp("grad3")
        src.line(f"{grad3} = {grad_name}.reshape(({n}, {out_channels}, {length}))")
        if need_bias:
            name = src.fresh(out_bias)
            src.line(f"{name} = np.empty({out_channels}, {dtype})")
            src.line(f"{_kernel(src, '_bias_grad')}({grad3}, {name})")
        if _size(grad.shape) == 0 or k_group == 0:
            if need_input:
                src.line(f"{src.fresh(out_input)} = np.zeros({tuple(input_shape)!r}, {dtype})")
            if need_weight:
                src.line(f"{src.fresh(out_weight)} = np.zeros({tuple(weight_shape)!r}, {dtype})")
            return
        group_out = out_channels // groups
        geom_name = src.temp("geom")
        src.line(f"{geom_name} = {_ints(geom)}")
        step = _chunk(n, groups * k_group * length)
        body = []
        rows = src.temp("rows")
        to_rows = _launched(src, "_output_to_rows", groups * group_out * step * length)
        body.append(f"{rows} = np.empty(({groups}, {group_out}, COUNT * {length}), {dtype})")
        body.append(f"{to_rows}({grad3}, {rows}.reshape(({out_channels}, COUNT * {length})), N0)")
        if need_weight:
            gw = src.fresh(out_weight)
            src.line(f"{gw} = np.empty({tuple(weight_shape)!r}, {dtype})")
            gw3 = src.temp("gw3")
            src.line(f"{gw3} = {gw}.reshape(({groups}, {group_out}, {k_group}))")
            if columns is not None and step >= n:
                cols = src.name(columns)
            else:
                x_name = src.temp("x")
                src.line(f"{x_name} = {_contiguous(src, x)}")
                cols = src.temp("cols")
                im2col = _launched(src, "_im2col", groups * k_group * step * length)
                body.append(f"{cols} = np.empty(({groups}, {k_group}, COUNT * {length}), {dtype})")
                body.append(f"{im2col}({x_name}, {cols}, N0, {geom_name})")
            body.append(f"{_kernel(src, '_gemm_weight_grad')}({rows}, {cols}, {gw3}, N0 > 0)")
        if need_input:
            gx = src.fresh(out_input)
            src.line(f"{gx} = np.empty({tuple(input_shape)!r}, {dtype})")
            w3 = src.temp("w3")
            src.line(f"{w3} = {_contiguous(src, weight)}.reshape(({groups}, {group_out}, {k_group}))")
            dcols = src.temp("dcols")
            col2im = _launched(src, "_col2im", groups * k_group * step * length)
            body.append(f"{dcols} = np.empty(({groups}, {k_group}, COUNT * {length}), {dtype})")
            body.append(f"{_kernel(src, '_gemm_input_grad')}({w3}, {rows}, {dcols})")
            body.append(f"{col2im}({dcols}, {gx}, N0, {geom_name})")
        _chunks(src, n, step, body)

    def cuda_launch(self, node: Node) -> Launch:
        grad, x, weight, columns = (_index(v) for v in node.inputs)
        input_shape, weight_shape, geom, groups, need_input, need_weight, need_bias = node.attrs
        outputs = [v.index for v in node.outputs]
        dtype = node.outputs[0].dtype
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            results = cc.conv2d_backward(
                cc.contiguous(env[grad], dtype), None if x is None else cc.contiguous(env[x]),
                None if weight is None else cc.contiguous(env[weight]), input_shape, weight_shape, geom, groups,
                need_input, need_weight, need_bias, None if columns is None else env[columns])
            for index, array in zip(outputs, [r for r in results if r is not None]):
                env[index] = array

        return launch


CONV2D = Conv2d("conv2d")
CONV2D_BACKWARD = Conv2dBackward("conv2d_backward")


# ============================================================================= pooling

class PoolRule(Rule):
    """A pooling kernel over (planes, H, W): subclasses say which and with what arguments."""

    def describe(self, node: Node) -> str:
        return "" if node.attrs is None else repr(node.attrs)


class MaxPool2d(PoolRule):
    """``(values, int64 indices) = max_pool2d(x)``: ``attrs = (geom, out_hw)``."""

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        values, indices = node.outputs
        geom, out_hw = node.attrs
        planes, height, width = _planes(x.shape)
        oh, ow = out_hw
        v = src.fresh(values)
        i = src.fresh(indices)
        src.line(f"{v} = np.empty({tuple(values.shape)!r}, {numpy_type(values.dtype)})")
        src.line(f"{i} = np.empty({tuple(indices.shape)!r}, np.int64)")
        if _size(values.shape) == 0:
            return
        kh, kw, sh, sw, ph, pw, dh, dw = geom
        fast_2x2 = (kh == 2 and kw == 2 and ph == 0 and pw == 0 and dh == 1 and dw == 1
                    and (oh - 1) * sh + 2 <= height and (ow - 1) * sw + 2 <= width)
        kernel = _launched(src, "_max_pool", planes * height * width)
        src.line(f"{kernel}({_contiguous(src, x)}.reshape(({planes}, {height}, {width})), "
                 f"{v}.reshape(({planes}, {oh}, {ow})), {i}.reshape(({planes}, {oh}, {ow})), {_ints(geom)}, "
                 f"np.bool_({fast_2x2}))")

    def cuda_launch(self, node: Node) -> Launch:
        (x,) = node.inputs
        values, indices = node.outputs
        geom, out_hw = node.attrs
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            found, where = cc.max_pool2d_forward(_device_planes(env[x.index], x.shape), out_hw, geom)
            env[values.index] = found.reshape(values.shape)
            env[indices.index] = where.reshape(indices.shape)

        return launch


class MaxPool2dScatter(PoolRule):
    """``grad`` added into zeros of the input's shape at the argmax ``indices``."""

    def emit(self, node: Node, src: "Source") -> None:
        grad, indices = node.inputs
        (out,) = node.outputs
        planes, height, width = _planes(out.shape)
        pooled = _size(grad.shape) // max(planes, 1)
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        if _size(out.shape) == 0:
            return
        kernel = _launched(src, "_scatter", _size(out.shape))
        src.line(f"{kernel}({_contiguous(src, grad)}.reshape(({planes}, {pooled})), "
                 f"{_contiguous(src, indices)}.reshape(({planes}, {pooled})), "
                 f"{result}.reshape(({planes}, {height * width})))")

    def cuda_launch(self, node: Node) -> Launch:
        grad, indices = node.inputs
        (out,) = node.outputs
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            env[out.index] = cc.max_pool2d_backward(_device_planes(env[grad.index], grad.shape),
                                                    _device_planes(env[indices.index], indices.shape),
                                                    _planes(out.shape)).reshape(out.shape)

        return launch


class MaxPool2dGather(PoolRule):
    """``source`` read at the argmax ``indices`` (the scatter's adjoint)."""

    def emit(self, node: Node, src: "Source") -> None:
        source, indices = node.inputs
        (out,) = node.outputs
        planes, height, width = _planes(source.shape)
        pooled = _size(out.shape) // max(planes, 1)
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        if _size(out.shape) == 0:
            return
        src.line(f"{_kernel(src, '_gather')}({_contiguous(src, source)}.reshape(({planes}, {height * width})), "
                 f"{_contiguous(src, indices)}.reshape(({planes}, {pooled})), "
                 f"{result}.reshape(({planes}, {pooled})))")

    def cuda_launch(self, node: Node) -> Launch:
        source, indices = node.inputs
        (out,) = node.outputs
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            env[out.index] = cc.max_pool2d_gather(_device_planes(env[source.index], source.shape),
                                                  _device_planes(env[indices.index], indices.shape)
                                                  ).reshape(out.shape)

        return launch


class AvgPool2d(PoolRule):
    """Average pooling (``attrs = geom``) forward, or its adjoint when ``backward``."""

    def __init__(self, name: str, backward: bool) -> None:
        super().__init__(name)
        self.backward = backward

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        geom = node.attrs
        planes, height, width = _planes(x.shape)
        _, oh, ow = _planes(out.shape)
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        if _size(out.shape) == 0:
            return
        name = "_avg_pool_backward" if self.backward else "_avg_pool"
        kernel = _launched(src, name, _size(out.shape) if self.backward else _size(x.shape))
        src.line(f"{kernel}({_contiguous(src, x)}.reshape(({planes}, {height}, {width})), "
                 f"{result}.reshape(({planes}, {oh}, {ow})), {_ints(geom)})")

    def cuda_launch(self, node: Node) -> Launch:
        (x,) = node.inputs
        (out,) = node.outputs
        geom = node.attrs
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            planes = _device_planes(env[x.index], x.shape)
            if self.backward:
                env[out.index] = cc.avg_pool2d_backward(planes, _planes(out.shape), geom).reshape(out.shape)
            else:
                env[out.index] = cc.avg_pool2d_forward(planes, tuple(out.shape[-2:]), geom).reshape(out.shape)

        return launch


class AdaptiveAvgPool2d(PoolRule):
    """Adaptive average pooling to the output's (H, W), or its adjoint when ``backward``."""

    def __init__(self, name: str, backward: bool) -> None:
        super().__init__(name)
        self.backward = backward

    def describe(self, node: Node) -> str:
        return f"{list(node.outputs[0].shape[-2:])}"

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        planes, height, width = _planes(x.shape)
        _, oh, ow = _planes(out.shape)
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        if _size(out.shape) == 0:
            return
        name = "_adaptive_avg_pool_backward" if self.backward else "_adaptive_avg_pool"
        kernel = _launched(src, name, _size(out.shape) if self.backward else _size(x.shape))
        src.line(f"{kernel}({_contiguous(src, x)}.reshape(({planes}, {height}, {width})), "
                 f"{result}.reshape(({planes}, {oh}, {ow})))")

    def cuda_launch(self, node: Node) -> Launch:
        (x,) = node.inputs
        (out,) = node.outputs
        cc = _cuda_conv()

        def launch(env: Env) -> None:
            planes = _device_planes(env[x.index], x.shape)
            if self.backward:
                env[out.index] = cc.adaptive_avg_pool2d_backward(planes, _planes(out.shape)).reshape(out.shape)
            else:
                env[out.index] = cc.adaptive_avg_pool2d_forward(planes, tuple(out.shape[-2:])).reshape(out.shape)

        return launch


class IndexPad(PoolRule):
    """Reflect / replicate / circular padding by index maps (``attrs = (rows, cols)``), or its
    adjoint (``backward``): the gradient added back at the copied positions."""

    def __init__(self, name: str, backward: bool) -> None:
        super().__init__(name)
        self.backward = backward

    def describe(self, node: Node) -> str:
        rows, cols = node.attrs
        return f"rows={rows.tolist()}, cols={cols.tolist()}"

    def emit(self, node: Node, src: "Source") -> None:
        (x,) = node.inputs
        (out,) = node.outputs
        rows, cols = node.attrs
        planes, height, width = _planes(x.shape)
        _, oh, ow = _planes(out.shape)
        result = src.fresh(out)
        src.line(f"{result} = np.empty({tuple(out.shape)!r}, {numpy_type(out.dtype)})")
        if _size(out.shape) == 0:
            return
        maps = []
        for index in (rows, cols):
            digest = hashlib.sha256(index.tobytes()).hexdigest()[:12]
            constant = src.global_(f"pad_index_{index.shape[0]}_{digest}",
                                   f"np.array({index.tolist()!r}, np.int64)")
            # A global array is a read-only constant to Numba; a copy keeps the kernel's
            # signature the one eager calls compiled.
            maps.append(f"{constant}.copy()")
        name = "_scatter_rows_cols" if self.backward else "_gather_rows_cols"
        src.line(f"{_kernel(src, name)}({_contiguous(src, x)}.reshape(({planes}, {height}, {width})), "
                 f"{maps[0]}, {maps[1]}, {result}.reshape(({planes}, {oh}, {ow})))")

    def cuda_launch(self, node: Node) -> Launch:
        (x,) = node.inputs
        (out,) = node.outputs
        cc = _cuda_conv()
        from ..backends import cuda_kernels as ck

        rows, cols = (ck.upload(index) for index in node.attrs)  # once, for every replay

        def launch(env: Env) -> None:
            planes = _device_planes(env[x.index], x.shape)
            if self.backward:
                env[out.index] = cc.scatter_rows_cols(planes, rows, cols, _planes(out.shape)).reshape(out.shape)
            else:
                env[out.index] = cc.gather_rows_cols(planes, rows, cols).reshape(out.shape)

        return launch


MAX_POOL2D = MaxPool2d("max_pool2d")
MAX_POOL2D_SCATTER = MaxPool2dScatter("max_pool2d_scatter")
MAX_POOL2D_GATHER = MaxPool2dGather("max_pool2d_gather")
AVG_POOL2D = AvgPool2d("avg_pool2d", backward=False)
AVG_POOL2D_BACKWARD = AvgPool2d("avg_pool2d_backward", backward=True)
ADAPTIVE_AVG_POOL2D = AdaptiveAvgPool2d("adaptive_avg_pool2d", backward=False)
ADAPTIVE_AVG_POOL2D_BACKWARD = AdaptiveAvgPool2d("adaptive_avg_pool2d_backward", backward=True)
INDEX_PAD = IndexPad("index_pad2d", backward=False)
INDEX_UNPAD = IndexPad("index_pad2d_backward", backward=True)

CUDA_RULES: frozenset[Rule] = frozenset({
    CONV2D, CONV2D_BACKWARD, MAX_POOL2D, MAX_POOL2D_SCATTER, MAX_POOL2D_GATHER, AVG_POOL2D, AVG_POOL2D_BACKWARD,
    ADAPTIVE_AVG_POOL2D, ADAPTIVE_AVG_POOL2D_BACKWARD, INDEX_PAD, INDEX_UNPAD})
"""The rules above, all of which a CUDA step replays through their ``cuda_launch``."""


# ============================================================================= reporting (ops/conv.py)
# Called only while a step is recorded (``trace.ACTIVE is not None``).

def _tracer() -> Any:
    from . import trace

    return trace.ACTIVE


def emit_conv2d(x: "Tensor", weight: "Tensor", bias: "Tensor | None", out: np.ndarray,
                columns: np.ndarray | None, geom: Sequence[int], groups: int) -> None:
    """Report ``out = conv2d(x, weight, bias)``; ``columns`` is the forward's kept column buffer."""
    geom = tuple(int(g) for g in geom)
    keep = columns is not None
    outputs = (out, columns) if keep else out
    _tracer().emit(CONV2D, (x, weight, bias), outputs, (geom, int(groups), keep))


def emit_conv2d_backward(grad: "Tensor", x: "Tensor | None", weight: "Tensor | None",
                         columns: np.ndarray | None, results: Sequence[np.ndarray | None],
                         input_shape: Sequence[int], weight_shape: Sequence[int], geom: Sequence[int],
                         groups: int) -> None:
    """Report the gradients ``results = (input, weight, bias)`` (None where not asked for) of a
    convolution; ``x`` is needed for the weight gradient unless ``columns`` holds its columns,
    ``weight`` for the input gradient."""
    need_input, need_weight, need_bias = (r is not None for r in results)
    if not (need_input or need_weight or need_bias):
        return
    geom = tuple(int(g) for g in geom)
    tracer = _tracer()
    if columns is not None and id(columns) not in tracer.known:
        columns = None
    uses_columns = need_weight and columns is not None
    inputs = (grad, x if need_weight and not uses_columns else None, weight if need_input else None,
              columns if uses_columns else None)
    attrs = (tuple(int(s) for s in input_shape), tuple(int(s) for s in weight_shape), geom, int(groups),
             need_input, need_weight, need_bias)
    tracer.emit(CONV2D_BACKWARD, inputs, tuple(r for r in results if r is not None), attrs)


def emit_max_pool2d(x: "Tensor", values: np.ndarray, indices: np.ndarray, geom: Sequence[int],
                    out_hw: Sequence[int]) -> None:
    _tracer().emit(MAX_POOL2D, (x,), (values, indices), (tuple(int(g) for g in geom), tuple(int(s) for s in out_hw)))


def emit_pool(rule: Rule, inputs: tuple[Any, ...], out: np.ndarray, attrs: Any = None) -> None:
    """Report a pooling op (forward or backward) ``out = rule(inputs)``."""
    if isinstance(attrs, tuple) and all(isinstance(a, (int, np.integer)) for a in attrs):
        attrs = tuple(int(a) for a in attrs)
    _tracer().emit(rule, inputs, out, attrs)
