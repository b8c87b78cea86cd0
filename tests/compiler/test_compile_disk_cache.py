"""The generated step is cached on disk (``TAPEGRAD_CACHE_DIR``): a second process that traces
the same step loads the module and Numba's compiled code instead of compiling again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, time
    import numpy as np
    import tapegrad
    import tapegrad.nn as nn
    import tapegrad.nn.functional as F
    from tapegrad.backends import kernel_cache

    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def train_step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = tapegrad.compile(train_step)
    rng = np.random.default_rng(0)
    x = tapegrad.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    y = tapegrad.from_numpy(rng.standard_normal((16, 1)).astype(np.float32))
    times, losses = [], []
    for _ in range(4):
        start = time.perf_counter()
        loss = compiled(x, y)
        times.append(time.perf_counter() - start)
        losses.append(float(loss.detach().numpy()))
    print(json.dumps({"times": times, "losses": losses, "traces": compiled.traces,
                      "cache_dir": str(kernel_cache.cache_dir()),
                      "modules": sorted(m for m in kernel_cache._loaded if ".step_" in m)}))
""")


def _run(script: Path, cache: Path) -> dict:
    env = dict(os.environ, TAPEGRAD_CACHE_DIR=str(cache))
    env.pop("NUMBA_CACHE_DIR", None)  # Numba's index files must sit beside the generated modules
    env.pop("TAPEGRAD_LOG", None)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _files(cache: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(cache)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in cache.rglob("*") if p.is_file()}


def test_second_process_reuses_the_generated_step(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"
    first = _run(script, cache)
    after_first = _files(cache)
    second = _run(script, cache)
    after_second = _files(cache)

    assert Path(first["cache_dir"]).is_relative_to(cache)
    steps = [name for name in after_first
             if Path(name).name.startswith("step_train_step_") and name.endswith(".py")]
    assert len(steps) == 1
    assert first["modules"] == second["modules"] and len(first["modules"]) == 1
    numba_files = [name for name in after_first if name.endswith((".nbi", ".nbc"))]
    assert any("step_train_step_" in name for name in numba_files)
    # Nothing new was generated or compiled by the second process, and nothing was rewritten.
    assert after_second == after_first
    # Both processes traced once and computed the same losses.
    assert first["traces"] == second["traces"] == 1
    assert first["losses"] == second["losses"]
    # The first replay compiles in the first process and only loads in the second.
    assert second["times"][2] < first["times"][2]
    print(f"first process: call times {first['times']}; second process: {second['times']}")


def test_a_changed_optimizer_update_changes_the_steps_source() -> None:
    """Numba's cache of a compiled step names the update kernel's generated module, whose name
    follows the update's source: the step's own source must change with it, or a warm cache
    would load a step that imports a module no longer generated."""
    from tapegrad.compiler.rules import _optimizer_kernel_call
    from tapegrad.optim._fused import FusedKernel

    old = FusedKernel("optim_probe", "param, grad", ("lr",), ("maximize",), "    param[i] = param[i] - lr * grad[i]")
    new = FusedKernel("optim_probe", "param, grad", ("lr",), ("maximize",), "    param[i] -= lr * grad[i]")
    assert _optimizer_kernel_call(old, (False,)) != _optimizer_kernel_call(new, (False,))
    assert _optimizer_kernel_call(old, (False,)) == _optimizer_kernel_call(old, (False,))
    assert _optimizer_kernel_call(old, (False,)) != _optimizer_kernel_call(old, (True,))
