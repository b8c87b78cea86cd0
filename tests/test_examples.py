"""The README's main job, the CPU example trainer, runs from the command line."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest

import tapegrad

ROOT = pathlib.Path(__file__).parents[1]
TRAINER = ROOT / "examples" / "train_cpu.py"


def run_trainer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TRAINER), *args], capture_output=True, text=True, timeout=600)


def import_trainer() -> ModuleType:
    sys.path.insert(0, str(TRAINER.parent))
    try:
        import train_cpu
    finally:
        sys.path.remove(str(TRAINER.parent))
    return train_cpu


# --compile: one epoch of 23 batches runs the step eagerly, traces it, then replays it 20 times
# (the last, smaller batch is a shape of its own and runs eagerly).
@pytest.mark.parametrize("model, flags", [pytest.param("cnn", (), id="cnn"), pytest.param("mlp", (), id="mlp"),
                                          pytest.param("mlp", ("--compile",), id="mlp-compile")])
def test_trainer_runs_one_epoch_and_writes_its_outputs(tmp_path: pathlib.Path, model: str,
                                                        flags: tuple[str, ...]) -> None:
    result = run_trainer("--model", model, "--epochs", "1", "--out", str(tmp_path), *flags)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["epoch", "1"]
    loss, accuracy = float(lines[0].split()[3]), float(lines[0].split()[6])
    assert 0 < loss < 2.3  # below log(10), the loss of guessing
    assert 0.5 < accuracy <= 1.0  # one epoch already separates most digits
    assert lines[-1].startswith(f"final test accuracy {accuracy:.3f}")

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == model and len(metrics["loss"]) == 1
    assert metrics["compile"] is ("--compile" in flags)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The checkpoint restores the trained model: same accuracy from a fresh process' weights.
    checkpoint = tapegrad.load(tmp_path / f"digits_{model}.ckpt")
    assert checkpoint["epoch"] == 1 and checkpoint["test_accuracy"] == pytest.approx(accuracy, abs=5e-4)
    train_cpu = import_trainer()
    restored = train_cpu.MODELS[model]()
    restored.load_state_dict(checkpoint["model"])
    _, test_set = train_cpu.load_digits(seed=0)
    assert train_cpu.evaluate(restored, tapegrad.utils.data.DataLoader(test_set, batch_size=100)) == \
        checkpoint["test_accuracy"]
    assert "state" in checkpoint["optimizer"] and "param_groups" in checkpoint["optimizer"]


def test_trainer_compile_names_a_layer_it_cannot_record(tmp_path: pathlib.Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # A layer that reads its input's values in Python can never be recorded: the trainer stops on
    # the traced (second) call with a message naming the layer, not with a traceback.
    class NumpyGate(tapegrad.nn.Module):
        def forward(self, x: tapegrad.Tensor) -> tapegrad.Tensor:
            return x * tapegrad.from_numpy((x.detach().numpy() > 0).astype(np.float32))

    train_cpu = import_trainer()
    nn = tapegrad.nn
    monkeypatch.setitem(train_cpu.MODELS, "gated", lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(64, 16), NumpyGate(), nn.Linear(16, 10)))
    with pytest.raises(SystemExit) as stopped:
        train_cpu.main(["--model", "gated", "--compile", "--epochs", "1", "--out", str(tmp_path)])
    message = str(stopped.value.code)
    assert message.startswith("--compile: tapegrad.compile cannot compile the gated model's steps in layer NumpyGate()")
    assert "Tensor.numpy()" in message and "without --compile" in message


def test_trainer_rejects_bad_flags() -> None:
    result = run_trainer("--device", "cuda", "--epochs", "1")
    assert result.returncode == 2 and "for --device cuda use examples/train_gpu.py" in result.stderr
    result = run_trainer("--limit", "0")
    assert result.returncode == 2 and "must be positive" in result.stderr
    result = run_trainer("--epochs", "0")
    assert result.returncode == 2 and "must be positive" in result.stderr


GPU_TRAINER = ROOT / "examples" / "train_gpu.py"


def test_gpu_trainer_without_a_gpu_says_so_and_fails() -> None:
    if tapegrad.cuda.is_available():
        pytest.skip("this machine has a GPU: the trainer would train (tests/cuda runs it)")
    result = subprocess.run([sys.executable, str(GPU_TRAINER), "--epochs", "1"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1
    assert "no CUDA device is available here" in result.stderr and "--simulate" in result.stderr
    assert not result.stdout
