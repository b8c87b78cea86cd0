"""``tapegrad.autograd.functional``: Jacobians, Hessians and their products with vectors, for
functions of tensors (PyTorch's ``torch.autograd.functional``).

Everything is built on ``autograd.grad``: a vector-Jacobian product is one reverse sweep, a
Jacobian one sweep per output element, a Jacobian-vector product the reverse sweep of a
reverse sweep (the "double backward" trick: ``u -> J^T u`` is linear in ``u``, so
differentiating ``<J^T u, v>`` by ``u`` gives ``J v``), and Hessian products the same on the
gradient. ``vectorize=True`` and ``strategy="forward-mode"`` give the same numbers as the
defaults here, computed the same way.

Inputs are differentiated through fresh leaves (``detach().requires_grad_()``), so the caller's
tensors gain no gradients; results are detached unless ``create_graph``, in which case they can
be differentiated again with respect to the caller's tensors.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..tensor import Tensor
from . import grad_mode
from .backward import grad as _grad

__all__: list[str] = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]

Tensors = Tensor | tuple[Tensor, ...]


def _as_tuple(value: Any, what: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    """``(was a tuple, the tensors)``, refusing anything but a tensor or a tuple of them."""
    if isinstance(value, Tensor):
        return False, (value,)
    if isinstance(value, tuple):
        for i, item in enumerate(value):
            if not isinstance(item, Tensor):
                raise TypeError(f"The {what} given to {fn_name} must be either a Tensor or a tuple of Tensors but "
                                f"the value at index {i} has type {type(item)}.")
        return True, value
    raise TypeError(f"The {what} given to {fn_name} must be either a Tensor or a tuple of Tensors but the given "
                    f"{what} has type {type(value)}.")


def _leaves(inputs: tuple[Tensor, ...], create_graph: bool) -> tuple[Tensor, ...]:
    """Leaves to differentiate by: linked to the caller's tensors under ``create_graph``
    (so results can be differentiated further), fresh otherwise."""
    if create_graph:
        return tuple(x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True) for x in inputs)
    return tuple(x.detach().requires_grad_(True) for x in inputs)


def _call(func: Callable[..., Any], leaves: tuple[Tensor, ...], fn_name: str,
          strict: bool) -> tuple[bool, tuple[Tensor, ...]]:
    with grad_mode.enable_grad():
        result = func(*leaves)
    is_tuple, outputs = _as_tuple(result, "outputs of the user-provided function", fn_name)
    if strict:
        for i, out in enumerate(outputs):
            if not out.requires_grad:
                raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The "
                                   "outputs must be computed in a differentiable manner from the input when running "
                                   "in strict mode.")
    return is_tuple, outputs


def _check_v(v: Any, like: tuple[Tensor, ...], like_is_tuple: bool, fn_name: str,
             none_message: str) -> tuple[Tensor, ...]:
    """``v`` as a tuple matching ``like`` in length and shapes; ``None`` (meaning 1) only when
    ``like`` is one single-element tensor."""
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(none_message)
        return (like[0].new_ones(like[0].shape).detach(),)
    _, vs = _as_tuple(v, "v", fn_name)
    if len(vs) != len(like):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(like)} but got {len(vs)}."
                           if like_is_tuple else "The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(vs, like)):
        if tuple(a.shape) != tuple(b.shape):
            prefix = f"Entry {i} in " if like_is_tuple else ""
            raise RuntimeError(f"{prefix}v has invalid size: should be {b.shape} but got {a.shape}.")
    return tuple(a.detach() for a in vs)


_V_FOR_OUTPUT = "The vector v can only be None if the user-provided function returns a single Tensor with a " \
    "single element."
_V_FOR_INPUT = "The vector v can only be None if the input to the user-provided function is a single Tensor with a " \
    "single element."


def _grads(outputs: tuple[Tensor, ...], inputs: tuple[Tensor, ...], grad_outputs: tuple[Tensor, ...],
           create_graph: bool, retain_graph: bool | None = None) -> tuple[Tensor | None, ...]:
    """``autograd.grad`` over the outputs that have history (the others contribute nothing)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return _grad([o for o, _ in pairs], list(inputs), [g for _, g in pairs], retain_graph=retain_graph,
                 create_graph=create_graph, allow_unused=True)


def _fill(grads: tuple[Tensor | None, ...], like: tuple[Tensor, ...], strict: bool, create_graph: bool,
          message: str) -> tuple[Tensor, ...]:
    """Missing gradients as zeros (refused in strict mode), detached unless ``create_graph``."""
    out = []
    for i, (g, x) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(message.format(i=i))
            g = x.new_zeros(x.shape).detach()
        out.append(g if create_graph else g.detach())
    return tuple(out)


def _shape_like(values: tuple[Any, ...], is_tuple: bool) -> Any:
    return values if is_tuple else values[0]


def _detached(values: tuple[Tensor, ...], create_graph: bool) -> tuple[Tensor, ...]:
    return values if create_graph else tuple(v.detach() for v in values)


_INDEPENDENT = "The output of the user-provided function is independent of input {i}. This is not allowed in " \
    "strict mode."


def vjp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:
    """``(func(*inputs), v^T J)``: the vector-Jacobian product at ``inputs``.

    >>> x = tapegrad.tensor([1.0, 2.0])
    >>> tapegrad.autograd.functional.vjp(lambda x: x * x, x, tapegrad.ones(2))[1]
    tensor([2., 4.])
    """
    in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    leaves = _leaves(xs, create_graph)
    out_tuple, outputs = _call(func, leaves, "vjp", strict)
    vs = _check_v(v, outputs, out_tuple, "vjp", _V_FOR_OUTPUT)
    grads = _grads(outputs, leaves, vs, create_graph)
    result = _fill(grads, leaves, strict, create_graph, _INDEPENDENT)
    return _shape_like(_detached(outputs, create_graph), out_tuple), _shape_like(result, in_tuple)


def jvp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:
    """``(func(*inputs), J v)``: the Jacobian-vector product at ``inputs``, by two reverse
    sweeps.

    >>> x = tapegrad.tensor([1.0, 2.0])
    >>> tapegrad.autograd.functional.jvp(lambda x: x * x, x, tapegrad.ones(2))[1]
    tensor([2., 4.])
    """
    in_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
    vs = _check_v(v, xs, in_tuple, "jvp", _V_FOR_INPUT)
    leaves = _leaves(xs, create_graph)
    out_tuple, outputs = _call(func, leaves, "jvp", strict)
    with grad_mode.enable_grad():
        # u -> J^T u through cotangents u that require grad; its derivative by u in the
        # direction v is J v (the map is linear in u, so u's value does not matter).
        cotangents = tuple(o.new_zeros(o.shape).detach().requires_grad_(True) for o in outputs)
        back = _grads(outputs, leaves, cotangents, create_graph=True, retain_graph=True)
        for i, b in enumerate(back):
            if strict and (b is None or not b.requires_grad):
                if b is None:
                    raise RuntimeError(_INDEPENDENT.format(i=i))
                raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of the "
                                   "user-provided function. This is not allowed in strict mode.")
        pairs = [(b, w) for b, w in zip(back, vs) if b is not None and b.requires_grad]
        forward: tuple[Tensor | None, ...] = (None,) * len(cotangents)
        if pairs:
            forward = _grad([b for b, _ in pairs], list(cotangents), [w for _, w in pairs],
                            create_graph=create_graph, allow_unused=True)
    result = _fill(forward, outputs, strict, create_graph, "The gradient with respect to the input is independent "
                   "of entry {i} in the grad_outputs when using the double backward trick to compute forward mode "
                   "gradients. This is not allowed in strict mode.")
    return _shape_like(_detached(outputs, create_graph), out_tuple), _shape_like(result, out_tuple)


def jacobian(func: Callable[..., Any], inputs: Tensors, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: a tensor of shape ``output.shape + input.shape``
    for one input and one output, else tuples (``[i][j]`` for output i and input j; one level
    when only one side is a tuple).

    >>> tapegrad.autograd.functional.jacobian(lambda x: x * x, tapegrad.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    from ..ops.movement import stack

    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
                             'function has more outputs than inputs, "forward-mode" tends to be more performant. '
                             'Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError("Computing Jacobian using forward-AD or forward-over-reverse Hessian isonly "
                                  "implemented for `vectorize=True`.")
    in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    leaves = _leaves(xs, create_graph)
    out_tuple, outputs = _call(func, leaves, "jacobian", strict)
    rows: list[tuple[Tensor, ...]] = []  # rows[i][j]: d output i / d input j
    for i, out in enumerate(outputs):
        flat = out.reshape(-1)
        columns: list[list[Tensor]] = [[] for _ in leaves]
        for k in range(flat.numel()):
            grads: tuple[Tensor | None, ...] = (None,) * len(leaves)
            if out.requires_grad:
                grads = _grad(flat[k], list(leaves), retain_graph=True, create_graph=create_graph,
                              allow_unused=True)
            for j, (g, x) in enumerate(zip(grads, leaves)):
                if g is None:
                    if strict:
                        raise RuntimeError(f"Output {i} of the user-provided function is independent of input {j}. "
                                           "This is not allowed in strict mode.")
                    g = x.new_zeros(x.shape).detach()
                elif strict and create_graph and not g.requires_grad:
                    raise RuntimeError(f"The jacobian of the user-provided function is independent of input {i}. "
                                       "This is not allowed in strict mode when create_graph=True.")
                columns[j].append(g if create_graph else g.detach())
        rows.append(tuple(stack(gs).reshape(tuple(out.shape) + tuple(x.shape)) if gs
                          else x.new_zeros(tuple(out.shape) + tuple(x.shape)).detach()
                          for gs, x in zip(columns, leaves)))
    if out_tuple and in_tuple:
        return tuple(rows)
    if out_tuple:
        return tuple(row[0] for row in rows)
    return rows[0] if in_tuple else rows[0][0]


def _single_output(outputs: tuple[Tensor, ...], out_tuple: bool, fn_name: str) -> Tensor:
    if out_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single element")
    return outputs[0]


_JACOBIAN_INDEPENDENT = "While computing the hessian, found that the jacobian of the user-provided function with " \
    "respect to input {i} is independent of the input. This is not allowed in strict mode. You should ensure that " \
    "your function is twice differentiable and that the jacobian depends on the inputs (this would be violated by a " \
    "linear function for example)."


def _first_gradient(func: Callable[..., Any], leaves: tuple[Tensor, ...], fn_name: str, strict: bool,
                    ) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The scalar output of ``func`` and its gradient, kept differentiable (missing parts as
    zeros, which strict mode refuses)."""
    out_tuple, outputs = _call(func, leaves, fn_name, strict)
    out = _single_output(outputs, out_tuple, fn_name)
    with grad_mode.enable_grad():
        grads = _grads((out,), leaves, (out.new_ones(out.shape).detach(),), create_graph=True)
    grads = _fill(grads, leaves, False, True, _INDEPENDENT)
    if strict:
        for i, g in enumerate(grads):
            if not g.requires_grad:
                raise RuntimeError(_JACOBIAN_INDEPENDENT.format(i=i))
    return out, grads


def hessian(func: Callable[..., Any], inputs: Tensors, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of the scalar function ``func`` at ``inputs``: shape ``input.shape * 2`` for
    one input, else tuples ``[i][j]``.

    >>> tapegrad.autograd.functional.hessian(lambda x: (x ** 3).sum(), tapegrad.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")
    result = jacobian(lambda *leaves: _first_gradient(func, leaves, "hessian", strict)[1], xs,
                      create_graph=create_graph, strict=strict, vectorize=vectorize,
                      strategy=outer_jacobian_strategy)
    return result if in_tuple else result[0][0]  # xs is always a tuple here: rows[i][j]


def _hessian_product(func: Callable[..., Any], inputs: Tensors, v: Tensors | None, create_graph: bool,
                     strict: bool, fn_name: str) -> tuple[Tensor, Tensors]:
    in_tuple, xs = _as_tuple(inputs, "inputs", fn_name)
    vs = _check_v(v, xs, in_tuple, fn_name, _V_FOR_INPUT)
    leaves = _leaves(xs, create_graph)
    out, grads = _first_gradient(func, leaves, fn_name, strict)
    with grad_mode.enable_grad():
        # The Hessian is symmetric, so v^T H and H v are one product: one more reverse sweep.
        products = _grads(grads, leaves, vs, create_graph=create_graph)
    result = _fill(products, leaves, strict, create_graph, "The hessian of the user-provided function is "
                   "independent of entry {i} in the grad_jacobian. This is not allowed in strict mode as it prevents "
                   "from using the double backward trick to replace forward mode AD.")
    return out if create_graph else out.detach(), _shape_like(result, in_tuple)


def vhp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:
    """``(func(*inputs), v^T H)`` for a scalar ``func``.

    >>> tapegrad.autograd.functional.vhp(lambda x: (x ** 3).sum(), tapegrad.tensor([1.0, 2.0]), tapegrad.ones(2))[1]
    tensor([ 6., 12.])
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:
    """``(func(*inputs), H v)`` for a scalar ``func``."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")
