"""``tapegrad.nn.utils.prune``: PyTorch's pruning by reparametrization. Pruning the parameter
``<name>`` of a module moves it to the parameter ``<name>_orig``, registers a buffer
``<name>_mask`` of zeros and ones and registers the pruning method itself as a forward pre-hook
that sets the plain attribute ``<name> = <name>_orig * <name>_mask`` before every forward, so that
the gradient reaches ``<name>_orig`` masked. Pruning a parameter again combines the new mask with
the old one through a ``PruningContainer``; ``remove`` makes the pruning permanent.

Like PyTorch's, this module is not imported by ``tapegrad.nn.utils``: import it by name,
``import tapegrad.nn.utils.prune as prune``. The random methods draw from the generator with the
same calls in the same order as PyTorch's, so after the same ``manual_seed`` the masks are equal.
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Callable, Iterator, TypeVar

from ... import creation
from ...memory_formats import contiguous_format
from ...tensor import Tensor
from ..module import Module
from .convert_parameters import parameters_to_vector

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
           "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured",
           "l1_unstructured", "random_structured", "ln_structured", "global_unstructured", "custom_from_mask",
           "remove", "is_pruned"]

T_module = TypeVar("T_module", bound=Module)


class BasePruningMethod(ABC):
    """Abstract base class of the pruning methods: a subclass defines ``compute_mask`` (and a
    ``PRUNING_TYPE``, ``"unstructured"``, ``"structured"`` or ``"global"``, which tells a
    ``PruningContainer`` which part of an already pruned tensor a new mask is computed on).

    An instance is also the forward pre-hook that recomputes the pruned tensor."""

    # Only annotated, as in PyTorch: ``apply`` sets it, and a method that was never applied has none.
    _tensor_name: str

    def __call__(self, module: Module, inputs: Any) -> None:
        """The forward pre-hook: set ``module.<name>`` to ``<name>_orig * <name>_mask``."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask for ``t`` (the importance scores of the tensor to prune), combined with
        ``default_mask``, the mask of the earlier prunings (ones if there were none)."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_orig`` times ``<name>_mask`` (cast to the parameter's dtype): the pruned tensor."""
        # The method must know which tensor it acts on: ``apply`` tells it.
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None,
              **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)``: reparametrize it as
        ``<name>_orig * <name>_mask`` (or, if it is already pruned, combine the new mask with the
        old one in a ``PruningContainer``) and register the forward pre-hook. The mask is computed
        from ``importance_scores`` (of the parameter's shape), or from the parameter itself.
        Returns the method (or the container) now registered as the hook."""
        method = _composite_method(cls, module, name, *args, **kwargs)
        # No pruning hook is left for ``name`` now, but a reparametrization may be (then ``method``
        # is a container). The new mask is computed from the tensor as the earlier prunings left it.
        orig = getattr(module, name)
        if importance_scores is not None:
            if importance_scores.shape != orig.shape:
                raise AssertionError(f"importance_scores should have the same shape as parameter {name} of {module}, "
                                     f"got {importance_scores.shape} vs {orig.shape}")
        else:
            importance_scores = orig

        if not isinstance(method, PruningContainer):
            # First pruning: the parameter moves to ``<name>_orig``; ``<name>`` becomes a plain attribute below.
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = creation.ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone(memory_format=contiguous_format)

        # If the mask cannot be computed (a bad amount or dim), the first pruning is rolled back so
        # that the module is left as it was.
        try:
            mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception as e:
            if not isinstance(method, PruningContainer):
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise e
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None, importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask ``compute_mask`` gives for ``importance_scores`` (``t`` itself if
        None) on top of ``default_mask`` (ones if None)."""
        if importance_scores is not None:
            if importance_scores.shape != t.shape:
                raise AssertionError(f"importance_scores should have the same shape as tensor t, "
                                     f"got {importance_scores.shape} vs {t.shape}")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else creation.ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes a parameter again, holding the pruned
        values; ``<name>_orig`` and ``<name>_mask`` are deleted (the hook is the caller's to
        delete). The pruned entries stay zero."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        # From the current ``<name>_orig`` (trained since, maybe), not the attribute set at the last forward.
        weight = self.apply_mask(module)
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        # The ``_orig`` Parameter object itself comes back under ``name``, so that optimizers holding it still work.
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.data
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


def _composite_method(cls: type[BasePruningMethod], module: Module, name: str, *args: Any,
                      **kwargs: Any) -> BasePruningMethod:
    """``cls(*args, **kwargs)`` for ``module.<name>``, put in a ``PruningContainer`` after the
    pruning hook already registered for ``name`` if there is one (that hook is unregistered)."""
    old_method = None
    found = 0
    hooks_to_remove = []
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            old_method = hook
            hooks_to_remove.append(key)
            found += 1
    if found > 1:
        raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module {module}. "
                             "Use a PruningContainer.")
    for key in hooks_to_remove:
        del module._forward_pre_hooks[key]

    method = cls(*args, **kwargs)
    method._tensor_name = name
    if old_method is not None:
        if isinstance(old_method, PruningContainer):
            old_method.add_pruning_method(method)
            method = old_method
        else:
            container = PruningContainer(old_method)
            container.add_pruning_method(method)
            method = container
    return method


class PruningContainer(BasePruningMethod):
    """The sequence of pruning methods applied one after the other to one tensor (iterative
    pruning). Built from one method, or from several methods or none (then set ``_tensor_name``
    before adding any, as ``global_unstructured`` does). Its ``compute_mask`` applies the last
    method to the entries (unstructured) or slices (structured) that the earlier ones left."""

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            # The container acts on the tensor its first method acts on.
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            # As in PyTorch, nothing names the tensor here: adding a method fails with an
            # AttributeError unless ``_tensor_name`` has been set.
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod | None) -> None:
        """Append ``method``, which must act on the container's tensor."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        elif method is not None and self._tensor_name != method._tensor_name:
            raise ValueError("Can only add pruning methods acting on "
                             f"the parameter named '{self._tensor_name}' to PruningContainer {self}."
                             f" Found '{method._tensor_name}'")
        self._pruning_methods += (method,)  # type: ignore[operator]

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: Any) -> Any:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` with the last method's mask written over the part it applies to: the
        entries still one (``"unstructured"``), the slices along the method's ``dim`` not all
        zero (``"structured"``), or everything (``"global"``)."""
        method = self._pruning_methods[-1]
        mask = default_mask
        # ``to`` returns ``mask`` itself when the dtype matches: as in PyTorch, the result may share
        # ``default_mask``'s memory (``apply`` passes it a clone).
        new_mask = mask.to(dtype=t.dtype)
        slc: Any
        if method.PRUNING_TYPE == "unstructured":  # type: ignore[attr-defined]
            slc = mask == 1
        elif method.PRUNING_TYPE == "structured":  # type: ignore[attr-defined]
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute `dim` '
                                     "defined.")
            n_dims = t.dim()
            dim = method.dim
            if dim < 0:
                dim = n_dims + dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
            # The slices along ``dim`` that still hold an unpruned entry.
            keep_channel = mask.sum(dim=[d for d in range(n_dims) if d != dim]) != 0
            slc = [slice(None)] * n_dims
            slc[dim] = keep_channel
        elif method.PRUNING_TYPE == "global":  # type: ignore[attr-defined]
            slc = [slice(None)] * len(t.shape)
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")  # type: ignore[attr-defined]
        if isinstance(slc, list):
            slc = tuple(slc)
        partial_mask = method.compute_mask(t[slc], default_mask=mask[slc])
        new_mask[slc] = partial_mask.to(dtype=new_mask.dtype)
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: the reparametrization with a mask of ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        """Reparametrize ``module.<name>`` without pruning any of it."""
        return super().apply(module, name)


class _UnstructuredByScore(BasePruningMethod):
    """Prunes ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    entries: the ``amount`` of highest ``_scores`` (lowest, when ``_LARGEST`` is False)."""

    PRUNING_TYPE = "unstructured"
    _LARGEST = True

    def __init__(self, amount: int | float) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    @abstractmethod
    def _scores(self, t: Tensor) -> Tensor:
        """One score per entry of ``t``, ranked to choose the entries pruned."""

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        tensor_size = t.nelement()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        mask = default_mask.clone(memory_format=contiguous_format)
        # Nothing is scored when nothing is pruned, as in PyTorch: a random method then draws
        # nothing, so the generator's stream stays aligned with PyTorch's.
        if nparams_toprune != 0:
            topk = self._scores(t).view(-1).topk(k=nparams_toprune, largest=self._LARGEST)
            mask.view(-1)[topk.indices] = 0
        return mask


class RandomUnstructured(_UnstructuredByScore):
    """Prunes ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    entries, chosen at random."""

    def _scores(self, t: Tensor) -> Tensor:
        return creation.rand_like(t)  # PyTorch's draw: one uniform number per entry, the k largest pruned

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float) -> BasePruningMethod:  # type: ignore[override]
        """Prune ``amount`` random entries of ``module.<name>``."""
        return super().apply(module, name, amount=amount)


class L1Unstructured(_UnstructuredByScore):
    """Prunes ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    entries, those of smallest magnitude."""

    _LARGEST = False

    def _scores(self, t: Tensor) -> Tensor:
        return t.abs()

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float,  # type: ignore[override]
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        """Prune the ``amount`` entries of ``module.<name>`` of smallest magnitude (or of smallest
        ``importance_scores``' magnitude)."""
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _structured_count(t: Tensor, amount: int | float, dim: int) -> tuple[int, int]:
    """(slices along ``dim``, how many to prune), after the checks of a structured method."""
    _validate_structured_pruning(t)
    _validate_pruning_dim(t, dim)
    tensor_size = t.shape[dim]
    nparams_toprune = _compute_nparams_toprune(amount, tensor_size)
    _validate_pruning_amount(nparams_toprune, tensor_size)
    return tensor_size, nparams_toprune


def _keep_slices(t: Tensor, dim: int, kept: Tensor, default_mask: Tensor) -> Tensor:
    """A mask of ``t``'s shape keeping the slices along ``dim`` that ``kept`` selects (a bool mask
    or indices), on top of the earlier (maybe unstructured) ``default_mask``."""
    mask = creation.zeros_like(t)
    key: list[Any] = [slice(None)] * t.ndim
    key[dim] = kept
    mask[tuple(key)] = 1
    mask *= default_mask.to(dtype=mask.dtype)
    return mask


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` (an int: a count; a float in [0, 1]: a fraction) whole slices along
    ``dim``, chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` with ``amount`` random slices of ``t`` along ``dim`` zeroed.

        Raises ValueError for a tensor of fewer than 2 dimensions and IndexError for
        ``dim >= t.dim()``."""
        tensor_size, nparams_toprune = _structured_count(t, self.amount, self.dim)
        if nparams_toprune == 0:
            return default_mask
        # PyTorch's draw: one uniform number per slice; those at or below the k-th smallest are pruned.
        prob = creation.rand(tensor_size)
        threshold = prob.kthvalue(k=nparams_toprune).values
        return _keep_slices(t, self.dim, prob > threshold, default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float,  # type: ignore[override]
              dim: int = -1) -> BasePruningMethod:
        """Prune ``amount`` random slices of ``module.<name>`` along ``dim``."""
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes ``amount`` (an int: a count; a float in [0, 1]: a fraction) whole slices along
    ``dim``, those of smallest L``n`` norm (``n`` as ``p`` of ``tapegrad.norm``)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, n: Any, dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """``default_mask`` with the slices of ``t`` along ``dim`` of smallest norm zeroed.

        Raises ValueError for a tensor of fewer than 2 dimensions and IndexError for
        ``dim >= t.dim()``."""
        tensor_size, nparams_toprune = _structured_count(t, self.amount, self.dim)
        # Computed (and the kept slices chosen) before the zero check, as in PyTorch, so that a bad ``n`` raises.
        norm = _compute_norm(t, self.n, self.dim)
        topk = norm.topk(k=tensor_size - nparams_toprune, largest=True)
        if nparams_toprune == 0:
            return default_mask
        return _keep_slices(t, self.dim, topk.indices, default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, n: Any, dim: int,  # type: ignore[override]
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        """Prune the ``amount`` slices of ``module.<name>`` along ``dim`` of smallest L``n`` norm
        (of ``importance_scores`` if given)."""
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where the given ``mask`` is zero."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if default_mask.shape != self.mask.shape:
            raise AssertionError(f"default_mask shape {default_mask.shape} must match "
                                 f"self.mask shape {self.mask.shape}")
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor) -> BasePruningMethod:  # type: ignore[override]
        """Prune ``module.<name>`` where ``mask`` is zero."""
        return super().apply(module, name, mask=mask)


def identity(module: T_module, name: str) -> T_module:
    """Reparametrize ``module.<name>`` as ``<name>_orig * <name>_mask`` with a mask of ones.

    >>> m = prune.identity(nn.Linear(2, 3), "bias")
    >>> m.bias_mask
    tensor([1., 1., 1.])
    """
    Identity.apply(module, name)
    return module


def random_unstructured(module: T_module, name: str, amount: int | float) -> T_module:
    """Prune ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    entries of ``module.<name>``, chosen at random.

    >>> m = prune.random_unstructured(nn.Linear(2, 3), "weight", amount=1)
    >>> tapegrad.sum(m.weight_mask == 0)
    tensor(1)
    """
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: T_module, name: str, amount: int | float,
                    importance_scores: Tensor | None = None) -> T_module:
    """Prune ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    entries of ``module.<name>``, those of smallest magnitude (of ``importance_scores``' if given).

    >>> m = prune.l1_unstructured(nn.Linear(2, 3), "weight", amount=0.2)
    >>> list(m.state_dict())
    ['bias', 'weight_orig', 'weight_mask']
    """
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: T_module, name: str, amount: int | float, dim: int) -> T_module:
    """Prune ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    slices of ``module.<name>`` along ``dim``, chosen at random.

    >>> m = prune.random_structured(nn.Linear(5, 3), "weight", amount=3, dim=1)
    >>> int((m.weight.sum(dim=0) == 0).sum())
    3
    """
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: T_module, name: str, amount: int | float, n: Any, dim: int,
                  importance_scores: Tensor | None = None) -> T_module:
    """Prune ``amount`` (an int: a count; a float in [0, 1]: a fraction) of the still unpruned
    slices of ``module.<name>`` along ``dim``, those of smallest L``n`` norm (``n`` as ``p`` of
    ``tapegrad.norm``; of ``importance_scores`` if given).

    >>> m = prune.ln_structured(nn.Conv2d(5, 3, 2), "weight", amount=0.3, dim=1, n=float("-inf"))
    """
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: Callable[..., BasePruningMethod],
                        importance_scores: dict[tuple[Module, str], Tensor] | None = None, **kwargs: Any) -> None:
    """Prune the ``(module, name)`` parameters together: ``pruning_method(**kwargs)`` (an
    unstructured method, e.g. ``L1Unstructured`` with ``amount=``) chooses among all their still
    unpruned entries at once, then each parameter is pruned with its part of the mask by
    ``custom_from_mask``. ``importance_scores`` maps some ``(module, name)`` pairs to the scores
    used in place of the parameter.

    >>> net = nn.Sequential(nn.Linear(10, 4), nn.Linear(4, 1))
    >>> prune.global_unstructured([(net[0], "weight"), (net[1], "weight")], prune.L1Unstructured, amount=10)
    >>> int(sum((m.weight == 0).sum() for m in net))
    10
    """
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")

    # Every parameter's scores and mask (ones if not pruned yet) as one flat vector, pruned as one tensor.
    # As in PyTorch, ``parameters`` is iterated three times: a generator would be exhausted after the first.
    relevant_importance_scores = parameters_to_vector(
        [importance_scores.get((module, name), getattr(module, name)) for (module, name) in parameters])
    default_mask = parameters_to_vector(
        [getattr(module, name + "_mask", creation.ones_like(getattr(module, name))) for (module, name) in parameters])

    # A container computes the new mask on the entries still unpruned, as for iterative pruning.
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":  # type: ignore[attr-defined]
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type {method.PRUNING_TYPE}")  # type: ignore[attr-defined]
    container.add_pruning_method(method)
    final_mask = container.compute_mask(relevant_importance_scores, default_mask)

    # Each parameter gets its own stretch of the flat mask, in the order the vectors were built.
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        num_param = param.numel()
        param_mask = final_mask[pointer:pointer + num_param].view_as(param)
        custom_from_mask(module, name, mask=param_mask)
        pointer += num_param


def custom_from_mask(module: T_module, name: str, mask: Tensor) -> T_module:
    """Prune ``module.<name>`` where ``mask`` is zero.

    >>> m = prune.custom_from_mask(nn.Linear(5, 3), name="bias", mask=tapegrad.tensor([0, 1, 0]))
    >>> m.bias_mask
    tensor([0., 1., 0.])
    """
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module: T_module, name: str) -> T_module:
    """Make the pruning of ``module.<name>`` permanent: ``<name>`` is a parameter again holding
    the pruned values, and ``<name>_orig``, ``<name>_mask`` and the hook are gone.

    >>> m = prune.remove(prune.random_unstructured(nn.Linear(5, 7), name="weight", amount=0.2), name="weight")
    """
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or one of its submodules has a pruning forward pre-hook.

    >>> m = nn.Linear(5, 7)
    >>> prune.is_pruned(m), prune.is_pruned(prune.random_unstructured(m, name="weight", amount=0.2))
    (False, True)
    """
    for _, submodule in module.named_modules():
        for hook in submodule._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False


def _validate_pruning_amount_init(amount: Any) -> None:
    """Check ``amount`` alone (the tensor's size is known only when pruning): an int must not be
    negative (ValueError), a float must lie in [0, 1] (ValueError), anything else is a TypeError."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount: Any, tensor_size: int) -> None:
    """Check that a count ``amount`` does not exceed the ``tensor_size`` units there are to prune."""
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t: Tensor) -> None:
    """Check that ``t`` has at least 2 dimensions, so that it has slices to prune."""
    shape = t.shape
    if len(shape) <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. Found tensor of shape "
                         f"{shape} with {len(shape)} dims")


def _compute_nparams_toprune(amount: Any, tensor_size: int) -> int:
    """The number of units to prune: ``amount`` itself for an int, else the fraction ``amount`` of
    ``tensor_size``, rounded (half to even, as Python's and PyTorch's ``round``)."""
    if isinstance(amount, numbers.Integral):
        return amount  # type: ignore[return-value]
    return round(amount * tensor_size)


def _validate_pruning_dim(t: Tensor, dim: int) -> None:
    """Check that ``dim`` is below ``t``'s number of dimensions (a too negative one fails later)."""
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")


def _compute_norm(t: Tensor, n: Any, dim: int) -> Tensor:
    """The L``n`` norm of each slice of ``t`` along ``dim``: over every dimension but ``dim``,
    so of shape ``[t.shape[dim]]``."""
    dims = list(range(t.dim()))
    if dim < 0:
        dim = dims[dim]
    dims.remove(dim)
    return t.norm(p=n, dim=dims)
