"""What ``tapegrad.compile`` refuses to record: data-dependent Python on traced tensors, ops
it does not instrument, random ops, and in-place changes it cannot see. Each raises
``TraceError`` (a ``RuntimeError``) on the traced call (the second; the first runs eagerly)
instead of freezing this call's values into the replay. None of these compile anything."""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.compiler import TraceError, trace

W = tapegrad.linspace(-1, 1, 6).requires_grad_()


def _loss(x):
    W.grad = None
    loss = (W * x).sum()
    loss.backward()
    return loss


def _item(x):
    return _loss(x).item()


def _if(x):
    loss = _loss(x)
    if loss > 0:
        return loss * 2
    return loss


def _while(x):
    loss = _loss(x)
    while loss < 0:
        loss = loss + 10
    return loss


def _numpy(x):
    return _loss(x).detach().numpy()


def _float(x):
    return float(_loss(x))


def _int(x):
    return int(_loss(x))


def _tolist(x):
    return (W * x).tolist()


def _asarray(x):
    return np.asarray((W * x).detach())


DATA_DEPENDENT = [(_item, r"Tensor\.item\(\)"), (_if, r"bool\(tensor\)"), (_while, r"bool\(tensor\)"),
                  (_numpy, r"Tensor\.numpy\(\)"), (_float, r"float\(tensor\)"), (_int, r"int\(tensor\)"),
                  (_tolist, r"Tensor\.tolist\(\)"), (_asarray, "NumPy array")]


@pytest.mark.parametrize("fn, what", DATA_DEPENDENT, ids=[f.__name__.strip("_") for f, _ in DATA_DEPENDENT])
def test_data_dependent_python_is_refused_when_traced(fn, what):
    compiled = tapegrad.compile(fn)
    x = tapegrad.linspace(0, 1, 6)
    compiled(x)  # the first call runs eagerly and works
    with pytest.raises(TraceError, match=what) as info:
        compiled(x)
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert "tapegrad.compile" in message
    assert "outside the compiled function" in message and "eagerly" in message  # what to do instead
    assert trace.ACTIVE is None
    assert compiled.traces == 0 and compiled.tape is None
    # Nothing stale was kept: the next call refuses again rather than replaying.
    with pytest.raises(TraceError):
        compiled(x)
    # Eager mode is unaffected.
    assert fn(x) is not None


def _prod(x):
    return (W * x).prod()


def _sort(x):
    return (W * x).sort().values[-2:].sum()


def _mask(x):
    y = W * x
    return y[y > 0.25].sum()  # a boolean mask: the result's shape depends on the values


def _two_indices(x):
    return (W * x).reshape(2, 3)[tapegrad.tensor([0, 1]), tapegrad.tensor([2, 0])].sum()


def _index(x):
    return (W * x)[tapegrad.tensor([1, 3])].sum()  # indices made inside the step from a list


UNSUPPORTED = [_prod, _sort, _mask, _two_indices, _index]


@pytest.mark.parametrize("fn", UNSUPPORTED, ids=[f.__name__.strip("_") for f in UNSUPPORTED])
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_unsupported_op_is_refused(fn, grad):
    def step(x):
        with tapegrad.set_grad_enabled(grad):
            out = fn(x)
            if grad:
                W.grad = None
                out.backward()
            return out

    compiled = tapegrad.compile(step)
    x = tapegrad.linspace(0, 1, 6)
    want = step(x)
    compiled(x)
    with pytest.raises(TraceError, match="computed by code the compiler cannot record") as info:
        compiled(x)
    assert "run this function eagerly" in str(info.value)
    assert trace.ACTIVE is None
    np.testing.assert_allclose(step(x).detach().numpy(), want.detach().numpy())


NAMED = [(_mask, "index"), (_two_indices, "index")]


@pytest.mark.parametrize("fn, op", NAMED, ids=[op for _, op in NAMED])
def test_refusal_names_the_op_that_made_the_value(fn, op):
    """With autograd history, the value's producer is known: the message says which op it was."""
    def step(x):
        out = fn(x)
        W.grad = None
        out.backward()
        return out

    compiled = tapegrad.compile(step)
    x = tapegrad.linspace(0, 1, 6)
    compiled(x)
    with pytest.raises(TraceError, match=f"computed by code the compiler cannot record \\(made by the op `{op}`"):
        compiled(x)


# ---------------------------------------------------------------------------- random ops
# (Dropout is recorded: each replay draws its mask; see test_compile_dropout.py.)
def _randn():
    return lambda x: (W * x * tapegrad.randn(6)).sum()


def _rand_like():
    return lambda x: (W * tapegrad.rand_like(x)).sum()


def _bernoulli():
    return lambda x: (W * tapegrad.bernoulli(tapegrad.full((6,), 0.5))).sum()


def _randperm_index():
    return lambda x: (W * x)[tapegrad.randperm(6)].sum()


def _normal_in_place():
    noise = tapegrad.zeros(6)

    def fn(x):
        noise.normal_()
        return (W * x + noise).sum()
    return fn


RANDOM = [_randn, _rand_like, _bernoulli, _randperm_index, _normal_in_place]


@pytest.mark.parametrize("make", RANDOM, ids=[f.__name__.strip("_") for f in RANDOM])
def test_random_ops_are_refused_not_frozen(make):
    """A random op's values would be frozen into the replay: compile must refuse it."""
    fn = make()
    compiled = tapegrad.compile(fn)
    x = tapegrad.linspace(0.5, 1, 6)
    compiled(x)
    with pytest.raises(TraceError, match="cannot record"):
        compiled(x)
    with pytest.raises(TraceError):
        compiled(x)
    assert compiled.traces == 0


# ---------------------------------------------------------------------------- invisible writes
def test_unrecorded_in_place_write_to_a_captured_tensor_is_refused():
    buffer = tapegrad.zeros(6)

    def fn(x):
        buffer[0] = 1.0  # index assignment is refused (not silently dropped)
        return (buffer * x).sum()

    compiled = tapegrad.compile(fn)
    x = tapegrad.ones(6)
    compiled(x)
    with pytest.raises(TraceError, match="index assignment .* is not supported"):
        compiled(x)


def test_replacing_a_buffer_inside_the_step_is_refused():
    holder = nn.Linear(3, 2)

    def fn(x):
        holder.weight.data = holder.weight.detach() * 0.5
        return holder(x).sum()

    compiled = tapegrad.compile(fn)
    x = tapegrad.ones(1, 3)
    compiled(x)
    with pytest.raises(TraceError, match="replaced a tensor's buffer"):
        compiled(x)


def test_a_replayed_compiled_function_inside_a_trace_is_refused():
    inner = tapegrad.compile(lambda a: a * 2.0)
    v = tapegrad.ones(3)
    for _ in range(3):
        inner(v)
    outer = tapegrad.compile(lambda a: inner(a).sum())
    outer(v)
    with pytest.raises(TraceError):
        outer(v)
    assert trace.ACTIVE is None


def test_in_place_write_the_tracer_cannot_see_is_refused():
    """``embedding(max_norm=...)`` renormalises rows of its weight in place, outside the
    recorded ops: the version counter shows the write, and compile refuses the step."""
    weight = tapegrad.linspace(-3, 3, 15).reshape(5, 3)
    index = tapegrad.tensor([0, 4])

    def fn(x):
        F.embedding(index, weight, max_norm=1.0)
        return (weight * x).sum()

    compiled = tapegrad.compile(fn)
    x = tapegrad.ones(5, 3)
    compiled(x)
    with pytest.raises(TraceError, match="changed in\\s+place by code the compiler cannot record"):
        compiled(x)
