"""``tapegrad.nn.init``: in-place parameter initialisers with PyTorch's names and formulas.

Every initialiser runs without recording gradients, fills the tensor in place and returns it.
Random ones draw from the same generator streams as PyTorch in the same order, so after
``tapegrad.manual_seed(s)`` they give the values ``torch.nn.init`` gives after
``torch.manual_seed(s)``.

>>> _ = tapegrad.manual_seed(0)
>>> w = nn.init.kaiming_uniform_(tapegrad.empty(3, 4), nonlinearity="relu")
>>> w.shape, w.requires_grad
(tapegrad.Size([3, 4]), False)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import creation
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, _wrap
from ..user_warnings import warn_user

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
           "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]

_LINEAR_FUNCTIONS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                     "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (``param`` is leaky_relu's negative slope).

    >>> nn.init.calculate_gain("tanh")
    1.6666666666666667
    """
    if nonlinearity in _LINEAR_FUNCTIONS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, int) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _write(tensor: Tensor, values: np.ndarray) -> Tensor:
    with no_grad():
        return tensor.copy_(_wrap(np.ascontiguousarray(values)))


# ---------------------------------------------------------------- plain fills and draws

def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with samples of U(a, b).

    >>> nn.init.uniform_(tapegrad.empty(2), -1.0, 1.0).shape
    tapegrad.Size([2])
    """
    with no_grad():
        return creation.uniform_(tensor, a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with samples of N(mean, std**2).

    >>> nn.init.normal_(tapegrad.empty(2), std=0.02).shape
    tapegrad.Size([2])
    """
    with no_grad():
        return creation.normal_(tensor, mean, std, generator=generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``.

    >>> nn.init.constant_(tapegrad.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones.

    >>> nn.init.ones_(tapegrad.empty(2))
    tensor([1., 1.])
    """
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros.

    >>> nn.init.zeros_(tapegrad.empty(2))
    tensor([0., 0.])
    """
    with no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d ``tensor`` with the identity (ones on the main diagonal).

    >>> nn.init.eye_(tapegrad.empty(2, 3))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, np.eye(*tensor.shape, dtype=tensor._data.dtype))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-d convolution weight with the Dirac delta (the identity convolution),
    per group of output channels.

    >>> nn.init.dirac_(tapegrad.empty(1, 1, 3))
    tensor([[[0., 1., 0.]]])
    """
    dimensions = tensor.ndim
    if dimensions not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_channels_per_group = sizes[0] // groups
    values = np.zeros(sizes, tensor._data.dtype)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min(out_channels_per_group, sizes[1])):
            values[(g * out_channels_per_group + d, d) + centre] = 1
    return _write(tensor, values)


# ---------------------------------------------------------------- fan-scaled draws

def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return tensor.shape[1] * receptive_field_size, tensor.shape[0] * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> nn.init.xavier_uniform_(tapegrad.empty(3, 5)).abs().max() <= 0.8661
    tensor(True)
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> nn.init.xavier_normal_(tapegrad.empty(3, 5)).shape
    tapegrad.Size([3, 5])
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _warn_if_empty(tensor: Tensor) -> bool:
    if 0 in tensor.shape:
        warn_user("Initializing zero-element tensors is a no-op")
        return True
    return False


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Tensor:
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, the gain of
    ``nonlinearity`` (``a`` the leaky_relu slope) and ``fan`` chosen by ``mode``.

    >>> nn.init.kaiming_uniform_(tapegrad.empty(3, 5), a=math.sqrt(5)).shape
    tapegrad.Size([3, 5])
    """
    if _warn_if_empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * (gain / math.sqrt(fan))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Tensor:
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``.

    >>> nn.init.kaiming_normal_(tapegrad.empty(3, 5), mode="fan_out", nonlinearity="relu").shape
    tapegrad.Size([3, 5])
    """
    if _warn_if_empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return normal_(tensor, 0, gain / math.sqrt(fan), generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Any = None) -> Tensor:
    """N(mean, std**2) truncated to ``[a, b]``, by rejection, drawing as PyTorch does.

    >>> bool((nn.init.trunc_normal_(tapegrad.empty(100), a=-1.0, b=1.0).abs() <= 1).all())
    True
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warn_user("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values "
                  "may be incorrect.")
    source = creation._generator(generator)
    shape = tuple(tensor.shape)
    dtype = tensor._data.dtype
    scalar = dtype.type
    accepted_mass = _normal_cdf((b - mean) / std) - _normal_cdf((a - mean) / std)
    if accepted_mass > 0.3:
        # Most draws land inside: redraw the whole tensor's worth, keep the new draws where the
        # old ones fell outside, until none does.
        low, high = float(scalar(a)), float(scalar(b))
        result = source.normal(shape, float(mean), float(std), dtype)
        while True:
            outside = (result < low) | (result > high)
            if not outside.any():
                break
            result = np.where(outside, source.normal(shape, float(mean), float(std), dtype), result)
        return _write(tensor, result)
    # A narrow or far-off window: uniform proposals in [a, b], accepted with the normal density
    # relative to its peak in the window; the arithmetic runs in the tensor's dtype.
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2

    def log_density(x: np.ndarray) -> np.ndarray:
        z = (x - scalar(mean)) / scalar(std)
        return z * z * scalar(-0.5) - scalar(log_peak)

    result = source.uniform(shape, float(a), float(b), dtype)
    pending = np.log(source.uniform(shape, 0.0, 1.0, dtype)) > log_density(result)
    while pending.any():
        candidates = source.uniform(shape, float(a), float(b), dtype)
        result = np.where(pending, candidates, result)
        rejected = np.log(source.uniform(shape, 0.0, 1.0, dtype)) > log_density(candidates)
        pending = np.where(pending, rejected, pending)
    return _write(tensor, result)


def _normal_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    """A (semi-)orthogonal matrix, from the QR decomposition of a normal sample, times ``gain``;
    dims after the first are flattened.

    >>> q = nn.init.orthogonal_(tapegrad.empty(3, 3, dtype=tapegrad.float64))
    >>> bool(((q @ q.t() - tapegrad.eye(3, dtype=tapegrad.float64)).abs() < 1e-12).all())
    True
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    dtype = tensor._data.dtype
    flattened = creation._generator(generator).normal((rows, cols), 0.0, 1.0, dtype)
    if rows < cols:
        flattened = flattened.T
    q, r = np.linalg.qr(flattened)
    # Signs fixed by r's diagonal make the decomposition unique (uniform over orthogonal matrices).
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    result = q.astype(dtype, copy=False).reshape(tuple(tensor.shape)) * dtype.type(gain)
    return _write(tensor, result)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """N(0, std**2) with a fraction ``sparsity`` of each column set to zero (rows chosen by
    ``randperm`` from the default generator, as PyTorch does).

    >>> int((nn.init.sparse_(tapegrad.empty(4, 3), 0.5) == 0).sum())
    6
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    with no_grad():
        tensor.normal_(0, std, generator=generator)
        for column in range(cols):
            zero_rows = creation.randperm(rows)[:num_zeros]
            tensor[zero_rows, column] = 0
    return tensor


# ---------------------------------------------------------------- deprecated names

def _deprecated(method: Callable[..., Tensor]) -> Callable[..., Tensor]:
    new_name = method.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Tensor:
        warn_user(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.", FutureWarning)
        return method(*args, **kwargs)

    deprecated_init.__name__ = old_name
    deprecated_init.__doc__ = f"Deprecated: use ``nn.init.{new_name}``."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
