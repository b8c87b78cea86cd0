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
