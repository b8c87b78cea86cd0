"""Generated kernel modules, cached on disk so a new process loads instead of compiling.

Numba's ``cache=True`` cannot cache code made with ``exec`` (it has no source file to key
on). So a generated module is written to ``<cache dir>/<name>_<hash>.py`` (atomically: a
temp file, then ``os.replace``), registered in ``sys.modules`` *before* it runs (Numba's
cache loader imports the module by name; without this a second process crashes), and run
from that file. Kernels inside use ``@njit(cache=CACHE)``. When the cache dir cannot be
written, modules run from memory with ``CACHE = False`` and a warning is given once.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import types
from pathlib import Path
from ..user_warnings import warn_user

_FORMAT_VERSION = "1"
_cache_dir: Path | None | bool = False  # False: not resolved yet; None: unusable
_loaded: dict[str, types.ModuleType] = {}
_fingerprint_parts: list[str] = []


def default_cache_dir() -> Path:
    override = os.environ.get("TAPEGRAD_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tapegrad"


def cache_dir() -> Path | None:
    """The kernel cache directory, or None when it cannot be written (resolved once)."""
    global _cache_dir
    if _cache_dir is False:
        import numba

        path = default_cache_dir() / f"kernels-v{_FORMAT_VERSION}-numba{numba.__version__}"
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe", delete=True)
            probe.close()
            _cache_dir = path
        except OSError as error:
            warn_user(f"tapegrad: kernel cache dir {path} is not writable ({error}); "
                      "kernels are compiled in memory for this process only "
                      "(set TAPEGRAD_CACHE_DIR to a writable directory)", RuntimeWarning)
            _cache_dir = None
    return _cache_dir


def add_fingerprint(text: str) -> None:
    """Mix source that generated kernels depend on (helper modules) into every cache key,
    because Numba's cache only checks the generated file itself for staleness."""
    _fingerprint_parts.append(hashlib.sha256(text.encode()).hexdigest())


def load_module(name: str, source: str) -> types.ModuleType:
    """Return the module for ``source``, writing and importing it on first use."""
    key_material = "\n".join([_FORMAT_VERSION, *_fingerprint_parts, source])
    digest = hashlib.sha256(key_material.encode()).hexdigest()[:20]
    module_name = f"tapegrad_kernels.{name}_{digest}"
    module = _loaded.get(module_name)
    if module is not None:
        return module
    directory = cache_dir()
    if directory is None:
        module = types.ModuleType(module_name)
        module.__dict__["CACHE"] = False
        sys.modules[module_name] = module
        exec(compile(source, f"<tapegrad kernel {name}>", "exec"), module.__dict__)
    else:
        path = directory / f"{name}_{digest}.py"
        if not path.exists():
            _write_atomically(path, source)
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        module.__dict__["CACHE"] = True
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    _loaded[module_name] = module
    return module


def _write_atomically(path: Path, text: str) -> None:
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise


# Generated modules live under a package name of their own so they never shadow user modules.
sys.modules.setdefault("tapegrad_kernels", types.ModuleType("tapegrad_kernels"))
