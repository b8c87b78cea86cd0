"""Host cost of one kernel launch through each path numba-cuda offers, and where the host time
of a W3 step on CUDA goes.

A training step of small tensors is bound by the host: each kernel runs for a few
microseconds on the GPU, so what decides the step's time is how long Python takes to queue
each launch. This script measures, for one tiny elementwise kernel (``out[i] = a[i] + b[i]``,
1024 float32 elements), the host time per launch of:

- ``dispatcher``: ``kernel[blocks, threads, stream](out, a, b)``, numba-cuda's public path
  (types the arguments, looks up the overload, packs the arguments, launches);
- ``overload.launch``: the compiled overload's ``launch(args, ...)`` (no typing or lookup);
- ``cuda.core launch``: ``cuda.core.launch`` with the arguments packed once beforehand;
- ``cuLaunchKernel``: the driver call with a ``void**`` of parameters packed once beforehand;
- ``graph of 20``: 20 such launches captured into a CUDA graph, one ``cuGraphLaunch`` per
  replay (reported per replay and per captured kernel);
- ``torch a + b``: PyTorch's eager add of two CUDA tensors of the same size, for scale.

Each row launches ``--launches`` times back to back (after a warm-up), synchronizes, and reports
the median over ``--runs`` such runs of the wall time per launch. Then, with ``--profile``, it
profiles 200 W3 steps on CUDA (eager, and through ``tapegrad.compile``) with cProfile and writes
the top entries to ``--out``.

Usage (tapegrad importable, e.g. ``PYTHONPATH=src``)::

    python benchmarks/gpu_launch.py [--runs 15] [--launches 2000] [--profile] [--out DIR]

Exits with status 2 and a message when no CUDA GPU is usable (or the simulator is on).
"""
from __future__ import annotations

import argparse
import ctypes
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks.gpu_elementwise import _require_gpu  # noqa: E402

SIZE = 1024
THREADS = 256


def per_launch_us(launch: Callable[[], None], sync: Callable[[], None], count: int, runs: int) -> float:
    """Median wall time of one ``launch`` in microseconds (``count`` back to back, then a sync)."""
    for _ in range(50):
        launch()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(count):
            launch()
        sync()
        times.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(times)


def _packed(kernel: Any, args: list[Any]) -> list[Any]:
    """The argument list numba-cuda's ``_Kernel.launch`` would pass on (ints and ctypes values)."""
    kernelargs: list[Any] = []
    for ty, value in zip(kernel.argument_types, args):
        kernel._prepare_args(ty, value, 0, [], kernelargs)
    return kernelargs


def _void_pointers(kernelargs: list[Any]) -> tuple[Any, list[Any]]:
    """A ``void*[]`` pointing at each parameter's bytes (ints as 64-bit), and the values it keeps alive."""
    values = [ctypes.c_int64(v) if isinstance(v, int) else v for v in kernelargs]
    array = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
    return array, values


def _check(driver: Any, result: Any) -> Any:
    error, *rest = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise RuntimeError(f"CUDA driver error {error}")
    return rest[0] if len(rest) == 1 else rest


def launch_rows(cuda: Any, runs: int, count: int) -> list[tuple[str, float]]:
    from cuda.bindings import driver

    # tapegrad's array module restores np.row_stack, which numba-cuda needs to compile.
    importlib.import_module("tapegrad.cuda._arrays")

    @cuda.jit
    def add(out, a, b):
        i = cuda.grid(1)
        if i < out.size:
            out[i] = a[i] + b[i]

    rng = np.random.default_rng(0)
    a = cuda.to_device(rng.standard_normal(SIZE, dtype=np.float32))
    b = cuda.to_device(rng.standard_normal(SIZE, dtype=np.float32))
    out = cuda.device_array(SIZE, np.float32)
    blocks = (SIZE + THREADS - 1) // THREADS
    configured = add[blocks, THREADS, 0]
    configured(out, a, b)
    cuda.synchronize()
    kernel = next(iter(add.overloads.values()))
    sync = cuda.synchronize
    rows: list[tuple[str, float]] = []

    def row(name: str, launch: Callable[[], None], per: int = 1) -> None:
        try:
            rows.append((name, per_launch_us(launch, sync, count, runs) / per))
        except Exception as error:  # noqa: BLE001 - a probe: report and go on to the next path
            rows.append((f"{name} FAILED: {type(error).__name__}: {error}", float("nan")))

    row("dispatcher kernel[b, t, 0](...)", lambda: configured(out, a, b))
    args = [out, a, b]
    row("overload.launch(args, ...)", lambda: kernel.launch(args, blocks, THREADS, 0, 0))

    kernelargs = _packed(kernel, args)
    cufunc = kernel._codelibrary.get_cufunc()
    try:
        from cuda.core import LaunchConfig, launch as core_launch  # type: ignore[attr-defined]
        from numba.cuda.cudadrv.driver import _to_core_stream  # type: ignore[attr-defined]
        config = LaunchConfig(grid=blocks, block=THREADS)
        core_stream = _to_core_stream(cuda.default_stream())
        row("cuda.core launch, prepacked", lambda: core_launch(core_stream, config, cufunc.kernel, *kernelargs))
    except Exception as error:  # noqa: BLE001
        rows.append((f"cuda.core launch FAILED: {type(error).__name__}: {error}", float("nan")))

    handle = cufunc.handle
    if isinstance(handle, driver.CUkernel):
        handle = _check(driver, driver.cuKernelGetFunction(handle))
    params, keep = _void_pointers(kernelargs)
    address = ctypes.addressof(params)
    stream0 = driver.CUstream(0)
    launch_kernel = driver.cuLaunchKernel
    row("cuLaunchKernel, prepacked", lambda: launch_kernel(handle, blocks, 1, 1, THREADS, 1, 1, 0, stream0,
                                                          address, 0))

    try:
        stream = cuda.stream()
        raw_stream = driver.CUstream(int(stream.handle.value if hasattr(stream.handle, "value") else stream.handle))
        _check(driver, driver.cuStreamBeginCapture(raw_stream,
                                                   driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED))
        for _ in range(20):
            _check(driver, launch_kernel(handle, blocks, 1, 1, THREADS, 1, 1, 0, raw_stream, address, 0))
        graph = _check(driver, driver.cuStreamEndCapture(raw_stream))
        executable = _check(driver, driver.cuGraphInstantiate(graph, 0))
        graph_launch = driver.cuGraphLaunch
        row("graph of 20, per captured kernel", lambda: graph_launch(executable, raw_stream), per=20)
        row("graph of 20, per replay", lambda: graph_launch(executable, raw_stream))
    except Exception as error:  # noqa: BLE001
        rows.append((f"graph FAILED: {type(error).__name__}: {error}", float("nan")))

    try:
        import torch
        if torch.cuda.is_available():
            ta = torch.randn(SIZE, device="cuda")
            tb = torch.randn(SIZE, device="cuda")
            row("torch a + b", lambda: ta + tb)
            tc = torch.randn(SIZE, device="cuda", requires_grad=True)
            row("torch a + b, requires_grad", lambda: tc + tb)
    except ImportError:
        pass

    import tapegrad
    xa = tapegrad.randn(SIZE, device="cuda")
    xb = tapegrad.randn(SIZE, device="cuda")
    row("tapegrad a + b", lambda: xa + xb)
    xc = tapegrad.randn(SIZE, device="cuda", requires_grad=True)
    row("tapegrad a + b, requires_grad", lambda: xc + xb)
    return rows


def profile_w3(out_dir: Path, steps: int) -> None:
    import cProfile
    import io
    import pstats

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from asv_benchmarks import workloads

    import tapegrad
    for mode, make in (("eager", workloads._w3_mlp_cuda),
                       ("compiled", lambda lib: workloads._w3_mlp_cuda_compiled(lib))):
        step = make(tapegrad)
        for _ in range(20):
            step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = (time.perf_counter() - start) / steps * 1e6
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(steps):
            step()
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(45)
        stats.sort_stats("cumulative").print_stats(60)
        (out_dir / f"profile_w3_{mode}.txt").write_text(f"{mode}: {elapsed:.1f} us per step unprofiled\n"
                                                       + text.getvalue())
        print(f"W3 on CUDA, tapegrad {mode}: {elapsed:.1f} us per step (host wall, synchronized)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--launches", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="profile W3 steps on CUDA too")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("."))
    options = parser.parse_args()
    cuda = _require_gpu()
    print(f"GPU: {cuda.get_current_device().name}")
    for name, microseconds in launch_rows(cuda, options.runs, options.launches):
        print(f"{name:45s} {microseconds:8.2f} us")
    if options.profile:
        options.out.mkdir(parents=True, exist_ok=True)
        profile_w3(options.out, options.steps)


if __name__ == "__main__":
    main()
