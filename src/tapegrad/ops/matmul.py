"""Matrix products: ``matmul``/``@`` (with batch broadcasting), ``mm``, ``bmm``, ``dot``, ``mv``.

The backend multiplies 2-D or stacked 3-D operands with BLAS inside an njit kernel; this
module maps PyTorch's shape rules onto that and records one step per product.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes as _dtypes
from ..autograd import grad_mode
from ..autograd.tape import Step
from ..backends import cpu
from ..compiler import trace
from ..compiler import rules
from ..tensor import Tensor, _wrap
from .registry import OpDef, record

# PyTorch's message for operands on different devices (one device of each kind here).
_SAME_DEVICE = ("Expected all tensors to be on the same device, but found at least two devices, "
                "cuda:0 and cpu!")


_NDARRAY = np.ndarray


def _multiply(a: np.ndarray, b: np.ndarray) -> Any:
    """``a @ b`` on the operands' device (2-D, or stacked 3-D)."""
    a_host, b_host = isinstance(a, np.ndarray), isinstance(b, np.ndarray)
    if a_host and b_host:
        return cpu.matmul(a, b)
    if a_host or b_host:
        raise RuntimeError(_SAME_DEVICE)
    from ..cuda import _kernels

    return _kernels.matmul(a, b)


def _same_dtype(name: str, a: Tensor, b: Tensor) -> None:
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_dtypes.from_numpy_dtype(a._data.dtype)} != {_dtypes.from_numpy_dtype(b._data.dtype)}")


def _mm_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, b = step.saved_values()
    return (g.matmul(b.transpose(-1, -2)) if step.needs_input_grad(0) else None,
            (_mat2_gradient(a, b, g) if b.ndim == 2 else a.transpose(-1, -2).matmul(g))
            if step.needs_input_grad(1) else None)


MM = OpDef("mm", "MmBackward0", _mm_vjp)
BMM = OpDef("bmm", "BmmBackward0", _mm_vjp)


def _dot_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, b = step.saved_values()
    return (g * b if step.needs_input_grad(0) else None, g * a if step.needs_input_grad(1) else None)


DOT = OpDef("dot", "DotBackward0", _dot_vjp)


def _mv_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, v = step.saved_values()
    return (g.unsqueeze(1) * v.unsqueeze(0) if step.needs_input_grad(0) else None,
            a.t().mv(g) if step.needs_input_grad(1) else None)


MV = OpDef("mv", "MvBackward0", _mv_vjp)
# PyTorch's matmul reshapes its result through these; the names are what users see.
SQUEEZE_ROW = OpDef("matmul_squeeze", "SqueezeBackward4", lambda step, g: (g.reshape(step.input_meta[0][0]),))
UNSAFE_VIEW = OpDef("matmul_view", "UnsafeViewBackward0", lambda step, g: (g.reshape(step.input_meta[0][0]),))


def _check_traceable(data: Any) -> None:
    if data.dtype.kind != "f":
        raise trace.TraceError(f"tapegrad.compile: integer matrix products ({data.dtype}) are not supported")


def _traced_multiply(a: Tensor | Any, b: Tensor | Any) -> Any:
    """``_multiply`` of two tensors or arrays viewing tensors (2-D, or stacked 3-D), reported to
    the tracer as one product."""
    a_data = a._data if isinstance(a, Tensor) else a
    data = _multiply(a_data, b._data if isinstance(b, Tensor) else b)
    if trace.ACTIVE is not None:
        _check_traceable(a_data)
        trace.ACTIVE.emit(rules.MATMUL, (a, b), data)
    return data


def _reshaped(x: Tensor, shape: tuple[int, ...], op: OpDef) -> Tensor:
    out = _wrap(x._data.reshape(shape))
    if grad_mode.state.enabled and x._requires_grad:
        return record(op, (x,), out)
    return out


def _check_dims(name: str, a: Tensor, b: Tensor, ndim: int) -> None:
    if a.ndim != ndim:
        raise RuntimeError(f"{name}: Expected {ndim}-D tensor for argument #1 'self', but got {a.ndim}-D")
    if b.ndim != ndim:
        raise RuntimeError(f"{name}: Expected {ndim}-D tensor for argument #2 'mat2', but got {b.ndim}-D")


def _product(op: OpDef, a: Tensor, b: Tensor, data: np.ndarray) -> Tensor:
    out = _wrap(data)
    if grad_mode.state.enabled and (a._requires_grad or b._requires_grad):
        return record(op, (a, b), out, saved=(a, b))
    return out


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    _check_dims("mm", input, mat2, 2)
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x{input.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")
    _same_dtype("mm", input, mat2)
    return _product(MM, input, mat2, _traced_multiply(input, mat2))


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    _check_dims("bmm", input, mat2, 3)
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    _same_dtype("bmm", input, mat2)
    return _product(BMM, input, mat2, _traced_multiply(input, mat2))


def dot(input: Tensor, other: Tensor) -> Tensor:
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements, but got "
                           f"{input.shape[0]} and {other.shape[0]} elements respectively")
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found "
                           f"{input.dtype.scalar_name} and {other.dtype.scalar_name}")
    data = _traced_multiply(input._data.reshape(1, -1), other._data.reshape(-1, 1)).reshape(())
    return _product(DOT, input, other, data)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """PyTorch's ``matmul``: dot, matrix-vector, matrix-matrix, or batched with broadcasting."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("matmul(): argument 'input' and 'other' must be Tensor")
    a_dim, b_dim = input.ndim, other.ndim
    if a_dim == 0 or b_dim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a_dim}D and {b_dim}D")
    if a_dim == 1 and b_dim == 1:
        return dot(input, other)
    if a_dim == 2 and b_dim == 2:
        return mm(input, other)
    if a_dim == 1 and b_dim == 2:
        product = mm(input.unsqueeze(0), other)
        return _reshaped(product, tuple(product.shape[1:]), SQUEEZE_ROW)
    if a_dim == 2 and b_dim == 1:
        return mv(input, other)
    if a_dim == 2:
        # (m, k) @ (..., k, n) as ((..., n, k) @ (k, m)) transposed, as PyTorch does.
        return matmul(other.transpose(-1, -2), input.t()).transpose(-1, -2).contiguous()
    # Batched: promote vectors, broadcast batch dims, run as (batch, m, k) @ (batch, k, n).
    a = input.unsqueeze(0) if a_dim == 1 else input
    b = other.unsqueeze(-1) if b_dim == 1 else other
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[-1]}, ...] but got: [{b.shape[-2]}, ...]. (matmul of shapes "
                           f"{list(input.shape)} and {list(other.shape)})")
    _same_dtype("matmul", a, b)
    batch = tuple(np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    count = int(np.prod(batch, dtype=np.int64))  # not -1: ambiguous when a matrix dim is 0
    a3 = a.expand(batch + tuple(a.shape[-2:])).reshape((count,) + tuple(a.shape[-2:]))
    b3 = b.expand(batch + tuple(b.shape[-2:])).reshape((count,) + tuple(b.shape[-2:]))
    shape = batch + ((a.shape[-2],) if a_dim > 1 else ()) + ((b.shape[-1],) if b_dim > 1 else ())
    return _reshaped(bmm(a3, b3), shape, UNSAFE_VIEW)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({input.shape[0]}), mat ({input.shape[0]}x{input.shape[1]}), "
                           f"vec ({vec.shape[0]})")
    _same_dtype("mv", input, vec)
    return _product(MV, input, vec, _traced_multiply(input, vec._data.reshape(-1, 1)).reshape(-1))


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors."""
    for name, v in (("self", input), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def _addmm_vjp(step: Step, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    mat1, mat2 = step.saved_values()
    beta, alpha = step.attrs
    grad_input = None
    if step.needs_input_grad(0):
        from .reduce import sum_to

        grad_input = sum_to(g * beta if beta != 1 else g, step.input_meta[0][0])
    scaled = g * alpha if alpha != 1 else g
    return (grad_input,
            scaled.mm(mat2.t()) if step.needs_input_grad(1) else None,
            _mat2_gradient(mat1, mat2, scaled) if step.needs_input_grad(2) else None)


def _mat2_gradient(mat1: Tensor, mat2: Tensor, g: Tensor) -> Tensor:
    """``mat1.t() @ g``, the gradient of ``mat1 @ mat2`` with respect to ``mat2``, in mat2's
    layout. A column-major mat2 (``nn.Linear``'s ``weight.t()``) gets ``(g.t() @ mat1).t()``, as in
    PyTorch: the weight's gradient is then a contiguous array, which backward hands to
    ``weight.grad`` without a copy."""
    data = mat2._data
    if type(data) is np.ndarray and data.flags.f_contiguous and not data.flags.c_contiguous:
        return g.t().mm(mat1).t()
    return mat1.t().mm(g)


ADDMM = OpDef("addmm", "AddmmBackward0", _addmm_vjp)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` as one step (``nn.Linear`` runs through it)."""
    a, b, bias = mat1._data, mat2._data, input._data
    dtype = a.dtype
    if (type(a) is _NDARRAY and type(b) is _NDARRAY and type(bias) is _NDARRAY and a.ndim == 2 and b.ndim == 2
            and bias.ndim == 1 and dtype.kind == "f" and b.dtype == dtype and bias.dtype == dtype
            and 0 < a.shape[1] == b.shape[0] and bias.shape[0] == b.shape[1] and beta == 1 and alpha == 1
            and trace.ACTIVE is None):
        # A linear layer's forward on the CPU: the product and the bias in one kernel.
        out = _wrap(cpu.addmm_row(bias, a, b))
        if grad_mode.state.enabled and (input._requires_grad or mat1._requires_grad or mat2._requires_grad):
            return record(ADDMM, (input, mat1, mat2), out, (beta, alpha), saved=(mat1, mat2))
        return out
    _check_dims("addmm", mat1, mat2, 2)
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")
    _same_dtype("addmm", mat1, mat2)
    if isinstance(mat1._data, np.ndarray) and isinstance(input._data, np.ndarray):
        product = _multiply(mat1._data, mat2._data)
        if alpha != 1:
            product *= alpha
        bias = input._data if beta == 1 else input._data * beta
        try:
            product += bias
        except ValueError:
            raise RuntimeError(f"The expanded size of the tensor ({product.shape[-1]}) must match the existing "
                               f"size ({input.shape[-1] if input.ndim else 1}) of the bias {list(input.shape)}") from None
    else:
        product = _addmm_cuda(input, mat1, mat2, beta, alpha)
    out = _wrap(product)
    if trace.ACTIVE is not None:
        _check_traceable(mat1._data)
        trace.ACTIVE.emit(rules.ADDMM, (input, mat1, mat2), product, (beta, alpha))
    if grad_mode.state.enabled and (input._requires_grad or mat1._requires_grad or mat2._requires_grad):
        return record(ADDMM, (input, mat1, mat2), out, (beta, alpha), saved=(mat1, mat2))
    return out


def _addmm_cuda(input: Tensor, mat1: Tensor, mat2: Tensor, beta: Any, alpha: Any) -> Any:
    """The product array of ``addmm`` for operands on CUDA (one kernel with the bias)."""
    if any(isinstance(x._data, np.ndarray) for x in (input, mat1, mat2)):
        raise RuntimeError(_SAME_DEVICE)
    rows, cols = mat1.shape[0], mat2.shape[1]
    bias_shape = tuple(input.shape)
    if len(bias_shape) > 2 or any(s not in (1, t) for s, t in zip(bias_shape[::-1], (cols, rows))):
        raise RuntimeError(f"The expanded size of the tensor ({cols}) must match the existing size "
                           f"({input.shape[-1] if input.ndim else 1}) of the bias {list(input.shape)}")
    from ..cuda import _kernels

    return _kernels.addmm(input._data, mat1._data, mat2._data, beta, alpha)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``; 2-D inputs take the single-step ``addmm`` path."""
    if input._data.ndim == 2 and bias is not None:
        return addmm(bias, input, weight.t())
    if input.ndim == 2:
        return mm(input, weight.t())
    if input.ndim > 2 and bias is not None:
        lead = tuple(input.shape[:-1])
        flat = addmm(bias, input.reshape(-1, input.shape[-1]), weight.t())
        return flat.view(lead + (weight.shape[0],))
    out = matmul(input, weight.t())
    return out + bias if bias is not None else out


# ---------------------------------------------------------------- products built on the above
# PyTorch's other matrix products, composed of bmm / mv / outer / mm and elementwise scaling
# (``beta=0`` ignores ``input``, NaNs included, as PyTorch does).

def _scaled_sum(input: Tensor, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    from . import elementwise as ew

    scaled = product if alpha == 1 else ew.mul(product, alpha)
    if beta == 0:
        # input * 0, with the NaNs that infinities and NaNs give replaced by 0: the shape and a
        # zero gradient without the values.
        zeroed = ew.mul(input, 0)
        return ew.add(zeroed.masked_fill(ew.ne(zeroed, 0), 0), scaled)
    return ew.add(input if beta == 1 else ew.mul(input, beta), scaled)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (batch1 @ batch2)`` for batches of matrices."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``."""
    return _scaled_sum(input, bmm(batch1, batch2).sum(0), beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``."""
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {vec1.ndim}-D" if vec1.ndim != 1 else
                           f"addr: Expected 1-D argument vec2, but got {vec2.ndim}-D")
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Contract ``a``'s and ``b``'s ``dims`` (a count of ``a``'s last and ``b``'s first dims, or
    two lists of dims) as one matrix product.

    >>> tapegrad.tensordot(tapegrad.ones(2, 3), tapegrad.ones(3, 4), 1).shape
    tapegrad.Size([2, 4])
    """
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        dims_a, dims_b = list(range(-dims, 0)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[da]} in dim {da} "
                               f"and second has size {b.shape[db]} in dim {db}")
    dims_a = [d % a.ndim for d in dims_a] if a.ndim else dims_a
    dims_b = [d % b.ndim for d in dims_b] if b.ndim else dims_b
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    size = math.prod(a.shape[d] for d in dims_a)
    left = a.permute(free_a + dims_a).reshape(-1, size)
    right = b.permute(dims_b + free_b).reshape(size, -1)
    return mm(left, right).reshape([a.shape[d] for d in free_a] + [b.shape[d] for d in free_b])


def inner(input: Tensor, other: Tensor) -> Tensor:
    """The sum of products over the last dims (a product when either is 0-d)."""
    if input.ndim == 0 or other.ndim == 0:
        from . import elementwise as ew

        return ew.mul(input, other)
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """``dot`` of two 1-d tensors (real tensors have nothing to conjugate)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return dot(input, other)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: block ``i`` of the result is ``input[i] * other``.

    >>> tapegrad.kron(tapegrad.tensor([1, 2]), tapegrad.tensor([1, 10]))
    tensor([ 1, 10,  2, 20])
    """
    from . import elementwise as ew

    ndim = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (ndim - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (ndim - other.ndim) + tuple(other.shape))
    spread_a = a.reshape(tuple(s for size in a.shape for s in (size, 1)))
    spread_b = b.reshape(tuple(s for size in b.shape for s in (1, size)))
    return ew.mul(spread_a, spread_b).reshape(tuple(p * q for p, q in zip(a.shape, b.shape)))
