"""``DataLoader``: batches from a dataset, in the order a sampler gives.

Loading always happens in the calling process. The datasets this library works with
hold their samples in memory, where reading a sample is an index into an array and
worker processes would only add the cost of sending every batch between processes.
``num_workers`` is accepted and validated as in PyTorch so that code written for
``torch.utils.data`` runs unchanged, but no worker is started.

Random state is consumed exactly as PyTorch's single-process loader consumes it: each
``iter(loader)`` takes one int64 draw (PyTorch's worker base seed) from ``generator``
(or the default generator), and a shuffling pass then draws from its sampler. So the
batches, and every random number drawn afterwards, match PyTorch after the same seed.
"""
from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from ...random import Generator
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    _random_int64,
)
from ...user_warnings import warn_user

__all__ = ["DataLoader", "get_worker_info"]

T_co = TypeVar("T_co", covariant=True)

# Attributes that decide the batches; changing them under a live loader would make
# ``len(loader)`` and running iterators disagree, so they are frozen after __init__.
_FROZEN_ATTRIBUTES = frozenset(("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                                "persistent_workers"))


def get_worker_info() -> None:
    """Information about the current loader worker: always ``None``, as no worker runs.

    Code written for PyTorch treats ``None`` as "single-process loading", which is what
    ``DataLoader`` does here.

    >>> get_worker_info() is None
    True
    """
    return


class _InfiniteConstantSampler(Sampler[None]):
    """``None`` forever: the sampler of an iterable dataset, which ignores indices."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class DataLoader(Generic[T_co]):
    """Iterate over ``dataset`` in batches, with ``torch.utils.data.DataLoader``'s arguments.

    ``shuffle=True`` reshuffles every pass in PyTorch's order for the same seed.
    ``batch_size=None`` turns automatic batching off (samples pass through
    ``default_convert``). Samples are read in the calling process whatever
    ``num_workers`` is (it must be ``>= 0``); ``worker_init_fn``, ``prefetch_factor``,
    ``persistent_workers`` and ``multiprocessing_context`` are validated like PyTorch's
    but have nothing to act on, ``timeout`` has nothing to wait for, and
    ``pin_memory=True`` warns that there is no accelerator, as PyTorch does on a
    CPU-only machine.

    >>> import tapegrad
    >>> from tapegrad.utils.data import TensorDataset
    >>> data = TensorDataset(tapegrad.arange(10.0).reshape(5, 2), tapegrad.arange(5))
    >>> loader = DataLoader(data, batch_size=2)
    >>> len(loader)
    3
    >>> [y.tolist() for x, y in loader]
    [[0, 1], [2, 3], [4]]
    """

    dataset: Dataset[T_co]
    batch_size: int | None
    num_workers: int
    pin_memory: bool
    drop_last: bool
    timeout: float
    sampler: Sampler[Any] | Iterable[Any]
    prefetch_factor: int | None
    _initialized: bool = False

    def __init__(self, dataset: Dataset[T_co], batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler[Any] | Iterable[Any] | None = None,
                 batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[Any], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None, multiprocessing_context: Any = None,
                 generator: Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        # Dataset-kind errors come before sampler errors, as in PyTorch, so that a user
        # learns first that an iterable dataset takes no sampler at all.
        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive "
                                 "with batch_size, shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching "
                             "and is mutually exclusive with drop_last")

        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
            else:
                sampler = SequentialSampler(dataset)  # type: ignore[arg-type]

        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator

        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._initialized = True
        self._iterable_len_called: int | None = None

    @property
    def multiprocessing_context(self) -> Any:
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, multiprocessing_context: Any) -> None:
        if multiprocessing_context is not None:
            if self.num_workers <= 0:
                raise ValueError("multiprocessing_context can only be used with "
                                 "multi-process loading (num_workers > 0), but got "
                                 f"num_workers={self.num_workers}")
            if isinstance(multiprocessing_context, str):
                valid_start_methods = multiprocessing.get_all_start_methods()
                if multiprocessing_context not in valid_start_methods:
                    raise ValueError("multiprocessing_context option "
                                     f"should specify a valid start method in {valid_start_methods!r}, but got "
                                     f"multiprocessing_context={multiprocessing_context!r}")
                multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
            if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
                raise TypeError("multiprocessing_context option should be a valid context "
                                "object or a string specifying the start method, but got "
                                f"multiprocessing_context={multiprocessing_context}")
        self._multiprocessing_context = multiprocessing_context

    def __setattr__(self, attr: str, value: Any) -> None:
        if self._initialized and attr in _FROZEN_ATTRIBUTES:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Sampler[Any] | Iterable[Any]:
        # What each step of an iterator reads: a batch of indices when batching
        # automatically, one index (or key) otherwise.
        return self.batch_sampler if self._auto_collation else self.sampler  # type: ignore[return-value]

    def __iter__(self) -> _DataLoaderIter:
        return _DataLoaderIter(self)

    def __len__(self) -> int:
        if self._is_iterable:
            # Trust the dataset's own length; the iterator warns if it yields more.
            length = len(self.dataset)  # type: ignore[arg-type]
            self._iterable_len_called = length
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)  # type: ignore[arg-type]


class _DataLoaderIter(Iterator[Any]):
    """One pass over a ``DataLoader``, reading samples in this process."""

    def __init__(self, loader: DataLoader[Any]) -> None:
        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._collate_fn = loader.collate_fn
        self._iterable_len_called = loader._iterable_len_called
        self._num_yielded = 0
        if loader.pin_memory:
            warn_user("'pin_memory' argument is set as true but no accelerator is found, "
                      "then device pinned memory won't be used.")
        # The sampler's iterator is created before the base seed is drawn, but a
        # generator-based sampler draws nothing until its first batch, so the draws
        # come in PyTorch's order: base seed now, shuffling seed at the first batch.
        self._sampler_iter = iter(self._index_sampler)
        self._base_seed = _random_int64(loader.generator)
        if loader.num_workers == 0 and loader.timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        self._dataset_iter = iter(self._dataset) if self._is_iterable else None  # type: ignore[call-overload]
        self._ended = False

    def __iter__(self) -> _DataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._index_sampler)  # type: ignore[arg-type]

    def _fetch_iterable(self, possibly_batched_index: Any) -> Any:
        if self._ended:
            raise StopIteration
        if not self._auto_collation:
            return self._collate_fn(next(self._dataset_iter))  # type: ignore[arg-type]
        data = []
        for _ in possibly_batched_index:
            try:
                data.append(next(self._dataset_iter))  # type: ignore[arg-type]
            except StopIteration:
                self._ended = True
                break
        if len(data) == 0 or (self._drop_last and len(data) < len(possibly_batched_index)):
            raise StopIteration
        return self._collate_fn(data)

    def _fetch_map(self, possibly_batched_index: Any) -> Any:
        if not self._auto_collation:
            return self._collate_fn(self._dataset[possibly_batched_index])
        getitems = getattr(self._dataset, "__getitems__", None)
        if getitems:
            data = getitems(possibly_batched_index)
        else:
            data = [self._dataset[index] for index in possibly_batched_index]
        return self._collate_fn(data)

    def __next__(self) -> Any:
        index = next(self._sampler_iter)
        data = self._fetch_iterable(index) if self._is_iterable else self._fetch_map(index)
        self._num_yielded += 1
        if (self._is_iterable and self._iterable_len_called is not None
                and self._num_yielded > self._iterable_len_called):
            warn_user(f"Length of IterableDataset {self._dataset} was reported to be "
                      f"{self._iterable_len_called}(when accessing len(dataloader)), but "
                      f"{self._num_yielded} samples have been fetched. ")
        return data
