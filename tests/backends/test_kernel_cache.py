"""The on-disk kernel cache, lazy compilation, and the threading layer choice."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tapegrad
from tapegrad.backends import cpu, kernel_cache


def run_python(code: str, cache_dir: str, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, TAPEGRAD_CACHE_DIR=cache_dir, **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment,
                          capture_output=True, text=True, timeout=300)


PROBE = """
    import tapegrad
    from tapegrad.backends import cpu
    from tapegrad.ops import elementwise as ew
    x = tapegrad.arange(6.0).reshape(2, 3)
    y = (x * 2 + 1).tanh()
    kernel = cpu.loop_kernels(ew._mul, "as")[2]
    print(y.sum().item(), sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
"""


def test_second_process_loads_kernels_from_disk(tmp_path) -> None:
    first = run_python(PROBE, str(tmp_path))
    assert first.returncode == 0, first.stderr
    value, hits, misses = first.stdout.split()
    assert int(misses) >= 1  # compiled, then written to the cache
    second = run_python(PROBE, str(tmp_path))
    assert second.returncode == 0, second.stderr
    value2, hits2, misses2 = second.stdout.split()
    assert value2 == value
    assert int(hits2) >= 1 and int(misses2) == 0
    assert any(p.suffix == ".py" for p in tmp_path.rglob("*.py"))
    assert any(p.suffix in (".nbi", ".nbc") for p in tmp_path.rglob("*"))


def test_unwritable_cache_dir_falls_back_to_memory_with_a_warning(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_python("""
        import warnings
        warnings.simplefilter("always")
        import tapegrad
        print((tapegrad.ones(3) * 2).sum().item())
    """, str(blocker / "cache"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "6.0"
    assert "not writable" in result.stderr and "RuntimeWarning" in result.stderr


def test_import_compiles_nothing() -> None:
    result = run_python("""
        import tapegrad
        from tapegrad.backends import kernel_cache, cpu
        print(len(kernel_cache._loaded), len(cpu._loaded_modules))
    """, os.environ.get("TAPEGRAD_CACHE_DIR", str(kernel_cache.default_cache_dir())))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "0"]


def test_generated_module_is_keyed_by_its_source(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kernel_cache, "_cache_dir", tmp_path)
    first = kernel_cache.load_module("probe", "VALUE = 1\n")
    again = kernel_cache.load_module("probe", "VALUE = 1\n")
    other = kernel_cache.load_module("probe", "VALUE = 2\n")
    assert first is again and first.VALUE == 1 and other.VALUE == 2
    assert len(list(tmp_path.glob("probe_*.py"))) == 2


def test_large_arrays_use_threaded_kernels_and_match_small_ones() -> None:
    n = cpu.PARALLEL_THRESHOLD + 3
    x = tapegrad.linspace(-3, 3, n, dtype=tapegrad.float64)
    big = (x * x + 1).sqrt()
    expected = np.sqrt(x.numpy() ** 2 + 1)
    np.testing.assert_allclose(big.numpy(), expected, rtol=1e-12)


def test_threads_launching_parallel_kernels_at_once() -> None:
    import threading

    n = cpu.PARALLEL_THRESHOLD * 2
    x = tapegrad.ones(n)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert float((x * 3 + 1).sum()) == 4.0 * n
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_parallel_kernels(tmp_path) -> None:
    result = run_python("""
        import os
        import tapegrad
        from tapegrad.backends import cpu
        n = cpu.PARALLEL_THRESHOLD * 2
        x = tapegrad.ones(n)
        print((x * 2).sum().item())
        pid = os.fork()
        if pid == 0:
            ok = (x * 2).sum().item() == 2.0 * n
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "0"
