"""Tests for tapegrad.save / tapegrad.load: round trips, file objects, errors and atomic writes."""
from __future__ import annotations

import io
import json
import math
import os
import pathlib
import pickle
import stat
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad import serialization

try:
    import torch
except ImportError:
    torch = None


def compares_with_torch(test: Any) -> Any:
    """Mark a test that needs PyTorch; it is skipped where torch is not installed."""
    return pytest.mark.torch(pytest.mark.skipif(torch is None, reason="torch is not installed")(test))


# --------------------------------------------------------------------------- helpers

def _round_trip(obj: Any) -> Any:
    buffer = io.BytesIO()
    tapegrad.save(obj, buffer)
    buffer.seek(0)
    return tapegrad.load(buffer)


def _assert_same(loaded: Any, original: Any, path: str = "obj") -> None:
    """Equal values, the same container types and key order, and tensors of the same dtype and shape."""
    assert type(loaded) is (tapegrad.Tensor if isinstance(original, tapegrad.Tensor) else type(original)), path
    if isinstance(original, tapegrad.Tensor):
        assert loaded.dtype is original.dtype and loaded.shape == original.shape, path
        assert not loaded.requires_grad and loaded.grad_fn is None and loaded.is_contiguous(), path
        np.testing.assert_array_equal(loaded.numpy(), original.detach().numpy(), err_msg=path)
    elif isinstance(original, np.ndarray):
        assert loaded.dtype == original.dtype and loaded.shape == original.shape, path
        np.testing.assert_array_equal(loaded, original, err_msg=path)
    elif isinstance(original, dict):
        assert list(loaded) == list(original), path
        for key in original:
            _assert_same(loaded[key], original[key], f"{path}[{key!r}]")
    elif isinstance(original, (list, tuple)):
        assert len(loaded) == len(original), path
        for i, (a, b) in enumerate(zip(loaded, original)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(original, float) and math.isnan(original):
        assert math.isnan(loaded), path
    elif isinstance(original, float):
        assert loaded == original and math.copysign(1.0, loaded) == math.copysign(1.0, original), path
    else:
        assert loaded == original, path


def _model_state() -> OrderedDict:
    model = tapegrad.nn.Sequential(tapegrad.nn.Linear(3, 4), tapegrad.nn.ReLU(), tapegrad.nn.Linear(4, 2))
    return model.state_dict()


def _optimizer_state() -> dict:
    return {
        "state": {
            0: {"step": tapegrad.tensor(3.0), "exp_avg": tapegrad.randn(4, 3), "exp_avg_sq": tapegrad.rand(4, 3)},
            1: {"step": tapegrad.tensor(3.0), "exp_avg": tapegrad.randn(4), "exp_avg_sq": tapegrad.rand(4)},
        },
        "param_groups": [{"lr": 0.1, "params": [0, 1], "betas": (0.9, 0.999), "eps": 1e-8,
                          "weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None,
                          "capturable": False, "differentiable": False, "fused": None}],
    }


def _files_in(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _write_zip(path: pathlib.Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _manifest(root: Any, **fields: Any) -> bytes:
    manifest = {"format": serialization.FORMAT_NAME, "version": serialization.FORMAT_VERSION, "root": root}
    manifest.update(fields)
    return json.dumps(manifest).encode()


# --------------------------------------------------------------------------- round trips

def test_model_state_dict_round_trip(tmp_path: pathlib.Path) -> None:
    state = _model_state()
    path = tmp_path / "model.pt"
    tapegrad.save(state, path)
    loaded = tapegrad.load(path)
    assert isinstance(loaded, OrderedDict)
    _assert_same(loaded, state)
    model = tapegrad.nn.Sequential(tapegrad.nn.Linear(3, 4), tapegrad.nn.ReLU(), tapegrad.nn.Linear(4, 2))
    model.load_state_dict(loaded)
    _assert_same(model.state_dict(), state)


def test_optimizer_state_dict_round_trip(tmp_path: pathlib.Path) -> None:
    state = _optimizer_state()
    tapegrad.save(state, str(tmp_path / "optim.pt"))
    loaded = tapegrad.load(str(tmp_path / "optim.pt"))
    _assert_same(loaded, state)
    assert list(loaded["state"]) == [0, 1]  # int keys stay ints
    assert loaded["param_groups"][0]["betas"] == (0.9, 0.999)


def test_training_resumes_from_a_checkpoint(tmp_path: pathlib.Path) -> None:
    def make() -> tuple[Any, Any, Any]:
        tapegrad.manual_seed(0)
        model = tapegrad.nn.Linear(3, 1)
        optimizer = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = tapegrad.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return model, optimizer, scheduler

    def train(model: Any, optimizer: Any, scheduler: Any, steps: range) -> None:
        for step in steps:
            x = tapegrad.arange(3.0) + step
            optimizer.zero_grad()
            (model(x) ** 2).sum().backward()
            optimizer.step()
            scheduler.step()

    reference = make()
    train(*reference, range(6))

    model, optimizer, scheduler = make()
    train(model, optimizer, scheduler, range(3))
    tapegrad.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict()}, tmp_path / "checkpoint.pt")
    checkpoint = tapegrad.load(tmp_path / "checkpoint.pt")
    resumed = make()
    resumed[0].load_state_dict(checkpoint["model"])
    resumed[1].load_state_dict(checkpoint["optimizer"])
    resumed[2].load_state_dict(checkpoint["scheduler"])
    train(*resumed, range(3, 6))
    _assert_same(resumed[0].state_dict(), reference[0].state_dict())
    assert resumed[1].param_groups[0]["lr"] == reference[1].param_groups[0]["lr"]


@pytest.mark.parametrize("dtype", [tapegrad.float32, tapegrad.float64, tapegrad.int32, tapegrad.int64,
                                   tapegrad.bool])
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 4), (2, 0, 3), (2, 3, 4)])
def test_tensor_dtypes_and_shapes(dtype: Any, shape: tuple[int, ...]) -> None:
    values = np.random.default_rng(0).normal(size=shape) * 100
    tensor = tapegrad.tensor(values).to(dtype)
    _assert_same(_round_trip(tensor), tensor)
    _assert_same(_round_trip({"t": tensor}), {"t": tensor})


def test_views_are_saved_as_their_values() -> None:
    base = tapegrad.arange(24.0).reshape(4, 6)
    views = {"t": base.t(), "strided": base[::2, 1::3], "row": base[1], "element": base[2, 3],
             "expanded": tapegrad.tensor([1.0, 2.0]).expand(3, 2)}
    loaded = _round_trip(views)
    _assert_same(loaded, views)
    loaded["row"].add_(1.0)  # loaded tensors own their memory
    assert base[1].tolist() == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]


def test_loaded_tensors_are_plain_and_independent() -> None:
    weight = tapegrad.nn.Parameter(tapegrad.ones(2, 2))
    hidden = (tapegrad.ones(3, requires_grad=True) * 2)
    buffer = io.BytesIO()
    tapegrad.save({"weight": weight, "hidden": hidden}, buffer)
    weight.data.mul_(5.0)  # changing the source after saving does not change the file
    buffer.seek(0)
    loaded = tapegrad.load(buffer)
    assert type(loaded["weight"]) is tapegrad.Tensor and not loaded["weight"].requires_grad
    assert loaded["weight"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert loaded["hidden"].grad_fn is None and not loaded["hidden"].requires_grad


def test_python_values() -> None:
    obj = {
        "none": None, "true": True, "false": False, "zero": 0, "negative": -7, "big": 2**70, "small": -(2**80),
        "float": 0.1, "integral_float": 2.0, "negative_zero": -0.0, "tiny": 5e-324, "large": 1.7976931348623157e308,
        "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "text": "héllo \u2603 \"quoted\" \\ \n",
        "empty_text": "", "empty_list": [], "empty_tuple": (), "empty_dict": {}, "nested": [[1, (2, [3.5])], {}],
        "size": tapegrad.Size([2, 3]), "one_tuple": (1,), "ordered": OrderedDict([("b", 1), ("a", 2)]),
    }
    loaded = _round_trip(obj)
    _assert_same(loaded, obj)
    assert type(loaded["integral_float"]) is float and type(loaded["zero"]) is int
    assert type(loaded["true"]) is bool and isinstance(loaded["size"], tapegrad.Size)


def test_key_types_and_order() -> None:
    obj = {"b": 1, 3: 2, "a": 3, -1: 4, True: 5, 2.5: 6, None: 7, "": 8}
    loaded = _round_trip(obj)
    assert list(loaded.items()) == list(obj.items())
    assert [type(k) for k in loaded] == [type(k) for k in obj]


def test_numpy_values() -> None:
    obj = {"array": np.arange(6, dtype=np.int16).reshape(2, 3), "float": np.float64(0.1),
           "float32": np.float32(1.5), "flag": np.bool_(True), "uint": np.arange(3, dtype=np.uint8),
           "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "zero_d": np.array(3.0)}
    loaded = _round_trip(obj)
    _assert_same(loaded, obj)
    assert type(loaded["float"]) is np.float64 and type(loaded["flag"]) is np.bool_


def test_shared_tensors_load_as_one_tensor() -> None:
    weight = tapegrad.randn(3, 3)
    loaded = _round_trip({"encoder.weight": weight, "decoder.weight": weight, "other": weight.clone()})
    assert loaded["encoder.weight"] is loaded["decoder.weight"]
    assert loaded["other"] is not loaded["encoder.weight"]
    buffer = io.BytesIO()
    tapegrad.save({"a": weight, "b": weight}, buffer)
    assert len(zipfile.ZipFile(buffer).namelist()) == 2  # the manifest and one array


def test_top_level_objects() -> None:
    for obj in (tapegrad.tensor([1, 2]), [1, 2], (1,), 3, "x", None, 1.5):
        _assert_same(_round_trip(obj), obj)


def test_saving_is_deterministic() -> None:
    state = _optimizer_state()
    first, second = io.BytesIO(), io.BytesIO()
    tapegrad.save(state, first)
    tapegrad.save(state, second)
    assert first.getvalue() == second.getvalue()


def test_archive_layout() -> None:
    buffer = io.BytesIO()
    tapegrad.save({"w": tapegrad.ones(2)}, buffer)
    with zipfile.ZipFile(buffer) as archive:
        assert archive.namelist() == ["manifest.json", "arrays/0.npy"]
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "tapegrad.checkpoint" and manifest["version"] == 1
        array = np.lib.format.read_array(archive.open("arrays/0.npy"), allow_pickle=False)
        np.testing.assert_array_equal(array, np.ones(2, np.float32))


def test_save_and_load_never_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pickle must not be used")

    for name in ("dump", "dumps", "Pickler", "load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    state = _optimizer_state()
    _assert_same(_round_trip(state), state)


# --------------------------------------------------------------------------- file objects and paths

def test_file_objects(tmp_path: pathlib.Path) -> None:
    state = _optimizer_state()
    path = tmp_path / "state.tg"
    with open(path, "wb") as file:
        tapegrad.save(state, file)
    _assert_same(tapegrad.load(path), state)
    with open(path, "rb") as file:
        _assert_same(tapegrad.load(file), state)


def test_file_object_at_an_offset() -> None:
    buffer = io.BytesIO()
    buffer.write(b"header")
    tapegrad.save({"x": tapegrad.ones(2)}, buffer)
    buffer.seek(6)
    assert tapegrad.load(buffer)["x"].tolist() == [1.0, 1.0]


def test_unseekable_streams() -> None:
    class Stream(io.RawIOBase):
        def __init__(self, data: bytes = b"") -> None:
            self.source = io.BytesIO(data)
            self.written = bytearray()

        def readable(self) -> bool:
            return True

        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, b: Any) -> int:
            data = self.source.read(len(b))
            b[:len(data)] = data
            return len(data)

        def write(self, b: Any) -> int:
            self.written += bytes(b)
            return len(b)

    out = Stream()
    tapegrad.save({"x": tapegrad.arange(3)}, out)
    loaded = tapegrad.load(Stream(bytes(out.written)))
    assert loaded["x"].tolist() == [0, 1, 2]


def test_pathlike_and_bytes_paths(tmp_path: pathlib.Path) -> None:
    tapegrad.save([1, 2], tmp_path / "a")
    assert tapegrad.load(os.fsencode(tmp_path / "a")) == [1, 2]


def test_bad_destinations(tmp_path: pathlib.Path) -> None:
    with pytest.raises(RuntimeError, match="Parent directory .*missing does not exist"):
        tapegrad.save({}, tmp_path / "missing" / "x.pt")
    with pytest.raises(TypeError, match="expects a path or a binary file object, got int"):
        tapegrad.save({}, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a path or a binary file object, got int"):
        tapegrad.load(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        tapegrad.load(tmp_path / "nothing.pt")


def test_map_location() -> None:
    buffer = io.BytesIO()
    tapegrad.save({"x": tapegrad.ones(2)}, buffer)
    for location in (None, "cpu", tapegrad.device("cpu"), {"cuda:0": "cpu"}):
        buffer.seek(0)
        assert tapegrad.load(buffer, map_location=location)["x"].tolist() == [1.0, 1.0]
    buffer.seek(0)
    doubled = tapegrad.load(buffer, map_location=lambda tensor, location: tensor * 2)
    assert doubled["x"].tolist() == [2.0, 2.0]
    buffer.seek(0)
    assert tapegrad.load(buffer, lambda tensor, location: None, weights_only=False)["x"].tolist() == [1.0, 1.0]
    buffer.seek(0)
    if tapegrad.cuda.is_available():
        assert tapegrad.load(buffer, map_location="cuda:0")["x"].device == tapegrad.device("cuda", 0)
    else:
        with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device but "
                                               "tapegrad.cuda.is_available.. is False"):
            tapegrad.load(buffer, map_location="cuda:0")


# --------------------------------------------------------------------------- unsupported objects

@pytest.mark.parametrize("obj, type_name, where", [
    ({"a": [1, {"b": object()}]}, "object", "obj['a'][1]['b']"),
    ({"state": {0: {"step": {1, 2}}}}, "set", "obj['state'][0]['step']"),
    ([lambda: None], "function", "obj[0]"),
    (b"bytes", "bytes", "the top level"),
    ({"dtype": tapegrad.float32}, "tapegrad.dtypes.dtype", "obj['dtype']"),
    ({"c": 1 + 2j}, "complex", "obj['c']"),
    ({"s": np.array(["a"])}, "NumPy array of dtype <U1", "obj['s']"),
    ({"o": np.array([None], dtype=object)}, "NumPy array of dtype object", "obj['o']"),
])
def test_unsupported_objects(obj: Any, type_name: str, where: str) -> None:
    with pytest.raises(TypeError) as info:
        _round_trip(obj)
    assert type_name in str(info.value) and where in str(info.value)


def test_unsupported_keys_and_cycles() -> None:
    with pytest.raises(TypeError, match=r"dict key of type tuple \(\(1, 2\)\) at obj\['outer'\]"):
        _round_trip({"outer": {(1, 2): 3}})
    looped: list[Any] = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match=r"contains itself, at obj\[1\]"):
        _round_trip(looped)
    shared = [1, 2]
    assert _round_trip([shared, shared]) == [[1, 2], [1, 2]]  # repeated, not cyclic: fine


# --------------------------------------------------------------------------- atomic writes

def test_failed_save_leaves_existing_file_untouched(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "checkpoint.pt"
    tapegrad.save({"version": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"obj\['state'\]\[0\]\['exp_avg'\]"):
        tapegrad.save({"model": _model_state(), "state": {0: {"exp_avg": object()}}}, path)
    assert path.read_bytes() == before
    assert _files_in(tmp_path) == ["checkpoint.pt"]
    assert tapegrad.load(path) == {"version": 1}


def test_crash_while_writing_leaves_existing_file_untouched(tmp_path: pathlib.Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoint.pt"
    tapegrad.save({"version": 1}, path)
    before = path.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def failing_write_array(file: Any, array: np.ndarray, *args: Any, **kwargs: Any) -> None:
        calls.append(array.shape)
        if len(calls) == 3:
            file.write(b"partial data")
            raise OSError("disk full")
        real_write_array(file, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array)
    with pytest.raises(OSError, match="disk full"):
        tapegrad.save(_model_state(), path)
    assert len(calls) == 3
    assert path.read_bytes() == before
    assert _files_in(tmp_path) == ["checkpoint.pt"]


def test_interrupt_while_writing_removes_the_temporary_file(tmp_path: pathlib.Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tapegrad.save({"x": tapegrad.ones(2)}, tmp_path / "new.pt")
    assert _files_in(tmp_path) == []


def test_successful_overwrite(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "checkpoint.pt"
    tapegrad.save({"version": 1}, path)
    os.chmod(path, 0o640)
    tapegrad.save({"version": 2}, path)
    assert tapegrad.load(path) == {"version": 2}
    assert _files_in(tmp_path) == ["checkpoint.pt"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640  # an overwritten file keeps its permissions


def test_new_file_permissions_follow_the_umask(tmp_path: pathlib.Path) -> None:
    previous = os.umask(0o022)
    try:
        tapegrad.save({}, tmp_path / "new.pt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "new.pt").st_mode) == 0o644


def test_save_through_a_symlink_keeps_the_link(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "real.pt"
    link = tmp_path / "link.pt"
    tapegrad.save({"v": 1}, target)
    link.symlink_to(target)
    tapegrad.save({"v": 2}, link)
    assert link.is_symlink() and tapegrad.load(target) == {"v": 2}


# --------------------------------------------------------------------------- damaged and foreign files

def _load_error(path: pathlib.Path) -> str:
    with pytest.raises(RuntimeError) as info:
        tapegrad.load(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_random_bytes_and_empty_files(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    assert "is not a tapegrad checkpoint" in _load_error(path)
    path.write_bytes(b"")
    assert "not a zip archive" in _load_error(path)
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert "pickle" in _load_error(path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_checkpoints(tmp_path: pathlib.Path, fraction: float) -> None:
    path = tmp_path / "checkpoint.pt"
    tapegrad.save(_optimizer_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    message = _load_error(path)
    assert "not a zip archive, or a truncated one" in message


def test_damaged_array_data(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "checkpoint.pt"
    tapegrad.save({"x": tapegrad.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    position = data.index(b"\x00" * 64) + 32  # inside the array's data
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "damaged" in _load_error(path)


def test_foreign_zip_archives(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "foreign.zip"
    _write_zip(path, {"readme.txt": b"hello"})
    assert "has no manifest.json" in _load_error(path)
    _write_zip(path, {"manifest.json": b"{not json"})
    assert "is damaged" in _load_error(path)
    _write_zip(path, {"manifest.json": b"[1, 2]"})
    assert "does not name the format" in _load_error(path)
    _write_zip(path, {"manifest.json": json.dumps({"format": "other", "version": 1, "root": 1}).encode()})
    assert "does not name the format 'tapegrad.checkpoint'" in _load_error(path)
    _write_zip(path, {"manifest.json": _manifest(1, version=99)})
    assert "format version 99, by a newer tapegrad" in _load_error(path)
    _write_zip(path, {"manifest.json": _manifest(1, version="1")})
    assert "invalid format version" in _load_error(path)
    _write_zip(path, {"manifest.json": json.dumps({"format": serialization.FORMAT_NAME, "version": 1}).encode()})
    assert "has no root object" in _load_error(path)
    _write_zip(path, {"manifest.json": b'{"format": "tapegrad.checkpoint", "version": 1, "root": NaN}'})
    assert "non-standard JSON constant NaN" in _load_error(path)


@pytest.mark.parametrize("root, entries, message", [
    ({"type": "mystery"}, {}, "unknown node type 'mystery'"),
    ({"items": []}, {}, "invalid node"),
    ({"type": "list"}, {}, "no item list"),
    ({"type": "dict", "items": [[1]]}, {}, "invalid dict entry"),
    ({"type": "dict", "items": [[{"type": "list", "items": []}, 1]]}, {}, "invalid dict key"),
    ({"type": "float", "value": "1.5"}, {}, "invalid float value"),
    ({"type": "size", "items": [1.5]}, {}, "invalid size node"),
    ({"type": "tensor", "dtype": "float32", "shape": [2], "data": "arrays/0.npy"}, {}, "arrays/0.npy is missing"),
    ({"type": "tensor", "dtype": "float32", "shape": [2], "data": "../etc/passwd"}, {}, "invalid array reference"),
    ({"type": "tensor", "dtype": "float32", "shape": [2], "data": 0}, {}, "invalid array reference"),
    ({"type": "tensor", "dtype": "complex", "shape": [2], "data": "arrays/0.npy"}, {}, "invalid tensor dtype"),
    ({"type": "tensor", "dtype": "float32", "shape": [-1], "data": "arrays/0.npy"}, {}, "invalid shape"),
    ({"type": "tensor", "dtype": "float32", "shape": [3], "data": "arrays/0.npy"},
     {"arrays/0.npy": _npy(np.zeros(2, np.float32))}, "holds float32 [2], but the manifest says float32 [3]"),
    ({"type": "tensor", "dtype": "float32", "shape": [2], "data": "arrays/0.npy"},
     {"arrays/0.npy": _npy(np.zeros(2, np.float64))}, "holds float64 [2], but the manifest says float32 [2]"),
    ({"type": "tensor", "dtype": "float32", "shape": [2], "data": "arrays/0.npy"},
     {"arrays/0.npy": _npy(np.zeros(2, np.float32))[:-3]}, "truncated or damaged"),
    ({"type": "tensor", "dtype": "float32", "shape": [2], "data": "arrays/0.npy"},
     {"arrays/0.npy": b"not an npy file"}, "damaged"),
    ({"type": "ndarray", "dtype": "|O", "shape": [1], "data": "arrays/0.npy"},
     {"arrays/0.npy": _npy(np.array([None], dtype=object))}, "invalid array dtype"),
    ({"type": "ndarray", "dtype": "<f8", "shape": [1], "data": "arrays/0.npy"},
     {"arrays/0.npy": _npy(np.array([None], dtype=object))}, "unsupported dtype object"),
    ({"type": "ndarray", "dtype": None, "shape": [1], "data": "arrays/0.npy"}, {}, "invalid array dtype"),
    ({"type": "numpy_scalar", "dtype": "<f8", "data": "arrays/0.npy"},
     {"arrays/0.npy": _npy(np.zeros(2))}, "is not 0-dimensional"),
    ({"type": "list", "items": [{"type": "tensor", "dtype": "float32", "shape": [2], "data": "arrays/0.npy"},
                                {"type": "tensor", "dtype": "float32", "shape": [1, 2], "data": "arrays/0.npy"}]},
     {"arrays/0.npy": _npy(np.zeros(2, np.float32))}, "referenced with different dtypes or shapes"),
])
def test_malformed_manifests(tmp_path: pathlib.Path, root: Any, entries: dict[str, bytes], message: str) -> None:
    path = tmp_path / "bad.pt"
    _write_zip(path, {"manifest.json": _manifest(root), **entries})
    error = _load_error(path)
    assert "is not a valid tapegrad checkpoint" in error or "damaged" in error
    assert message in error


def test_huge_shape_in_a_damaged_header_is_rejected_before_allocating(tmp_path: pathlib.Path) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (1 << 40,)})
    entry = header.getvalue() + b"\x00" * 16  # the header claims 4 TiB; 16 bytes follow
    path = tmp_path / "bad.pt"
    root = {"type": "ndarray", "dtype": "<f4", "shape": [1 << 40], "data": "arrays/0.npy"}
    _write_zip(path, {"manifest.json": _manifest(root), "arrays/0.npy": entry})
    assert "truncated or damaged" in _load_error(path)


def test_file_object_errors_name_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(b"garbage" * 10)
    with open(path, "rb") as file, pytest.raises(RuntimeError, match="bad.bin is not a tapegrad checkpoint"):
        tapegrad.load(file)
    with pytest.raises(RuntimeError, match="the file object _io.BytesIO is not a tapegrad checkpoint"):
        tapegrad.load(io.BytesIO(b"garbage"))


@compares_with_torch
def test_torch_checkpoints_are_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    message = _load_error(path)
    assert "is a PyTorch checkpoint written by torch.save" in message
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert "pickle" in _load_error(path)
