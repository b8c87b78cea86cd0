"""``save``/``load`` for state dicts in a safe file format.

A checkpoint is a zip archive (stored, uncompressed) holding

* ``manifest.json``: ``{"format": "tapegrad.checkpoint", "version": 1, "root": NODE}``,
  the saved object as a tree of JSON nodes, and
* ``arrays/<n>.npy``: one NumPy ``.npy`` file per tensor or array, read back with
  ``allow_pickle=False``.

Nothing in a checkpoint is executed or unpickled when it is loaded, so loading a file
from an untrusted source cannot run code. ``None``, bools, ints, strings and finite
floats are stored as themselves in the JSON tree; every other node is an object with a
``"type"`` field:

=================  ================================================================
``float``          ``{"value": "nan" | "inf" | "-inf"}`` (JSON has no such numbers)
``list``           ``{"items": [NODE, ...]}``; also ``tuple`` and ``size``
``dict``           ``{"items": [[KEY, NODE], ...]}`` in insertion order; ``ordered_dict``
``tensor``         ``{"dtype": "float32", "shape": [2, 3], "data": "arrays/0.npy"}``
``ndarray``        ``{"dtype": "<f8", "shape": [...], "data": ...}``; ``numpy_scalar``
=================  ================================================================

Keys are ``None``, bools, ints, floats or strings, stored as nodes. A tensor that
appears several times in the saved object is stored once and loads as one tensor
appearing at the same places, as with ``torch.save``.

Saving to a path is atomic: the archive is written to a temporary file next to the
target, flushed to disk, and renamed over the target, so the target holds either its
old contents or the complete new checkpoint, never a partial one.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import secrets
import stat
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import IO, Any

import numpy as np

from . import dtypes as _dtypes
from .device import as_device, device
from .tensor import Size, Tensor, _wrap

__all__ = ["load", "save"]

FORMAT_NAME = "tapegrad.checkpoint"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_ARRAY_PREFIX = "arrays/"
# A fixed timestamp makes the bytes of a checkpoint depend only on what was saved.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_READ_CHUNK = 1 << 24
_MAX_NPY_HEADER = 10000
_NUMPY_KINDS = "biuf"  # bool, signed and unsigned integers, floats: plain numbers only

FileLike = str | bytes | os.PathLike[str] | os.PathLike[bytes] | IO[bytes]
MapLocation = str | device | int | dict[str, Any] | Callable[[Tensor, str], Any] | None


# --------------------------------------------------------------------------- saving

def _type_name(obj: object) -> str:
    kind = type(obj)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _describe(path: str) -> str:
    return f"obj{path}" if path else "the top level (obj)"


class _Encoder:
    """Turns a saved object into a JSON tree plus the arrays it refers to.

    Encoding finishes before anything is written, so an unsupported object is reported
    without touching the destination.
    """

    def __init__(self) -> None:
        self.arrays: list[tuple[str, np.ndarray]] = []
        self._tensor_files: dict[int, tuple[Tensor, dict[str, Any]]] = {}
        self._open_containers: set[int] = set()

    def encode(self, obj: Any, path: str) -> Any:
        encoder = _ENCODERS.get(type(obj))
        if encoder is None:
            # Subclasses with the same meaning: nn.Parameter and other Tensor
            # subclasses are saved as their values, NumPy arrays and scalars by dtype.
            if isinstance(obj, Tensor):
                encoder = _Encoder._tensor
            elif isinstance(obj, np.ndarray):
                encoder = _Encoder._ndarray
            elif isinstance(obj, np.generic):
                encoder = _Encoder._numpy_scalar
            else:
                raise TypeError(f"tapegrad.save cannot save an object of type {_type_name(obj)} at "
                                f"{_describe(path)}; supported are dicts, lists, tuples, tensors, NumPy "
                                "arrays, numbers, bools, strings and None")
        return encoder(self, obj, path)

    def _add_array(self, array: np.ndarray) -> str:
        name = f"{_ARRAY_PREFIX}{len(self.arrays)}.npy"
        # Views (transposes, slices) are saved as their values, in C order.
        # (``np.ascontiguousarray`` would turn 0-d arrays into 1-d ones.)
        self.arrays.append((name, array if array.flags.c_contiguous else array.copy(order="C")))
        return name

    def _plain(self, obj: Any, path: str) -> Any:
        return obj

    def _float(self, obj: float, path: str) -> Any:
        if math.isfinite(obj):
            return obj
        return {"type": "float", "value": repr(obj)}

    @contextlib.contextmanager
    def entered(self, container: Any, path: str) -> Iterator[None]:
        # The JSON tree cannot express a container that holds itself.
        if id(container) in self._open_containers:
            raise ValueError(f"tapegrad.save cannot save a container that contains itself, at {_describe(path)}")
        self._open_containers.add(id(container))
        try:
            yield
        finally:
            self._open_containers.discard(id(container))

    def _tensor(self, obj: Tensor, path: str) -> Any:
        known = self._tensor_files.get(id(obj))
        if known is not None:
            return known[1]
        data = obj._data
        location = str(obj.device)
        if not isinstance(data, np.ndarray):
            # A CUDA tensor is written from a host copy; its location brings it back to CUDA.
            from .cuda._arrays import to_host

            data = to_host(data)
        node = {"type": "tensor", "dtype": _dtypes._BY_NUMPY[data.dtype].name, "shape": list(data.shape),
                "data": self._add_array(data)}
        if location != "cpu":
            node["location"] = location
        # Keep the tensor alive with its node so that its id cannot be reused meanwhile.
        self._tensor_files[id(obj)] = (obj, node)
        return node

    def _ndarray(self, obj: np.ndarray, path: str) -> Any:
        if obj.dtype.kind not in _NUMPY_KINDS:
            raise TypeError(f"tapegrad.save cannot save a NumPy array of dtype {obj.dtype} at {_describe(path)}; "
                            "only bool, integer and floating point arrays are supported")
        return {"type": "ndarray", "dtype": obj.dtype.str, "shape": list(obj.shape), "data": self._add_array(obj)}

    def _numpy_scalar(self, obj: np.generic, path: str) -> Any:
        if obj.dtype.kind not in _NUMPY_KINDS:
            raise TypeError(f"tapegrad.save cannot save a NumPy scalar of type {_type_name(obj)} at "
                            f"{_describe(path)}; only bool, integer and floating point scalars are supported")
        return {"type": "numpy_scalar", "dtype": obj.dtype.str, "data": self._add_array(np.asarray(obj))}


def _sequence_encoder(kind: str) -> Callable[[_Encoder, Any, str], Any]:
    def encode_sequence(encoder: _Encoder, obj: Any, path: str) -> Any:
        with encoder.entered(obj, path):
            return {"type": kind, "items": [encoder.encode(item, f"{path}[{i}]") for i, item in enumerate(obj)]}

    return encode_sequence


def _mapping_encoder(kind: str) -> Callable[[_Encoder, Any, str], Any]:
    def encode_mapping(encoder: _Encoder, obj: Any, path: str) -> Any:
        with encoder.entered(obj, path):
            items = []
            for key, value in obj.items():
                if type(key) not in _KEY_TYPES:
                    raise TypeError(f"tapegrad.save cannot save a dict key of type {_type_name(key)} ({key!r}) at "
                                    f"{_describe(path)}; keys must be str, int, float, bool or None")
                items.append([encoder.encode(key, path), encoder.encode(value, f"{path}[{key!r}]")])
            return {"type": kind, "items": items}

    return encode_mapping


_ENCODERS: dict[type, Callable[[_Encoder, Any, str], Any]] = {
    type(None): _Encoder._plain,
    bool: _Encoder._plain,
    int: _Encoder._plain,
    str: _Encoder._plain,
    float: _Encoder._float,
    list: _sequence_encoder("list"),
    tuple: _sequence_encoder("tuple"),
    Size: _sequence_encoder("size"),
    dict: _mapping_encoder("dict"),
    OrderedDict: _mapping_encoder("ordered_dict"),
    Tensor: _Encoder._tensor,
}
_KEY_TYPES = (type(None), bool, int, float, str)


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_archive(manifest: dict[str, Any], arrays: list[tuple[str, np.ndarray]], file: IO[bytes]) -> None:
    text = json.dumps(manifest, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(_zip_info(MANIFEST_NAME), text.encode("utf-8"))
        for name, array in arrays:
            # The entry's size is unknown until written; large entries need zip64
            # headers decided up front.
            large = array.nbytes + _MAX_NPY_HEADER >= zipfile.ZIP64_LIMIT
            with archive.open(_zip_info(name), "w", force_zip64=large) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)


def _create_temporary(directory: str, base: str) -> tuple[int, str]:
    """A new file next to the target; created with mode 0o666 so the umask applies."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        # The name is shortened so that it stays within file name limits.
        temporary = os.path.join(directory, f".{base[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_to_path(path: str | bytes, write: Callable[[IO[bytes]], None]) -> None:
    # Write through a symlink to its target rather than replacing the link.
    target = os.path.realpath(os.fsdecode(path))
    directory, base = os.path.split(target)
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {directory} does not exist.")
    fd, temporary = _create_temporary(directory, base)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):  # an overwritten checkpoint keeps its permissions
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def save(obj: Any, f: FileLike) -> None:
    """Save ``obj`` (typically a state dict) to the path or binary file ``f``.

    ``obj`` may nest dicts (``str``/``int``/``float``/``bool``/``None`` keys, including
    ``OrderedDict``), lists, tuples, tensors of any dtype (views are saved as their
    values), NumPy arrays and scalars, Python numbers, bools, strings and ``None``.
    Anything else raises ``TypeError`` naming its type and where it is, before anything
    is written. Saving to a path is atomic (see the module documentation).

    >>> import io, tapegrad
    >>> buffer = io.BytesIO()
    >>> tapegrad.save({"weight": tapegrad.ones(2, 2), "step": 3}, buffer)
    >>> _ = buffer.seek(0)
    >>> tapegrad.load(buffer)
    {'weight': tensor([[1., 1.],
            [1., 1.]]), 'step': 3}
    """
    encoder = _Encoder()
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": encoder.encode(obj, "")}

    def write(file: IO[bytes]) -> None:
        _write_archive(manifest, encoder.arrays, file)

    if isinstance(f, (str, bytes, os.PathLike)):
        _save_to_path(f, write)  # type: ignore[arg-type]
    elif callable(getattr(f, "write", None)):
        write(f)  # type: ignore[arg-type]
    else:
        raise TypeError(f"tapegrad.save expects a path or a binary file object, got {_type_name(f)}")


# --------------------------------------------------------------------------- loading

class _CheckpointError(Exception):
    """What is wrong with a checkpoint; reported as ``RuntimeError`` naming the file."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _CheckpointError(message)


def _read_npy(archive: zipfile.ZipFile, name: Any) -> np.ndarray:
    """Read one ``.npy`` entry without pickle, checking its size against its header."""
    _expect(isinstance(name, str) and name.startswith(_ARRAY_PREFIX), f"invalid array reference {name!r}")
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise _CheckpointError(f"the array {name} is missing") from None
    with archive.open(info) as entry:
        version = np.lib.format.read_magic(entry)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(entry, _MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(entry, _MAX_NPY_HEADER)
        else:
            raise _CheckpointError(f"the array {name} has an unsupported .npy version {version}")
        _expect(dtype.kind in _NUMPY_KINDS and not dtype.hasobject and dtype.names is None,
                f"the array {name} has unsupported dtype {dtype}")
        count = math.prod(shape)
        # Checked before allocating, so a damaged header cannot ask for a huge buffer.
        _expect(info.file_size - entry.tell() == count * dtype.itemsize,
                f"the array {name} is truncated or damaged (its size does not match its header)")
        array = np.empty(count, dtype=dtype)
        view = memoryview(array.view(np.uint8))
        offset = 0
        while offset < len(view):
            chunk = entry.read(min(_READ_CHUNK, len(view) - offset))
            _expect(len(chunk) > 0, f"the array {name} is truncated")
            view[offset:offset + len(chunk)] = chunk
            offset += len(chunk)
    if fortran_order:
        array = array.reshape(shape, order="F").copy(order="C")
    else:
        array = array.reshape(shape)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _shape(node: dict[str, Any]) -> tuple[int, ...]:
    shape = node.get("shape")
    _expect(isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape),
            f"invalid shape {shape!r}")
    return tuple(shape)


class _Decoder:
    """Rebuilds the saved object from the JSON tree, checking every node."""

    def __init__(self, archive: zipfile.ZipFile, map_tensor: Callable[[Tensor, str], Tensor]) -> None:
        self.archive = archive
        self.map_tensor = map_tensor
        self.tensors: dict[str, Tensor] = {}

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        _expect(isinstance(node, dict) and isinstance(node.get("type"), str), f"invalid node {_short(node)}")
        decoder = _DECODERS.get(node["type"])
        _expect(decoder is not None, f"unknown node type {node['type']!r}")
        return decoder(self, node)  # type: ignore[misc]

    def _items(self, node: dict[str, Any]) -> list[Any]:
        items = node.get("items")
        _expect(isinstance(items, list), f"invalid {node['type']} node: no item list")
        return items

    def _float(self, node: dict[str, Any]) -> float:
        value = node.get("value")
        _expect(value in ("nan", "inf", "-inf"), f"invalid float value {value!r}")
        return float(value)

    def _list(self, node: dict[str, Any]) -> list[Any]:
        return [self.decode(item) for item in self._items(node)]

    def _tuple(self, node: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(self._list(node))

    def _size(self, node: dict[str, Any]) -> Size:
        values = self._list(node)
        _expect(all(type(v) is int for v in values), "invalid size node")
        return Size(values)

    def _pairs(self, node: dict[str, Any]) -> list[tuple[Any, Any]]:
        pairs = []
        for pair in self._items(node):
            _expect(isinstance(pair, list) and len(pair) == 2, f"invalid dict entry {_short(pair)}")
            key = self.decode(pair[0])
            _expect(type(key) in _KEY_TYPES, f"invalid dict key {_short(pair[0])}")
            pairs.append((key, self.decode(pair[1])))
        return pairs

    def _dict(self, node: dict[str, Any]) -> dict[Any, Any]:
        return dict(self._pairs(node))

    def _ordered_dict(self, node: dict[str, Any]) -> OrderedDict[Any, Any]:
        return OrderedDict(self._pairs(node))

    def _tensor(self, node: dict[str, Any]) -> Tensor:
        name = node.get("data")
        _expect(isinstance(name, str), f"invalid array reference {_short(name)}")
        dtype_name = node.get("dtype")
        dtype = _dtypes._ALIASES.get(dtype_name) if isinstance(dtype_name, str) else None
        _expect(dtype is not None and dtype.name == dtype_name, f"invalid tensor dtype {_short(dtype_name)}")
        shape = _shape(node)
        known = self.tensors.get(name)  # type: ignore[arg-type]
        if known is None:
            array = _read_npy(self.archive, name)
            _expect(array.dtype == dtype.numpy and array.shape == shape,  # type: ignore[union-attr]
                    f"the array {name} holds {array.dtype} {list(array.shape)}, but the manifest says "
                    f"{node.get('dtype')} {list(shape)}")
            location = node.get("location", "cpu")
            _expect(location in ("cpu", "cuda:0"), f"invalid tensor location {_short(location)}")
            known = self.tensors[name] = self.map_tensor(_wrap(array), location)  # type: ignore[index]
        _expect(tuple(known.shape) == shape and known.dtype is dtype,
                f"the tensor stored in {name} is referenced with different dtypes or shapes")
        return known

    def _array(self, node: dict[str, Any]) -> np.ndarray:
        dtype_name = node.get("dtype")
        try:
            dtype = np.dtype(dtype_name) if isinstance(dtype_name, str) else None
        except TypeError:
            dtype = None
        _expect(dtype is not None and dtype.kind in _NUMPY_KINDS, f"invalid array dtype {_short(dtype_name)}")
        array = _read_npy(self.archive, node.get("data"))
        _expect(array.dtype == dtype.newbyteorder("="), f"the array {node.get('data')} has dtype {array.dtype}, "
                f"but the manifest says {dtype}")
        return array

    def _ndarray(self, node: dict[str, Any]) -> np.ndarray:
        shape = _shape(node)
        array = self._array(node)
        _expect(array.shape == shape, f"the array {node.get('data')} has shape {list(array.shape)}, but the "
                f"manifest says {list(shape)}")
        return array

    def _numpy_scalar(self, node: dict[str, Any]) -> np.generic:
        array = self._array(node)
        _expect(array.shape == (), f"the scalar {node.get('data')} is not 0-dimensional")
        return array[()]


_DECODERS: dict[str, Callable[[_Decoder, dict[str, Any]], Any]] = {
    "float": _Decoder._float,
    "list": _Decoder._list,
    "tuple": _Decoder._tuple,
    "size": _Decoder._size,
    "dict": _Decoder._dict,
    "ordered_dict": _Decoder._ordered_dict,
    "tensor": _Decoder._tensor,
    "ndarray": _Decoder._ndarray,
    "numpy_scalar": _Decoder._numpy_scalar,
}


def _short(node: Any) -> str:
    text = repr(node)
    return text if len(text) <= 80 else text[:77] + "..."


def _reject_constant(name: str) -> None:
    raise _CheckpointError(f"the manifest contains the non-standard JSON constant {name}")


def _restore(tensor: Tensor, location: str) -> Tensor:
    """A loaded (host) tensor on the device it was saved from, as PyTorch restores it."""
    if location == "cpu":
        return tensor
    from . import cuda

    if not cuda.is_available():
        raise RuntimeError("Attempting to deserialize object on a CUDA device but tapegrad.cuda.is_available() is "
                           "False. If you are running on a CPU-only machine, please use tapegrad.load with "
                           "map_location=tapegrad.device('cpu') to map your storages to the CPU.")
    return tensor.to(location)


def _tensor_mapper(map_location: MapLocation) -> Callable[[Tensor, str], Tensor]:
    """Check ``map_location`` and return what is applied to each loaded tensor and the
    location (``"cpu"``, ``"cuda:0"``) it was saved from."""
    if map_location is None:
        return _restore
    if callable(map_location):
        # PyTorch calls the function with (storage, location); tensors stand in for storages.
        def call(tensor: Tensor, location: str) -> Tensor:
            result = map_location(tensor, location)  # type: ignore[operator]
            if result is None:
                return _restore(tensor, location)
            if not isinstance(result, Tensor):
                raise TypeError(f"map_location function must return a Tensor or None, got {_type_name(result)}")
            return result

        return call

    def place(target: Any) -> device:
        # Other libraries' device objects are accepted by their name.
        return as_device(target if isinstance(target, (str, int, device)) else str(target))

    if isinstance(map_location, dict):
        places = {str(key): place(value) for key, value in map_location.items()}
        return lambda tensor, location: (_restore(tensor, str(places[location])) if location in places
                                         else _restore(tensor, location))
    target = place(map_location)
    return lambda tensor, location: _restore(tensor, str(target))


def _read_checkpoint(file: IO[bytes], where: str, map_tensor: Callable[[Tensor, str], Tensor]) -> Any:
    start = file.tell()
    head = file.read(4)
    file.seek(start)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        kind = "a pickle file, which tapegrad.load does not read" if head[:1] == b"\x80" else \
            "not a zip archive, or a truncated one"
        raise RuntimeError(f"{where} is not a tapegrad checkpoint: it is {kind} ({error})") from None
    with archive:
        names = archive.namelist()
        if MANIFEST_NAME not in names:
            if any(name.endswith("/data.pkl") for name in names):
                raise RuntimeError(f"{where} is a PyTorch checkpoint written by torch.save; tapegrad.load reads "
                                   "only files written by tapegrad.save (load it with torch.load, convert its tensors "
                                   "with tapegrad.from_numpy(t.numpy()) and save them with tapegrad.save)")
            raise RuntimeError(f"{where} is not a tapegrad checkpoint: the zip archive has no {MANIFEST_NAME}")
        try:
            manifest = json.loads(archive.read(MANIFEST_NAME).decode("utf-8"), parse_constant=_reject_constant)
            _expect(isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME,
                    f"its {MANIFEST_NAME} does not name the format {FORMAT_NAME!r}")
            version = manifest.get("version")
            _expect(type(version) is int and version >= 1, f"invalid format version {version!r}")
            if version > FORMAT_VERSION:
                raise RuntimeError(f"{where} was written in checkpoint format version {version}, by a newer "
                                   f"tapegrad; this version reads format version {FORMAT_VERSION} and older")
            _expect("root" in manifest, f"its {MANIFEST_NAME} has no root object")
            return _Decoder(archive, map_tensor).decode(manifest["root"])
        except _CheckpointError as error:
            raise RuntimeError(f"{where} is not a valid tapegrad checkpoint: {error}") from None
        except (zipfile.BadZipFile, EOFError, ValueError, UnicodeDecodeError, RecursionError,
                NotImplementedError) as error:
            # Damaged entries surface from zipfile and json as these (CRC mismatches,
            # short reads, undecodable text).
            raise RuntimeError(f"{where} is damaged and cannot be loaded: {error}") from None


def load(f: FileLike, map_location: MapLocation = None, *, weights_only: bool = True,
         mmap: bool | None = None) -> Any:
    """Load an object saved by ``save`` from the path or binary file ``f``.

    Tensors come back as plain tensors (``requires_grad=False``) with their saved dtype
    and shape, dicts keep their key order and type (``dict`` or ``OrderedDict``), and
    tuples stay tuples. ``map_location`` may be ``None``, ``"cpu"``, a CPU device, a
    dict of locations mapped to the CPU, or a function ``(tensor, "cpu")`` returning a
    tensor or ``None``. The format holds only data, so ``weights_only`` makes no
    difference and ``mmap`` is accepted for compatibility (files are read into memory).

    A file that is not a complete checkpoint written by ``save`` (a damaged or
    truncated file, a plain zip archive, a PyTorch ``.pt`` file) raises
    ``RuntimeError`` saying what is wrong and naming the file.

    >>> import io, tapegrad
    >>> buffer = io.BytesIO()
    >>> tapegrad.save({"lr": 0.1, "betas": (0.9, 0.999)}, buffer)
    >>> _ = buffer.seek(0)
    >>> tapegrad.load(buffer, map_location="cpu")
    {'lr': 0.1, 'betas': (0.9, 0.999)}
    """
    map_tensor = _tensor_mapper(map_location)
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with open(path, "rb") as file:
            return _read_checkpoint(file, path, map_tensor)
    if not callable(getattr(f, "read", None)):
        raise TypeError(f"tapegrad.load expects a path or a binary file object, got {_type_name(f)}")
    where = str(getattr(f, "name", None) or f"the file object {_type_name(f)}")
    seekable = getattr(f, "seekable", None)
    if not (callable(seekable) and seekable()):
        # zip archives are read from the end; a stream is buffered first.
        f = io.BytesIO(f.read())  # type: ignore[union-attr]
    return _read_checkpoint(f, where, map_tensor)  # type: ignore[arg-type]
