"""tapegrad: PyTorch-compatible autograd on a linear tape, replayed by Numba kernels.

>>> import tapegrad
>>> x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.])
"""
from __future__ import annotations

__version__ = "0.1.0"

from typing import Any as _Any

from .user_warnings import warn_user as _warn_user

from . import autograd
from . import dtypes as _dtypes_module
from .compiler import compile
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .autograd.anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled
from .autograd.grad_mode import is_inference_mode_enabled
from .creation import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor,
                       ShortTensor, arange, as_tensor, asarray,
                       empty, empty_like, eye, from_dlpack, from_numpy, full, full_like, linspace, manual_seed,
                       normal, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
                       zeros, zeros_like)
from .device import device
from .memory_formats import (channels_last, channels_last_3d, contiguous_format, layout, memory_format,
                             preserve_format, strided)
from . import cuda  # no numba.cuda import until CUDA is first used
from . import linalg
from . import return_types
from . import special
from .ops.special_functions import i0, igamma, igammac, mvlgamma
from .dtypes import (bool_ as bool, dtype, finfo, float32, float64, get_default_dtype, iinfo, int8, int16, int32,
                     int64, set_default_dtype, uint8)
from .formatting import set_printoptions
from .ops import methods as _methods  # noqa: F401  (binds Tensor methods)
from .ops.composite import log_softmax, logsumexp, norm, softmax, std, var
from .ops.elementwise import (abs, add, addcdiv, addcmul, ceil, celu, clamp, clamp_max, clamp_min, clip, clone,
                              cos, div, eq, eq_all as equal, erf, exp, expm1, floor, floor_divide, ge, gt, isnan,
                              le, lerp, log, log1p, logical_and, logical_not, logical_or, logical_xor, lt, maximum,
                              minimum, mul, ne, neg, pow, reciprocal, relu, remainder, round, rsqrt, rsub,
                              selu, sigmoid, sign, sin, sqrt, square, sub, tanh, true_divide, where,
                              xlogy)
from .ops.elementwise import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, asin, asinh,
                              atan, atan2, atanh, copysign, cosh, deg2rad, digamma, erfc, erfinv, exp2, fix,
                              float_power, fmod, frac, heaviside, hypot, isfinite, isinf, isneginf, isposinf, isreal,
                              lgamma, log2, log10, logaddexp, logaddexp2, logit, nan_to_num, nextafter, polygamma,
                              positive, rad2deg, sgn, signbit, sinc, sinh, tan, trunc)
from .ops.index import gather, index_select, masked_fill, nonzero
from .ops.scatter import (argwhere, count_nonzero, index_add, index_copy, index_fill, index_reduce, masked_scatter,
                          masked_select, put, repeat_interleave, scatter, scatter_add, scatter_reduce, take,
                          take_along_dim)
from .ops.setops import (bincount, bucketize, histc, histogram, searchsorted, tril_indices, triu_indices, unique,
                         unique_consecutive)
from .ops.matmul import addmm, bmm, dot, matmul, mm, mv, outer
from .ops.movement import (broadcast_to, cat, chunk, concat, concatenate, expand_as, flatten, movedim,
                           narrow, permute, reshape, select, split, squeeze, stack, t, transpose, unbind,
                           unflatten, unsqueeze)
from .ops.reduce import all, amax, amin, any, argmax, argmin, cumprod, cumsum, max, mean, min, prod, sum
from .ops.rearrange import diag, diagonal, flip, roll, tile, trace, tril, triu
from .ops.sort import argsort, sort, topk
from .ops.einsum import einsum
from .ops.combine import (atleast_1d, atleast_2d, atleast_3d, block_diag, broadcast_shapes, broadcast_tensors,
                          cartesian_prod, column_stack, dsplit, dstack, fliplr, flipud, hsplit, hstack, meshgrid,
                          rot90, row_stack, tensor_split, vsplit, vstack)
from .ops.composite import allclose, isclose
from .ops.distance import cdist, cross
from .ops.matmul import addbmm, addmv, addr, baddbmm, inner, kron, tensordot, vdot
from .ops.statistics import (aminmax, cummax, cummin, diff, gradient, kthvalue, logcumsumexp, median, nanmean,
                             nanmedian, nanquantile, nansum, quantile, std_mean, var_mean)
from .ops.matrix_functions import (chain_matmul, cholesky, cholesky_inverse, cholesky_solve, det, frobenius_norm, ger,
                                    inverse, logdet, lu, lu_solve, matrix_exp, matrix_power, nuclear_norm, pinverse, qr,
                                    slogdet, svd, triangular_solve)
from .ops.linalg_ops import lu_unpack
from .ops.bitwise import *  # noqa: F401,F403
from .ops.sampling import *  # noqa: F401,F403
from .ops.structure import *  # noqa: F401,F403
from .functional_aliases import *  # noqa: F401,F403  (torch.conv2d, torch.layer_norm, torch.dropout, ...)
from .serialization import load, save
from .settings import (are_deterministic_algorithms_enabled, get_deterministic_debug_mode, get_float32_matmul_precision,
                       get_num_interop_threads, get_num_threads, is_deterministic_algorithms_warn_only_enabled,
                       set_deterministic_debug_mode, set_float32_matmul_precision, set_num_interop_threads,
                       set_num_threads, use_deterministic_algorithms)
from . import backends
from .random import Generator, get_rng_state, initial_seed, seed, set_rng_state
from .tensor import Size, Tensor, is_tensor

float = float32
double = float64
long = int64
int = int32
short = int16
multiply = mul
subtract = sub
divide = div
negative = neg
absolute = abs
swapaxes = transpose
swapdims = transpose
moveaxis = movedim

# PyTorch's module-level constants (``torch.pi``, ``torch.inf``, ``x[:, torch.newaxis]``).
import math as _math  # noqa: E402

pi = _math.pi
e = _math.e
inf = _math.inf
nan = _math.nan
newaxis = None


def numel(input: Tensor) -> int:
    return input.numel()


def is_complex(input: Tensor) -> builtins_bool:  # type: ignore[name-defined]
    return input.is_complex()


def detach(input: Tensor) -> Tensor:
    return input.detach()


def ravel(input: Tensor) -> Tensor:
    return input.reshape(-1)


def split_with_sizes(input: Tensor, split_sizes: _Any, dim: int = 0) -> tuple[Tensor, ...]:
    return input.split_with_sizes(split_sizes, dim)


def scalar_tensor(s: _Any, *, dtype: _Any = None, device: _Any = None,  # noqa: F811 (PyTorch's names)
                  requires_grad: builtins_bool = False) -> Tensor:
    """A 0-d tensor holding ``s``, of the default float dtype unless ``dtype`` says otherwise."""
    return tensor(s, dtype=get_default_dtype() if dtype is None else dtype, device=device,
                  requires_grad=requires_grad)


def typename(obj: _Any) -> str:
    """``obj``'s type name: a tensor's legacy type (``tapegrad.FloatTensor``), else the class's
    qualified name, with its module unless it is a builtin."""
    if isinstance(obj, Tensor):
        return obj.type()
    cls = type(obj)
    module = getattr(cls, "__module__", "builtins")
    return cls.__qualname__ if module in ("builtins", None) else f"{module}.{cls.__qualname__}"


def set_default_tensor_type(t: _Any) -> None:  # noqa: F811 (PyTorch's parameter name)
    """Deprecated: the default dtype from a legacy type (``tapegrad.DoubleTensor``) or its name
    (``"torch.FloatTensor"``). CUDA types would also change the default device, which tapegrad
    has no setting for: they raise."""
    _warn_user("tapegrad.set_default_tensor_type() is deprecated, please use "
                        "tapegrad.set_default_dtype() instead.", UserWarning)
    if isinstance(t, str):
        *module, legacy = t.split(".")
        if module[1:] == ["cuda"]:
            raise RuntimeError(f"set_default_tensor_type({t!r}): tapegrad has no default device setting; create "
                               "CUDA tensors with device='cuda'")
        known = module in (["torch"], ["tapegrad"])
        found = [d for d in _dtypes_module.ALL if known and f"{d.scalar_name}Tensor" == legacy]
        if not found:
            raise ModuleNotFoundError(f"No module named {'.'.join(module) or t!r}")
        chosen = found[0]
    elif isinstance(t, type) and isinstance(getattr(t, "dtype", None), dtype):
        chosen = t.dtype
    else:
        raise TypeError("invalid type object: only floating-point types are supported as the default type")
    if not chosen.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    set_default_dtype(chosen)


def get_default_device() -> device:
    """The device tensors are made on when none is named: the CPU (there is no setter here)."""
    return device("cpu")


def is_floating_point(input: Tensor) -> builtins_bool:  # type: ignore[name-defined]
    return input.is_floating_point()


import builtins as _builtins  # noqa: E402

builtins_bool = _builtins.bool

from . import distributions, func, nn, optim, testing, utils  # noqa: E402  (they use the API above)

vmap = func.vmap

from . import public_functions as _public_functions  # noqa: E402

# Last: every public function and method with a ``dim`` takes ``axis`` (and ``keepdims``) too,
# here and in ``linalg`` and ``special`` (not ``nn.functional``: PyTorch's are Python there), and
# the functions name an argument that should have been a tensor (public_functions.py).
_public_functions.install(globals())
_public_functions.install(dict(vars(Tensor)), Tensor, check_tensors=False)
for _module in (linalg, special):
    _public_functions.install(dict(vars(_module)), _module)
