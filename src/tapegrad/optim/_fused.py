"""Fused optimizer kernels: one pass over a parameter reads its gradient and state and writes
the new parameter and state, instead of the chain of tensor ops (each a full pass over memory
and a temporary) that the textbook formulas spell out.

Each optimizer writes its per-element update once, as the body of a loop over ``i``. From it a
serial kernel (``flat``) and a threaded one (``flat_parallel``, ``prange``) are generated into
a module that ``kernel_cache`` keeps on disk (one per combination of the optimizer's options in
use), compiled by Numba on first use and specialised per dtype (float32, float64). The
threaded one runs only for parameters of at least ``PARALLEL_THRESHOLD`` elements, behind the
backend's lock for parallel launches.

Kernels take 1-D C-contiguous buffers and one array of scalars in the parameter's dtype, so
float32 parameters are updated in float32 arithmetic as PyTorch does (a Python float argument
would silently promote the arithmetic to float64). A group's scalar array is built once per
step and dtype and shared by its parameters. Kernels are compiled without fast-math flags:
each operation rounds where PyTorch's single-tensor code rounds.
"""
from __future__ import annotations

import textwrap
from typing import Any, Callable, Iterator

import numpy as np

from ..backends import cpu
from ..tensor import Tensor, _wrap

# An update streams 3 to 5 arrays through one cheap loop, so threads pay off later than for
# the backend's elementwise kernels. Measured on 2 cores (float32, warm caches): at 2**17 to
# 2**19 elements the threaded SGD and Adam kernels were 1.1-4x slower than the serial ones,
# at 2**20 Adam was 1.4x faster, at 2**22 both were 1.5-1.8x faster.
PARALLEL_THRESHOLD = 1 << 20


class FusedKernel:
    """The kernels of one per-element update ``body``.

    ``arrays`` names the buffer arguments (the first, ``param``, sets the loop length);
    ``scalars`` names the entries of the one scalar array the kernel also takes (in the
    parameter's dtype); ``flags`` names options that select code paths. Flags are compiled in
    as constants, one module per combination in use, so the loop has no branches on them
    and LLVM vectorises it; they also cost nothing at dispatch, which grows with the argument
    count.
    """

    __slots__ = ("name", "arrays", "scalars", "flags", "body", "_modules")

    def __init__(self, name: str, arrays: str, scalars: tuple[str, ...], flags: tuple[str, ...], body: str) -> None:
        self.name = name
        self.arrays = arrays
        self.scalars = scalars
        self.flags = flags
        self.body = body
        self._modules: dict[tuple[bool, ...], Any] = {}

    def source(self, flag_values: tuple[bool, ...]) -> str:
        body = textwrap.indent(textwrap.dedent(self.body).strip("\n"), " " * 8)
        flags = "".join(f"    {flag} = {bool(value)}\n" for flag, value in zip(self.flags, flag_values))
        prologue = "".join(f"    {name} = scalars[{k}]\n" for k, name in enumerate(self.scalars)) + flags
        parts = []
        for fn_name, options, loop in (("flat", "", "range"), ("flat_parallel", ", parallel=True", "prange")):
            parts.append(f"""
@njit(cache=CACHE, error_model="numpy", nogil=True{options})
def {fn_name}({self.arrays}, scalars):
{prologue}    for i in {loop}(param.shape[0]):
{body}
""")
        parts.append(self._multi_source(flags))
        return "\n".join(parts)

    def _multi_source(self, flags: str) -> str:
        """``multi`` and ``multi_parallel``: the update of many parameters in one kernel.

        Each buffer argument is a tuple (one flat array per parameter; all the same type, so
        Numba indexes it at run time), ``scalars`` has a row per parameter, and ``chunks``
        rows ``(parameter, start, stop)`` cut the parameters into pieces of similar size, so
        the threaded variant spreads small and large parameters alike over the cores.
        """
        names = [name.strip() for name in self.arrays.split(",")]
        body = textwrap.indent(textwrap.dedent(self.body).strip("\n"), " " * 12)
        bind = "".join(f"        {name} = {name}_all[t]\n" for name in names)
        bind += "".join(f"        {name} = scalars[t, {k}]\n" for k, name in enumerate(self.scalars))
        arguments = ", ".join(f"{name}_all" for name in names)
        parts = []
        for fn_name, options, loop in (("multi", "", "range"), ("multi_parallel", ", parallel=True", "prange")):
            parts.append(f"""
@njit(cache=CACHE, error_model="numpy", nogil=True{options})
def {fn_name}({arguments}, scalars, chunks):
{flags}    for c in {loop}(chunks.shape[0]):
        t = chunks[c, 0]
{bind}        for i in range(chunks[c, 1], chunks[c, 2]):
{body}
""")
        return "\n".join(parts)

    def module(self, flag_values: tuple[bool, ...]) -> Any:
        module = self._modules.get(flag_values)
        if module is None:
            bits = "".join("1" if value else "0" for value in flag_values)
            module = self._modules[flag_values] = cpu._module(f"{self.name}_{bits}", self.source(flag_values))
        return module

    def launcher(self, flag_values: tuple[bool, ...], size: int) -> Callable[..., None]:
        """The kernel to call for a parameter of ``size`` elements with these flags."""
        module = self._modules.get(flag_values) or self.module(flag_values)
        return cpu._serialized(module) if size >= PARALLEL_THRESHOLD else module.flat


class Update:
    """One planned parameter update: the kernel call, then what must follow it.

    ``copy_back`` pairs (destination, contiguous work copy) for buffers the kernel could not
    write in place; ``bumped`` are the tensors whose version counters the update changes;
    ``step`` is a 0-d step counter and ``new_step`` its value after this update.
    """

    __slots__ = ("kernel", "args", "copy_back", "bumped", "step", "new_step", "fused", "flags", "tensors")

    def __init__(self, kernel: Callable[..., None], args: tuple[Any, ...], copy_back: list,
                 bumped: tuple[Tensor, ...], step: Tensor | None = None, new_step: float = 0.0,
                 fused: "FusedKernel | None" = None, flags: tuple[bool, ...] = (),
                 tensors: tuple[Tensor | None, ...] = ()) -> None:
        self.kernel = kernel
        self.args = args
        self.copy_back = copy_back
        self.bumped = bumped
        self.step = step
        self.new_step = new_step
        # What tapegrad.compile records: the kernel, its flags, (param, grad, *buffers).
        self.fused = fused
        self.flags = flags
        self.tensors = tensors

    def run(self) -> None:
        self.kernel(*self.args)
        for destination, work in self.copy_back:
            np.copyto(destination, work)
        for tensor in self.bumped:
            tensor._counter.value += 1
        step = self.step
        if step is not None:
            step._data.fill(self.new_step)
            step._counter.value += 1


def next_step(step: Any) -> float:
    """The value a ``step`` counter takes at this update, as a Python float."""
    if not isinstance(step, Tensor):
        raise TypeError(f"optimizer state 'step' must be a Tensor, got {type(step).__name__}")
    return step._data.item() + 1.0


# What a kernel gets for a buffer that is absent (momentum off, amsgrad off, ...): one shared
# empty array per dtype keeps the kernels' signatures (and so compilations) one per dtype.
_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0, np.float64)}


def with_grads(params: list[Tensor]) -> Iterator[tuple[Tensor, Tensor, np.dtype]]:
    """The parameters that have a gradient, each with its gradient and dtype, validated before
    anything is written."""
    for param in params:
        grad = param._grad
        if grad is None:
            continue
        data = param._data
        dtype = data.dtype
        if dtype not in _EMPTY:
            raise RuntimeError(f"optimizers support float32 and float64 parameters, got {param.dtype}")
        if not isinstance(grad, Tensor):
            raise TypeError(f"parameter gradient must be a Tensor, got {type(grad).__name__}")
        grad_data = grad._data
        if grad_data.shape != data.shape:
            raise RuntimeError(f"gradient has shape {list(grad_data.shape)} but its parameter has shape "
                               f"{list(data.shape)}")
        if grad_data.dtype != dtype:
            raise RuntimeError(f"gradient has dtype {grad.dtype} but its parameter has dtype {param.dtype}")
        if not data.flags.writeable:
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                               "single memory location. Please clone() the tensor before performing the operation.")
        yield param, grad, dtype


def check_state(param: Tensor, name: str, value: Any) -> Tensor:
    """A state buffer read back from ``optimizer.state`` (perhaps loaded or set by hand)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"optimizer state '{name}' must be a Tensor, got {type(value).__name__}")
    data = value._data
    param_data = param._data
    if data.shape != param_data.shape:
        raise RuntimeError(f"optimizer state '{name}' has shape {list(data.shape)} but its parameter has shape "
                           f"{list(param_data.shape)}")
    if data.dtype != param_data.dtype:
        raise RuntimeError(f"optimizer state '{name}' has dtype {value.dtype} but its parameter has dtype "
                           f"{param.dtype}")
    if not data.flags.writeable:
        raise RuntimeError(f"optimizer state '{name}' is not writeable")
    return value


def writable(data: np.ndarray, copy_back: list) -> np.ndarray:
    """``data`` as a flat C-contiguous array the kernel may write: a view when possible, else
    a contiguous copy that is copied back after the kernel (transposed or strided buffers)."""
    if data.flags.c_contiguous:
        # The same view as ``reshape(-1)``, at a third of the cost (this runs for every
        # buffer of every parameter at every step).
        return data.ravel()
    work = np.array(data, order="C")
    copy_back.append((data, work))
    return work.reshape(-1)


def zeros_state(param: Tensor, fill: float = 0.0) -> Tensor:
    """A new C-contiguous state buffer shaped and typed like ``param``, on its device."""
    data = param._data
    if not isinstance(data, np.ndarray):
        from ..cuda._ops import full

        return _wrap(full(tuple(data.shape), fill, data.dtype))
    if fill == 0.0:
        return _wrap(np.zeros(data.shape, data.dtype))
    return _wrap(np.full(data.shape, fill, data.dtype))


def plan_update(kernel: FusedKernel, flags: tuple[bool, ...], param: Tensor, grad: Tensor,
                buffers: tuple[Tensor | None, ...], scalars: np.ndarray, step: Tensor | None = None,
                new_step: float = 0.0, bump_buffers: bool = True) -> Update:
    """The ``Update`` that runs ``kernel`` (with these ``flags``) on ``param``, its gradient,
    the state ``buffers`` in the kernel's argument order (None for one the flags leave
    unused) and ``scalars``. The kernel writes the parameter and the buffers, so their
    version counters are bumped; ``bump_buffers=False`` is for buffers the update creates
    (a new tensor, not one changed in place, as PyTorch counts it)."""
    if not isinstance(param._data, np.ndarray):
        return _plan_cuda_update(kernel, flags, param, grad, buffers, scalars, step, new_step, bump_buffers)
    copy_back: list = []
    param_flat = writable(param._data, copy_back)
    # The gradient is only read: a view when it is C-contiguous, else a C-order copy.
    args: list[Any] = [param_flat, grad._data.ravel()]
    bumped = [param]
    for buffer in buffers:
        if buffer is None:
            args.append(_EMPTY[param_flat.dtype])
        else:
            args.append(writable(buffer._data, copy_back))
            if bump_buffers:
                bumped.append(buffer)
    args.append(scalars)
    return Update(kernel.launcher(flags, param_flat.shape[0]), tuple(args), copy_back, tuple(bumped), step, new_step,
                  kernel, flags, (param, grad, *buffers))


def _plan_cuda_update(kernel: FusedKernel, flags: tuple[bool, ...], param: Tensor, grad: Tensor,
                      buffers: tuple[Tensor | None, ...], scalars: np.ndarray, step: Tensor | None,
                      new_step: float, bump_buffers: bool) -> Update:
    """``plan_update`` for a parameter on CUDA: the CUDA kernel generated from the same update
    body, on the parameter, its gradient and state buffers in place (all on the device)."""
    from ..cuda import _kernels
    from ..cuda._arrays import is_device_array

    arrays = [grad, *(b for b in buffers if b is not None)]
    if not all(is_device_array(t._data) for t in arrays):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                           "cuda:0 and cpu! (a parameter on cuda:0 has its gradient or optimizer state on the cpu)")
    if not param._data.is_c_contiguous() or not all(b._data.is_c_contiguous() for b in buffers if b is not None):
        from ..cuda._arrays import unsupported

        raise unsupported("an optimizer update of a non-contiguous parameter or state buffer")
    data = [None if b is None else b._data for b in buffers]
    bumped = (param, *(b for b in buffers if b is not None and bump_buffers))

    def run(*_: Any) -> None:
        _kernels.optimizer_update(kernel, flags, param._data, grad._data, data, scalars)

    # ``scalars`` as the last argument, where tapegrad.compile's recorder finds it.
    return Update(run, (scalars,), [], bumped, step, new_step, kernel, flags, (param, grad, *buffers))
