"""Conv1d/2d, ConvTranspose1d/2d and the 1-d and 2-d poolings: PyTorch's initialisation after
the same seed, reprs, argument checks, padding modes, and small models against PyTorch."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad import nn
from tapegrad.autograd import gradcheck

REPRS = [
    (lambda m: m.Conv2d(1, 16, 3, padding=1), "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"),
    (lambda m: m.Conv2d(1, 16, 3), "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1))"),
    (lambda m: m.Conv2d(2, 4, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=2, bias=False,
                        padding_mode="reflect"),
     ("Conv2d(2, 4, kernel_size=(3, 5), stride=(2, 2), padding=(1, 2), dilation=(2, 2), groups=2, bias=False, "
      "padding_mode=reflect)")),
    (lambda m: m.Conv2d(2, 4, 3, padding="same"), "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=same)"),
    (lambda m: m.Conv2d(2, 4, 3, padding="valid"), "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=valid)"),
    (lambda m: m.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),
     "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode=circular)"),
    (lambda m: m.MaxPool2d(2), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"),
    (lambda m: m.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True, return_indices=True),
     "MaxPool2d(kernel_size=(2, 3), stride=1, padding=1, dilation=2, ceil_mode=True)"),
    (lambda m: m.AvgPool2d(2), "AvgPool2d(kernel_size=2, stride=2, padding=0)"),
    (lambda m: m.AvgPool2d((2, 3), stride=(1, 2), padding=1, ceil_mode=True, count_include_pad=False,
                           divisor_override=3),
     "AvgPool2d(kernel_size=(2, 3), stride=(1, 2), padding=1)"),
    (lambda m: m.AdaptiveAvgPool2d((2, 3)), "AdaptiveAvgPool2d(output_size=(2, 3))"),
    (lambda m: m.AdaptiveAvgPool2d((None, 2)), "AdaptiveAvgPool2d(output_size=(None, 2))"),
    (lambda m: m.Conv1d(4, 8, 3, stride=2), "Conv1d(4, 8, kernel_size=(3,), stride=(2,))"),
    (lambda m: m.Conv1d(4, 8, 3, padding=1, padding_mode="reflect", groups=4, bias=False),
     "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=(1,), groups=4, bias=False, padding_mode=reflect)"),
    (lambda m: m.ConvTranspose2d(16, 8, 2, stride=2), "ConvTranspose2d(16, 8, kernel_size=(2, 2), stride=(2, 2))"),
    (lambda m: m.ConvTranspose2d(4, 6, (2, 3), stride=2, padding=1, output_padding=1, groups=2, dilation=2),
     ("ConvTranspose2d(4, 6, kernel_size=(2, 3), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
      "output_padding=(1, 1), groups=2)")),
    (lambda m: m.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1),
     "ConvTranspose1d(4, 2, kernel_size=(3,), stride=(2,), output_padding=(1,))"),
    (lambda m: m.MaxPool1d(3, 2), "MaxPool1d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)"),
    (lambda m: m.AvgPool1d(3), "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"),
    (lambda m: m.AdaptiveAvgPool1d(4), "AdaptiveAvgPool1d(output_size=4)"),
]


@pytest.mark.parametrize("make, expected", REPRS)
def test_repr(make: Any, expected: str) -> None:
    assert repr(make(nn)) == expected


@pytest.mark.parametrize("make, expected", REPRS)
def test_repr_matches_torch(make: Any, expected: str) -> None:
    torch = pytest.importorskip("torch")
    assert repr(make(nn)) == repr(make(torch.nn))


CONV_CONFIGS = [
    ((1, 16, 3), dict(padding=1)),
    ((4, 6, (3, 5)), dict(groups=2, bias=False)),
    ((3, 5, 2), dict(stride=2, dilation=(1, 2))),
    ((7, 3, 1), dict()),
]


@pytest.mark.parametrize("args, kw", CONV_CONFIGS)
@pytest.mark.parametrize("seed", [0, 1234])
def test_init_matches_torch_after_the_same_seed(args: tuple, kw: dict, seed: int) -> None:
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(seed)
    ours = nn.Conv2d(*args, **kw)
    after_ours = tapegrad.rand(3)
    torch.manual_seed(seed)
    theirs = torch.nn.Conv2d(*args, **kw)
    after_theirs = torch.rand(3)
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    if theirs.bias is None:
        assert ours.bias is None
    else:
        np.testing.assert_array_equal(ours.bias.detach().numpy(), theirs.bias.detach().numpy())
    # The generator advanced by exactly as many draws as PyTorch's.
    np.testing.assert_array_equal(after_ours.numpy(), after_theirs.numpy())


def test_init_float64_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(7)
    ours = nn.Conv2d(3, 4, 3, dtype=tapegrad.float64)
    torch.manual_seed(7)
    theirs = torch.nn.Conv2d(3, 4, 3, dtype=torch.float64)
    assert ours.weight.dtype == tapegrad.float64
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias.detach().numpy(), theirs.bias.detach().numpy())


def test_conv2d_parameters_and_bounds() -> None:
    conv = nn.Conv2d(4, 6, (3, 2), groups=2)
    names = [name for name, _ in conv.named_parameters()]
    assert names == ["weight", "bias"]
    assert tuple(conv.weight.shape) == (6, 2, 3, 2) and conv.weight.requires_grad
    bound = 1 / np.sqrt(2 * 3 * 2)
    assert np.abs(conv.weight.detach().numpy()).max() <= bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound
    assert [name for name, _ in nn.Conv2d(1, 1, 1, bias=False).named_parameters()] == ["weight"]


def test_conv2d_argument_errors() -> None:
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError) as info:
        nn.Conv2d(4, 4, 3, padding_mode="mirror")
    assert "padding_mode must be one of" in str(info.value) and "padding_mode='mirror'" in str(info.value)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(4, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv2d(4, 4, 3, padding="full")


def test_conv2d_module_is_the_functional_conv() -> None:
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1)
    x = tapegrad.randn(2, 2, 5, 5)
    expected = nn.functional.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)
    np.testing.assert_array_equal(conv(x).detach().numpy(), expected.detach().numpy())
    assert conv(x).grad_fn.name() == "ConvolutionBackward0"


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_gradcheck(mode: str) -> None:
    conv = nn.Conv2d(2, 2, (3, 2), padding=(1, 2), padding_mode=mode, dtype=tapegrad.float64)
    x = tapegrad.randn(1, 2, 4, 3, dtype=tapegrad.float64, requires_grad=True)
    assert gradcheck(lambda x, w: conv._conv_forward(x, w, conv.bias), (x, conv.weight))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [(1, 2), "same"])
def test_padding_modes_match_torch(mode: str, padding: Any) -> None:
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(3)
    ours = nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode)
    torch.manual_seed(3)
    theirs = torch.nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6)).astype(np.float32)
    mine_x, their_x = tapegrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mine, expected = ours(mine_x), theirs(their_x)
    np.testing.assert_allclose(mine.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    (mine * mine).sum().backward()
    (expected * expected).sum().backward()
    np.testing.assert_allclose(mine_x.grad.numpy(), their_x.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_padding_mode_size_errors() -> None:
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        nn.Conv2d(1, 1, 1, padding=3, padding_mode="reflect")(tapegrad.randn(1, 1, 3, 3))
    with pytest.raises(RuntimeError, match="Padding value causes wrapping around more than once"):
        nn.Conv2d(1, 1, 1, padding=4, padding_mode="circular")(tapegrad.randn(1, 1, 3, 3))


def test_pool_modules() -> None:
    x = tapegrad.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy(), [[[[5, 7], [13, 15]]]])
    _, indices = nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(indices.numpy(), [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(nn.AvgPool2d(2, divisor_override=2)(x).numpy(), [[[[5, 9], [21, 25]]]])
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d(1)(x).numpy(), [[[[7.5]]]])
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d((2, None))(x).numpy(), [[[[2, 3, 4, 5], [10, 11, 12, 13]]]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_cnn_matches_torch(dtype: str) -> None:
    """The example trainer's network, Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2) ->
    flatten -> Linear(256, 10), on 8x8 images: same init, outputs and gradients as PyTorch."""
    torch = pytest.importorskip("torch")

    def build(lib: Any, dtype: Any) -> tuple:
        return (lib.nn.Conv2d(1, 16, 3, padding=1, dtype=dtype), lib.nn.MaxPool2d(2),
                lib.nn.Linear(256, 10, dtype=dtype))

    def run(lib: Any, layers: tuple, x: Any, target: Any) -> Any:
        conv, pool, linear = layers
        hidden = pool(lib.nn.functional.relu(conv(x)))
        logits = linear(hidden.reshape(hidden.shape[0], -1))
        loss = lib.nn.functional.cross_entropy(logits, target)
        loss.backward()
        return loss

    tapegrad.manual_seed(0)
    ours = build(tapegrad, getattr(tapegrad, dtype))
    torch.manual_seed(0)
    theirs = build(torch, getattr(torch, dtype))
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 8, 8)).astype(dtype)
    target = rng.integers(0, 10, 64)
    loss = run(tapegrad, ours, tapegrad.tensor(x), tapegrad.tensor(target))
    expected = run(torch, theirs, torch.tensor(x), torch.tensor(target))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(loss.item(), expected.item(), **tol)
    for mine, reference in zip(ours, theirs):
        for p, q in zip(mine.parameters(), reference.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **tol)


OTHER_CONVS = [
    ("Conv1d", (4, 6, 3), dict(padding=2, padding_mode="circular", groups=2)),
    ("ConvTranspose2d", (4, 6, (2, 3)), dict(stride=2, groups=2)),
    ("ConvTranspose1d", (3, 5, 4), dict(bias=False, dilation=2)),
]


@pytest.mark.parametrize("name, args, kw", OTHER_CONVS, ids=[c[0] for c in OTHER_CONVS])
def test_other_convolutions_initialise_and_compute_as_torch(name: str, args: tuple, kw: dict) -> None:
    torch = pytest.importorskip("torch")
    tapegrad.manual_seed(5)
    ours = getattr(nn, name)(*args, **kw)
    torch.manual_seed(5)
    theirs = getattr(torch.nn, name)(*args, **kw)
    for mine, reference in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(mine.detach().numpy(), reference.detach().numpy())
    shape = (2, args[0], 7) if name.endswith("1d") else (2, args[0], 5, 4)
    data = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    out, expected = ours(tapegrad.tensor(data)), theirs(torch.tensor(data))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.square().sum().backward()
    expected.square().sum().backward()
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_transposed_output_size_picks_the_output_padding() -> None:
    up = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = tapegrad.randn(1, 2, 5, 5)
    assert tuple(up(x).shape) == (1, 3, 9, 9)
    assert tuple(up(x, output_size=(10, 10)).shape) == (1, 3, 10, 10)
    assert tuple(up(x, output_size=[1, 3, 10, 9]).shape) == (1, 3, 10, 9)
    with pytest.raises(ValueError, match=r"requested an output size of \[11, 11\], but valid sizes range from "
                                         r"\[9, 9\] to \[10, 10\]"):
        up(x, output_size=(11, 11))
    with pytest.raises(ValueError, match="ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements"):
        up(x, output_size=(10,))
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose1d'):
        nn.ConvTranspose1d(2, 3, 3, padding_mode="reflect")
    assert tuple(nn.ConvTranspose2d(2, 3, 3).weight.shape) == (2, 3, 3, 3)


def test_one_dim_pools_are_their_functional_forms() -> None:
    x = tapegrad.randn(2, 3, 9)
    values, indices = nn.MaxPool1d(3, 2, return_indices=True)(x)
    np.testing.assert_array_equal(values.numpy(), nn.functional.max_pool1d(x, 3, 2).numpy())
    assert tuple(indices.shape) == (2, 3, 4)
    np.testing.assert_array_equal(nn.AvgPool1d(2, count_include_pad=False, padding=1)(x).numpy(),
                                  nn.functional.avg_pool1d(x, 2, padding=1, count_include_pad=False).numpy())
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(3)(x).numpy(), x.reshape(2, 3, 3, 3).mean(-1).numpy(), rtol=1e-6)
