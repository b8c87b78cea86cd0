"""``tapegrad.func``: PyTorch's function transforms (``torch.func``): ``grad``,
``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap``,
``functional_call`` and ``stack_module_state``.

>>> import tapegrad.func as func
>>> func.grad(lambda x: (x ** 3).sum())(tapegrad.tensor([1.0, 2.0]))
tensor([ 3., 12.])

How the transforms are built here, and where that differs from PyTorch's:

* The derivative transforms run the function once on differentiable copies of the inputs and
  differentiate the tape with ``autograd.grad``. A copy is a fresh leaf
  (``detach().requires_grad_()``), so the caller's tensors are never written to (their
  ``.grad`` stays None), or, for an input that already requires grad (an enclosing transform's
  input, or a tensor the caller differentiates later), a view of it, which keeps the link to the
  enclosing graph. That is what makes the transforms compose: ``grad(grad(f))`` differentiates
  the first ``grad``'s graph. Gradients are built with ``create_graph`` only when the function's
  output reaches a tensor requiring grad other than the transform's own leaves and those of
  transforms that have returned (found by walking the tape), and a result is detached unless it
  does. So results do not require grad, as PyTorch's, unless they depend on outside tensors
  that do (closed-over parameters, inputs requiring grad), where, as in PyTorch, they stay
  differentiable by them.
* ``jvp`` and ``jacfwd`` use reverse mode: a Jacobian-vector product is the reverse sweep of a
  reverse sweep (``u -> J^T u`` is linear in ``u``, so its vector-Jacobian product with ``v`` is
  ``J v``), and ``jacfwd`` computes the same Jacobian as ``jacrev`` (one reverse sweep per
  output element). The numbers and shapes are PyTorch's; the cost is reverse mode's.
* ``vmap`` runs the function once per batch element (a Python loop over ``select`` slices of
  the mapped inputs) and stacks the outputs: it is correct, composes with the other transforms
  and supports any operation, but it is not batched-fast, and ``chunk_size`` changes nothing.
  Consequences: Python side effects happen once per element; in-place writes to unmapped
  tensors are not refused; an output whose ``out_dims`` entry is None counts as unbatched when
  every element gave the same value (PyTorch asks whether it was computed from a batched
  tensor); random operations are detected by the default generators' states changing (a draw
  from a generator passed explicitly is not seen), and with ``randomness="same"`` every element
  starts from the same generator state.
"""
from __future__ import annotations

import functools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from . import random as _random
from .autograd import grad_mode
from .autograd.backward import grad as _autograd_grad
from .autograd.tape import AccumulateGrad
from .tensor import Tensor

__all__ = ["functional_call", "grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "stack_module_state",
           "vjp", "vmap"]

argnums_t = int | tuple[int, ...]


# --------------------------------------------------------------------------- pytrees
# PyTorch's pytrees (torch.utils._pytree) as far as the transforms need them: tuples, lists,
# dicts, OrderedDicts and namedtuples are nodes, everything else (None included) is a leaf.

class _TreeSpec:
    """The structure of a pytree: a node kind (``"tuple"``, ``"list"``, ``"dict"``,
    ``"OrderedDict"``, ``"namedtuple"``; None for a leaf), its context (a dict's keys, a
    namedtuple's class) and the children's specs. Printed as PyTorch prints its TreeSpec."""

    __slots__ = ("kind", "context", "children", "num_leaves")

    def __init__(self, kind: str | None, context: Any, children: list[_TreeSpec]) -> None:
        self.kind = kind
        self.context = context
        self.children = children
        self.num_leaves = 1 if kind is None else sum(child.num_leaves for child in children)

    def is_leaf(self) -> bool:
        return self.kind is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _TreeSpec):
            return NotImplemented
        return (self.kind == other.kind and self.context == other.context
                and self.children == other.children)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self, indent: int = 0) -> str:
        if self.kind is None:
            return "*"
        text = ""
        if self.children:
            indent += 2
            text = self.children[0].__repr__(indent) + ("," if len(self.children) > 1 else "")
            text += ",".join("\n" + " " * indent + child.__repr__(indent) for child in self.children[1:])
        return f"TreeSpec({self.kind}, {self.context}, [{text}])"


_LEAF = _TreeSpec(None, None, [])


def _node(tree: Any) -> tuple[str, Any, list[Any]] | None:
    """``(kind, context, children)`` of a pytree node; None for a leaf. Exact types, as
    PyTorch's registry: a subclass of list or dict is a leaf."""
    kind = type(tree)
    if kind is tuple:
        return "tuple", None, list(tree)
    if kind is list:
        return "list", None, list(tree)
    if kind is dict:
        return "dict", list(tree), list(tree.values())
    if kind is OrderedDict:
        return "OrderedDict", list(tree), list(tree.values())
    if isinstance(tree, tuple) and hasattr(kind, "_fields"):
        return "namedtuple", kind, list(tree)
    return None


def _tree_flatten(tree: Any) -> tuple[list[Any], _TreeSpec]:
    """The leaves of ``tree`` in order, and its structure."""
    leaves: list[Any] = []

    def visit(node: Any) -> _TreeSpec:
        parts = _node(node)
        if parts is None:
            leaves.append(node)
            return _LEAF
        kind, context, children = parts
        return _TreeSpec(kind, context, [visit(child) for child in children])

    return leaves, visit(tree)


def _tree_unflatten(leaves: Iterable[Any], spec: _TreeSpec) -> Any:
    """The pytree of structure ``spec`` holding ``leaves``."""
    remaining = iter(leaves)

    def build(node: _TreeSpec) -> Any:
        if node.kind is None:
            return next(remaining)
        children = [build(child) for child in node.children]
        if node.kind == "tuple":
            return tuple(children)
        if node.kind == "list":
            return children
        if node.kind == "dict":
            return dict(zip(node.context, children))
        if node.kind == "OrderedDict":
            return OrderedDict(zip(node.context, children))
        return node.context(*children)

    return build(spec)


def _tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, spec = _tree_flatten(tree)
    return _tree_unflatten([fn(leaf) for leaf in leaves], spec)


def _broadcast_to_and_flatten(prefix: Any, spec: _TreeSpec) -> list[Any] | None:
    """One value of ``prefix`` per leaf of ``spec``: ``prefix`` is a tree whose leaves stand
    for whole subtrees of ``spec`` (``in_dims=(0, None)`` for ``(x, {"a": y})``). None when it
    does not fit."""
    out: list[Any] = []

    def visit(node: Any, full: _TreeSpec) -> bool:
        parts = _node(node)
        if parts is None:
            out.extend([node] * full.num_leaves)
            return True
        kind, context, children = parts
        if full.kind != kind or len(children) != len(full.children):
            return False
        if kind in ("dict", "OrderedDict"):
            if set(context) != set(full.context):
                return False
            by_key = dict(zip(context, children))
            children = [by_key[key] for key in full.context]
        elif kind == "namedtuple" and context is not full.context:
            return False
        return all(visit(child, child_spec) for child, child_spec in zip(children, full.children))

    return out if visit(prefix, spec) else None


class _Asterisk:
    def __repr__(self) -> str:
        return "*"


def _pprint(spec: _TreeSpec) -> str:
    """The structure written as the tree itself with ``*`` leaves (PyTorch's treespec_pprint)."""
    return repr(_tree_unflatten([_Asterisk()] * spec.num_leaves, spec))


# --------------------------------------------------------------------------- argnums

def _validate_and_wrap_argnum(argnum: int, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _validate_and_wrap_argnums(argnums: argnums_t, num_args: int) -> argnums_t:
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        return _validate_and_wrap_argnum(argnums, num_args)
    wrapped = tuple(_validate_and_wrap_argnum(argnum, num_args) for argnum in argnums)
    if len(wrapped) == 0:
        raise RuntimeError("argnums must be non-empty")
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"argnums elements must be unique, got {wrapped}")
    return wrapped


# --------------------------------------------------------------------------- one level

def _generators() -> list[Any]:
    """The default generators random operations draw from: the CPU one, and the CUDA one once
    it exists (looking does not make it)."""
    from .cuda import random as cuda_random

    cuda = cuda_random._generator
    return [_random.default_generator] if cuda is None else [_random.default_generator, cuda]


def _rng_states() -> list[tuple[Any, np.ndarray]]:
    return [(generator, generator.get_state()) for generator in _generators()]


def _rng_unchanged(states: list[tuple[Any, np.ndarray]]) -> bool:
    current = _generators()
    return len(current) == len(states) and all(
        generator is now and np.array_equal(state, now.get_state()) for (generator, state), now in zip(states, current))


def _restore_rng(states: list[tuple[Any, np.ndarray]]) -> None:
    for generator, state in states:
        generator.set_state(state)


_RANDOM_ERROR = ("vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                 "'different' randomness flags on vmap or perform the randomness operation out of vmap")


_OWNER = "_tapegrad_func_level"  # on a transform's own leaves: a weak reference to its _Level


def _dead_leaf(leaf: Tensor) -> bool:
    """Whether ``leaf`` was made by a transform that has returned."""
    owner = leaf.__dict__.get(_OWNER)
    if owner is None:
        return False
    level = owner()
    return level is None or not level.active


class _Level:
    """One application of a derivative transform: the leaves it made for its inputs, and
    whether its results may stay linked to graphs outside it."""

    def __init__(self) -> None:
        # PyTorch's transforms obey a no_grad around them (results are then plain values) but
        # not for the function's own computation, which always records.
        self.track = grad_mode.is_grad_enabled()
        self.active = False
        self._own: list[Tensor] = []  # kept alive, so that their ids stay theirs
        self._own_ids: set[int] = set()

    def __enter__(self) -> _Level:
        self.active = True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        # Its leaves are dead from now on: nothing differentiates by them any more, so a
        # later level whose graph reaches them (a vjp_fn called inside grad) ignores them.
        self.active = False

    def own(self, leaf: Tensor) -> Tensor:
        self._own.append(leaf)
        self._own_ids.add(id(leaf))
        leaf.__dict__[_OWNER] = weakref.ref(self)
        return leaf

    def differentiable(self, x: Any) -> Tensor:
        """The input ``x`` as this level differentiates it."""
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
        if self.track and x.requires_grad:
            # A view is a distinct input here (the same tensor passed twice gets two partials)
            # whose gradient still flows on to the enclosing graph.
            return x.view_as(x)
        return self.own(x.detach().requires_grad_(True))

    def reaches_outside(self, tensors: Iterable[Any]) -> bool:
        """Whether some tensor's history reaches a tensor requiring grad that is not one of this
        level's leaves: then gradients can depend on it, and must be built differentiably."""
        stack: list[Any] = []
        for t in tensors:
            if isinstance(t, Tensor) and t.requires_grad:
                stack.append(t._edge())
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if type(node) is AccumulateGrad:
                if id(node.variable) not in self._own_ids and not _dead_leaf(node.variable):
                    return True
            else:
                stack.extend(edge for edge in node.edges if edge is not None)
        return False

    def needs_graph(self, outputs: Iterable[Any]) -> bool:
        return self.track and self.reaches_outside(outputs)

    def unwrap(self, value: Any) -> Any:
        """A result as the caller gets it: detached unless linked to a graph outside."""
        if not isinstance(value, Tensor) or not value.requires_grad:
            return value
        if self.track and self.reaches_outside((value,)):
            return value
        return value.detach()

    def unwrap_aux(self, aux: Any) -> Any:
        def unwrap_tensor(value: Any) -> Any:
            if not isinstance(value, Tensor):
                raise RuntimeError(f"Expected tensors, got unsupported type {type(value)}")
            return self.unwrap(value)

        return _tree_map(unwrap_tensor, aux)

    def prepare_args(self, args: tuple[Any, ...], argnums: argnums_t, as_tuple: bool) -> tuple[tuple[Any, ...], Any]:
        """``(args with the ones at argnums made differentiable, those differentiable args)``;
        the latter is the pytree at ``argnums`` (a tuple of them for a tuple of argnums, or a
        1-tuple for an int when ``as_tuple``)."""
        wrapped = _validate_and_wrap_argnums(argnums, len(args))
        positions = (wrapped,) if isinstance(wrapped, int) else wrapped
        diff = tuple(_tree_map(self.differentiable, args[i]) for i in positions)
        new_args = list(args)
        for position, value in zip(positions, diff):
            new_args[position] = value
        return tuple(new_args), (diff[0] if isinstance(wrapped, int) and not as_tuple else diff)


def _grads(outputs: Sequence[Tensor], inputs: Sequence[Tensor], grad_outputs: Sequence[Any], *,
           retain_graph: bool, create_graph: bool) -> tuple[Tensor, ...]:
    """``autograd.grad`` where outputs without history contribute nothing and a missing
    gradient is zeros (PyTorch's functorch ``_autograd_grad``)."""
    pairs = [(out, g) for out, g in zip(outputs, grad_outputs) if out.requires_grad]
    if not inputs:
        return ()
    if not pairs:
        return tuple(x.new_zeros(x.shape) for x in inputs)
    with grad_mode.enable_grad():
        grads = _autograd_grad([out for out, _ in pairs], list(inputs), [g for _, g in pairs],
                               retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)
    return tuple(x.new_zeros(x.shape) if g is None else g for g, x in zip(grads, inputs))


def _assert_non_empty_tensor_output(output: list[Any], api: str) -> None:
    if (len(output) == 1 and output[0] is None) or len(output) < 1:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got output = {output})")
    for out in output:
        if not isinstance(out, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(out)}")


def _split_aux(output: Any, api: str) -> tuple[Any, Any]:
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return output


# --------------------------------------------------------------------------- grad

def grad_and_value(func: Callable[..., Any], argnums: argnums_t = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning ``(gradient, value)`` of the scalar ``func`` with respect to the
    arguments at ``argnums`` (``(gradient, (value, aux))`` with ``has_aux``); the gradient has
    the structure of those arguments (a tuple of them for a tuple of argnums).

    >>> func.grad_and_value(lambda x: (x ** 2).sum())(tapegrad.tensor([1.0, 2.0]))
    (tensor([2., 4.]), tensor(5.))
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _grad_and_value(func, argnums, has_aux, args, kwargs)

    return wrapper


def grad(func: Callable[..., Any], argnums: argnums_t = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning the gradient of the scalar ``func`` with respect to the arguments
    at ``argnums`` (``(gradient, aux)`` with ``has_aux``). Nests: ``grad(grad(f))`` is the
    second derivative.

    >>> func.grad(func.grad(lambda x: x ** 3))(tapegrad.tensor(2.0))
    tensor(12.)
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gradient, (_, aux) = _grad_and_value(func, argnums, has_aux, args, kwargs, with_aux=True)
        return (gradient, aux) if has_aux else gradient

    return wrapper


def _grad_and_value(func: Callable[..., Any], argnums: argnums_t, has_aux: bool, args: tuple[Any, ...],
                    kwargs: dict[str, Any], with_aux: bool = False) -> Any:
    aux: Any = None
    with _Level() as level, grad_mode.enable_grad():
        args, diff_args = level.prepare_args(args, argnums, as_tuple=False)
        output = func(*args, **kwargs)
        if has_aux:
            output, aux = _split_aux(output, "grad_and_value(f)(*args)")
        if not isinstance(output, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(output)}")
        if output.dim() != 0:
            raise RuntimeError("grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor "
                               f"with {output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
        flat_diff, spec = _tree_flatten(diff_args)
        create = level.needs_graph((output,))
        grads = _grads((output,), flat_diff, (None,), retain_graph=create, create_graph=create)
        gradient = _tree_unflatten([level.unwrap(g) for g in grads], spec)
        output = level.unwrap(output)
        if has_aux:
            aux = level.unwrap_aux(aux)
    if with_aux or has_aux:
        return gradient, (output, aux)
    return gradient, output


# --------------------------------------------------------------------------- vjp and jvp

def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(func(*primals), vjp_fn)`` (``(output, vjp_fn, aux)`` with ``has_aux``), where
    ``vjp_fn(cotangents)`` gives the tuple of vector-Jacobian products with respect to each
    primal; ``cotangents`` has the output's structure. ``vjp_fn`` may be called many times.

    >>> out, vjp_fn = func.vjp(lambda x: x ** 2, tapegrad.tensor([1.0, 2.0]))
    >>> vjp_fn(tapegrad.ones(2))
    (tensor([2., 4.]),)
    """
    aux: Any = None
    with _Level() as level, grad_mode.enable_grad():
        diff_primals = _tree_map(level.differentiable, primals)
        output = func(*diff_primals)
        if has_aux:
            output, aux = _split_aux(output, "vjp(f, *primals)")
            aux = level.unwrap_aux(aux)
        flat_out, out_spec = _tree_flatten(output)
        _assert_non_empty_tensor_output(flat_out, "vjp(f, *primals)")
        for out in flat_out:
            if not out.is_floating_point():
                raise RuntimeError("vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                                   f"Tensor with dtype {out.dtype}")
        results = _tree_unflatten([level.unwrap(out) for out in flat_out], out_spec)
        outputs_escape = level.needs_graph(flat_out)
    flat_diff, primals_spec = _tree_flatten(diff_primals)

    def vjp_fn(cotangents: Any, retain_graph: bool = True, create_graph: bool | None = None) -> Any:
        if create_graph is None:
            create_graph = grad_mode.is_grad_enabled()
        flat_cotangents, cotangents_spec = _tree_flatten(cotangents)
        if cotangents_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of outputs "
                               f"to the function. cotangents: {_pprint(cotangents_spec)}, primal output: "
                               f"{_pprint(out_spec)}")
        # Differentiable results only where they can depend on something outside: the
        # function's outer inputs, or cotangents that require grad (an enclosing transform's).
        create = create_graph and (outputs_escape or any(isinstance(c, Tensor) and c.requires_grad
                                                         for c in flat_cotangents))
        grads = _grads(flat_out, flat_diff, flat_cotangents, retain_graph=retain_graph, create_graph=create)
        return _tree_unflatten([level.unwrap(g) if create else g for g in grads], primals_spec)

    return (results, vjp_fn, aux) if has_aux else (results, vjp_fn)


_JVP = "jvp(f, primals, tangents)"


def _assert_non_empty_list_of_tensors(values: list[Any], api: str, argname: str) -> None:
    if len(values) == 0:
        raise RuntimeError(f"{api}: Expected {argname} to contain at least one Tensor.")
    for value in values:
        if not isinstance(value, Tensor):
            raise RuntimeError(f"{api}: Expected {argname} to only contain Tensors, got {type(value)}")


def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False) -> tuple[Any, ...]:
    """``(func(*primals), J @ tangents)`` (``(output, jvp_out, aux)`` with ``has_aux``):
    the Jacobian-vector product, computed by two reverse sweeps; ``tangents`` has the structure
    of ``primals`` (a tuple).

    >>> func.jvp(lambda x: x ** 2, (tapegrad.tensor([1.0, 2.0]),), (tapegrad.ones(2),))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    flat_primals, primals_spec = _tree_flatten(primals)
    flat_tangents, tangents_spec = _tree_flatten(tangents)
    if primals_spec != tangents_spec:
        raise RuntimeError(f"{_JVP}: Expected primals and tangents to have the same python structure. For example, if "
                           f"primals is a tuple of 3 tensors, tangents also must be. Got primals with structure "
                           f"{primals_spec} and tangents with structure {tangents_spec}")
    _assert_non_empty_list_of_tensors(flat_primals, _JVP, "primals")
    _assert_non_empty_list_of_tensors(flat_tangents, _JVP, "tangents")
    for primal, tangent in zip(flat_primals, flat_tangents):
        if tuple(primal.shape) != tuple(tangent.shape):
            raise RuntimeError("Trying to set a forward gradient that has a different size than that of the original "
                               f"Tensor, this is not supported. Tensor is of size {list(primal.shape)} while the given "
                               f"forward gradient is of size {list(tangent.shape)}.")
    aux: Any = None
    with _Level() as level, grad_mode.enable_grad():
        diff = [level.differentiable(p) for p in flat_primals]
        output = func(*_tree_unflatten(diff, primals_spec))
        if has_aux:
            output, aux = _split_aux(output, _JVP)
            aux = level.unwrap_aux(aux)
        flat_out, out_spec = _tree_flatten(output)
        _assert_non_empty_tensor_output(flat_out, _JVP)
        tangents_out = _forward_products(level, flat_out, diff, flat_tangents, strict)
        primals_out = [level.unwrap(out) for out in flat_out]
    results = (_tree_unflatten(primals_out, out_spec), _tree_unflatten(tangents_out, out_spec))
    return results + (aux,) if has_aux else results


def _forward_products(level: _Level, outputs: list[Tensor], inputs: list[Tensor], tangents: list[Tensor],
                      strict: bool) -> list[Tensor]:
    """``J v`` for each output by the double-backward trick: ``u -> J^T u`` is linear in the
    cotangent ``u``, so its vector-Jacobian product with ``v`` (by ``u``) is ``J v``; ``u``'s
    value does not matter (zeros)."""
    results = [out.new_zeros(out.shape) for out in outputs]  # outputs with no history: no change
    live = [i for i, out in enumerate(outputs) if out.requires_grad]
    if strict and len(live) < len(outputs):
        raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is independent of the inputs. "
                           "This is not allowed with strict=True.")
    if not live:
        return results
    create = level.track and (level.reaches_outside(outputs) or any(t.requires_grad for t in tangents))
    cotangents = [level.own(outputs[i].new_zeros(outputs[i].shape).requires_grad_(True)) for i in live]
    with grad_mode.enable_grad():
        back = _autograd_grad([outputs[i] for i in live], inputs, cotangents, retain_graph=True, create_graph=True,
                              allow_unused=True)
        pairs = [(b, t) for b, t in zip(back, tangents) if b is not None and b.requires_grad]
        forward: tuple[Tensor | None, ...] = (None,) * len(live)
        if pairs:
            forward = _autograd_grad([b for b, _ in pairs], cotangents, [t for _, t in pairs], retain_graph=create,
                                     create_graph=create, allow_unused=True)
    for i, product in zip(live, forward):
        if product is None:
            if strict:
                raise RuntimeError("jvp(f, primals, tangents, strict=True): The output of f is independent of the "
                                   "inputs. This is not allowed with strict=True.")
            continue
        results[i] = level.unwrap(product) if create else product
    return results


# --------------------------------------------------------------------------- Jacobians

def jacrev(func: Callable[..., Any], argnums: argnums_t = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False) -> Callable[..., Any]:
    """A function returning the Jacobian of ``func`` with respect to the arguments at
    ``argnums``, by reverse mode: for each output, a tensor of shape
    ``output.shape + input.shape`` (a tuple of them for a tuple of argnums; the input's
    structure for a pytree input), in the output's structure. ``(jacobian, aux)`` with
    ``has_aux``. ``chunk_size`` is validated, and otherwise changes nothing here.

    >>> func.jacrev(lambda x: x ** 2)(tapegrad.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        return _jacobian(func, argnums, has_aux, args, "vjp(f, *primals)", float_outputs_only=True)

    return wrapper


def jacfwd(func: Callable[..., Any], argnums: argnums_t = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable[..., Any]:
    """``jacrev``'s Jacobian under ``jacfwd``'s interface (computed by reverse mode, with the
    same values and structure as PyTorch's forward-mode result). With the default
    ``randomness="error"``, a random operation in ``func`` raises, as PyTorch's vmap does.

    >>> func.jacfwd(lambda x: x.sin())(tapegrad.zeros(2))
    tensor([[1., 0.],
            [0., 1.]])
    """

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        _check_randomness_arg(randomness)
        states = _rng_states()
        result = _jacobian(func, argnums, has_aux, args, _JVP, float_outputs_only=False)
        if randomness == "error" and not _rng_unchanged(states):
            _restore_rng(states)
            raise RuntimeError(_RANDOM_ERROR)
        return result

    return wrapper


def hessian(func: Callable[..., Any], argnums: argnums_t = 0) -> Callable[..., Any]:
    """The Hessian of ``func`` with respect to the arguments at ``argnums``:
    ``jacfwd(jacrev(func, argnums), argnums)``, as in PyTorch.

    >>> func.hessian(lambda x: (x ** 3).sum())(tapegrad.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return jacfwd(jacrev(func, argnums), argnums)


def _jacobian(func: Callable[..., Any], argnums: argnums_t, has_aux: bool, args: tuple[Any, ...], api: str,
              float_outputs_only: bool) -> Any:
    aux: Any = None
    with _Level() as level, grad_mode.enable_grad():
        args, diff = level.prepare_args(args, argnums, as_tuple=True)
        output = func(*args)
        if has_aux:
            output, aux = _split_aux(output, api)
            aux = level.unwrap_aux(aux)
        flat_out, out_spec = _tree_flatten(output)
        _assert_non_empty_tensor_output(flat_out, api)
        if float_outputs_only:
            for out in flat_out:
                if not out.is_floating_point():
                    raise RuntimeError("vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                                       f"Tensor with dtype {out.dtype}")
        flat_diff, diff_spec = _tree_flatten(diff)
        create = level.needs_graph(flat_out)
        per_output = []
        for out in flat_out:
            blocks = _jacobian_blocks(out, flat_diff, create)
            per_output.append(_tree_unflatten([level.unwrap(block) for block in blocks], diff_spec))
    if isinstance(argnums, int):
        per_output = [jac[0] for jac in per_output]
    result = _tree_unflatten(per_output, out_spec)
    return (result, aux) if has_aux else result


def _jacobian_blocks(out: Tensor, inputs: list[Tensor], create: bool) -> list[Tensor]:
    """d out / d input for each input, of shape ``out.shape + input.shape``: one reverse sweep
    per element of ``out``, seeded with that element's one-hot cotangent."""
    from .ops.movement import stack

    shape = tuple(out.shape)
    count = out.numel()
    if not out.requires_grad or count == 0:
        # As PyTorch's: zero gradients of the input's dtype, zero tangents (jacfwd of an integer
        # output) of the output's.
        like = [x if out.is_floating_point() else out for x in inputs]
        return [y.new_zeros(shape + tuple(x.shape)) for x, y in zip(inputs, like)]
    rows: list[list[Tensor]] = [[] for _ in inputs]
    for k in range(count):
        seed = out.new_zeros(count)
        seed[k] = 1
        for column, g in zip(rows, _grads((out,), inputs, (seed.reshape(shape),), retain_graph=True,
                                          create_graph=create)):
            column.append(g)
    return [stack(column).reshape(shape + tuple(x.shape)) for column, x in zip(rows, inputs)]


# --------------------------------------------------------------------------- vmap

def _get_name(func: Callable[..., Any]) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_get_name(func.func)}, ...)"
    return repr(func)


def _check_randomness_arg(randomness: str) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")


def vmap(func: Callable[..., Any], in_dims: int | tuple[Any, ...] = 0, out_dims: Any = 0, randomness: str = "error",
         *, chunk_size: int | None = None) -> Callable[..., Any]:
    """``func`` mapped over a dimension of its inputs: the returned function takes inputs with
    an extra dimension (where ``in_dims`` says; None for an unmapped input, a nested tuple for
    pytree inputs), and returns outputs with an extra dimension (where ``out_dims`` says).
    Keyword arguments are passed unmapped.

    Runs ``func`` once per batch element and stacks the results (see the module docstring):
    correct and composable (``vmap(grad(f))`` gives per-sample gradients), not batched-fast.

    >>> func.vmap(lambda x: x.sum())(tapegrad.ones(3, 2))
    tensor([2., 2., 2.])
    """
    _check_randomness_arg(randomness)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return _vmap(func, in_dims, out_dims, randomness, args, kwargs)

    return wrapped


def _check_out_dims(out_dims: Any, func: Callable[..., Any]) -> None:
    if isinstance(out_dims, int):
        return
    for out_dim in _tree_flatten(out_dims)[0]:
        if out_dim is not None and not isinstance(out_dim, int):
            raise ValueError(f"vmap({_get_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a "
                             "python collection of ints representing where in the outputs the vmapped dimension "
                             "should appear.")


def _process_batched_inputs(in_dims: Any, args: tuple[Any, ...], func: Callable[..., Any],
                            ) -> tuple[int, list[int | None], list[Any], _TreeSpec]:
    """``(batch size, in_dim per flat argument (non-negative), flat arguments, their
    structure)``, refusing what PyTorch refuses with its messages."""
    name = _get_name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a "
                         f"(potentially nested) tuple matching the structure of inputs, got: {type(in_dims)}.")
    if len(args) == 0:
        raise ValueError(f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying "
                         "to vmap over a function with no inputs. The latter is unsupported.")
    flat_args, args_spec = _tree_flatten(args)
    flat_in_dims = _broadcast_to_and_flatten(in_dims, args_spec)
    if flat_in_dims is None:
        raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                         f"structure of `inputs`. in_dims has structure {_tree_flatten(in_dims)[1]} but inputs has "
                         f"structure {args_spec}.")
    for i, (arg, in_dim) in enumerate(zip(flat_args, flat_in_dims)):
        if in_dim is not None and not isinstance(in_dim, int):
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={in_dim} for an input but "
                             "in_dim must be either an integer dimension or None.")
        if in_dim is None:
            continue
        if not isinstance(arg, Tensor):
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={in_dim} for an input but "
                             f"the input is of type {type(arg)}. We cannot vmap over non-Tensor arguments, please use "
                             "None as the respective in_dim")
        ndim = arg.dim()
        if not -ndim <= in_dim < ndim:
            raise ValueError(f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={in_dim} for some input, "
                             f"but that input is a Tensor of dimensionality {ndim} so expected in_dim to satisfy "
                             f"-{ndim} <= in_dim < {ndim}.")
        flat_in_dims[i] = in_dim % ndim
    batch_sizes = [arg.shape[in_dim] for arg, in_dim in zip(flat_args, flat_in_dims) if in_dim is not None]
    if not batch_sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(size != batch_sizes[0] for size in batch_sizes):
        raise ValueError("vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{batch_sizes} for the mapped dimension")
    return batch_sizes[0], flat_in_dims, flat_args, args_spec


def _samples(flat_args: list[Any], flat_in_dims: list[int | None], batch_size: int) -> Iterator[list[Any]]:
    """The flat arguments of each batch element; for an empty batch, one stand-in element of
    zeros, run only to learn the outputs' structure and shapes."""
    if batch_size == 0:
        yield [arg if d is None else arg.new_zeros(tuple(arg.shape[:d]) + tuple(arg.shape[d + 1:]))
               for arg, d in zip(flat_args, flat_in_dims)]
        return
    for index in range(batch_size):
        yield [arg if d is None else arg.select(d, index) for arg, d in zip(flat_args, flat_in_dims)]


def _vmap(func: Callable[..., Any], in_dims: Any, out_dims: Any, randomness: str, args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> Any:
    _check_out_dims(out_dims, func)
    batch_size, flat_in_dims, flat_args, args_spec = _process_batched_inputs(in_dims, args, func)
    name = _get_name(func)
    start = _rng_states()
    per_element: list[list[Any]] = []
    first_output: Any = None
    out_spec: _TreeSpec | None = None
    for sample in _samples(flat_args, flat_in_dims, batch_size):
        if randomness == "same":
            _restore_rng(start)  # every element draws the same numbers
        output = func(*_tree_unflatten(sample, args_spec), **kwargs)
        if randomness == "error" and not _rng_unchanged(start):
            _restore_rng(start)
            raise RuntimeError(_RANDOM_ERROR)
        flat_out, spec = _tree_flatten(output)
        if out_spec is None:
            first_output, out_spec = output, spec
        elif spec != out_spec:
            raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different structures for different "
                             f"batch elements: {out_spec} and {spec}.")
        per_element.append(flat_out)
    assert out_spec is not None  # at least one element ran (a stand-in for an empty batch)
    flat_out_dims = _flat_out_dims(out_dims, first_output, out_spec, func)
    combine = _combine_empty if batch_size == 0 else _combine
    results = [combine(name, [flat[j] for flat in per_element], out_dim) for j, out_dim in enumerate(flat_out_dims)]
    return _tree_unflatten(results, out_spec)


def _flat_out_dims(out_dims: Any, output: Any, out_spec: _TreeSpec, func: Callable[..., Any]) -> list[Any]:
    def incompatible() -> ValueError:
        return ValueError(f"vmap({_get_name(func)}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible "
                          f"with the structure of `outputs`. out_dims has structure {_tree_flatten(out_dims)[1]} but "
                          f"outputs has structure {out_spec}.")

    if isinstance(output, Tensor):
        # As PyTorch: a single tensor takes an int, None or a 1-tuple.
        if isinstance(out_dims, int) or out_dims is None:
            return [out_dims]
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            return list(out_dims)
        raise incompatible()
    flat = _broadcast_to_and_flatten(out_dims, out_spec)
    if flat is None:
        raise incompatible()
    return flat


def _same_everywhere(values: list[Any]) -> bool:
    """Whether every element gave the same tensor (the same object, or equal values)."""
    from .ops.elementwise import eq_all

    first = values[0]
    return all(v is first or (isinstance(v, Tensor) and v.shape == first.shape and eq_all(v, first))
               for v in values[1:])


def _combine(name: str, values: list[Any], out_dim: int | None) -> Any:
    """One output of every element as vmap returns it: stacked at ``out_dim``."""
    from .ops.movement import stack

    if out_dim is None:
        if isinstance(values[0], Tensor) and not _same_everywhere(values):
            raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None")
        return values[0]
    for value in values:
        if not isinstance(value, Tensor):
            raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(value)}. Did you "
                             "mean to set out_dims= to None for output?")
    return stack(values, dim=out_dim)


def _combine_empty(name: str, values: list[Any], out_dim: int | None) -> Any:
    """An output for an empty batch, from the stand-in element's: size 0 at ``out_dim``."""
    if out_dim is None or not isinstance(values[0], Tensor):
        return _combine(name, values, out_dim)
    return _combine(name, values, out_dim).detach().narrow(out_dim, 0, 0).clone()


# --------------------------------------------------------------------------- modules

def functional_call(module: Any, parameter_and_buffer_dicts: dict[str, Tensor] | Sequence[dict[str, Tensor]],
                    args: Any = None, kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with its parameters and buffers named in the dict (or in
    any of a sequence of dicts with distinct keys) replaced for the call; see
    ``nn.utils.stateless.functional_call`` for ``tie_weights`` and ``strict``. Gradients flow to
    the given tensors, so ``grad`` of a loss by a dict of parameters works.

    >>> m = tapegrad.nn.Linear(2, 1)
    >>> func.functional_call(m, {"weight": tapegrad.ones(1, 2), "bias": tapegrad.zeros(1)}, tapegrad.ones(1, 2))
    tensor([[2.]])
    """
    from .nn.utils.stateless import _functional_call

    if isinstance(parameter_and_buffer_dicts, dict):
        parameters_and_buffers = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts: dict[str, int] = {}
        for d in parameter_and_buffer_dicts:
            for key in d:
                counts[key] = counts.get(key, 0) + 1
        repeated_keys = [key for key, n in counts.items() if n > 1]
        if repeated_keys:
            raise ValueError(f"{repeated_keys} appeared in multiple dictionaries; behavior of functional call is "
                             "ambiguous")
        parameters_and_buffers = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts)}")
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)


def stack_module_state(models: Sequence[Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """``(params, buffers)``: each name's tensors of the same-class ``models`` stacked along a
    new first dimension, for ``vmap`` over an ensemble with ``functional_call``. Stacked
    parameters are new leaves (requiring grad when the originals do)."""
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(model.named_parameters()) for model in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    all_buffers = [dict(model.named_buffers()) for model in models]
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers


def _stacked_leaf(tensors: list[Tensor], name: str) -> Tensor:
    from .ops.movement import stack

    all_requires_grad = all(t.requires_grad for t in tensors)
    if not all_requires_grad and any(t.requires_grad for t in tensors):
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    result = stack(tensors)
    return result.detach().requires_grad_() if all_requires_grad else result
