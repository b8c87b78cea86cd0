"""Module backward hooks, as ``Module.__call__`` sets them up for one call.

A full backward hook needs the gradients of a module's inputs and of its outputs as a whole,
while ``forward`` may record any graph of ops. As PyTorch does, the call passes the tensor
arguments through an identity ``Function`` (``BackwardHookFunction``) before ``forward`` and
the tensor outputs through another after it. In the sweep the outputs' node runs first: it
collects grad_output and runs the pre-hooks, whose result is what flows into ``forward``'s
graph. The inputs' node runs last: it runs the hooks with grad_input and grad_output, and
what they return is what flows on to the caller's tensors.

The deprecated ``register_backward_hook`` is a hook on the last op ``forward`` recorded (the
``grad_fn`` of its first output tensor), as in PyTorch: ``attach_legacy_hooks``.

Where this differs from PyTorch:

* ``autograd.grad`` (and ``backward(inputs=...)``) sweep every step the outputs reach, so a
  module's hooks run even when the gradients asked for do not need its inputs' (PyTorch skips
  that node and its hooks).
* A tuple's output tensors have distinct ``grad_fn`` objects (see autograd/function.py).
* Changing an input in place inside ``forward`` raises when ``forward`` returns, not at the
  change (the caller's tensor is changed by then); changing an output in place after the call
  is allowed (PyTorch raises), and the hooks see the gradient of the value ``forward`` returned.
* Under ``tapegrad.compile`` the hooks run while a step is traced; a replay runs no Python, so
  it repeats what they computed but not their side effects, as for tensor hooks.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..autograd import grad_mode
from ..autograd.function import Function, FunctionCtx
from ..autograd.tape import Step
from ..tensor import Tensor
from ..user_warnings import warn_user

if TYPE_CHECKING:
    from .module import Module

Hook = Callable[..., Any]

_NO_INPUT_WARNING = (
    "Full backward hook is firing when gradients are computed with respect to module outputs since no inputs "
    "require gradients. See https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
    "#torch.nn.Module.register_full_backward_hook for more details.")


class BackwardHookFunction(Function):
    """Identity on tensors whose backward hands the gradients to ``node`` (a ``BackwardHook``
    method), which may replace them. The name gives its steps PyTorch's grad_fn name,
    ``BackwardHookFunctionBackward``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *tensors: Tensor, node: Callable[[tuple], tuple], materialize: bool) -> tuple:
        # (``node`` and ``materialize`` are keywords: only positional arguments become inputs
        # of the step, so its next_functions are the tensors' alone, as in PyTorch.)
        ctx.node = node  # type: ignore[attr-defined]
        ctx.set_materialize_grads(materialize)
        # Those that need no gradient stay so (else the identity would make them require it).
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> tuple:
        return tuple(ctx.node(grads))  # type: ignore[attr-defined]


def _check_sizes(name: str, new: Sequence[Any], old: Sequence[Any]) -> None:
    """PyTorch's check of replacement gradients: each keeps its tensor's size. ``name``: the
    hook's as PyTorch's message gives it (for full hooks, that of PyTorch's own wrapper, "hook")."""
    for n, o in zip(new, old):
        if isinstance(n, Tensor) and isinstance(o, Tensor) and n.shape != o.shape:
            raise RuntimeError(f"hook '{name}' has changed the size of value")


def _pack(indices: list[int], values: Sequence[Any], size: int) -> tuple:
    packed: list[Any] = [None] * size
    for index, value in zip(indices, values):
        packed[index] = value
    return tuple(packed)


class BackwardHook:
    """The backward hooks of one module call: which arguments and outputs are tensors, and the
    grad_output collected by the outputs' node until the inputs' node uses it."""

    def __init__(self, module: "Module", hooks: list[Hook], pre_hooks: list[Hook]) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = 0
        self.input_index: list[int] | None = None  # positions of the tensor inputs; None: none wrapped
        self.n_outputs = 0
        self.output_index: list[int] | None = None
        # (position among the wrapped tensors, alias, its version, its grad_fn) of inputs that
        # need grad, until ``check_inputs`` has looked at them.
        self._watched: list[tuple[int, Tensor, int, Any]] = []
        self._n_wrapped_inputs = 0

    def _wrap(self, values: tuple, node: Callable[[tuple], tuple], materialize: bool
              ) -> tuple[tuple, list[int] | None]:
        """``values`` with their tensors through a ``BackwardHookFunction``; unchanged (and
        None for the positions) when no gradient is being recorded through them."""
        index = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        tensors = [values[i] for i in index]
        if not (grad_mode.state.enabled and any(t._requires_grad for t in tensors)):
            return values, None
        wrapped = BackwardHookFunction.apply(*tensors, node=node, materialize=materialize)
        items = list(values)
        for i, t in zip(index, wrapped):
            items[i] = t
        return (tuple(items) if type(values) is tuple else type(values)(*items)), index

    # ---------------------------------------------------------------- forward
    def setup_inputs(self, args: tuple) -> tuple:
        # Materialized: an input that got no gradient is handed to the hooks as zeros, as in PyTorch.
        wrapped, self.input_index = self._wrap(args, self._input_grads, True)
        self.n_inputs = len(args)
        if self.input_index is not None:
            self._n_wrapped_inputs = len(self.input_index)
            self._watched = [(n, wrapped[i], wrapped[i]._counter.value, wrapped[i].grad_fn)
                             for n, i in enumerate(self.input_index) if wrapped[i]._requires_grad]
        return wrapped

    def check_inputs(self) -> None:
        """PyTorch forbids ``forward`` to change in place an input that needs grad (a view its
        identity Function made): the hooks' gradients would be wrong. Checked when ``forward``
        returns, by the version counter, so a change made without grad counts too."""
        watched, self._watched = self._watched, []
        for position, alias, version, grad_fn in watched:
            if alias._counter.value != version:
                # A change recorded with grad gave the alias a new history; one without did not.
                what = "is being modified" if alias.grad_fn is not grad_fn else \
                    "its base or another view of its base has been modified"
                detail = ("This view was created inside a custom Function (or because an input was returned as-is) "
                          "and the autograd logic to handle view+inplace would override the custom backward "
                          "associated with the custom Function, leading to incorrect gradients. This behavior is "
                          "forbidden. You can fix this by cloning the output of the custom Function."
                          if self._n_wrapped_inputs == 1 else
                          "This view is the output of a function that returns multiple views. Such functions do not "
                          "allow the output views to be modified inplace. You should replace the inplace operation "
                          "by an out-of-place one.")
                raise RuntimeError(f"Output {position} of BackwardHookFunction is a view and {what} inplace. {detail}")

    def setup_outputs(self, result: Any) -> Any:
        if not isinstance(result, (Tensor, tuple)):
            warn_user("For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                      f"but received {type(result)}")
        if not isinstance(result, tuple):
            wrapped, self.output_index = self._wrap((result,), self._output_grads, False)
            self.n_outputs = 1
            return wrapped[0]
        # Not materialized: an output that got no gradient is None in grad_output, as in PyTorch.
        wrapped, self.output_index = self._wrap(result, self._output_grads, False)
        self.n_outputs = len(result)
        return wrapped

    # ---------------------------------------------------------------- backward
    def _output_grads(self, grads: tuple) -> tuple:
        """The outputs' node: collect grad_output, run the pre-hooks; with no input needing
        grad there is no inputs' node, so the hooks run here (and may not replace anything)."""
        assert self.output_index is not None
        arrived = self.grad_outputs = _pack(self.output_index, grads, self.n_outputs)
        for hook in self.pre_hooks:
            result = hook(self.module, self.grad_outputs)
            if result is None:
                continue
            if len(result) != len(self.grad_outputs):
                raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                   f"got {len(result)}, but expected {len(self.grad_outputs)}")
            self.grad_outputs = tuple(result)
        grad_outputs = self.grad_outputs
        _check_sizes("hook", grad_outputs, arrived)
        if self.input_index is None:
            warn_user(_NO_INPUT_WARNING)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_index)

    def _input_grads(self, grads: tuple) -> tuple:
        """The inputs' node: run the hooks with grad_input and the collected grad_output."""
        assert self.input_index is not None
        if self.grad_outputs is None:
            # The gradient reached the inputs without passing through the outputs (double
            # backward through a gradient, say): there is no grad_output to hand the hooks.
            return grads
        arrived = grad_inputs = _pack(self.input_index, grads, self.n_inputs)
        for hook in self.hooks:
            result = hook(self.module, grad_inputs, self.grad_outputs)
            if result is None:
                continue
            if len(result) != len(grad_inputs):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(result)}, but expected {len(grad_inputs)}")
            grad_inputs = tuple(result)
        _check_sizes("hook", grad_inputs, arrived)
        self.grad_outputs = None
        return tuple(grad_inputs[i] for i in self.input_index)


# ---------------------------------------------------------------- the deprecated hooks

class _HookedOp:
    """Stands in for the op of a step that deprecated module hooks watch: runs the op's VJP,
    then the hooks (``step.module_hooks``) on its input gradients. One per op, so the ops a
    sweep meets stay few."""

    __slots__ = ("op", "name", "grad_name")

    def __init__(self, op: Any) -> None:
        self.op = op
        self.name = op.name
        self.grad_name = op.grad_name  # the step keeps its name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.op, name)

    def vjp(self, step: Step, grad: Any) -> tuple[Any, ...]:
        grads = self.op.vjp(step, grad)
        # None for the inputs that need no gradient, as a PyTorch node's hook sees them.
        grad_inputs = tuple(g if edge is not None else None for g, edge in zip(grads, step.edges))
        for hook, module in step.module_hooks:
            result = hook(module, grad_inputs, (grad,))
            if result is None:
                continue
            if len(result) != len(grad_inputs):
                raise RuntimeError(f"hook '{getattr(hook, '__name__', repr(hook))}' has returned an incorrect number "
                                   f"of values (got {len(result)}, but expected {len(grad_inputs)})")
            _check_sizes(getattr(hook, "__name__", repr(hook)), result, grad_inputs)
            grad_inputs = tuple(result)
        return grad_inputs


_hooked_ops: dict[int, _HookedOp] = {}


def attach_legacy_hooks(module: "Module", hooks: list[Hook], args: tuple, result: Any) -> None:
    """Hook the step of ``result``'s first tensor, as PyTorch registers deprecated module
    hooks on that ``grad_fn``; warn, as PyTorch does, where that misses some gradients."""
    var = result
    while not isinstance(var, Tensor):
        var = next(v for v in var.values() if isinstance(v, Tensor)) if isinstance(var, dict) else var[0]
    step = var.grad_fn
    if step is None:
        return
    if type(step.op) is not _HookedOp:
        hooked = _hooked_ops.get(id(step.op))  # (an entry keeps its op alive: ids are not reused)
        if hooked is None:
            hooked = _hooked_ops[id(step.op)] = _HookedOp(step.op)
        step.op = hooked
        step.module_hooks = []
    step.module_hooks.extend((hook, module) for hook in hooks)
    _warn_legacy(args, result, step)


def _warn_legacy(inputs: Any, result: Any, grad_fn: Step) -> None:
    """PyTorch's warnings for deprecated hooks whose grad_input or grad_output will be partial."""
    def warn(message: str) -> None:
        warn_user(message, FutureWarning)

    if isinstance(result, Tensor):
        result = (result,)
    elif not (isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result)):
        warn("Using non-full backward hooks on a Module that does not return a single Tensor or a tuple of "
             "Tensors is deprecated and will be removed in future versions. This hook will be missing some of the "
             "grad_output. Please use register_full_backward_hook to get the documented behavior.")
        return
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    elif not (isinstance(inputs, tuple) and all(isinstance(i, Tensor) for i in inputs)):
        warn("Using non-full backward hooks on a Module that does not take as input a single Tensor or a tuple of "
             "Tensors is deprecated and will be removed in future versions. This hook will be missing some of the "
             "grad_input. Please use register_full_backward_hook to get the documented behavior.")
        return
    out_grad_fn = {r.grad_fn for r in result if r.grad_fn is not None}
    if not out_grad_fn or (len(out_grad_fn) == 1 and grad_fn not in out_grad_fn):
        warn("Using a non-full backward hook when outputs are nested in python data structure is deprecated and "
             "will be removed in future versions. This hook will be missing some grad_output.")
    elif len(out_grad_fn) > 1:
        warn("Using a non-full backward hook when outputs are generated by different autograd Nodes is deprecated "
             "and will be removed in future versions. This hook will be missing some grad_output. Please use "
             "register_full_backward_hook to get the documented behavior.")
    elif {i.grad_fn for i in inputs if i.grad_fn is not None} != {n for n, _ in grad_fn.next_functions}:
        warn("Using a non-full backward hook when the forward contains multiple autograd Nodes is deprecated and "
             "will be removed in future versions. This hook will be missing some grad_input. Please use "
             "register_full_backward_hook to get the documented behavior.")
