"""Random sampling ops: ``bernoulli`` (function and methods), ``multinomial``, ``poisson``,
``binomial``, ``randint_like``, and the in-place samplers ``random_``, ``cauchy_``, ``log_normal_`` and
``geometric_``.

Each draws from the generator given (or the default one of the tensor's device) with the
kernels of ``tapegrad.random``, so after ``manual_seed`` the CPU results are PyTorch's numbers.
On Intel CPUs PyTorch's MKL build draws scalar-p ``bernoulli_`` and ``exponential_`` (which
``multinomial`` without replacement uses) from MKL's own stream instead; those two are then
correct samples but not PyTorch's numbers (see ``tapegrad.random``). Otherwise:

* ``bernoulli``/``bernoulli_``, ``random_`` (every range), ``cauchy_``, ``log_normal_``,
  ``geometric_``, ``poisson``, ``binomial``, ``randint_like``: exact. (``binomial`` refuses
  non-finite counts with 0 < p < 1, for which PyTorch's sampler never returns.)
* ``multinomial``: exact with replacement (cumulative sums in the input's precision, a binary
  search per double uniform) and without (``p / q`` with ``q ~ Exp(1)``, then the largest
  ``num_samples``). One difference: when more categories are drawn without replacement than
  have a positive probability, the zero-probability categories (all tied at ``p / q = 0``) come
  last in descending index order, where PyTorch's order depends on its selection algorithm.

CUDA tensors get numbers drawn on the host by the CUDA generator (see ``tapegrad.cuda.random``).
Sampling records no gradient: results never require grad (PyTorch marks ``bernoulli``, ``poisson``
and ``binomial`` of an input that requires grad as requiring grad, with a zero gradient; here they
are plain tensors), and sampling in place into a leaf that requires grad raises PyTorch's error (a
non-leaf keeps a zero gradient to its old value, as in PyTorch).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import creation
from .. import random as _random
from ..tensor import Tensor
from .inplace import check_not_leaf
from ..user_warnings import warn_user

__all__ = ["bernoulli", "binomial", "multinomial", "poisson", "randint_like"]

# PyTorch's C++ type names, used in its range errors.
_CPP_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int", "int16": "short int",
              "int8": "signed char", "uint8": "unsigned char", "bool": "bool", "float16": "c10::Half"}
_MANTISSA_DIGITS = {"float32": 24, "float64": 53, "float16": 11}
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


# ---------------------------------------------------------------- helpers

def _generator_for(tensor: Tensor, generator: Any) -> _random.Generator:
    return creation._generator(generator, creation._place_of(tensor))


def _host(tensor: Tensor) -> np.ndarray:
    """The tensor's values as a host array."""
    data = tensor._data
    return data if isinstance(data, np.ndarray) else tensor.cpu()._data


def _result(data: np.ndarray, like: Tensor) -> Tensor:
    """A new tensor over host ``data``, on ``like``'s device."""
    return creation._finish(data, False, creation._place_of(like))


def _dtype_name(tensor: Tensor) -> str:
    return tensor._data.dtype.name


def _not_implemented(kernel: str, tensor: Tensor) -> NotImplementedError:
    return NotImplementedError(f'"{kernel}" not implemented for \'{tensor.dtype.scalar_name}\'')


def _require_float(self: Tensor, what: str) -> None:
    if self._data.dtype.kind != "f":
        raise RuntimeError(f"{what} distribution is a continuous probability distribution. dtype must be a floating "
                           f"point but you specified {_CPP_NAMES.get(_dtype_name(self), _dtype_name(self))}")


def _type_names(values: tuple) -> str:
    return ", ".join("Tensor" if isinstance(v, Tensor) else type(v).__name__ for v in values)


def _as_int(value: Any, function: str, given: tuple, signatures: str) -> int:
    """``value`` as an int (an int or an integer 0-d tensor), else PyTorch's argument error for ``function``."""
    if isinstance(value, Tensor) and value.ndim == 0 and value._data.dtype.kind in "iu":
        return int(value.item())
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{function}() received an invalid combination of arguments - got ({_type_names(given)}), "
                        f"but expected one of:\n{signatures}")
    return int(value)


# ---------------------------------------------------------------- bernoulli

def _probabilities(p: Tensor, kernel: str) -> np.ndarray:
    """Checked host probabilities of a tensor ``p`` (floating, every value in [0, 1])."""
    if p._data.dtype.kind != "f":
        raise _not_implemented(kernel, p)
    values = _host(p)
    if values.size and not ((values >= 0) & (values <= 1)).all():  # NaN fails both
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could this error message "
                           "be improved?  If so, please report an enhancement request to PyTorch.)")
    return values


def _scalar_probability(p: Any) -> float:
    if isinstance(p, Tensor):
        raise TypeError("bernoulli(): argument 'p' must be float, not Tensor")
    value = float(p)
    if not 0.0 <= value <= 1.0:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={value:g}")
    return value


def bernoulli(input: Tensor, p: Any = None, *, generator: Any = None) -> Tensor:
    """0/1 samples of ``input``'s shape and dtype: Bernoulli(``input``) elementwise, or Bernoulli(``p``).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.bernoulli(tapegrad.tensor([0.0, 1.0, 0.5]))
    tensor([0., 1., 1.])
    """
    source = _generator_for(input, generator)
    if p is None:
        probabilities = _probabilities(input, "bernoulli_tensor_cpu_p_")
        data = source.bernoulli(probabilities, input._data.shape, input._data.dtype)
    else:
        data = source.bernoulli(_scalar_probability(p), input._data.shape, input._data.dtype)
    return _result(data, input)


def bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    """Fill ``self`` with Bernoulli(``p``) 0/1 samples; ``p`` a float or a tensor broadcast to ``self``.

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.zeros(3).bernoulli_(tapegrad.tensor([1.0, 0.0, 1.0]))
    tensor([1., 0., 1.])
    """
    check_not_leaf(self)  # before anything is drawn, as PyTorch checks
    source = _generator_for(self, generator)
    if isinstance(p, Tensor):
        probabilities = _probabilities(p, "bernoulli_tensor_cpu_p_")
        p.expand(*self.shape)  # PyTorch's errors for a p that does not expand to self
        order = creation.memory_order(self)
        if order is None:
            sample = source.bernoulli(probabilities, self._data.shape, self._data.dtype)
            return creation.write_sample(self, sample, logical=True)
        # Drawn in self's memory order, each with its own probability.
        permuted = np.broadcast_to(probabilities, self._data.shape).transpose(order)
        sample = source.bernoulli(np.ascontiguousarray(permuted), permuted.shape, self._data.dtype)
        return creation.write_sample(self, sample.transpose(np.argsort(order)), logical=True)
    return creation.write_sample(self, source.bernoulli(_scalar_probability(p), self._data.shape, self._data.dtype))


# ---------------------------------------------------------------- multinomial

def _check_rows_with_replacement(rows: np.ndarray) -> None:
    """PyTorch's per-row checks, in its order (element by element, then the row's sum)."""
    for row in rows:
        bad = ~(row >= 0) | ~np.isfinite(row)
        if bad.any():
            first = row[np.argmax(bad)]
            if not first >= 0:  # negative or NaN
                raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
            raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity or NaN)")
        if not row.sum(dtype=row.dtype) > 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """Category indices (int64) drawn from the rows of ``input`` (unnormalized probabilities, 1-D or 2-D).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.multinomial(tapegrad.tensor([0.0, 10.0, 0.0]), 2, replacement=True)
    tensor([1, 1])
    """
    if isinstance(num_samples, (bool, np.bool_)) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial(): argument 'num_samples' (position 2) must be int, not "
                        f"{type(num_samples).__name__}")
    num_samples = int(num_samples)
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype.scalar_name}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n_categories = input.shape[-1]
    if not replacement and num_samples > n_categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if n_categories > 1 << 24:
        raise RuntimeError("number of categories cannot exceed 2^24")
    source = _generator_for(input, generator)
    probs = _host(input)
    rows = np.ascontiguousarray(probs.reshape(1 if input.ndim == 1 else input.shape[0], n_categories))
    out_shape = (num_samples,) if input.ndim == 1 else (rows.shape[0], num_samples)
    if rows.shape[0] == 0:
        return _result(np.empty(out_shape, np.int64), input)
    if replacement and num_samples > 1:
        _check_rows_with_replacement(rows)
        out = np.empty((rows.shape[0], num_samples), np.int64)
        zero = rows.dtype.type(0)
        with source._lock:
            _random._multinomial_replacement(source._mt, source._pos, rows, num_samples, out, zero)
        return _result(out.reshape(out_shape), input)
    # Without replacement (or one sample): the largest p / q, q ~ Exp(1), as PyTorch does.
    if rows.size == 0 or not (np.all(rows >= 0) and np.max(rows) < np.inf):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if np.any(rows.sum(axis=1, dtype=rows.dtype) == 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if input.ndim == 2 and tuple(input.stride()) == (1, input.shape[0]) and input.shape[0] > 1:
        # PyTorch's q is ``empty_like(input)``: for a transposed input it is filled in memory order.
        q = source.exponential(rows.shape[::-1], 1.0, rows.dtype).T
    else:
        q = source.exponential(rows.shape, 1.0, rows.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = rows / q
    index = np.arange(n_categories)
    out = np.empty((rows.shape[0], num_samples), np.int64)
    for r in range(rows.shape[0]):
        # Largest first; ties (zero probabilities) by descending index.
        order = np.lexsort((-index, -keys[r]))
        out[r] = order[:num_samples]
    return _result(out.reshape(out_shape), input)


# ---------------------------------------------------------------- random_

def _update_from(value: int, digits: int, dtype: np.dtype) -> int:
    """``from`` rounded up to a value of ``dtype`` (PyTorch's ``update_from``)."""
    plus_one = int(np.array(value + 1, np.float64).astype(dtype))
    if plus_one < value:
        n = abs(value + 1).bit_length() - 1
        value = plus_one + (1 << (n - digits + 1))
    return value


def _update_to(value: int, digits: int, dtype: np.dtype) -> int:
    """``to`` rounded down to a value of ``dtype`` (PyTorch's ``update_to``)."""
    minus_one = int(np.array(value - 1, np.float64).astype(dtype))
    if minus_one >= value:
        n = abs(value - 1).bit_length() - 1
        value = minus_one - (1 << (n - digits + 1))
    return value


def _check_in_range(start: int, last: int, dtype: np.dtype) -> None:
    name = _CPP_NAMES.get(dtype.name, dtype.name)
    if dtype.kind == "f":
        info = np.finfo(dtype)
        low, high = float(info.min), float(info.max)
    elif dtype.kind == "b":
        low, high = 0, 1
    else:
        iinfo = np.iinfo(dtype)
        low, high = int(iinfo.min), int(iinfo.max)
    for value, label in ((start, "from"), (last, "to - 1")):
        if not low <= value <= high:
            raise RuntimeError(f"{label} is out of bounds for {name}")
    if dtype.kind == "f":
        digits = _MANTISSA_DIGITS[dtype.name]
        for value, label in ((start, "from"), (last, "to - 1")):
            if value < -(1 << digits) or value > 1 << digits:
                warn_user(f"{label} is out of bounds [-(2^{digits}), 2^{digits}]. Due to precision limitations "
                          f"{name} can support discrete uniform distribution only within this range. This warning "
                          "will become an error in version 1.7 release, please fix the code in advance",
                          UserWarning)


def _draw_range(source: _random.Generator, n: int, span: int, low: int, wide: bool) -> np.ndarray:
    """``draw % span + low`` (wrapping to int64) with 64-bit draws when ``wide``, else 32-bit ones."""
    with source._lock:
        if wide:
            return _random._randint64(source._mt, source._pos, n, np.uint64(span), np.int64(low))
        return _random._randint32(source._mt, source._pos, n, np.int64(span), np.int64(low))


def _random_default(self: Tensor, source: _random.Generator) -> np.ndarray:
    """``random_()``: [0, 2**mantissa] for floats, [0, max] for integers, as PyTorch draws them."""
    dtype = self._data.dtype
    n = self._data.size
    if dtype.kind == "f":
        digits = _MANTISSA_DIGITS[dtype.name]
        return _draw_range(source, n, (1 << digits) + 1, 0, dtype == np.float64)
    if dtype.kind == "b":
        return _draw_range(source, n, 2, 0, False)
    maximum = int(np.iinfo(dtype).max)
    return _draw_range(source, n, maximum + 1, 0, dtype == np.int64)


def _random_from_to(self: Tensor, source: _random.Generator, start: int, end: int | None) -> np.ndarray:
    dtype = self._data.dtype
    n = self._data.size
    if end is not None:
        if start >= end:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={start} >= to={end}")
        if dtype.kind == "f":
            digits = _MANTISSA_DIGITS[dtype.name]
            start, end = _update_from(start, digits, dtype), _update_to(end, digits, dtype)
            if start >= end:
                raise RuntimeError("random_ expects 'from' casted to dtype to be less than 'to' casted to dtype, but "
                                   f"got from={start} >= to={end}")
        _check_in_range(start, end - 1, dtype)
        span = end - start
    elif start != _INT64_MIN:
        if dtype.kind == "f":
            digits = _MANTISSA_DIGITS[dtype.name]
            last = 1 << digits
            start = _update_from(start, digits, dtype)
            if start >= last:
                raise RuntimeError("random_ expects 'from' casted to dtype to be less than or equal to 'to_inc' casted "
                                   f"to dtype, but got from={start} > to_inc={last}")
        else:
            last = 1 if dtype.kind == "b" else int(np.iinfo(dtype).max)
        _check_in_range(start, last, dtype)
        span = last - start + 1
    else:
        if dtype == np.bool_:
            raise _not_implemented("random_full_64_bits_range_kernel_cpu", self)
        if dtype not in (np.int64, np.float32, np.float64):
            raise RuntimeError("random_full_64_bits_range_kernel_cpu handles only int64, double, float and bfloat16")
        with source._lock:
            return _random._random_full64(source._mt, source._pos, n)
    if n == 0:
        return np.empty(0, np.int64)
    return _draw_range(source, n, span, start, span >= _random._RANGE64_THRESHOLD)


_RANDOM_SIGNATURES = (" * (*, torch.Generator generator = None)\n"
                      " * (int from, int to, *, torch.Generator generator = None)\n"
                      " * (int to, *, torch.Generator generator = None)")


def random_(self: Tensor, *args: Any, generator: Any = None, **kwargs: Any) -> Tensor:
    """Fill ``self`` with integers: ``random_()`` over [0, 2**mantissa] (floats) or [0, max] (integers),
    ``random_(to)`` over [0, to), ``random_(from, to)`` over [from, to) (``to=None``: to the dtype's end).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.zeros(4, dtype=tapegrad.int64).random_(5, 10)
    tensor([9, 9, 8, 5])
    """
    check_not_leaf(self)  # before anything is drawn, as PyTorch checks
    unknown = set(kwargs) - {"from", "to"}
    if unknown or len(args) > 2:
        raise TypeError(f"random_() received an invalid combination of arguments - got {len(args)} positional "
                        f"arguments and keywords {sorted(kwargs)}")
    bounds = {"from": args[0], "to": args[1]} if len(args) == 2 else {"to": args[0]} if args else {}
    for key, value in kwargs.items():
        if key in bounds:
            raise TypeError(f"random_() got multiple values for argument '{key}'")
        bounds[key] = value
    source = _generator_for(self, generator)
    if not bounds:
        sample = _random_default(self, source)
    else:
        given = args + tuple(kwargs.values())
        start = _as_int(bounds.get("from", 0), "random_", given, _RANDOM_SIGNATURES)
        end = bounds.get("to")
        end = None if end is None else _as_int(end, "random_", given, _RANDOM_SIGNATURES)
        sample = _random_from_to(self, source, start, end)
    return creation.write_sample(self, sample)


# ---------------------------------------------------------------- continuous and geometric samplers

def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``self`` with Cauchy(``median``, ``sigma``) samples.

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.empty(2, dtype=tapegrad.float64).cauchy_()
    tensor([10.5977,  0.7648], dtype=tapegrad.float64)
    """
    check_not_leaf(self)  # before anything is drawn, as PyTorch checks
    _require_float(self, "Cauchy")
    median, sigma = float(median), float(sigma)
    if not sigma > 0.0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
    source = _generator_for(self, generator)
    with source._lock:
        sample = _random._cauchy(source._mt, source._pos, self._data.size, median, sigma)
    return creation.write_sample(self, sample)


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Tensor:
    """Fill ``self`` with samples whose logarithm is Normal(``mean``, ``std``).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.empty(2, dtype=tapegrad.float64).log_normal_(0.0, 1.0)
    tensor([4.6692, 0.7457], dtype=tapegrad.float64)
    """
    check_not_leaf(self)  # before anything is drawn, as PyTorch checks
    if self._data.dtype.kind != "f":
        raise _not_implemented("log_normal_cpu", self)
    mean, std = float(mean), float(std)
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std:g}")
    source = _generator_for(self, generator)
    with source._lock:
        sample = _random._log_normal(source._mt, source._pos, self._data.size, mean, std, source._normal_cache)
    return creation.write_sample(self, sample)


def geometric_(self: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """Fill ``self`` with Geometric(``p``) samples: the number of trials up to the first success (>= 1).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.empty(4, dtype=tapegrad.int64).geometric_(0.5)
    tensor([1, 1, 2, 1])
    """
    check_not_leaf(self)  # before anything is drawn, as PyTorch checks
    p = float(p)
    if not 0.0 < p < 1.0:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")
    source = _generator_for(self, generator)
    with source._lock:
        sample = _random._geometric(source._mt, source._pos, self._data.size, p)
    if self._data.dtype.kind in "iub":
        # The double sample is converted as C++ converts it (truncation; huge values wrap).
        sample = sample.astype(np.int64)
    return creation.write_sample(self, sample)


# ---------------------------------------------------------------- poisson and randint_like

def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Poisson(``input``) samples, elementwise (rates >= 0), of ``input``'s dtype.

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.poisson(tapegrad.tensor([0.0, 1.0, 20.0]))
    tensor([ 0.,  2., 28.])
    """
    if input._data.dtype.kind != "f":
        raise _not_implemented("poisson_cpu", input)
    rates = _host(input)
    if rates.size and not (rates >= 0).all():  # NaN fails too
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    source = _generator_for(input, generator)
    flat = np.ascontiguousarray(rates).reshape(-1).astype(np.float64)
    with source._lock:
        sample = _random._poisson(source._mt, source._pos, flat)
    return _result(sample.astype(rates.dtype).reshape(rates.shape), input)


_RANDINT_LIKE_SIGNATURES = (" * (Tensor input, int high, *, torch.Generator generator = None, ...)\n"
                            " * (Tensor input, int low, int high, *, torch.Generator generator = None, ...)")


def _broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of two shapes, with PyTorch's error naming the first mismatch from the right."""
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    for i in reversed(range(ndim)):
        if a[i] != b[i] and a[i] != 1 and b[i] != 1:
            raise RuntimeError(f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) at "
                               f"non-singleton dimension {i}")
    return tuple(max(x, y) if min(x, y) != 0 else 0 for x, y in zip(a, b, strict=True))


def binomial(count: Tensor, prob: Tensor, generator: Any = None) -> Tensor:
    """Binomial(``count``, ``prob``) samples, elementwise (broadcast), of ``count``'s float dtype.

    Non-finite counts with a probability strictly between 0 and 1 raise an error (PyTorch's sampler
    never returns for them).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.binomial(tapegrad.tensor([10.0, 100.0]), tapegrad.tensor([0.5, 0.2]))
    tensor([ 7., 21.])
    """
    if not isinstance(prob, Tensor):
        raise TypeError(f"binomial(): argument 'prob' (position 2) must be Tensor, not {type(prob).__name__}")
    for tensor, name in ((count, "count"), (prob, "prob")):
        if tensor._data.dtype.kind != "f":
            raise ValueError(f"binomial only supports floating-point dtypes for {name}, got: "
                             f"{tensor.dtype.scalar_name}")
    if prob._data.dtype != count._data.dtype:
        raise RuntimeError(f"Found dtype {prob.dtype.scalar_name} but expected {count.dtype.scalar_name}")
    shape = _broadcast_shape(tuple(count.shape), tuple(prob.shape))
    counts = np.ascontiguousarray(np.broadcast_to(_host(count), shape)).reshape(-1)
    probs = np.ascontiguousarray(np.broadcast_to(_host(prob), shape)).reshape(-1)
    if not np.isfinite(counts[(probs > 0) & (probs < 1)]).all():
        raise RuntimeError("binomial expects finite counts where 0 < prob < 1, got inf or nan")
    source = _generator_for(count, generator)
    out = np.empty(counts.shape, counts.dtype)
    if out.size:
        with source._lock:
            _random._binomial(source._mt, source._pos, counts, probs, out)
    return _result(out.reshape(shape), count)


def randint_like(input: Tensor, low: Any = 0, high: Any = None, *, generator: Any = None, dtype: Any = None,
                 device: Any = None, requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    """Random integers in [``low``, ``high``) with ``input``'s shape (and dtype and device unless given);
    ``randint_like(input, high)`` draws from [0, ``high``).

    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.randint_like(tapegrad.zeros(4, dtype=tapegrad.int64), 10)
    tensor([4, 9, 3, 0])
    """
    given = (input, low) if high is None else (input, low, high)
    if high is None:
        low, high = 0, low
    low = _as_int(low, "randint_like", given, _RANDINT_LIKE_SIGNATURES)
    high = _as_int(high, "randint_like", given, _RANDINT_LIKE_SIGNATURES)
    shape, dtype, device = creation._like(input, dtype, device)
    place = creation._check_device(device)
    # As PyTorch: an empty tensor like ``input``, filled by ``random_(low, high)``.
    target = creation.empty(shape, dtype=dtype, device="cpu")
    sample = _random_from_to(target, creation._generator(generator, place), low, high)
    data = np.asarray(sample).astype(target._data.dtype, copy=False).reshape(shape)
    return creation._finish(data, requires_grad, place)


METHODS: dict[str, Any] = {
    "bernoulli": bernoulli,
    "bernoulli_": bernoulli_,
    "multinomial": multinomial,
    "random_": random_,
    "cauchy_": cauchy_,
    "log_normal_": log_normal_,
    "geometric_": geometric_,
}
