"""Reductions, matrix products, softmax, losses and optimizers on CUDA tensors against the CPU
backend: values, grad_fn names and gradients, and whole training steps.

Runs in the CUDA simulator or on a GPU (see ``conftest.py``); tensors stay tiny::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda/test_cuda_ops.py -q
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON, assert_close, run_both, values

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
import tapegrad.nn as nn  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

DTYPES = [np.float32, np.float64]

REDUCTIONS: list[tuple[str, Callable[..., Any]]] = [
    ("sum_all", lambda x: x.sum()),
    ("sum_dim", lambda x: x.sum(1)),
    ("sum_dims_keepdim", lambda x: x.sum((0, 2), keepdim=True)),
    ("mean_all", lambda x: x.mean()),
    ("mean_dim", lambda x: x.mean(-1)),
    ("amax_dim", lambda x: x.amax(1)),
    ("amax_two_dims", lambda x: x.amax((0, 2))),
    ("max_all", lambda x: x.max()),
    ("max_dim_values", lambda x: x.max(2).values),
    ("min_dim_keepdim", lambda x: x.min(0, keepdim=True).values),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], dtype: Any) -> None:
    run_both(fn, [values((2, 3, 4), dtype, seed=3)])


def test_reductions_of_a_transposed_view_and_of_integers() -> None:
    run_both(lambda x: x.t().sum(0), [values((3, 5), np.float32)])
    run_both(lambda x: x.sum(), [np.arange(6, dtype=np.int64).reshape(2, 3)], grad=False)
    run_both(lambda x: x.argmax(1), [values((3, 5), np.float32, seed=1)], grad=False)
    run_both(lambda x: x.argmin(), [values((3, 5), np.float64, seed=2)], grad=False)
    run_both(lambda x: x.max(1).indices, [values((3, 5), np.float32, seed=4)], grad=False)


PRODUCTS: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("mm", lambda a, b: a @ b, [(3, 4), (4, 5)]),
    ("mm_transposed", lambda a, b: a.t() @ b, [(4, 3), (4, 5)]),
    ("mv", lambda a, v: a @ v, [(3, 4), (4,)]),
    ("dot", lambda a, b: a @ b, [(4,), (4,)]),
    ("bmm", lambda a, b: a @ b, [(2, 3, 4), (2, 4, 2)]),
    ("batched_broadcast", lambda a, b: a @ b, [(2, 3, 4), (4, 2)]),
    ("addmm", lambda c, a, b: tapegrad.addmm(c, a, b), [(5,), (3, 4), (4, 5)]),
    ("addmm_scaled", lambda c, a, b: tapegrad.addmm(c, a, b, beta=0.5, alpha=2.0), [(3, 5), (3, 4), (4, 5)]),
    ("linear", lambda x, w, b: F.linear(x, w, b), [(3, 4), (2, 4), (2,)]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn, shapes", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products_and_their_gradients_match_cpu(name: str, fn: Callable[..., Any], shapes: list, dtype: Any) -> None:
    run_both(fn, [values(shape, dtype, seed=k) for k, shape in enumerate(shapes)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fn", [lambda x: F.softmax(x, 1), lambda x: F.log_softmax(x, -1),
                                lambda x: F.softmax(x, 0), lambda x: F.log_softmax(x.t(), 1)],
                         ids=["softmax", "log_softmax", "softmax_dim0", "log_softmax_view"])
def test_softmax_and_its_gradient_match_cpu(fn: Callable[..., Any], dtype: Any) -> None:
    run_both(fn, [values((3, 4), dtype, seed=5)])


LOSSES: list[tuple[str, dict[str, Any]]] = [
    ("mean", {}), ("sum", {"reduction": "sum"}), ("none", {"reduction": "none"}),
    ("ignore_index", {"ignore_index": 1}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, options", LOSSES, ids=[l[0] for l in LOSSES])
def test_cross_entropy_and_nll_match_cpu(name: str, options: dict, dtype: Any) -> None:
    target = np.array([0, 2, 1, 1], np.int64)
    run_both(lambda x, t: F.cross_entropy(x, t, **options), [values((4, 3), dtype, seed=6), target])
    run_both(lambda x, t: F.nll_loss(F.log_softmax(x, 1), t, **options), [values((4, 3), dtype, seed=7), target])


# Padding, distances and the Huber / KL losses: compositions of ops and index-map padding.
FUNCTIONAL: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("pad_constant", lambda x: F.pad(x, (1, -1, 2, 0), value=0.5), [(2, 3, 4)]),
    ("pad_reflect_1d", lambda x: F.pad(x, (2, 1), mode="reflect"), [(2, 4)]),
    ("pad_replicate_2d", lambda x: F.pad(x, (1, 2, 0, 1), mode="replicate"), [(1, 2, 3)]),
    ("pad_circular", lambda x: F.pad(x, (-1, 2), mode="circular"), [(2, 2, 3)]),
    ("pad_reflect_3d", lambda x: F.pad(x, (1, 1, 0, 1, 1, 0), mode="reflect"), [(1, 2, 2, 3, 3)]),
    ("normalize", lambda x: F.normalize(x, p=3.0, dim=-1), [(3, 4)]),
    ("cosine_similarity", lambda x, y: F.cosine_similarity(x, y), [(3, 4), (1, 4)]),
    ("pairwise_distance", lambda x, y: F.pairwise_distance(x, y, p=1.0), [(3, 4), (3, 4)]),
    ("huber_loss", lambda x, y: F.huber_loss(x * 3, y, delta=0.7), [(3, 4), (3, 4)]),
    ("kl_div", lambda x, y: F.kl_div(x, y.sigmoid(), reduction="batchmean"), [(3, 4), (3, 4)]),
    ("kl_div_log_target", lambda x, y: F.kl_div(x, y, reduction="sum", log_target=True), [(3, 4), (3, 4)]),
    ("xlogy", lambda x, y: tapegrad.xlogy(x, y.abs() + 0.1), [(3, 4), (4,)]),
    ("glu", lambda x: F.glu(x, 0), [(4, 3)]),
    ("einsum_mm", lambda x, y: tapegrad.einsum("ij,kj->ik", x, y), [(3, 4), (2, 4)]),
    ("einsum_batched", lambda x, y: tapegrad.einsum("...ij,...jk", x, y), [(2, 3, 4), (4, 2)]),
    ("einsum_three", lambda x, y: tapegrad.einsum("ij,ij,j->i", x, y, y[0]), [(3, 4), (3, 4)]),
    ("lerp", lambda x, y: tapegrad.lerp(x, y, 0.7), [(3, 4), (4,)]),
    ("lerp_tensor", lambda x, y, w: x.lerp(y, w.sigmoid()), [(3, 4), (3, 4), (3, 1)]),
    ("addcmul", lambda x, y, z: tapegrad.addcmul(x, y, z, value=-2), [(3, 4), (4,), (3, 1)]),
    ("addcdiv", lambda x, y, z: x.addcdiv(y, z.exp(), value=0.5), [(3, 4), (3, 4), (3, 4)]),
    ("margin_losses", lambda x, y: (F.margin_ranking_loss(x[0], y[0], y[1].sign())
                                    + F.hinge_embedding_loss(x, y.sign())
                                    + F.cosine_embedding_loss(x, y, y[:, 0].sign())), [(3, 4), (3, 4)]),
    ("triplet_soft_margin", lambda x, y: (F.triplet_margin_loss(x, y, x * y, swap=True)
                                          + F.soft_margin_loss(x, y.detach().sign())), [(3, 4), (3, 4)]),
    ("nll_losses", lambda x, y: (F.multilabel_soft_margin_loss(x, (y > 0).float()) + F.poisson_nll_loss(x, y.abs())
                                 + F.gaussian_nll_loss(x, y, y.abs() + 0.1)), [(3, 4), (3, 4)]),
    ("group_norm", lambda x, w: F.group_norm(x, 2, w, w * 2), [(2, 4, 3), (4,)]),
    ("attention", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [(2, 3, 4), (2, 3, 4),
                                                                                           (2, 3, 2)]),
    ("attention_mask", lambda q, k: F.scaled_dot_product_attention(q, k, k, attn_mask=k[0, :, :3].T > -1.5),
     [(2, 3, 4), (2, 5, 4)]),
    ("multihead_attention", lambda x: _multihead(x)(x, x, x)[0], [(3, 2, 4)]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 4)]),
    ("adaptive_max_pool1d_indices", lambda x: F.adaptive_max_pool1d(x, 3, return_indices=True)[1], [(2, 5)]),
    ("adaptive_avg_pool3d", lambda x: F.adaptive_avg_pool3d(x, (2, 1, 3)), [(1, 2, 3, 2, 4)]),
    ("unfold", lambda x: F.unfold(x, 2, padding=1, stride=(2, 1)), [(1, 2, 4, 3)]),
    ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), [(1, 8, 2, 3)]),
    ("bilinear", lambda a, b, w: F.bilinear(a, b, w), [(2, 3), (2, 4), (5, 3, 4)]),
    ("instance_norm", lambda x, w: F.instance_norm(x, weight=w, bias=w * 2), [(2, 3, 4), (3,)]),
    ("fold", lambda x: F.fold(x, (3, 4), 2), [(1, 8, 6)]),
    ("ctc_loss", lambda x: F.ctc_loss(x.log_softmax(2), tapegrad.tensor([[1, 2], [3, 3]], device=x.device), (4, 3),
                                      (2, 2)), [(4, 2, 5)]),
    ("embedding_bag_max", lambda w: F.embedding_bag(tapegrad.tensor([1, 2, 4, 2, 0], device=w.device), w,
                                                    tapegrad.tensor([0, 2, 2], device=w.device), mode="max",
                                                    padding_idx=4), [(6, 3)]),
    ("threshold", lambda x: F.threshold(x, 0.1, -2.0), [(3, 4)]),
    ("prelu", lambda x, w: F.prelu(x, w), [(2, 3, 4), (3,)]),
    ("rrelu", lambda x: F.rrelu(x, 0.1, 0.3), [(3, 4)]),
    ("rrelu_training", lambda x: _seeded(F.rrelu, x, 0.1, 0.3, True), [(3, 4)]),
    ("dropout2d", lambda x: _seeded(F.dropout2d, x, 0.5), [(2, 5, 2, 1)]),
    ("alpha_dropout", lambda x: _seeded(F.alpha_dropout, x, 0.3, True), [(3, 4)]),
    ("feature_alpha_dropout", lambda x: _seeded(F.feature_alpha_dropout, x, 0.5, True), [(2, 5, 2)]),
    ("gumbel_softmax_hard", lambda x: _seeded(F.gumbel_softmax, x, 0.5, True), [(3, 4)]),
    ("rms_norm", lambda x, w: F.rms_norm(x, (4,), w), [(2, 3, 4), (4,)]),
    ("local_response_norm", lambda x: F.local_response_norm(x, 3, alpha=0.5), [(2, 4, 3)]),
    ("channel_shuffle", lambda x: F.channel_shuffle(x, 2), [(1, 4, 3)]),
    ("pdist", lambda x: F.pdist(x, 1.5), [(4, 3)]),
    ("multi_margin_loss", lambda x, w: F.multi_margin_loss(x, tapegrad.tensor([0, 3, 1], device=x.device), p=2,
                                                            weight=w.detach().abs()), [(3, 4), (4,)]),
    ("multilabel_margin_loss", lambda x: F.multilabel_margin_loss(
        x, tapegrad.tensor([[3, 0, -1, 1], [1, 1, 2, -1]], device=x.device), reduction="none"), [(2, 4)]),
    ("triplet_with_distance", lambda a, p: F.triplet_margin_with_distance_loss(a, p, a * p, swap=True), [(3, 4),
                                                                                                         (3, 4)]),
    ("median_dim", lambda x: tapegrad.median(x, 1).values, [(3, 4)]),
    ("quantile", lambda x: tapegrad.quantile(x, tapegrad.tensor([0.2, 0.7], dtype=x.dtype, device=x.device), 0),
     [(3, 4)]),
    ("nanmean", lambda x: tapegrad.nanmean(tapegrad.where(x > 1, float("nan"), x), 1), [(3, 4)]),
    ("cummax", lambda x: tapegrad.cummax(x, 1).values, [(3, 4)]),
    ("logcumsumexp", lambda x: tapegrad.logcumsumexp(x, 0), [(3, 4)]),
    ("diff", lambda x: tapegrad.diff(x, 2, 1), [(3, 4)]),
    ("baddbmm", lambda i, a, b: tapegrad.baddbmm(i, a, b, beta=0.5), [(2, 3, 2), (2, 3, 4), (2, 4, 2)]),
    ("kron_tensordot", lambda a, b: tapegrad.kron(a, b) + tapegrad.tensordot(a, b, 1).sum(), [(2, 3), (3, 2)]),
    ("cdist_cross", lambda a, b: tapegrad.cdist(a, b, 1.5) + tapegrad.cross(a, b, dim=1).sum(1, keepdim=True),
     [(2, 3), (2, 3)]),
    ("arrange", lambda x: (tapegrad.hstack([x, x.flip(0)]).sum(1) + tapegrad.block_diag(x, x[0]).sum(1)[:3]
                           + tapegrad.rot90(x).sum(0)[:3] + x.unfold(1, 2, 1).sum((1, 2))), [(3, 4)]),
    ("embedding_bag_weighted", lambda w, p: F.embedding_bag(tapegrad.tensor([[1, 5], [0, 1]], device=w.device), w,
                                                            mode="sum", per_sample_weights=p), [(6, 3), (2, 2)]),
]


def _seeded(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` drawn after seeding: the CUDA generator gives the CPU's numbers."""
    tapegrad.manual_seed(5)
    return function(*args)


def _multihead(x: Any) -> Any:
    """The same attention module (same seed) on ``x``'s device and in its dtype."""
    tapegrad.manual_seed(0)
    return nn.MultiheadAttention(4, 2, dtype=x.dtype).to(x.device)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn, shapes", FUNCTIONAL, ids=[f[0] for f in FUNCTIONAL])
def test_padding_distances_and_losses_match_cpu(name: str, fn: Callable[..., Any], shapes: list, dtype: Any) -> None:
    run_both(fn, [values(shape, dtype, seed=k + 1) for k, shape in enumerate(shapes)])


REARRANGE: list[tuple[str, Callable[..., Any]]] = [
    ("flip", lambda x: x.flip(0, 2)), ("roll", lambda x: x.roll((1, -3), (2, 0))), ("roll_flat", lambda x: x.roll(5)),
    ("repeat", lambda x: x.repeat(2, 1, 1, 2)), ("tile", lambda x: x.tile((2,))), ("tril", lambda x: x.tril()),
    ("triu", lambda x: x.triu(1)), ("cumsum", lambda x: x.cumsum(1)), ("cumsum_last", lambda x: x.cumsum(-1)),
    ("cumprod", lambda x: x.cumprod(1)), ("cumprod_zeros", lambda x: (x * x.round()).cumprod(-1)),
    ("sort", lambda x: x.sort(1, stable=True).values),
    ("sort_indices", lambda x: x.sort(-1, True, stable=True).indices),
    ("argsort", lambda x: x.argsort(0, stable=True)), ("topk", lambda x: x.topk(2, 1).values),
    ("topk_indices", lambda x: x.topk(3, -1, largest=False).indices),
    ("diagonal", lambda x: x.diagonal(1, 1, 2) * 1), ("diag", lambda x: tapegrad.diag(x[0, 1])),
    ("trace", lambda x: x[0].trace()), ("einsum_diagonal", lambda x: tapegrad.einsum("iij->j", x[:, :2])),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, fn", REARRANGE, ids=[r[0] for r in REARRANGE])
def test_flip_roll_repeat_triangles_cumsum_and_sorts_match_cpu(name: str, fn: Callable[..., Any], dtype: Any) -> None:
    run_both(fn, [values((2, 3, 4), dtype, seed=6)])
    run_both(fn, [np.arange(24, dtype=np.int64).reshape(2, 3, 4)], grad=False)


def _tied_lines(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    """Values with many ties (a stable sort must keep their order), and NaNs among floats."""
    rng = np.random.default_rng(seed)
    data = rng.integers(-4, 5, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        data[rng.random(shape) < 0.1] = np.nan
    return data


@pytest.mark.parametrize("n", [2, 7, 13, 16])
def test_long_lines_sort_by_merge_passes_as_on_cpu(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lines longer than SORT_RANK_MAX take log2(n) merge passes; lowered here so that tiny lines
    # take them (an odd and an even number of passes, full and ragged last runs). Ties and NaNs
    # keep the CPU's stable order.
    from tapegrad.backends import cuda_reduce

    monkeypatch.setattr(cuda_reduce, "SORT_RANK_MAX", 1)
    for dtype in (np.float32, np.int64):
        data = _tied_lines((2, n), dtype, seed=n)
        run_both(lambda x: x.sort(-1, stable=True).values, [data], grad=False)
        run_both(lambda x: x.sort(-1, True, stable=True).indices, [data], grad=False)
        run_both(lambda x: x.t().argsort(0, stable=True), [data], grad=False)
    run_both(lambda x: x.topk(min(n, 3), -1).values, [values((2, n), np.float64, seed=n)])


@pytest.mark.parametrize("n", [300, 1000])
def test_few_long_lines_scan_in_chunks_as_on_cpu(n: int) -> None:
    # Few lines of at least SCAN_CHUNK_MIN elements are scanned in parallel chunks: integers
    # exactly, floats to rounding, forward and (the gradient) reversed.
    from tapegrad.backends import cuda_reduce

    assert n >= cuda_reduce.SCAN_CHUNK_MIN
    run_both(lambda x: x.cumsum(-1), [values((2, n), np.float32, seed=1)])
    run_both(lambda x: x.cumsum(0), [values((n, 3), np.float64, seed=2)])
    data = np.random.default_rng(3).integers(-10**12, 10**12, (n,))
    run_both(lambda x: x.cumsum(0), [data], grad=False)
    run_both(lambda x: x.cumsum(0), [data > 0], grad=False)
    near_one = 1 + 0.01 * values((2, n), np.float64, seed=4)  # products that stay in range
    run_both(lambda x: x.cumprod(-1), [near_one])
    run_both(lambda x: x.cumprod(0), [np.random.default_rng(5).choice([-1, 1, 1, 3], n)], grad=False)


def test_one_hot_on_cuda() -> None:
    run_both(lambda i: F.one_hot(i, 5), [np.array([[0, 4], [2, 2]], dtype=np.int64)], grad=False)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        F.one_hot(tapegrad.tensor([1, 5], device="cuda"), 5)


def test_class_weights_on_cuda_match_cpu() -> None:
    target = np.array([0, 2, 1], np.int64)
    weight = np.array([0.2, 1.0, 3.0], np.float32)
    run_both(lambda x, t, w: F.cross_entropy(x, t, weight=w), [values((3, 3), np.float32, seed=8), target, weight])


def test_loss_errors_on_cuda() -> None:
    x = tapegrad.zeros(2, 3, device="cuda")
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        F.cross_entropy(x, tapegrad.tensor([0, 3], device="cuda"))
    with pytest.raises(RuntimeError, match="found at least two devices, cuda:0 and cpu"):
        F.cross_entropy(x, tapegrad.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long"):
        F.cross_entropy(x, tapegrad.tensor([0.0, 1.0], device="cuda"))
    with pytest.raises(RuntimeError, match="found at least two devices, cuda:0 and cpu"):
        x @ tapegrad.zeros(3, 2)


def _train(device: str, make_optimizer: Callable[[Any], Any], steps: int = 3) -> tuple[list[float], list[np.ndarray]]:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
    optimizer = make_optimizer(model.parameters())
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        x = tapegrad.from_numpy(rng.standard_normal((5, 6)).astype(np.float32)).to(device)
        y = tapegrad.from_numpy(rng.integers(0, 3, 5)).to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    for p in model.parameters():
        assert p.device.type == device and p.grad.device.type == device
        for value in optimizer.state[p].values():
            if isinstance(value, tapegrad.Tensor) and value.ndim:
                assert value.device.type == device  # state buffers live with their parameter
    return losses, [p.detach().cpu().numpy() for p in model.parameters()]


OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "sgd": lambda p: tapegrad.optim.SGD(p, lr=0.1),
    "sgd_momentum_nesterov": lambda p: tapegrad.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda p: tapegrad.optim.Adam(p, lr=1e-2),
    "adamw_amsgrad": lambda p: tapegrad.optim.AdamW(p, lr=1e-2, amsgrad=True),
    "rmsprop": lambda p: tapegrad.optim.RMSprop(p, lr=1e-2, momentum=0.5),
    "adagrad": lambda p: tapegrad.optim.Adagrad(p, lr=5e-2),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_steps_on_cuda_match_cpu(name: str) -> None:
    cpu_losses, cpu_params = _train("cpu", OPTIMIZERS[name])
    cuda_losses, cuda_params = _train("cuda", OPTIMIZERS[name])
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-5)
    for got, want in zip(cuda_params, cpu_params):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_optimizer_state_on_another_device_is_refused_before_any_write() -> None:
    w = tapegrad.zeros(3, device="cuda", requires_grad=True)
    w.grad = tapegrad.ones(3, device="cuda")
    optimizer = tapegrad.optim.SGD([w], lr=0.1, momentum=0.9)
    optimizer.state[w] = {"momentum_buffer": tapegrad.zeros(3)}  # e.g. restored by hand on the CPU
    with pytest.raises(RuntimeError, match="cuda:0 and cpu"):
        optimizer.step()
    np.testing.assert_array_equal(w.detach().cpu().numpy(), np.zeros(3, np.float32))  # nothing was written
    with pytest.raises(RuntimeError, match="assigned grad has data located on a different device"):
        w.grad = tapegrad.ones(3)


def test_checkpoint_of_cuda_tensors_loads_back_on_cuda(tmp_path: Any) -> None:
    model = nn.Linear(3, 2).to("cuda")
    tapegrad.save(model.state_dict(), tmp_path / "m.ckpt")
    restored = tapegrad.load(tmp_path / "m.ckpt")
    assert all(t.device.type == "cuda" for t in restored.values())
    on_cpu = tapegrad.load(tmp_path / "m.ckpt", map_location="cpu")
    assert all(t.device.type == "cpu" for t in on_cpu.values())
    for key, value in model.state_dict().items():
        assert_close(restored[key], value)
        assert_close(on_cpu[key], value.cpu())


def test_a_compiled_step_whose_model_moves_to_cuda_is_recompiled_not_replayed() -> None:
    model = nn.Linear(3, 1)

    @tapegrad.compile
    def predict(x):
        return model(x)

    with tapegrad.no_grad():
        x = tapegrad.ones(2, 3)
        expected = predict(x).numpy().copy()
        for _ in range(2):
            np.testing.assert_allclose(predict(x).numpy(), expected)
        assert predict.traces == 1
        model.to("cuda")  # the parameters keep their identity; their buffers move
        for _ in range(3):  # a CUDA argument: a new signature, eager, traced, then replayed on CUDA
            np.testing.assert_allclose(predict(x.cuda()).cpu().numpy(), expected, rtol=1e-6)
        assert predict.traces == 2
        # The CPU signature's guard sees the moved parameters and records again, which meets
        # what eager mode meets: a CPU batch against CUDA weights.
        with pytest.raises(RuntimeError, match="found at least two devices, cuda:0 and cpu"):
            predict(x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("spatial", [(2,), (2, 2), (2, 1, 2)], ids=["3d", "4d", "5d"])
def test_nll_of_spatial_inputs_is_nll_loss2d_as_on_the_cpu(reduction: str, spatial: tuple[int, ...]) -> None:
    labels = np.random.default_rng(5).integers(0, 3, (2, *spatial))

    def loss(x: Any) -> Any:
        return F.nll_loss(x, tapegrad.tensor(labels, device=x.device), reduction=reduction)

    run_both(loss, [values((2, 3, *spatial), np.float64, seed=6)])


RECURRENT = [("LSTM", dict(bidirectional=True)), ("GRU", dict(num_layers=2, batch_first=True)),
             ("RNN", dict(nonlinearity="relu")), ("LSTMCell", {})]


@pytest.mark.parametrize("name, kw", RECURRENT, ids=[r[0] for r in RECURRENT])
def test_recurrent_layers_match_cpu(name: str, kw: dict) -> None:
    # Composed of recorded ops, so the CUDA kernels run the same formulas as the CPU ones.
    data = values((3, 2, 3) if name != "LSTMCell" else (2, 3), np.float32, seed=1)
    results = {}
    for device in ("cpu", "cuda"):
        tapegrad.manual_seed(0)
        module = getattr(nn, name)(3, 4, **kw).to(device)
        x = tapegrad.tensor(data, device=device, requires_grad=True)
        out = module(x)
        first = out[0]
        second = out[1][1] if isinstance(out[1], tuple) else out[1]
        (first.square().sum() + second.sum()).backward()
        results[device] = [first, second, x.grad, *[p.grad for p in module.parameters()]]
    for got, want in zip(results["cuda"], results["cpu"], strict=True):
        assert got.device.type == "cuda"
        assert_close(got, want)


ATTENTION_MODULES: dict[str, Callable[[str], Any]] = {
    # Built with device=..., so the modules' parameters are made on that device.
    "multihead_separate_kv": lambda device: nn.MultiheadAttention(4, 2, kdim=3, vdim=2, add_bias_kv=True,
                                                                  add_zero_attn=True, device=device),
    "transformer_decoder_layer": lambda device: nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=True,
                                                                           activation="gelu", device=device),
}


@pytest.mark.parametrize("name", sorted(ATTENTION_MODULES))
def test_attention_modules_made_on_cuda_match_cpu(name: str) -> None:
    src, tgt = values((3, 2, 4), np.float32, seed=1), values((2, 2, 4), np.float32, seed=2)
    key, value = values((3, 2, 3), np.float32, seed=3), values((3, 2, 2), np.float32, seed=4)
    padding = np.array([[False, False, True], [True, True, True]])  # the second row attends to nothing
    results = {}
    for device in ("cpu", "cuda"):
        tapegrad.manual_seed(0)
        module = ATTENTION_MODULES[name](device)
        assert {p.device.type for p in module.parameters()} == {device}
        x = tapegrad.tensor(src, device=device, requires_grad=True)
        mask = tapegrad.tensor(padding, device=device)
        if name == "transformer_decoder_layer":
            causal = nn.Transformer.generate_square_subsequent_mask(2, device=device)
            out = module(tapegrad.tensor(tgt, device=device), x, tgt_mask=causal,
                         memory_key_padding_mask=tapegrad.tensor(padding[[0, 0]], device=device))
        else:
            out = module(x, tapegrad.tensor(key, device=device), tapegrad.tensor(value, device=device),
                         key_padding_mask=mask, need_weights=False)[0]
        (out * tapegrad.tensor(values(tuple(out.shape), np.float32, seed=5), device=device)).sum().backward()
        results[device] = [out, x.grad, *[p.grad for p in module.parameters()]]
    for got, want in zip(results["cuda"], results["cpu"], strict=True):
        assert got.device.type == "cuda"
        assert_close(got, want)


def test_a_packed_lstm_on_cuda_matches_cpu() -> None:
    from tapegrad.nn.utils import rnn

    data = values((4, 3, 2), np.float32, seed=1)
    results = {}
    for device in ("cpu", "cuda"):
        tapegrad.manual_seed(0)
        lstm = nn.LSTM(2, 3, bidirectional=True).to(device)
        x = tapegrad.tensor(data, device=device, requires_grad=True)
        packed = rnn.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        assert packed.batch_sizes.device.type == "cpu"
        out, (h, c) = lstm(packed)
        padded, lengths = rnn.pad_packed_sequence(out)
        (padded.square().sum() + h.sum() + c.square().sum()).backward()
        results[device] = [padded, h, c, x.grad, *[p.grad for p in lstm.parameters()]]
    for got, want in zip(results["cuda"], results["cpu"], strict=True):
        assert got.device.type == "cuda"
        assert_close(got, want)
