"""Process settings training scripts set at the top: intra-op threads, deterministic
algorithms, float32 matmul precision (PyTorch's names and checks).

Threads are Numba's: ``set_num_threads`` sets how many threads the parallel kernels of the
calling thread use, at most the ``NUMBA_NUM_THREADS`` Numba started with (by default the
machine's cores); ``get_num_threads`` says how many they use. Matrix products run in NumPy's
BLAS, whose threads are its own (``OPENBLAS_NUM_THREADS`` and the like).

Deterministic algorithms: the CPU kernels give the same bits run after run (their parallel
sums add per-block partial sums in a fixed order). On CUDA, kernels that add floats with
atomics (scatter-add, index-add, embedding and max-pooling gradients) do not, and with
``use_deterministic_algorithms(True)`` they raise, or warn with ``warn_only=True``.
"""
from __future__ import annotations

from .user_warnings import warn_user

__all__: list[str] = ["are_deterministic_algorithms_enabled", "get_deterministic_debug_mode",
                      "get_float32_matmul_precision", "get_num_interop_threads", "get_num_threads",
                      "is_deterministic_algorithms_warn_only_enabled", "set_deterministic_debug_mode",
                      "set_float32_matmul_precision", "set_num_interop_threads", "set_num_threads",
                      "use_deterministic_algorithms"]


class _State:
    deterministic: bool = False
    warn_only: bool = False
    matmul_precision: str = "highest"
    interop_threads: int | None = None


_state = _State()
_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def _numba_threads() -> tuple[int, int]:
    """(threads in use, the most Numba can use): imports Numba's threading layer only when asked."""
    import numba

    return numba.get_num_threads(), numba.config.NUMBA_NUM_THREADS


def set_num_threads(num: int) -> None:
    """Use ``num`` threads in the calling thread's parallel kernels (at most the threads Numba
    started with: ``NUMBA_NUM_THREADS``, the machine's cores unless set)."""
    if not isinstance(num, int) or isinstance(num, bool):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(num).__name__}")
    if num <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    import numba

    numba.set_num_threads(min(num, _numba_threads()[1]))


def get_num_threads() -> int:
    """How many threads the calling thread's parallel kernels use."""
    return _numba_threads()[0]


def set_num_interop_threads(num: int) -> None:
    """Accepted once, before any parallel work, as in PyTorch; tapegrad runs no inter-op pool
    (ops run one after another), so it changes nothing else."""
    if not isinstance(num, int) or isinstance(num, bool):
        raise RuntimeError(f"set_num_interop_threads expects an int, but got {type(num).__name__}")
    if num <= 0:
        raise RuntimeError("Expected positive number of threads")
    if _state.interop_threads is not None:
        raise RuntimeError("Error: cannot set number of interop threads after parallel work has started or "
                           "set_num_interop_threads called")
    _state.interop_threads = num


def get_num_interop_threads() -> int:
    return _state.interop_threads if _state.interop_threads is not None else _numba_threads()[1]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Refuse (or, with ``warn_only``, warn about) ops whose results vary from run to run."""
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    _state.deterministic, _state.warn_only = mode, warn_only and mode


def are_deterministic_algorithms_enabled() -> bool:
    return _state.deterministic


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _state.warn_only


def set_deterministic_debug_mode(debug_mode: str | int) -> None:
    """``"default"``/0 (off), ``"warn"``/1, ``"error"``/2: ``use_deterministic_algorithms``
    in another spelling."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got "
                               f"{debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    if not isinstance(debug_mode, int) or isinstance(debug_mode, bool):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    return 0 if not _state.deterministic else 1 if _state.warn_only else 2


def alert_not_deterministic(caller: str) -> None:
    """Called by kernels whose results vary from run to run: an error (or a warning) when
    deterministic algorithms were asked for."""
    if not _state.deterministic:
        return
    message = (f"{caller} does not have a deterministic implementation, but you set "
               "'tapegrad.use_deterministic_algorithms(True)'. You can turn off determinism just for this operation, "
               "or you can use the 'warn_only=True' option, if that's acceptable for your application.")
    if _state.warn_only:
        warn_user(message, UserWarning)
    else:
        raise RuntimeError(message)


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted and remembered: ``"highest"``, ``"high"`` or ``"medium"``. tapegrad's float32
    products always compute in float32 (the "highest" precision); lower precisions only
    permit faster internal formats, which no tapegrad kernel uses."""
    if precision not in ("highest", "high", "medium"):
        warn_user(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                  "set_float32_matmul_precision call has no effect.", UserWarning)
        return
    _state.matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _state.matmul_precision
