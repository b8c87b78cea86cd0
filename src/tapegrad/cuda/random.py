"""The CUDA generator: the source of random CUDA tensors (``rand``, ``randn``, … with
``device="cuda"``).

It is a generator of its own, as PyTorch's CUDA generator is, so drawing CUDA tensors does not
move the CPU stream, and ``tapegrad.manual_seed`` seeds both. Its numbers are drawn on the host
by the CPU engine (the same numbers the CPU generator gives for the same seed) and copied to
the device; they differ from those of PyTorch's CUDA generator (Philox). Seeding needs no GPU
and makes no generator until one is used, as in PyTorch.
"""
from __future__ import annotations

from typing import Any

DEFAULT_SEED = 67280421310721

_generator: Any = None
_seed = DEFAULT_SEED


def default_generator() -> Any:
    """The CUDA generator (made on first use, from the last seed given)."""
    global _generator
    if _generator is None:
        from .. import random as _random
        from ..device import device

        generator = _random.Generator("cpu", seed=_seed)
        generator.device = device("cuda", 0)
        _generator = generator
    return _generator


def manual_seed(seed: int) -> None:
    global _seed
    _seed = int(seed)
    if _generator is not None:
        _generator.manual_seed(_seed)


manual_seed_all = manual_seed


def seed() -> None:
    from .. import random as _random

    manual_seed(_random._nondeterministic_seed())


seed_all = seed


def initial_seed() -> int:
    return _generator.initial_seed() if _generator is not None else _seed


def get_rng_state() -> Any:
    return default_generator().get_state()


def set_rng_state(state: Any) -> None:
    default_generator().set_state(state)
