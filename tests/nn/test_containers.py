"""Sequential, ModuleList and ModuleDict: the list and dict APIs, registration of what they hold,
and reprs, checked against PyTorch after each operation where it is installed."""
from __future__ import annotations

from collections import OrderedDict

import pytest

import tapegrad
import tapegrad.nn as nn


def _torch():
    return pytest.importorskip("torch")


def _layers(lib, count: int = 4) -> list:
    m = lib.nn
    return [m.Linear(2, 3), m.ReLU(), m.Linear(3, 3, bias=False), m.Tanh(), m.Linear(3, 1), m.Sigmoid()][:count]


# ==================================================================== Sequential

def test_sequential_indexing_len_and_iteration():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3
    assert model[0] is a and model[-1] is c and model[-3] is a
    assert list(model) == [a, b, c]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]
    for bad in (3, -4):
        with pytest.raises(IndexError, match=f"index {bad} is out of range"):
            model[bad]
    with pytest.raises(TypeError):
        model["0"]


def test_sequential_slices_keep_names_and_share_modules():
    layers = _layers(tapegrad, 4)
    model = nn.Sequential(*layers)
    tail = model[1:]
    assert isinstance(tail, nn.Sequential)
    assert list(tail._modules) == ["1", "2", "3"]
    assert list(tail) == layers[1:]
    assert list(model[::-2]) == [layers[3], layers[1]]


def test_sequential_from_ordered_dict_uses_its_names():
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert isinstance(model.fc, nn.Linear) and isinstance(model.act, nn.ReLU)
    assert [name for name, _ in model.named_parameters()] == ["fc.weight", "fc.bias"]


def test_sequential_append_insert_extend_delete_pop():
    a, b, c, d = nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.Identity()
    model = nn.Sequential(a)
    assert model.append(b) is model
    assert model.insert(0, c) is model and list(model) == [c, a, b]
    model.insert(-1, d)
    assert list(model) == [c, a, d, b]
    assert model.extend([nn.GELU()]) is model and len(model) == 5
    del model[1]
    assert list(model)[:3] == [c, d, b] and list(model._modules) == ["0", "1", "2", "3"]
    del model[1:3]
    assert len(model) == 2 and list(model._modules) == ["0", "1"]
    assert model.pop(0) is c and len(model) == 1
    with pytest.raises(IndexError, match="Index out of range: 5"):
        model.insert(5, nn.ReLU())
    with pytest.raises(AssertionError, match="module should be of type"):
        model.insert(0, "relu")


def test_sequential_setitem_replaces_and_registers():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    replacement = nn.Linear(2, 2, bias=False)
    model[0] = replacement
    model[-1] = nn.Tanh()
    assert model[0] is replacement and isinstance(model[1], nn.Tanh)
    assert [name for name, _ in model.named_parameters()] == ["0.weight"]


def test_sequential_arithmetic():
    a, b = nn.ReLU(), nn.Tanh()
    left, right = nn.Sequential(a), nn.Sequential(b)
    assert list(left + right) == [a, b]
    assert list(2 * left) == [a, a] and list(left * 3) == [a, a, a]
    left += right
    assert list(left) == [a, b]
    left *= 2
    assert list(left) == [a, b, a, b]
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        left + [a]
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        left * 0
    with pytest.raises(TypeError, match="unsupported operand"):
        left * 1.5


def test_sequential_forward_chains_and_backpropagates():
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = tapegrad.randn(5, 3)
    expected = model[2](model[1](model[0](x)))
    out = model(x)
    assert out.tolist() == expected.tolist()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert nn.Sequential()(x) is x


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        nn.Sequential(nn.ReLU(), 3)


@pytest.mark.torch
def test_sequential_reprs_follow_torch_through_every_operation():
    torch = _torch()
    ours, theirs = nn.Sequential(*_layers(tapegrad)), torch.nn.Sequential(*_layers(torch))
    steps = [
        lambda lib, m: m,
        lambda lib, m: m[1:3],
        lambda lib, m: m[::-1],
        lambda lib, m: m.append(lib.nn.GELU()),
        lambda lib, m: m.insert(1, lib.nn.Hardtanh(-2.0, 2.0)),
        lambda lib, m: m.extend(lib.nn.Sequential(lib.nn.ELU(0.5), lib.nn.Softmax(dim=1))),
        lambda lib, m: (m.__delitem__(0), m)[1],
        lambda lib, m: (m.__delitem__(slice(1, 3)), m)[1],
        lambda lib, m: m + lib.nn.Sequential(lib.nn.Tanh()),
        lambda lib, m: lib.nn.Sequential(OrderedDict([("inner", m), ("act", lib.nn.ReLU(inplace=True))])),
    ]
    for step in steps:
        ours, theirs = step(tapegrad, ours), step(torch, theirs)
        assert repr(ours) == repr(theirs)
        assert len(ours) == len(theirs)


# ==================================================================== ModuleList

def test_module_list_is_a_list_of_registered_modules():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and isinstance(layers[-1], nn.Linear)
    assert len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh(), nn.Sigmoid()])
    layers += [nn.Identity()]
    assert [type(m).__name__ for m in layers][3:] == ["ReLU", "Tanh", "Sigmoid", "Identity"]
    layers.insert(1, nn.GELU())
    assert isinstance(layers[1], nn.GELU) and len(layers) == 8
    assert isinstance(layers[2:4], nn.ModuleList) and len(layers[2:4]) == 2
    del layers[0]
    assert isinstance(layers[0], nn.GELU) and list(layers._modules) == [str(i) for i in range(7)]
    del layers[::2]
    assert len(layers) == 3 and list(layers._modules) == ["0", "1", "2"]
    popped = layers.pop(-1)
    assert isinstance(popped, nn.Sigmoid) and len(layers) == 2
    layers[0] = nn.ELU()
    assert isinstance(layers[0], nn.ELU)
    combined = layers + nn.ModuleList([nn.ReLU()])
    assert len(combined) == 3 and len(layers) == 2
    with pytest.raises(IndexError, match="index 5 is out of range"):
        layers[5]
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got ReLU"):
        layers.extend(nn.ReLU())
    with pytest.raises(NotImplementedError):
        layers(tapegrad.ones(1))


def test_module_list_inside_a_module_exposes_parameters():
    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    model = Stack()
    assert [n for n, _ in model.named_parameters()] == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                                                        "layers.1.bias"]
    assert model(tapegrad.ones(3, 2)).shape == (3, 1)


@pytest.mark.torch
def test_module_list_repr_compresses_repeats_like_torch():
    torch = _torch()

    def build(lib):
        m = lib.nn
        return m.ModuleList([m.Linear(4, 4), m.Linear(4, 4), m.Linear(4, 4), m.ReLU(), m.Linear(4, 4), m.ReLU(),
                             m.ReLU(), m.Sequential(m.Linear(1, 1), m.Tanh()), m.Sequential(m.Linear(1, 1), m.Tanh())])

    assert repr(build(tapegrad)) == repr(build(torch))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"
    assert repr(build(tapegrad)[2:5]) == repr(build(torch)[2:5])


# ==================================================================== ModuleDict

def test_module_dict_has_the_dict_api():
    heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.ReLU()})
    heads["c"] = nn.Tanh()
    assert list(heads) == ["a", "b", "c"] and list(heads.keys()) == ["a", "b", "c"]
    assert "b" in heads and "z" not in heads and len(heads) == 3
    assert [type(v).__name__ for v in heads.values()] == ["Linear", "ReLU", "Tanh"]
    assert [k for k, _ in heads.items()] == ["a", "b", "c"]
    assert isinstance(heads.pop("b"), nn.ReLU) and "b" not in heads
    del heads["c"]
    heads.update([("d", nn.Sigmoid()), ("e", nn.GELU())])
    heads.update(OrderedDict([("a", nn.Identity())]))
    assert list(heads) == ["a", "d", "e"] and isinstance(heads["a"], nn.Identity)
    assert list(heads.parameters()) == []
    heads.clear()
    assert len(heads) == 0
    with pytest.raises(TypeError, match="ModuleDict.update should be called with an iterable of key/value pairs"):
        heads.update(3)
    with pytest.raises(ValueError, match="ModuleDict update sequence element #0 has length 3; 2 is required"):
        heads.update([("a", nn.ReLU(), 1)])
    with pytest.raises(TypeError, match="ModuleDict update sequence element #0 should be Iterable"):
        heads.update([3])
    with pytest.raises(KeyError):
        heads["missing"]


@pytest.mark.torch
def test_module_dict_repr_equals_torchs():
    torch = _torch()

    def build(lib):
        m = lib.nn
        d = m.ModuleDict([("encoder", m.Sequential(m.Linear(3, 3), m.SiLU())), ("head", m.Linear(3, 1))])
        d["act"] = m.LeakyReLU(0.1)
        return d

    assert repr(build(tapegrad)) == repr(build(torch))
