"""``Module``: parameters, buffers and submodules registered by attribute assignment.

Also the state-dict round trip (``state_dict``/``load_state_dict``), dtype/device moves
(``to``, ``double``, ...), forward and backward hooks (the latter set up by backward_hooks.py)
and PyTorch's ``repr``.
"""
from __future__ import annotations

import functools
import itertools
from collections import OrderedDict
from typing import Any, Callable, Iterator, Mapping, NamedTuple

from .. import dtypes as _dtypes
from .. import memory_formats as _formats
from ..autograd.grad_mode import no_grad
from ..device import device as _device
from ..tensor import Tensor
from . import backward_hooks as _backward_hooks
from .parameter import Buffer, Parameter, is_lazy, zero_grads

_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_forward_hook`` and friends; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: dict[int, Callable[..., Any]], hook_id: int) -> None:
        self._hooks = hooks
        self.id = hook_id

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


def _add_indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _parse_to(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """``(device, dtype)`` from ``to``'s argument forms: device, dtype, (device, dtype), tensor."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() received an invalid combination of arguments: unexpected {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, _dtypes.dtype):
            dtype = arg
        elif isinstance(arg, (str, _device, int)):
            device = _device(arg) if not isinstance(arg, int) else _device("cuda", arg)
        elif arg is not None and not isinstance(arg, bool):
            raise TypeError(f"to() received an invalid argument of type {type(arg).__name__}")
    return device, dtype


class Module:
    """Base class of layers and models; subclasses define ``forward``.

    >>> class Affine(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = Parameter(tapegrad.ones(3))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale']
    """

    training: bool
    # Hooks are rare: empty class-level tables keep ``__call__`` cheap until one is registered.
    _forward_pre_hooks: dict[int, Callable[..., Any]] = {}
    _forward_pre_hooks_with_kwargs: set[int] = frozenset()  # type: ignore[assignment]
    _forward_hooks: dict[int, Callable[..., Any]] = {}
    _backward_pre_hooks: dict[int, Callable[..., Any]] = {}
    _backward_hooks: dict[int, Callable[..., Any]] = {}  # full or deprecated ones, never both
    _is_full_backward_hook: bool | None = None  # which kind ``_backward_hooks`` holds; None: not chosen yet
    _load_state_dict_pre_hooks: dict[int, Callable[..., Any]] = {}
    # Whether a hook that ``__call__`` runs may be registered: one attribute for its fast path to
    # test instead of four tables. Set on registering; cleared by the slow path once all are removed.
    _call_hooks: bool = False
    _CALL_TABLES = frozenset(("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks"))

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # A module pickled before ``_call_hooks`` existed: derive it, or its hooks would not run.
        if "_call_hooks" not in state and any(state.get(table) for table in self._CALL_TABLES):
            object.__setattr__(self, "_call_hooks", True)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self.__dict__.pop(name, None)
            self._buffers.pop(name, None)
            self._modules.pop(name, None)
            # Through register_parameter, as PyTorch does: a name a class attribute or property
            # already owns (a parametrized weight) is refused instead of shadowed.
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self.__dict__.pop(name, None)
            params.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif isinstance(value, Buffer):
            if params is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            self.__dict__.pop(name, None)
            params.pop(name, None)
            self._modules.pop(name, None)
            self.register_buffer(name, value, value.persistent)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            params[name] = None
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def _check_new_name(self, kind: str, name: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if hasattr(self, name) and name not in self._parameters and name not in self._buffers \
                and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        self._check_new_name("buffer", name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_new_name("module", name)
        self._modules[name] = module

    register_module = add_module

    # ---------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> "Module":
        module = self
        for item in target.split(".") if target else []:
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}`")
        return module._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._buffers:
            raise AttributeError(f"{type(module).__name__} has no buffer `{name}`")
        return module._buffers[name]

    # ---------------------------------------------------------------- state dicts
    def state_dict(self, *args: Any, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name; detached, sharing memory with the module."""
        if args:  # the deprecated positional form state_dict(destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars][len(args):])[:3]
        destination = OrderedDict() if destination is None else destination
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return destination

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()

    def _state_entries(self) -> Iterator[tuple[str, "Module", str, Tensor, bool]]:
        """``(key, owner, name, tensor, is_parameter)`` for every entry ``state_dict`` would hold."""
        for prefix, module in self.named_modules(remove_duplicate=False):
            prefix = f"{prefix}." if prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield prefix + name, module, name, param, True
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers_set:
                    yield prefix + name, module, name, buffer, False

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy ``state_dict`` into this module's parameters and buffers.

        Everything is checked before anything is written, so a mismatch (a missing or unexpected
        key under ``strict``, a shape mismatch always) raises ``RuntimeError`` naming the keys
        and shapes and leaves the module unchanged.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        # A copy, as PyTorch takes: load pre-hooks may rename keys, which must not reach the caller's dict.
        state_dict = OrderedDict(state_dict)
        errors: list[str] = []
        hook_missing: list[str] = []
        hook_unexpected: list[str] = []
        # Pre-hooks first: a lazy module materializes its parameters from the shapes loaded here.
        for prefix, module in self.named_modules(remove_duplicate=False):
            for hook in list(module._load_state_dict_pre_hooks.values()):
                hook(state_dict, f"{prefix}." if prefix else "", {}, strict, hook_missing, hook_unexpected, errors)
        entries = list(self._state_entries())
        own_keys = {key for key, *_ in entries}
        missing = hook_missing + [key for key, *_ in entries if key not in state_dict]
        unexpected = hook_unexpected + [key for key in state_dict if key not in own_keys]
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        for key, _, _, own, _ in entries:
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                errors.append(f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like '
                              f"object from checkpoint but received {type(value)}")
            elif is_lazy(own):
                continue  # still uninitialized: there is no shape to check against
            elif tuple(value.shape) != tuple(own.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} from checkpoint, "
                              f"the shape in current model is {own.shape}.")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for key, owner, name, own, is_parameter in entries:
                if key not in state_dict:
                    continue
                value = state_dict[key]
                if is_lazy(own) and is_lazy(value):
                    continue  # nothing to copy between two tensors that hold no values yet
                if not assign:
                    own.copy_(value)
                elif is_parameter:
                    owner._parameters[name] = Parameter(value.detach(), own.requires_grad)
                else:
                    owner._buffers[name] = value.detach()
        return _IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- dtype and device
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> "Module":
        """Replace every parameter's and buffer's values by ``fn`` of them, keeping the Parameter objects."""
        with no_grad():
            for module in self.modules():
                for param in module._parameters.values():
                    if param is None:
                        continue
                    new = fn(param)
                    if new is not param:
                        param.data = new
                    if param.grad is not None:
                        grad = fn(param.grad)
                        if grad is not param.grad:
                            param.grad.data = grad
                for name, buffer in module._buffers.items():
                    if buffer is not None:
                        module._buffers[name] = fn(buffer)
        return self

    def to(self, *args: Any, **kwargs: Any) -> "Module":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``; dtype moves only floating values."""
        kwargs = dict(kwargs)
        memory_format = _formats.check(kwargs.pop("memory_format", None), "to")
        device, dtype = _parse_to(args, kwargs)
        # A channels-last format applies to the tensors of its rank (4-d or 5-d), as in PyTorch.
        relaid_rank = len(_formats.ORDERS.get(memory_format, ())) or None
        if dtype is not None:
            dtype = _dtypes.as_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but got desired "
                                f"dtype={dtype}")

        def move(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                t = t.to(device, dtype) if device is not None else t.to(dtype)
            elif device is not None:
                t = t.to(device)
            return t.contiguous(memory_format=memory_format) if t.ndim == relaid_rank else t

        return self._apply(move)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device: Any = None) -> "Module":
        return self.to(_device("cuda") if device is None else _device("cuda", device) if isinstance(device, int)
                       else device)

    def float(self) -> "Module":
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self) -> "Module":
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def half(self) -> "Module":
        raise TypeError("tapegrad has no float16 dtype: Module.half() is not available")

    def type(self, dst_type: Any) -> "Module":
        return self._apply(lambda t: t.type(dst_type))

    def share_memory(self) -> "Module":
        return self  # CPU buffers are ordinary process memory; nothing to move

    # ---------------------------------------------------------------- modes and grads
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---------------------------------------------------------------- calling and hooks
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._call_hooks:
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """``__call__`` with hooks, in PyTorch's order: forward pre-hooks, the inputs' backward
        hook node, ``forward``, forward hooks, the outputs' backward hook node."""
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks):
            object.__setattr__(self, "_call_hooks", False)  # all removed since: back to the fast path
            return self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {result}.")
                    args, kwargs = result
                continue
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        # The hook lists as they are now: removing a handle later does not stop this call's hooks.
        full_hooks = list(self._backward_hooks.values()) if self._is_full_backward_hook else []
        legacy_hooks = list(self._backward_hooks.values()) if self._is_full_backward_hook is False else []
        backward_hook = None
        if full_hooks or self._backward_pre_hooks:
            backward_hook = _backward_hooks.BackwardHook(self, full_hooks, list(self._backward_pre_hooks.values()))
            args = backward_hook.setup_inputs(args)
        output = self.forward(*args, **kwargs)
        if backward_hook is not None:
            backward_hook.check_inputs()
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        if backward_hook is not None:
            output = backward_hook.setup_outputs(output)
        if legacy_hooks:
            _backward_hooks.attach_legacy_hooks(self, legacy_hooks, args, output)
        return output

    def _register_hook(self, table: str, hook: Callable[..., Any], prepend: bool) -> RemovableHandle:
        if table not in self.__dict__:
            object.__setattr__(self, table, {})
        hooks = self.__dict__[table]
        if table in self._CALL_TABLES:
            object.__setattr__(self, "_call_hooks", True)
        handle = RemovableHandle(hooks, next(_hook_ids))
        hooks[handle.id] = hook
        if prepend:
            for key in [k for k in hooks if k != handle.id]:
                hooks[key] = hooks.pop(key)
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a non-None result replaces the arguments.
        With ``with_kwargs``, ``hook(module, args, kwargs)`` may return ``(new_args, new_kwargs)``."""
        handle = self._register_hook("_forward_pre_hooks", hook, prepend)
        if with_kwargs:
            if "_forward_pre_hooks_with_kwargs" not in self.__dict__:
                object.__setattr__(self, "_forward_pre_hooks_with_kwargs", set())
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a non-None result replaces the output."""
        return self._register_hook("_forward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` runs when the gradients of this call's outputs have
        arrived, before the module's own are computed; a non-None result (a tuple as long as
        ``grad_output``) replaces ``grad_output``. ``grad_output`` holds one entry per output
        (the output itself when it is not a tuple): None for non-tensors and for outputs that
        got no gradient.

        As in PyTorch, ``forward`` then receives (and the caller gets back) new tensors over
        the same memory as the tensors passed in (returned), and ``forward`` may not change an
        input that requires grad in place.

        >>> layer = nn.Linear(2, 1)
        >>> _ = layer.register_full_backward_pre_hook(lambda module, grad_output: (grad_output[0] * 2,))
        >>> x = tapegrad.ones(1, 2, requires_grad=True)
        >>> layer(x).sum().backward()
        >>> bool((x.grad == 2 * layer.weight).all())
        True
        """
        return self._register_hook("_backward_pre_hooks", hook, prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs when the gradients of this call's
        tensor inputs have been computed; a non-None result (a tuple as long as
        ``grad_input``) replaces ``grad_input``: what reaches the tensors passed in.

        ``grad_input`` holds one entry per positional argument (keyword arguments are not
        seen): None for non-tensors, zeros for a tensor that needs no gradient or got none.
        When no input requires grad the hook runs with the outputs' gradients instead, all of
        ``grad_input`` None (with PyTorch's warning); when no output requires grad it does not
        run. Each call of the module runs it once per backward pass through that call; under
        ``no_grad`` nothing is set up. See ``register_full_backward_pre_hook`` for what
        ``forward`` receives.

        >>> layer = nn.Linear(2, 1)
        >>> seen = []
        >>> _ = layer.register_full_backward_hook(lambda m, grad_input, grad_output: seen.append(grad_input))
        >>> layer(tapegrad.ones(1, 2, requires_grad=True)).sum().backward()
        >>> bool((seen[0][0] == layer.weight).all())
        True
        """
        if self._is_full_backward_hook is False:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a single Module. "
                               "Please use only one of them.")
        object.__setattr__(self, "_is_full_backward_hook", True)
        return self._register_hook("_backward_hooks", hook, prepend)

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Deprecated in favour of ``register_full_backward_hook``. ``hook(module, grad_input,
        grad_output)`` runs on the last op ``forward`` recorded, the ``grad_fn`` of the first
        output tensor: ``grad_output`` is that op's output gradient and ``grad_input`` the
        gradients of that op's inputs, in its order (None for those that need no gradient); a
        non-None result replaces them. As in PyTorch, a call warns (``FutureWarning``) where this
        misses gradients of the module's inputs or outputs.

        That op is the one PyTorch's hook sees where tapegrad records the same last op, as for
        ``Linear`` on 2-D inputs (``addmm``: grad_input is the gradients of bias, input and the
        transposed weight) or an activation; elsewhere (``Linear`` on 1-D or 3-D inputs, say)
        the two libraries may record different last ops and the hooks see different tuples.
        """
        if self._is_full_backward_hook is True:
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a single Module. "
                               "Please use only one of them.")
        object.__setattr__(self, "_is_full_backward_hook", False)
        return self._register_hook("_backward_hooks", hook, False)

    def _register_load_state_dict_pre_hook(self, hook: Callable[..., Any],
                                           with_module: bool = False) -> RemovableHandle:
        """``hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)``
        (``hook(module, ...)`` ``with_module``) runs when ``load_state_dict`` reaches this module,
        before anything is checked or copied."""
        if with_module:
            hook = functools.partial(hook, self)
        return self._register_hook("_load_state_dict_pre_hooks", hook, False)

    # ---------------------------------------------------------------- printing
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_add_indent(repr(module), 2)}" for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"
