"""examples/train_gpu.py trains on CUDA (here the simulator: ``--simulate``) and gives the CPU
trainer's numbers for the same configuration."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).parents[2]
# One optimizer step and one evaluation of 16 images: the simulator runs every CUDA thread in
# Python, so the configuration is tiny.
FLAGS = ("--model", "mlp", "--limit", "16", "--epochs", "1", "--batch-size", "16", "--optimizer", "adam")


def _train(script: str, out: pathlib.Path, *extra: str) -> dict:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), *FLAGS, "--out", str(out), *extra],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "final test accuracy" in result.stdout
    return json.loads((out / "metrics.json").read_text())


def test_simulated_gpu_training_matches_the_cpu_trainer(tmp_path: pathlib.Path) -> None:
    gpu = _train("train_gpu.py", tmp_path / "gpu", "--simulate")
    cpu = _train("train_cpu.py", tmp_path / "cpu")
    assert gpu["device"] == "cuda" and cpu["device"] == "cpu"
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=1e-5)
    assert gpu["test_accuracy"] == cpu["test_accuracy"]
    assert (tmp_path / "gpu" / "digits_mlp.ckpt").is_file()


def test_simulated_gpu_training_compiled_matches_eager(tmp_path: pathlib.Path) -> None:
    # Three epochs of two batches: each step and evaluation shape is traced, then replayed.
    flags = ("--epochs", "3", "--batch-size", "8")
    compiled = _train("train_gpu.py", tmp_path / "compiled", "--simulate", "--compile", *flags)
    eager = _train("train_gpu.py", tmp_path / "eager", "--simulate", *flags)
    assert compiled["compile"] and not eager["compile"]
    np.testing.assert_allclose(compiled["loss"], eager["loss"], rtol=1e-5)
    assert compiled["test_accuracy"] == eager["test_accuracy"]


def test_simulated_gpu_training_of_the_cnn_matches_the_cpu_trainer(tmp_path: pathlib.Path) -> None:
    flags = ("--model", "cnn", "--limit", "8", "--batch-size", "8")
    gpu = _train("train_gpu.py", tmp_path / "gpu", "--simulate", *flags)
    cpu = _train("train_cpu.py", tmp_path / "cpu", *flags)
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=1e-5)
    assert gpu["test_accuracy"] == cpu["test_accuracy"]
