"""``nn.Module``: registration, traversal, state dicts, dtype moves, modes, hooks and repr."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.scale = nn.Parameter(tapegrad.ones(2))
        self.register_buffer("count", tapegrad.zeros((), dtype=tapegrad.int64))
        self.register_buffer("scratch", tapegrad.zeros(2), persistent=False)

    def forward(self, x: tapegrad.Tensor) -> tapegrad.Tensor:
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = Block()
        self.act = nn.ReLU()
        self.head = nn.Linear(2, 1, bias=False)

    def forward(self, x: tapegrad.Tensor) -> tapegrad.Tensor:
        return self.head(self.act(self.first(x)))


def snapshot(module: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


def test_registration_and_traversal_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["first.scale", "first.fc.weight", "first.fc.bias",
                                                      "head.weight"]
    assert [n for n, _ in net.named_buffers()] == ["first.count", "first.scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "first", "first.fc", "act", "head"]
    assert [n for n, _ in net.named_children()] == ["first", "act", "head"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert net.get_submodule("first.fc") is net.first.fc
    assert net.get_parameter("first.fc.bias") is net.first.fc.bias
    assert net.get_buffer("first.count") is net.first.count
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("first.nope")


def test_shared_parameters_are_listed_once():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net[1].weight = net[0].weight
    assert len(list(net.parameters())) == 3
    assert len(list(net.named_parameters(remove_duplicate=False))) == 4


def test_assignment_rules_and_errors():
    block = Block()
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        block.scale = tapegrad.ones(2)
    block.scale = None
    assert block.scale is None and "scale" in block._parameters
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'count'"):
        block.count = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'fc'"):
        block.fc = 3
    with pytest.raises(KeyError, match='contain "."'):
        block.register_buffer("a.b", tapegrad.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        block.register_parameter("forward", None)
    with pytest.raises(TypeError, match="torch.nn.Parameter or None required"):
        block.register_parameter("w", tapegrad.ones(1))

    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(tapegrad.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    del block.fc
    assert "fc" not in block._modules
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'fc'"):
        block.fc


def test_state_dict_contents_share_memory_and_are_detached():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["first.scale", "first.count", "first.fc.weight", "first.fc.bias", "head.weight"]
    assert not any(v.requires_grad for v in sd.values())
    sd["head.weight"].add_(1.0)  # shares memory with the parameter, as in PyTorch
    np.testing.assert_array_equal(sd["head.weight"].numpy(), net.head.weight.detach().numpy())
    assert net.state_dict(keep_vars=True)["head.weight"] is net.head.weight


def test_load_state_dict_round_trip():
    source, target = Net(), Net()
    with tapegrad.no_grad():
        source.first.count.fill_(7)
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for key, value in snapshot(source).items():
        np.testing.assert_array_equal(snapshot(target)[key], value)
    assert target.first.fc.weight.requires_grad  # still the same trainable Parameter


def test_load_state_dict_errors_leave_module_unchanged():
    net = Net()
    before = snapshot(net)
    good = {k: v.clone() + 1 for k, v in net.state_dict().items()}

    missing = dict(good)
    del missing["head.weight"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "head.weight"'):
        net.load_state_dict(missing)

    unexpected = dict(good, extra=tapegrad.zeros(1))
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "extra"'):
        net.load_state_dict(unexpected)

    wrong = dict(good)
    wrong["first.fc.weight"] = tapegrad.zeros(3, 3)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(wrong)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Net" in message
    assert "size mismatch for first.fc.weight" in message
    assert "Size([3, 3])" in message and "Size([2, 3])" in message

    # A shape mismatch is an error even when strict=False.
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict(wrong, strict=False)
    for key, value in snapshot(net).items():
        np.testing.assert_array_equal(value, before[key])

    result = net.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["head.weight"]
    np.testing.assert_array_equal(net.head.weight.detach().numpy(), before["head.weight"])
    np.testing.assert_array_equal(net.first.scale.detach().numpy(), before["first.scale"] + 1)
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([1, 2])


def test_load_state_dict_assign_takes_the_tensors():
    net = nn.Linear(2, 1)
    weight = tapegrad.ones(1, 2)
    net.load_state_dict({"weight": weight, "bias": tapegrad.zeros(1)}, assign=True)
    assert isinstance(net.weight, nn.Parameter) and net.weight.requires_grad
    weight.add_(1.0)
    assert net.weight.detach().numpy().tolist() == [[2.0, 2.0]]


def test_dtype_moves_keep_parameter_identity():
    net = Net()
    weight = net.first.fc.weight
    net(tapegrad.ones(4, 3)).sum().backward()
    assert net.double() is net
    assert net.first.fc.weight is weight and weight.dtype == tapegrad.float64
    assert weight.grad.dtype == tapegrad.float64
    assert net.first.count.dtype == tapegrad.int64  # integer buffers keep their dtype
    assert net(tapegrad.ones(4, 3, dtype=tapegrad.float64)).dtype == tapegrad.float64
    net.to(tapegrad.float32)
    assert weight.dtype == tapegrad.float32
    net.to(tapegrad.ones(1, dtype=tapegrad.float64))
    assert weight.dtype == tapegrad.float64
    net.float()
    assert weight.dtype == tapegrad.float32
    assert net.to("cpu") is net and net.cpu() is net
    with pytest.raises(TypeError, match="only accepts floating point"):
        net.to(tapegrad.int64)
    if not tapegrad.cuda.is_available():  # as PyTorch on a machine without a GPU
        with pytest.raises(RuntimeError, match="No CUDA GPUs are available"):
            net.to("cuda")
    with pytest.raises(TypeError, match="float16"):
        net.half()


def test_train_eval_recurse_through_overrides():
    calls = []

    class Recording(nn.Module):
        def train(self, mode: bool = True) -> nn.Module:
            calls.append(mode)
            return super().train(mode)

    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(Recording()))
    net.eval()
    assert not any(m.training for m in net.modules())
    assert calls == [False]
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_requires_grad_and_apply():
    net = Net()
    net(tapegrad.ones(2, 3)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Block", "ReLU", "Linear", "Net"]


def test_forward_hooks():
    net = nn.Linear(2, 2)
    pre = net.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = net.register_forward_hook(lambda m, args, out: out + 10)
    out = net(tapegrad.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), net.bias.detach().numpy()[None] + 10, rtol=1e-6)
    pre.remove()
    post.remove()
    x = tapegrad.ones(1, 2)
    np.testing.assert_allclose(net(x).detach().numpy(), (x @ net.weight.t() + net.bias).detach().numpy())


def test_deepcopy_is_independent():
    net = Net()
    twin = copy.deepcopy(net)
    with tapegrad.no_grad():
        twin.head.weight.add_(1.0)
    assert not np.array_equal(twin.head.weight.detach().numpy(), net.head.weight.detach().numpy())
    assert isinstance(twin.head.weight, nn.Parameter)


def test_missing_forward_names_the_module():
    with pytest.raises(NotImplementedError, match="Module \\[Module\\] is missing the required \"forward\""):
        nn.Module()(1)


def test_repr_and_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2, bias=False), nn.Sigmoid()))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False), torch.nn.Sigmoid()))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: tapegrad.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(tapegrad.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-7)


def test_parameter_prints_with_its_header() -> None:
    p = tapegrad.nn.Parameter(tapegrad.ones(2))
    assert str(p) == repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert str(p.detach()) == "tensor([1., 1.])"
