"""The distributions: ``Normal``, ``Uniform``, ``Bernoulli`` and ``Categorical``, with PyTorch's
parameterizations, formulas and random streams (their samples are drawn with the same calls
PyTorch's make, so a seed gives PyTorch's numbers)."""
from __future__ import annotations

import math
from numbers import Number
from typing import Any

from .. import creation
from ..autograd import grad_mode
from ..ops import elementwise as ew
from ..ops.combine import broadcast_tensors
from ..ops.sampling import bernoulli, multinomial
from ..tensor import Size, Tensor
from . import constraints
from .distribution import Distribution, lazy_property

__all__: list[str] = ["Bernoulli", "Categorical", "Normal", "Uniform"]


def _as_tensors(*values: Any) -> tuple[Tensor, ...]:
    """Parameters as tensors of one broadcast shape; numbers take the default dtype (or the
    tensors' dtype when there are tensors), as PyTorch's ``broadcast_all``."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    tensors = [v if isinstance(v, Tensor) else
               creation.tensor(float(v), dtype=None if like is None else like.dtype,
                               device=None if like is None else like.device)
               for v in values]
    for v in values:
        if not isinstance(v, (Tensor, Number)):
            raise ValueError("Input arguments must all be instances of numbers.Number, torch.Tensor or objects "
                             "implementing __torch_function__.")
    return tuple(broadcast_tensors(*tensors))


def _standard_normal(shape: Size, like: Tensor) -> Tensor:
    return creation.empty(shape, dtype=like.dtype, device=like.device).normal_()


class Normal(Distribution):
    """Normal distributions with means ``loc`` and standard deviations ``scale``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = _as_tensors(loc, scale)
        batch = Size() if isinstance(loc, Number) and isinstance(scale, Number) else self.loc.size()
        super().__init__(batch, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    def sample(self, sample_shape: Any = Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with grad_mode.no_grad():
            return creation.normal(self.loc.expand(shape), self.scale.expand(shape))

    def rsample(self, sample_shape: Any = Size()) -> Tensor:
        eps = _standard_normal(self._extended_shape(sample_shape), self.loc)
        return self.loc + eps * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        variance = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * variance) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ew.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc + self.scale * ew.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()


class Uniform(Distribution):
    """Uniform distributions on the half-open intervals ``[low, high)``."""

    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low: Any, high: Any, validate_args: bool | None = None) -> None:
        self.low, self.high = _as_tensors(low, high)
        batch = Size() if isinstance(low, Number) and isinstance(high, Number) else self.low.size()
        super().__init__(batch, validate_args=validate_args)
        if self._validate_args and not bool((self.low < self.high).all().item()):
            raise ValueError(f"Expected parameter low ({type(self.low).__name__} of shape {tuple(self.low.shape)}) "
                             f"of distribution {self!r} to satisfy the constraint "
                             f"LessThan(upper_bound={self._shown(self.high)}), but found invalid values:\n"
                             f"{self._shown(self.low)}")

    @staticmethod
    def _shown(t: Tensor) -> Any:
        return t.item() if t.numel() == 1 else t

    def __repr__(self) -> str:
        return (f"Uniform(low: {self._shown(self.low) if self.low.numel() == 1 else self.low.size()}, "
                f"high: {self._shown(self.high) if self.high.numel() == 1 else self.high.size()})")

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.interval(self._shown(self.low), self._shown(self.high))

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return float("nan") * self.high

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape: Any = Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        rand = creation.rand(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + rand * (self.high - self.low)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        lb = self.low.le(value).type_as(self.low)
        ub = self.high.gt(value).type_as(self.low)
        return (lb * ub).log() - (self.high - self.low).log()

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value: Tensor) -> Tensor:
        return value * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()


def _probs_to_logits(probs: Tensor, is_binary: bool) -> Tensor:
    eps = float(_finfo_eps(probs))
    clamped = probs.clamp(min=eps, max=1 - eps)
    return clamped.log() - (-clamped).log1p() if is_binary else clamped.log()


def _finfo_eps(t: Tensor) -> float:
    return 1.1920928955078125e-07 if t.dtype.itemsize == 4 else 2.220446049250313e-16


class Bernoulli(Distribution):
    """Bernoulli distributions, given the probabilities of 1 (``probs``) or their log-odds
    (``logits``)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        given = probs if probs is not None else logits
        (value,) = _as_tensors(given)
        if probs is not None:
            self.probs = value
        else:
            self.logits = value
        batch = Size() if isinstance(given, Number) else value.size()
        super().__init__(batch, validate_args=validate_args)

    # The parameter not given is derived from the other when first asked for.
    @lazy_property
    def probs(self) -> Tensor:
        return ew.sigmoid(self.logits)

    @lazy_property
    def logits(self) -> Tensor:
        return _probs_to_logits(self.probs, is_binary=True)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return mode.masked_fill(self.probs == 0.5, float("nan"))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = Size()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with grad_mode.no_grad():
            return bernoulli(self.probs.expand(shape))

    def log_prob(self, value: Tensor) -> Tensor:
        from ..nn import functional as F

        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_tensors(self.logits, value)
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        from ..nn import functional as F

        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = creation.arange(2, dtype=self.probs.dtype, device=self.probs.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values


class Categorical(Distribution):
    """Distributions over ``0 .. K-1`` given unnormalized probabilities ``probs`` or logits
    (the last dim indexes the categories)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = given = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = given = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._num_events = given.size()[-1]
        super().__init__(given.size()[:-1], validate_args=validate_args)

    @lazy_property
    def probs(self) -> Tensor:
        from ..ops.composite import softmax

        return softmax(self.logits, -1)

    @lazy_property
    def logits(self) -> Tensor:
        return _probs_to_logits(self.probs, is_binary=False)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self) -> Size:
        return (self.__dict__["probs"] if "probs" in self.__dict__ else self.__dict__["logits"]).size()

    @property
    def mean(self) -> Tensor:
        return creation.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return creation.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape: Any = Size()) -> Tensor:
        shape = Size(tuple(sample_shape))
        count = 1
        for s in shape:
            count *= s
        with grad_mode.no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            samples_2d = multinomial(probs_2d, count, True).T
            return samples_2d.reshape(self._extended_shape(shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=-3.4028234663852886e38 if self.logits.dtype.itemsize == 4
                                   else -1.7976931348623157e308)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = creation.arange(self._num_events, dtype=creation.tensor(0).dtype, device=self.probs.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values
