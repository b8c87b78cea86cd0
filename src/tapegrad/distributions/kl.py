"""``kl_divergence(p, q)``: the KL divergence of two distributions, by the formula registered
for their pair of types (``register_kl``), as in PyTorch."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..tensor import Tensor
from .distribution import Distribution
from .families import Bernoulli, Categorical, Normal, Uniform

__all__: list[str] = ["kl_divergence", "register_kl"]

_KL: dict[tuple[type, type], Callable[[Any, Any], Tensor]] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[Callable[[Any, Any], Tensor]], Callable[[Any, Any], Tensor]]:
    """Decorator registering ``fn(p, q)`` as the KL divergence of ``type_p`` from ``type_q``."""
    if not (isinstance(type_p, type) and issubclass(type_p, Distribution)):
        raise TypeError(f"Expected type_p to be a Distribution subclass but got {type_p}")
    if not (isinstance(type_q, type) and issubclass(type_q, Distribution)):
        raise TypeError(f"Expected type_q to be a Distribution subclass but got {type_q}")

    def decorator(fn: Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
        _KL[type_p, type_q] = fn
        return fn

    return decorator


def _lookup(type_p: type, type_q: type) -> Callable[[Any, Any], Tensor] | None:
    """The registered pair most specific to ``(type_p, type_q)``: nearest in both MROs."""
    best, rank = None, None
    for (p, q), fn in _KL.items():
        if issubclass(type_p, p) and issubclass(type_q, q):
            here = (type_p.__mro__.index(p), type_q.__mro__.index(q))
            if rank is None or here < rank:
                best, rank = fn, here
    return best


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q), one value per element of the batch shape.

    >>> p, q = tapegrad.distributions.Normal(0.0, 1.0), tapegrad.distributions.Normal(1.0, 2.0)
    >>> tapegrad.distributions.kl_divergence(p, q)
    tensor(0.4431)
    """
    fn = _lookup(type(p), type(q))
    if fn is None:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                                  f"{type(q).__name__}")
    return fn(p, q)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    from ..nn import functional as F

    # Written with softplus of the logits, so probabilities near 0 and 1 stay accurate; where a
    # probability is exactly 0 or 1 the term is inf (q cannot make what p makes) or 0.
    t1 = p.probs * (F.softplus(-q.logits) - F.softplus(-p.logits))
    t1 = t1.masked_fill(q.probs == 0, float("inf")).masked_fill(p.probs == 0, 0.0)
    t2 = (1 - p.probs) * (F.softplus(q.logits) - F.softplus(p.logits))
    t2 = t2.masked_fill(q.probs == 1, float("inf")).masked_fill(p.probs == 1, 0.0)
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    t = t.masked_fill((q.probs == 0).expand_as(t), float("inf")).masked_fill((p.probs == 0).expand_as(t), 0.0)
    return t.sum(-1)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return result.masked_fill((q.low > p.low) | (q.high < p.high), float("inf"))
