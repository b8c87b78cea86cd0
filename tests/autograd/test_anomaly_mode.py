"""Anomaly detection: NaN gradients and failing gradient functions are reported with the step's
name and the forward call that recorded it, as PyTorch reports them."""
from __future__ import annotations

import doctest
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import tapegrad
from tapegrad.autograd import anomaly_mode


def nan_in_div(m: Any) -> Any:
    x = m.tensor([0.0, 1.0], requires_grad=True)
    return (x / x).sum()  # d(x/y)/dy = -x / y^2 is 0/0 at 0


def nan_in_log_chain(m: Any) -> Any:
    x = m.tensor([0.0, 2.0], requires_grad=True)
    return (x.log() * 0.0).sum()  # 0 * (1 / 0) in log's gradient: an elementwise chain


def nan_in_sqrt_of_matmul(m: Any) -> Any:
    a = m.tensor([[1.0, -1.0], [2.0, 3.0]], requires_grad=True)
    return ((a @ a.mT).sqrt() * 0.0).sum()


CASES: dict[str, Callable[[Any], Any]] = {"div": nan_in_div, "log chain": nan_in_log_chain,
                                          "sqrt of matmul": nan_in_sqrt_of_matmul}


def error_of(m: Any, make: Callable[[Any], Any]) -> tuple[str, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with m.autograd.detect_anomaly():
            loss = make(m)
            with pytest.raises(RuntimeError) as error:
                loss.backward()
    return str(error.value), [str(w.message) for w in caught]


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_nan_gradients_are_reported_as_in_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    message, shown = error_of(tapegrad, CASES[name])
    expected_message, expected_shown = error_of(torch, CASES[name])
    assert message == expected_message
    assert shown[0] == expected_shown[0]  # the "has been enabled" warning
    step = expected_message.split("'")[1]
    detected = [text for text in shown if text.startswith(f"Error detected in {step}.")]
    assert len(detected) == 1
    # The forward call is shown: this test module's line that recorded the step.
    assert "test_anomaly_mode.py" in detected[0] and "tapegrad/" not in detected[0].split("error:")[1]


def test_without_anomaly_mode_nan_gradients_pass_silently() -> None:
    loss = nan_in_log_chain(tapegrad)
    loss.backward()
    assert not tapegrad.is_anomaly_enabled()


def test_check_nan_off_lets_nan_through_and_set_detect_anomaly_restores() -> None:
    assert not tapegrad.is_anomaly_enabled() and tapegrad.is_anomaly_check_nan_enabled()
    with tapegrad.autograd.set_detect_anomaly(True, check_nan=False):
        assert tapegrad.is_anomaly_enabled() and not tapegrad.is_anomaly_check_nan_enabled()
        x = tapegrad.tensor([0.0, 1.0], requires_grad=True)
        (x / x).sum().backward()
        assert x.grad.isnan().any().item()
    assert not tapegrad.is_anomaly_enabled() and tapegrad.is_anomaly_check_nan_enabled()
    tapegrad.autograd.set_detect_anomaly(True)  # a plain call sets it until changed
    try:
        assert tapegrad.is_anomaly_enabled()
    finally:
        tapegrad.autograd.set_detect_anomaly(False)
    assert not tapegrad.is_anomaly_enabled()


def test_decorator_form_and_autograd_grad() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @tapegrad.autograd.detect_anomaly()
        def gradient() -> Any:
            x = tapegrad.tensor([0.0, 4.0], requires_grad=True)
            return tapegrad.autograd.grad((x.sqrt() * 0.0).sum(), x)

        with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values in its 0th output."):
            gradient()
    assert not tapegrad.is_anomaly_enabled()


def test_other_backward_errors_show_the_forward_call_too() -> None:
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tapegrad.autograd.detect_anomaly():
            loss = (x.exp() * 2.0).sum()
            loss.backward()
            with pytest.raises(RuntimeError, match="backward through the graph a second time"):
                loss.backward()
    assert any(str(w.message).startswith("Error detected in") and "loss = (x.exp()" in str(w.message) for w in caught)


def test_step_recorded_before_anomaly_mode_has_no_forward_stack() -> None:
    x = tapegrad.tensor([0.0, 1.0], requires_grad=True)
    loss = (x / x).sum()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tapegrad.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="returned nan values"):
            loss.backward()
    assert any("No forward pass information available" in str(w.message) for w in caught)


def test_docstring_example() -> None:
    result = doctest.testmod(anomaly_mode, extraglobs={"tapegrad": tapegrad, "warnings": warnings})
    assert result.attempted and not result.failed
