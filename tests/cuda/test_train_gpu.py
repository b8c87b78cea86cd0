"""examples/train_gpu.py trains on CUDA and gives the CPU trainer's numbers for the same
configuration: on the GPU in a run with one, in the simulator (``--simulate``) in the simulated
run (``NUMBA_ENABLE_CUDASIM=1``). The PTX-only run (no GPU, no simulator) skips them: the
simulated run already trains under the simulator."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from cuda_helpers import SIMULATED

from numba import cuda  # noqa: E402  (after cuda_helpers, which imports numba first)

if not SIMULATED and not cuda.is_available():
    pytest.skip("the GPU trainer runs on a GPU or under the simulator (NUMBA_ENABLE_CUDASIM=1)",
                allow_module_level=True)
SIMULATE = ("--simulate",) if SIMULATED else ()

ROOT = pathlib.Path(__file__).parents[2]
# One optimizer step and one evaluation of 16 images: the simulator runs every CUDA thread in
# Python, so the configuration is tiny.
FLAGS = ("--model", "mlp", "--limit", "16", "--epochs", "1", "--batch-size", "16", "--optimizer", "adam")


def _train(script: str, out: pathlib.Path, *extra: str) -> dict:
    if script == "train_gpu.py":
        extra = SIMULATE + extra
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), *FLAGS, "--out", str(out), *extra],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "final test accuracy" in result.stdout
    return json.loads((out / "metrics.json").read_text())


def test_gpu_training_matches_the_cpu_trainer(tmp_path: pathlib.Path) -> None:
    gpu = _train("train_gpu.py", tmp_path / "gpu")
    cpu = _train("train_cpu.py", tmp_path / "cpu")
    assert gpu["device"] == "cuda" and cpu["device"] == "cpu"
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=1e-5)
    assert gpu["test_accuracy"] == cpu["test_accuracy"]
    assert (tmp_path / "gpu" / "digits_mlp.ckpt").is_file()


def test_compiled_gpu_training_matches_the_cpu_trainer(tmp_path: pathlib.Path) -> None:
    # Two epochs of two batches of two: the step runs eagerly, is traced, then replayed twice.
    # (Compiled CPU steps are checked against eager ones in tests/compiler.)
    flags = ("--limit", "4", "--epochs", "2", "--batch-size", "2")
    gpu = _train("train_gpu.py", tmp_path / "gpu", "--compile", *flags)
    cpu = _train("train_cpu.py", tmp_path / "cpu", *flags)
    assert gpu["compile"] and not cpu["compile"] and gpu["device"] == "cuda"
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=1e-5)
    assert gpu["test_accuracy"] == cpu["test_accuracy"]


def test_each_trainers_help_names_its_device() -> None:
    for script, device in (("train_gpu.py", "on a CUDA GPU"), ("train_cpu.py", "on the CPU")):
        result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--help"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and f"classifier {device} with tapegrad" in result.stdout, result.stdout
