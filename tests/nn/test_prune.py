"""``tapegrad.nn.utils.prune``: the reparametrization (``<name>_orig``, ``<name>_mask``, the
forward pre-hook), each pruning method's mask, iterative pruning through ``PruningContainer``,
``global_unstructured``, ``remove``, ``is_pruned`` and the errors; then, where PyTorch is
installed, the same modules pruned with the same seeds give the same masks, weights, state dicts,
gradients and errors in both libraries."""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.utils.prune as prune
from torch_errors import raises_as_torch


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


def _linear(weight: list[list[float]], bias: bool = True) -> nn.Linear:
    """A Linear whose weight is ``weight`` (out x in)."""
    w = tapegrad.tensor(weight)
    m = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    with tapegrad.no_grad():
        m.weight.copy_(w)
    return m


def _zeros_per_slice(mask: np.ndarray, dim: int) -> list[bool]:
    """For each slice along ``dim``: True if it is all zero, False if all one (else fail)."""
    moved = np.moveaxis(mask, dim, 0).reshape(mask.shape[dim], -1)
    result = []
    for row in moved:
        assert row.min() == row.max(), "a slice is partly pruned"
        result.append(bool(row[0] == 0))
    return result


W34 = [[0.5, -0.1, 2.0, -3.0], [0.05, 1.5, -0.7, 0.3], [-2.5, 0.2, 0.9, -0.02]]


# ------------------------------------------------------------------ the reparametrization
def test_reparametrization_parameters_buffers_hook_and_state_dict() -> None:
    m = _linear(W34)
    orig_param = m.weight
    result = prune.l1_unstructured(m, "weight", amount=3)
    assert result is m
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight_orig"]
    assert [n for n, _ in m.named_buffers()] == ["weight_mask"]
    assert m.weight_orig is orig_param  # the same Parameter object moves, so optimizers keep working
    assert "weight" not in m._parameters and "weight" not in m._buffers
    assert not isinstance(m.weight, nn.Parameter)
    hooks = list(m._forward_pre_hooks.values())
    assert len(hooks) == 1 and isinstance(hooks[0], prune.L1Unstructured)
    assert hooks[0]._tensor_name == "weight" and hooks[0].amount == 3
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert m.weight_mask.dtype == tapegrad.float32 and m.weight_mask.shape == (3, 4)
    np.testing.assert_array_equal(_np(m.weight), _np(m.weight_orig) * _np(m.weight_mask))


def test_apply_returns_the_registered_method() -> None:
    m = _linear(W34)
    method = prune.RandomUnstructured.apply(m, "weight", 2)
    assert isinstance(method, prune.RandomUnstructured) and method.amount == 2
    assert list(m._forward_pre_hooks.values()) == [method]
    again = prune.L1Unstructured.apply(m, "weight", amount=1)
    assert isinstance(again, prune.PruningContainer)
    assert list(m._forward_pre_hooks.values()) == [again]
    assert [type(x) for x in again] == [prune.RandomUnstructured, prune.L1Unstructured]
    assert again[0] is method and len(again) == 2


def test_forward_uses_the_masked_weight_and_recomputes_it() -> None:
    m = _linear(W34)
    prune.l1_unstructured(m, "weight", amount=5)
    x = tapegrad.tensor([[1.0, -2.0, 0.5, 3.0], [0.3, 0.1, -1.0, 2.0]])
    expected = _np(x) @ (_np(m.weight_orig) * _np(m.weight_mask)).T + _np(m.bias)
    np.testing.assert_allclose(_np(m(x)), expected, rtol=1e-6)
    # The hook recomputes ``weight`` from the current ``weight_orig`` before each forward.
    with tapegrad.no_grad():
        m.weight_orig.mul_(2.0)
    expected = _np(x) @ (_np(m.weight_orig) * _np(m.weight_mask)).T + _np(m.bias)
    np.testing.assert_allclose(_np(m(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(_np(m.weight), 2 * np.array(W34) * _np(m.weight_mask), rtol=1e-6)


def test_gradients_reach_weight_orig_masked() -> None:
    m = _linear(W34)
    prune.random_unstructured(m, "weight", amount=0.5)
    x = tapegrad.tensor([[1.0, -2.0, 0.5, 3.0], [0.3, 0.1, -1.0, 2.0]])
    m(x).sum().backward()
    mask = _np(m.weight_mask)
    # d(sum(x @ (w * mask).T)) / dw = mask * column sums of x
    np.testing.assert_allclose(_np(m.weight_orig.grad), mask * _np(x).sum(0)[None, :], rtol=1e-6)
    assert (_np(m.weight_orig.grad)[mask == 0] == 0).all()
    np.testing.assert_allclose(_np(m.bias.grad), [2.0, 2.0, 2.0])
    assert m.weight_mask.grad is None and not m.weight_mask.requires_grad


def test_a_training_step_leaves_pruned_entries_zero_in_weight() -> None:
    m = _linear(W34)
    prune.l1_unstructured(m, "weight", amount=4)
    opt = tapegrad.optim.SGD(m.parameters(), lr=0.1)
    x = tapegrad.tensor([[1.0, -2.0, 0.5, 3.0]])
    for _ in range(2):
        opt.zero_grad()
        (m(x) ** 2).sum().backward()
        opt.step()
    m(x)
    assert (_np(m.weight)[_np(m.weight_mask) == 0] == 0).all()


# ------------------------------------------------------------------ amounts and methods
@pytest.mark.parametrize("amount, zeros", [(0, 0), (1, 1), (10, 10), (0.0, 0), (0.25, 2), (0.35, 4), (0.5, 5),
                                           (1.0, 10), (12 / 100, 1), (0.15, 2)])
def test_unstructured_counts_for_int_and_float_amounts(amount: int | float, zeros: int) -> None:
    # 10 entries: a float is a fraction rounded half to even (0.25 * 10 = 2.5 -> 2), an int a count.
    for fn in (prune.random_unstructured, prune.l1_unstructured):
        m = nn.Linear(5, 2)
        fn(m, "weight", amount=amount)
        assert int((m.weight_mask == 0).sum()) == zeros
        assert set(np.unique(_np(m.weight_mask))) <= {0.0, 1.0}
    assert prune._compute_nparams_toprune(amount, 10) == zeros


def test_l1_unstructured_prunes_the_smallest_magnitudes() -> None:
    m = _linear(W34)
    prune.l1_unstructured(m, "weight", amount=4)
    magnitudes = np.abs(np.array(W34))
    expected = (magnitudes > np.sort(magnitudes.ravel())[3]).astype(np.float32)
    np.testing.assert_array_equal(_np(m.weight_mask), expected)
    np.testing.assert_array_equal(_np(m.weight), np.array(W34, dtype=np.float32) * expected)


def test_l1_unstructured_with_importance_scores() -> None:
    m = _linear(W34)
    scores = tapegrad.arange(12.0).view(3, 4).flip(0)  # smallest scores in the last row
    prune.l1_unstructured(m, "weight", amount=4, importance_scores=scores)
    np.testing.assert_array_equal(_np(m.weight_mask), [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]])
    np.testing.assert_allclose(_np(m.weight_orig), W34)  # the scores choose, the weight is untouched


def test_random_unstructured_draws_from_the_generator() -> None:
    masks = []
    for seed in (3, 3, 4):
        tapegrad.manual_seed(seed)
        m = nn.Linear(20, 10)
        tapegrad.manual_seed(seed)
        prune.random_unstructured(m, "weight", amount=0.3)
        masks.append(_np(m.weight_mask))
    np.testing.assert_array_equal(masks[0], masks[1])
    assert (masks[0] != masks[2]).any()
    assert (masks[0] == 0).sum() == 60


@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1, -4])
def test_random_structured_zeroes_whole_slices(dim: int) -> None:
    conv = nn.Conv2d(3, 4, (5, 2))  # weight 4 x 3 x 5 x 2
    size = conv.weight.shape[dim]
    prune.random_structured(conv, "weight", amount=1, dim=dim)
    assert _zeros_per_slice(_np(conv.weight_mask), dim).count(True) == 1
    assert (_np(conv.weight)[_np(conv.weight_mask) == 0] == 0).all()
    conv2 = nn.Conv2d(3, 4, (5, 2))
    prune.random_structured(conv2, "weight", amount=0.5, dim=dim)
    assert _zeros_per_slice(_np(conv2.weight_mask), dim).count(True) == round(0.5 * size)


@pytest.mark.parametrize("n", [1, 2, 3, math.inf, -math.inf])
def test_ln_structured_prunes_the_slices_of_smallest_norm(n: float) -> None:
    m = _linear(W34)
    prune.ln_structured(m, "weight", amount=2, n=n, dim=1)
    w = np.array(W34)
    if n == math.inf:
        norms = np.abs(w).max(0)
    elif n == -math.inf:
        norms = np.abs(w).min(0)
    else:
        norms = (np.abs(w) ** n).sum(0) ** (1 / n)
    pruned = set(np.argsort(norms)[:2].tolist())
    assert [i for i, z in enumerate(_zeros_per_slice(_np(m.weight_mask), 1)) if z] == sorted(pruned)


def test_ln_structured_along_rows_and_with_importance_scores() -> None:
    m = _linear(W34)
    prune.ln_structured(m, "weight", amount=1, n=2, dim=0)
    # row norms: ~3.64, ~1.68, ~2.67 -> the second row goes
    assert _zeros_per_slice(_np(m.weight_mask), 0) == [False, True, False]
    m = _linear(W34)
    scores = tapegrad.tensor([[0.0] * 4, [5.0] * 4, [1.0] * 4])
    prune.ln_structured(m, "weight", amount=1, n=1, dim=0, importance_scores=scores)
    assert _zeros_per_slice(_np(m.weight_mask), 0) == [True, False, False]


def test_identity_keeps_everything() -> None:
    m = _linear(W34)
    prune.identity(m, "bias")
    np.testing.assert_array_equal(_np(m.bias_mask), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(_np(m.bias), _np(m.bias_orig))
    assert list(m.state_dict()) == ["weight", "bias_orig", "bias_mask"]


def test_custom_from_mask() -> None:
    m = _linear(W34)
    prune.custom_from_mask(m, "bias", mask=tapegrad.tensor([0, 1, 0]))
    assert m.bias_mask.dtype == tapegrad.float32
    np.testing.assert_array_equal(_np(m.bias_mask), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_np(m.bias), [0.0, _np(m.bias_orig)[1], 0.0])
    # A second custom mask multiplies into the first (a "global" method acts on all entries).
    prune.custom_from_mask(m, "bias", mask=tapegrad.tensor([True, False, True]))
    np.testing.assert_array_equal(_np(m.bias_mask), [0.0, 0.0, 0.0])


def test_prune_method_on_a_tensor() -> None:
    t = tapegrad.tensor([[1.0, -4.0], [0.5, 3.0]])
    np.testing.assert_array_equal(_np(prune.L1Unstructured(amount=2).prune(t)), [[0.0, -4.0], [0.0, 3.0]])
    default = tapegrad.tensor([[1.0, 1.0], [1.0, 0.0]])
    out = prune.L1Unstructured(amount=1).prune(t, default_mask=default)
    np.testing.assert_array_equal(_np(out), [[1.0, -4.0], [0.0, 0.0]])
    out = prune.L1Unstructured(amount=1).prune(t, importance_scores=tapegrad.tensor([[9.0, 0.0], [9.0, 9.0]]))
    np.testing.assert_array_equal(_np(out), [[1.0, 0.0], [0.5, 3.0]])
    out = prune.LnStructured(amount=1, n=1, dim=0).prune(t)
    np.testing.assert_array_equal(_np(out), [[1.0, -4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(_np(prune.Identity().prune(t)), _np(t))


def test_compute_norm_and_validation_helpers() -> None:
    t = tapegrad.tensor([[[3.0, 0.0], [4.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]])  # 2 x 2 x 2
    np.testing.assert_allclose(_np(prune._compute_norm(t, 2, 0)), [5.0, 1.0])
    np.testing.assert_allclose(_np(prune._compute_norm(t, 1, -1)), [7.0, 1.0])
    np.testing.assert_allclose(_np(prune._compute_norm(t, math.inf, 1)), [3.0, 4.0])
    for amount in (0, 3, 0.0, 0.5, 1.0, np.float32(0.5), np.int64(2), True):
        prune._validate_pruning_amount_init(amount)
    prune._validate_pruning_amount(3, 3)
    prune._validate_pruning_amount(0.9, 3)
    prune._validate_structured_pruning(t)
    prune._validate_pruning_dim(t, 2)
    prune._validate_pruning_dim(t, -5)  # too negative a dim is only caught later, as in PyTorch
    assert prune._compute_nparams_toprune(np.int64(4), 10) == 4
    assert prune._compute_nparams_toprune(0.45, 10) == 4 and prune._compute_nparams_toprune(0.55, 10) == 6


# ------------------------------------------------------------------ iterative pruning
def test_iterative_unstructured_keeps_earlier_zeros_and_prunes_among_the_rest() -> None:
    m = nn.Linear(10, 10)
    prune.random_unstructured(m, "weight", amount=30)
    first = _np(m.weight_mask).copy()
    prune.l1_unstructured(m, "weight", amount=0.5)  # half of the 70 entries left
    second = _np(m.weight_mask)
    assert (second[first == 0] == 0).all()
    assert (second == 0).sum() == 30 + 35
    # The 35 newly pruned are the smallest magnitudes among the entries the first pruning left.
    w = np.abs(_np(m.weight_orig))
    remaining = w[first == 1]
    newly = w[(first == 1) & (second == 0)]
    assert newly.max() <= np.sort(remaining)[34]
    hooks = [h for h in m._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer) and len(hooks[0]) == 2
    # A third pruning is appended to the same container.
    prune.random_unstructured(m, "weight", amount=5)
    assert len(hooks[0]) == 3 and list(m._forward_pre_hooks.values()) == [hooks[0]]
    assert (_np(m.weight_mask) == 0).sum() == 70
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight_orig"]
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_mask"]


def test_iterative_l1_scores_the_pruned_weight_not_the_original() -> None:
    m = _linear(W34)
    prune.custom_from_mask(m, "weight", mask=tapegrad.tensor([[1, 1, 0, 0]] * 3))  # the 2 big columns go
    prune.l1_unstructured(m, "weight", amount=2)
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=np.float32)  # 0.05 and -0.1 pruned
    np.testing.assert_array_equal(_np(m.weight_mask), expected)


def test_iterative_structured_prunes_among_the_slices_left() -> None:
    conv = nn.Conv2d(2, 6, 3)
    prune.ln_structured(conv, "weight", amount=2, n=2, dim=0)
    first = _zeros_per_slice(_np(conv.weight_mask), 0)
    prune.ln_structured(conv, "weight", amount=0.5, n=1, dim=0)  # half of the 4 channels left
    second = _zeros_per_slice(_np(conv.weight_mask), 0)
    assert first.count(True) == 2 and second.count(True) == 4
    assert all(s for f, s in zip(first, second) if f)
    prune.random_structured(conv, "weight", amount=2, dim=0)
    assert all(_zeros_per_slice(_np(conv.weight_mask), 0))


def test_structured_after_unstructured_keeps_both() -> None:
    m = _linear(W34)
    prune.l1_unstructured(m, "weight", amount=1)  # -0.02 at (2, 3)
    prune.random_structured(m, "weight", amount=1, dim=0)
    mask = _np(m.weight_mask)
    assert mask[2, 3] == 0
    full_rows = [bool((mask[i] == 0).all()) for i in range(3)]
    assert full_rows.count(True) == 1
    # The rows not pruned keep the earlier unstructured mask.
    for i in range(3):
        if not full_rows[i]:
            assert (mask[i] == 0).sum() == (1 if i == 2 else 0)


def test_structured_container_skips_slices_already_zero() -> None:
    m = _linear(W34)
    prune.custom_from_mask(m, "weight", mask=tapegrad.tensor([[1, 0, 1, 1]] * 3))
    # 3 columns are left: amount=1.0 prunes all 3 of them, amount=4 would be too many.
    with pytest.raises(ValueError, match="amount=4 should be smaller than the number of parameters to prune=3"):
        prune.ln_structured(m, "weight", amount=4, n=1, dim=1)


# ------------------------------------------------------------------ remove and is_pruned
def test_remove_makes_the_pruning_permanent() -> None:
    m = _linear(W34)
    prune.l1_unstructured(m, "weight", amount=3)
    prune.random_unstructured(m, "weight", amount=2)
    orig = m.weight_orig
    with tapegrad.no_grad():
        m.weight_orig.add_(1.0)  # trained since the last forward: remove uses the current values
    mask = _np(m.weight_mask).copy()
    assert prune.remove(m, "weight") is m
    assert isinstance(m.weight, nn.Parameter) and m.weight is orig and m.weight.requires_grad
    np.testing.assert_allclose(_np(m.weight), (np.array(W34) + 1.0) * mask, rtol=1e-6)
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight"]
    assert list(m.named_buffers()) == [] and not m._forward_pre_hooks
    assert "weight" not in m.__dict__
    assert list(m.state_dict()) == ["bias", "weight"]
    assert not prune.is_pruned(m)
    # Pruning again starts afresh.
    prune.l1_unstructured(m, "weight", amount=8)
    assert isinstance(list(m._forward_pre_hooks.values())[0], prune.L1Unstructured)
    assert (_np(m.weight_mask) == 0).sum() == 8


def test_remove_keeps_other_hooks_and_other_pruned_parameters() -> None:
    m = _linear(W34)
    calls = []
    m.register_forward_pre_hook(lambda mod, args: calls.append(1))
    prune.l1_unstructured(m, "weight", amount=3)
    prune.l1_unstructured(m, "bias", amount=1)
    prune.remove(m, "weight")
    assert [n for n, _ in m.named_parameters()] == ["bias_orig", "weight"]
    assert [n for n, _ in m.named_buffers()] == ["bias_mask"]
    assert len(m._forward_pre_hooks) == 2 and prune.is_pruned(m)
    m(tapegrad.ones(1, 4))
    assert calls == [1]
    with pytest.raises(ValueError, match="Parameter 'weight' of module Linear"):
        prune.remove(m, "weight")


def test_remove_of_an_unpruned_parameter_raises() -> None:
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError) as info:
        prune.remove(m, "weight")
    assert str(info.value) == ("Parameter 'weight' of module Linear(in_features=3, out_features=2, bias=True) "
                               "has to be pruned before pruning can be removed")


def test_is_pruned_looks_through_submodules() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
    assert not prune.is_pruned(net)
    net[0].register_forward_pre_hook(lambda mod, args: None)
    assert not prune.is_pruned(net)
    prune.identity(net[1][1], "bias")
    assert prune.is_pruned(net) and prune.is_pruned(net[1]) and not prune.is_pruned(net[0])
    prune.remove(net[1][1], "bias")
    assert not prune.is_pruned(net)


def test_state_dict_round_trip_and_deepcopy() -> None:
    a = nn.Linear(4, 3)
    prune.random_unstructured(a, "weight", amount=5)
    b = prune.identity(nn.Linear(4, 3), "weight")
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(_np(b.weight_mask), _np(a.weight_mask))
    x = tapegrad.ones(2, 4)
    np.testing.assert_allclose(_np(b(x)), _np(a(x)), rtol=1e-6)
    # As in PyTorch, the attribute ``weight`` computed with grad enabled is not a leaf and cannot be deep-copied;
    # pruned under no_grad, the module can.
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(a)
    with tapegrad.no_grad():
        a(x)
    c = copy.deepcopy(a)
    hook = list(c._forward_pre_hooks.values())[0]
    assert isinstance(hook, prune.RandomUnstructured) and hook is not list(a._forward_pre_hooks.values())[0]
    np.testing.assert_allclose(_np(c(x)), _np(a(x)), rtol=1e-6)
    prune.remove(c, "weight")
    assert prune.is_pruned(a) and not prune.is_pruned(c)


# ------------------------------------------------------------------ global_unstructured
def test_global_unstructured_prunes_the_smallest_across_modules() -> None:
    tapegrad.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    params = [(net[0], "weight"), (net[2], "weight"), (net[2], "bias")]
    values = np.concatenate([_np(getattr(mod, name)).ravel() for mod, name in params])
    assert prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=12) is None
    masks = np.concatenate([_np(getattr(mod, name + "_mask")).ravel() for mod, name in params])
    assert (masks == 0).sum() == 12
    np.testing.assert_array_equal(masks, np.abs(values) > np.sort(np.abs(values))[11])
    for mod, name in params:
        hooks = list(mod._forward_pre_hooks.values())
        assert any(isinstance(h, prune.CustomFromMask) and h._tensor_name == name for h in hooks)
    assert list(net.state_dict()) == ["0.bias", "0.weight_orig", "0.weight_mask", "2.weight_orig", "2.bias_orig",
                                      "2.weight_mask", "2.bias_mask"]


def test_global_unstructured_respects_earlier_masks_and_importance_scores() -> None:
    a, b = _linear(W34), _linear([[1.0, 2.0], [3.0, 4.0]])
    prune.custom_from_mask(a, "weight", tapegrad.tensor([[0, 1, 1, 1]] * 3))  # 0.5, 0.05, -2.5 gone
    scores = {(b, "weight"): tapegrad.tensor([[0.0, 0.01], [9.0, 9.0]])}
    prune.global_unstructured([(a, "weight"), (b, "weight")], prune.L1Unstructured, importance_scores=scores,
                              amount=0.25)  # a quarter of the 13 left: 3
    np.testing.assert_array_equal(_np(b.weight_mask), [[0, 0], [1, 1]])
    expected_a = np.array([[0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 0]], dtype=np.float32)  # -0.02 is the third
    np.testing.assert_array_equal(_np(a.weight_mask), expected_a)
    assert isinstance(list(a._forward_pre_hooks.values())[0], prune.PruningContainer)


def test_global_unstructured_random_counts() -> None:
    mods = [nn.Linear(4, 4), nn.Linear(4, 2)]
    prune.global_unstructured([(m, "weight") for m in mods], prune.RandomUnstructured, amount=0.5)
    assert sum(int((m.weight_mask == 0).sum()) for m in mods) == 12


def test_global_unstructured_errors() -> None:
    m = nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"^global_unstructured\(\): parameters is not an Iterable$"):
        prune.global_unstructured(5, prune.L1Unstructured, amount=1)
    with pytest.raises(TypeError, match=r"^global_unstructured\(\): importance_scores must be of type dict$"):
        prune.global_unstructured([(m, "weight")], prune.L1Unstructured, importance_scores=[1], amount=1)
    with pytest.raises(TypeError) as info:
        prune.global_unstructured([(m, "weight")], prune.RandomStructured, amount=1)
    assert str(info.value) == ('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                               "<class 'tapegrad.nn.utils.prune.RandomStructured'> of type structured")
    with pytest.raises(ValueError, match="amount=7 should be smaller than the number of parameters to prune=6"):
        prune.global_unstructured([(m, "weight")], prune.L1Unstructured, amount=7)
    assert not prune.is_pruned(m)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("amount, error, message", [
    ("0.5", TypeError, "Invalid type for amount: 0.5. Must be int or float."),
    (None, TypeError, "Invalid type for amount: None. Must be int or float."),
    (-1, ValueError, "amount=-1 should either be a float in the range [0, 1] or a non-negative integer"),
    (1.5, ValueError, "amount=1.5 should either be a float in the range [0, 1] or a non-negative integer"),
    (-0.1, ValueError, "amount=-0.1 should either be a float in the range [0, 1] or a non-negative integer"),
])
def test_invalid_amounts(amount: Any, error: type, message: str) -> None:
    for cls, args in ((prune.RandomUnstructured, ()), (prune.L1Unstructured, ()), (prune.RandomStructured, ()),
                      (prune.LnStructured, (2,))):
        with pytest.raises(error) as info:
            cls(amount, *args)
        assert str(info.value) == message
    m = nn.Linear(3, 2)
    with pytest.raises(error):
        prune.l1_unstructured(m, "weight", amount=amount)
    # Nothing happened to the module: the method failed before any reparametrization.
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"] and not prune.is_pruned(m)


def test_a_failed_first_pruning_is_rolled_back() -> None:
    m = nn.Linear(3, 2)
    weight = m.weight
    with pytest.raises(ValueError) as info:
        prune.random_unstructured(m, "weight", amount=7)
    assert str(info.value) == "amount=7 should be smaller than the number of parameters to prune=6"
    assert m.weight is weight and [n for n, _ in m.named_parameters()] == ["bias", "weight"]
    assert list(m.named_buffers()) == [] and not prune.is_pruned(m)
    with pytest.raises(ValueError) as info:
        prune.random_structured(m, "bias", amount=1, dim=0)
    assert str(info.value) == ("Structured pruning can only be applied to multidimensional tensors. "
                               "Found tensor of shape tapegrad.Size([2]) with 1 dims")
    with pytest.raises(IndexError) as info:
        prune.ln_structured(m, "weight", amount=1, n=2, dim=2)
    assert str(info.value) == "Invalid index 2 for tensor of size tapegrad.Size([2, 3])"
    with pytest.raises(ValueError, match="amount=4 should be smaller than the number of parameters to prune=3"):
        prune.random_structured(m, "weight", amount=4, dim=1)
    assert isinstance(m.weight, nn.Parameter) and not prune.is_pruned(m)


def test_importance_scores_of_the_wrong_shape() -> None:
    m = nn.Linear(3, 2)
    with pytest.raises(AssertionError) as info:
        prune.l1_unstructured(m, "weight", amount=1, importance_scores=tapegrad.ones(3, 2))
    assert str(info.value) == ("importance_scores should have the same shape as parameter weight of "
                               "Linear(in_features=3, out_features=2, bias=True), got tapegrad.Size([3, 2]) "
                               "vs tapegrad.Size([2, 3])")
    with pytest.raises(AssertionError, match=r"importance_scores should have the same shape as tensor t, got "):
        prune.L1Unstructured(1).prune(tapegrad.ones(2), importance_scores=tapegrad.ones(3))
    with pytest.raises(AssertionError, match=r"default_mask shape tapegrad.Size\(\[2\]\) must match self.mask shape"):
        prune.custom_from_mask(m, "bias", mask=tapegrad.ones(3))


def test_container_errors() -> None:
    l1 = prune.L1Unstructured(1)
    l1._tensor_name = "weight"
    container = prune.PruningContainer(l1)
    assert container._tensor_name == "weight" and list(container) == [l1]
    with pytest.raises(TypeError, match=r"^<class 'int'> is not a BasePruningMethod subclass$"):
        container.add_pruning_method(3)
    other = prune.RandomUnstructured(1)
    other._tensor_name = "bias"
    with pytest.raises(ValueError, match=r"^Can only add pruning methods acting on the parameter named 'weight' to "
                                         r"PruningContainer <tapegrad\.nn\.utils\.prune\.PruningContainer object at "
                                         r"0x[0-9a-f]+>\. Found 'bias'$"):
        container.add_pruning_method(other)
    empty = prune.PruningContainer()
    assert len(empty) == 0
    with pytest.raises(AttributeError):  # no tensor named yet
        empty.add_pruning_method(l1)

    class NoDim(prune.BasePruningMethod):
        PRUNING_TYPE = "structured"

        def compute_mask(self, t: Any, default_mask: Any) -> Any:
            return default_mask

    class Odd(NoDim):
        PRUNING_TYPE = "diagonal"

    for cls, error, message in ((NoDim, AttributeError, 'Pruning methods of PRUNING_TYPE "structured" need to have '
                                                        "the attribute `dim` defined."),
                                (Odd, ValueError, "Unrecognized PRUNING_TYPE diagonal")):
        method = cls()
        method._tensor_name = "weight"
        container.add_pruning_method(method)
        with pytest.raises(error) as info:
            container.compute_mask(tapegrad.ones(2, 2), tapegrad.ones(2, 2))
        assert str(info.value) == message
    with pytest.raises(TypeError):
        prune.BasePruningMethod()  # abstract


def test_a_custom_method_through_apply() -> None:
    class KeepDiagonal(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def __init__(self, scale: float) -> None:
            self.scale = scale

        def compute_mask(self, t: Any, default_mask: Any) -> Any:
            return default_mask * tapegrad.eye(*t.shape) * self.scale

    m = nn.Linear(3, 3)
    method = KeepDiagonal.apply(m, "weight", 1.0)
    assert method.scale == 1.0 and method._tensor_name == "weight"
    np.testing.assert_array_equal(_np(m.weight_mask), np.eye(3))
    assert prune.is_pruned(m)


def test_apply_mask_and_remove_need_a_tensor_name() -> None:
    method = prune.L1Unstructured(1)
    method._tensor_name = None  # type: ignore[assignment]
    m = nn.Linear(2, 2)
    with pytest.raises(AssertionError, match=r"^Module Linear\(in_features=2, out_features=2, bias=True\) has to be "
                                             r"pruned$"):
        method.apply_mask(m)
    with pytest.raises(AssertionError, match="has to be pruned before pruning can be removed"):
        method.remove(m)


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(prune, extraglobs={"tapegrad": tapegrad, "nn": nn, "prune": prune})
    assert result.attempted and not result.failed


def test_public_names() -> None:
    import tapegrad.nn.utils as utils

    for name in prune.__all__:
        assert hasattr(prune, name)
    assert utils.prune is prune  # importing the submodule makes it an attribute, as for torch


# ------------------------------------------------------------------ against PyTorch
def _torch() -> Any:
    return pytest.importorskip("torch")


def _tprune() -> Any:
    _torch()
    import torch.nn.utils.prune as torch_prune

    return torch_prune


def _pair(make: Callable[[Any], Any], seed: int = 0) -> tuple[Any, Any]:
    """``make(lib)`` in both libraries, PyTorch's given tapegrad's parameter values."""
    torch = _torch()
    tapegrad.manual_seed(seed)
    ours = make(tapegrad)
    theirs = make(torch)
    with torch.no_grad():
        for (name, p), (name2, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == name2
            q.copy_(torch.from_numpy(_np(p).copy()))
    return ours, theirs


def _same(ours: Any, theirs: Any) -> None:
    """The same parameters, buffers, state dict keys, pruned attributes and pruning hooks."""
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        if key.endswith("_mask"):
            np.testing.assert_array_equal(_np(ours_state[key]), value.numpy(), err_msg=key)
            assert str(ours_state[key].dtype).split(".")[1] == str(value.dtype).split(".")[1]
        else:
            np.testing.assert_allclose(_np(ours_state[key]), value.numpy(), rtol=1e-6, err_msg=key)
    for (prefix, mod), (_, tmod) in zip(ours.named_modules(), theirs.named_modules()):
        hooks = [h for h in mod._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
        thooks = [h for h in tmod._forward_pre_hooks.values() if isinstance(h, _tprune().BasePruningMethod)]
        assert [type(h).__name__ for h in hooks] == [type(h).__name__ for h in thooks]
        for hook, thook in zip(hooks, thooks):
            assert hook._tensor_name == thook._tensor_name
            name = hook._tensor_name
            np.testing.assert_allclose(_np(getattr(mod, name)), getattr(tmod, name).detach().numpy(), rtol=1e-6,
                                       err_msg=f"{prefix}.{name}")
            if isinstance(hook, prune.PruningContainer):
                assert [type(h).__name__ for h in hook] == [type(h).__name__ for h in thook]


def _make_linear(lib: Any) -> Any:
    return lib.nn.Linear(7, 6)


def _make_conv(lib: Any) -> Any:
    return lib.nn.Conv2d(3, 5, (3, 2))


def _both(fn: Callable[[Any, Any], Any], ours: Any, theirs: Any, seed: int) -> None:
    """``fn(prune_module, module)`` in each library after ``manual_seed(seed)``."""
    torch = _torch()
    tapegrad.manual_seed(seed)
    fn(prune, ours)
    torch.manual_seed(seed)
    fn(_tprune(), theirs)


STEPS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("identity", lambda P, m: P.identity(m, "weight")),
    ("random_unstructured_int", lambda P, m: P.random_unstructured(m, "weight", amount=9)),
    ("random_unstructured_float", lambda P, m: P.random_unstructured(m, "weight", amount=0.37)),
    ("random_unstructured_zero", lambda P, m: P.random_unstructured(m, "weight", amount=0)),
    ("l1_unstructured", lambda P, m: P.l1_unstructured(m, "weight", amount=0.3)),
    ("l1_unstructured_bias", lambda P, m: P.l1_unstructured(m, "bias", amount=2)),
    ("random_structured_dim0", lambda P, m: P.random_structured(m, "weight", amount=2, dim=0)),
    ("random_structured_dim1", lambda P, m: P.random_structured(m, "weight", amount=0.5, dim=1)),
    ("random_structured_last", lambda P, m: P.random_structured(m, "weight", amount=1, dim=-1)),
    ("ln_structured_l2", lambda P, m: P.ln_structured(m, "weight", amount=2, n=2, dim=0)),
    ("ln_structured_l1", lambda P, m: P.ln_structured(m, "weight", amount=0.4, n=1, dim=1)),
    ("ln_structured_inf", lambda P, m: P.ln_structured(m, "weight", amount=1, n=float("inf"), dim=-1)),
    ("ln_structured_neg_inf", lambda P, m: P.ln_structured(m, "weight", amount=0.5, n=float("-inf"), dim=0)),
    ("custom_from_mask", lambda P, m: P.custom_from_mask(m, "bias", mask=(m.bias > 0))),
    ("method_apply", lambda P, m: P.RandomUnstructured.apply(m, "weight", amount=4)),
]


@pytest.mark.torch
@pytest.mark.parametrize("make", [_make_linear, _make_conv], ids=["linear", "conv2d"])
@pytest.mark.parametrize("name, step", STEPS, ids=[s[0] for s in STEPS])
def test_each_method_matches_torch(make: Callable[[Any], Any], name: str, step: Callable[[Any, Any], Any]) -> None:
    for seed in (0, 5):
        ours, theirs = _pair(make, seed=seed + 100)
        _both(step, ours, theirs, seed)
        _same(ours, theirs)


@pytest.mark.torch
@pytest.mark.parametrize("make", [_make_linear, _make_conv], ids=["linear", "conv2d"])
def test_importance_scores_match_torch(make: Callable[[Any], Any]) -> None:
    torch = _torch()
    ours, theirs = _pair(make, seed=8)
    scores = np.random.default_rng(0).standard_normal(tuple(ours.weight.shape)).astype(np.float32)
    prune.l1_unstructured(ours, "weight", amount=0.4, importance_scores=tapegrad.tensor(scores))
    _tprune().l1_unstructured(theirs, "weight", amount=0.4, importance_scores=torch.tensor(scores))
    prune.ln_structured(ours, "weight", amount=1, n=2, dim=0, importance_scores=tapegrad.tensor(scores))
    _tprune().ln_structured(theirs, "weight", amount=1, n=2, dim=0, importance_scores=torch.tensor(scores))
    _same(ours, theirs)


SEQUENCES: list[tuple[str, list[Callable[[Any, Any], Any]]]] = [
    ("unstructured", [lambda P, m: P.random_unstructured(m, "weight", amount=0.3),
                      lambda P, m: P.l1_unstructured(m, "weight", amount=5),
                      lambda P, m: P.random_unstructured(m, "weight", amount=0.25)]),
    ("structured", [lambda P, m: P.random_structured(m, "weight", amount=1, dim=0),
                    lambda P, m: P.ln_structured(m, "weight", amount=0.5, n=2, dim=0),
                    lambda P, m: P.random_structured(m, "weight", amount=1, dim=0)]),
    ("mixed", [lambda P, m: P.l1_unstructured(m, "weight", amount=0.2),
               lambda P, m: P.random_structured(m, "weight", amount=1, dim=1),
               lambda P, m: P.ln_structured(m, "weight", amount=0.34, n=1, dim=0),
               lambda P, m: P.random_unstructured(m, "weight", amount=3),
               lambda P, m: P.custom_from_mask(m, "weight", mask=m.weight_orig > 0),
               lambda P, m: P.identity(m, "weight"),
               lambda P, m: P.random_unstructured(m, "bias", amount=0.5),
               lambda P, m: P.l1_unstructured(m, "bias", amount=1)]),
]


@pytest.mark.torch
@pytest.mark.parametrize("make", [_make_linear, _make_conv], ids=["linear", "conv2d"])
@pytest.mark.parametrize("name, steps", SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_iterative_pruning_matches_torch(make: Callable[[Any], Any], name: str,
                                         steps: list[Callable[[Any, Any], Any]]) -> None:
    torch = _torch()
    ours, theirs = _pair(make, seed=21)
    # One seed for the whole sequence: each step's draws must also leave the generators aligned.
    tapegrad.manual_seed(4)
    torch.manual_seed(4)
    for step in steps:
        step(prune, ours)
        step(_tprune(), theirs)
        _same(ours, theirs)
    tapegrad_next, torch_next = tapegrad.rand(3), torch.rand(3)
    np.testing.assert_array_equal(_np(tapegrad_next), torch_next.numpy())


@pytest.mark.torch
def test_global_unstructured_matches_torch() -> None:
    torch = _torch()

    def make(lib: Any) -> Any:
        return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 2), lib.nn.Flatten(), lib.nn.Linear(12, 4), lib.nn.Linear(4, 2))

    ours, theirs = _pair(make, seed=2)

    def params(net: Any) -> list[tuple[Any, str]]:
        return [(net[0], "weight"), (net[2], "weight"), (net[2], "bias"), (net[3], "weight")]

    # An earlier pruning of one of them, then global L1 by count, global random by fraction, and with scores.
    _both(lambda P, m: P.random_unstructured(m[2], "weight", amount=0.2), ours, theirs, 1)
    _both(lambda P, m: P.global_unstructured(params(m), P.L1Unstructured, amount=20), ours, theirs, 2)
    _same(ours, theirs)
    _both(lambda P, m: P.global_unstructured(params(m), pruning_method=P.RandomUnstructured, amount=0.3), ours,
          theirs, 3)
    _same(ours, theirs)
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((4, 12)).astype(np.float32)
    prune.global_unstructured(params(ours), prune.L1Unstructured, importance_scores={
        (ours[2], "weight"): tapegrad.tensor(scores)}, amount=6)
    _tprune().global_unstructured(params(theirs), _tprune().L1Unstructured, importance_scores={
        (theirs[2], "weight"): torch.tensor(scores)}, amount=6)
    _same(ours, theirs)


@pytest.mark.torch
@pytest.mark.parametrize("make", [_make_linear, _make_conv], ids=["linear", "conv2d"])
def test_forward_gradients_and_remove_match_torch(make: Callable[[Any], Any]) -> None:
    torch = _torch()
    ours, theirs = _pair(make, seed=6)
    _both(lambda P, m: P.random_unstructured(m, "weight", amount=0.4), ours, theirs, 9)
    _both(lambda P, m: P.ln_structured(m, "weight", amount=1, n=2, dim=0), ours, theirs, 9)
    shape = (2, 7) if isinstance(ours, nn.Linear) else (2, 3, 6, 5)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    out, tout = ours(tapegrad.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(_np(out), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    tgrads = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(_np(param.grad), tgrads[name].grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    prune.remove(ours, "weight")
    _tprune().remove(theirs, "weight")
    _same(ours, theirs)
    assert prune.is_pruned(ours) == _tprune().is_pruned(theirs) is False


def _module_for(lib: Any) -> Any:
    lib.manual_seed(0)
    return lib.nn.Linear(3, 2)


def _pruned_for(lib: Any) -> Any:
    m = _module_for(lib)
    _P(lib).custom_from_mask(m, "weight", mask=lib.tensor([[1, 0, 1], [1, 1, 1]]))
    return m


def _P(lib: Any) -> Any:
    if lib is tapegrad:
        return prune
    return _tprune()


ERRORS: list[tuple[str, Callable[[Any], Any]]] = [
    ("amount_type", lambda L: _P(L).random_unstructured(_module_for(L), "weight", amount="0.2")),
    ("amount_negative", lambda L: _P(L).l1_unstructured(_module_for(L), "weight", amount=-2)),
    ("amount_above_one", lambda L: _P(L).ln_structured(_module_for(L), "weight", amount=1.01, n=2, dim=0)),
    ("amount_too_large", lambda L: _P(L).l1_unstructured(_module_for(L), "weight", amount=7)),
    ("amount_too_large_iterative", lambda L: _P(L).l1_unstructured(_pruned_for(L), "weight", amount=6)),
    ("structured_amount_too_large", lambda L: _P(L).random_structured(_module_for(L), "weight", amount=3, dim=0)),
    ("structured_1d", lambda L: _P(L).random_structured(_module_for(L), "bias", amount=1, dim=0)),
    ("structured_dim", lambda L: _P(L).ln_structured(_module_for(L), "weight", amount=1, n=1, dim=2)),
    ("structured_negative_dim", lambda L: _P(L).ln_structured(_pruned_for(L), "weight", amount=1, n=1, dim=-3)),
    ("importance_shape", lambda L: _P(L).l1_unstructured(_module_for(L), "weight", amount=1,
                                                         importance_scores=L.ones(3, 2))),
    ("prune_importance_shape", lambda L: _P(L).L1Unstructured(1).prune(L.ones(2), importance_scores=L.ones(1))),
    ("custom_mask_shape", lambda L: _P(L).custom_from_mask(_module_for(L), "weight", mask=L.ones(3, 2))),
    ("remove_unpruned", lambda L: _P(L).remove(_module_for(L), "bias")),
    ("remove_other_name", lambda L: _P(L).remove(_pruned_for(L), "bias")),
    ("global_not_iterable", lambda L: _P(L).global_unstructured(3, _P(L).L1Unstructured, amount=1)),
    ("global_scores_type", lambda L: _P(L).global_unstructured([(_module_for(L), "weight")], _P(L).L1Unstructured,
                                                               importance_scores=(), amount=1)),
    ("global_too_many", lambda L: _P(L).global_unstructured([(_module_for(L), "weight")], _P(L).L1Unstructured,
                                                            amount=8)),
    ("container_type", lambda L: _P(L).PruningContainer(_P(L).Identity(), 3)),
    ("abstract", lambda L: _P(L).BasePruningMethod()),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, call", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name: str, call: Callable[[Any], Any]) -> None:
    raises_as_torch(call)


@pytest.mark.torch
def test_global_structured_error_matches_torch() -> None:
    torch = _torch()
    messages = []
    for lib, P in ((tapegrad, prune), (torch, _tprune())):
        with pytest.raises(TypeError) as info:
            P.global_unstructured([(_module_for(lib), "weight")], P.LnStructured, amount=1, n=2)
        messages.append(str(info.value))
    assert messages[0] == messages[1].replace("torch.", "tapegrad.")


@pytest.mark.torch
def test_failed_pruning_leaves_the_module_as_torch_does() -> None:
    ours, theirs = _pair(_make_linear, seed=3)
    for P, m in ((prune, ours), (_tprune(), theirs)):
        with pytest.raises(ValueError):
            P.random_structured(m, "weight", amount=8, dim=0)
    _same(ours, theirs)
    assert [n for n, _ in ours.named_parameters()] == ["bias", "weight"]
