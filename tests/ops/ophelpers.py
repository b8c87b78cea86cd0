"""Machinery shared by the op-table tests: the row/case data model, input generation, running a
row in tapegrad or torch, and comparing results.

A row's ``fn`` is called as ``fn(lib, *tensors, **case.kw)`` where ``lib`` is the ``tapegrad``
or ``torch`` module, so one lambda serves both libraries. Its ``ref`` is the NumPy reference,
called as ``ref(*arrays, **case.kw)`` with float inputs widened to float64.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

import tapegrad

try:  # the suite is meaningful without torch: NumPy references stand in for it
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

FLOATS = ("float32", "float64")
INTS = ("int64", "int32")
NUMERIC = FLOATS + INTS
ALL = NUMERIC + ("bool",)

# Forward tolerances by the output's dtype.
FORWARD_TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
# Gradients compared with torch, by the inputs' dtype.
GRAD_TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-9, atol=1e-11)}


# ----------------------------------------------------------------------------- data model

@dataclass(frozen=True)
class Arg:
    """One tensor argument of a row.

    kind: ``like`` takes the dtype under test; ``bool`` is always bool; ``index`` is always
    int64 (values from the case's ``In.values`` or in ``[0, In.high)``).
    domain: the values drawn (see ``draw``). diff: whether gradients are taken for it.
    """

    domain: str = "real"
    kind: str = "like"
    diff: bool = True


@dataclass(frozen=True)
class In:
    """The shape of one input in a case and how it is laid out in memory.

    layout: ``c`` contiguous; ``T`` a transposed view of the last two dims; ``S`` every second
    row (dim 0) of a base twice as tall; ``X`` expanded from size 1 along dim 0 (stride 0).
    """

    shape: tuple[int, ...]
    layout: str = "c"
    high: int | None = None
    values: tuple | None = None


@dataclass(frozen=True)
class Case:
    id: str
    inputs: tuple[In, ...]
    kw: dict = field(default_factory=dict, hash=False, compare=False)
    dtypes: tuple[str, ...] | None = None   # restricts the row's dtypes for this case

    def small(self, limit: int = 200) -> bool:
        """Whether finite differences (O(numel**2)) are affordable."""
        return all(numel(spec) <= limit for spec in self.inputs)


@dataclass(frozen=True)
class Row:
    name: str
    fn: Callable[..., Any]
    ref: Callable[..., Any] | None
    args: tuple[Arg, ...]
    cases: tuple[Case, ...]
    dtypes: tuple[str, ...] = FLOATS
    grad: bool = True          # differentiable: gradients compared with torch
    gradcheck: bool = True     # finite differences apply (False where inputs sit on kinks/ties)
    gradgrad: bool = False     # second derivatives are checked
    grad_fn: bool = True       # grad_fn names are compared with torch's (False: a different decomposition)
    torch_fn: Callable[..., Any] | None = None
    tol: dict | None = None    # forward tolerance overrides, by dtype name
    widen: bool = True         # the NumPy reference gets float64 copies of float inputs
    # dtypes whose forward cases run in a child process, so that an abort of the interpreter
    # (a kernel that fails to link, say) fails one test instead of ending the whole session
    isolate: tuple[str, ...] = ()

    def fn_for(self, lib: Any) -> Callable[..., Any]:
        return self.torch_fn if (lib is not tapegrad and self.torch_fn is not None) else self.fn

    def __repr__(self) -> str:
        return f"Row({self.name})"


def as_in(spec: Any) -> In:
    return spec if isinstance(spec, In) else In(tuple(spec))


def case(id: str, *inputs: Any, dtypes: tuple[str, ...] | None = None, **kw: Any) -> Case:
    return Case(id, tuple(as_in(s) for s in inputs), kw, dtypes)


def kw_id(kw: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in kw.items()).replace(" ", "") or "all"


def with_variants(cases: Sequence[Case], variants: Sequence[dict]) -> tuple[Case, ...]:
    """Every case under every keyword variant."""
    return tuple(Case(f"{c.id}:{kw_id(kw)}", c.inputs, {**c.kw, **kw}, c.dtypes) for c in cases for kw in variants)


# ----------------------------------------------------------------------------- inputs

def seed_for(*parts: Any) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def draw(domain: str, rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Values for ``domain`` in ``dtype``: floats are drawn in float64 (so float32 and float64
    cases see the same numbers), integers and bools from a small matching set."""
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == "bool":
        if domain in ("pos", "nonzero", "unit_open"):
            return np.ones(shape, np.bool_)
        return rng.random(shape) < 0.5
    if dtype in INTS:
        if domain in ("pos", "unit_open"):
            values = rng.integers(1, 5, shape)
        elif domain == "nonzero":
            values = rng.integers(1, 4, shape) * rng.choice([-1, 1], shape)
        elif domain == "expo":
            values = rng.integers(0, 3, shape)
        elif domain == "low":
            values = rng.integers(-3, 0, shape)
        elif domain == "high":
            values = rng.integers(1, 4, shape)
        elif domain == "distinct":
            values = rng.permutation(n).reshape(shape) - n // 2
        else:
            values = rng.integers(-3, 4, shape)
        return np.asarray(values, dtype=np.dtype(dtype))
    if domain == "real":
        values = rng.uniform(-2.0, 2.0, shape)
    elif domain == "pos":
        values = rng.uniform(0.5, 2.0, shape)
    elif domain == "nonzero":
        values = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif domain == "unit_open":          # probabilities strictly inside (0, 1)
        values = rng.uniform(0.1, 0.9, shape)
    elif domain == "unit":               # targets in [0, 1], the ends included
        values = rng.uniform(0.0, 1.0, shape)
        flat = values.reshape(-1)
        if flat.size >= 2:
            flat[0], flat[1] = 0.0, 1.0
    elif domain == "gt_m1":
        values = rng.uniform(-0.5, 2.0, shape)
    elif domain == "expo":
        values = rng.uniform(-1.5, 1.5, shape)
    elif domain == "frac":               # away from the kinks of floor/ceil/round
        values = rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.4, shape)
    elif domain == "distinct":           # distinct values and distinct magnitudes, no zeros
        values = (rng.permutation(n).reshape(shape) - n // 2 + 0.25) * 0.5
    elif domain == "grid":               # coarse values: ties and equalities happen
        values = rng.integers(-2, 3, shape) * 0.5
    elif domain == "low":
        values = rng.uniform(-1.5, -0.2, shape)
    elif domain == "high":
        values = rng.uniform(0.2, 1.5, shape)
    elif domain == "special":            # non-finite, signed zeros, tiny and huge magnitudes
        cycle = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 80.0, -80.0, 1e30, -1e30, 0.5,
                          -2.5, 3.0])
        values = np.resize(cycle, shape) if n else np.zeros(shape)
    elif domain == "simplex":            # probability vectors along the class dim
        values = rng.uniform(0.1, 1.0, shape)
        axis = 1 if len(shape) > 1 else 0
        if len(shape):
            values = values / values.sum(axis=axis, keepdims=True)
    else:
        raise ValueError(f"unknown domain {domain!r}")
    return np.asarray(values, dtype=np.dtype(dtype))


def base_shape(spec: In) -> tuple[int, ...]:
    shape = spec.shape
    if spec.layout == "c":
        return shape
    if spec.layout == "T":
        return shape[:-2] + (shape[-1], shape[-2])
    if spec.layout == "S":
        return (2 * shape[0],) + shape[1:]
    if spec.layout == "X":
        return (1,) + shape[1:]
    raise ValueError(spec.layout)


def apply_layout(x: Any, spec: In) -> Any:
    """The view a case feeds the op; works on tapegrad and torch tensors and NumPy arrays."""
    if spec.layout == "c":
        return x
    if spec.layout == "T":
        return np.swapaxes(x, -1, -2) if isinstance(x, np.ndarray) else x.transpose(-1, -2)
    if spec.layout == "S":
        return x[::2]
    if spec.layout == "X":
        return np.broadcast_to(x, spec.shape) if isinstance(x, np.ndarray) else x.expand(*spec.shape)
    raise ValueError(spec.layout)


def make_arrays(row: Row, c: Case, dtype: str) -> list[np.ndarray]:
    """The base arrays of a case's inputs (before layouts), the same for every library."""
    rng = np.random.default_rng(seed_for(row.name, c.id))
    arrays = []
    for arg, spec in zip(row.args, c.inputs, strict=True):
        shape = base_shape(spec)
        if arg.kind == "index":
            if spec.values is not None:
                a = np.array(spec.values, dtype=np.int64).reshape(shape)
            else:
                a = rng.integers(0, spec.high, shape).astype(np.int64)
        elif arg.kind == "bool":
            a = draw(arg.domain, rng, shape, "bool")
        else:
            a = draw(arg.domain, rng, shape, dtype)
        arrays.append(a)
    return arrays


def numpy_inputs(row: Row, c: Case, arrays: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for a, spec in zip(arrays, c.inputs):
        if a.dtype.kind == "f" and row.widen:
            a = a.astype(np.float64)
        out.append(np.array(apply_layout(a, spec)))
    return out


def lib_inputs(lib: Any, row: Row, c: Case, arrays: list[np.ndarray], requires_grad: bool
               ) -> tuple[list[Any], list[Any]]:
    """(leaves, views): fresh leaf tensors of the base arrays, and the views fed to the op."""
    leaves, views = [], []
    for a, arg, spec in zip(arrays, row.args, c.inputs):
        leaf = lib.tensor(a)
        if requires_grad and arg.diff and a.dtype.kind == "f":
            leaf.requires_grad_(True)
        leaves.append(leaf)
        views.append(apply_layout(leaf, spec))
    return leaves, views


def flat_outputs(out: Any) -> list[Any]:
    """Tensors (or arrays) of a result, tuples (split, max(dim), ...) flattened in order."""
    if isinstance(out, (tuple, list)):
        result = []
        for o in out:
            result.extend(flat_outputs(o))
        return result
    return [out]


def run(lib: Any, row: Row, c: Case, arrays: list[np.ndarray], requires_grad: bool = False
        ) -> tuple[list[Any], list[Any]]:
    leaves, views = lib_inputs(lib, row, c, arrays, requires_grad)
    return leaves, flat_outputs(row.fn_for(lib)(lib, *views, **c.kw))


# ----------------------------------------------------------------------------- comparing

def to_numpy(t: Any) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    if isinstance(t, tapegrad.Tensor):
        return np.array(t.detach().numpy())
    if torch is not None and isinstance(t, torch.Tensor):
        return t.detach().numpy().copy()
    return np.asarray(t)


def dtype_name(t: Any) -> str:
    return str(t.dtype).rsplit(".", 1)[-1]


def assert_values(actual: np.ndarray, expected: np.ndarray, dtype: str, what: str,
                  tol: dict | None = None) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    if dtype == "bool" or expected.dtype == np.bool_:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    elif dtype in INTS:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        tolerance = (tol or {}).get(dtype, FORWARD_TOL[dtype])
        np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), equal_nan=True,
                                   err_msg=what, **tolerance)


def grad_fn_name(t: Any) -> str | None:
    fn = t.grad_fn
    return None if fn is None else fn.name()


def upstream(outputs: Sequence[Any], seed: int) -> list[np.ndarray]:
    """Random upstream gradients (float64) for the outputs that take part in backward."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(o.shape)) for o in outputs]


def numel(spec: In) -> int:
    return int(np.prod(spec.shape, dtype=np.int64))


def differentiable(outputs: Sequence[Any]) -> list[Any]:
    return [o for o in outputs if o.is_floating_point() and o.requires_grad]


# ----------------------------------------------------------------------------- forward checks

def check_forward_numpy(row: Row, c: Case, dtype: str) -> None:
    arrays = make_arrays(row, c, dtype)
    _, outs = run(tapegrad, row, c, arrays)
    with np.errstate(all="ignore"):
        expected = flat_outputs(row.ref(*numpy_inputs(row, c, arrays), **c.kw))
    assert len(outs) == len(expected), f"{len(outs)} outputs, expected {len(expected)}"
    for k, (out, ref) in enumerate(zip(outs, expected)):
        assert isinstance(out, tapegrad.Tensor)
        assert_values(to_numpy(out), np.asarray(ref), dtype_name(out), f"{row.name} output {k}", row.tol)


def exact_where_torch_overflows(want: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """PyTorch's values ``want``, with the reference's ``exact`` ones where PyTorch's float
    arithmetic overflows on the way to a value the dtype holds (inf where the value is finite) or
    meets inf - inf or 0 * inf (nan where the value is not nan). Those points depend on the CPU
    PyTorch runs on: its vectorized kernels differ by instruction set (gelu(inf) is inf with AVX2
    and nan with AVX512), so there the reference judges ours instead."""
    with np.errstate(over="ignore", invalid="ignore"):
        exact = np.broadcast_to(np.asarray(exact).astype(want.dtype), want.shape)
    replace = (np.isinf(want) & np.isfinite(exact)) | (np.isnan(want) & ~np.isnan(exact))
    return np.where(replace, exact, want)


def check_forward_torch(row: Row, c: Case, dtype: str) -> None:
    arrays = make_arrays(row, c, dtype)
    _, outs = run(tapegrad, row, c, arrays)
    _, expected = run(torch, row, c, arrays)
    assert len(outs) == len(expected), f"{len(outs)} outputs, torch gives {len(expected)}"
    exact: list[np.ndarray] | None = None
    for k, (out, ref) in enumerate(zip(outs, expected)):
        assert dtype_name(out) == dtype_name(ref), f"output {k}: dtype {out.dtype}, torch gives {ref.dtype}"
        assert tuple(out.shape) == tuple(ref.shape), f"output {k}: shape {tuple(out.shape)} vs {tuple(ref.shape)}"
        want = to_numpy(ref)
        if want.dtype.kind == "f" and row.ref is not None and not np.isfinite(want).all():
            if exact is None:  # the reference only where PyTorch has non-finite values
                with np.errstate(all="ignore"):
                    exact = [np.asarray(r) for r in flat_outputs(row.ref(*numpy_inputs(row, c, arrays), **c.kw))]
            assert len(exact) == len(expected), f"{len(exact)} reference outputs, torch gives {len(expected)}"
            want = exact_where_torch_overflows(want, exact[k])
        assert_values(to_numpy(out), want, dtype_name(ref), f"{row.name} output {k}", row.tol)


def check_forward_isolated(dtype: str) -> list[str]:
    """Both forward checks over every case of the rows that isolate ``dtype``; the failures,
    as text. Each case is announced on stdout first, so an abort can be traced to it."""
    from optable import ROWS

    failures = []
    checks = [check_forward_numpy] + ([check_forward_torch] if torch is not None else [])
    for row in ROWS:
        if dtype not in row.isolate:
            continue
        for c in row.cases:
            if c.dtypes is not None and dtype not in c.dtypes:
                continue
            for check in checks:
                print(f"running {check.__name__}[{row.name}-{c.id}-{dtype}]", flush=True)
                try:
                    check(row, c, dtype)
                except Exception as error:  # noqa: BLE001 - every failure is reported
                    failures.append(f"FAILED {check.__name__}[{row.name}-{c.id}-{dtype}]: "
                                    f"{type(error).__name__}: {error}")
    return failures
