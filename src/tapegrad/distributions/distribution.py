"""``Distribution``: the shapes, the checks of parameters and values, and the sampling plumbing
every distribution shares (PyTorch's ``torch.distributions.Distribution``)."""
from __future__ import annotations

from typing import Any

from ..autograd import grad_mode
from ..tensor import Size, Tensor
from . import constraints

__all__: list[str] = ["Distribution", "lazy_property"]


class lazy_property:  # noqa: N801 - named as PyTorch's
    """A parameter derived from another when first read, then kept on the instance (which
    also lets ``__init__`` set it directly: an instance value wins over this descriptor)."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


class Distribution:
    """Batch of distributions of one family: ``batch_shape`` independent ones, each over events
    of ``event_shape``. With ``validate_args`` (the default, as PyTorch's under ``__debug__``),
    parameters are checked on construction and values given to ``log_prob`` against the
    support."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__
    arg_constraints: dict[str, constraints.Constraint] = {}
    support: constraints.Constraint | None = None

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape: Any = (), event_shape: Any = (), validate_args: bool | None = None) -> None:
        self._batch_shape = Size(tuple(batch_shape))
        self._event_shape = Size(tuple(event_shape))
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if constraint is constraints.dependent or name not in self.__dict__ and \
                        isinstance(getattr(type(self), name, None), lazy_property):
                    continue  # a parameter derived from the one given (probs from logits, say)
                value = getattr(self, name)
                valid = constraint.check(value)
                if not bool(valid.all().item()):
                    raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape "
                                     f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                     f"{constraint!r}, but found invalid values:\n{value}")

    # ------------------------------------------------------------ shapes
    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def _extended_shape(self, sample_shape: Any = ()) -> Size:
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    # ------------------------------------------------------------ sampling
    def sample(self, sample_shape: Any = Size()) -> Tensor:
        """A sample of shape ``sample_shape + batch_shape + event_shape``, not differentiable."""
        with grad_mode.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = Size()) -> Tensor:
        raise NotImplementedError

    def sample_n(self, n: int) -> Tensor:
        return self.sample(Size((n,)))

    # ------------------------------------------------------------ statistics
    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self)} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    # ------------------------------------------------------------ checks
    def _validate_sample(self, value: Tensor) -> None:
        """``value`` must be a tensor whose shape broadcasts with the batch and event shapes and
        whose values lie in the support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = len(value.shape) - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: {tuple(value.shape)} vs "
                             f"{tuple(self._event_shape)}.")
        actual = tuple(value.shape[:event_dim_start])
        expected = tuple(self._batch_shape)
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {tuple(value.shape)} vs "
                                 f"{self._extended_shape()}.")
        assert self.support is not None
        if not bool(self.support.check(value).all().item()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be "
                             f"within the support ({self.support!r}) of the distribution {self!r}, but found "
                             f"invalid values:\n{value}")

    def __repr__(self) -> str:
        values = [(k, self.__dict__[k]) for k in self.arg_constraints if k in self.__dict__]
        shown = ", ".join(f"{k}: {v.item() if v.numel() == 1 else v.size()}" for k, v in values)
        return f"{type(self).__name__}({shown})"
