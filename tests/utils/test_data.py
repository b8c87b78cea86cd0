"""Tests for tapegrad.utils.data: datasets, samplers, collation and DataLoader.

Orders drawn from random state are compared with torch.utils.data for the same seeds,
including the random numbers drawn after a pass (so the draws consumed match too).
"""
from __future__ import annotations

import collections
import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

try:
    import torch
    import torch.utils.data as tdata
except ImportError:  # the comparisons below are skipped
    torch = None
    tdata = None



def compares_with_torch(test: Any) -> Any:
    """Mark a test that compares with PyTorch; it is skipped where torch is not installed."""
    return pytest.mark.torch(pytest.mark.skipif(torch is None, reason="torch is not installed")(test))


SEEDS = [0, 1, 7, 42, 1234, 2**32 + 5]

Point = collections.namedtuple("Point", ["x", "y"])


# --------------------------------------------------------------------------- helpers

def _dataset(n: int = 10) -> TensorDataset:
    return TensorDataset(tapegrad.arange(float(2 * n)).reshape(n, 2), tapegrad.arange(n))


def _torch_dataset(n: int = 10) -> Any:
    return tdata.TensorDataset(torch.arange(float(2 * n)).reshape(n, 2), torch.arange(n))


def _plain(value: Any) -> Any:
    """A structure of tensors (either library) as comparable Python values with dtype names."""
    if isinstance(value, tapegrad.Tensor):
        return ("tensor", value.dtype.name, list(value.shape), value.tolist())
    if torch is not None and isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype).replace("torch.", ""), list(value.shape), value.tolist())
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, [_plain(v) for v in value])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_plain(v) for v in value])
    if isinstance(value, dict):
        return (type(value).__name__, [(k, _plain(v)) for k, v in value.items()])
    return value


def _next_numbers() -> tuple[list[float], list[float]]:
    """The next few uniform numbers of both default generators (to check draws consumed)."""
    return tapegrad.rand(4).tolist(), torch.rand(4).tolist()


# --------------------------------------------------------------------------- datasets

def test_tensor_dataset_indexing_and_length() -> None:
    data = _dataset(5)
    assert len(data) == 5
    x, y = data[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3
    x, y = data[1:3]
    assert x.shape == (2, 2) and y.tolist() == [1, 2]


def test_tensor_dataset_size_mismatch() -> None:
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(tapegrad.zeros(3, 2), tapegrad.zeros(4))


def test_dataset_base_class() -> None:
    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        Dataset()[0]
    assert not hasattr(Dataset(), "__len__")


def test_subset_and_getitems() -> None:
    data = _dataset(6)
    subset = Subset(data, [4, 0, 2])
    assert len(subset) == 3
    assert subset[0][1].item() == 4
    assert [y.item() for _, y in subset.__getitems__([2, 1])] == [2, 0]
    nested = Subset(subset, [2, 0])
    assert [y.item() for _, y in nested.__getitems__([0, 1])] == [2, 4]


def test_subset_subclass_must_override_getitems() -> None:
    class Doubled(Subset):
        def __getitem__(self, idx: Any) -> Any:
            return 2 * super().__getitem__(idx)

    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        Doubled([1, 2, 3], [0])


def test_concat_dataset() -> None:
    data = ConcatDataset([[1, 2], [3, 4, 5], [6]])
    assert len(data) == 6
    assert [data[i] for i in range(6)] == [1, 2, 3, 4, 5, 6]
    assert data[-1] == 6 and data[-6] == 1
    assert data.cumulative_sizes == [2, 5, 6]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        data[-7]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])


class _Range(IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Any:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


def test_concat_and_chain_of_iterable_datasets() -> None:
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([_Range(2)])
    chained = _Range(2) + _Range(3)
    assert isinstance(chained, ChainDataset)
    assert list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([[1, 2]]))


def test_dataset_add_concatenates() -> None:
    combined = _dataset(3) + _dataset(2)
    assert isinstance(combined, ConcatDataset) and len(combined) == 5


def test_stack_dataset() -> None:
    assert StackDataset([1, 2], "ab")[1] == (2, "b")
    assert StackDataset(x=[1, 2], y="ab")[0] == {"x": 1, "y": "a"}
    assert len(StackDataset([1, 2], [3, 4])) == 2
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset([1, 2], [3])
    with pytest.raises(ValueError, match="At least one dataset should be passed"):
        StackDataset()
    with pytest.raises(ValueError, match="both types are given"):
        StackDataset([1], x=[2])


# --------------------------------------------------------------------------- random_split

def test_random_split_lengths_and_disjointness() -> None:
    parts = random_split(range(10), [3, 7], generator=tapegrad.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))


@pytest.mark.parametrize("fractions, expected", [
    ([0.3, 0.3, 0.4], [3, 3, 4]),
    ([0.5, 0.5], [5, 5]),
    ([0.33, 0.33, 0.34], [4, 3, 3]),
    ([1 / 3, 1 / 3, 1 / 3], [4, 3, 3]),
    ([0.05, 0.95], [1, 9]),
])
def test_random_split_fraction_rounding(fractions: list[float], expected: list[int]) -> None:
    parts = random_split(range(10), fractions, generator=tapegrad.Generator().manual_seed(1))
    assert [len(p) for p in parts] == expected


def test_random_split_errors_and_warning() -> None:
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(range(10), [3, 4])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.5, -1.0])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        parts = random_split(range(3), [0.99, 0.01])
    assert [len(p) for p in parts] == [3, 0]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lengths", [[3, 7], [0.25, 0.25, 0.5], [1 / 3, 1 / 3, 1 / 3], [10, 0]])
@pytest.mark.parametrize("with_generator", [True, False])
@compares_with_torch
def test_random_split_matches_torch(seed: int, lengths: list, with_generator: bool) -> None:
    if with_generator:
        ours = random_split(range(10), lengths, generator=tapegrad.Generator().manual_seed(seed))
        theirs = tdata.random_split(range(10), lengths, generator=torch.Generator().manual_seed(seed))
    else:
        tapegrad.manual_seed(seed)
        torch.manual_seed(seed)
        ours = random_split(range(10), lengths)
        theirs = tdata.random_split(range(10), lengths)
        ours_next, theirs_next = _next_numbers()
        assert ours_next == theirs_next
    assert [list(p.indices) for p in ours] == [list(p.indices) for p in theirs]


# --------------------------------------------------------------------------- samplers

def test_sequential_sampler() -> None:
    sampler = SequentialSampler(range(4))
    assert list(sampler) == [0, 1, 2, 3] and len(sampler) == 4


def test_sampler_base() -> None:
    with pytest.raises(NotImplementedError):
        iter(Sampler())
    with pytest.raises(TypeError):
        len(Sampler())


def test_random_sampler_is_a_permutation_and_reshuffles() -> None:
    tapegrad.manual_seed(0)
    sampler = RandomSampler(range(20))
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second
    assert len(sampler) == 20


def test_random_sampler_num_samples() -> None:
    g = tapegrad.Generator().manual_seed(3)
    sampler = RandomSampler(range(5), num_samples=12, generator=g)
    drawn = list(sampler)
    assert len(drawn) == len(sampler) == 12
    assert sorted(drawn[:10]) == sorted(list(range(5)) * 2)
    with_replacement = list(RandomSampler(range(5), replacement=True, num_samples=100, generator=g))
    assert len(with_replacement) == 100 and set(with_replacement) <= set(range(5))


def test_random_sampler_errors() -> None:
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler([])
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n, replacement, num_samples", [
    (10, False, None), (1, False, None), (7, False, 17), (7, False, 3), (100, False, None),
    (10, True, None), (5, True, 70), (300, True, 31), (1000, True, 64),
])
@pytest.mark.parametrize("with_generator", [True, False])
@compares_with_torch
def test_random_sampler_matches_torch(seed: int, n: int, replacement: bool, num_samples: int | None,
                                      with_generator: bool) -> None:
    tapegrad.manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    ours_gen = tapegrad.Generator().manual_seed(seed) if with_generator else None
    theirs_gen = torch.Generator().manual_seed(seed) if with_generator else None
    ours = RandomSampler(range(n), replacement, num_samples, generator=ours_gen)
    theirs = tdata.RandomSampler(range(n), replacement, num_samples, generator=theirs_gen)
    for _ in range(3):  # several epochs: each draws anew
        assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)
    ours_next, theirs_next = _next_numbers()
    assert ours_next == theirs_next


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("with_generator", [True, False])
@compares_with_torch
def test_subset_random_sampler_matches_torch(seed: int, with_generator: bool) -> None:
    tapegrad.manual_seed(seed)
    torch.manual_seed(seed)
    indices = [10, 11, 15, 20, 3, 8, 9]
    ours = SubsetRandomSampler(indices, generator=tapegrad.Generator().manual_seed(seed) if with_generator else None)
    theirs = tdata.SubsetRandomSampler(indices,
                                       generator=torch.Generator().manual_seed(seed) if with_generator else None)
    assert [list(ours) for _ in range(3)] == [list(theirs) for _ in range(3)]
    assert len(ours) == 7


def test_batch_sampler() -> None:
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3
    assert len(BatchSampler(range(7), 3, True)) == 2
    assert list(BatchSampler(range(6), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=True"):
        BatchSampler(range(3), True, False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=0"):
        BatchSampler(range(3), 2, 0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- collation

def test_default_collate_types() -> None:
    ints = default_collate([1, 2, 3])
    assert ints.dtype == tapegrad.int64 and ints.tolist() == [1, 2, 3]
    floats = default_collate([0.5, 1.5])
    assert floats.dtype == tapegrad.float64
    bools = default_collate([True, False])
    assert bools.dtype == tapegrad.bool
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([b"a", b"b"]) == [b"a", b"b"]
    stacked = default_collate([tapegrad.zeros(2, 3), tapegrad.ones(2, 3)])
    assert stacked.shape == (2, 2, 3) and stacked.dtype == tapegrad.float32
    arrays = default_collate([np.zeros(3, np.float64), np.ones(3, np.float64)])
    assert arrays.dtype == tapegrad.float64 and arrays.shape == (2, 3)
    scalars = default_collate([np.float64(1.5), np.float64(2.5)])
    assert scalars.dtype == tapegrad.float64 and scalars.tolist() == [1.5, 2.5]
    assert default_collate([np.float32(1.5), np.float32(2.5)]).dtype == tapegrad.float32
    assert default_collate([np.int32(1), np.int32(2)]).dtype == tapegrad.int32


def test_default_collate_containers() -> None:
    batch = default_collate([{"x": tapegrad.zeros(2), "label": 1, "name": "a"},
                             {"x": tapegrad.ones(2), "label": 0, "name": "b"}])
    assert list(batch) == ["x", "label", "name"]
    assert batch["x"].shape == (2, 2) and batch["label"].tolist() == [1, 0] and batch["name"] == ["a", "b"]
    points = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(points, Point) and points.x.tolist() == [1, 3] and points.y.dtype == tapegrad.float64
    pairs = default_collate([(1, 2), (3, 4)])
    assert isinstance(pairs, list) and [p.tolist() for p in pairs] == [[1, 3], [2, 4]]
    ordered = default_collate([collections.OrderedDict(b=1, a=2)] * 2)
    assert isinstance(ordered, collections.OrderedDict) and list(ordered) == ["b", "a"]


def test_default_collate_errors() -> None:
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, "
                                        "dicts or lists; found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_collate_keeps_gradients() -> None:
    a = tapegrad.ones(2, requires_grad=True)
    batch = default_collate([a, a * 2])
    batch.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


def test_default_convert() -> None:
    converted = default_convert({"a": np.arange(3), "b": [np.float32(1.0), "s"], "c": (np.zeros(2),)})
    assert converted["a"].dtype == tapegrad.int64 and converted["a"].tolist() == [0, 1, 2]
    assert converted["b"][0].dtype == tapegrad.float32 and converted["b"][1] == "s"
    assert isinstance(converted["c"], list) and converted["c"][0].dtype == tapegrad.float64
    assert default_convert(3) == 3
    strings = np.array(["x"])
    assert default_convert(strings) is strings


COLLATE_BATCHES = [
    lambda lib: [1, 2, 3],
    lambda lib: [0.5, 2.0],
    lambda lib: [True, False],
    lambda lib: ["a", "b"],
    lambda lib: [lib.zeros(2, 3), lib.ones(2, 3)],
    lambda lib: [lib.tensor([1, 2]), lib.tensor([3, 4])],
    lambda lib: [np.arange(3, dtype=np.float32), np.arange(3, dtype=np.float32)],
    lambda lib: [np.arange(3), np.arange(3)],
    lambda lib: [np.float64(1.0), np.float64(2.0)],
    lambda lib: [np.int32(1), np.int32(2)],
    lambda lib: [np.bool_(True), np.bool_(False)],
    lambda lib: [{"x": 1.0, "y": [1, 2], "z": "q"}, {"x": 2.0, "y": [3, 4], "z": "r"}],
    lambda lib: [(lib.zeros(2), 1), (lib.ones(2), 0)],
    lambda lib: [Point(1, "a"), Point(2, "b")],
    lambda lib: [[np.zeros(2), (1.5, 2)], [np.ones(2), (2.5, 3)]],
]


@pytest.mark.parametrize("make_batch", COLLATE_BATCHES)
@compares_with_torch
def test_default_collate_matches_torch(make_batch: Any) -> None:
    assert _plain(default_collate(make_batch(tapegrad))) == _plain(tdata.default_collate(make_batch(torch)))


# --------------------------------------------------------------------------- DataLoader

def test_dataloader_batches_in_order() -> None:
    loader = DataLoader(_dataset(5), batch_size=2)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert isinstance(batches[0], list)
    assert [y.tolist() for _, y in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0][0].shape == (2, 2) and batches[2][0].shape == (1, 2)


def test_dataloader_drop_last_and_len() -> None:
    loader = DataLoader(_dataset(5), batch_size=2, drop_last=True)
    assert len(loader) == 2 and len(list(loader)) == 2
    assert len(DataLoader(_dataset(5))) == 5


def test_dataloader_shuffle_covers_everything_each_epoch() -> None:
    tapegrad.manual_seed(0)
    loader = DataLoader(_dataset(10), batch_size=3, shuffle=True)
    epochs = [[int(i) for _, y in loader for i in y.tolist()] for _ in range(2)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)
    assert epochs[0] != epochs[1]


def test_dataloader_without_automatic_batching() -> None:
    loader = DataLoader(_dataset(3), batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and len(items) == 3
    x, y = items[1]  # default_convert turns the sample tuple into a list
    assert x.shape == (2,) and y.item() == 1
    arrays = list(DataLoader([np.arange(2), np.arange(2)], batch_size=None))
    assert isinstance(arrays[0], tapegrad.Tensor)


def test_dataloader_batch_sampler_and_sampler() -> None:
    loader = DataLoader(_dataset(6), batch_sampler=[[5, 0], [1, 2, 3]])
    assert [y.tolist() for _, y in loader] == [[5, 0], [1, 2, 3]]
    assert len(loader) == 2 and loader.batch_size is None
    loader = DataLoader(_dataset(6), sampler=[5, 4, 3], batch_size=2)
    assert [y.tolist() for _, y in loader] == [[5, 4], [3]]


def test_dataloader_collate_fn_and_getitems() -> None:
    class Batched(Dataset):
        def __init__(self) -> None:
            self.calls: list[list[int]] = []

        def __len__(self) -> int:
            return 4

        def __getitem__(self, index: int) -> int:
            raise AssertionError("a batch should be fetched with __getitems__")

        def __getitems__(self, indices: list[int]) -> list[int]:
            self.calls.append(indices)
            return [10 * i for i in indices]

    data = Batched()
    assert list(DataLoader(data, batch_size=3, collate_fn=sum)) == [30, 30]
    assert data.calls == [[0, 1, 2], [3]]


def test_dataloader_iterable_dataset() -> None:
    loader = DataLoader(_Range(5), batch_size=2)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]
    assert len(loader) == 3
    loader = DataLoader(_Range(5), batch_size=2, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3]] and len(loader) == 2
    assert list(DataLoader(_Range(3), batch_size=None)) == [0, 1, 2]


def test_dataloader_iterable_dataset_warns_when_longer_than_reported() -> None:
    class Liar(_Range):
        def __len__(self) -> int:
            return 2

    loader = DataLoader(Liar(3), batch_size=None)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        assert list(loader) == [0, 1, 2]


def test_dataloader_num_workers_load_in_process() -> None:
    assert get_worker_info() is None
    calls: list[int] = []
    loader = DataLoader(_dataset(5), batch_size=2, num_workers=2, worker_init_fn=calls.append,
                        prefetch_factor=4, persistent_workers=True, multiprocessing_context="spawn")
    assert loader.prefetch_factor == 4
    assert [y.tolist() for _, y in loader] == [[0, 1], [2, 3], [4]]
    assert [y.tolist() for _, y in loader] == [[0, 1], [2, 3], [4]]
    assert DataLoader(_dataset(2), num_workers=1).prefetch_factor == 2


def test_dataloader_pin_memory_warns() -> None:
    with pytest.warns(UserWarning, match="no accelerator is found"):
        list(DataLoader(_dataset(2), pin_memory=True))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
    ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, ValueError, "prefetch_factor option could only be specified in multiprocessing"),
    ({"num_workers": 1, "prefetch_factor": -1}, ValueError, "prefetch_factor option should be non-negative"),
    ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers > 0"),
    ({"sampler": [0, 1], "shuffle": True}, ValueError, "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"),
    ({"batch_sampler": [[0]], "shuffle": True}, ValueError, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "sampler": [0]}, ValueError, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    ({"batch_size": 0}, ValueError, "batch_size should be a positive integer value"),
    ({"multiprocessing_context": "spawn"}, ValueError,
     "multiprocessing_context can only be used with multi-process loading"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError, "should specify a valid start method"),
    ({"num_workers": 1, "multiprocessing_context": 3}, TypeError,
     "multiprocessing_context option should be a valid context object"),
])
def test_dataloader_argument_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as ours:
        DataLoader(_dataset(4), **kwargs)
    if torch is not None:  # the same exception and message as PyTorch
        with pytest.raises(error) as theirs:
            tdata.DataLoader(_torch_dataset(4), **kwargs)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"shuffle": True}, "DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle=True"),
    ({"sampler": [0]}, "DataLoader with IterableDataset: expected unspecified sampler option"),
    ({"batch_sampler": [[0]]}, "DataLoader with IterableDataset: expected unspecified batch_sampler option"),
])
def test_dataloader_iterable_dataset_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataLoader(_Range(3), **kwargs)


def test_dataloader_timeout_without_workers_is_rejected_like_torch() -> None:
    loader = DataLoader(_dataset(2), timeout=1)
    with pytest.raises(AssertionError, match="requires timeout == 0"):
        iter(loader)
    assert len(list(DataLoader(_dataset(2), timeout=1, num_workers=1))) == 2


def test_dataloader_attributes_are_frozen() -> None:
    loader = DataLoader(_dataset(4), batch_size=2)
    for name in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{name} attribute should not be set after DataLoader is initialized"):
            setattr(loader, name, None)
    loader.num_workers = 1  # not frozen, as in PyTorch
    assert loader.num_workers == 1


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("with_generator", [True, False])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (3, True), (None, False)])
@compares_with_torch
def test_dataloader_matches_torch(seed: int, with_generator: bool, shuffle: bool, batch_size: int | None,
                                  drop_last: bool) -> None:
    tapegrad.manual_seed(seed + 100)
    torch.manual_seed(seed + 100)
    ours = DataLoader(_dataset(11), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      generator=tapegrad.Generator().manual_seed(seed) if with_generator else None)
    theirs = tdata.DataLoader(_torch_dataset(11), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                              generator=torch.Generator().manual_seed(seed) if with_generator else None)
    assert len(ours) == len(theirs)
    for _ in range(2):  # two epochs
        assert [_plain(batch) for batch in ours] == [_plain(batch) for batch in theirs]
    # The default generator is left where PyTorch leaves it.
    ours_next, theirs_next = _next_numbers()
    assert ours_next == theirs_next


@pytest.mark.parametrize("seed", SEEDS)
@compares_with_torch
def test_dataloader_partial_epoch_and_iterable_match_torch(seed: int) -> None:

    class TorchRange(tdata.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(5))

    tapegrad.manual_seed(seed)
    torch.manual_seed(seed)
    # An abandoned pass, then a pass over an iterable dataset, then a full shuffled pass.
    next(iter(DataLoader(_dataset(6), shuffle=True, batch_size=2)))
    next(iter(tdata.DataLoader(_torch_dataset(6), shuffle=True, batch_size=2)))
    assert [b.tolist() for b in DataLoader(_Range(5), batch_size=2)] == \
        [b.tolist() for b in tdata.DataLoader(TorchRange(), batch_size=2)]
    ours = [y.tolist() for _, y in DataLoader(_dataset(6), shuffle=True, batch_size=4)]
    theirs = [y.tolist() for _, y in tdata.DataLoader(_torch_dataset(6), shuffle=True, batch_size=4)]
    assert ours == theirs
    ours_next, theirs_next = _next_numbers()
    assert ours_next == theirs_next


@compares_with_torch
def test_dataloader_collated_structures_match_torch() -> None:
    samples = [{"image": np.full((2, 2), i, np.float32), "label": i, "weight": 0.5 * i, "tag": f"s{i}"}
               for i in range(5)]
    ours = [_plain(batch) for batch in DataLoader(samples, batch_size=2)]
    theirs = [_plain(batch) for batch in tdata.DataLoader(samples, batch_size=2)]
    assert ours == theirs


def test_dataloader_warns_nothing_in_the_common_case() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(_dataset(4), batch_size=2, shuffle=True))


def test_weighted_random_sampler_draws_by_weight_and_validates() -> None:
    weights = [0.0, 1.0, 3.0, 0.0]
    tapegrad.manual_seed(0)
    drawn = list(tapegrad.utils.data.WeightedRandomSampler(weights, 4000))
    counts = np.bincount(drawn, minlength=4)
    assert counts[0] == counts[3] == 0 and 2.6 < counts[2] / counts[1] < 3.4
    without = list(tapegrad.utils.data.WeightedRandomSampler([1.0, 2.0, 3.0], 3, replacement=False))
    assert sorted(without) == [0, 1, 2]
    sampler = tapegrad.utils.data.WeightedRandomSampler(weights, 5)
    assert len(sampler) == 5 and sampler.weights.dtype is tapegrad.float64
    loader = tapegrad.utils.data.DataLoader(tapegrad.utils.data.TensorDataset(tapegrad.arange(4.0)), batch_size=5,
                                            sampler=sampler)
    (batch,) = next(iter(loader))
    assert set(batch.tolist()) <= {1.0, 2.0}
    for kwargs, message in [(dict(num_samples=0), "num_samples should be a positive integer value, but got "
                                                  "num_samples=0"),
                            (dict(num_samples=2, replacement=1), "replacement should be a boolean value"),
                            (dict(weights=[[1.0, 2.0]], num_samples=2), r"weights should be a 1d sequence but given "
                                                                        r"weights have shape \(1, 2\)")]:
        with pytest.raises(ValueError, match=message):
            tapegrad.utils.data.WeightedRandomSampler(**{"weights": weights, **kwargs})


def test_weighted_random_sampler_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    weights = np.random.default_rng(0).random(20).tolist()
    for lib in (tapegrad, torch):
        lib.manual_seed(3)
    ours = [list(tapegrad.utils.data.WeightedRandomSampler(weights, 30)),
            list(tapegrad.utils.data.WeightedRandomSampler(weights, 10, replacement=False))]
    theirs = [list(torch.utils.data.WeightedRandomSampler(weights, 30)),
              list(torch.utils.data.WeightedRandomSampler(weights, 10, replacement=False))]
    assert ours == theirs
