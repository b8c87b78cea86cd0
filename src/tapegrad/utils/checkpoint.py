"""Activation checkpointing: ``checkpoint(function, *args)`` keeps only its inputs for backward
and runs ``function`` again, recording, when the gradient arrives (PyTorch's
``torch.utils.checkpoint``).

The forward pass runs without recording, so none of ``function``'s intermediate values stay
alive; one step stands for the whole call. Its gradient function recomputes ``function`` on
detached copies of the inputs, with the random state of the forward pass put back (dropout
draws the same masks), and back-propagates through the recomputation: parameters used inside
get their gradients accumulated there, inputs get theirs from the step, as with PyTorch's
reentrant variant.

Both variants compute that way. ``use_reentrant=False`` in PyTorch also differentiates
parameters used inside when no input requires grad; here such a call runs ``function``
normally (recorded, its memory not saved), so the gradients are right either way. Several
outputs are joined in one flat tensor recorded as the step's result and handed back as views
of it, so one recomputation serves all of them. ``context_fn`` gives the context managers the
forward pass and the recomputation run in; ``determinism_check`` is validated, and the
recomputed values are not compared with the first ones; ``early_stop`` and ``debug`` change
nothing here.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from .. import random as _random
from ..autograd import grad_mode
from ..autograd.backward import backward as _backward
from ..autograd.function import Function, FunctionCtx
from ..tensor import Tensor
from ..user_warnings import warn_user

__all__: list[str] = ["checkpoint", "checkpoint_sequential"]


def _rng_states(args: tuple[Any, ...]) -> tuple[Any, Any]:
    """The CPU generator's state, and the CUDA one's when an argument lives on the GPU."""
    cuda_state = None
    if any(isinstance(a, Tensor) and a.device.type == "cuda" for a in args):
        from ..cuda import random as cuda_random

        cuda_state = cuda_random.get_rng_state()
    return _random.get_rng_state(), cuda_state


def _set_rng_states(states: tuple[Any, Any]) -> None:
    cpu_state, cuda_state = states
    _random.set_rng_state(cpu_state)
    if cuda_state is not None:
        from ..cuda import random as cuda_random

        cuda_random.set_rng_state(cuda_state)


def _joined(result: Any) -> tuple[Tensor, list[tuple[int, ...]]] | None:
    """``result`` as one tensor (a tuple's tensors flattened and joined), with their shapes;
    None when it is neither a tensor nor a tuple of floating tensors of one dtype and device."""
    from ..ops.movement import cat

    if isinstance(result, Tensor):
        return result, [tuple(result.shape)]
    if (isinstance(result, tuple) and result and all(isinstance(r, Tensor) and r.is_floating_point() for r in result)
            and len({r.dtype for r in result}) == 1 and len({r.device for r in result}) == 1):
        return cat([r.reshape(-1) for r in result]), [tuple(r.shape) for r in result]
    return None


def _split(joined: Tensor, shapes: list[tuple[int, ...]], as_tuple: bool) -> tuple[Tensor, ...]:
    """The outputs back from ``_joined``'s tensor, always as a tuple."""
    if not as_tuple:
        return (joined,)
    pieces, start = [], 0
    for shape in shapes:
        size = 1
        for s in shape:
            size *= s
        pieces.append(joined[start:start + size].reshape(shape))
        start += size
    return tuple(pieces)


class CheckpointFunction(Function):
    """One recorded step for a checkpointed call: its result is the call's outputs, joined."""

    @staticmethod
    def forward(ctx: FunctionCtx, run: Callable[..., Any], preserve_rng_state: bool, layout: list[Any],
                contexts: tuple[Any, Any], *args: Any) -> Tensor:
        ctx.run = run
        ctx.rng = _rng_states(args) if preserve_rng_state else None
        ctx.args = args
        ctx.recompute_context = contexts[1]
        ctx.save_for_backward(*(a for a in args if isinstance(a, Tensor)))
        with contexts[0]:
            result = run(*args)
        joined = _joined(result)
        if joined is None:
            raise NotImplementedError("tapegrad.utils.checkpoint supports functions that return a Tensor or a tuple "
                                      f"of floating-point Tensors of one dtype and device, got {_describe(result)}")
        ctx.layout = (joined[1], isinstance(result, tuple))
        layout.append(ctx.layout)
        return joined[0]

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Any, ...]:
        saved = iter(ctx.saved_tensors)  # version-checked: an input changed in place is an error
        inputs = tuple(next(saved).detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a
                       for a in ctx.args)
        shapes, as_tuple = ctx.layout
        current = _rng_states(ctx.args) if ctx.rng is not None else None
        try:
            if ctx.rng is not None:
                _set_rng_states(ctx.rng)
            with grad_mode.enable_grad(), ctx.recompute_context:
                outputs = _split(_joined(ctx.run(*inputs))[0], shapes, as_tuple)
        finally:
            if current is not None:
                _set_rng_states(current)
        pairs = [(o, g) for o, g in zip(outputs, _split(grad, shapes, as_tuple)) if o.requires_grad]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, None, None) + tuple(x.grad if isinstance(x, Tensor) else None for x in inputs)


def _describe(result: Any) -> str:
    if isinstance(result, tuple):
        return "(" + ", ".join(f"Tensor[{r.dtype}]" if isinstance(r, Tensor) else type(r).__name__
                               for r in result) + ")"
    return type(result).__name__


_EXPLICIT = ("tapegrad.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
             "use_reentrant=False is recommended, but if you need to preserve the current default behavior, you can "
             "pass use_reentrant=True. Refer to docs for more details on the differences between the two variants.")


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               context_fn: Callable[[], Any] | None = None, determinism_check: str = "default",
               debug: bool = False, early_stop: bool = True, preserve_rng_state: bool = True,
               **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, computed again in backward instead of keeping its
    intermediate values.

    >>> layer = tapegrad.nn.Linear(3, 3)
    >>> x = tapegrad.ones(2, 3, requires_grad=True)
    >>> y = tapegrad.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
    >>> y.grad_fn.name()
    'CheckpointFunctionBackward'
    """
    if use_reentrant is None:
        warn_user(_EXPLICIT, UserWarning)
        use_reentrant = True
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    if use_reentrant and (context_fn is not None or debug):
        raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
    if use_reentrant and kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    run = (lambda *a: function(*a, **kwargs)) if kwargs else function
    tensors = [a for a in args if isinstance(a, Tensor)]
    needs_graph = grad_mode.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if not needs_graph:
        if use_reentrant and grad_mode.is_grad_enabled():
            warn_user("None of the inputs have requires_grad=True. Gradients will be None", UserWarning)
            with grad_mode.no_grad():
                return run(*args)
        return run(*args)  # nothing to save: recorded as usual, or not at all under no_grad
    contexts = context_fn() if context_fn is not None else (contextlib.nullcontext(), contextlib.nullcontext())
    layout: list[Any] = []
    joined = CheckpointFunction.apply(run, preserve_rng_state, layout, contexts, *args)
    shapes, as_tuple = layout[0]
    return _split(joined, shapes, True) if as_tuple else joined


def checkpoint_sequential(functions: Any, segments: int, input: Tensor, use_reentrant: bool | None = None,
                          **kwargs: Any) -> Tensor:
    """Run ``functions`` (a ``Sequential`` or a list of modules) in ``segments`` checkpointed
    pieces; the last piece runs normally, as in PyTorch."""
    if use_reentrant is None:
        warn_user(_EXPLICIT, UserWarning)
        use_reentrant = True
    modules: list[Any] = list(functions.children()) if hasattr(functions, "children") else list(functions)
    segment_size = len(modules) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(_run_range(modules, start, end), input, use_reentrant=use_reentrant, **kwargs)
    return _run_range(modules, end + 1, len(modules) - 1)(input)


def _run_range(modules: list[Any], start: int, end: int) -> Callable[[Any], Any]:
    def forward(x: Any) -> Any:
        for module in modules[start:end + 1]:
            x = module(x)
        return x

    return forward
