"""Attach op functions to ``Tensor`` as methods and operators (PyTorch's method names).

Functions whose first parameter is the tensor are bound directly, so ``x.exp()`` costs no
extra Python frame over ``tapegrad.exp(x)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import creation
from ..tensor import Tensor
from . import combine, composite, distance, elementwise as ew, index, inplace, matmul, movement, rearrange
from . import reduce, sort, statistics
from . import scatter, setops
from . import matrix_functions
from . import bitwise, sampling, special_functions, structure


def _reflected(fn: Any) -> Any:
    """``__rsub__``-style: ``fn(other, self)``; a NumPy array on the left is refused, as in
    PyTorch (NotImplemented: Python raises its TypeError)."""
    def method(self: Tensor, other: Any) -> Tensor:
        if isinstance(other, np.ndarray):
            return NotImplemented
        return fn(other, self)

    method.__name__ = f"__r{fn.__name__}__"
    return method


def _equality(fn: Any, with_none: bool) -> Any:
    """``==`` or ``!=``: against None a plain bool (``t == None`` is False), as in PyTorch."""
    def method(self: Tensor, other: Any) -> Any:
        return with_none if other is None else fn(self, other)

    method.__name__ = f"__{fn.__name__}__"
    return method


def _inplace_operator(fn: Any) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return fn(self, other)

    return method


def _size_method(fn: Any, keyword: str) -> Any:
    """``x.view(2, 3)``-style method, which also takes the sizes as one ``keyword`` argument
    (``x.view(size=(2, 3))``, ``x.permute(dims=(1, 0))``), as PyTorch's do."""
    def method(self: Tensor, *shape: Any, **named: Any) -> Tensor:
        if named:
            if shape or list(named) != [keyword]:
                unexpected = ", ".join(f"{k}=" for k in named)
                raise TypeError(f"{fn.__name__}() received an invalid combination of arguments: got "
                                f"{len(shape)} positional and {unexpected}; expected sizes or {keyword}=")
            shape = (named[keyword],)
        return fn(self, *shape)

    method.__name__ = fn.__name__
    return method


def _dims_as_one(fn: Any) -> Any:
    """``fn(x, dims)`` called as ``x.flip(0, 1)`` or ``x.flip((0, 1))``."""
    def method(self: Tensor, *dims: Any) -> Tensor:
        return fn(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], int) else dims)

    method.__name__ = fn.__name__
    return method


_METHODS: dict[str, Any] = {
    # arithmetic
    "add": ew.add, "sub": ew.sub, "subtract": ew.sub, "mul": ew.mul, "multiply": ew.mul,
    "div": ew.div, "divide": ew.div, "true_divide": ew.true_divide, "floor_divide": ew.floor_divide,
    "remainder": ew.remainder, "neg": ew.neg, "negative": ew.neg, "reciprocal": ew.reciprocal,
    "pow": ew.pow, "square": ew.square, "abs": ew.abs, "absolute": ew.abs, "exp": ew.exp,
    "log": ew.log, "log1p": ew.log1p, "expm1": ew.expm1, "sqrt": ew.sqrt, "rsqrt": ew.rsqrt,
    "sin": ew.sin, "cos": ew.cos, "tanh": ew.tanh, "sigmoid": ew.sigmoid, "relu": ew.relu, "erf": ew.erf,
    "sign": ew.sign, "floor": ew.floor, "ceil": ew.ceil, "round": ew.round,
    "clamp": ew.clamp, "clip": ew.clamp, "clamp_min": ew.clamp_min, "clamp_max": ew.clamp_max,
    "maximum": ew.maximum, "minimum": ew.minimum, "xlogy": ew.xlogy, "lerp": ew.lerp, "addcmul": ew.addcmul,
    "addcdiv": ew.addcdiv,
    "where": lambda self, cond, other: ew.where(cond, self, other),
    "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
    "greater": ew.gt, "less": ew.lt, "logical_and": ew.logical_and, "logical_or": ew.logical_or,
    "logical_xor": ew.logical_xor, "logical_not": ew.logical_not, "isnan": ew.isnan,
    "equal": ew.eq_all, "clone": ew.clone, "masked_fill": index.masked_fill,
    # operators
    "__add__": ew.ADD.binary_method(), "__radd__": ew.ADD.binary_method(reflected=True), "__sub__": ew.sub,
    "__rsub__": _reflected(ew.sub), "__mul__": ew.MUL.binary_method(),
    "__rmul__": ew.MUL.binary_method(reflected=True),
    "__truediv__": ew.DIV.binary_method(), "__rtruediv__": _reflected(ew.div),
    "__floordiv__": ew.floor_divide, "__rfloordiv__": _reflected(ew.floor_divide),
    "__mod__": ew.remainder, "__rmod__": _reflected(ew.remainder), "__pow__": ew.pow,
    "__rpow__": _reflected(ew.pow),
    "__neg__": ew.neg, "__abs__": ew.abs, "__pos__": lambda self: self,
    "__eq__": _equality(ew.eq, False), "__ne__": _equality(ew.ne, True), "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt, "__ge__": ew.ge,
    "__matmul__": matmul.matmul, "__rmatmul__": _reflected(matmul.matmul),
    "__getitem__": index.getitem, "__setitem__": inplace.setitem,
    "__iadd__": _inplace_operator(inplace.add_), "__isub__": _inplace_operator(inplace.sub_),
    "__imul__": _inplace_operator(inplace.mul_), "__itruediv__": _inplace_operator(inplace.div_),
    # reductions and composites
    "sum": reduce.sum, "mean": reduce.mean, "prod": reduce.prod, "max": reduce.max, "min": reduce.min,
    "amax": reduce.amax, "amin": reduce.amin, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "all": reduce.all, "any": reduce.any, "cumsum": reduce.cumsum, "cumprod": reduce.cumprod,
    "sort": sort.sort, "argsort": sort.argsort, "topk": sort.topk,
    "var": composite.var, "std": composite.std, "norm": composite.norm, "logsumexp": composite.logsumexp,
    "softmax": composite.softmax, "log_softmax": composite.log_softmax,
    # matrix products
    "matmul": matmul.matmul, "mm": matmul.mm, "bmm": matmul.bmm, "dot": matmul.dot, "mv": matmul.mv,
    "outer": matmul.outer,
    # movement
    "reshape": _size_method(movement.reshape, "shape"), "view": _size_method(movement.view, "size"),
    "transpose": movement.transpose, "swapaxes": movement.transpose, "t": movement.t,
    "permute": _size_method(movement.permute, "dims"), "squeeze": movement.squeeze, "unsqueeze": movement.unsqueeze,
    "expand": _size_method(movement.expand, "size"), "expand_as": movement.expand_as, "flatten": movement.flatten,
    "unflatten": movement.unflatten, "contiguous": movement.contiguous, "narrow": movement.narrow,
    "select": movement.select, "split": movement.split, "chunk": movement.chunk, "unbind": movement.unbind,
    "split_with_sizes": movement.split_with_sizes, "unsafe_split": movement.split,
    "unsafe_split_with_sizes": movement.split_with_sizes, "unsafe_chunk": movement.chunk,
    "movedim": movement.movedim, "broadcast_to": movement.broadcast_to,
    "view_as": lambda self, other: movement.view(self, tuple(other.shape)),
    "reshape_as": lambda self, other: movement.reshape(self, tuple(other.shape)),
    "flip": _size_method(_dims_as_one(rearrange.flip), "dims"),
    "roll": rearrange.roll, "repeat": _size_method(rearrange.repeat, "repeats"),
    "tile": _size_method(_dims_as_one(rearrange.tile), "dims"),
    "tril": rearrange.tril, "triu": rearrange.triu, "diagonal": rearrange.diagonal, "diag": rearrange.diag,
    "trace": rearrange.trace,
    # indexing
    "gather": index.gather, "index_select": index.index_select, "nonzero": index.nonzero,
    # scatters, index and mask ops, and set-like ops
    "scatter": scatter.scatter, "scatter_": scatter.scatter_, "scatter_add": scatter.scatter_add,
    "scatter_add_": scatter.scatter_add_, "scatter_reduce": scatter.scatter_reduce,
    "scatter_reduce_": scatter.scatter_reduce_, "index_add": scatter.index_add, "index_add_": scatter.index_add_,
    "index_copy": scatter.index_copy, "index_copy_": scatter.index_copy_, "index_fill": scatter.index_fill,
    "index_fill_": scatter.index_fill_, "index_reduce": scatter.index_reduce, "index_reduce_": scatter.index_reduce_,
    "masked_select": scatter.masked_select, "masked_scatter": scatter.masked_scatter,
    "masked_scatter_": scatter.masked_scatter_, "take": scatter.take, "take_along_dim": scatter.take_along_dim,
    "put": scatter.put, "put_": scatter.put_, "repeat_interleave": scatter.repeat_interleave,
    "argwhere": scatter.argwhere, "count_nonzero": scatter.count_nonzero, "bincount": setops.bincount,
    "histc": setops.histc, "histogram": setops.histogram, "unique": setops.unique,
    "unique_consecutive": setops.unique_consecutive,
    # in place
    "add_": inplace.add_, "sub_": inplace.sub_, "mul_": inplace.mul_, "div_": inplace.div_,
    "pow_": inplace.pow_, "clamp_": inplace.clamp_, "clip_": inplace.clamp_,
    "clamp_min_": inplace.clamp_min_, "clamp_max_": inplace.clamp_max_, "neg_": inplace.neg_,
    "abs_": inplace.abs_, "exp_": inplace.exp_, "log_": inplace.log_, "sqrt_": inplace.sqrt_,
    "tanh_": inplace.tanh_, "sigmoid_": inplace.sigmoid_, "relu_": inplace.relu_, "sign_": inplace.sign_,
    "floor_": inplace.floor_, "round_": inplace.round_, "erf_": lambda self: inplace.update(self, ew.erf),
    "fill_": inplace.fill_, "zero_": inplace.zero_, "apply_": inplace.apply_, "map_": inplace.map_,
    "lerp_": lambda self, end, weight: inplace.update_elementwise(
        ew.LERP_TENSOR if isinstance(weight, Tensor) else ew.LERP, self, end, weight),
    "addcmul_": lambda self, tensor1, tensor2, *, value=1: inplace.update_elementwise(
        ew.ADDCMUL, *ew.addcmul_operands(self, tensor1, tensor2, value)),
    "addcdiv_": lambda self, tensor1, tensor2, *, value=1: inplace.update_elementwise(
        ew.ADDCDIV, *ew.addcdiv_operands(self, tensor1, tensor2, value)),
    "copy_": inplace.copy_, "masked_fill_": inplace.masked_fill_,
    "uniform_": creation.uniform_, "normal_": creation.normal_,
    "exponential_": creation.exponential_,
    # order statistics, NaN-aware reductions, running extremes
    "median": statistics.median, "nanmedian": statistics.nanmedian, "kthvalue": statistics.kthvalue,
    "quantile": statistics.quantile, "nanquantile": statistics.nanquantile, "nansum": statistics.nansum,
    "nanmean": statistics.nanmean, "aminmax": statistics.aminmax, "cummax": statistics.cummax,
    "cummin": statistics.cummin, "logcumsumexp": statistics.logcumsumexp, "diff": statistics.diff,
    # more products, arranging and splitting
    "baddbmm": matmul.baddbmm, "addbmm": matmul.addbmm, "addmv": matmul.addmv, "addr": matmul.addr,
    "inner": matmul.inner, "vdot": matmul.vdot, "kron": matmul.kron, "cross": distance.cross,
    "rot90": combine.rot90, "fliplr": combine.fliplr, "flipud": combine.flipud, "unfold": combine.unfold,
    "tensor_split": combine.tensor_split, "hsplit": combine.hsplit, "vsplit": combine.vsplit,
    "dsplit": combine.dsplit, "isclose": composite.isclose, "allclose": composite.allclose,
    "swapdims": movement.transpose, "moveaxis": movement.movedim, "ravel": lambda self: movement.reshape(self, -1),
    "sum_to_size": _size_method(_dims_as_one(reduce.sum_to_size), "size"),
    # new tensors like this one, and its type
    "new": creation.new, "new_tensor": creation.new_tensor, "new_zeros": creation.new_zeros,
    "new_ones": creation.new_ones, "new_empty": creation.new_empty, "new_full": creation.new_full,
    "type_as": lambda self, other: movement.to(self, other.device, other.dtype),
    "ndimension": lambda self: self.ndim, "is_complex": lambda self: False,
    "cuda": lambda self, device=None, non_blocking=False: movement.to(self, "cuda" if device is None else device),
    # matrix functions
    "det": matrix_functions.det, "logdet": matrix_functions.logdet, "slogdet": matrix_functions.slogdet,
    "inverse": matrix_functions.inverse, "cholesky": matrix_functions.cholesky,
    "cholesky_solve": matrix_functions.cholesky_solve, "cholesky_inverse": matrix_functions.cholesky_inverse,
    "matrix_power": matrix_functions.matrix_power, "matrix_exp": matrix_functions.matrix_exp,
    "pinverse": matrix_functions.pinverse, "svd": matrix_functions.svd, "qr": matrix_functions.qr,
    # trigonometric, hyperbolic and special functions, IEEE helpers, and their in-place forms
    **ew.MORE_MATH_METHODS,
}


# Modules that keep their methods next to their functions.
for _module in (bitwise, sampling, special_functions, structure):
    _METHODS.update(_module.METHODS)


def bind() -> None:
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    # Defining __eq__ removes the inherited hash; tensors hash by identity, as in PyTorch.
    Tensor.__hash__ = lambda self: id(self)


bind()
