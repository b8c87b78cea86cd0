"""Convolution, pooling and normalisation on CUDA tensors against the CPU backend: values,
dtypes, grad_fn names and gradients (``backends/cuda_conv.py``, ``backends/cuda_norm.py``).

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); the simulator runs every thread
in Python, so the tensors are tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_conv_norm.py -q
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values  # noqa: E402

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad
from tapegrad import nn
from tapegrad.nn import functional as F

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]
ids = {"ids": lambda d: np.dtype(d).name}


# ------------------------------------------------------------------------ convolution

CONV_CASES = {
    "plain": ((2, 2, 4, 4), (3, 2, 2, 2), True, {}),
    "stride_pad_groups": ((1, 4, 5, 5), (4, 2, 3, 3), True, {"stride": 2, "padding": 1, "groups": 2}),
    "dilation_same_nobias": ((1, 1, 5, 4), (2, 1, 2, 3), False, {"dilation": (2, 1), "padding": "same"}),
    "unbatched_asymmetric": ((2, 4, 3), (1, 2, 3, 1), True, {"stride": (1, 2), "padding": (1, 0)}),
}


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_matches_cpu(case: str, dtype: Any) -> None:
    x_shape, w_shape, with_bias, kwargs = CONV_CASES[case]
    arrays = [values(x_shape, dtype, seed=1), values(w_shape, dtype, seed=2)]
    if with_bias:
        arrays.append(values((w_shape[0],), dtype, seed=3))
    run_both(lambda x, w, *b: F.conv2d(x, w, b[0] if b else None, **kwargs), arrays)


def test_conv2d_double_backward_matches_cpu() -> None:
    # create_graph: the conv VJPs are recorded ops (ConvolutionBackwardBackward0) on the device too.
    def second_order(x: tapegrad.Tensor, w: tapegrad.Tensor) -> tapegrad.Tensor:
        y = F.conv2d(x, w, padding=1)
        gx, gw = tapegrad.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()

    run_both(second_order, [values((1, 2, 3, 3), seed=4), values((2, 2, 2, 2), seed=5)])


ONE_DIM_AND_TRANSPOSED = {
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, groups=2), [(2, 4, 6), (4, 2, 3), (4,)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                         [(1, 2, 3, 3), (2, 3, 2, 2), (3,)]),
    "conv_transpose1d": (lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, groups=2),
                         [(2, 4, 3), (4, 1, 2), (2,)]),
    "pools1d": (lambda x, w, b: (F.max_pool1d(x, 3, 2, 1).sum(-1) + F.avg_pool1d(x, 2).sum(-1)
                                 + F.adaptive_avg_pool1d(x, 2).sum(-1)) * b[:2].sum(), [(2, 4, 6), (1,), (4,)]),
    "interpolate2d": (lambda x, w, b: (F.interpolate(x, scale_factor=1.5, mode="bilinear").sum((2, 3))
                                       + F.interpolate(x, size=(2, 5), mode="nearest").square().sum((2, 3))
                                       + F.interpolate(x, scale_factor=0.7, mode="nearest-exact").sum((2, 3))) * b,
                      [(1, 2, 3, 4), (1,), (2,)]),
    "interpolate_bicubic_antialias": (lambda x, w, b: (
        F.interpolate(x, size=(4, 3), mode="bicubic").square().sum((2, 3))
        + F.interpolate(x, size=(2, 2), mode="bilinear", antialias=True).sum((2, 3))) * b, [(1, 2, 3, 5), (1,), (2,)]),
    "interpolate1d3d": (lambda x, w, b: F.interpolate(x, size=(2, 3, 3), mode="trilinear", align_corners=True).sum()
                        + F.interpolate(x[0, 0], scale_factor=2.5, mode="linear").square().sum() * b,
                        [(1, 2, 2, 2, 3), (1,), (1,)]),
}


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("case", list(ONE_DIM_AND_TRANSPOSED))
def test_one_dim_and_transposed_convolutions_and_pools_match_cpu(case: str, dtype: Any) -> None:
    fn, shapes = ONE_DIM_AND_TRANSPOSED[case]
    run_both(fn, [values(shape, dtype, seed=k + 1) for k, shape in enumerate(shapes)])


def test_transposed_double_backward_matches_cpu() -> None:
    def second_order(x: tapegrad.Tensor, w: tapegrad.Tensor) -> tapegrad.Tensor:
        y = F.conv_transpose2d(x, w, stride=2)
        gx, gw = tapegrad.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()

    run_both(second_order, [values((1, 2, 2, 2), seed=4), values((2, 2, 2, 2), seed=5)])


def test_conv2d_mixed_devices_raise_as_pytorch() -> None:
    x = tapegrad.tensor(values((1, 1, 3, 3)), device="cuda")
    w = tapegrad.tensor(values((1, 1, 2, 2)))
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, w)


def test_conv2d_bad_shapes_raise_as_on_cpu() -> None:
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(values((1, 3, 4, 4)), device=device)
        w = tapegrad.tensor(values((2, 2, 2, 2)), device=device)
        with pytest.raises(RuntimeError, match="expected input\\[1, 3, 4, 4\\] to have 2 channels"):
            F.conv2d(x, w)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes_match_cpu(mode: str) -> None:
    # Padding by index maps: gathered forward, its adjoint gathered back per input element.
    # The second-order term runs the adjoint's own VJP (the gather again) on the device.
    def padded_conv(x: tapegrad.Tensor, w: tapegrad.Tensor) -> tapegrad.Tensor:
        conv = nn.Conv2d(2, 2, 3, padding=(2, 1), padding_mode=mode, bias=False).to(x.device)
        conv.weight = nn.Parameter(w)
        y = conv(x)
        (gx,) = tapegrad.autograd.grad((y * y).sum(), (x,), create_graph=True)
        return y.sum() + (gx * gx).sum()

    run_both(padded_conv, [values((1, 2, 3, 4), seed=6), values((2, 2, 3, 3), seed=7)])


# ------------------------------------------------------------------------ pooling

POOL_CASES = {
    "overlapping": {"kernel_size": 2, "stride": 1},
    "padded_ceil": {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    "dilated": {"kernel_size": (2, 2), "stride": 1, "dilation": 2},
}


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool2d_matches_cpu(case: str, dtype: Any) -> None:
    run_both(lambda x: F.max_pool2d(x, **POOL_CASES[case]), [values((1, 2, 5, 5), dtype, seed=6)])


def test_max_pool2d_indices_ties_and_nan_match_cpu() -> None:
    x = np.array([[[1.0, 1.0, 0.0], [np.nan, 2.0, 2.0], [3.0, 3.0, -np.inf]]], np.float32)
    results = [F.max_pool2d(tapegrad.tensor(x, device=d), 2, 1, return_indices=True) for d in ("cpu", "cuda")]
    assert_close(results[1][0], results[0][0])
    assert_close(results[1][1], results[0][1])


def test_max_pool2d_double_backward_matches_cpu() -> None:
    def second_order(x: tapegrad.Tensor) -> tapegrad.Tensor:
        (gx,) = tapegrad.autograd.grad((F.max_pool2d(x, 2, 1) ** 2).sum(), (x,), create_graph=True)
        return (gx * x).sum()

    run_both(second_order, [values((1, 1, 4, 4), seed=7)])


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_avg_pool2d_matches_cpu(dtype: Any) -> None:
    x = values((1, 2, 5, 4), dtype, seed=8)
    run_both(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    run_both(lambda t: F.avg_pool2d(t, 2, 1, divisor_override=3), [x])


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_adaptive_avg_pool2d_matches_cpu(dtype: Any) -> None:
    x = values((1, 2, 5, 4), dtype, seed=9)
    run_both(lambda t: F.adaptive_avg_pool2d(t, (3, 3)), [x])
    run_both(lambda t: F.adaptive_avg_pool2d(t, 1), [x])  # the mean (MeanBackward1)


def test_pooling_bad_input_raises_as_on_cpu() -> None:
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(values((1, 2, 2)), device=device)
        with pytest.raises(RuntimeError, match="Output size is too small"):
            F.max_pool2d(x, 3)
        with pytest.raises(RuntimeError, match="pad should be at most half"):
            F.avg_pool2d(x, 2, padding=2)


# ------------------------------------------------------------------------ normalisation

@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_cpu(affine: bool, dtype: Any) -> None:
    arrays = [values((2, 3, 4), dtype, seed=10)]
    if affine:
        arrays += [values((3, 4), dtype, seed=11), values((3, 4), dtype, seed=12)]
    run_both(lambda x, *p: F.layer_norm(x, (3, 4), *p), arrays)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
@pytest.mark.parametrize("shape", [(3, 2, 2, 3), (4, 3)], ids=str)
def test_batch_norm_training_matches_cpu(shape: tuple[int, ...], dtype: Any) -> None:
    channels = shape[1]
    running = {}
    for device in ("cpu", "cuda"):
        running[device] = (tapegrad.tensor(values((channels,), dtype, seed=13), device=device),
                           tapegrad.tensor(values((channels,), dtype, 0.5, 2.0, seed=14), device=device))
    calls = iter(("cpu", "cuda"))

    def normalise(x: tapegrad.Tensor, w: tapegrad.Tensor, b: tapegrad.Tensor) -> tapegrad.Tensor:
        mean, var = running[next(calls)]
        return F.batch_norm(x, mean, var, w, b, training=True, momentum=0.2)

    run_both(normalise, [values(shape, dtype, seed=15), values((channels,), dtype, seed=16),
                         values((channels,), dtype, seed=17)])
    for cpu_buffer, cuda_buffer in zip(running["cpu"], running["cuda"]):
        assert_close(cuda_buffer, cpu_buffer)


@pytest.mark.parametrize("dtype", DTYPES, **ids)
def test_batch_norm_eval_matches_cpu(dtype: Any) -> None:
    def normalise(x: tapegrad.Tensor, w: tapegrad.Tensor, mean: tapegrad.Tensor,
                  var: tapegrad.Tensor) -> tapegrad.Tensor:
        return F.batch_norm(x, mean.detach(), var.detach(), w, None, training=False)

    run_both(normalise, [values((2, 3, 2, 2), dtype, seed=18), values((3,), dtype, seed=19),
                         values((3,), dtype, seed=20), values((3,), dtype, 0.5, 2.0, seed=21)])


@pytest.mark.parametrize("training", [True, False])
def test_norm_double_backward_matches_cpu(training: bool) -> None:
    # create_graph: the normalisation VJPs are rebuilt from tapegrad ops on the device.
    def second_order(x: tapegrad.Tensor, w: tapegrad.Tensor) -> tapegrad.Tensor:
        mean = tapegrad.zeros(3, dtype=x.dtype, device=x.device)
        var = tapegrad.ones(3, dtype=x.dtype, device=x.device)
        y = F.batch_norm(x, mean, var, w, None, training=training) + F.layer_norm(x, (2,), None, None)
        gx, gw = tapegrad.autograd.grad((y * y * y).sum(), (x, w), create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum()

    run_both(second_order, [values((2, 3, 2), seed=22), values((3,), seed=23)])


def test_norm_bad_input_raises_as_on_cpu() -> None:
    for device in ("cpu", "cuda"):
        x = tapegrad.tensor(values((2, 3)), device=device)
        with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 2"):
            F.batch_norm(x, tapegrad.zeros(2, device=device), tapegrad.ones(2, device=device))
        with pytest.raises(RuntimeError, match="expected input with shape"):
            F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match="same device"):
        F.layer_norm(tapegrad.tensor(values((2, 3)), device="cuda"), (3,), tapegrad.ones(3, dtype=tapegrad.float64))


# ------------------------------------------------------------------------ modules

def _cnn(seed: int) -> nn.Module:
    tapegrad.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.LayerNorm(8), nn.Linear(8, 3))


def test_cnn_training_step_matches_cpu() -> None:
    x = values((2, 1, 4, 4), np.float32, seed=24)
    target = np.array([0, 2])
    results = {}
    for device in ("cpu", "cuda"):
        model = _cnn(0).to(device)
        optimizer = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss = F.cross_entropy(model(tapegrad.tensor(x, device=device)), tapegrad.tensor(target, device=device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.eval()
        results[device] = (loss, model(tapegrad.tensor(x, device=device)), list(model.state_dict().values()))
    (cpu_loss, cpu_eval, cpu_state), (cuda_loss, cuda_eval, cuda_state) = results["cpu"], results["cuda"]
    assert_close(cuda_loss, cpu_loss)
    assert_close(cuda_eval, cpu_eval)
    assert len(cpu_state) == len(cuda_state)
    for cuda_value, cpu_value in zip(cuda_state, cpu_state):
        assert cuda_value.device.type == "cuda"
        assert_close(cuda_value, cpu_value)
