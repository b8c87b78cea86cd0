"""Memory bandwidth of tapegrad's generated CUDA kernels against a device-to-device copy.

For each N (float32 elements; default 2**26 and 2**24) it measures the time of one launch as
the median of ``--runs`` runs, each ``--batch`` launches queued back to back between two CUDA
events (after ``--warmup`` warm-up launches):

- ``copy``: a device-to-device ``cudaMemcpy`` of N floats (reads and writes 4N bytes each);
- ``identity kernel``: the generated elementwise kernel of ``_identity`` (the same traffic);
- ``fused W2 fwd+bwd``: ONE generated chain kernel computing ``y = tanh(x*.5+1)*x + sigmoid(x)``
  and ``dy/dx`` per element (reads 4N, writes 8N bytes);
- ``torch eager W2 fwd+bwd``: if PyTorch with CUDA is importable, the same chain in eager
  PyTorch: forward, then ``y.backward(ones)`` (its several kernels move more bytes; the
  bandwidth shown counts only the 12N bytes the fused kernel moves, so it compares times).

Achieved bandwidth is bytes read + written over the time; each kernel's is also given as a
fraction of the copy's. Kernels are launched pre-configured (``kernel[blocks, threads, stream]``)
and batched, so the figures are the GPU's, not the Python launch path's, as long as a launch
takes longer on the GPU than its dispatch in Python. Measured on an H100 (numba-cuda 0.30.4):
dispatch costs ~100 us per kernel launch and numba's ``copy_to_device`` ~190 us per copy, so at
N = 2**24 the numba rows are bound by the host (the copy row most of all: compare with
``torch copy_`` there); at 2**26 they are bound by the GPU.

Usage (with tapegrad importable, e.g. ``PYTHONPATH=src``)::

    python benchmarks/gpu_elementwise.py [--sizes 67108864 16777216] [--runs 30] [--batch 10] [--json out.json]

Exits with status 2 and a message when no CUDA GPU is usable (or the simulator is on).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _fail(message: str) -> None:
    print(f"gpu_elementwise: {message}", file=sys.stderr)
    sys.exit(2)


def _require_gpu() -> Any:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        _fail("NUMBA_ENABLE_CUDASIM=1 is set: the simulator cannot be benchmarked; unset it on a GPU machine")
    try:
        from numba import cuda
    except ImportError as error:
        _fail(f"numba.cuda is not importable ({error}); pip install numba-cuda")
    if not cuda.is_available():
        _fail("no CUDA GPU is available here (numba.cuda.is_available() is False); run this on a GPU machine")
    return cuda


def _import_tapegrad() -> tuple[Any, Any]:
    try:
        from tapegrad.backends import cuda_kernels
    except ImportError:  # run from a checkout without PYTHONPATH=src
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from tapegrad.backends import cuda_kernels
    from tapegrad.ops import elementwise
    return cuda_kernels, elementwise


def w2_chain(ck: Any, ew: Any) -> Any:
    """``y = tanh(x * c + d) * x + sigmoid(x)`` and ``dy/dx`` (times g) by the VJP rules;
    operands x, c, d, g (as in tests/cuda/test_cuda_kernels.py)."""
    steps = [(ew._mul, (0, 1)), (ew._add, (4, 2)), (ew._tanh, (5,)), (ew._mul, (6, 0)),
             (ew._sigmoid, (0,)), (ew._add, (7, 8)),                                  # 9: y
             (ew._sigmoid_backward, (3, 8)), (ew._mul, (3, 0)), (ew._mul, (3, 6)),
             (ew._tanh_backward, (11, 6)), (ew._mul, (13, 1)), (ew._add, (12, 14)),
             (ew._add, (15, 10))]                                                     # 16: dy/dx
    return ck.Chain("asss", steps, outputs=(9, 16))


def median_ms(cuda: Any, launch: Callable[[], None], runs: int, warmup: int, stream: Any, batch: int) -> float:
    """Median GPU time of one ``launch`` in milliseconds: each run times ``batch`` launches
    queued back to back on ``stream`` between two CUDA events, so that the GPU does not idle
    while Python prepares the next launch (numba-cuda's dispatch takes tens of microseconds)."""
    for _ in range(warmup):
        launch()
    stream.synchronize()
    times = []
    for _ in range(runs):
        start, end = cuda.event(), cuda.event()
        start.record(stream)
        for _ in range(batch):
            launch()
        end.record(stream)
        end.synchronize()
        times.append(start.elapsed_time(end) / batch)
    return statistics.median(times)


def torch_median_ms(torch: Any, launch: Callable[[], None], runs: int, warmup: int, batch: int) -> float:
    """As :func:`median_ms`, on PyTorch's current stream."""
    for _ in range(warmup):
        launch()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(batch):
            launch()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / batch)
    return statistics.median(times)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _torch_cuda() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def measure(cuda: Any, ck: Any, ew: Any, n: int, runs: int, warmup: int, batch: int) -> list[dict[str, Any]]:
    """The rows for one size: name, bytes moved, median ms, GB/s."""
    rng = np.random.default_rng(0)
    host = rng.standard_normal(n, dtype=np.float32)
    stream = cuda.stream()  # explicit, so that the copy is asynchronous like the kernels
    x = cuda.to_device(host, stream=stream)
    copy_out, y, dy = (cuda.device_array(n, np.float32, stream=stream) for _ in range(3))
    blocks, threads = ck.launch_shape(n)
    identity = ck.elementwise_chain(ew._identity, "a").module().flat[blocks, threads, stream]
    chain = w2_chain(ck, ew)
    fused = chain.module().flat[blocks, threads, stream]
    scalars = (np.float32(0.5), np.float32(1), np.float32(1))

    # Correctness first: the fused kernel against float64 NumPy on the same inputs.
    ck.run_chain(chain, [y, dy], [x, *scalars], stream=stream)
    stream.synchronize()
    x64 = host.astype(np.float64)
    t, s = np.tanh(x64 * 0.5 + 1), 1 / (1 + np.exp(-x64))
    error_y = float(np.max(np.abs(y.copy_to_host() - (t * x64 + s))))
    error_dy = float(np.max(np.abs(dy.copy_to_host() - ((1 - t * t) * 0.5 * x64 + t + s * (1 - s)))))
    if max(error_y, error_dy) > 1e-4:
        print(f"gpu_elementwise: fused kernel is wrong: max errors {error_y:.2e}, {error_dy:.2e}", file=sys.stderr)
        sys.exit(1)

    def timed(launch: Callable[[], None]) -> float:
        return median_ms(cuda, launch, runs, warmup, stream, batch)

    rows = [
        ("copy (cudaMemcpy D2D)", 8 * n, timed(lambda: copy_out.copy_to_device(x, stream=stream))),
        ("identity kernel", 8 * n, timed(lambda: identity(copy_out, x))),
        ("fused W2 fwd+bwd", 12 * n, timed(lambda: fused(y, dy, x, *scalars))),
    ]
    torch = _torch_cuda()
    if torch is not None:
        tx = torch.from_numpy(host).cuda().requires_grad_()
        ones = torch.ones_like(tx)
        tcopy = torch.empty_like(tx)
        source = tx.detach()

        def torch_step() -> None:
            tx.grad = None
            ty = torch.tanh(tx * 0.5 + 1) * tx + torch.sigmoid(tx)
            ty.backward(ones)

        rows.append(("torch copy_", 8 * n, torch_median_ms(torch, lambda: tcopy.copy_(source), runs, warmup, batch)))
        rows.append(("torch eager W2 fwd+bwd", 12 * n, torch_median_ms(torch, torch_step, runs, warmup, batch)))
    copy_gbs = rows[0][1] / rows[0][2] / 1e6
    return [{"n": n, "name": name, "bytes": nbytes, "ms": ms, "GB/s": nbytes / ms / 1e6,
             "of_copy": nbytes / ms / 1e6 / copy_gbs, "max_error": [error_y, error_dy] if "fused" in name else None}
            for name, nbytes, ms in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1 << 26, 1 << 24])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10, help="launches timed together per run")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.runs < 20:
        parser.error("--runs must be at least 20")
    cuda = _require_gpu()
    ck, ew = _import_tapegrad()
    import numba

    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    print(f"GPU: {name} (compute capability {device.compute_capability}); numba {numba.__version__}, "
          f"numba-cuda {_version('numba-cuda')}")
    print(f"per launch: median of {args.runs} runs of {args.batch} back-to-back launches (CUDA events), "
          f"after {args.warmup} warm-up launches\n")
    all_rows = []
    for n in args.sizes:
        rows = measure(cuda, ck, ew, n, args.runs, args.warmup, args.batch)
        all_rows += rows
        print(f"N = {n} float32 ({4 * n / 2**20:.0f} MiB)")
        for row in rows:
            print(f"  {row['name']:<26} {row['ms'] * 1e3:9.1f} us  {row['GB/s']:8.1f} GB/s  "
                  f"{row['of_copy']:6.1%} of copy")
        fused = next(r for r in rows if "fused" in r["name"])
        print(f"  fused max abs error vs float64: y {fused['max_error'][0]:.1e}, dy/dx {fused['max_error'][1]:.1e}\n")
    if args.json:
        args.json.write_text(json.dumps({"gpu": name, "rows": all_rows}, indent=1))


if __name__ == "__main__":
    main()
