"""Process settings: intra-op threads, deterministic algorithms, float32 matmul precision and
the ``backends`` flags, with PyTorch's checks and messages."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numba
import numpy as np
import pytest

import tapegrad
from tapegrad import settings


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    threads = numba.get_num_threads()
    yield
    numba.set_num_threads(threads)
    tapegrad.use_deterministic_algorithms(False)
    tapegrad.set_float32_matmul_precision("highest")
    settings._state.interop_threads = None


def test_threads_set_what_the_parallel_kernels_use() -> None:
    tapegrad.set_num_threads(1)
    assert tapegrad.get_num_threads() == numba.get_num_threads() == 1
    x = tapegrad.rand(1 << 18)  # above the parallel threshold: a threaded kernel
    np.testing.assert_allclose((x * 2).sum().item(), 2 * x.numpy().astype(np.float64).sum(), rtol=1e-5)
    tapegrad.set_num_threads(10 ** 6)  # more than Numba started with: all it has
    assert tapegrad.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    assert tapegrad.get_num_interop_threads() >= 1


@pytest.mark.parametrize("call, error, message", [
    (lambda: tapegrad.set_num_threads(0), RuntimeError, "set_num_threads expects a positive integer"),
    (lambda: tapegrad.set_num_threads(-2), RuntimeError, "set_num_threads expects a positive integer"),
    (lambda: tapegrad.set_num_threads(2.5), RuntimeError, "set_num_threads expects an int, but got float"),
    (lambda: tapegrad.use_deterministic_algorithms("yes"), TypeError,
     "argument 'mode' (position 1) must be bool, not str"),
    (lambda: tapegrad.set_deterministic_debug_mode(5), RuntimeError,
     "invalid value of debug_mode, expected 0, 1, or 2, but got 5"),
    (lambda: tapegrad.set_deterministic_debug_mode("loud"), RuntimeError,
     "invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got loud"),
])
def test_bad_settings_are_refused_as_in_pytorch(call: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


@pytest.mark.torch
def test_messages_are_pytorchs() -> None:
    torch = pytest.importorskip("torch")
    for name, args in [("set_num_threads", (0,)), ("set_num_threads", (2.5,)), ("set_deterministic_debug_mode", (5,)),
                       ("set_deterministic_debug_mode", ("loud",)), ("use_deterministic_algorithms", ("yes",))]:
        with pytest.raises(Exception) as ours:
            getattr(tapegrad, name)(*args)
        with pytest.raises(Exception) as theirs:
            getattr(torch, name)(*args)
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_deterministic_modes_round_trip() -> None:
    assert not tapegrad.are_deterministic_algorithms_enabled() and tapegrad.get_deterministic_debug_mode() == 0
    tapegrad.use_deterministic_algorithms(True, warn_only=True)
    assert tapegrad.are_deterministic_algorithms_enabled() and tapegrad.is_deterministic_algorithms_warn_only_enabled()
    assert tapegrad.get_deterministic_debug_mode() == 1
    tapegrad.set_deterministic_debug_mode("error")
    assert tapegrad.are_deterministic_algorithms_enabled()
    assert not tapegrad.is_deterministic_algorithms_warn_only_enabled()
    tapegrad.set_deterministic_debug_mode(0)
    assert not tapegrad.are_deterministic_algorithms_enabled()


def test_cpu_kernels_run_in_deterministic_mode_and_repeat_bit_for_bit() -> None:
    tapegrad.use_deterministic_algorithms(True)
    tapegrad.manual_seed(0)
    weight = tapegrad.randn(5, 3, requires_grad=True)
    index = tapegrad.tensor([0, 2, 2, 4, 2])

    def gradient() -> np.ndarray:
        weight.grad = None
        tapegrad.nn.functional.embedding(index, weight).sum().backward()
        return weight.grad.numpy().copy()

    first = gradient()
    assert np.array_equal(first, gradient()) and first[2].tolist() == [3.0, 3.0, 3.0]


def test_the_alert_raises_or_warns_only_when_asked() -> None:
    settings.alert_not_deterministic("some_kernel")  # off: nothing
    tapegrad.use_deterministic_algorithms(True)
    with pytest.raises(RuntimeError, match="some_kernel does not have a deterministic implementation"):
        settings.alert_not_deterministic("some_kernel")
    tapegrad.use_deterministic_algorithms(True, warn_only=True)
    with pytest.warns(UserWarning, match="some_kernel does not have a deterministic implementation"):
        settings.alert_not_deterministic("some_kernel")


def test_float32_matmul_precision() -> None:
    assert tapegrad.get_float32_matmul_precision() == "highest"
    tapegrad.set_float32_matmul_precision("high")
    assert tapegrad.get_float32_matmul_precision() == "high"
    with pytest.warns(UserWarning, match="fastest is not one of 'highest', 'high', or 'medium'"):
        tapegrad.set_float32_matmul_precision("fastest")
    assert tapegrad.get_float32_matmul_precision() == "high"
    a = tapegrad.randn(4, 4)  # products stay float32-exact whatever the setting
    np.testing.assert_array_equal((a @ a).numpy(), a.numpy() @ a.numpy())


def test_backends_flags_are_there_and_settable() -> None:
    cudnn = tapegrad.backends.cudnn
    assert not cudnn.is_available() and cudnn.version() is None
    assert not tapegrad.backends.mps.is_available() and not tapegrad.backends.mkldnn.is_available()
    previous = cudnn.benchmark
    cudnn.benchmark = True
    try:
        assert tapegrad.backends.cudnn.benchmark
    finally:
        cudnn.benchmark = previous
    assert tapegrad.backends.cuda.matmul.allow_tf32 is False


def test_interop_threads_are_set_once() -> None:
    tapegrad.set_num_interop_threads(3)
    assert tapegrad.get_num_interop_threads() == 3
    with pytest.raises(RuntimeError, match="cannot set number of interop threads"):
        tapegrad.set_num_interop_threads(2)
    settings._state.interop_threads = None
    with pytest.raises(RuntimeError, match="Expected positive number of threads"):
        tapegrad.set_num_interop_threads(0)
