"""Lazy modules (``LazyLinear``, ``LazyConv*d``, ``LazyConvTranspose*d``, ``LazyBatchNorm*d``,
``LazyInstanceNorm*d``) and their placeholders (``UninitializedParameter``,
``UninitializedBuffer``) against PyTorch: reprs before and after the first call, the inferred
sizes, the initial parameters from the same seed, float64 values and gradients, the class the
module becomes, optimizers built before the first call, state dicts, dtypes and devices set
before the first call, unbatched inputs and PyTorch's errors."""
from __future__ import annotations

import copy
import pickle
import re
import warnings
from typing import Any, Callable, NamedTuple

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
from tapegrad.nn.lazy import LazyModuleMixin
from tapegrad.nn.parameter import is_lazy
from torch_errors import raises_as_torch


class Case(NamedTuple):
    name: str
    kwargs: dict
    batched: tuple[int, ...]  # the first input
    unbatched: tuple[int, ...] | None  # an unbatched first input, where the class takes one
    bad: tuple[int, ...]  # a first input of a rank the class refuses
    args: tuple = ()

    def make(self, lib: Any, **extra: Any) -> Any:
        return getattr(lib.nn, self.name)(*self.args, **{**self.kwargs, **extra})

    @property
    def size_attr(self) -> str:
        return ("in_features" if self.name == "LazyLinear" else "in_channels" if "Conv" in self.name
                else "num_features")

    def __str__(self) -> str:
        return self.name + "".join(f",{k}={v}" for k, v in self.kwargs.items())


CASES = [
    Case("LazyLinear", {}, (4, 5), (5,), (), (3,)),
    Case("LazyLinear", {"bias": False}, (2, 3, 5), (5,), (), (4,)),
    Case("LazyConv1d", {"padding": 1}, (2, 3, 7), (3, 7), (7,), (4, 3)),
    Case("LazyConv1d", {"groups": 2, "padding": 2, "padding_mode": "reflect"}, (2, 6, 7), (6, 7), (1, 2, 6, 7), (4, 3)),
    Case("LazyConv2d", {"stride": 2, "padding": 1, "bias": False}, (2, 3, 6, 5), (3, 6, 5), (6, 5), (4, 3)),
    Case("LazyConv3d", {"dilation": (1, 2, 1)}, (1, 3, 4, 5, 3), (3, 4, 5, 3), (3, 4, 5), (2, 2)),
    Case("LazyConvTranspose1d", {"stride": 2, "output_padding": 1}, (2, 3, 5), (3, 5), (5,), (4, 3)),
    Case("LazyConvTranspose2d", {"stride": 2, "groups": 2}, (2, 4, 3, 3), (4, 3, 3), (3, 3), (4, 2)),
    Case("LazyConvTranspose3d", {"padding": 1}, (1, 3, 3, 2, 3), (3, 3, 2, 3), (1, 1, 3, 3, 2, 3), (2, 2)),
    Case("LazyBatchNorm1d", {}, (6, 4), None, (2, 4, 3, 2)),
    Case("LazyBatchNorm1d", {"momentum": None}, (4, 3, 5), None, (3,)),
    Case("LazyBatchNorm2d", {"affine": False}, (3, 4, 3, 2), None, (3, 4)),
    Case("LazyBatchNorm3d", {"bias": False, "eps": 1e-3}, (2, 3, 2, 3, 2), None, (2, 3, 2, 3)),
    Case("LazyInstanceNorm1d", {}, (2, 3, 5), None, (2, 3, 5, 1)),
    Case("LazyInstanceNorm2d", {"track_running_stats": False}, (2, 3, 4, 4), None, (3, 4)),
    Case("LazyInstanceNorm3d", {"affine": False, "momentum": 0.3}, (2, 3, 2, 3, 2), None, (2, 3)),
]
WITH_PARAMETERS = [c for c in CASES if c.kwargs.get("affine", True)]
UNBATCHED = [c for c in CASES if c.unbatched is not None]


def _values(shape: Any, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(tuple(shape))


def _input(lib: Any, shape: Any, seed: int = 1, requires_grad: bool = False) -> Any:
    return lib.tensor(_values(shape, seed), requires_grad=requires_grad)


def _dtype(t: Any) -> str:
    return str(t.dtype).rpartition(".")[2]


def _numpy(t: Any) -> np.ndarray:
    return t.detach().numpy().copy()


def _state(module: Any) -> dict[str, np.ndarray]:
    return {name: _numpy(t) for name, t in module.state_dict().items()}


def _assert_states_equal(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray], exact: bool,
                         rtol: float = 1e-10) -> None:
    assert list(ours) == list(theirs)
    for name in ours:
        assert ours[name].dtype == theirs[name].dtype and ours[name].shape == theirs[name].shape, name
        if exact:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
        else:
            np.testing.assert_allclose(ours[name], theirs[name], rtol=rtol, atol=rtol, err_msg=name)


def _outcome(call: Callable[[], Any]) -> Any:
    """What ``call`` gives: ``('ok', value)`` or ``('error', type name, message)``."""
    try:
        return "ok", call()
    except Exception as error:  # noqa: BLE001 - the outcome itself is compared
        return "error", type(error).__name__, str(error).replace("torch.Size", "tapegrad.Size")


# ================================================================ first call


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=str)
def test_repr_class_inferred_size_and_initial_parameters_match_torch(case: Case) -> None:
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(0)
        module = case.make(lib)
        before = (repr(module), type(module).__name__, module.has_uninitialized_params())
        module(_input(lib, case.batched).float())
        after = (repr(module), type(module).__name__, getattr(module, case.size_attr))
        parameters = {name: _numpy(p) for name, p in module.named_parameters()}
        buffers = {name: _numpy(b) for name, b in module.named_buffers()}
        seen[lib] = before, after, parameters, buffers
        if lib is tapegrad:
            assert not isinstance(module, LazyModuleMixin)
            assert type(module) is getattr(nn, case.name.removeprefix("Lazy"))
            assert not any(is_lazy(t) for t in [*module.parameters(), *module.buffers()])
            assert not module._forward_pre_hooks and not module._load_state_dict_pre_hooks
    assert seen[tapegrad][:2] == seen[torch][:2]
    assert seen[tapegrad][0][2] is True
    _assert_states_equal(seen[tapegrad][2], seen[torch][2], exact=True)  # the same random draws
    _assert_states_equal(seen[tapegrad][3], seen[torch][3], exact=False, rtol=1e-6)  # float32 running statistics


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=str)
def test_float64_values_gradients_and_running_statistics_match_torch(case: Case) -> None:
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(7)
        module = case.make(lib, dtype=lib.float64)
        x = _input(lib, case.batched, requires_grad=True)
        out = module(x)
        (out * _input(lib, out.shape, seed=2)).sum().backward()
        grads = {name: _numpy(p.grad) for name, p in module.named_parameters()}
        results[lib] = _numpy(out), _numpy(x.grad), grads, _state(module)
    ours, theirs = results[tapegrad], results[torch]
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-12)
    _assert_states_equal(ours[2], theirs[2], exact=False)
    _assert_states_equal(ours[3], theirs[3], exact=False)


@pytest.mark.torch
@pytest.mark.parametrize("case", WITH_PARAMETERS, ids=str)
def test_an_optimizer_built_before_the_first_call_trains_the_materialized_parameters(case: Case) -> None:
    torch = pytest.importorskip("torch")
    trained = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(3)
        module = case.make(lib, dtype=lib.float64)
        params = list(module.parameters())
        optimizer = lib.optim.SGD(module.parameters(), lr=0.5)
        out = module(_input(lib, case.batched))
        (out * _input(lib, out.shape, seed=2)).sum().backward()
        initial = [_numpy(p) for p in params]
        optimizer.step()
        assert [id(p) for p in module.parameters()] == [id(p) for p in params]
        assert [id(p) for p in optimizer.param_groups[0]["params"]] == [id(p) for p in params]
        for p, start in zip(params, initial):
            assert type(p) is lib.nn.Parameter
            assert not np.array_equal(_numpy(p), start)
            np.testing.assert_allclose(_numpy(p), start - 0.5 * _numpy(p.grad), rtol=1e-12, atol=1e-14)
        trained[lib] = _state(module)
    _assert_states_equal(trained[tapegrad], trained[torch], exact=False)


@pytest.mark.torch
@pytest.mark.parametrize("case", UNBATCHED, ids=str)
def test_an_unbatched_first_input_infers_the_size_as_torch(case: Case) -> None:
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(4)
        module = case.make(lib, dtype=lib.float64)
        out = module(_input(lib, case.unbatched))
        results[lib] = repr(module), getattr(module, case.size_attr), _numpy(out), _state(module)
    assert results[tapegrad][:2] == results[torch][:2]
    np.testing.assert_allclose(results[tapegrad][2], results[torch][2], rtol=1e-10, atol=1e-12)
    _assert_states_equal(results[tapegrad][3], results[torch][3], exact=False, rtol=1e-14)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:input's size at dim=0 does not match num_features")
def test_an_unbatched_instance_norm_input_takes_its_dim_1_as_torch_does() -> None:
    """PyTorch reads ``num_features`` from dim 1 even of an unbatched input (its issue 97915):
    with affine parameters the first call then fails, without them it warns."""
    torch = pytest.importorskip("torch")
    raises_as_torch(lambda lib: lib.nn.LazyInstanceNorm1d()(lib.ones(3, 5)))
    raises_as_torch(lambda lib: lib.nn.LazyInstanceNorm2d(affine=False)(lib.ones(3, 4, 2)))
    results = {}
    for lib in (tapegrad, torch):
        module = lib.nn.LazyInstanceNorm1d(affine=False, track_running_stats=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = module(_input(lib, (3, 5)))
        results[lib] = repr(module), [str(w.message) for w in caught], _numpy(out)
    assert results[tapegrad][:2] == results[torch][:2]
    assert results[tapegrad][1]
    np.testing.assert_allclose(results[tapegrad][2], results[torch][2], rtol=1e-6, atol=1e-6)


@pytest.mark.torch
def test_a_keyword_input_and_explicit_initialize_parameters_match_torch() -> None:
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(2)
        by_keyword = lib.nn.LazyLinear(3, dtype=lib.float64)
        out = by_keyword(input=_input(lib, (2, 4)))
        explicit = lib.nn.LazyConv1d(2, 2, dtype=lib.float64)
        weight = explicit.weight
        explicit.initialize_parameters(_input(lib, (1, 3, 4)))
        still_lazy = type(explicit).__name__, explicit.has_uninitialized_params(), explicit.weight is weight
        conv_out = explicit(_input(lib, (1, 3, 4)))
        results[lib] = (repr(by_keyword), _numpy(out), still_lazy, repr(explicit), _numpy(conv_out),
                        _state(explicit))
    ours, theirs = results[tapegrad], results[torch]
    assert ours[0] == theirs[0] and ours[2] == theirs[2] and ours[3] == theirs[3]
    assert ours[2] == ("LazyConv1d", False, True)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    np.testing.assert_allclose(ours[4], theirs[4], rtol=1e-12)
    _assert_states_equal(ours[5], theirs[5], exact=True)


@pytest.mark.torch
def test_a_model_of_lazy_modules_prints_and_initializes_as_torch() -> None:
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(11)
        model = lib.nn.Sequential(lib.nn.LazyConv2d(4, 3, padding=1), lib.nn.LazyBatchNorm2d(), lib.nn.ReLU(),
                                  lib.nn.Flatten(), lib.nn.LazyLinear(2)).double()
        before = repr(model)
        out = model(_input(lib, (2, 3, 4, 4)))
        results[lib] = before, repr(model), _numpy(out), _state(model)
    assert results[tapegrad][:2] == results[torch][:2]
    np.testing.assert_allclose(results[tapegrad][2], results[torch][2], rtol=1e-10)
    _assert_states_equal(results[tapegrad][3], results[torch][3], exact=False)


# ================================================================ state dicts


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=str)
def test_state_dict_of_an_uninitialized_module_holds_the_placeholders(case: Case) -> None:
    torch = pytest.importorskip("torch")
    module = case.make(tapegrad)
    state = module.state_dict()
    assert repr(state) == repr(case.make(torch).state_dict())
    own = dict(module.named_parameters()) | dict(module.named_buffers())
    for name, value in state.items():
        assert (value is own[name]) == is_lazy(own[name])


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=str)
# A loaded lazy instance norm keeps num_features=0, as in PyTorch; without affine parameters it warns.
@pytest.mark.filterwarnings("ignore:input's size at dim=1 does not match num_features")
def test_load_state_dict_into_an_uninitialized_module_matches_torch(case: Case) -> None:
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(5)
        source = case.make(lib, dtype=lib.float64)
        source(_input(lib, case.batched))  # initialized; batch norms' running statistics moved
        target = case.make(lib, dtype=lib.float64)
        placeholders = list(target.parameters())
        keys = repr(target.load_state_dict(source.state_dict()))
        loaded = type(target).__name__, target.has_uninitialized_params(), repr(target)
        assert [id(p) for p in target.parameters()] == [id(p) for p in placeholders]
        _assert_states_equal(_state(target), _state(source), exact=True)
        x = _input(lib, case.batched, seed=8)
        called = _outcome(lambda: _numpy(target(x)))
        results[lib] = keys, loaded, called, type(target).__name__, repr(target)
        if called[0] == "ok":
            np.testing.assert_array_equal(called[1], _numpy(source(x)))  # the loaded values, not redrawn
            _assert_states_equal(_state(target), _state(source), exact=True)
    ours, theirs = results[tapegrad], results[torch]
    assert ours[0] == theirs[0] and ours[1] == theirs[1] and ours[3:] == theirs[3:]
    assert ours[1][:2] == (case.name, False)
    assert ours[2][0] == theirs[2][0]
    if theirs[2][0] == "error":  # a lazy instance norm keeps num_features=0 and then refuses the input
        assert ours[2] == theirs[2]
    else:
        np.testing.assert_allclose(ours[2][1], theirs[2][1], rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_loading_placeholders_keeps_a_module_lazy_and_into_an_initialized_one_fails_as_torch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (tapegrad, torch):
        target = lib.nn.LazyBatchNorm1d()
        assert repr(target.load_state_dict(lib.nn.LazyBatchNorm1d().state_dict())) == "<All keys matched successfully>"
        assert target.has_uninitialized_params() and type(target).__name__ == "LazyBatchNorm1d"
    raises_as_torch(lambda lib: lib.nn.Linear(2, 3).load_state_dict(lib.nn.LazyLinear(3).state_dict()))


@pytest.mark.torch
def test_a_loaded_lazy_linear_refuses_an_input_of_another_size_as_torch() -> None:
    def call(lib: Any) -> Any:
        module = lib.nn.LazyLinear(3)
        module.load_state_dict(lib.nn.Linear(4, 3).state_dict())
        return module(lib.ones(2, 5))

    raises_as_torch(call)


# ================================================================ dtype and device


@pytest.mark.torch
@pytest.mark.parametrize("move", ["argument", "double", "to", "to_device_dtype"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_dtype_and_device_given_or_moved_before_the_first_call_are_kept(case: Case, move: str) -> None:
    torch = pytest.importorskip("torch")
    results = {}
    for lib in (tapegrad, torch):
        lib.manual_seed(1)
        module = case.make(lib, dtype=lib.float64, device="cpu") if move == "argument" else case.make(lib)
        if move == "double":
            module = module.double()
        elif move == "to":
            module = module.to(lib.float64)
        elif move == "to_device_dtype":
            module = module.to("cpu", lib.float64)
        before = [(name, _dtype(t), str(t.device), is_lazy(t) if lib is tapegrad else None)
                  for name, t in [*module.named_parameters(), *module.named_buffers()]]
        module(_input(lib, case.batched))
        after = [(name, _dtype(t), str(t.device)) for name, t in [*module.named_parameters(),
                                                                      *module.named_buffers()]]
        results[lib] = [entry[:3] for entry in before], after, _state(module)
        if lib is tapegrad:
            assert all(lazy for (name, *_, lazy) in before if name != "num_batches_tracked")
    ours, theirs = results[tapegrad], results[torch]
    assert ours[:2] == theirs[:2]
    assert all(dtype in ("float64", "int64") for _, dtype, _ in ours[1])
    # float64 draws agree to the last bit or two, as for the non-lazy classes
    _assert_states_equal(ours[2], theirs[2], exact=False, rtol=1e-14)


# ================================================================ errors


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_first_input_of_the_wrong_rank_fails_as_in_torch(case: Case) -> None:
    raises_as_torch(lambda lib: case.make(lib)(lib.ones(case.bad)))


@pytest.mark.torch
def test_init_errors_match_torch() -> None:
    raises_as_torch(lambda lib: lib.nn.LazyConv2d(4, 3, groups=2)(lib.ones(1, 3, 5, 5)))
    raises_as_torch(lambda lib: lib.nn.LazyConvTranspose1d(4, 3, groups=4)(lib.ones(2, 6, 5)))

    def half_initialized(lib: Any) -> Any:
        class Half(lib.nn.modules.lazy.LazyModuleMixin if lib is not tapegrad else LazyModuleMixin, lib.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.a = lib.nn.UninitializedParameter()
                self.b = lib.nn.UninitializedParameter()

            def initialize_parameters(self, x: Any) -> None:
                self.a.materialize(x.shape)

            def forward(self, x: Any) -> Any:
                return x

        return Half()(lib.ones(2))

    raises_as_torch(half_initialized)

    def not_implemented(lib: Any) -> Any:
        mixin = lib.nn.modules.lazy.LazyModuleMixin if lib is not tapegrad else LazyModuleMixin

        class Lazy(mixin, lib.nn.Module):
            pass

        return Lazy()(lib.ones(2))

    raises_as_torch(not_implemented)


_REFUSED = re.compile(r"^Attempted to use an uninitialized parameter in (.*?)\. (This error happens .*)$", re.S)


@pytest.mark.torch
@pytest.mark.parametrize("use, name", [
    (lambda lib, m: lib.nn.functional.linear(lib.ones(2, 3), m.weight), "linear"),
    (lambda lib, m: m.weight + 1, "add"),
    (lambda lib, m: m.bias.sum(), "sum"),
    (lambda lib, m: m.weight.view(-1), "view"),
    (lambda lib, m: m.weight.dim(), "dim"),
    (lambda lib, m: lib.nn.functional.conv2d(lib.ones(1, 1, 3, 3), m.weight), "conv2d"),
    (lambda lib, m: m.running_mean * 2, "mul"),
    (lambda lib, m: lib.matmul(m.weight, m.weight), "matmul"),
    (lambda lib, m: m.type(lib.float64), "type"),
], ids=["linear", "add", "sum", "view", "dim", "conv2d", "buffer_mul", "matmul", "module_type"])
def test_using_an_uninitialized_parameter_raises_torch_value_error(use: Callable[..., Any], name: str) -> None:
    """PyTorch's type and message, naming the function that was called (PyTorch writes its
    own function objects there, e.g. ``<built-in function linear>``)."""
    torch = pytest.importorskip("torch")
    messages = {}
    for lib in (tapegrad, torch):
        module = lib.nn.LazyLinear(3)
        if name == "mul":
            module = lib.nn.LazyBatchNorm1d()
        with pytest.raises(ValueError) as error:
            use(lib, module)
        match = _REFUSED.match(str(error.value))
        assert match is not None, str(error.value)
        messages[lib] = match.groups()
    assert messages[tapegrad][1] == messages[torch][1]
    assert name in messages[torch][0]
    assert messages[tapegrad][0] == f"<function {name}>"


@pytest.mark.torch
def test_the_shape_of_a_placeholder_and_its_shared_memory_are_refused_as_torch() -> None:
    raises_as_torch(lambda lib: lib.nn.LazyLinear(3).weight.shape)
    raises_as_torch(lambda lib: lib.nn.LazyBatchNorm2d().running_var.shape)
    raises_as_torch(lambda lib: lib.nn.UninitializedParameter().share_memory_())


# ================================================================ the placeholders


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["UninitializedParameter", "UninitializedBuffer"])
def test_placeholders_repr_isinstance_materialize_and_copies_match_torch(kind: str) -> None:
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (tapegrad, torch):
        cls = getattr(lib.nn, kind)
        made = cls(requires_grad=kind == "UninitializedBuffer", dtype=lib.float64)
        facts = dict(repr=repr(made), str=str(made), parameter=isinstance(made, lib.nn.Parameter),
                     buffer=isinstance(made, lib.nn.Buffer), tensor=isinstance(made, lib.Tensor),
                     requires_grad=made.requires_grad, dtype=_dtype(made), device=str(made.device),
                     size=tuple(made.size()), floating=made.is_floating_point(), get_device=made.get_device(),
                     leaf=made.is_leaf, grad=made.grad)
        clones = [("pickle", pickle.loads(pickle.dumps(made)))]
        if lib is tapegrad or kind == "UninitializedParameter":  # PyTorch cannot deepcopy a placeholder buffer
            clones.append(("deepcopy", copy.deepcopy(made)))
        for how, clone in clones:
            facts[how] = type(clone).__name__, clone.requires_grad, _dtype(clone)
        moved = made.float()
        facts |= dict(moved_type=type(moved).__name__, moved_dtype=_dtype(moved),
                      same_dtype_is_self=made.to(lib.float64) is made, unmoved=_dtype(made))
        made.materialize((2, 3), dtype=lib.float32)
        facts |= dict(materialized=(type(made).__name__, tuple(made.shape), _dtype(made), made.requires_grad),
                      isinstance_after=(isinstance(made, lib.nn.Parameter), isinstance(made, lib.nn.Buffer),
                                        isinstance(made, cls)))
        seen[lib] = facts
        if lib is tapegrad:
            assert type(made) is (nn.Parameter if kind == "UninitializedParameter" else tapegrad.Tensor)
            made.detach().zero_()  # usable as any tensor once materialized
            assert not made.detach().numpy().any()
    ours, theirs = seen[tapegrad], seen[torch]
    if kind == "UninitializedBuffer":
        assert ours.pop("deepcopy") == (kind, True, "float64")
    if kind == "UninitializedParameter":
        # PyTorch turns a placeholder parameter into a plain tensor when it changes its dtype;
        # tapegrad keeps a placeholder (Module.to/.double() keep the Parameter object either way).
        assert theirs.pop("moved_type") == "Tensor" and ours.pop("moved_type") == "UninitializedParameter"
    assert ours == theirs


def test_materialize_takes_the_device_and_dtype_it_was_made_or_moved_with() -> None:
    param = nn.UninitializedParameter(requires_grad=False)
    param.data = param.double()
    assert is_lazy(param) and param.dtype == tapegrad.float64
    param.materialize((4,))
    assert type(param) is nn.Parameter and param.dtype == tapegrad.float64 and not param.requires_grad
    assert param.device == tapegrad.device("cpu") and tuple(param.shape) == (4,)
    buffer = nn.UninitializedBuffer(persistent=False)
    assert buffer.persistent is False and buffer._is_buffer
    module = nn.Module()
    module.stats = buffer
    assert list(module.state_dict()) == [] and module.stats is buffer


def test_has_uninitialized_params_looks_at_parameters_and_buffers() -> None:
    norm = nn.LazyBatchNorm1d(affine=False)
    assert norm.has_uninitialized_params()
    norm.running_mean.materialize((3,))
    assert norm.has_uninitialized_params()
    norm.running_var.materialize((3,))
    assert not norm.has_uninitialized_params()
    assert not nn.LazyInstanceNorm1d(affine=False, track_running_stats=False).has_uninitialized_params()
