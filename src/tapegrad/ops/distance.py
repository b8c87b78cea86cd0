"""``cdist`` (pairwise ``p``-norm distances between two sets of row vectors) and ``cross`` /
``linalg.cross`` (the 3-vector cross product), as recorded ops: either device, compiled
steps, gradients of any order (zero at a zero distance, as PyTorch's)."""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor, _wrap_dim
from . import elementwise as ew
from .composite import norm
from ..user_warnings import warn_user

__all__: list[str] = ["cdist", "cross"]


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: Any = None) -> Tensor:
    """Distances between each row of ``x1`` ``(..., P, M)`` and each row of ``x2`` ``(..., R, M)``:
    ``(..., P, R)``. (PyTorch may compute large Euclidean cases through a matrix product; the
    direct differences here agree with it to rounding.)

    >>> tapegrad.cdist(tapegrad.tensor([[0., 0.]]), tapegrad.tensor([[3., 4.], [0., 1.]]))
    tensor([[5., 1.]])
    """
    for name, t in (("X1", x1), ("X2", x2)):
        if t.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {t.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1.is_floating_point() or not x2.is_floating_point():
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype.scalar_name}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    return norm(ew.sub(x1.unsqueeze(-2), x2.unsqueeze(-3)), p, -1)


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (by default, with PyTorch's warning, the
    first dim of size 3), broadcasting the other dims.

    >>> tapegrad.cross(tapegrad.tensor([1., 0., 0.]), tapegrad.tensor([0., 1., 0.]), dim=0)
    tensor([0., 0., 1.])
    """
    if dim is None:
        warn_user("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                  "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                  "with that of linalg.cross in a future release.", UserWarning)
        sizes = [d for d in range(min(input.ndim, other.ndim)) if input.shape[d] == 3 and other.shape[d] == 3]
        if not sizes:
            raise RuntimeError("no dimension of size 3 in input")
        dim = sizes[0]
    return _cross(input, other, dim, "linalg.cross")


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """``cross`` along ``dim`` (default -1), ``torch.linalg.cross``."""
    return _cross(input, other, dim, "linalg.cross")


def _cross(input: Tensor, other: Tensor, dim: int, name: str) -> Tensor:
    if input.ndim != other.ndim:
        raise RuntimeError(f"{name}: inputs must have the same number of dimensions.")
    axis = _wrap_dim(dim, max(input.ndim, 1))
    if input.shape[axis] != 3 or other.shape[axis] != 3:
        raise RuntimeError(f"{name}: inputs dimension {dim} must have length 3. Got {input.shape[axis]} and "
                           f"{other.shape[axis]}")
    # c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}: the components rotated by one and by two.
    a1, a2 = input.roll(-1, axis), input.roll(-2, axis)
    b1, b2 = other.roll(-1, axis), other.roll(-2, axis)
    return ew.sub(ew.mul(a1, b2), ew.mul(a2, b1))
