"""``tapegrad.compile`` on CUDA: a step traced on CUDA tensors replays as a CUDA program (fused
groups as generated kernels, the other nodes as the eager CUDA kernels) and gives the eager
step's numbers, the CPU compiled step's too; guards and refusals work as on the CPU.

Runs in the simulator or on a GPU (see ``conftest.py``); tensors stay tiny.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from cuda_helpers import HAVE_CUDA, SKIP_REASON

if not HAVE_CUDA:
    pytest.skip(SKIP_REASON, allow_module_level=True)

import tapegrad  # noqa: E402
import tapegrad.nn as nn  # noqa: E402
from tapegrad.compiler import TraceError  # noqa: E402
from tapegrad.compiler.cuda_program import CudaProgram  # noqa: E402
from tapegrad.nn import functional as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*will likely result in GPU under-utilization")

X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
LABELS = np.array([0, 2, 1, 2])
TARGETS = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)


def _training_step(device: str, optimizer: str, loss_name: str, activation: type) -> tuple[Callable[..., Any], Any]:
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), activation(), nn.Linear(5, 3)).to(device)
    if optimizer == "adam":
        opt = tapegrad.optim.Adam(model.parameters(), lr=0.01)
    else:
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    loss_fn = F.cross_entropy if loss_name == "cross_entropy" else F.mse_loss

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, model


def _classification_step(model: Any, opt: Any) -> Callable[..., Any]:
    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _program(compiled: Any) -> CudaProgram:
    (versions,) = compiled._steps.values()
    (version,) = versions
    assert version.device == "cuda"
    assert isinstance(version.function, CudaProgram)
    return version.function


# Each optimizer, loss and activation twice, in four combinations (the simulator is slow).
@pytest.mark.parametrize("optimizer, loss_name, activation", [
    ("sgd", "cross_entropy", nn.Tanh), ("adam", "mse", nn.ReLU),
    ("adam", "cross_entropy", nn.ReLU), ("sgd", "mse", nn.Tanh)],
    ids=["sgd-cross_entropy-tanh", "adam-mse-relu", "adam-cross_entropy-relu", "sgd-mse-tanh"])
def test_compiled_training_step_matches_eager_on_both_devices(optimizer: str, loss_name: str, activation: type) -> None:
    target = LABELS if loss_name == "cross_entropy" else TARGETS
    runs = {}
    for device, compiled in (("cuda", True), ("cuda", False), ("cpu", False)):
        step, model = _training_step(device, optimizer, loss_name, activation)
        fn = tapegrad.compile(step) if compiled else step
        y = tapegrad.tensor(target, device=device)
        # A new batch tensor every call, as in a training loop; the losses are all kept.
        losses = [fn(tapegrad.tensor(X + 0.25 * k, device=device), y) for k in range(5)]
        assert all(loss.device.type == device for loss in losses)
        runs[device, compiled] = [np.array([loss.item() for loss in losses])]
        runs[device, compiled] += [p.detach().cpu().numpy() for p in model.parameters()]
        runs[device, compiled] += [p.grad.cpu().numpy() for p in model.parameters()]
        if compiled:
            assert fn.traces == 1  # calls 3 to 5 replayed
        if compiled and device == "cuda":
            # Call 3 recorded the device work, calls 4 and 5 issued the recording again.
            program = _program(fn)
            assert program.refused is None and program.recordings == 1 and program.recorded is not None
    for other in (("cuda", False), ("cpu", False)):
        for got, want in zip(runs["cuda", True], runs[other]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def _joins_products_and_extremes(device: str) -> tuple[Callable[..., Any], list[Any]]:
    """A step using batched, matrix-vector and vector products, cat, stack, max over a dim,
    amax, logsumexp and argmax, with parameters on ``device``."""
    w = tapegrad.tensor(X[:, :4] * 0.5, device=device, requires_grad=True)
    v = tapegrad.tensor(TARGETS[:, :2] - 0.25, device=device, requires_grad=True)  # (4, 2)
    labels = tapegrad.tensor([1, 0, 3, 2], device=device)

    def step(x: Any) -> Any:
        w.grad = v.grad = None
        h = w * x
        joined = tapegrad.cat([h, h.square()], 1)  # (4, 8)
        stacked = tapegrad.stack([h, w], 0)  # (2, 4, 4)
        product = (stacked @ v).tanh()  # (2, 4, 2), through bmm
        loss = (product.sum() + joined.max(1).values.sum() + tapegrad.amax(h, 0).square().sum()
                + tapegrad.logsumexp(joined, 1).sum() + h.mv(v[:, 0]).dot(v[:, 1]))
        loss.backward()
        hits = (h.argmax(1) == labels).float().mean()
        return loss, hits

    return step, [w, v]


def _compiled_cuda_matches_eager_and_cpu(make: Callable[[str], tuple[Callable[..., Any], list[Any]]],
                                        inputs: np.ndarray, atol: float) -> None:
    """``make(device)``'s step over 4 batches compiled on CUDA (traced once, recorded), eagerly
    on CUDA and eagerly on the CPU: the same results and final gradients. (CPU compiled steps
    are checked against eager ones in ``tests/compiler``; compiling them here too only made
    the simulator pass longer.)"""
    runs = {}
    for device, compiled in (("cuda", True), ("cuda", False), ("cpu", False)):
        step, params = make(device)
        fn = tapegrad.compile(step) if compiled else step
        # Calls 1 and 2 run eagerly (the second is traced), 3 records the replay, 4 replays it.
        results = [fn(tapegrad.tensor(inputs + 0.3 * k, device=device)) for k in range(4)]
        runs[device, compiled] = [np.array([[r.item() for r in (out if isinstance(out, tuple) else (out,))]
                                            for out in results])]
        runs[device, compiled] += [p.grad.cpu().numpy() for p in params]
        if compiled:
            assert fn.traces == 1
        if compiled and device == "cuda":
            program = _program(fn)
            assert program.refused is None and program.recordings == 1
    for other in (("cuda", False), ("cpu", False)):
        for got, want in zip(runs["cuda", True], runs[other]):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=atol)


def test_products_joins_and_extremes_replay_as_eager() -> None:
    _compiled_cuda_matches_eager_and_cpu(_joins_products_and_extremes, X[:, 2:], atol=1e-6)


def _newer_functional_ops(device: str) -> tuple[Callable[..., Any], list[Any]]:
    w = tapegrad.tensor(np.linspace(-1.5, 1.5, 16).reshape(4, 4), device=device, requires_grad=True)

    def step(x: Any) -> Any:
        w.grad = None
        h = F.mish(w * x) + F.hardswish(w * 4) + F.logsigmoid(x) + F.softshrink(w, 0.2)
        loss = (F.glu(F.pad(h, (1, 1), mode="reflect"), 1).square().sum()
                + F.pad(h[None], (1, -1, 0, 1), value=0.5).sum() + F.cosine_similarity(h, x).sum()
                + F.pairwise_distance(w, x).sum() + F.huber_loss(h, x, delta=0.5)
                + F.kl_div(h.log_softmax(1), x.softmax(1), reduction="batchmean")
                + (h * tapegrad.arange(4, device=device) + tapegrad.eye(4, device=device)).square().sum()
                + h[:, tapegrad.arange(0, 4, 3, device=device)].sum()
                + (h.flip(1) * h.roll(1, 0)).tril().sum() + h.repeat(2, 1).triu(1).square().sum()
                + F.scaled_dot_product_attention(h[None], h[None] * 2, h[None], is_causal=True).square().sum()
                + F.group_norm(h[None], 2).square().sum() + tapegrad.einsum("ii->i", h).sum() + h.trace()
                + h.cumsum(1).square().sum() + (x > 0).cumsum(0).mul(h).sum() + (x > -1).cumprod(1).mul(h).sum())
        loss.backward()
        return loss

    return step, [w]


def test_newer_activations_padding_distances_losses_and_constants_replay_as_eager() -> None:
    _compiled_cuda_matches_eager_and_cpu(_newer_functional_ops, X[:, :4], atol=1e-5)


def test_an_elided_copy_written_in_place_and_a_filled_tensor_replay_as_eager() -> None:
    # The clone of a value nothing else reads is elided; the in-place clamp into it must then
    # write (and its readers read) the original's buffer. zeros() on CUDA is a recorded fill.
    w = tapegrad.tensor(np.linspace(-1.5, 1.5, 16).reshape(4, 4), device="cuda", requires_grad=True)

    def step(x: Any) -> Any:
        w.grad = None
        norm = x.norm(2, 1, keepdim=True).clone()
        with tapegrad.no_grad():
            norm.clamp_min_(1.5)
        loss = (w / norm).sum() + tapegrad.cat([w, tapegrad.zeros(4, 2, device="cuda")], 1).square().sum()
        loss.backward()
        return loss

    compiled = tapegrad.compile(step)
    for k in range(4):
        x = tapegrad.tensor(X[:, :4] * (k + 1), device="cuda")
        got = compiled(x).item()
        got_grad = w.grad.cpu().numpy()
        want = step(x).item()
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_allclose(got_grad, w.grad.cpu().numpy(), rtol=1e-12)
    assert compiled.traces == 1 and _program(compiled).refused is None


def test_dropout_steps_draw_each_replays_mask_and_are_recorded() -> None:
    runs = []
    for compiled in (False, True):
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 5), nn.Dropout(0.3), nn.ReLU(), nn.Linear(5, 3)).to("cuda")
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1)
        step = _classification_step(model, opt)
        fn = tapegrad.compile(step) if compiled else step
        y = tapegrad.tensor(LABELS, device="cuda")
        losses = [fn(tapegrad.tensor(X, device="cuda"), y).item() for _ in range(5)]
        runs.append([np.array(losses)] + [p.detach().cpu().numpy() for p in model.parameters()])
        if compiled:
            program = _program(fn)
            assert program.refused is None and program.recordings == 1
    assert len(set(runs[0][0].tolist())) == 5  # one batch, a new mask every call
    for got, want in zip(runs[1], runs[0]):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_bce_steps_check_each_replays_probabilities() -> None:
    model = nn.Linear(6, 1).to("cuda")
    with tapegrad.no_grad():
        model.weight.fill_(0.01)
        model.bias.fill_(0.5)

    @tapegrad.compile
    def step(x: Any, y: Any) -> Any:
        model.zero_grad()
        loss = F.binary_cross_entropy(model(x).clamp(0.0, 2.0), y)
        loss.backward()
        return loss

    y = tapegrad.ones(4, 1, device="cuda")
    x = tapegrad.tensor(np.abs(X) * 0.01, device="cuda")
    losses = [step(x, y).item() for _ in range(4)]
    np.testing.assert_allclose(losses, [F.binary_cross_entropy(model(x).clamp(0.0, 2.0), y).item()] * 4, rtol=1e-6)
    program = _program(step)
    assert program.refused is None and program.recordings == 1
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        step(x + 10.0, y)  # 0.5 + 0.6 and more: past 1


def test_forward_chain_and_its_backward_run_as_one_generated_kernel() -> None:
    x = tapegrad.tensor(X[0], device="cuda", requires_grad=True)

    @tapegrad.compile
    def w2(v: Any) -> Any:
        v.grad = None
        loss = (tapegrad.tanh(v * 0.5 + 1) * v + tapegrad.sigmoid(v)).sum()
        loss.backward()
        return loss

    losses = [w2(x).item() for _ in range(4)]
    program = _program(w2)
    # Forward and backward elementwise work of one shape: one kernel, and the sum its own; the
    # ones backward starts from is a literal in the kernel, not a filled array.
    assert len(program.kernels) == 1 and program.launch_count() == 2
    kernel = program.kernels[0]
    assert len(kernel.functions) >= 5 and kernel.size == 6
    reference = tapegrad.tensor(X[0], requires_grad=True)
    loss = (tapegrad.tanh(reference * 0.5 + 1) * reference + tapegrad.sigmoid(reference)).sum()
    loss.backward()
    np.testing.assert_allclose(losses, [loss.item()] * 4, rtol=1e-6)
    np.testing.assert_allclose(x.grad.cpu().numpy(), reference.grad.numpy(), rtol=1e-6)


def test_the_bias_add_fuses_into_the_activation_after_the_product() -> None:
    step, _ = _training_step("cuda", "sgd", "cross_entropy", nn.ReLU)
    compiled = tapegrad.compile(step)
    x, y = tapegrad.tensor(X, device="cuda"), tapegrad.tensor(LABELS, device="cuda")
    for _ in range(3):
        compiled(x, y)
    names = [[fn.__name__.strip("_") for fn in kernel.functions] for kernel in _program(compiled).kernels]
    assert ["add", "relu"] in names


def test_results_and_gradients_are_fresh_arrays_each_replay() -> None:
    w = tapegrad.ones(3, device="cuda", requires_grad=True)

    @tapegrad.compile
    def step(x: Any) -> Any:
        w.grad = None
        loss = (w * x).sum()
        loss.backward()
        return loss

    x = tapegrad.tensor([1.0, 2.0, 3.0], device="cuda")
    results, grads = [], []
    for k in range(1, 7):  # calls 4 to 6 issue a recording, whose buffers every call reuses
        results.append(step(x * k))
        grads.append(w.grad)
    assert [r.item() for r in results] == [6.0 * k for k in range(1, 7)]
    for k, grad in enumerate(grads, 1):
        np.testing.assert_array_equal(grad.cpu().numpy(), [k, 2.0 * k, 3.0 * k])
    assert _program(step).recorded is not None


def test_a_new_batch_size_retraces_and_both_versions_replay() -> None:
    step, _ = _training_step("cuda", "sgd", "mse", nn.Tanh)
    compiled = tapegrad.compile(step)
    for rows in (4, 2, 4, 2, 4, 2):
        compiled(tapegrad.tensor(X[:rows], device="cuda"), tapegrad.tensor(TARGETS[:rows], device="cuda"))
    assert compiled.traces == 2


def test_a_captured_tensor_moved_to_the_cpu_fails_the_guard() -> None:
    model = nn.Linear(6, 3).to("cuda")

    @tapegrad.compile
    def predict(x: Any) -> Any:
        return model(x)

    with tapegrad.no_grad():
        x = tapegrad.tensor(X, device="cuda")
        expected = predict(x).cpu().numpy()
        for _ in range(2):
            np.testing.assert_allclose(predict(x).cpu().numpy(), expected, rtol=1e-6)
        assert predict.traces == 1
        model.to("cpu")
        with pytest.raises(RuntimeError, match="found at least two devices"):
            predict(x)  # the guard fails, and the retrace meets what eager mode meets


def test_steps_mixing_devices_or_using_unsupported_ops_are_refused() -> None:
    w = tapegrad.ones(3, device="cuda", requires_grad=True)
    scale = tapegrad.tensor(2.0)  # a CPU 0-d tensor, used as a number

    @tapegrad.compile
    def mixed(x: Any) -> Any:
        return (w * x * scale).sum()

    x = tapegrad.ones(3, device="cuda")
    mixed(x)  # the first call runs eagerly
    with pytest.raises(TraceError, match="CPU tensor is used as a number in a CUDA op"):
        mixed(x)

    @tapegrad.compile
    def masked(x: Any) -> Any:
        y = x * w
        return y[y > 0.5].sum()  # runs on CUDA eagerly; compile records no boolean masks

    masked(x)
    with pytest.raises(TraceError, match="made by the op `index`"):
        masked(x)


def test_gradients_kept_between_steps_a_scheduler_and_a_penalty_replay_as_eager() -> None:
    """``zero_grad(set_to_none=False)`` accumulates each gradient into the kept ``.grad`` (a
    device view the tracer finds by its memory), the learning rate follows the scheduler at
    every replay, and a weight penalty adds a second path to the first layer's gradient."""
    runs = []
    for compiled in (True, False):
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 3)).to("cuda")
        opt = tapegrad.optim.AdamW(model.parameters(), lr=0.01)
        schedule = tapegrad.optim.lr_scheduler.StepLR(opt, 2, 0.5)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad(set_to_none=False)
            loss = F.smooth_l1_loss(model(x), y) + 0.1 * model[0].weight.pow(2).sum()
            loss.backward()
            opt.step()
            return loss

        fn = tapegrad.compile(step) if compiled else step
        x, y = tapegrad.tensor(X, device="cuda"), tapegrad.tensor(TARGETS, device="cuda")
        losses = []
        for _ in range(7):  # the learning rate halves before the first replay and twice more
            losses.append(fn(x, y).item())
            schedule.step()
        if compiled:
            assert fn.traces == 1
            assert _program(fn).recorded is not None and _program(fn).recordings == 1
        runs.append([np.array(losses)] + [p.detach().cpu().numpy() for p in model.parameters()])
    for got, want in zip(*runs):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def _rules_used(compiled: Any) -> set[str]:
    return {node.rule.name for node in compiled.tape.nodes}


IMAGES = np.random.default_rng(2).standard_normal((2, 1, 6, 6)).astype(np.float32)


def test_a_cnn_step_with_padding_modes_pools_and_class_weights_replays_as_eager() -> None:
    """Convolutions (the second with reflect padding), max, average and adaptive pooling, and a
    cross-entropy with class weights and an ignored label, compiled on CUDA: the same numbers
    as the eager CUDA and CPU steps."""
    def make(device: str) -> tuple[Callable[..., Any], Any]:
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), nn.MaxPool2d(2),
                              nn.AvgPool2d(2, 1), nn.AdaptiveAvgPool2d((1, 2)), nn.Flatten(),
                              nn.Linear(4, 3)).to(device)
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        weight = tapegrad.tensor([1.0, 2.0, 0.5], device=device)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y, weight=weight, ignore_index=1)
            loss.backward()
            opt.step()
            return loss

        return step, model

    runs = {}
    for device, compiled in (("cuda", True), ("cuda", False), ("cpu", False)):
        step, model = make(device)
        fn = tapegrad.compile(step) if compiled else step
        x, y = tapegrad.tensor(IMAGES, device=device), tapegrad.tensor([0, 2], device=device)
        # eager, traced, replayed under a recording, the recording issued again
        runs[device, compiled] = [np.array([fn(x, y).item() for _ in range(4)])]
        runs[device, compiled] += [p.detach().cpu().numpy() for p in model.parameters()]
        if compiled:
            assert fn.traces == 1
            assert {"conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_scatter", "avg_pool2d_backward",
                    "adaptive_avg_pool2d_backward", "index_pad2d", "index_pad2d_backward",
                    "nll_cuda"} <= _rules_used(fn)
    for other, rtol in ((("cuda", False), 1e-6), (("cpu", False), 2e-5)):
        for got, want in zip(runs["cuda", True], runs[other]):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


def test_double_backward_through_conv_and_pools_replays_as_eager() -> None:
    # A gradient penalty: the input gradient is built from recorded ops (the conv input and
    # weight gradients, the max-pool scatter and its gather, the average pool's adjoint).
    runs = []
    for compiled in (True, False):
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.AvgPool2d(2, 1),
                              nn.Flatten(), nn.Linear(8, 1)).to("cuda")
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.05)

        def step(x: Any) -> Any:
            opt.zero_grad()
            x = x.detach().requires_grad_()
            out = model(x).sum()
            (gx,) = tapegrad.autograd.grad(out, x, create_graph=True)
            loss = (gx * gx).sum() + out
            loss.backward()
            opt.step()
            return loss

        fn = tapegrad.compile(step) if compiled else step
        x = tapegrad.tensor(IMAGES[:1], device="cuda")
        runs.append([np.array([fn(x).item() for _ in range(4)])] + [p.detach().cpu().numpy()
                                                                    for p in model.parameters()])
        if compiled:
            assert fn.traces == 1
            assert {"conv2d_backward", "max_pool2d_gather", "max_pool2d_scatter", "avg_pool2d"} <= _rules_used(fn)
    for got, want in zip(*runs):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_and_layer_norm_steps_replay_as_eager(training: bool) -> None:
    # Training updates the running statistics in place at every replay; eval normalizes with
    # them (and its backward treats them as constants).
    runs = []
    for compiled in (True, False):
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.LayerNorm(18), nn.Linear(18, 3)).to("cuda").train(training)
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = _classification_step(model, opt)
        fn = tapegrad.compile(step) if compiled else step
        x, y = tapegrad.tensor(IMAGES, device="cuda"), tapegrad.tensor([0, 2], device="cuda")
        runs.append([np.array([fn(x, y).item() for _ in range(4)])]
                    + [t.detach().cpu().numpy() for t in model.state_dict().values()])
        if compiled:
            assert fn.traces == 1
            expected = {"layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward"}
            assert expected | ({"batch_norm_stats", "batch_norm_update_running"} if training else set()) \
                <= _rules_used(fn)
    for got, want in zip(*runs):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_indexing_steps_replay_as_eager_and_check_their_indices() -> None:
    # Token ids looked up (padding row, frequency scaling), a 3-d Linear, a gather, x[index],
    # index_select and a slice of the scores: each replay reads that call's indices and
    # range-checks them as the eager op does.
    rng = np.random.default_rng(2)
    batches = [(rng.integers(0, 7, (3, 2)), rng.integers(0, 3, 3)) for _ in range(5)]
    runs = []
    for device, compiled in (("cuda", True), ("cuda", False), ("cpu", False)):
        tapegrad.manual_seed(0)
        model = nn.Sequential(nn.Embedding(7, 4, padding_idx=1, scale_grad_by_freq=True), nn.Linear(4, 3)).to(device)
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(ids: Any, labels: Any) -> Any:
            opt.zero_grad()
            scores = model(ids).sum(1)
            picked = tapegrad.gather(scores, 1, labels.unsqueeze(1))
            rows = tapegrad.index_select(scores, 0, labels)[labels - 3]  # negative entries count from the end
            loss = F.cross_entropy(scores, labels) + (picked * picked).mean() + rows[:, 1:].sum()
            loss.backward()
            opt.step()
            return loss

        fn = tapegrad.compile(step) if compiled else step
        losses = [fn(tapegrad.tensor(ids, device=device), tapegrad.tensor(labels, device=device)).item()
                  for ids, labels in batches]
        runs.append([np.array(losses)] + [p.detach().cpu().numpy() for p in model.parameters()])
        if compiled:
            assert fn.traces == 1
            assert {"embedding", "embedding_backward", "embedding_row_factors", "gather", "scatter_add", "index",
                    "index_backward", "index_view_backward", "reshape_copy"} <= _rules_used(fn)
            # The range checks are part of the recording: the calls below run it.
            assert _program(fn).recorded is not None and _program(fn).recordings == 1
            before = [p.detach().cpu().numpy() for p in model.parameters()]
            labels = tapegrad.tensor(batches[0][1], device=device)
            with pytest.raises(IndexError, match="got index 9, but the weight has 7 rows"):
                fn(tapegrad.tensor([[0, 1], [9, 2], [3, 3]], device=device), labels)
            with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 3"):
                fn(tapegrad.tensor(batches[0][0], device=device), tapegrad.tensor([0, 5, 1], device=device))
            for p, was in zip(model.parameters(), before):
                np.testing.assert_array_equal(p.detach().cpu().numpy(), was)
    for other, rtol in ((runs[1], 1e-6), (runs[2], 2e-5)):
        for got, want in zip(runs[0], other):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


# ---------------------------------------------------------------- replays from a recording

def _mse_step() -> tuple[Callable[..., Any], Any]:
    return _training_step("cuda", "adam", "mse", nn.Tanh)


def test_a_recorded_replay_runs_none_of_the_programs_python(monkeypatch: pytest.MonkeyPatch) -> None:
    step, _ = _mse_step()
    compiled = tapegrad.compile(step)
    y = tapegrad.tensor(TARGETS, device="cuda")
    expected, _ = _mse_step()
    for k in range(3):  # eager, traced, recorded
        np.testing.assert_allclose(compiled(tapegrad.tensor(X * k, device="cuda"), y).item(),
                                   expected(tapegrad.tensor(X * k, device="cuda"), y).item(), rtol=1e-6)
    program = _program(compiled)
    assert program.recorded is not None and len(program.recorded.ops) >= len(program.kernels) > 0

    def unit_by_unit(*args: Any) -> None:
        raise AssertionError("a unit's Python ran")

    def launch(*args: Any) -> None:
        raise AssertionError("a kernel was launched through the dispatcher's Python path")

    batches = [tapegrad.tensor(X * k, device="cuda") for k in range(3, 6)]
    eager = [expected(x, y).item() for x in batches]
    monkeypatch.setattr(CudaProgram, "_run", unit_by_unit)
    monkeypatch.setattr("tapegrad.backends.cuda_launch.launch", launch)
    monkeypatch.setattr("tapegrad.backends.cuda_kernels.launch", launch)
    losses = [compiled(x, y) for x in batches]
    monkeypatch.undo()
    np.testing.assert_allclose([loss.item() for loss in losses], eager, rtol=1e-6)


def test_a_moved_buffer_records_again_and_then_replays_unit_by_unit() -> None:
    """An argument whose ``.grad`` the step accumulates into is used where it is: a new one
    every call makes a new recording, up to ``MAX_RECORDINGS``; results stay exact."""
    from tapegrad.compiler import cuda_replay

    w = tapegrad.tensor([0.5, -1.0, 2.0], device="cuda", requires_grad=True)

    @tapegrad.compile
    def step(x: Any) -> Any:
        loss = (tapegrad.tanh(x * w)).sum()
        loss.backward()
        return loss

    calls = cuda_replay.MAX_RECORDINGS + 4
    for k in range(calls):
        x = tapegrad.tensor([1.0, 2.0, 3.0 + k], device="cuda", requires_grad=True)
        x.grad = tapegrad.ones(3, device="cuda")
        step(x)
        reference = tapegrad.tensor([1.0, 2.0, 3.0 + k], requires_grad=True)
        reference.grad = tapegrad.ones(3)
        tapegrad.tanh(reference * w.detach().cpu()).sum().backward()
        np.testing.assert_allclose(x.grad.cpu().numpy(), reference.grad.numpy(), rtol=1e-6)
    program = _program(step)
    assert program.recordings == cuda_replay.MAX_RECORDINGS and program.recorded is None


def test_recording_can_be_turned_off_and_an_output_in_an_inputs_memory_is_not_recorded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def make() -> tuple[Callable[..., Any], Any]:
        w = tapegrad.tensor([0.5, -1.0, 2.0], device="cuda")

        def step(x: Any) -> Any:
            w.mul_(x)
            return w

        return step, w

    step, w = make()
    compiled = tapegrad.compile(step)
    for k in range(5):
        out = compiled(tapegrad.tensor([1.0, 2.0, 0.5], device="cuda"))
    np.testing.assert_allclose(w.cpu().numpy(), [0.5, -32.0, 2.0 / 32])
    assert out.cpu().numpy().tolist() == w.cpu().numpy().tolist()
    assert "lives in an input's memory" in _program(compiled).refused

    monkeypatch.setenv("TAPEGRAD_CUDA_RECORD", "0")
    step, _ = _mse_step()
    compiled = tapegrad.compile(step)
    expected, _ = _mse_step()
    x, y = tapegrad.tensor(X, device="cuda"), tapegrad.tensor(TARGETS, device="cuda")
    for _ in range(4):
        np.testing.assert_allclose(compiled(x, y).item(), expected(x, y).item(), rtol=1e-6)
    assert _program(compiled).refused == "TAPEGRAD_CUDA_RECORD=0" and _program(compiled).recorded is None


def _one_dim_and_transposed(device: str) -> tuple[Callable[..., Any], list[Any]]:
    tapegrad.manual_seed(1)
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                          nn.ConvTranspose1d(3, 2, 2, stride=2), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(2)).to(device)
    up = nn.ConvTranspose2d(1, 2, 2, stride=2, groups=1).to(device)

    def step(x: Any) -> Any:
        model.zero_grad()
        up.zero_grad()
        loss = (model(x.reshape(2, 2, 6)).square().sum() + up(x[None, :2, :3]).tanh().sum()
                + F.interpolate(x[None, None], scale_factor=1.5, mode="bilinear").square().sum()
                + F.interpolate(x[None], size=5, mode="nearest").sum())
        loss.backward()
        return loss

    return step, [*model.parameters(), *up.parameters()]


def test_one_dim_and_transposed_convolutions_and_interpolation_replay_as_eager() -> None:
    _compiled_cuda_matches_eager_and_cpu(_one_dim_and_transposed, X, atol=1e-5)
