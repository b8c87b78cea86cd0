"""``tapegrad.linalg``: the parts of ``torch.linalg`` tapegrad has so far, ``cross``,
``vector_norm`` and ``vecdot`` (decompositions and solvers are not implemented)."""
from __future__ import annotations

from typing import Any

from .ops.composite import norm
from .ops.distance import linalg_cross as cross
from .ops import elementwise as ew
from .tensor import Tensor

__all__: list[str] = ["cross", "vecdot", "vector_norm"]


def vector_norm(x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The ``ord``-norm of ``x`` over ``dim`` (all elements by default) as a vector.

    >>> tapegrad.linalg.vector_norm(tapegrad.tensor([3., 4.]))
    tensor(5.)
    """
    if dtype is not None:
        x = x.to(dtype)
    return norm(x, ord, dim, keepdim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of ``x`` and ``y`` along ``dim``, broadcasting the other dims."""
    return ew.mul(x, y).sum(dim)
