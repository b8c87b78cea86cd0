"""The workloads W1-W6 of the design document's performance table, written once per library.

tapegrad and PyTorch run one shared definition (tapegrad is a drop-in for ``torch``); JAX runs a
functional twin of each under ``jax.jit``. ``build(workload, library)`` returns a zero-argument
callable that performs one step and returns only when its results exist (JAX's asynchronous
dispatch is waited for with ``block_until_ready``), so timing a call times the work.

Every step does the same work in every library: fresh gradients each call (``.grad = None``, as
``zero_grad()`` does), the same shapes and dtypes (float32), and for the training steps real
parameter updates, so no call can reuse an earlier call's result.

tapegrad runs in each of its execution modes (``MODES``): "eager", and "compiled", the same step
function wrapped in ``tapegrad.compile``. A compiled step's builder calls it
``COMPILED_WARMUP_CALLS`` times (eager call, traced call, first replay), so every later call, and
so every timed one, is a replay of the generated code.

This module is shared by the asv suite (``asv_benchmarks/``), the pytest-benchmark suite
(``tests/benchmarks/``) and ``benchmarks/compare.py``. It imports only the standard library at
module level, so a new process timed by W5 pays for nothing but the library under test. Its
public names avoid asv's benchmark prefixes (``time_``, ``peakmem_``, ``track_``, ...).
"""
from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Step = Callable[[], Any]

# Execution modes of tapegrad; each suite runs every workload in every mode it is defined for
# (``_BUILDERS`` below). "compiled" wraps the eager step in ``tapegrad.compile``.
MODES: tuple[str, ...] = ("eager", "compiled")
# Calls of a ``tapegrad.compile``d step per input signature until its generated code has run once:
# the first runs eagerly, the second traces and compiles (and runs eagerly), the third replays.
COMPILED_WARMUP_CALLS = 3
LIBRARIES: tuple[str, ...] = ("tapegrad", "torch", "jax")

WORKLOADS: dict[str, str] = {
    "W1": "a + b, 16 floats, requires_grad",
    "W1b": "((a*b+1).tanh()*a).sum().backward(), 16 floats",
    "W2": "(tanh(x*.5+1)*x + sigmoid(x)).sum() fwd+bwd, 4M float32",
    "W3": "MLP 784-256-128-10, batch 64, SGD-momentum step, cross-entropy",
    "W3-cuda": "W3 on cuda:0 (a GPU: tapegrad's numba.cuda kernels, PyTorch's CUDA eager)",
    "W4": "MLP 2-16-16-1, batch 32, SGD-momentum step, MSE",
    "W5": "new process to the end of the first W3 step",
    "W6": "1024x1024 matmul fwd+bwd, float32",
}

W2_SIZE = 1 << 22
W6_SIZE = 1024
W3_LAYERS = (784, 256, 128, 10)
W3_BATCH = 64
W4_LAYERS = (2, 16, 16, 1)
W4_BATCH = 32
LEARNING_RATE = 0.01
MOMENTUM = 0.9

# The least work each large workload must do, for the roofline lines.
# W2 must read x and write its gradient (the forward value is a scalar).
W2_BYTES = 2 * W2_SIZE * 4
# W6: the product and the two operand gradients, 2*n^3 flops each.
W6_FLOPS = 3 * 2 * W6_SIZE ** 3


def mlp_flops(layers: tuple[int, ...], batch: int) -> int:
    """Matmul flops of one training step: forward, weight gradients, and input gradients of
    every layer but the first (the data needs no gradient)."""
    pairs = list(itertools.pairwise(layers))
    forward = sum(2 * batch * fan_in * fan_out for fan_in, fan_out in pairs)
    input_grads = sum(2 * batch * fan_in * fan_out for fan_in, fan_out in pairs[1:])
    return 2 * forward + input_grads


W3_FLOPS = mlp_flops(W3_LAYERS, W3_BATCH)


def available(library: str) -> bool:
    """Whether ``library`` can be imported here (peers are optional)."""
    try:
        importlib.import_module(library)
    except ImportError:
        return False
    return True


def cuda_ready(library: str) -> bool:
    """Whether ``library`` can run the ``-cuda`` workloads here: a real GPU (the simulator,
    ``NUMBA_ENABLE_CUDASIM=1``, runs kernels as Python: timing it would mean nothing) and, for a
    peer, a CUDA build of it. JAX has no twin of them."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or library == "jax" or not available(library):
        return False
    return bool(importlib.import_module(library).cuda.is_available())


# ----------------------------------------------------------------------------- torch-like API
# One definition serves tapegrad and PyTorch: ``lib`` is either module.

def _w1_add(lib: Any) -> Step:
    lib.manual_seed(0)
    a = lib.randn(16, requires_grad=True)
    b = lib.randn(16, requires_grad=True)
    return lambda: a + b


def _w1b_chain(lib: Any) -> Step:
    lib.manual_seed(0)
    a = lib.randn(16, requires_grad=True)
    b = lib.randn(16, requires_grad=True)

    def step() -> None:
        a.grad = b.grad = None
        ((a * b + 1).tanh() * a).sum().backward()

    return step


def _w2_elementwise(lib: Any) -> Step:
    lib.manual_seed(0)
    x = lib.randn(W2_SIZE, requires_grad=True)

    def step() -> Any:
        x.grad = None
        loss = (lib.tanh(x * 0.5 + 1) * x + lib.sigmoid(x)).sum()
        loss.backward()
        return loss

    return step


def _mlp_step(lib: Any, layers: tuple[int, ...], batch: int, classify: bool, device: str = "cpu") -> Step:
    nn, functional = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    modules: list[Any] = []
    for fan_in, fan_out in itertools.pairwise(layers):
        modules += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*modules[:-1]).to(device)
    optimizer = lib.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    x = lib.randn(batch, layers[0]).to(device)
    if classify:
        target = lib.randint(0, layers[-1], (batch,)).to(device)
        loss_fn = functional.cross_entropy
    else:
        target = lib.randn(batch, layers[-1]).to(device)
        loss_fn = functional.mse_loss

    def step() -> Any:
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _synchronized(lib: Any, step: Step) -> Step:
    """``step`` ending when its GPU work has run, not when it was queued (outside any
    ``tapegrad.compile``: a replay runs no Python of the step's body)."""
    def synchronized() -> Any:
        result = step()
        lib.cuda.synchronize()
        return result

    return synchronized


def _w3_mlp(lib: Any) -> Step:
    return _mlp_step(lib, W3_LAYERS, W3_BATCH, classify=True)


def _w3_mlp_cuda_unsynchronized(lib: Any) -> Step:
    return _mlp_step(lib, W3_LAYERS, W3_BATCH, classify=True, device="cuda")


def _w3_mlp_cuda(lib: Any) -> Step:
    return _synchronized(lib, _w3_mlp_cuda_unsynchronized(lib))


def _w3_mlp_cuda_compiled(lib: Any, warm: bool = True) -> Step:
    return _synchronized(lib, _compiled(_w3_mlp_cuda_unsynchronized)(lib, warm))


def _w4_mlp(lib: Any) -> Step:
    return _mlp_step(lib, W4_LAYERS, W4_BATCH, classify=False)


def _w6_matmul(lib: Any) -> Step:
    lib.manual_seed(0)
    a = lib.randn(W6_SIZE, W6_SIZE, requires_grad=True)
    b = lib.randn(W6_SIZE, W6_SIZE, requires_grad=True)
    # A random upstream gradient: with ``.sum()`` a compiler could turn the backward matmuls
    # into reductions, and then the libraries would not be doing the same work.
    grad = lib.randn(W6_SIZE, W6_SIZE)

    def step() -> Any:
        a.grad = b.grad = None
        out = a @ b
        out.backward(grad)
        return out

    return step


# ----------------------------------------------------------------------------- JAX twins

def _jax() -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    return jax, jnp


def _jax_inputs(seed: int, *shapes: tuple[int, ...]) -> list[Any]:
    jax, _ = _jax()
    keys = jax.random.split(jax.random.key(seed), len(shapes))
    return [jax.random.normal(key, shape, dtype="float32") for key, shape in zip(keys, shapes)]


def _jax_w1b_chain(jax_module: Any) -> Step:
    jax, jnp = _jax()
    a, b = _jax_inputs(0, (16,), (16,))
    grads = jax.jit(jax.value_and_grad(lambda a, b: (jnp.tanh(a * b + 1) * a).sum(), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grads(a, b))


def _jax_w2_elementwise(jax_module: Any) -> Step:
    jax, jnp = _jax()
    (x,) = _jax_inputs(0, (W2_SIZE,))
    grads = jax.jit(jax.value_and_grad(lambda x: (jnp.tanh(x * 0.5 + 1) * x + jax.nn.sigmoid(x)).sum()))
    return lambda: jax.block_until_ready(grads(x))


def _jax_mlp_step(layers: tuple[int, ...], batch: int, classify: bool) -> Step:
    jax, jnp = _jax()
    pairs = list(itertools.pairwise(layers))
    params = []
    for index, (fan_in, fan_out) in enumerate(pairs):
        bound = 1 / fan_in ** 0.5  # PyTorch's Linear initialisation
        w_key, b_key = jax.random.split(jax.random.key(index + 1))
        params.append((jax.random.uniform(w_key, (fan_out, fan_in), minval=-bound, maxval=bound),
                       jax.random.uniform(b_key, (fan_out,), minval=-bound, maxval=bound)))
    (x,) = _jax_inputs(0, (batch, layers[0]))
    if classify:
        target = jax.random.randint(jax.random.key(7), (batch,), 0, layers[-1])
    else:
        (target,) = _jax_inputs(7, (batch, layers[-1]))

    def loss_fn(params: list[Any], x: Any, target: Any) -> Any:
        h = x
        for index, (w, b) in enumerate(params):
            h = h @ w.T + b
            if index < len(params) - 1:
                h = jax.nn.relu(h)
        if classify:
            log_probs = jax.nn.log_softmax(h)
            return -jnp.take_along_axis(log_probs, target[:, None], axis=1).mean()
        return ((h - target) ** 2).mean()

    @jax.jit
    def train_step(params: list[Any], buffers: list[Any], x: Any, target: Any) -> tuple[Any, Any, Any]:
        # PyTorch's SGD: buf = momentum * buf + grad (buf = grad on the first step, which a zero
        # start gives too); p -= lr * buf.
        loss, grads = jax.value_and_grad(loss_fn)(params, x, target)
        buffers = jax.tree.map(lambda buf, g: MOMENTUM * buf + g, buffers, grads)
        params = jax.tree.map(lambda p, buf: p - LEARNING_RATE * buf, params, buffers)
        return params, buffers, loss

    state = [params, jax.tree.map(jnp.zeros_like, params)]

    def step() -> Any:
        state[0], state[1], loss = train_step(state[0], state[1], x, target)
        return jax.block_until_ready((state[0], loss))

    return step


def _jax_w3_mlp(jax_module: Any) -> Step:
    return _jax_mlp_step(W3_LAYERS, W3_BATCH, classify=True)


def _jax_w4_mlp(jax_module: Any) -> Step:
    return _jax_mlp_step(W4_LAYERS, W4_BATCH, classify=False)


def _jax_w6_matmul(jax_module: Any) -> Step:
    jax, _ = _jax()
    a, b, grad = _jax_inputs(0, (W6_SIZE, W6_SIZE), (W6_SIZE, W6_SIZE), (W6_SIZE, W6_SIZE))

    @jax.jit
    def forward_backward(a: Any, b: Any, grad: Any) -> Any:
        out, pullback = jax.vjp(lambda a, b: a @ b, a, b)
        return out, *pullback(grad)

    return lambda: jax.block_until_ready(forward_backward(a, b, grad))


# ----------------------------------------------------------------------------- tapegrad.compile

def _compiled(builder: Callable[[Any], Step]) -> Callable[..., Step]:
    """The builder of ``builder``'s step wrapped in ``tapegrad.compile``. By default the step is
    called ``COMPILED_WARMUP_CALLS`` times first, so that each later call replays the compiled
    code; ``warm=False`` returns it before its first call (W5 times those calls)."""

    def build_compiled(lib: Any, warm: bool = True) -> Step:
        step = lib.compile(builder(lib))
        return warmed(step, COMPILED_WARMUP_CALLS) if warm else step

    build_compiled.__name__ = f"{builder.__name__}_compiled"
    build_compiled.__doc__ = f"``{builder.__name__}``'s step under ``tapegrad.compile``."
    return build_compiled


# (workload, library family, mode) -> builder. "torch-like" covers tapegrad and PyTorch in eager
# mode; the compiled mode is tapegrad's own ("tapegrad" family).
_BUILDERS: dict[tuple[str, str, str], Callable[..., Step]] = {
    ("W1", "torch-like", "eager"): _w1_add,
    ("W1b", "torch-like", "eager"): _w1b_chain,
    ("W2", "torch-like", "eager"): _w2_elementwise,
    ("W3", "torch-like", "eager"): _w3_mlp,
    ("W3-cuda", "torch-like", "eager"): _w3_mlp_cuda,
    ("W4", "torch-like", "eager"): _w4_mlp,
    ("W6", "torch-like", "eager"): _w6_matmul,
    # W1 is one op and W6 three BLAS calls: compiling them would measure nothing new.
    ("W1b", "tapegrad", "compiled"): _compiled(_w1b_chain),
    ("W2", "tapegrad", "compiled"): _compiled(_w2_elementwise),
    ("W3", "tapegrad", "compiled"): _compiled(_w3_mlp),
    ("W3-cuda", "tapegrad", "compiled"): _w3_mlp_cuda_compiled,
    ("W4", "tapegrad", "compiled"): _compiled(_w4_mlp),
    # JAX has no eager tape with requires_grad: W1 has no JAX twin. Its steps run under jit.
    ("W1b", "jax", "jit"): _jax_w1b_chain,
    ("W2", "jax", "jit"): _jax_w2_elementwise,
    ("W3", "jax", "jit"): _jax_w3_mlp,
    ("W4", "jax", "jit"): _jax_w4_mlp,
    ("W6", "jax", "jit"): _jax_w6_matmul,
}


def _family_and_mode(library: str, mode: str) -> tuple[str, str]:
    if library == "jax":
        return "jax", "jit"
    if mode == "eager":
        return "torch-like", mode
    return library, mode  # tapegrad's own modes: PyTorch has none of them here


def has_workload(workload: str, library: str, mode: str = "eager") -> bool:
    """Whether ``workload`` is defined for ``library`` (W5 is a process, see ``run_startup``)."""
    return (workload, *_family_and_mode(library, mode)) in _BUILDERS


def _builder(workload: str, library: str, mode: str) -> Callable[..., Step]:
    family, family_mode = _family_and_mode(library, mode)
    try:
        return _BUILDERS[workload, family, family_mode]
    except KeyError:
        raise ValueError(f"no {workload} for {library} in mode {mode!r}") from None


def build(workload: str, library: str, mode: str = "eager") -> Step:
    """One step of ``workload`` in ``library`` ("tapegrad", "torch" or "jax"), inputs made.
    ``mode`` is tapegrad's execution mode (``MODES``); a "compiled" step comes back already
    called ``COMPILED_WARMUP_CALLS`` times, so its next call replays the compiled code.

    >>> step = build("W1", "tapegrad")
    >>> step().shape
    tapegrad.Size([16])
    """
    return _builder(workload, library, mode)(importlib.import_module(library))


def run_first_step(workload: str, library: str, mode: str = "eager") -> Any:
    """Builds ``workload`` and runs it until its first step in ``mode`` has finished: one call,
    or for "compiled" the ``COMPILED_WARMUP_CALLS`` calls that end with the first replay of the
    compiled code. Returns the last call's result (W5 runs this in a new process)."""
    builder = _builder(workload, library, mode)
    lib = importlib.import_module(library)
    if _family_and_mode(library, mode)[1] != "compiled":
        return builder(lib)()
    step = builder(lib, warm=False)
    for _ in range(COMPILED_WARMUP_CALLS):
        result = step()
    return result


def warmed(step: Step, calls: int = 2) -> Step:
    """``step`` after ``calls`` untimed calls (kernel compilation, jit tracing, allocator)."""
    for _ in range(calls):
        step()
    return step


# ----------------------------------------------------------------------------- references
# What the machine can do, measured in the same run: a memory copy of W2's array (bytes moved:
# one read, one write) and NumPy's float32 matmul at W6's size.

def numpy_copy() -> Step:
    import numpy as np

    source = np.random.default_rng(0).standard_normal(W2_SIZE, dtype=np.float32)
    destination = np.empty_like(source)
    return lambda: np.copyto(destination, source)


COPY_BYTES = 2 * W2_SIZE * 4


def numpy_sgemm() -> Step:
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((W6_SIZE, W6_SIZE), dtype=np.float32)
    b = rng.standard_normal((W6_SIZE, W6_SIZE), dtype=np.float32)
    out = np.empty_like(a)
    return lambda: np.matmul(a, b, out=out)


SGEMM_FLOPS = 2 * W6_SIZE ** 3


# ----------------------------------------------------------------------------- W5: start-up

_ROOT = Path(__file__).resolve().parents[1]

# Runs in the new process: import the library, do the work, report the wall clock and peak RSS,
# and leave at once (interpreter teardown is not part of the workload).
_CHILD_SCRIPT = """\
import sys, time
{work}
end = time.time()
import json, os, resource
print(json.dumps({{"end": end, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}), flush=True)
os._exit(0)
"""
_FIRST_W3_STEP = """\
sys.path.insert(0, {root!r})
from asv_benchmarks.workloads import run_first_step
run_first_step("W3", {library!r}, {mode!r})"""


def _run_child(work: str, cache_dir: str | os.PathLike[str] | None, timeout: float) -> dict[str, float]:
    env = dict(os.environ)
    if cache_dir is not None:
        env.update(cache_env(cache_dir))
    start = time.time()
    result = subprocess.run([sys.executable, "-c", _CHILD_SCRIPT.format(work=work)], env=env,
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{work}\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"seconds": report["end"] - start, "peak_rss_mb": report["maxrss_kib"] / 1024}


def cache_env(cache_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Environment variables that point every on-disk kernel cache at ``cache_dir``.

    Numba caches the kernels that live in tapegrad's own modules next to those modules unless
    ``NUMBA_CACHE_DIR`` is set, so an empty-cache run sets both.
    """
    cache_dir = str(cache_dir)
    return {"TAPEGRAD_CACHE_DIR": os.path.join(cache_dir, "tapegrad"),
            "NUMBA_CACHE_DIR": os.path.join(cache_dir, "numba")}


def run_startup(library: str, cache_dir: str | os.PathLike[str] | None = None, mode: str = "eager",
                timeout: float = 600.0) -> dict[str, float]:
    """W5: start a new Python process that runs the first W3 step of ``library``.

    In tapegrad's "compiled" mode the first step is the first replay of the compiled step (the
    third call: eager, traced and compiled, replayed; see ``run_first_step``), so the time
    includes tracing and generating the step's code, and with an empty cache compiling it.

    Returns ``seconds`` (from just before the process is spawned to the end of the first step)
    and ``peak_rss_mb`` (the child's peak resident memory). ``cache_dir``: where the kernel
    caches live (see ``cache_env``); None leaves the environment as it is.
    """
    return _run_child(_FIRST_W3_STEP.format(root=str(_ROOT), library=library, mode=mode), cache_dir, timeout)


def run_import(library: str, cache_dir: str | os.PathLike[str] | None = None,
               timeout: float = 600.0) -> dict[str, float]:
    """Like ``run_startup``, but the new process only imports ``library``."""
    return _run_child(f"import {library}", cache_dir, timeout)


class WarmCache:
    """A temporary kernel cache filled by one W5 run; ``run()`` is then a warm-cache W5."""

    def __init__(self, library: str = "tapegrad", mode: str = "eager") -> None:
        self.library, self.mode = library, mode
        self._directory = tempfile.TemporaryDirectory(prefix="tapegrad-bench-")
        self.path = self._directory.name
        run_startup(library, self.path, mode)

    def run(self) -> dict[str, float]:
        return run_startup(self.library, self.path, self.mode)

    def close(self) -> None:
        self._directory.cleanup()
