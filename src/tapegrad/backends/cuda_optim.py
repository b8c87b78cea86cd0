"""CUDA optimizer updates generated from the optimizers' own per-element update bodies.

Each optimizer in ``tapegrad.optim`` describes its update once, as a ``FusedKernel``: the
``body`` of a loop over ``i`` reading and writing ``param[i]``, ``grad[i]`` and its state
buffers, with named ``scalars`` and boolean ``flags``. The CPU backend compiles that body with
``njit``; this module pastes the very same text into CUDA kernels, so no formula exists twice:

- ``flat``: one tensor; a grid-stride loop binds ``i``;
- ``multi``: up to :data:`MULTI_WIDTH` tensors in one launch (the multi-tensor apply of
  fused optimizers): each block takes ``(tensor, start, stop)`` chunks from a small table,
  binds that tensor's buffers and scalars, and its threads stride over the chunk. The
  buffers travel as fixed-width tuples (unused slots hold empty arrays), so a kernel is
  compiled once per dtype and flag combination whatever the number of parameters.
  It saves GPU launches, not host time: numba-cuda types and marshals tuple arguments in
  Python, so on an H100 host 64 tensors of 1000 elements took about as long through
  ``update_many`` (8 launches, 12 ms) as through 64 ``update`` calls (11 ms). It pays where
  launches dominate (many tiny tensors on a busy GPU, launches captured in a CUDA graph).

Scalars come from a small device array in the parameter's dtype (float32 parameters update
in float32 arithmetic, as on the CPU); flags are baked in as constants, one module per
combination in use, so the loop has no branches on them.

The bodies call NumPy's scalar functions (``np.sqrt``). numba-cuda lowers no NumPy ufunc on
scalars, so a generated module binds the name ``np`` to :mod:`math`, whose functions of the
same names compile to the CUDA intrinsics; a body using a name ``math`` lacks is refused
when its kernel is generated. Under the simulator ``np`` stays NumPy, so simulated updates
round exactly as the CPU kernels do.
"""
from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cuda_kernels as ck

if TYPE_CHECKING:
    from ..optim._fused import FusedKernel

# Tensors per multi-tensor launch. Every array argument is a struct of about 60 bytes in
# the kernel's parameter space (4 KiB before Volta/CUDA 12.1): Adam's 5 buffers times 8
# tensors stay well inside it.
MULTI_WIDTH = 8
# Elements per chunk of the multi-tensor kernel (a block's share of one tensor).
MULTI_CHUNK = 4096

_NUMPY_FOR_DEVICE = '''
# The bodies call np.sqrt & co.; numba-cuda has no NumPy ufuncs on scalars, math has the
# same names (the simulator runs Python, where NumPy itself rounds like the CPU kernels).
if numba.config.ENABLE_CUDASIM:
    import numpy as np
else:
    import math as np
'''


def _names(kernel: FusedKernel) -> list[str]:
    return [name.strip() for name in kernel.arrays.split(",")]


def _body(kernel: FusedKernel, indent: int) -> str:
    return textwrap.indent(textwrap.dedent(kernel.body).strip("\n"), " " * indent)


def _check_numpy_names(kernel: FusedKernel) -> None:
    missing = sorted({name for name in re.findall(r"\bnp\.(\w+)", kernel.body) if not hasattr(math, name)})
    if missing:
        raise NotImplementedError(f"{kernel.name}: np.{', np.'.join(missing)} has no CUDA equivalent in math")


def source(kernel: FusedKernel, flags: Sequence[bool]) -> str:
    """The generated CUDA module for ``kernel`` with these flag values."""
    if len(flags) != len(kernel.flags):
        raise ValueError(f"{kernel.name} takes flags {kernel.flags}, got {tuple(flags)}")
    _check_numpy_names(kernel)
    names = _names(kernel)
    flag_lines = "".join(f"    {flag} = {bool(value)}\n" for flag, value in zip(kernel.flags, flags))
    flat_scalars = "".join(f"    {name} = scalars[{k}]\n" for k, name in enumerate(kernel.scalars))
    flat = (f"\n@kernel\ndef flat({kernel.arrays}, scalars):\n{flat_scalars}{flag_lines}"
            f"    for i in range(cuda.grid(1), param.shape[0], cuda.gridsize(1)):\n{_body(kernel, 8)}\n")
    bind = "".join(f"        {name} = {name}_all[t]\n" for name in names)
    bind += "".join(f"        {name} = scalars[t, {k}]\n" for k, name in enumerate(kernel.scalars))
    multi = (f"\n@kernel\ndef multi({', '.join(f'{name}_all' for name in names)}, scalars, chunks):\n{flag_lines}"
             f"    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):\n"
             f"        t = chunks[c, 0]\n{bind}"
             f"        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):\n"
             f"{_body(kernel, 12)}\n")
    return ck._header() + _NUMPY_FOR_DEVICE + flat + multi


_modules: dict[tuple[FusedKernel, tuple[bool, ...]], Any] = {}


def module(kernel: FusedKernel, flags: Sequence[bool]) -> Any:
    """The loaded CUDA module (``flat`` and ``multi`` kernels) for ``kernel`` and ``flags``."""
    flags = tuple(bool(f) for f in flags)
    key = (kernel, flags)
    loaded = _modules.get(key)
    if loaded is None:
        bits = "".join("1" if f else "0" for f in flags)
        loaded = _modules[key] = ck._load(f"cuda_{kernel.name}_{bits}", source(kernel, flags))
    return loaded


_empties: dict[np.dtype, Any] = {}


def _empty(dtype: np.dtype) -> Any:
    # What a kernel gets for a buffer the flags leave unused: one empty array per dtype keeps
    # one compiled signature (as ``optim._fused`` does on the CPU).
    dtype = np.dtype(dtype)
    empty = _empties.get(dtype)
    if empty is None:
        empty = _empties[dtype] = ck._cuda().device_array(0, dtype)
    return empty


def _flat(x: Any, name: str, size: int, dtype: np.dtype) -> Any:
    if not x.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous")
    if x.size != size or x.dtype != dtype:
        raise ValueError(f"{name} must have {size} {dtype} elements, got {x.size} {x.dtype}")
    return x.reshape(size)


def _arguments(kernel: FusedKernel, param: Any, grad: Any, buffers: Sequence[Any]) -> list[Any]:
    dtype = np.dtype(param.dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"optimizers support float32 and float64 parameters, got {dtype}")
    names = _names(kernel)
    if len(buffers) != len(names) - 2:
        raise ValueError(f"{kernel.name} takes buffers {names[2:]}, got {len(buffers)}")
    size = param.size
    args = [_flat(param, "param", size, dtype), _flat(grad, "grad", size, dtype)]
    for name, buffer in zip(names[2:], buffers):
        args.append(_empty(dtype) if buffer is None else _flat(buffer, name, size, dtype))
    return args


# Device copies of the scalar rows already uploaded, by content: the rows repeat across the
# parameters of a step and, for most optimizers, across steps, so a step uploads each distinct
# row once. The kernels only read them.
_uploaded_scalars: dict[tuple[np.dtype, bytes], Any] = {}
_UPLOADED_LIMIT = 256


def _device_scalars(scalars: Any, dtype: np.dtype, stream: Any) -> Any:
    if isinstance(scalars, np.ndarray):
        host = np.ascontiguousarray(scalars, dtype)
        key = (host.dtype, host.tobytes())
        found = _uploaded_scalars.get(key)
        if found is None:
            if len(_uploaded_scalars) >= _UPLOADED_LIMIT:
                _uploaded_scalars.clear()
            found = _uploaded_scalars[key] = ck.upload(host, stream)
        return found
    if scalars.dtype != dtype:
        raise ValueError(f"scalars must be {dtype}, got {scalars.dtype}")
    return scalars


def update(kernel: FusedKernel, flags: Sequence[bool], param: Any, grad: Any, buffers: Sequence[Any],
           scalars: Any, *, stream: Any = 0) -> None:
    """Run ``kernel``'s update (with these ``flags``) on device arrays: ``param`` and its
    ``grad`` (C-contiguous, any shape), the state ``buffers`` in the kernel's argument order
    (None for one the flags leave unused), and ``scalars`` in the kernel's order (a NumPy
    array, copied over, or a device array; cast to the parameter's dtype). Writes ``param``
    and the buffers in place, as ``optim._fused.plan_update``'s kernel does on the CPU.

    Example (an SGD step with momentum on its first step)::

        from tapegrad.optim.sgd import _SGD
        update(_SGD, (False, True, True, False, False), p, g, (buf,),
               np.array([0, 0.9, 1, -0.1], np.float32))
    """
    args = _arguments(kernel, param, grad, buffers)
    if param.size == 0:
        return
    device_scalars = _device_scalars(scalars, np.dtype(param.dtype), stream)
    blocks, threads = ck.launch_shape(param.size)
    ck.launch(module(kernel, flags).flat, blocks, threads, stream, *args, device_scalars)


_chunk_tables: dict[tuple[tuple[int, int, int], ...], Any] = {}


def _chunk_table(chunks: tuple[tuple[int, int, int], ...], stream: Any) -> Any:
    # The table depends only on the parameters' sizes, which a training loop repeats every
    # step: copy it to the device once.
    table = _chunk_tables.get(chunks)
    if table is None:
        if len(_chunk_tables) >= 64:
            _chunk_tables.clear()
        table = _chunk_tables[chunks] = ck._cuda().to_device(np.array(chunks, np.int64), stream=stream)
    return table


def update_many(kernel: FusedKernel, flags: Sequence[bool], params: Sequence[Any], grads: Sequence[Any],
                buffers: Sequence[Sequence[Any]], scalars: Any, *, chunk: int = MULTI_CHUNK, stream: Any = 0) -> None:
    """:func:`update` for many parameters of one dtype, :data:`MULTI_WIDTH` per launch.

    ``buffers[k]`` are parameter ``k``'s state buffers; ``scalars`` has a row per parameter
    (a NumPy array, or a 2-D device array when the parameters fit one launch)."""
    if not (len(params) == len(grads) == len(buffers) == len(scalars)):
        raise ValueError("params, grads, buffers and scalars must have one entry per parameter")
    if not params:
        return
    dtype = np.dtype(params[0].dtype)
    names = _names(kernel)
    loaded = module(kernel, flags)
    for start in range(0, len(params), MULTI_WIDTH):
        stop = min(start + MULTI_WIDTH, len(params))
        columns: list[list[Any]] = [[] for _ in names]
        chunks = []
        for slot, k in enumerate(range(start, stop)):
            if np.dtype(params[k].dtype) != dtype:
                raise ValueError("update_many takes parameters of one dtype")
            for column, arg in zip(columns, _arguments(kernel, params[k], grads[k], buffers[k])):
                column.append(arg)
            size = params[k].size
            chunks += [(slot, first, min(first + chunk, size)) for first in range(0, size, chunk)]
        if not chunks:
            continue
        for column in columns:  # pad to the fixed tuple width: empty slots have no chunks
            column += [_empty(dtype)] * (MULTI_WIDTH - len(column))
        device_rows = _device_scalars(scalars[start:stop], dtype, stream)
        table = _chunk_table(tuple(chunks), stream)
        blocks = min(len(chunks), ck.MAX_BLOCKS)
        threads = min(ck.DEFAULT_THREADS, 32 * -(-chunk // 32))
        ck.launch(loaded.multi, blocks, threads, stream, *(tuple(column) for column in columns), device_rows, table)
