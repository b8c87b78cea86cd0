"""The README's main job, the CPU example trainer, runs from the command line."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

import tapegrad

ROOT = pathlib.Path(__file__).parents[1]
TRAINER = ROOT / "examples" / "train_cpu.py"


def run_trainer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TRAINER), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_trainer_runs_one_epoch_and_writes_its_outputs(tmp_path: pathlib.Path, model: str) -> None:
    result = run_trainer("--model", model, "--epochs", "1", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["epoch", "1"]
    loss, accuracy = float(lines[0].split()[3]), float(lines[0].split()[6])
    assert 0 < loss < 2.3  # below log(10), the loss of guessing
    assert 0.5 < accuracy <= 1.0  # one epoch already separates most digits
    assert lines[-1].startswith(f"final test accuracy {accuracy:.3f}")

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == model and len(metrics["loss"]) == 1
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The checkpoint restores the trained model: same accuracy from a fresh process' weights.
    checkpoint = tapegrad.load(tmp_path / f"digits_{model}.ckpt")
    assert checkpoint["epoch"] == 1 and checkpoint["test_accuracy"] == pytest.approx(accuracy, abs=5e-4)
    sys.path.insert(0, str(TRAINER.parent))
    try:
        import train_cpu
    finally:
        sys.path.remove(str(TRAINER.parent))
    restored = train_cpu.MODELS[model]()
    restored.load_state_dict(checkpoint["model"])
    _, test_set = train_cpu.load_digits(seed=0)
    assert train_cpu.evaluate(restored, tapegrad.utils.data.DataLoader(test_set, batch_size=100)) == \
        checkpoint["test_accuracy"]
    assert "state" in checkpoint["optimizer"] and "param_groups" in checkpoint["optimizer"]


def test_trainer_rejects_bad_flags() -> None:
    result = run_trainer("--device", "cuda", "--epochs", "1")
    assert result.returncode == 2 and "--device cuda is not available" in result.stderr
    result = run_trainer("--epochs", "0")
    assert result.returncode == 2 and "must be positive" in result.stderr
