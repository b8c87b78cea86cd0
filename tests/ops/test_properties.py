"""Property tests: broadcasting binary ops and reductions over random shapes and dims.

Binary elementwise ops: for random broadcastable shape pairs (up to 4-D, sizes 0..4), the
forward equals NumPy's broadcast result, and the gradient of ``(a op b).sum()`` for each input
equals NumPy's reduction of the broadcast local derivative to that input's shape.
Reductions (sum, mean, amax, prod) over random dims with ``keepdim`` either way match NumPy,
and their gradients match torch when it is installed (and the closed forms for sum and mean).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import tapegrad
from ophelpers import torch

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient at the broadcast shape down to ``shape``."""
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead))) if lead else grad
    axes = tuple(d for d, s in enumerate(shape) if s == 1 and grad.shape[d] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _values(rng, shape, domain):
    if domain == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.uniform(-2.0, 2.0, shape)


# name: (op, NumPy forward, local derivatives (d/da, d/db) at the broadcast shape, domains)
BINARY = {
    "add": (lambda a, b: a + b, np.add, lambda a, b: (np.ones_like(a + b), np.ones_like(a + b)), ("real", "real")),
    "sub": (lambda a, b: a - b, np.subtract, lambda a, b: (np.ones_like(a + b), -np.ones_like(a + b)),
            ("real", "real")),
    "mul": (lambda a, b: a * b, np.multiply, lambda a, b: (b + 0 * a, a + 0 * b), ("real", "real")),
    "div": (lambda a, b: a / b, np.divide, lambda a, b: (1 / b + 0 * a, -a / (b * b)), ("real", "nonzero")),
    "pow": (lambda a, b: a ** b, np.power, lambda a, b: (b * a ** (b - 1), a ** b * np.log(a)), ("pos", "real")),
    "maximum": (lambda a, b: tapegrad.maximum(a, b), np.maximum,
                lambda a, b: ((a > b) + 0.0 * b, (b > a) + 0.0 * a), ("real", "real")),
    "minimum": (lambda a, b: tapegrad.minimum(a, b), np.minimum,
                lambda a, b: ((a < b) + 0.0 * b, (b < a) + 0.0 * a), ("real", "real")),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=4),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2 ** 32 - 1))
def test_binary_broadcast(name, shapes, dtype, seed):
    op, np_op, partials, domains = BINARY[name]
    rng = np.random.default_rng(seed)
    (shape_a, shape_b), out_shape = shapes.input_shapes, shapes.result_shape
    a64, b64 = _values(rng, shape_a, domains[0]), _values(rng, shape_b, domains[1])
    a = tapegrad.tensor(a64.astype(dtype), requires_grad=True)
    b = tapegrad.tensor(b64.astype(dtype), requires_grad=True)
    a_np, b_np = a64.astype(dtype).astype(np.float64), b64.astype(dtype).astype(np.float64)

    out = op(a, b)
    assert tuple(out.shape) == tuple(out_shape)
    assert out.dtype is getattr(tapegrad, dtype)
    np.testing.assert_allclose(out.detach().numpy(), np_op(a_np, b_np), **TOL[dtype])

    out.sum().backward()
    da, db = partials(a_np, b_np)
    for leaf, local, shape in ((a, da, shape_a), (b, db, shape_b)):
        assert leaf.grad is not None and tuple(leaf.grad.shape) == tuple(shape)
        assert leaf.grad.dtype is leaf.dtype
        expected = unbroadcast(np.broadcast_to(local, out_shape), shape)
        np.testing.assert_allclose(leaf.grad.numpy(), expected, **TOL[dtype])


@st.composite
def reduction_cases(draw):
    op = draw(st.sampled_from(["sum", "mean", "amax", "prod"]))
    shape = draw(array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    ndim = len(shape)
    if op == "prod":  # prod takes one dim (or none)
        dims = draw(st.one_of(st.none(), st.integers(-max(ndim, 1), max(ndim, 1) - 1)))
    else:
        subset = draw(st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim)) if ndim else []
        negate = draw(st.booleans())
        dims = tuple(d - ndim if negate else d for d in subset) or None
    keepdim = draw(st.booleans())
    return op, shape, dims, keepdim, draw(st.integers(0, 2 ** 32 - 1))


def _np_axes(dims, ndim):
    if dims is None or ndim == 0:
        return None
    return tuple(d % ndim for d in dims) if isinstance(dims, tuple) else dims % ndim


def _np_reduce(op, x, axes, keepdim):
    with np.errstate(invalid="ignore", divide="ignore"):
        fn = {"sum": np.sum, "mean": np.mean, "amax": np.max, "prod": np.prod}[op]
        return np.asarray(fn(x, axis=axes, keepdims=keepdim))


def _call(lib_tensor, op, dims, keepdim):
    if dims is None:
        if keepdim:
            return getattr(lib_tensor, op)(dim=None if op != "amax" else (), keepdim=True) if op != "prod" \
                else lib_tensor.prod()
        return getattr(lib_tensor, op)()
    return getattr(lib_tensor, op)(dims, keepdim=keepdim)


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@SETTINGS
@given(case=reduction_cases())
def test_reduction(case):
    op, shape, dims, keepdim, seed = case
    if op == "prod" and dims is None:
        keepdim = False  # prod over all elements has no keepdim form
    axes = _np_axes(dims, len(shape))
    if op == "amax":  # a max over no elements is an error in both libraries
        reduced = range(len(shape)) if axes is None else ([axes] if isinstance(axes, int) else axes)
        assume(all(shape[d] > 0 for d in reduced))
    rng = np.random.default_rng(seed)
    data = rng.uniform(-2.0, 2.0, shape)
    x = tapegrad.tensor(data, requires_grad=True)
    out = _call(x, op, dims, keepdim)
    expected = _np_reduce(op, data, axes, keepdim)
    assert tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-12, equal_nan=True)

    upstream = rng.standard_normal(tuple(out.shape))
    out.backward(tapegrad.tensor(upstream))
    assert x.grad is not None and tuple(x.grad.shape) == shape
    if op in ("sum", "mean"):
        reduced = range(len(shape)) if axes is None else ([axes] if isinstance(axes, int) else axes)
        keep_shape = tuple(1 if d in reduced else s for d, s in enumerate(shape))
        count = int(np.prod([shape[d] for d in reduced]))
        closed = np.broadcast_to(upstream.reshape(keep_shape), shape) / (count if op == "mean" else 1)
        np.testing.assert_allclose(x.grad.numpy(), closed, rtol=1e-10, atol=1e-12)
    if torch is not None:
        tx = torch.tensor(data, requires_grad=True)
        tout = _call(tx, op, dims, keepdim)
        np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   equal_nan=True)
        tout.backward(torch.tensor(upstream))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
