"""The README's main job, the CPU example trainer, runs from the command line."""
from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[1]


def test_cpu_trainer_runs_a_short_epoch_and_learns() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "train_cpu.py"), "--epochs", "3",
                             "--samples", "300"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["epoch", "1"], ["epoch", "2"], ["epoch", "3"]]
    losses = [float(line.split()[3]) for line in lines[:3]]
    assert losses[-1] < losses[0]  # training makes progress
    accuracy = float(lines[-1].split()[3])
    assert 0.5 < accuracy <= 1.0
