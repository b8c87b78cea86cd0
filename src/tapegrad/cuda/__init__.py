"""``tapegrad.cuda``: the CUDA device, as ``torch.cuda`` presents it.

CUDA runs through Numba (``numba.cuda``, from the numba-cuda package). Importing tapegrad does
not import ``numba.cuda`` (it costs about half a second): this module imports it on the first
CUDA request (``is_available()``, a tensor made or moved to ``"cuda"``). Without a usable GPU,
asking for one raises ``RuntimeError`` as PyTorch does; ``NUMBA_ENABLE_CUDASIM=1`` (set before
Numba is imported) selects Numba's CUDA simulator, which runs kernels on the CPU and counts as
one available device.

tapegrad uses one device, ``cuda:0`` (Numba's current device); other indices raise.

Random tensors made on CUDA are drawn on the host by the CUDA generator (a generator of its
own, as in PyTorch: CUDA draws do not move the CPU stream) and copied to the device, so the
numbers are those the CPU generator gives for the same seed, not those of PyTorch's CUDA
generator (Philox).

>>> import tapegrad
>>> tapegrad.cuda.is_available()  # doctest: +SKIP
True
>>> x = tapegrad.ones(3, device="cuda")  # doctest: +SKIP
>>> (x * 2).cpu()  # doctest: +SKIP
tensor([2., 2., 2.])
"""
from __future__ import annotations

from typing import Any

from ..device import device as _device

# PyTorch's CUDA generators start from this seed until seeded.
DEFAULT_SEED = 67280421310721

_CUDA0 = _device("cuda", 0)
_status: str | None = None  # "" once usable; otherwise why not; None until first asked


def _numba_cuda() -> Any:
    from numba import cuda

    return cuda


def _probe() -> str:
    """Why CUDA cannot be used here ("" when it can); asked once per process."""
    global _status
    if _status is None:
        try:
            cuda = _numba_cuda()
        except ImportError as error:
            _status = ("tapegrad was not installed with CUDA support: numba.cuda cannot be imported "
                       f"({error}); install the numba-cuda package (pip install 'numba-cuda[cu12]')")
        else:
            try:
                usable = bool(cuda.is_available())
            except Exception as error:  # a broken driver install raises here
                usable = False
                _status = f"No CUDA GPUs are available (numba.cuda: {error})"
            if usable:
                _status = ""
            elif _status is None:
                _status = ("No CUDA GPUs are available (tapegrad runs CUDA through numba.cuda, which found "
                           "no usable GPU or driver; NUMBA_ENABLE_CUDASIM=1 selects Numba's CUDA simulator)")
    return _status


def is_available() -> bool:
    """Whether a CUDA device can be used (True under Numba's simulator)."""
    return _probe() == ""


def is_initialized() -> bool:
    return _status == ""


def init() -> None:
    """Make CUDA ready, or raise ``RuntimeError`` saying why it cannot be used."""
    reason = _probe()
    if reason:
        raise RuntimeError(reason)


_lazy_init = init


def device_count() -> int:
    if not is_available():
        return 0
    return len(_numba_cuda().gpus)


def check_device(value: "_device | str | int | None" = None) -> _device:
    """The device that ``value`` names (``"cuda"``, ``"cuda:0"``, ``0``, …) as ``cuda:0``,
    after checking that CUDA is usable and the index exists."""
    init()
    if value is None:
        index = 0
    elif isinstance(value, int):
        index = value
    else:
        index = _device(value).index or 0
    if not 0 <= index < device_count():
        raise RuntimeError(f"CUDA error: invalid device ordinal (cuda:{index}; "
                           f"{device_count()} CUDA device(s) available)")
    if index != 0:
        raise NotImplementedError(f"tapegrad uses a single CUDA device, cuda:0; cuda:{index} is not supported yet")
    return _CUDA0


def current_device() -> int:
    init()
    return 0


def set_device(device: Any) -> None:
    check_device(device)


def synchronize(device: Any = None) -> None:
    """Wait for every kernel launched so far to finish."""
    check_device(device)
    _numba_cuda().synchronize()


def get_device_name(device: Any = None) -> str:
    check_device(device)
    from ._arrays import SIMULATED

    if SIMULATED:
        return "Numba CUDA simulator"
    name = _numba_cuda().get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device: Any = None) -> tuple[int, int]:
    check_device(device)
    major, minor = _numba_cuda().get_current_device().compute_capability
    return int(major), int(minor)


# ------------------------------------------------------------------ random numbers

from .random import (default_generator, get_rng_state, initial_seed, manual_seed, manual_seed_all,  # noqa: E402
                     seed, seed_all, set_rng_state)

__all__ = ["check_device", "current_device", "default_generator", "device_count", "get_device_capability",
           "get_device_name", "get_rng_state", "init", "initial_seed", "is_available", "is_initialized",
           "manual_seed", "manual_seed_all", "seed", "seed_all", "set_device", "set_rng_state", "synchronize"]
