"""Grad modes: no_grad, enable_grad, set_grad_enabled, is_grad_enabled; thread-locality."""
from __future__ import annotations

import threading

import pytest

import tapegrad
from autograd_helpers import libraries


@pytest.fixture(autouse=True)
def _restore_grad_mode():
    yield
    tapegrad.set_grad_enabled(True)


def _leaf():
    return tapegrad.tensor([1.0, 2.0], requires_grad=True)


def test_grad_enabled_by_default():
    assert tapegrad.is_grad_enabled()
    assert tapegrad.autograd.is_grad_enabled()


def test_no_grad_context_manager():
    x = _leaf()
    with tapegrad.no_grad():
        assert not tapegrad.is_grad_enabled()
        y = x * 2
    assert tapegrad.is_grad_enabled()
    assert not y.requires_grad
    assert y.grad_fn is None
    assert y.is_leaf


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ValueError):
        with tapegrad.no_grad():
            raise ValueError("boom")
    assert tapegrad.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = _leaf()
    with tapegrad.no_grad():
        with tapegrad.enable_grad():
            assert tapegrad.is_grad_enabled()
            y = x * 2
        assert not tapegrad.is_grad_enabled()
        z = x * 2
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad


def test_nested_no_grad_restores_each_level():
    with tapegrad.no_grad():
        with tapegrad.no_grad():
            assert not tapegrad.is_grad_enabled()
        assert not tapegrad.is_grad_enabled()
    assert tapegrad.is_grad_enabled()


def test_same_no_grad_instance_reentered():
    guard = tapegrad.no_grad()
    with guard:
        with tapegrad.enable_grad():
            with guard:
                assert not tapegrad.is_grad_enabled()
            assert tapegrad.is_grad_enabled()
        assert not tapegrad.is_grad_enabled()
    assert tapegrad.is_grad_enabled()


def test_set_grad_enabled_as_a_call():
    x = _leaf()
    tapegrad.set_grad_enabled(False)
    try:
        assert not tapegrad.is_grad_enabled()
        assert not (x * 2).requires_grad
    finally:
        tapegrad.set_grad_enabled(True)
    assert tapegrad.is_grad_enabled()
    assert (x * 2).requires_grad


def test_set_grad_enabled_as_context_manager():
    x = _leaf()
    with tapegrad.set_grad_enabled(False):
        assert not tapegrad.is_grad_enabled()
        y = x * 2
    assert tapegrad.is_grad_enabled()
    assert not y.requires_grad


def test_set_grad_enabled_true_inside_no_grad_restores_no_grad():
    with tapegrad.no_grad():
        with tapegrad.set_grad_enabled(True):
            assert tapegrad.is_grad_enabled()
        assert not tapegrad.is_grad_enabled()
    assert tapegrad.is_grad_enabled()


def test_set_grad_enabled_matches_torch():
    for lib in libraries():
        with lib.set_grad_enabled(False):
            inner = lib.is_grad_enabled()
        assert inner is False
        assert lib.is_grad_enabled() is True


def test_no_grad_as_decorator():
    x = _leaf()

    @tapegrad.no_grad()
    def double(t):
        assert not tapegrad.is_grad_enabled()
        return t * 2

    y = double(x)
    assert not y.requires_grad
    assert tapegrad.is_grad_enabled()
    assert double.__name__ == "double"


def test_enable_grad_as_decorator():
    x = _leaf()

    @tapegrad.enable_grad()
    def double(t):
        return t * 2

    with tapegrad.no_grad():
        y = double(x)
        assert not tapegrad.is_grad_enabled()
    assert y.requires_grad


def test_set_grad_enabled_as_decorator():
    x = _leaf()

    @tapegrad.set_grad_enabled(False)
    def double(t):
        return t * 2

    # As a decorator it only wraps (PyTorch undoes the mode its construction set).
    assert tapegrad.is_grad_enabled()
    y = double(x)
    assert not y.requires_grad
    assert tapegrad.is_grad_enabled()


def _decorated_results(lib):
    """What the grad-mode decorators do, written once for tapegrad and PyTorch."""
    x = lib.ones(2, requires_grad=True)
    seen = []

    @lib.no_grad
    def plain(t):
        return t * 2

    @lib.enable_grad
    def enabled(t):
        return t * 2

    @lib.inference_mode
    def inferred(t):
        return t * 2

    seen.append(plain(x).requires_grad)
    with lib.no_grad():
        seen.append(enabled(x).requires_grad)
    seen.append(inferred(x).requires_grad)
    seen.append(plain.__name__)

    @lib.no_grad()
    def steps():
        yield lib.is_grad_enabled()
        yield (x * 2).requires_grad

    generator = steps()
    seen.append(next(generator))
    seen.append(lib.is_grad_enabled())  # between steps: the caller's mode
    seen.append(next(generator))

    @lib.set_grad_enabled(False)
    def off_steps():
        yield lib.is_grad_enabled()

    seen.append(list(off_steps()))
    seen.append(lib.is_grad_enabled())
    return seen


def test_decorators_without_parentheses_and_of_generators():
    results = [_decorated_results(lib) for lib in libraries()]
    assert results[0] == [False, True, False, "plain", False, True, False, [False], True]
    assert all(r == results[0] for r in results)


def test_generator_closed_early_restores_the_mode():
    @tapegrad.no_grad()
    def steps():
        try:
            yield 1
            yield 2
        finally:
            assert not tapegrad.is_grad_enabled()

    generator = steps()
    next(generator)
    generator.close()
    assert tapegrad.is_grad_enabled()


def test_decorator_restores_mode_after_exception():
    @tapegrad.no_grad()
    def fail():
        raise KeyError("x")

    with pytest.raises(KeyError):
        fail()
    assert tapegrad.is_grad_enabled()


def test_thread_started_inside_no_grad_has_grad_enabled():
    seen = {}

    def worker():
        seen["enabled"] = tapegrad.is_grad_enabled()
        x = _leaf()
        seen["requires_grad"] = (x * 2).requires_grad

    with tapegrad.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert not tapegrad.is_grad_enabled()
    assert seen == {"enabled": True, "requires_grad": True}


def test_no_grad_in_a_thread_does_not_affect_main_thread():
    ready, release = threading.Event(), threading.Event()

    def worker():
        with tapegrad.no_grad():
            ready.set()
            release.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert ready.wait(5)
        assert tapegrad.is_grad_enabled()
        assert (_leaf() * 2).requires_grad
    finally:
        release.set()
        thread.join()


def test_inplace_on_leaf_allowed_under_no_grad():
    x = _leaf()
    with tapegrad.no_grad():
        x.mul_(3)
    assert x.is_leaf and x.requires_grad
    assert x.tolist() == [3.0, 6.0]


def test_backward_inside_no_grad_still_computes_gradients():
    for lib in libraries():
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        with lib.no_grad():
            y.backward()
        assert x.grad.tolist() == [2.0, 4.0]
