"""Dropout, Embedding, LayerNorm and BatchNorm: functional ops and modules.

Gradients are checked against finite differences in float64 (first and second order); where
PyTorch is installed, outputs, gradients, running statistics, grad_fn names, initialisation
and reprs are compared with it in float32 and float64.
"""
from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F
from tapegrad import nn
from tapegrad.autograd import grad, gradcheck, gradgradcheck

DTYPES = ("float32", "float64")
TOLERANCE = {"float32": {"rtol": 2e-5, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def _array(t) -> np.ndarray:
    return np.array(t.detach().numpy())


def _leaf(data: np.ndarray, requires_grad: bool = True) -> tapegrad.Tensor:
    return tapegrad.tensor(data, requires_grad=requires_grad)


def _data(shape, seed: int = 0, dtype: str = "float64", offset: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) + offset).astype(dtype)


def _torch():
    return pytest.importorskip("torch")


def _torch_leaf(torch, data: np.ndarray, requires_grad: bool = True):
    return torch.tensor(data, requires_grad=requires_grad)


def _close(ours, theirs, dtype: str = "float64", scale: float = 1.0) -> None:
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(_array(ours), theirs.detach().numpy() if hasattr(theirs, "detach") else theirs,
                               rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


# ==================================================================== dropout

def test_dropout_zeroes_about_p_and_scales_the_rest():
    tapegrad.manual_seed(1)
    x = tapegrad.ones(4000, dtype=tapegrad.float64)
    y = _array(F.dropout(x, 0.3))
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.03
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-15)


def test_dropout_is_the_identity_in_eval_and_for_p_zero():
    x = tapegrad.randn(3, 4, requires_grad=True)
    assert F.dropout(x, 0.3, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.3, training=False, inplace=True) is x


def test_dropout_p_one_gives_zeros_and_zero_gradient():
    x = tapegrad.randn(3, 4, requires_grad=True)
    y = F.dropout(x, 1.0)
    assert y.grad_fn.name() == "MulBackward0"
    assert not _array(y).any()
    y.sum().backward()
    assert not _array(x.grad).any()


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_probabilities_outside_unit_interval(p):
    message = f"dropout probability has to be between 0 and 1, but got {p}"
    with pytest.raises(ValueError, match=message):
        F.dropout(tapegrad.ones(3), p)
    with pytest.raises(ValueError, match=message):
        nn.Dropout(p)


def test_dropout_of_integer_input_in_training_raises():
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        F.dropout(tapegrad.arange(5), 0.5)


def test_dropout_gradient_is_the_scaled_mask():
    x = tapegrad.randn(5, 6, dtype=tapegrad.float64, requires_grad=True)
    y = F.dropout(x, 0.4)
    assert y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    mask = _array(y) / _array(x)
    np.testing.assert_allclose(_array(x.grad), mask)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}


def test_dropout_gradcheck_with_a_fixed_mask():
    x = tapegrad.randn(3, 4, dtype=tapegrad.float64, requires_grad=True)

    def fixed_mask(t):
        tapegrad.manual_seed(7)
        return F.dropout(t, 0.5)

    assert gradcheck(fixed_mask, (x,))
    assert gradgradcheck(fixed_mask, (x,))


def test_dropout_inplace_updates_the_tensor_and_its_history():
    x = tapegrad.randn(4, 5, dtype=tapegrad.float64, requires_grad=True)
    z = x * 1
    version = z._version
    out = F.dropout(z, 0.5, inplace=True)
    assert out is z and z._version > version
    assert z.grad_fn.name() == "MulBackward0"
    z.sum().backward()
    np.testing.assert_allclose(_array(x.grad), _array(z) / _array(x))
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        F.dropout(x, 0.5, inplace=True)


def test_dropout_module_follows_train_and_eval():
    drop = nn.Dropout(0.5)
    assert repr(drop) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout(0.2, inplace=True)) == "Dropout(p=0.2, inplace=True)"
    x = tapegrad.ones(200)
    assert (_array(drop(x)) == 0).any()
    drop.eval()
    assert drop(x) is x


def _bernoulli_stream_matches(torch) -> bool:
    """Whether PyTorch's scalar-p bernoulli_ draws the stream tapegrad reproduces (it does not
    on Intel CPUs, where PyTorch's MKL build samples from a stream of its own)."""
    torch.manual_seed(3)
    theirs = torch.empty(100, dtype=torch.float64).bernoulli_(0.5).numpy()
    tapegrad.manual_seed(3)
    ours = tapegrad.random.default_generator.bernoulli(0.5, (100,), np.float64)
    return bool(np.array_equal(theirs, ours))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_mask_matches_torch_bitwise(dtype, layout, inplace):
    torch = _torch()
    if not _bernoulli_stream_matches(torch):
        pytest.skip("PyTorch's scalar bernoulli uses MKL's stream on this CPU")
    data = _data((6, 7), 1, dtype)
    ours, theirs = tapegrad.tensor(data), torch.tensor(data)
    if layout == "transposed":
        ours, theirs = ours.t(), theirs.t()
    tapegrad.manual_seed(11)
    torch.manual_seed(11)
    y_ours = F.dropout(ours, 0.35, inplace=inplace)
    y_theirs = torch.nn.functional.dropout(theirs, 0.35, inplace=inplace)
    np.testing.assert_array_equal(_array(y_ours), y_theirs.numpy())
    # The generators stay in step after the mask.
    np.testing.assert_array_equal(_array(tapegrad.rand(3)), torch.rand(3).numpy())


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_gradient_and_grad_fn_match_torch(dtype):
    torch = _torch()
    if not _bernoulli_stream_matches(torch):
        pytest.skip("PyTorch's scalar bernoulli uses MKL's stream on this CPU")
    data = _data((4, 5), 2, dtype)
    x, xt = _leaf(data), _torch_leaf(torch, data)
    tapegrad.manual_seed(5)
    torch.manual_seed(5)
    y, yt = F.dropout(x, 0.25), torch.nn.functional.dropout(xt, 0.25)
    assert y.grad_fn.name() == yt.grad_fn.name()
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    _close(x.grad, xt.grad, dtype)


# ==================================================================== embedding

def test_embedding_looks_up_rows():
    weight = _data((6, 3), 3)
    index = np.array([[0, 5, 2], [2, 2, 1]])
    out = F.embedding(tapegrad.tensor(index), tapegrad.tensor(weight))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(_array(out), weight[index])
    out32 = F.embedding(tapegrad.tensor(index, dtype=tapegrad.int32), tapegrad.tensor(weight))
    np.testing.assert_array_equal(_array(out32), weight[index])
    scalar = F.embedding(tapegrad.tensor(4), tapegrad.tensor(weight))
    np.testing.assert_array_equal(_array(scalar), weight[4])


def test_embedding_gradient_accumulates_repeats_and_skips_padding():
    weight = _leaf(_data((5, 2), 4))
    index = tapegrad.tensor([1, 3, 1, 0, 3, 3])
    out = F.embedding(index, weight, padding_idx=3)
    assert out.grad_fn.name() == "EmbeddingBackward0"
    upstream = _data((6, 2), 5)
    out.backward(tapegrad.tensor(upstream))
    expected = np.zeros((5, 2))
    for k, j in enumerate([1, 3, 1, 0, 3, 3]):
        if j != 3:
            expected[j] += upstream[k]
    np.testing.assert_allclose(_array(weight.grad), expected)


def test_embedding_negative_padding_idx_counts_from_the_end():
    weight = _leaf(_data((4, 2), 6))
    F.embedding(tapegrad.tensor([3, 0]), weight, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(_array(weight.grad), [[1, 1], [0, 0], [0, 0], [0, 0]])


def test_embedding_scale_grad_by_freq_divides_by_counts():
    weight = _leaf(_data((4, 2), 7))
    F.embedding(tapegrad.tensor([2, 2, 2, 1]), weight, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(_array(weight.grad), [[0, 0], [1, 1], [1, 1], [0, 0]])


def test_embedding_gradcheck_and_gradgradcheck():
    weight = _leaf(_data((5, 3), 8))
    index = tapegrad.tensor([[0, 4], [4, 2]])
    assert gradcheck(lambda w: F.embedding(index, w), (weight,))
    assert gradgradcheck(lambda w: F.embedding(index, w), (weight,))
    # The padding and frequency factors are part of the (linear) backward; its derivative is exact.
    assert gradgradcheck(lambda w: F.embedding(index, w, padding_idx=2, scale_grad_by_freq=True), (weight,))


def test_embedding_double_backward_grad_fn_and_values():
    weight = _leaf(_data((4, 2), 9))
    index = tapegrad.tensor([1, 1, 3])
    v = _leaf(_data((3, 2), 10))
    (g,) = grad(F.embedding(index, weight), weight, v, create_graph=True)
    assert g.grad_fn.name() == "EmbeddingDenseBackward0"
    (g * g).sum().backward()
    expected = 2 * _array(g)[[1, 1, 3]]
    np.testing.assert_allclose(_array(v.grad), expected)


def test_embedding_errors():
    weight = tapegrad.randn(5, 2)
    with pytest.raises(RuntimeError, match=r"'indices' to have one of the following scalar types: Long, Int; "
                                           r"but got tapegrad.FloatTensor instead"):
        F.embedding(tapegrad.tensor([1.0]), weight)
    for bad in (5, -1):
        with pytest.raises(IndexError, match=rf"index out of range in self: got index {bad}, but the weight has "
                                             r"5 rows"):
            F.embedding(tapegrad.tensor([0, bad]), weight)
    with pytest.raises(RuntimeError, match="'weight' must be 2-D"):
        F.embedding(tapegrad.tensor([1]), tapegrad.randn(5))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        F.embedding(tapegrad.tensor([1]), weight, padding_idx=5)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=-6)
    with pytest.raises(AssertionError, match="Shape of weight does not match num_embeddings and embedding_dim"):
        nn.Embedding(5, 2, _weight=tapegrad.randn(4, 2))
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(tapegrad.randn(4))


def test_embedding_sparse_gradients_are_refused_not_ignored():
    weight = tapegrad.randn(5, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="sparse=True"):
        F.embedding(tapegrad.tensor([1]), weight, sparse=True)
    with tapegrad.no_grad():
        assert F.embedding(tapegrad.tensor([1]), weight, sparse=True).shape == (1, 2)


def test_embedding_max_norm_renormalises_looked_up_rows_in_place():
    data = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    weight = tapegrad.tensor(data.copy())
    version = weight._version
    out = F.embedding(tapegrad.tensor([0, 1, 0]), weight, max_norm=1.0)
    assert weight._version > version
    expected = data.copy()
    expected[0] *= 1.0 / (5.0 + 1e-7)
    np.testing.assert_allclose(_array(weight), expected)  # row 2 was not looked up: unchanged
    np.testing.assert_allclose(_array(out), expected[[0, 1, 0]])


def test_embedding_module_init_padding_and_from_pretrained():
    table = nn.Embedding(6, 3, padding_idx=-2)
    assert table.padding_idx == 4
    assert not _array(table.weight)[4].any() and _array(table.weight)[0].any()
    assert table.weight.requires_grad
    assert repr(table) == "Embedding(6, 3, padding_idx=4)"
    table(tapegrad.tensor([4, 1])).sum().backward()
    assert not _array(table.weight.grad)[4].any()
    pretrained = tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    frozen = nn.Embedding.from_pretrained(pretrained)
    assert not frozen.weight.requires_grad
    assert frozen.weight._data is pretrained._data
    assert nn.Embedding.from_pretrained(pretrained, freeze=False).weight.requires_grad
    np.testing.assert_array_equal(_array(frozen(tapegrad.tensor([1, 0]))), [[3, 4], [1, 2]])
    assert repr(nn.Embedding(5, 3, padding_idx=0, max_norm=1.0, norm_type=3.0, scale_grad_by_freq=True,
                             sparse=True)) == \
        "Embedding(5, 3, padding_idx=0, max_norm=1.0, norm_type=3.0, scale_grad_by_freq=True, sparse=True)"
    assert nn.Embedding(3, 2, dtype=tapegrad.float64).weight.dtype is tapegrad.float64


@pytest.mark.torch
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_module_init_matches_torch(padding_idx):
    torch = _torch()
    for rows, width in ((4, 3), (10, 5)):  # below and above PyTorch's 16-value normal block
        tapegrad.manual_seed(21)
        torch.manual_seed(21)
        ours = nn.Embedding(rows, width, padding_idx=padding_idx)
        theirs = torch.nn.Embedding(rows, width, padding_idx=padding_idx)
        np.testing.assert_array_equal(_array(ours.weight), theirs.weight.detach().numpy())
        assert repr(ours) == repr(theirs)
        np.testing.assert_array_equal(_array(tapegrad.rand(2)), torch.rand(2).numpy())


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx, scale", [(None, False), (1, False), (None, True), (-1, True)])
def test_embedding_matches_torch(dtype, padding_idx, scale):
    torch = _torch()
    data = _data((5, 3), 12, dtype)
    index = np.array([[1, 4, 1], [0, 1, 3]])
    weight, weight_t = _leaf(data), _torch_leaf(torch, data)
    out = F.embedding(tapegrad.tensor(index), weight, padding_idx=padding_idx, scale_grad_by_freq=scale)
    out_t = torch.nn.functional.embedding(torch.tensor(index), weight_t, padding_idx=padding_idx,
                                          scale_grad_by_freq=scale)
    _close(out, out_t, dtype)
    assert out.grad_fn.name() == out_t.grad_fn.name()
    upstream = _data((2, 3, 3), 13, dtype)
    out.backward(tapegrad.tensor(upstream))
    out_t.backward(torch.tensor(upstream))
    _close(weight.grad, weight_t.grad, dtype)


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_embedding_max_norm_matches_torch(norm_type):
    torch = _torch()
    data = _data((5, 4), 14, "float64") * 2
    index = np.array([0, 3, 3, 4])
    weight, weight_t = tapegrad.tensor(data.copy()), torch.tensor(data.copy())
    out = F.embedding(tapegrad.tensor(index), weight, max_norm=1.5, norm_type=norm_type)
    out_t = torch.nn.functional.embedding(torch.tensor(index), weight_t, max_norm=1.5, norm_type=norm_type)
    _close(out, out_t)
    _close(weight, weight_t)


# ==================================================================== layer norm

@pytest.mark.parametrize("normalized_shape", [(4,), (3, 4)])
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_layer_norm_gradcheck(normalized_shape, affine):
    x = _leaf(_data((2, 3, 4), 20, offset=1.5))
    weight = _leaf(_data(normalized_shape, 21)) if affine in ("weight", "both") else None
    bias = _leaf(_data(normalized_shape, 22)) if affine in ("bias", "both") else None
    inputs = tuple(t for t in (x, weight, bias) if t is not None)

    def fn(*args):
        it = iter(args)
        xs = next(it)
        w = next(it) if weight is not None else None
        b = next(it) if bias is not None else None
        return F.layer_norm(xs, normalized_shape, w, b, eps=1e-3)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_layer_norm_normalises_rows():
    x = tapegrad.tensor(_data((3, 8), 23, offset=100.0).astype(np.float32))
    y = _array(F.layer_norm(x, (8,), eps=0.0))
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-4)
    assert F.layer_norm(x, 8).shape == (3, 8)  # an int normalized_shape is accepted


def test_layer_norm_of_non_contiguous_input():
    data = _data((5, 4), 24)
    x = _leaf(data)
    y = F.layer_norm(x.t(), (5,))
    expected = (data.T - data.T.mean(-1, keepdims=True)) / np.sqrt(data.T.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(_array(y), expected, rtol=1e-12)
    assert gradcheck(lambda t: F.layer_norm(t.t(), (5,)), (x,))


def test_layer_norm_graph_and_kernel_backward_agree():
    x = _leaf(_data((3, 6), 25))
    weight = _leaf(_data(6, 26))
    upstream = tapegrad.tensor(_data((3, 6), 27))
    fast = grad(F.layer_norm(x, (6,), weight), (x, weight), upstream)
    graph = grad(F.layer_norm(x, (6,), weight), (x, weight), upstream, create_graph=True)
    for a, b in zip(fast, graph):
        np.testing.assert_allclose(_array(a), _array(b), rtol=1e-12, atol=1e-12)
    assert graph[0].grad_fn is not None


def test_layer_norm_errors():
    x = tapegrad.randn(4, 5)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                                           r"but got input of size\[4, 5\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[2, 5\], expected input with shape "
                                           r"\[\*, 2, 5\], but got input of size\[4, 5\]"):
        F.layer_norm(x, (2, 5))
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, but got "
                                           r"weight of shape \[4\] and normalized_shape = \[5\]"):
        F.layer_norm(x, (5,), tapegrad.ones(4))
    with pytest.raises(RuntimeError, match=r"Expected bias to be of same shape"):
        F.layer_norm(x, (5,), None, tapegrad.ones(4))
    with pytest.raises(RuntimeError, match="Expected normalized_shape to be at least 1-dimensional"):
        F.layer_norm(x, ())
    with pytest.raises(NotImplementedError, match="\"LayerNormKernelImpl\" not implemented for 'Long'"):
        F.layer_norm(tapegrad.arange(5), (5,))
    with pytest.raises(RuntimeError, match="mixed dtype"):
        F.layer_norm(x, (5,), tapegrad.ones(5, dtype=tapegrad.float64))


def test_layer_norm_module_parameters_and_repr():
    norm = nn.LayerNorm((3, 4))
    assert repr(norm) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=True)"
    np.testing.assert_array_equal(_array(norm.weight), np.ones((3, 4)))
    np.testing.assert_array_equal(_array(norm.bias), np.zeros((3, 4)))
    assert [name for name, _ in norm.named_parameters()] == ["weight", "bias"]
    assert repr(nn.LayerNorm(3, elementwise_affine=False)) == \
        "LayerNorm((3,), eps=1e-05, elementwise_affine=False, bias=False)"
    no_bias = nn.LayerNorm(3, bias=False)
    assert no_bias.bias is None and repr(no_bias).endswith("bias=False)")
    assert nn.LayerNorm(2, dtype=tapegrad.float64).weight.dtype is tapegrad.float64


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_torch(dtype, affine):
    torch = _torch()
    data = _data((2, 3, 5), 28, dtype, offset=3.0)
    x, xt = _leaf(data), _torch_leaf(torch, data)
    params = [_data(5, 29, dtype), _data(5, 30, dtype)] if affine else [None, None]
    ours = [None if p is None else _leaf(p) for p in params]
    theirs = [None if p is None else _torch_leaf(torch, p) for p in params]
    y = F.layer_norm(x, (5,), *ours)
    yt = torch.nn.functional.layer_norm(xt, (5,), *theirs)
    assert y.grad_fn.name() == yt.grad_fn.name() == "NativeLayerNormBackward0"
    _close(y, yt, dtype, 5)
    upstream = _data((2, 3, 5), 31, dtype)
    y.backward(tapegrad.tensor(upstream))
    yt.backward(torch.tensor(upstream))
    _close(x.grad, xt.grad, dtype, 10)
    for p, pt in zip(ours, theirs):
        if p is not None:
            _close(p.grad, pt.grad, dtype, 10)


@pytest.mark.torch
def test_layer_norm_second_derivative_matches_torch():
    torch = _torch()
    data = _data((3, 4), 32)
    w_data = _data(4, 33)
    x, w = _leaf(data), _leaf(w_data)
    xt, wt = _torch_leaf(torch, data), _torch_leaf(torch, w_data)
    (g,) = grad((F.layer_norm(x, (4,), w) ** 3).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad((torch.nn.functional.layer_norm(xt, (4,), wt) ** 3).sum(), xt, create_graph=True)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    _close(x.grad, xt.grad)
    _close(w.grad, wt.grad)


@pytest.mark.torch
def test_layer_norm_module_matches_torch():
    torch = _torch()
    ours, theirs = nn.LayerNorm([2, 3], eps=1e-3), torch.nn.LayerNorm([2, 3], eps=1e-3)
    assert repr(ours) == repr(theirs)
    data = _data((4, 2, 3), 34, "float32")
    y, yt = ours(tapegrad.tensor(data)), theirs(torch.tensor(data))
    _close(y, yt, "float32", 5)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    _close(ours.weight.grad, theirs.weight.grad, "float32", 10)
    _close(ours.bias.grad, theirs.bias.grad, "float32", 10)


# ==================================================================== batch norm

@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 2, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_batch_norm_gradcheck(shape, training, affine):
    channels = shape[1]
    x = _leaf(_data(shape, 40, offset=0.5))
    weight = _leaf(_data(channels, 41)) if affine in ("weight", "both") else None
    bias = _leaf(_data(channels, 42)) if affine in ("bias", "both") else None
    running_mean = tapegrad.tensor(_data(channels, 43))
    running_var = tapegrad.tensor(np.abs(_data(channels, 44)) + 0.5)
    inputs = tuple(t for t in (x, weight, bias) if t is not None)

    def fn(*args):
        it = iter(args)
        xs = next(it)
        w = next(it) if weight is not None else None
        b = next(it) if bias is not None else None
        # Training updates the running buffers: pass none, so every evaluation sees the same ones.
        return F.batch_norm(xs, None if training else running_mean, None if training else running_var, w, b,
                            training=training, eps=1e-3)

    assert gradcheck(fn, inputs)
    if shape == (3, 2, 4) or affine == "both":
        assert gradgradcheck(fn, inputs)


def test_batch_norm_updates_running_stats_with_unbiased_variance():
    data = _data((6, 3, 2), 45)
    running_mean, running_var = tapegrad.zeros(3, dtype=tapegrad.float64), tapegrad.ones(3, dtype=tapegrad.float64)
    version = running_mean._version
    y = F.batch_norm(tapegrad.tensor(data), running_mean, running_var, training=True, momentum=0.2)
    assert running_mean._version > version
    batch_mean = data.mean(axis=(0, 2))
    batch_var = data.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(_array(running_mean), 0.2 * batch_mean, rtol=1e-12)
    np.testing.assert_allclose(_array(running_var), 0.8 + 0.2 * batch_var, rtol=1e-12)
    expected = (data - batch_mean[:, None]) / np.sqrt(data.var(axis=(0, 2))[:, None] + 1e-5)
    np.testing.assert_allclose(_array(y), expected, rtol=1e-10)


def test_batch_norm_eval_uses_running_stats():
    data = _data((4, 3), 46)
    mean, var = _data(3, 47), np.abs(_data(3, 48)) + 0.1
    y = F.batch_norm(tapegrad.tensor(data), tapegrad.tensor(mean), tapegrad.tensor(var), eps=1e-4)
    np.testing.assert_allclose(_array(y), (data - mean) / np.sqrt(var + 1e-4), rtol=1e-12)


def test_batch_norm_errors():
    x = tapegrad.randn(4, 5)
    zeros, ones = tapegrad.zeros(5), tapegrad.ones(5)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size "
                                         r"tapegrad.Size\(\[1, 5\]\)"):
        F.batch_norm(tapegrad.randn(1, 5), zeros, ones, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.batch_norm(tapegrad.randn(1, 5, 1, 1), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None)
    with pytest.raises(RuntimeError, match="running_mean should contain 5 elements not 4"):
        F.batch_norm(x, tapegrad.zeros(4), tapegrad.ones(4))
    with pytest.raises(RuntimeError, match="weight should contain 5 elements not 4"):
        F.batch_norm(x, zeros, ones, tapegrad.ones(4))
    with pytest.raises(RuntimeError, match="bias should contain 5 elements not 4"):
        F.batch_norm(x, zeros, ones, None, tapegrad.ones(4))
    with pytest.raises(ValueError, match="running_mean and running_var must either both be None or neither be None"):
        F.batch_norm(x, zeros, None, training=True)
    with pytest.raises(ValueError, match="batch_norm eps must be positive during training, but got 0"):
        F.batch_norm(x, zeros, ones, training=True, eps=0)
    with pytest.raises(ValueError, match="batch_norm eps must be non-negative, but got -1"):
        F.batch_norm(x, zeros, ones, eps=-1)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        F.batch_norm(x, tapegrad.zeros(5, dtype=tapegrad.float64), tapegrad.ones(5, dtype=tapegrad.float64))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(5)(tapegrad.randn(2, 5, 3, 3))
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(5)(tapegrad.randn(2, 5, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(5)(tapegrad.randn(1, 5))


def test_batch_norm_module_buffers_parameters_and_repr():
    bn = nn.BatchNorm1d(3)
    assert repr(bn) == "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [name for name, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype is tapegrad.int64 and bn.num_batches_tracked.shape == ()
    bn(tapegrad.randn(4, 3))
    bn(tapegrad.randn(4, 3))
    assert int(bn.num_batches_tracked) == 2 and _array(bn.running_mean).any()
    with tapegrad.no_grad():
        bn.weight.mul_(3)
    bn.reset_running_stats()
    assert int(bn.num_batches_tracked) == 0
    np.testing.assert_array_equal(_array(bn.running_mean), 0)
    np.testing.assert_array_equal(_array(bn.running_var), 1)
    np.testing.assert_array_equal(_array(bn.weight), 3)
    bn.reset_parameters()
    np.testing.assert_array_equal(_array(bn.weight), 1)
    plain = nn.BatchNorm2d(2, affine=False, momentum=None, track_running_stats=False)
    assert repr(plain) == \
        "BatchNorm2d(2, eps=1e-05, momentum=None, affine=False, bias=False, track_running_stats=False)"
    assert plain.weight is None and plain.running_mean is None and plain.num_batches_tracked is None
    assert list(plain.buffers()) == [] and list(plain.parameters()) == []
    assert nn.BatchNorm1d(2, bias=False).bias is None
    assert nn.BatchNorm1d(2, dtype=tapegrad.float64).running_var.dtype is tapegrad.float64


def test_batch_norm_without_running_stats_normalises_with_batch_stats_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    data = _data((5, 2), 49, "float32")
    y = _array(bn(tapegrad.tensor(data)))
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)


def test_batch_norm_cumulative_average_when_momentum_is_none():
    bn = nn.BatchNorm1d(2, momentum=None, dtype=tapegrad.float64)
    batches = [_data((4, 2), 50 + i) for i in range(3)]
    for b in batches:
        bn(tapegrad.tensor(b))
    np.testing.assert_allclose(_array(bn.running_mean), np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(_array(bn.running_var), np.mean([b.var(0, ddof=1) for b in batches], axis=0),
                               rtol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_matches_torch(dtype, training, affine):
    torch = _torch()
    data = _data((3, 2, 4), 55, dtype, offset=2.0)
    x, xt = _leaf(data), _torch_leaf(torch, data)
    stats = [_data(2, 56, dtype), np.abs(_data(2, 57, dtype)) + 0.5]
    running, running_t = [tapegrad.tensor(s.copy()) for s in stats], [torch.tensor(s.copy()) for s in stats]
    params = [_data(2, 58, dtype), _data(2, 59, dtype)] if affine else [None, None]
    ours = [None if p is None else _leaf(p) for p in params]
    theirs = [None if p is None else _torch_leaf(torch, p) for p in params]
    y = F.batch_norm(x, *running, *ours, training=training, momentum=0.3)
    yt = torch.nn.functional.batch_norm(xt, *running_t, *theirs, training=training, momentum=0.3)
    assert y.grad_fn.name() == yt.grad_fn.name() == "NativeBatchNormBackward0"
    _close(y, yt, dtype, 5)
    for r, rt in zip(running, running_t):
        _close(r, rt, dtype, 5)
    upstream = _data((3, 2, 4), 60, dtype)
    y.backward(tapegrad.tensor(upstream))
    yt.backward(torch.tensor(upstream))
    _close(x.grad, xt.grad, dtype, 10)
    for p, pt in zip(ours, theirs):
        if p is not None:
            _close(p.grad, pt.grad, dtype, 10)


@pytest.mark.torch
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_second_derivative_matches_torch(training):
    torch = _torch()
    data, w_data = _data((4, 3), 61), _data(3, 62)
    x, w = _leaf(data), _leaf(w_data)
    xt, wt = _torch_leaf(torch, data), _torch_leaf(torch, w_data)
    stats = [_data(3, 63), np.abs(_data(3, 64)) + 0.5]
    running = [tapegrad.tensor(s) for s in stats] if not training else [None, None]
    running_t = [torch.tensor(s) for s in stats] if not training else [None, None]
    (g,) = grad((F.batch_norm(x, *running, w, training=training) ** 3).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad((torch.nn.functional.batch_norm(xt, *running_t, wt, training=training) ** 3).sum(),
                                xt, create_graph=True)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    _close(x.grad, xt.grad, scale=100)
    _close(w.grad, wt.grad, scale=100)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("module, shape, kwargs", [
    ("BatchNorm1d", (5, 3), {}),
    ("BatchNorm1d", (4, 3, 2), {"momentum": None}),
    ("BatchNorm2d", (2, 3, 2, 2), {"affine": False}),
    ("BatchNorm2d", (2, 3, 2, 2), {"track_running_stats": False}),
])
def test_batch_norm_module_training_and_eval_match_torch(dtype, module, shape, kwargs):
    torch = _torch()
    torch_dtype = getattr(torch, dtype)
    ours = getattr(nn, module)(3, dtype=getattr(tapegrad, dtype), **kwargs)
    theirs = getattr(torch.nn, module)(3, dtype=torch_dtype, **kwargs)
    assert repr(ours) == repr(theirs)
    for step in range(3):
        data = _data(shape, 70 + step, dtype, offset=float(step))
        x, xt = _leaf(data), _torch_leaf(torch, data)
        y, yt = ours(x), theirs(xt)
        _close(y, yt, dtype, 5)
        (y * y).sum().backward()
        (yt * yt).sum().backward()
        _close(x.grad, xt.grad, dtype, 10)
    for (name, buffer), (name_t, buffer_t) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert name == name_t
        assert buffer.dtype.name == str(buffer_t.dtype).replace("torch.", "")
        _close(buffer, buffer_t, dtype, 5)
    if ours.weight is not None:
        _close(ours.weight.grad, theirs.weight.grad, dtype, 10)
        _close(ours.bias.grad, theirs.bias.grad, dtype, 10)
    ours.eval()
    theirs.eval()
    data = _data(shape, 80, dtype)
    _close(ours(tapegrad.tensor(data)), theirs(torch.tensor(data)), dtype, 5)


# ==================================================================== kernels

def test_threaded_kernels_agree_with_numpy(monkeypatch):
    # The threaded variants normally run only on large inputs; lower the threshold instead.
    from tapegrad.backends import cpu

    monkeypatch.setattr(cpu, "PARALLEL_THRESHOLD", 1)
    data = _data((6, 5, 4), 90, offset=3.0)
    with tapegrad.no_grad():
        y = F.layer_norm(tapegrad.tensor(data), (4,), tapegrad.tensor(_data(4, 91)))
        mean, var = _data(5, 92), np.abs(_data(5, 93)) + 0.5
        z = F.batch_norm(tapegrad.tensor(data), tapegrad.tensor(mean), tapegrad.tensor(var))
    centred = data - data.mean(-1, keepdims=True)
    np.testing.assert_allclose(_array(y), centred / np.sqrt(data.var(-1, keepdims=True) + 1e-5) * _data(4, 91),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_array(z), (data - mean[:, None]) / np.sqrt(var[:, None] + 1e-5), rtol=1e-12,
                               atol=1e-12)


def test_input_changed_in_place_after_the_forward_is_detected():
    x = _leaf(_data((3, 4), 94))
    z = x * 1
    y = F.layer_norm(z, (4,))
    z.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_docstring_examples_run():
    import doctest

    from tapegrad.nn import layers as modules
    from tapegrad.ops import layers as functional

    for module in (functional, modules):
        result = doctest.testmod(module, extraglobs={"tapegrad": tapegrad, "nn": nn, "F": F})
        assert result.attempted and not result.failed
