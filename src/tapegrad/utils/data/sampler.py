"""Samplers: the index orders a ``DataLoader`` reads a map-style dataset in.

The random samplers draw from the same generator calls, in the same order, as
``torch.utils.data``'s, so after ``tapegrad.manual_seed(s)`` (or with a generator seeded
like PyTorch's) they give PyTorch's order index for index. Bad arguments raise
PyTorch's exception types and messages.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

from ... import random as _random
from ...creation import randint, randperm
from ...random import Generator

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]

T_co = TypeVar("T_co", covariant=True)

# Draws are taken in chunks of this size when sampling with replacement, as PyTorch
# does; a different chunking would use the same engine outputs but is kept identical so
# that the order of calls, and so any later numbers, match too.
_REPLACEMENT_CHUNK = 32


def _resolve(generator: Generator | None) -> Generator:
    return _random.default_generator if generator is None else generator


def _random_int64(generator: Generator | None = None) -> int:
    """``torch.empty((), dtype=torch.int64).random_(generator=generator).item()``.

    PyTorch's ``random_()`` on int64 takes one 64-bit draw (two engine outputs, high
    word first) and reduces it modulo ``2**63``; samplers use it to seed a fresh
    generator, and ``DataLoader`` iterators to make a base seed.
    """
    high, low = (int(word) for word in _resolve(generator).random_bits(2))
    return ((high << 32) | low) % (1 << 63)


class Sampler(Generic[T_co]):
    """Base class of samplers: an iterable of dataset indices (or of lists of them).

    Subclasses implement ``__iter__`` and usually ``__len__``. There is deliberately no
    default ``__len__``: ``len()`` on a sampler without one raises ``TypeError``, as
    Python does for any object lacking it, which lets ``list()`` fall back to iteration.

    >>> class Evens(Sampler[int]):
    ...     def __init__(self, n: int) -> None:
    ...         self.n = n
    ...     def __iter__(self):
    ...         return iter(range(0, self.n, 2))
    >>> list(Evens(5))
    [0, 2, 4]
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """Indices ``0, 1, ..., len(data_source) - 1``, always in that order.

    >>> list(SequentialSampler(range(4)))
    [0, 1, 2, 3]
    """

    data_source: Sized

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random indices: a permutation, or ``num_samples`` draws with ``replacement``.

    Without a ``generator`` each pass draws a seed from the default generator and
    permutes with a fresh generator seeded with it, exactly as PyTorch does, so a pass
    gives PyTorch's order after the same ``manual_seed``. With a ``generator`` that
    generator is used directly.

    >>> import tapegrad
    >>> g = tapegrad.Generator().manual_seed(0)
    >>> list(RandomSampler(range(5), generator=g))
    [4, 0, 1, 3, 2]
    """

    data_source: Sized
    replacement: bool

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        # Read on every pass: the dataset may grow or shrink between epochs.
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if self.generator is None:
            generator = Generator(seed=_random_int64())
        else:
            generator = self.generator
        if self.replacement:
            for _ in range(self.num_samples // _REPLACEMENT_CHUNK):
                yield from randint(n, (_REPLACEMENT_CHUNK,), generator=generator).tolist()
            yield from randint(n, (self.num_samples % _REPLACEMENT_CHUNK,), generator=generator).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from randperm(n, generator=generator).tolist()
            yield from randperm(n, generator=generator).tolist()[:self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order (a new permutation every pass).

    >>> import tapegrad
    >>> g = tapegrad.Generator().manual_seed(0)
    >>> sorted(SubsetRandomSampler([10, 20, 30], generator=g))
    [10, 20, 30]
    """

    indices: Sequence[int]

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices in ``[0, len(weights))``, index ``i`` drawn with probability
    proportional to ``weights[i]`` (with or without replacement): one ``multinomial`` draw per
    pass, as PyTorch's, so the same seed gives PyTorch's indices.

    >>> import tapegrad
    >>> g = tapegrad.Generator().manual_seed(0)
    >>> sorted(WeightedRandomSampler([0.0, 1.0, 1.0], 2, replacement=False, generator=g))
    [1, 2]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        from ...creation import as_tensor
        from ...dtypes import float64

        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        weights_tensor = as_tensor(weights, dtype=float64)
        if weights_tensor.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(weights_tensor.shape)}")
        self.weights = weights_tensor
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        from ...ops.sampling import multinomial

        drawn = multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator)
        yield from iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size``.

    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=True))
    [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool) -> None:
        # No isinstance check on ``sampler``: anything iterable (including objects that
        # only define ``__getitem__``) is accepted, as in PyTorch.
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        sampler_iter = iter(self.sampler)
        if self.drop_last:
            # ``zip`` over one shared iterator stops at the first incomplete batch.
            for batch in zip(*[sampler_iter] * self.batch_size):
                yield [*batch]
        else:
            batch = [*itertools.islice(sampler_iter, self.batch_size)]
            while batch:
                yield batch
                batch = [*itertools.islice(sampler_iter, self.batch_size)]

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size  # type: ignore[arg-type]
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size  # type: ignore[arg-type]
