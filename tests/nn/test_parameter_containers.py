"""ParameterList, ParameterDict and Buffer: registration with the holding module (parameters,
state_dict, device and dtype moves, optimizers), the container protocols, reprs and errors as
in PyTorch."""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn


class _Mixture(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scales = nn.ParameterList([nn.Parameter(tapegrad.ones(3)), tapegrad.zeros(2)])
        self.named = nn.ParameterDict({"shift": tapegrad.full((3,), 0.5), "gain": nn.Parameter(tapegrad.ones(1))})

    def forward(self, x: Any) -> Any:
        return (x * self.scales[0] + self.named["shift"]) * self.named["gain"] + self.scales[1].sum()


def test_parameters_register_with_the_holding_module_and_train() -> None:
    model = _Mixture()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scales.0", "scales.1", "named.gain", "named.shift"]  # a dict is sorted by key
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert list(model.state_dict()) == names
    opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    model(tapegrad.ones(3)).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.scales[0].detach().numpy(), 1 - 0.1 * 1.0)
    np.testing.assert_allclose(model.named["gain"].detach().numpy(), 1 - 0.1 * 4.5)
    model.double()
    assert model.named["shift"].dtype is tapegrad.float64 and model.scales[1].dtype is tapegrad.float64


def test_parameter_list_protocol() -> None:
    params = nn.ParameterList()
    params.append(tapegrad.ones(1))
    params.extend([tapegrad.zeros(2), "not a tensor"])
    params += [nn.Parameter(tapegrad.ones(3))]
    assert len(params) == 4 and len(list(params.parameters())) == 3
    assert params[-1].shape == (3,) and params[2] == "not a tensor"
    sliced = params[1:4:2]
    assert isinstance(sliced, nn.ParameterList) and [tuple(p.shape) for p in sliced] == [(2,), (3,)]
    params[0] = tapegrad.full((4,), 2.0)
    assert isinstance(params[0], nn.Parameter) and params[0].shape == (4,)
    assert "0" not in dir(params)
    with pytest.raises(IndexError, match="index 4 is out of range"):
        params[4]
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Tensor"):
        params.extend(tapegrad.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        params(1)


def test_parameter_dict_protocol() -> None:
    params = nn.ParameterDict({"b": tapegrad.ones(2), "a": tapegrad.zeros(1)})
    assert list(params) == ["a", "b"]  # a plain dict is taken in sorted key order, as PyTorch does
    params.update([("c", tapegrad.ones(3)), ("d", 4)])
    assert list(params.keys()) == ["a", "b", "c", "d"] and params["d"] == 4
    assert len(list(params.parameters())) == 3
    assert "c" in params and params.get("z", 7) == 7
    assert params.pop("c").shape == (3,) and "c" not in params and not hasattr(params, "c")
    assert params.setdefault("e", tapegrad.ones(1)).shape == (1,)
    assert params.popitem()[0] == "e"
    merged = params | nn.ParameterDict({"z": tapegrad.ones(1)})
    assert list(merged) == ["a", "b", "d", "z"] and list(params) == ["a", "b", "d"]
    assert list(reversed(params)) == ["d", "b", "a"]
    assert list(params.copy().values())[0] is params["a"]
    assert list(params.fromkeys(["x", "y"], 1).items()) == [("x", 1), ("y", 1)]
    params.clear()
    assert len(params) == 0 and list(params.parameters()) == []
    with pytest.raises(TypeError, match="Index given to ParameterDict cannot be used as a key"):
        params[1] = tapegrad.ones(1)
    with pytest.raises(ValueError, match="ParameterDict update sequence element #0 has length 3; 2 is required"):
        params.update([("a", 1, 2)])
    with pytest.raises(TypeError, match="ParametersDict.update should be called with an iterable"):
        params.update(3)


@pytest.mark.torch
def test_reprs_match_torch() -> None:
    torch = pytest.importorskip("torch")
    reprs = []
    for lib in (tapegrad, torch):
        listed = lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2)), lib.zeros(3, 2).double(), "x",
                                       lib.nn.Linear(1, 1)])
        named = lib.nn.ParameterDict({"b": lib.zeros(2), "a": lib.ones(1, 3)})
        reprs.append((repr(listed), repr(named), repr(lib.nn.ParameterDict({"w": lib.ones(2)}))))
    for ours, theirs in zip(*reprs, strict=True):
        assert ours == theirs.replace("torch.", "tapegrad.")


def test_buffer_assignment_registers_a_buffer() -> None:
    module = nn.Module()
    module.counts = nn.Buffer(tapegrad.zeros(2))
    module.scratch = nn.Buffer(tapegrad.ones(1), persistent=False)
    assert [name for name, _ in module.named_buffers()] == ["counts", "scratch"]
    assert list(module.state_dict()) == ["counts"]
    assert type(module.counts) is tapegrad.Tensor and isinstance(module.counts, nn.Buffer)
    assert not isinstance(tapegrad.ones(1), nn.Buffer) and list(module.parameters()) == []
    leaf = tapegrad.ones(2, requires_grad=True)
    marked = nn.Buffer(leaf)
    assert marked.requires_grad and marked.grad_fn is None and marked is not leaf
    module.double()
    assert module.counts.dtype is tapegrad.float64
    restored = pickle.loads(pickle.dumps(module))
    assert list(restored.state_dict()) == ["counts"]
