"""The table-driven op suite: every row of ``optable.ROWS`` run over its cases and dtypes.

Per row and case: forward against NumPy (always) and torch (when installed: values, shape and
dtype); for differentiable rows, finite-difference ``gradcheck``, gradients against torch for
the same upstream gradient, and the ``grad_fn`` name; ``gradgradcheck`` for a subset.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad
from ophelpers import (FLOATS, GRAD_TOL, apply_layout, assert_values, check_forward_numpy, check_forward_torch,
                       differentiable, dtype_name, flat_outputs, grad_fn_name, lib_inputs, make_arrays, run,
                       seed_for, to_numpy, torch, upstream)
from optable import MIXED_GRAD, PROMOTION, ROWS

needs_torch = [pytest.mark.torch, pytest.mark.skipif(torch is None, reason="torch is not installed")]


def _id(row, c, dtype=None):
    return f"{row.name}-{c.id}" + (f"-{dtype}" if dtype else "")


def _params(rows, dtypes_of, case_filter=lambda row, c: True, marks=()):
    return [pytest.param(row, c, dtype, id=_id(row, c, dtype), marks=list(marks))
            for row in rows for c in row.cases if case_filter(row, c) for dtype in dtypes_of(row)
            if c.dtypes is None or dtype in c.dtypes]




def in_process_dtypes(row):
    return tuple(d for d in row.dtypes if d not in row.isolate)


ISOLATED_DTYPES = sorted({dtype for row in ROWS for dtype in row.isolate})
GRAD_ROWS = [row for row in ROWS if row.grad]


def _nonempty(row, c):
    return all(np.prod(spec.shape, dtype=np.int64) > 0 for spec in c.inputs)


def _gradgrad_cases(row, c):
    chosen = [k for k in row.cases if _nonempty(row, k) and k.small(60)][:2]
    return c in chosen


# ----------------------------------------------------------------------------- forward

@pytest.mark.parametrize("row, c, dtype", _params(ROWS, in_process_dtypes))
def test_forward_numpy(row, c, dtype):
    check_forward_numpy(row, c, dtype)


@pytest.mark.parametrize("row, c, dtype", _params(ROWS, in_process_dtypes, marks=needs_torch))
def test_forward_torch(row, c, dtype):
    check_forward_torch(row, c, dtype)


@pytest.mark.parametrize("dtype", ISOLATED_DTYPES)
def test_forward_isolated(dtype):
    """Both forward checks of the rows that isolate ``dtype``, in a child process (``Row.isolate``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from ophelpers import check_forward_isolated; "
            "failures = check_forward_isolated(sys.argv[2]); print(*failures, sep='\\n'); "
            "sys.exit(1 if failures else 0)")
    proc = subprocess.run([sys.executable, "-c", code, here, dtype], capture_output=True, text=True, timeout=300)
    lines = proc.stdout.splitlines()
    if proc.returncode not in (0, 1):
        pytest.fail(f"the child process died (exit status {proc.returncode}) while "
                    f"{lines[-1] if lines else 'starting'}:\n{proc.stderr[-1500:]}")
    failures = [line for line in lines if line.startswith("FAILED")]
    assert proc.returncode == 0 and not failures, "\n".join(failures) or proc.stderr[-1500:]


# ----------------------------------------------------------------------------- gradients

def _tapegrad_function(row, c):
    """The row as a function of its leaves (layouts applied inside), float outputs only."""
    def f(*leaves):
        views = [apply_layout(x, spec) for x, spec in zip(leaves, c.inputs)]
        return tuple(o for o in flat_outputs(row.fn(tapegrad, *views, **c.kw)) if o.is_floating_point())
    return f


@pytest.mark.parametrize("row, c, dtype",
                         _params([r for r in GRAD_ROWS if r.gradcheck], lambda row: ("float64",),
                                 lambda row, c: c.small()))
def test_gradcheck(row, c, dtype):
    arrays = make_arrays(row, c, dtype)
    leaves, _ = lib_inputs(tapegrad, row, c, arrays, requires_grad=True)
    assert any(x.requires_grad for x in leaves)
    assert tapegrad.autograd.gradcheck(_tapegrad_function(row, c), tuple(leaves))


@pytest.mark.parametrize("row, c, dtype", _params(GRAD_ROWS, lambda row: FLOATS, marks=needs_torch))
def test_grad_matches_torch(row, c, dtype):
    arrays = make_arrays(row, c, dtype)
    tg_leaves, tg_outs = run(tapegrad, row, c, arrays, requires_grad=True)
    th_leaves, th_outs = run(torch, row, c, arrays, requires_grad=True)
    tg_diff, th_diff = differentiable(tg_outs), differentiable(th_outs)
    assert len(tg_diff) == len(th_diff), "outputs requiring grad differ from torch's"
    assert th_diff, "the row is marked differentiable but torch gives no output requiring grad"
    grads = upstream(th_diff, seed_for(row.name, c.id, "upstream"))
    tapegrad.autograd.backward(tg_diff, [tapegrad.tensor(g.astype(to_numpy(o).dtype))
                                         for g, o in zip(grads, th_diff)])
    torch.autograd.backward(th_diff, [torch.tensor(g.astype(to_numpy(o).dtype)) for g, o in zip(grads, th_diff)])
    compared = 0
    for k, (tl, hl) in enumerate(zip(tg_leaves, th_leaves)):
        if not hl.requires_grad:
            continue
        compared += 1
        if hl.grad is None:
            assert tl.grad is None or not to_numpy(tl.grad).any(), f"input {k}: torch gives no gradient"
            continue
        assert tl.grad is not None, f"input {k}: no gradient, torch gives one"
        assert dtype_name(tl.grad) == dtype_name(hl.grad), f"input {k}: grad dtype {tl.grad.dtype} vs {hl.grad.dtype}"
        assert_values(to_numpy(tl.grad), to_numpy(hl.grad), dtype_name(hl.grad), f"{row.name} grad of input {k}",
                      {dtype_name(hl.grad): GRAD_TOL[dtype_name(hl.grad)]})
    assert compared, "no input takes a gradient"


@pytest.mark.parametrize("row, c, dtype", _params([r for r in ROWS if r.grad_fn], lambda row: ("float64",),
                                                  marks=needs_torch))
def test_grad_fn_matches_torch(row, c, dtype):
    arrays = make_arrays(row, c, dtype)
    _, tg_outs = run(tapegrad, row, c, arrays, requires_grad=True)
    _, th_outs = run(torch, row, c, arrays, requires_grad=True)
    assert [o.requires_grad for o in tg_outs] == [o.requires_grad for o in th_outs], "requires_grad differs"
    assert [grad_fn_name(o) for o in tg_outs] == [grad_fn_name(o) for o in th_outs]


@pytest.mark.parametrize("row, c, dtype", _params([r for r in GRAD_ROWS if r.gradgrad],
                                                  lambda row: ("float64",), _gradgrad_cases))
def test_gradgradcheck(row, c, dtype):
    arrays = make_arrays(row, c, dtype)
    leaves, _ = lib_inputs(tapegrad, row, c, arrays, requires_grad=True)
    assert tapegrad.autograd.gradgradcheck(_tapegrad_function(row, c), tuple(leaves))


# ----------------------------------------------------------------------------- mixed dtypes

def _promotion_inputs(lib, inputs):
    tensors = []
    for name, shape in inputs:
        values = np.array([1, 2, 3][:int(np.prod(shape, dtype=np.int64))] if shape else 2).reshape(shape)
        if name == "bool":
            values = values % 2 == 1
        tensors.append(lib.tensor(values.astype(np.dtype(name))))
    return tensors


@pytest.mark.parametrize("fn, inputs, expected", [pytest.param(*p[1:], id=p[0]) for p in PROMOTION])
def test_promotion(fn, inputs, expected):
    out = fn(tapegrad, *_promotion_inputs(tapegrad, inputs))
    assert dtype_name(out) == expected


@pytest.mark.parametrize("fn, inputs, expected", [pytest.param(*p[1:], id=p[0], marks=needs_torch)
                                                  for p in PROMOTION])
def test_promotion_matches_torch(fn, inputs, expected):
    out = fn(tapegrad, *_promotion_inputs(tapegrad, inputs))
    ref = fn(torch, *_promotion_inputs(torch, inputs))
    assert dtype_name(ref) == expected, "the table's expectation disagrees with torch"
    assert dtype_name(out) == dtype_name(ref)
    assert_values(to_numpy(out), to_numpy(ref), dtype_name(ref), "value")


# ----------------------------------------------------------------------------- the checker itself

def test_gradcheck_accepts_non_contiguous_leaf():
    # The suite feeds gradcheck contiguous leaves; a transposed leaf must work too, as in torch.
    x = tapegrad.tensor(np.arange(1.0, 7.0).reshape(2, 3)).t().detach().requires_grad_()
    assert not x.is_contiguous()
    assert tapegrad.autograd.gradcheck(lambda a: a * a, (x,))


# ----------------------------------------------------------------------------- mixed-dtype gradients

def _mixed_inputs(lib, inputs, seed):
    rng = np.random.default_rng(seed)
    leaves = []
    for name, shape in inputs:
        if name == "bool":
            values = rng.random(shape) < 0.5
        elif name in ("int64", "int32"):
            values = rng.integers(-3, 4, shape)
        else:
            values = rng.uniform(0.5, 2.0, shape)
        leaf = lib.tensor(np.asarray(values).astype(np.dtype(name)))
        if name.startswith("float"):
            leaf.requires_grad_(True)
        leaves.append(leaf)
    return leaves


def _mixed_backward(lib, fn, inputs, seed):
    leaves = _mixed_inputs(lib, inputs, seed)
    out = fn(lib, *leaves)
    grad = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape)).astype(to_numpy(out).dtype)
    out.backward(lib.tensor(grad))
    return leaves, out


@pytest.mark.parametrize("fn, inputs", [pytest.param(*m[1:], id=m[0]) for m in MIXED_GRAD])
def test_mixed_dtype_grad_dtypes(fn, inputs):
    leaves, _ = _mixed_backward(tapegrad, fn, inputs, seed_for(inputs))
    for k, leaf in enumerate(leaves):
        if leaf.requires_grad:
            assert leaf.grad is not None, f"input {k}: no gradient"
            assert leaf.grad.dtype is leaf.dtype, f"input {k}: grad dtype {leaf.grad.dtype}, leaf {leaf.dtype}"
            assert tuple(leaf.grad.shape) == tuple(leaf.shape)


@pytest.mark.parametrize("fn, inputs", [pytest.param(*m[1:], id=m[0], marks=needs_torch) for m in MIXED_GRAD])
def test_mixed_dtype_grad_matches_torch(fn, inputs):
    tg_leaves, tg_out = _mixed_backward(tapegrad, fn, inputs, seed_for(inputs))
    th_leaves, th_out = _mixed_backward(torch, fn, inputs, seed_for(inputs))
    assert dtype_name(tg_out) == dtype_name(th_out)
    assert_values(to_numpy(tg_out), to_numpy(th_out), dtype_name(th_out), "value")
    for k, (tl, hl) in enumerate(zip(tg_leaves, th_leaves)):
        if hl.requires_grad:
            assert dtype_name(tl.grad) == dtype_name(hl.grad), f"input {k}"
            assert_values(to_numpy(tl.grad), to_numpy(hl.grad), dtype_name(hl.grad), f"grad of input {k}",
                          {dtype_name(hl.grad): GRAD_TOL["float32"]})
