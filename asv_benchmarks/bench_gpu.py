"""The GPU targets of the CUDA backend, as ratios measured side by side in one run (skipped
on a machine without a CUDA GPU, and under the simulator):

- the fused W2 forward+backward kernel's bandwidth as a fraction of a device-to-device copy's
  (target >= 0.7), measured by ``benchmarks/gpu_elementwise.py``;
- the W3 step on ``cuda`` over PyTorch's CUDA eager step (target <= 1.0), when a CUDA build of
  PyTorch is installed: the two libraries alternate round by round, so a change in load hits
  both, and the ratio is the median of the per-round ratios.

The W3 step time alone is ``bench_workloads.W3MLPStepCUDA``.
"""
from __future__ import annotations

import importlib.util
import statistics
import timeit
from pathlib import Path
from typing import Any

from .workloads import build, cuda_ready, warmed

_ROUNDS = 15
_ELEMENTS = 1 << 26  # float32: 256 MiB, large enough that launches are bound by the GPU


def _gpu_elementwise() -> Any:
    """``benchmarks/gpu_elementwise.py`` (a script beside this package, not a module of it)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_elementwise.py"
    spec = importlib.util.spec_from_file_location("gpu_elementwise", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seconds_per_step(step: Any) -> float:
    number = 5
    return min(timeit.repeat(step, number=number, repeat=3)) / number


class FusedElementwiseBandwidth:
    unit = "fraction of copy bandwidth"
    timeout = 600

    def setup(self) -> None:
        if not cuda_ready("tapegrad"):
            raise NotImplementedError("needs a CUDA GPU")

    def track_fused_w2_fraction_of_copy(self) -> float:
        script = _gpu_elementwise()
        from numba import cuda

        ck, ew = script._import_tapegrad()
        rows = script.measure(cuda, ck, ew, _ELEMENTS, runs=20, warmup=3, batch=10)
        return next(row["of_copy"] for row in rows if row["name"].startswith("fused"))


class W3StepOverTorchCUDA:
    unit = "tapegrad time / torch time"
    timeout = 600

    def setup(self) -> None:
        if not (cuda_ready("tapegrad") and cuda_ready("torch")):
            raise NotImplementedError("needs a CUDA GPU and a CUDA build of PyTorch")
        self.ours = warmed(build("W3-cuda", "tapegrad"), 5)
        self.theirs = warmed(build("W3-cuda", "torch"), 5)

    def track_w3_step_ratio(self) -> float:
        ratios = []
        for _ in range(_ROUNDS):
            ratios.append(_seconds_per_step(self.ours) / _seconds_per_step(self.theirs))
        return statistics.median(ratios)
