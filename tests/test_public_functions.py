"""NumPy's keyword names ``axis`` and ``keepdims`` for ``dim`` and ``keepdim``, on the functions
and methods PyTorch's argument parser takes them for."""
from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np
import pytest

import tapegrad

# Calls spelt with NumPy's names; each is compared with the same call spelt with PyTorch's.
CALLS = [
    "x.sum(axis=0)", "L.sum(x, axis=1, keepdims=True)", "x.mean(axis=1, keepdim=True)", "L.cat([x, x], axis=0)",
    "L.stack([x, x], axis=1)", "x.max(axis=1).values", "x.argmax(axis=1)", "x.std(axis=0)", "x.softmax(axis=0)",
    "L.cumsum(x, axis=1)", "x[None].squeeze(axis=0)", "x.unsqueeze(axis=0)", "(x > 2).any(axis=0)",
    "L.amax(x, axis=0)", "x.sort(axis=0, descending=True).values", "x.size(axis=1)", "L.logsumexp(x, axis=1)",
    "x.gather(axis=1, index=L.tensor([[0], [2]]))", "L.linalg.vector_norm(x, axis=0)",
    "L.special.logsumexp(x, axis=0)", "L.special.softmax(x, axis=0)",
]


def _value(out: Any) -> Any:
    return out.tolist() if hasattr(out, "tolist") else out


@pytest.mark.parametrize("call", CALLS)
def test_axis_and_keepdims_mean_dim_and_keepdim(call: str) -> None:
    x = tapegrad.arange(6.0).reshape(2, 3)
    expected = eval(call, {"L": tapegrad, "x": x})
    spelt = call.replace("axis=", "dim=").replace("keepdims=", "keepdim=")
    assert _value(expected) == _value(eval(spelt, {"L": tapegrad, "x": x}))
    torch = pytest.importorskip("torch")
    theirs = eval(call, {"L": torch, "x": torch.arange(6.0).reshape(2, 3)})
    assert np.allclose(np.asarray(_value(theirs)), np.asarray(_value(expected)))


def test_gradients_flow_through_the_aliased_calls() -> None:
    x = tapegrad.arange(6.0, requires_grad=True)
    tapegrad.sum(x.reshape(2, 3).softmax(axis=1) * x.reshape(2, 3), axis=(0, 1)).backward()
    y = tapegrad.arange(6.0, requires_grad=True)
    tapegrad.sum(y.reshape(2, 3).softmax(dim=1) * y.reshape(2, 3), dim=(0, 1)).backward()
    assert x.grad.tolist() == y.grad.tolist()


def test_both_spellings_at_once_and_unknown_keywords_are_type_errors() -> None:
    x = tapegrad.ones(2, 3)
    with pytest.raises(TypeError, match=r"sum\(\) got multiple values for argument 'dim'"):
        x.sum(dim=0, axis=0)
    with pytest.raises(TypeError, match=r"got multiple values for argument 'keepdim'"):
        tapegrad.mean(x, 0, keepdim=True, keepdims=True)
    with pytest.raises(TypeError, match="axis"):
        x.flip(axis=0)  # flip's parameter is ``dims``: no alias, as in PyTorch
    with pytest.raises(TypeError, match="unexpected keyword argument 'axes'"):
        x.sum(axes=0)


def test_every_public_function_and_method_with_a_dim_takes_the_aliases() -> None:
    def has_dim(fn: Any) -> bool:
        try:
            return "dim" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return False

    functions = {name: fn for name, fn in vars(tapegrad).items()
                 if not name.startswith("_") and inspect.isfunction(fn) and has_dim(fn)}
    methods = {name: fn for name, fn in vars(tapegrad.Tensor).items()
               if not name.startswith("_") and inspect.isfunction(fn) and has_dim(fn)}
    assert {"sum", "cat", "softmax", "argmax", "cumsum"} <= set(functions)
    assert {"sum", "size", "softmax", "unsqueeze", "gather"} <= set(methods)
    for name, fn in [*functions.items(), *methods.items()]:
        assert getattr(fn, "__numpy_aliases__", False), name
        assert fn.__name__ == fn.__wrapped__.__name__ and fn.__doc__ == fn.__wrapped__.__doc__
    assert tapegrad.sum is tapegrad.Tensor.sum  # one wrapper for a function bound twice


def test_wrapped_functions_pickle_as_themselves() -> None:
    # A module holding an op (``self.norm = tapegrad.softmax``) is saved with pickle, which finds
    # a function again by its module and qualified name.
    import pickle

    for fn in (tapegrad.softmax, tapegrad.cat, tapegrad.Tensor.sum, tapegrad.Tensor.size,
               tapegrad.linalg.vector_norm, tapegrad.special.logsumexp):
        assert getattr(fn, "__numpy_aliases__", False)
        assert pickle.loads(pickle.dumps(fn)) is fn


def test_a_non_tensor_where_a_tensor_must_be_is_a_type_error_naming_it() -> None:
    x = tapegrad.ones(2, 2)
    for call, message in [(lambda: tapegrad.mm(x, 1), "mm(): argument 'mat2' (position 2) must be Tensor, not int"),
                          (lambda: tapegrad.mv(x, [1.0, 2.0]),
                           "mv(): argument 'vec' (position 2) must be Tensor, not list"),
                          (lambda: tapegrad.take(x, 1),
                           "take(): argument 'index' (position 2) must be Tensor, not int"),
                          (lambda: tapegrad.kron(1.5, x), "kron(): argument 'input' (position 1) must be Tensor, not "
                                                          "float")]:
        with pytest.raises(TypeError, match=re.escape(message)):
            call()
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=re.escape("mm(): argument 'mat2' (position 2) must be Tensor, not int")):
        torch.mm(torch.ones(2, 2), 1)


def test_warnings_point_at_the_callers_line() -> None:
    import warnings

    x = tapegrad.ones(1)
    calls = [lambda: tapegrad.std(x), lambda: x.std(axis=0),
             lambda: tapegrad.cross(tapegrad.ones(3, 3), tapegrad.ones(3, 3)),
             lambda: tapegrad.ones(2, 3, 4).T, lambda: tapegrad.nn.functional.softmax(tapegrad.ones(2, 3)),
             lambda: tapegrad.nn.MSELoss(size_average=True)]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert caught, call
        assert {(w.filename, w.lineno) for w in caught} == {(__file__, call.__code__.co_firstlineno)}
