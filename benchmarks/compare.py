"""Side-by-side timings of tapegrad against PyTorch and JAX on the design document's workloads.

Each library runs in its own worker process (so no library's idle threads share a process with
another's timing), and so does each of tapegrad's execution modes (``--modes``: eager, and
compiled, the step under ``tapegrad.compile`` replaying its generated code). The parent asks
them for samples in turn, round after round: tapegrad eager, tapegrad compiled, torch, jax, then
the next round in a rotated order. Reported per workload and tapegrad mode: the median over the
rounds of tapegrad's time divided by the peer's time in the same round, the modes side by side.
These machines are shared and noisy: only such ratios mean anything; the median times are
printed for orientation.

Under outside load a library's threads can slow small matrix products by orders of magnitude:
PyTorch's intra-op pool, and the OpenBLAS that NumPy and tapegrad's matmuls call (a 64x64 by
64x128 product measured 24 ms instead of 0.03 ms with two threads while another process kept a
core busy). ``--torch-threads 1`` and ``--blas-threads 1`` rule that out; say so when quoting.

The same rounds time a NumPy memory copy of W2's array and NumPy's float32 matmul at W6's size,
for the roofline lines: achieved GB/s of W2 (it must read x and write its gradient) against the
copy, achieved GFLOP/s of W3's and W6's matmuls against sgemm.

W5 (a new process to the end of the first W3 step) alternates tapegrad with a warm kernel cache,
tapegrad with an empty one (fresh temporary directories, see ``workloads.cache_env``), each in
every mode (compiled: to the end of the first replayed step, ``workloads.run_first_step``),
PyTorch and JAX, in rounds of their own.

Usage: ``python benchmarks/compare.py [--rounds 21] [--startup-rounds 5] [--modes eager,compiled]
[--torch-threads N] [--blas-threads N] [--markdown]``.
"""
from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asv_benchmarks import workloads

STEP_WORKLOADS = ("W1", "W1b", "W2", "W3", "W3-cuda", "W4", "W6")
REFERENCES = ("copy", "sgemm")
# The pause before a worker samples after another one did. A library's thread pools keep
# spinning for a while after its last call (OpenBLAS's for about 0.1 s: 2**28 cycles) and hold
# a core the next worker's threads need; on two cores the multi-threaded matmuls of a W3 step
# right after the sgemm reference took 1.1-1.6 ms instead of 0.73 ms. 0.1 s was measured to be
# enough.
SETTLE_SECONDS = 0.2
# The design document's targets, shown next to the ratios.
TARGETS = {
    "W1": "eager <= 1.0x torch",
    "W1b": "eager <= 0.3x torch",
    "W2": "eager <= 0.5x torch; compiled <= 0.75x jax",
    "W3": "eager <= 0.8x torch; compiled <= 0.8x jax",
    "W3-cuda": "eager <= 1.0x torch (CUDA)",
    "W4": "eager <= 0.3x torch; compiled <= 0.2x jax",
    "W5 warm cache": "<= 1.5 s",
    "W5 empty cache": "<= 20 s",
    "W6": "<= 1.2x torch",
}


# ----------------------------------------------------------------------------- worker processes

def _threads(library: str, torch_threads: int | None) -> str:
    """Applies ``--torch-threads`` and says how many threads the library computes with."""
    if library == "torch":
        import torch

        if torch_threads:
            torch.set_num_threads(torch_threads)
        return f"torch {torch.get_num_threads()} intra-op threads"
    if library == "tapegrad":
        import numba

        return (f"tapegrad {numba.get_num_threads()} Numba threads, "
                f"OpenBLAS {os.environ.get('OPENBLAS_NUM_THREADS', 'default')} threads")
    return ""


def label(library: str, mode: str) -> str:
    """The name of a worker and of its column: tapegrad's modes are contenders of their own."""
    return f"tapegrad {mode}" if library == "tapegrad" else library


def _worker(library: str, names: list[str], mode: str, torch_threads: int | None, connection: Connection) -> None:
    """Builds and warms the steps of one library in one mode, then answers timing requests."""
    sys.path.insert(0, str(ROOT))
    from asv_benchmarks import workloads

    threads = _threads(library, torch_threads)
    if library == "numpy":
        steps = {"copy": workloads.numpy_copy(), "sgemm": workloads.numpy_sgemm()}
    else:
        # A -cuda workload runs only where the library has a GPU (it is left out elsewhere).
        steps = {name: workloads.build(name, library, mode) for name in names
                 if workloads.has_workload(name, library, mode)
                 and (not name.endswith("-cuda") or workloads.cuda_ready(library))}
    for step in steps.values():
        workloads.warmed(step, 3)
    connection.send((sorted(steps), threads))
    while (request := connection.recv()) is not None:
        name, number = request
        step = steps[name]
        start = time.perf_counter()
        for _ in range(number):
            step()
        connection.send((time.perf_counter() - start) / number)


class Worker:
    def __init__(self, library: str, names: list[str], mode: str, torch_threads: int | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.library = library
        self.label = label(library, mode)
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(library, names, mode, torch_threads, child), daemon=True)
        self.process.start()
        self.names, self.threads = self.connection.recv()
        self.number: dict[str, int] = {}

    def calibrate(self, name: str, sample_seconds: float) -> None:
        """Calls per sample, so that a sample lasts about ``sample_seconds``."""
        per_call = min(self.sample(name, 1) for _ in range(3))
        self.number[name] = max(1, round(sample_seconds / per_call))

    def sample(self, name: str, number: int | None = None) -> float:
        self.connection.send((name, number or self.number[name]))
        return self.connection.recv()

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=30)


# ----------------------------------------------------------------------------- measuring

def contenders(libraries: list[str], modes: list[str]) -> list[tuple[str, str]]:
    """(library, mode) of each worker: tapegrad once per mode, each peer its own way (JAX jit)."""
    return [(library, mode) for library in libraries
            for mode in (modes if library == "tapegrad" else ["eager"])]


def alternate_steps(libraries: list[str], modes: list[str], names: list[str], rounds: int, sample_seconds: float,
                    torch_threads: int | None) -> dict[tuple[str, str], list[float]]:
    """Per (row, label): one per-call time per round, the libraries and modes taking turns."""
    workers = [Worker(library, names, mode, torch_threads)
               for library, mode in [*contenders(libraries, modes), ("numpy", "eager")]]
    try:
        # One line per library (tapegrad's modes run with the same threads).
        threads = dict.fromkeys(worker.threads for worker in workers if worker.threads)
        print("threads: " + "; ".join(threads), flush=True)
        jobs = [(worker, name) for name in [*names, *REFERENCES] for worker in workers if name in worker.names]
        for worker, name in jobs:
            time.sleep(SETTLE_SECONDS)
            worker.calibrate(name, sample_seconds)
        samples: dict[tuple[str, str], list[float]] = {(name, worker.label): [] for worker, name in jobs}
        previous = None
        for round_index in range(rounds):
            for name in [*names, *REFERENCES]:
                turn = [worker for worker in workers if name in worker.names]
                shift = round_index % len(turn)
                for worker in turn[shift:] + turn[:shift]:
                    if previous is not None and worker is not previous:
                        time.sleep(SETTLE_SECONDS)
                    samples[name, worker.label].append(worker.sample(name))
                    previous = worker
        return samples
    finally:
        for worker in workers:
            worker.close()


def alternate_startup(libraries: list[str], modes: list[str], rounds: int) -> dict[tuple[str, str], list[float]]:
    """W5 rounds: per tapegrad mode, a warm cache and an empty cache, then each peer."""
    samples: dict[tuple[str, str], list[float]] = {}
    peers = [library for library in libraries if library != "tapegrad"]
    with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as warm_root:
        warm_dirs = {mode: os.path.join(warm_root, mode) for mode in modes}
        for mode, warm_dir in warm_dirs.items():
            workloads.run_startup("tapegrad", warm_dir, mode)  # fills the warm cache
        for peer in peers:
            workloads.run_startup(peer)  # every library's files in the page cache
        for _ in range(rounds):
            for mode, warm_dir in warm_dirs.items():
                samples.setdefault(("W5 warm cache", label("tapegrad", mode)), []).append(
                    workloads.run_startup("tapegrad", warm_dir, mode)["seconds"])
                with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as empty_dir:
                    samples.setdefault(("W5 empty cache", label("tapegrad", mode)), []).append(
                        workloads.run_startup("tapegrad", empty_dir, mode)["seconds"])
            for peer in peers:
                seconds = workloads.run_startup(peer)["seconds"]
                samples.setdefault(("W5 warm cache", peer), []).append(seconds)
                samples.setdefault(("W5 empty cache", peer), []).append(seconds)
    return samples


def median_ratio(ours: list[float], theirs: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(ours, theirs))


def _format_ratio(ratio: float) -> str:
    # Compiled small steps can be hundreds of times faster than a peer: keep a digit showing.
    return f"{ratio:.2f}x" if ratio >= 0.095 else f"{ratio:.2g}x"


# ----------------------------------------------------------------------------- reporting

def _format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _tapegrad_version() -> str:
    """The installed distribution's version, or the package's own when run from a checkout
    (``PYTHONPATH=src``) without installing it."""
    try:
        return metadata.version("tapegrad")
    except metadata.PackageNotFoundError:
        import tapegrad
        return f"{tapegrad.__version__} (not installed)"


def machine_description(libraries: list[str]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ["numpy", "numba", *[lib for lib in libraries if lib != "tapegrad"]])
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, tapegrad {_tapegrad_version()}, {versions}")


def report(samples: dict[tuple[str, str], list[float]], libraries: list[str], modes: list[str],
           markdown: bool) -> list[str]:
    """The table: per workload tapegrad's median time in each mode, then per peer its median time
    and the ratio of each mode to it, side by side."""
    peers = [library for library in libraries if library != "tapegrad"]
    ours_labels = [label("tapegrad", mode) for mode in modes]
    rows = [row for row in ["W1", "W1b", "W2", "W3", "W3-cuda", "W4", "W5 warm cache", "W5 empty cache", "W6"]
            if any((row, ours) in samples for ours in ours_labels)]
    header = ["workload", *ours_labels]
    for peer in peers:
        header += [peer, *(f"{mode} / {peer}" for mode in modes)]
    header.append("target")
    table = [header]
    for row in rows:
        line = [f"{row}: {workloads.WORKLOADS[row.split()[0]]}" if markdown else row]
        line += [_format_seconds(statistics.median(samples[row, ours])) if (row, ours) in samples else "-"
                 for ours in ours_labels]
        for peer in peers:
            theirs = samples.get((row, peer))
            line.append(_format_seconds(statistics.median(theirs)) if theirs else "-")
            for ours in ours_labels:
                line.append(_format_ratio(median_ratio(samples[row, ours], theirs))
                            if theirs and (row, ours) in samples else "-")
        line.append(TARGETS.get(row, ""))
        table.append(line)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(line) + " |" for line in table[1:]]
    else:
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    return lines + [""] + roofline(samples, [*ours_labels, *peers])


def roofline(samples: dict[tuple[str, str], list[float]], labels: list[str]) -> list[str]:
    """Achieved rates of W2, W3 and W6 per contender (``labels``: tapegrad's modes, the peers)."""
    lines = []
    copy, sgemm = samples.get(("copy", "numpy")), samples.get(("sgemm", "numpy"))
    if copy and any(("W2", name) in samples for name in labels):
        peak = workloads.COPY_BYTES / statistics.median(copy) / 1e9
        parts = []
        for name in labels:
            times = samples.get(("W2", name))
            if times:
                achieved = workloads.W2_BYTES / statistics.median(times) / 1e9
                # Per round: achieved bandwidth over the copy's bandwidth in that round.
                fraction = statistics.median(workloads.W2_BYTES / t / (workloads.COPY_BYTES / c)
                                             for t, c in zip(times, copy))
                parts.append(f"{name} {achieved:.2f} GB/s ({fraction:.0%} of copy)")
        lines.append(f"- W2 roofline (reads x, writes its gradient: {workloads.W2_BYTES / 1e6:.1f} MB; "
                     f"NumPy copy {peak:.1f} GB/s): " + ", ".join(parts))
    if sgemm:
        peak = workloads.SGEMM_FLOPS / statistics.median(sgemm) / 1e9
        for row, flops in (("W3", workloads.W3_FLOPS), ("W6", workloads.W6_FLOPS)):
            parts = []
            for name in labels:
                times = samples.get((row, name))
                if times:
                    achieved = flops / statistics.median(times) / 1e9
                    fraction = statistics.median(flops / t / (workloads.SGEMM_FLOPS / s) for t, s in zip(times, sgemm))
                    parts.append(f"{name} {achieved:.1f} GFLOP/s ({fraction:.0%} of sgemm)")
            if parts:
                lines.append(f"- {row} roofline ({flops / 1e9:.3g} GFLOP of matmul; NumPy sgemm "
                             f"{peak:.0f} GFLOP/s at {workloads.W6_SIZE}^2): " + ", ".join(parts))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="alternating rounds of W1-W4, W6")
    parser.add_argument("--startup-rounds", type=int, default=5, help="rounds of W5 (0: skip W5)")
    parser.add_argument("--sample-seconds", type=float, default=0.1, help="length of one sample")
    parser.add_argument("--workloads", default=",".join(STEP_WORKLOADS), help="comma-separated, e.g. W1,W2")
    parser.add_argument("--libraries", default=",".join(workloads.LIBRARIES),
                        help="comma-separated; peers that are not installed are left out")
    parser.add_argument("--modes", "--mode", default=",".join(workloads.MODES),
                        help="tapegrad's execution modes, comma-separated, each timed in its own worker: "
                             f"{', '.join(workloads.MODES)} (default: all)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads in PyTorch's worker (default: PyTorch's own choice)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS for every process started (NumPy's and SciPy's OpenBLAS, "
                             "which tapegrad's matmuls call; PyTorch and JAX do not use it)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    modes = list(dict.fromkeys(args.modes.split(",")))
    unknown = [mode for mode in modes if mode not in workloads.MODES]
    if unknown or not modes:
        parser.error(f"--modes: unknown mode {', '.join(unknown)!r}; choose from {', '.join(workloads.MODES)}")

    libraries = [library for library in args.libraries.split(",")
                 if library == "tapegrad" or workloads.available(library)]
    names = [name for name in args.workloads.split(",") if name in STEP_WORKLOADS]
    if args.blas_threads:
        # Read when OpenBLAS loads: set before any worker or W5 process starts.
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    print(f"{datetime.date.today().isoformat()}: {machine_description(libraries)}")
    print(f"tapegrad modes {', '.join(modes)}; {args.rounds} alternating rounds of W1-W4/W6, {args.startup_rounds} of W5; "
          "ratio = median over rounds of tapegrad / peer (below 1: tapegrad is faster); "
          "times are medians, for orientation only", flush=True)
    print(f"load average at the start: {_load()}", flush=True)
    samples: dict[tuple[str, str], list[float]] = {}
    if names and args.rounds:
        samples.update(alternate_steps(libraries, modes, names, args.rounds, args.sample_seconds,
                                       args.torch_threads))
    if args.startup_rounds:
        try:
            samples.update(alternate_startup(libraries, modes, args.startup_rounds))
        except (RuntimeError, OSError) as error:  # keep the rounds already measured
            print(f"W5 left out: {error}", file=sys.stderr)
    print(f"load average at the end: {_load()}")
    print("\n".join(report(samples, libraries, modes, args.markdown)))


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every timing."""
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
