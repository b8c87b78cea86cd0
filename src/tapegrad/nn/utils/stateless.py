"""``nn.utils.stateless.functional_call``: call a module with some of its parameters and buffers
replaced by given tensors, for that call only (the module's own are put back afterwards)."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ...tensor import Tensor
from ..module import Module
from ._named_member_accessor import NamedMemberAccessor
from ...user_warnings import warn_user

__all__ = ["functional_call"]


def _untie_named_tensors_map(module: Module, parameters_and_buffers: dict[str, Tensor]) -> dict[str, Tensor]:
    """A copy of ``parameters_and_buffers`` where a value given for one name of a tied tensor
    (one object under several names) is given for all its names. Two different values for one
    tied tensor raise ``ValueError``."""
    all_named_tensors: dict[str, Tensor] = {}
    all_named_tensors.update(module.named_parameters(remove_duplicate=False))
    all_named_tensors.update(module.named_buffers(remove_duplicate=False))

    names_by_tensor: dict[int, set[str]] = {}
    for name, tensor in all_named_tensors.items():
        names_by_tensor.setdefault(id(tensor), set()).add(name)
    tied_names_map: dict[str, set[str]] = {}
    for tied_names in names_by_tensor.values():
        if len(tied_names) > 1:
            for tied_name in tied_names:
                tied_names_map[tied_name] = tied_names

    given_names = set(parameters_and_buffers)
    given_names_for_tied_tensors = {name for name in given_names if name in tied_names_map}
    for given_name in given_names_for_tied_tensors:
        tied_names = tied_names_map[given_name]
        if len(tied_names & given_names_for_tied_tensors) > 1 and \
                len({id(parameters_and_buffers[name]) for name in tied_names if name in given_names}) != 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(tied_names)}, "
                             f"which are tied. Consider using tie_weights=False")

    untied = parameters_and_buffers.copy()
    for given_name in given_names_for_tied_tensors:
        for tied_name in tied_names_map[given_name]:
            untied[tied_name] = parameters_and_buffers[given_name]
    return untied


@contextlib.contextmanager
def _reparametrize_module(module: Module, parameters_and_buffers: dict[str, Tensor], tie_weights: bool = False,
                          strict: bool = False, stack_weights: bool = False) -> Iterator[None]:
    untied = _untie_named_tensors_map(module, parameters_and_buffers) if tie_weights else parameters_and_buffers
    accessor = NamedMemberAccessor(module)
    if strict:
        missing_keys, unexpected_keys = accessor.check_keys(untied)
        error_msgs = []
        if unexpected_keys:
            error_msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected_keys))}.")
        if missing_keys:
            error_msgs.append(f"Missing key(s): {', '.join(map(repr, missing_keys))}.")
        if error_msgs:
            raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(module._get_name(),
                                                                                  "\n\t".join(error_msgs)))
    orig_parameters_and_buffers: dict[str, Any] = {}
    try:
        orig_parameters_and_buffers, _ = accessor.swap_tensors_dict(untied, allow_missing=True)
        yield
    finally:
        if stack_weights:
            # Tied names were swapped in order; restoring in reverse leaves the first original last.
            orig_parameters_and_buffers = dict(reversed(orig_parameters_and_buffers.items()))
        new_parameters_and_buffers, _ = accessor.swap_tensors_dict(orig_parameters_and_buffers, allow_missing=True)
        # An in-place update the module made to a given tensor shows in the caller's dict.
        parameters_and_buffers.update({key: new_parameters_and_buffers[key] for key in parameters_and_buffers
                                       if key in new_parameters_and_buffers})


def functional_call(module: Module, parameters_and_buffers: dict[str, Tensor], args: Any = None,
                    kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True, strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the parameters and buffers named (dotted, as in
    ``state_dict``) in ``parameters_and_buffers`` replaced by the given tensors for the call.

    ``args`` that is not a tuple is the single argument. With ``tie_weights`` a tensor the
    module holds under several names is replaced under all of them when one is given (different
    values for its names raise ``ValueError``). With ``strict`` the names must be exactly the
    module's (``RuntimeError`` naming the missing and unexpected ones). Gradients flow to the
    given tensors. A name of a parametrized tensor replaces its parametrized value (assigning
    runs ``right_inverse``); give ``...parametrizations.<name>.original`` to parametrize the value.
    Deprecated in PyTorch 2.0 in favour of ``torch.func.functional_call``, which it equals.

    >>> m = nn.Linear(2, 1)
    >>> functional_call(m, {"weight": tapegrad.ones(1, 2), "bias": tapegrad.zeros(1)}, tapegrad.ones(1, 2))
    tensor([[2.]])
    """
    warn_user("`nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed in a "
              "future version of PyTorch. Please use `torch.func.functional_call` instead which is a drop-in "
              "replacement.", FutureWarning)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)


def _functional_call(module: Module, parameters_and_buffers: dict[str, Tensor], args: Any = None,
                     kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True, strict: bool = False) -> Any:
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights, strict=strict):
        return module(*args, **kwargs)
