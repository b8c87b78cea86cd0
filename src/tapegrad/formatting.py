"""Text rendering of tensors.

This module turns the values of a tensor (given as a NumPy array) into the
same text that PyTorch produces for ``repr(tensor)`` / ``str(tensor)`` on CPU
tensors.  It only depends on NumPy and the standard library so it can be used
by any tensor implementation.

Layout rules in brief:

* Floating point values share one formatter per tensor.  When every finite,
  non-zero value is integral the tensor is shown in "integer mode" (``4.``).
  Scientific notation is used when the ratio between the largest and the
  smallest non-zero magnitude exceeds 1000, when the largest exceeds ``1e8``
  or the smallest is below ``1e-4`` (unless overridden with ``sci_mode``).
* Every element is right aligned to the widest element.
* Rows wrap at ``linewidth`` characters, continuation lines being indented
  beneath the opening bracket.
* Tensors with more than ``threshold`` elements are summarised, showing only
  ``edgeitems`` entries at each end of every dimension.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import numpy as np

__all__ = [
    "tensor_repr",
    "set_printoptions",
    "get_printoptions",
    "printoptions",
]


class _PrintOptions:
    __slots__ = ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")

    def __init__(self) -> None:
        self.precision: int = 4
        self.threshold: float = 1000
        self.edgeitems: int = 3
        self.linewidth: int = 80
        self.sci_mode: bool | None = None


_OPTS = _PrintOptions()


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set options for printing tensors.

    Args:
        precision: number of digits after the decimal point (default 4).
        threshold: number of elements above which the output is summarised
            (default 1000).
        edgeitems: number of items shown at each end of a summarised
            dimension (default 3).
        linewidth: characters per line used for wrapping (default 80).
        profile: ``"default"``, ``"short"`` or ``"full"``; applied first, the
            other arguments override it.
        sci_mode: ``True``/``False`` to force or forbid scientific notation;
            ``None`` (the default, and the value used whenever the argument
            is omitted) chooses automatically.
    """
    if profile is not None:
        if profile == "default":
            _OPTS.precision = 4
            _OPTS.threshold = 1000
            _OPTS.edgeitems = 3
            _OPTS.linewidth = 80
        elif profile == "short":
            _OPTS.precision = 2
            _OPTS.threshold = 1000
            _OPTS.edgeitems = 2
            _OPTS.linewidth = 80
        elif profile == "full":
            _OPTS.precision = 4
            _OPTS.threshold = math.inf
            _OPTS.edgeitems = 3
            _OPTS.linewidth = 80
    if precision is not None:
        _OPTS.precision = precision
    if threshold is not None:
        _OPTS.threshold = threshold
    if edgeitems is not None:
        _OPTS.edgeitems = edgeitems
    if linewidth is not None:
        _OPTS.linewidth = linewidth
    _OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return the current print options as a dict accepted by
    :func:`set_printoptions`."""
    return {
        "precision": _OPTS.precision,
        "threshold": _OPTS.threshold,
        "edgeitems": _OPTS.edgeitems,
        "linewidth": _OPTS.linewidth,
        "sci_mode": _OPTS.sci_mode,
    }


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Context manager that temporarily changes the print options."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


# ---------------------------------------------------------------------------
# dtype handling
# ---------------------------------------------------------------------------

_NUMPY_DTYPES = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "bool": np.bool_,
}

_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "int": "int32",
    "long": "int64",
    "short": "int16",
}


def _canonical(name: str) -> str:
    name = str(name)
    for prefix in ("tapegrad.", "torch.", "np.", "numpy."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return _ALIASES.get(name, name)


# ---------------------------------------------------------------------------
# element formatting
# ---------------------------------------------------------------------------


class _Formatter:
    """Chooses one layout (width, int/sci mode) for all shown elements."""

    def __init__(self, values: np.ndarray, floating: bool) -> None:
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        precision = _OPTS.precision

        flat = values.reshape(-1)
        if not floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return

        as_double = flat.astype(np.float64)
        nonzero_finite = as_double[np.isfinite(as_double) & (as_double != 0)]
        if nonzero_finite.size == 0:
            return

        magnitudes = np.abs(nonzero_finite)
        lo = float(magnitudes.min())
        hi = float(magnitudes.max())

        self.int_mode = bool(np.all(np.ceil(nonzero_finite) == nonzero_finite))

        if _OPTS.sci_mode is None:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        else:
            self.sci_mode = bool(_OPTS.sci_mode)

        items = nonzero_finite.tolist()
        if self.sci_mode:
            spec = f".{precision}e"
            width = max(len(format(v, spec)) for v in items)
        elif self.int_mode:
            width = max(len(format(v, ".0f")) for v in items) + 1
        else:
            spec = f".{precision}f"
            width = max(len(format(v, spec)) for v in items)
        self.max_width = max(self.max_width, width)

    def width(self) -> int:
        return self.max_width

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                text = format(value, f"{self.max_width}.{_OPTS.precision}e")
            elif self.int_mode:
                text = format(value, ".0f")
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = format(value, f".{_OPTS.precision}f")
        else:
            text = f"{value}"
        return " " * (self.max_width - len(text)) + text


# ---------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------


def _summarized_values(values: np.ndarray) -> np.ndarray:
    """The elements that remain visible once a tensor is summarised."""
    edge = _OPTS.edgeitems
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        if edge and values.shape[0] > 2 * edge:
            return np.concatenate((values[:edge], values[-edge:]))
        # With no edge items a vector keeps all of its elements here.
        return values
    if not edge:
        return values[tuple(slice(0, 0) for _ in range(values.ndim))]
    index = []
    for n in values.shape:
        if n > 2 * edge:
            index.append(np.r_[0:edge, n - edge:n])
        else:
            index.append(np.arange(n))
    return values[np.ix_(*index)]


def _vector_str(values: np.ndarray, indent: int, summarize: bool,
                fmt: _Formatter) -> str:
    element_length = fmt.width() + 2
    per_line = max(1, math.floor((_OPTS.linewidth - indent) / element_length))
    edge = _OPTS.edgeitems
    n = values.shape[0]

    if summarize and not edge:
        data = ["..."]
    elif summarize and n > 2 * edge:
        data = (
            [fmt.format(v) for v in values[:edge].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in values[n - edge:].tolist()]
        )
    else:
        data = [fmt.format(v) for v in values.tolist()]

    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _format_nd(values: np.ndarray, indent: int, summarize: bool,
               fmt: _Formatter) -> str:
    ndim = values.ndim
    if ndim == 0:
        return fmt.format(values.item())
    if ndim == 1:
        return _vector_str(values, indent, summarize, fmt)

    n = values.shape[0]
    edge = _OPTS.edgeitems
    if summarize and n > 2 * edge:
        slices = (
            [_format_nd(values[i], indent + 1, summarize, fmt) for i in range(edge)]
            + ["..."]
            + [_format_nd(values[i], indent + 1, summarize, fmt)
               for i in range(n - edge, n)]
        )
    else:
        slices = [_format_nd(values[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _body_str(values: np.ndarray, indent: int, floating: bool) -> str:
    if values.size == 0:
        return "[]"
    summarize = values.size > _OPTS.threshold
    fmt = _Formatter(_summarized_values(values) if summarize else values, floating)
    return _format_nd(values, indent, summarize, fmt)


def _add_suffixes(text: str, suffixes: list[tuple[str, int]], indent: int) -> str:
    """Append ``suffixes`` (pairs of text and the length used for wrapping)."""
    parts = [text]
    # Mirrors the reference measurement of the last line (including its
    # off-by-two when the text holds a single line).
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix, suffix_len in suffixes:
        if last_line_len + suffix_len + 2 > _OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + suffix_len
        else:
            parts.append(", " + suffix)
            last_line_len += suffix_len + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(
    values: np.ndarray,
    *,
    dtype_name: str,
    default_float_dtype_name: str = "float32",
    requires_grad: bool = False,
    grad_fn_name: str | None = None,
    device: str = "cpu",
) -> str:
    """Render a tensor exactly as PyTorch's ``repr`` does.

    Args:
        values: the tensor's data, any shape (including 0-d and empty).
        dtype_name: the tensor's dtype, e.g. ``"float32"`` or ``"int64"``.
        default_float_dtype_name: the current default floating dtype; a
            floating tensor of any other dtype gets a ``dtype=`` suffix.
        requires_grad: whether the tensor requires gradients (shown only
            when there is no ``grad_fn_name``).
        grad_fn_name: name of the node that created the tensor, e.g.
            ``"MulBackward0"``.
        device: the tensor's device; anything but ``"cpu"`` is shown.
    """
    dtype_name = _canonical(dtype_name)
    default_float = _canonical(default_float_dtype_name)

    arr = np.asarray(values)
    target = _NUMPY_DTYPES.get(dtype_name)
    if target is not None and arr.dtype != target:
        arr = arr.astype(target)
    if dtype_name in _NUMPY_DTYPES:
        floating = dtype_name.startswith("float")
    else:
        floating = "float" in dtype_name or arr.dtype.kind == "f"
        if floating and arr.dtype.kind != "f":
            arr = arr.astype(np.float64)

    prefix = "tensor("
    indent = len(prefix)
    suffixes: list[tuple[str, int]] = []

    def add(suffix: str, measured_len: int | None = None) -> None:
        suffixes.append((suffix, len(suffix) if measured_len is None else measured_len))

    device = str(device)
    if device != "cpu":
        add(f"device='{device}'")

    dtype_suffix = f"dtype=tapegrad.{dtype_name}"
    # Line wrapping is decided as for the reference spelling
    # ``dtype=torch.<name>`` so both layouts agree line for line.
    dtype_suffix_len = len(f"dtype=torch.{dtype_name}")
    if arr.size == 0:
        if arr.ndim != 1:
            add("size=" + str(tuple(int(s) for s in arr.shape)))
        if dtype_name != default_float:
            add(dtype_suffix, dtype_suffix_len)
        body = "[]"
    else:
        if not _OPTS.edgeitems:
            add("size=" + str(tuple(int(s) for s in arr.shape)))
        if dtype_name not in (default_float, "int64", "bool"):
            add(dtype_suffix, dtype_suffix_len)
        body = _body_str(arr, indent, floating)

    if grad_fn_name is not None:
        add(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        add("requires_grad=True")

    return _add_suffixes(prefix + body, suffixes, indent)
