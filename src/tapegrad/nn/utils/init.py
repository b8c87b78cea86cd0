"""``skip_init``: build a module without spending the random draws of its initialisation."""
from __future__ import annotations

import inspect
from typing import Any

from ... import random as _random
from ...device import device as _device
from ..module import Module

__all__ = ["skip_init"]


def skip_init(module_cls: type, *args: Any, **kwargs: Any) -> Module:
    """``module_cls(*args, **kwargs)`` whose parameters and buffers are to be treated as
    uninitialized (as if made by ``empty``), for a caller who initialises them itself.

    The class must take a ``device`` argument. PyTorch builds the module on its ``meta``
    device, so no initialiser runs; tapegrad has no such device, so the module is built on
    ``device`` and its initialisers run, but the random generators are put back as they were:
    the caller's random stream is the one PyTorch's ``skip_init`` leaves.

    >>> m = skip_init(nn.Linear, 3, 2)
    >>> m.weight.shape, m.weight.requires_grad
    (tapegrad.Size([2, 3]), True)
    """
    if not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    final_device = kwargs.pop("device", "cpu")
    kwargs["device"] = final_device
    cpu_state = _random.get_rng_state()
    on_cuda = _device(final_device).type == "cuda" if final_device is not None else False
    if on_cuda:
        from ... import cuda

        cuda_state = cuda.get_rng_state()
    try:
        return module_cls(*args, **kwargs)
    finally:
        _random.set_rng_state(cpu_state)
        if on_cuda:
            cuda.set_rng_state(cuda_state)
