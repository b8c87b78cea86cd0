"""``Tensor.register_post_accumulate_grad_hook`` and ``is_inference_mode_enabled``."""
from __future__ import annotations

import pytest

import tapegrad


def test_the_hook_sees_the_accumulated_gradient_after_each_backward() -> None:
    w = tapegrad.ones(3, requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.clone()))
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    assert [g.tolist() for g in seen] == [[2.0] * 3, [5.0] * 3]
    handle.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2


def test_an_optimizer_step_in_the_hook() -> None:
    """The use PyTorch documents: each parameter is updated as soon as its gradient is ready."""
    w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    optimizer = tapegrad.optim.SGD([w], lr=0.5)

    def step(param: tapegrad.Tensor) -> None:
        optimizer.step()
        optimizer.zero_grad()

    w.register_post_accumulate_grad_hook(step)
    (w * w).sum().backward()
    assert w.tolist() == [0.0, 0.0] and w.grad is None


def test_not_on_non_leaves_or_tensors_without_grad() -> None:
    with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf tensors"):
        (tapegrad.ones(2, requires_grad=True) * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        tapegrad.ones(2).register_post_accumulate_grad_hook(print)


@pytest.mark.torch
def test_hook_order_and_values_match_torch() -> None:
    torch = pytest.importorskip("torch")
    logs = []
    for lib in (tapegrad, torch):
        log: list = []
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0], requires_grad=True)
        a.register_hook(lambda g, log=log: log.append(("pre", g.tolist())))
        a.register_post_accumulate_grad_hook(lambda t, log=log: log.append(("post", t.grad.tolist())))
        for _ in range(2):
            (a * b).sum().backward()
        logs.append(log)
    assert logs[0] == logs[1]


def test_inference_mode_is_reported() -> None:
    assert not tapegrad.is_inference_mode_enabled()
    with tapegrad.inference_mode():
        assert tapegrad.is_inference_mode_enabled() and not tapegrad.is_grad_enabled()
        with tapegrad.inference_mode(False):
            assert not tapegrad.is_inference_mode_enabled() and tapegrad.is_grad_enabled()
        assert tapegrad.is_inference_mode_enabled()
    assert not tapegrad.is_inference_mode_enabled() and tapegrad.is_grad_enabled()

    @tapegrad.inference_mode()
    def probe() -> tuple[bool, bool]:
        return tapegrad.is_inference_mode_enabled(), tapegrad.is_grad_enabled()

    assert probe() == (True, False) and probe() == (True, False)
    assert not tapegrad.is_inference_mode_enabled()
