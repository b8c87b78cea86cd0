"""``tapegrad.utils.data``: datasets, samplers and ``DataLoader``, as in ``torch.utils.data``.

>>> import tapegrad
>>> from tapegrad.utils.data import DataLoader, TensorDataset
>>> data = TensorDataset(tapegrad.arange(8.0).reshape(4, 2), tapegrad.tensor([0, 1, 0, 1]))
>>> for x, y in DataLoader(data, batch_size=2):
...     print(x.shape, y.tolist())
tapegrad.Size([2, 2]) [0, 1]
tapegrad.Size([2, 2]) [0, 1]
"""
from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "TensorDataset",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
