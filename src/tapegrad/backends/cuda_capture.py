"""Recording the device work of a call, to issue it again without the Python that made it.

A compiled CUDA step has static shapes, so once its arrays exist the work of a replay is the
same list of kernel launches, copies and fills every time: only the contents of the input
buffers change. :class:`Recording` collects that list while a replay runs: each launch with
its parameters packed once (``cuda_launch.prepared``), each copy and fill, each cuBLAS call,
each host-side range check. Every recorded operation runs as it is recorded, so the recorded
call's results come from exactly the operations a later issue repeats. The operations hold
the arrays they touch, so those buffers (intermediates, library temporaries) live as long as
the recording and keep their addresses.

Only work whose result is a function of device memory and of constants may be recorded. Two
things are not: a value read back to the host to decide what to do next (the recording is
marked ``invalid`` and its owner keeps replaying the Python), and host data that changes per
call (its owner stages it: see ``compiler.cuda_replay``). Range checks read a flag back and
raise; they go through :func:`host_check`, which records the whole check to run again.

The hooks here cost one thread-local read when nothing is being recorded.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

Op = Callable[[], Any]

_state = threading.local()


class Recording:
    """The operations issued on this thread between :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.invalid: str | None = None  # why the list does not reproduce the call, if it does not
        self._outer: Recording | None = None

    def start(self) -> "Recording":
        self._outer = getattr(_state, "recording", None)
        _state.recording = self
        return self

    def stop(self) -> None:
        _state.recording = self._outer

    def __enter__(self) -> "Recording":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def add(self, op: Op) -> Any:
        """Run ``op`` now (nothing it calls is recorded again) and keep it."""
        _state.recording = None
        try:
            result = op()
        finally:
            _state.recording = self
        self.ops.append(op)
        return result

    def refuse(self, reason: str) -> None:
        if self.invalid is None:
            self.invalid = reason


def active() -> Recording | None:
    """The recording in progress on this thread, if any."""
    return getattr(_state, "recording", None)


def run(op: Op) -> Any:
    """Run ``op``, a piece of device work with no host-side result, recording it if a
    recording is in progress."""
    recording = getattr(_state, "recording", None)
    if recording is None:
        return op()
    return recording.add(op)


def host_check(check: Op) -> None:
    """Run ``check``, which reads device values back and raises for bad ones (a target out of
    range): recorded whole, so that every issue of the recording checks its own values."""
    run(check)


def replay(ops: list[Op]) -> None:
    """Issue recorded operations in order."""
    for op in ops:
        op()


# ------------------------------------------------------------------ transfers

def _recorded_copy(method: Callable[..., Any]) -> Callable[..., Any]:
    """``copy_to_device`` that records itself. A host source is copied when recorded: the
    operation uploads the data as it was then (constants, such as an identity fill)."""

    def copy_to_device(self: Any, ary: Any, stream: Any = 0) -> Any:
        recording = getattr(_state, "recording", None)
        if recording is None:
            return method(self, ary, stream)
        source = ary if hasattr(ary, "__cuda_array_interface__") else np.array(ary, copy=True)
        return recording.add(lambda: method(self, source, stream))

    copy_to_device.__wrapped__ = method  # type: ignore[attr-defined]
    return copy_to_device


def _refused_readback(method: Callable[..., Any]) -> Callable[..., Any]:
    """``copy_to_host`` that marks a recording in progress invalid: what the host does with
    the value is not part of the recording."""

    def copy_to_host(self: Any, ary: Any = None, stream: Any = 0) -> Any:
        recording = getattr(_state, "recording", None)
        if recording is not None:
            recording.refuse("a device value was read back to the host")
        return method(self, ary, stream)

    copy_to_host.__wrapped__ = method  # type: ignore[attr-defined]
    return copy_to_host


def _unrecorded_transfer(function: Callable[..., Any], what: str) -> Callable[..., Any]:
    """A driver transfer function that marks a recording in progress invalid: a transfer
    reaching the driver while recording is on came by a path that records nothing."""

    def transfer(*args: Any, **kwargs: Any) -> Any:
        recording = getattr(_state, "recording", None)
        if recording is not None:
            recording.refuse(f"an unrecorded {what}")
        return function(*args, **kwargs)

    transfer.__wrapped__ = function  # type: ignore[attr-defined]
    return transfer


def _defined(cls: type, name: str) -> Any:
    return next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)


def install(device_array: type, subclass: type, driver: Any = None) -> None:
    """Hook the transfers of numba's device array class (and of tapegrad's subclass, which
    may override ``copy_to_device``), and on a real GPU the driver's transfer functions."""
    for cls in (device_array, subclass):
        method = _defined(cls, "copy_to_device")
        if not hasattr(method, "__wrapped__"):
            cls.copy_to_device = _recorded_copy(method)
    method = _defined(device_array, "copy_to_host")
    if not hasattr(method, "__wrapped__"):
        device_array.copy_to_host = _refused_readback(method)
    if driver is not None:
        for name in ("host_to_device", "device_to_host", "device_to_device", "device_memset"):
            function = getattr(driver, name)
            if not hasattr(function, "__wrapped__"):
                setattr(driver, name, _unrecorded_transfer(function, name.replace("_", " ")))
