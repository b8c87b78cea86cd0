"""``F.pad``: constant padding of any trailing dims, and padding by copying input elements
(``'reflect'``, ``'replicate'``, ``'circular'``) of the last one or two dims.

Constant padding is built from ``narrow`` (negative pads crop), filled blocks and ``cat``, so
it runs on either device and compiled steps record it; its step is PyTorch's
``ConstantPadNdBackward0``, whose VJP is the same padding with the pads negated. The other
modes gather by index maps (``ops.conv.pad_by_mode``).
"""
from __future__ import annotations

from typing import Any, Sequence

from ..autograd import grad_mode
from ..autograd.tape import Step
from ..tensor import Tensor
from .composite import _without_grad
from .conv import pad_by_mode
from .registry import OpDef, record

__all__: list[str] = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _constant_pad_vjp(step: Step, g: Tensor) -> tuple[Tensor]:
    (pads,) = step.attrs
    return (constant_pad(g, tuple(-p for p in pads), 0),)


CONSTANT_PAD = OpDef("constant_pad_nd", "ConstantPadNdBackward0", _constant_pad_vjp)


def _filled_like(input: Tensor, dim: int, size: int, value: Any) -> Tensor:
    from ..creation import full

    shape = list(input.shape)
    shape[dim] = size
    return full(shape, value, dtype=input.dtype, device=input.device)


def _pad_values(input: Tensor, pads: tuple[int, ...], value: Any) -> Tensor:
    from .movement import cat

    out = input
    for k in range(len(pads) // 2):
        dim = input.dim() - 1 - k
        before, after = pads[2 * k], pads[2 * k + 1]
        size = out.shape[dim]
        if size + before + after < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if before < 0 or after < 0:
            start = max(-before, 0)
            out = out.narrow(dim, start, size - start + min(after, 0))
        parts = [out]
        if before > 0:
            parts.insert(0, _filled_like(out, dim, before, value))
        if after > 0:
            parts.append(_filled_like(out, dim, after, value))
        if len(parts) > 1:
            out = cat(parts, dim)
    return out.clone() if out is input else out.contiguous()


def constant_pad(input: Tensor, pads: Sequence[int], value: Any = 0) -> Tensor:
    """``input`` with ``pads[2k]`` elements of ``value`` before and ``pads[2k + 1]`` after dim
    ``-1 - k`` (negative counts remove elements)."""
    pads = tuple(int(p) for p in pads)
    out = _without_grad(_pad_values, input, pads, value)
    if grad_mode.state.enabled and input._requires_grad:
        return record(CONSTANT_PAD, (input,), out, (pads,))
    return out


def _unsupported_combination(pads: int, ndim: int) -> NotImplementedError:
    return NotImplementedError(
        f"Padding size {pads} is not supported for {ndim}D input tensor.\n"
        "Supported combinations for non-constant padding:\n"
        "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
        "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
        "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad trailing dims: ``pad = (left, right, top, bottom, ...)`` counts from the last dim.

    >>> F.pad(tapegrad.tensor([[1., 2.]]), (1, 2), value=9.)
    tensor([[9., 1., 2., 9., 9.]])
    >>> F.pad(tapegrad.tensor([[1., 2., 3.]]), (2, 1), mode="reflect")
    tensor([[3., 2., 1., 2., 3., 2.]])
    """
    pads = tuple(int(p) for p in pad)
    if len(pads) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pads) // 2 > input.dim():
        raise RuntimeError("Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pads)} and input of dimension {input.dim()}")
    if mode == "constant":
        return constant_pad(input, pads, 0 if value is None else value)
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    dims = len(pads) // 2
    if not 1 <= dims <= 3 or input.dim() not in (dims + 1, dims + 2):
        raise _unsupported_combination(len(pads), input.dim())
    return pad_by_mode(input, pads, mode)
