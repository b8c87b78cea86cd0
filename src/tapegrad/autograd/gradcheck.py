"""Gradient checking against central finite differences (use float64 inputs)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from ..user_warnings import warn_user


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytical and numerical gradients disagree."""


def _as_tuple(x: Any) -> tuple:
    return x if isinstance(x, tuple) else tuple(x) if isinstance(x, list) else (x,)


def _outputs(func: Callable[..., Any], inputs: tuple) -> list:
    return [o for o in _as_tuple(func(*inputs)) if hasattr(o, "_data")]


def numerical_jacobian(func: Callable[..., Any], inputs: tuple, eps: float) -> list[list[np.ndarray]]:
    """J[i][k][a, b]: d output k element b / d input i element a, by central differences.

    Grad mode stays as the caller has it: ``func`` may itself differentiate (gradgradcheck).
    Inputs are perturbed in their buffers directly, which version counters do not see."""
    jacobians = []
    for x in inputs:
        if not (hasattr(x, "_data") and x._requires_grad):
            jacobians.append(None)
            continue
        data = x._data  # perturbed element by element, in place, whatever its strides
        columns: list[list[np.ndarray]] = []
        for position in np.ndindex(data.shape):
            original = data[position]
            data[position] = original + eps
            plus = [o._data.astype(np.float64).reshape(-1).copy() for o in _outputs(func, inputs)]
            data[position] = original - eps
            minus = [o._data.astype(np.float64).reshape(-1).copy() for o in _outputs(func, inputs)]
            data[position] = original
            columns.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
        outputs = _outputs(func, inputs)
        jacobians.append([np.stack([c[k] for c in columns]) if columns else np.zeros((0, o._data.size))
                          for k, o in enumerate(outputs)])
    return jacobians


def analytical_jacobian(func: Callable[..., Any], inputs: tuple) -> list[list[np.ndarray]]:
    from ..tensor import _wrap
    from .backward import grad

    outputs = _outputs(func, inputs)
    diff_inputs = [x for x in inputs if hasattr(x, "_data") and x._requires_grad]
    result: list[list[np.ndarray]] = [[np.zeros((x.numel(), o.numel())) for o in outputs] for x in diff_inputs]
    for k, out in enumerate(outputs):
        if not out._requires_grad:
            continue
        for b in range(out.numel()):
            seed = np.zeros(out._data.size, out._data.dtype)
            seed[b] = 1
            grads = grad(out, diff_inputs, _wrap(seed.reshape(out._data.shape)), retain_graph=True,
                         allow_unused=True)
            for i, g in enumerate(grads):
                if g is not None:
                    result[i][k][:, b] = g._data.reshape(-1)
    return result


def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, **unused: Any) -> bool:
    """Compare the gradients autograd gives ``func`` at ``inputs`` with finite differences.

    >>> x = tapegrad.randn(3, dtype=tapegrad.float64, requires_grad=True)
    >>> tapegrad.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    True
    """
    inputs = _as_tuple(inputs)
    for x in inputs:
        if hasattr(x, "_data") and x._requires_grad and x._data.dtype != np.float64:
            import warnings

            warn_user("Input is not a double precision floating point tensor; gradcheck may fail "
                      "through rounding alone.", UserWarning)
    numerical = [j for j in numerical_jacobian(func, inputs, eps) if j is not None]
    analytical = analytical_jacobian(func, inputs)
    for i, (num_i, ana_i) in enumerate(zip(numerical, analytical)):
        for k, (num, ana) in enumerate(zip(num_i, ana_i)):
            if not np.allclose(ana, num, rtol=rtol, atol=atol, equal_nan=True):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"Jacobian mismatch for output {k} with respect to input {i},\n"
                    f"numerical:{num}\nanalytical:{ana}\n")
    return True


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Sequence[Any] | None = None, *,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, **unused: Any) -> bool:
    """Check second derivatives: gradcheck of the function (inputs, v) -> vJ."""
    from ..tensor import _wrap
    from .backward import grad

    inputs = _as_tuple(inputs)
    outputs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [_wrap(rng.standard_normal(o._data.shape)).requires_grad_() for o in outputs]
    diff_positions = [i for i, x in enumerate(inputs) if hasattr(x, "_data") and x._requires_grad]

    def first_derivative(*args: Any) -> tuple:
        xs, vs = args[:len(inputs)], args[len(inputs):]
        outs = _outputs(func, xs)
        grads = grad(outs, [xs[i] for i in diff_positions], list(vs), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
