"""Array helpers shared by the autograd tests."""
from __future__ import annotations

import numpy as np
import tapegrad


def to_numpy(value):
    """A NumPy array from a tapegrad tensor, a torch tensor, or anything array-like."""
    if isinstance(value, tapegrad.Tensor):
        return np.array(value.detach().numpy())
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().numpy()
    return np.asarray(value)


def assert_close(actual, expected, rtol=1e-6, atol=1e-6):
    assert actual is not None, "expected a tensor, got None"
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)




def libraries():
    """tapegrad, then torch when it is installed: programs run on each must agree."""
    try:
        import torch
    except ImportError:
        return (tapegrad,)
    return (tapegrad, torch)


def central_differences(fn, inputs: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """The gradient of ``fn`` (called with a float64 tensor per array of ``inputs``, returning
    a scalar tensor) with respect to each input, by central differences."""
    gradients = []
    for which, x in enumerate(inputs):
        numeric = np.zeros_like(x)
        for index in np.ndindex(x.shape):
            up = [v.copy() for v in inputs]
            down = [v.copy() for v in inputs]
            up[which][index] += eps
            down[which][index] -= eps
            f_up = fn(*[tapegrad.tensor(v) for v in up]).item()
            f_down = fn(*[tapegrad.tensor(v) for v in down]).item()
            numeric[index] = (f_up - f_down) / (2 * eps)
        gradients.append(numeric)
    return gradients


def assert_second_sweep_fused(loss_fn, params, want: list[np.ndarray], vjp_calls: list[str]) -> None:
    """After warm-up, a fresh ``loss_fn()`` backpropagated twice (the first retaining the graph)
    runs no Python VJP (``vjp_calls`` counts them), accumulates twice the single gradients
    ``want``, and refuses a third backward through the released graph."""
    import pytest

    for p in params:
        p.grad = None
    vjp_calls.clear()
    value = loss_fn()
    value.backward(retain_graph=True)
    value.backward()
    assert vjp_calls == []
    for p, w in zip(params, want):
        np.testing.assert_allclose(p.grad.numpy(), 2 * np.asarray(w), rtol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        value.backward()
