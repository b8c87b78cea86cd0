"""The op table: one row per op (adding an op is adding one row to ``ROWS``).

Each row names the op, gives one lambda ``fn(lib, *tensors, **kw)`` that runs it in tapegrad
or torch (``lib`` is the module), a NumPy reference ``ref(*arrays, **kw)``, its tensor
arguments (``Arg``: value domain, dtype kind, differentiable or not), the cases (shapes,
memory layouts, keyword variants), the dtypes it accepts and which gradient checks apply.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf as _sp_erf
from scipy.special import logsumexp as _sp_logsumexp
from scipy import special as _sp_special

from ophelpers import ALL, FLOATS, NUMERIC, Arg, In, Row, case, with_variants

# ----------------------------------------------------------------------------- arguments

R = Arg("real")
P = Arg("pos")
NZ = Arg("nonzero")
D = Arg("distinct")
G = Arg("grid")
B = Arg("real", kind="bool", diff=False)
IDX = Arg(kind="index", diff=False)
W = Arg("pos", diff=False)            # class / element weights: no gradient taken
SIGN = Arg("nonzero", diff=False)     # a margin loss's target is the sign of this draw

# Integer powers in int32 run in a child process (``Row.isolate``), where a kernel that fails to
# link would abort the interpreter.
I32 = ("int32",)


# ----------------------------------------------------------------------------- cases

UNARY = (
    case("2x3", (2, 3)),
    case("0d", ()),
    case("empty", (0, 3)),
    case("T", In((3, 4), "T")),
    case("S", In((2, 3), "S")),
    case("X", In((2, 3), "X")),
)

BINARY = (
    case("same", (2, 3), (2, 3)),
    case("bcast", (3, 1), (1, 4)),
    case("bcast_rank", (4,), (2, 3, 4)),
    case("0d_left", (), (2, 3)),
    case("0d_right", (2, 3), ()),
    case("0d_0d", (), ()),
    case("empty", (0, 3), (1, 3)),
    case("T_S", In((2, 3), "T"), In((2, 3), "S")),
    case("X_T", In((3, 4), "X"), In((3, 4), "T")),
)

# Above the backend's threshold for multi-threaded kernels (2**17 elements), float dtypes only.
LARGE_UNARY = (case("large", (384, 384), dtypes=FLOATS), case("large_T", In((384, 384), "T"), dtypes=FLOATS))
LARGE_BINARY = (case("large", (384, 384), (384, 384), dtypes=FLOATS),
                case("large_bcast", (384, 384), (384,), dtypes=FLOATS),
                case("large_T", In((384, 384), "T"), (384, 384), dtypes=FLOATS))

# Non-finite values, signed zeros, tiny and huge magnitudes (one cycle of the "special" domain).
SPECIAL = (case("special", (2, 7)), case("special_T", In((2, 7), "T")))

TERNARY = (
    case("same", (2, 3), (2, 3), (2, 3)),
    case("bcast", (3, 1), (1, 4), (4,)),
    case("0d", (), (2, 3), ()),
    case("empty", (0, 3), (1, 3), (3,)),
    case("T_S_X", In((2, 3), "T"), In((2, 3), "S"), In((2, 3), "X")),
)

SHAPE3 = (2, 3, 4)
LAYOUTS3 = (In(SHAPE3, "T"), In(SHAPE3, "S"), In(SHAPE3, "X"))


def reduce_cases(variants, scalar=({},), empty=(), layout_variants=None):
    """Every variant on a (2, 3, 4) input, then non-contiguous inputs, 0-d and empty inputs."""
    cases = [case(f"2x3x4:{_kid(kw)}", SHAPE3, **kw) for kw in variants]
    for spec, kw in zip(LAYOUTS3, layout_variants or (variants * 3)[:3]):
        cases.append(case(f"{spec.layout}:{_kid(kw)}", spec, **kw))
    cases += [case(f"0d:{_kid(kw)}", (), **kw) for kw in scalar]
    cases += [case(f"empty{shape}:{_kid(kw)}".replace(" ", ""), shape, **kw) for shape, kw in empty]
    return tuple(cases)


def _kid(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items()).replace(" ", "") or "all"


SUM_VARIANTS = ({}, dict(dim=1), dict(dim=-1, keepdim=True), dict(dim=(0, 2)),
                dict(dim=(0, 2), keepdim=True), dict(dim=None, keepdim=True))
SUM_EMPTY = (((2, 0, 4), {}), ((2, 0, 4), dict(dim=1)), ((2, 0, 4), dict(dim=2, keepdim=True)))
DIM_VARIANTS = (dict(dim=1), dict(dim=-1, keepdim=True), dict(dim=0))
VIEW_CASES = (case("2x3x4", SHAPE3),) + tuple(case(s.layout, s) for s in LAYOUTS3)
GETITEM_CASES = (case("3x4x5", (3, 4, 5)), case("T", In((3, 4, 5), "T")), case("S", In((3, 4, 5), "S")),
                 case("X", In((3, 4, 5), "X")))


# ----------------------------------------------------------------------------- NumPy references

def _ax(dim):
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def _axis(x, dim):
    """A torch dim as a NumPy axis; a 0-d tensor accepts dim 0 or -1, meaning itself."""
    return None if x.ndim == 0 else _ax(dim)


def flt(f):
    """``f`` on float64 copies of integer and bool inputs (NumPy computes bool maths in float16)."""
    def ref(*arrays, **kw):
        return f(*[a.astype(np.float64) if a.dtype.kind in "biu" else a for a in arrays], **kw)
    return ref


def np_sign(x):
    return x.copy() if x.dtype == np.bool_ else np.sign(x)


def np_sum(x, dim=None, keepdim=False):
    return np.sum(x, axis=_axis(x, dim), keepdims=keepdim)


def np_mean(x, dim=None, keepdim=False):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean(x, axis=_axis(x, dim), keepdims=keepdim) if x.size else \
            np.full(np.sum(x, axis=_axis(x, dim), keepdims=keepdim).shape, np.nan)


def np_var(x, dim=None, unbiased=True, keepdim=False, correction=None):
    ddof = correction if correction is not None else (1 if unbiased else 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.var(x, axis=_ax(dim), ddof=ddof, keepdims=keepdim)


def np_std(x, **kw):
    return np.sqrt(np_var(x, **kw))


def np_norm(x, p=2, dim=None, keepdim=False):
    a = np.abs(x)
    if p == np.inf:
        return a.max(axis=_ax(dim), keepdims=keepdim)
    if p == 0:
        return (a != 0).sum(axis=_ax(dim), keepdims=keepdim).astype(x.dtype)
    return (a ** p).sum(axis=_ax(dim), keepdims=keepdim) ** (1.0 / p)


def np_logsumexp(x, dim, keepdim=False):
    return _sp_logsumexp(x.astype(np.float64), axis=_axis(x, dim), keepdims=keepdim)


def np_softmax(x, dim):
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x - (x.max(axis=dim, keepdims=True) if x.size else 0))
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    if x.ndim == 0:
        return np.zeros_like(x)
    return x - _sp_logsumexp(x, axis=dim, keepdims=True)


def np_sort(x, dim=-1, descending=False):
    """A stable sort, PyTorch's order (NaN the largest); ``(values, int64 indices)``."""
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    key = x.astype(np.float64) if x.dtype.kind in "biu" else x
    order = np.argsort(-key if descending else key, axis=dim, kind="stable")
    return np.take_along_axis(x, order, dim), order.astype(np.int64)


def np_topk(x, k, dim=-1, largest=True):
    values, indices = np_sort(x, dim, descending=largest)
    take = (slice(None),) * (dim % x.ndim) + (slice(0, k),)
    return values[take], indices[take]


def np_max_dim(x, dim, keepdim=False, largest=True):
    pick = np.max if largest else np.min
    arg = np.argmax if largest else np.argmin
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    return pick(x, axis=dim, keepdims=keepdim), arg(x, axis=dim, keepdims=keepdim)


def np_arg(x, dim=None, keepdim=False, largest=True):
    arg = np.argmax if largest else np.argmin
    if dim is None or x.ndim == 0:
        index = arg(x.reshape(-1))
        return np.reshape(index, (1,) * x.ndim) if keepdim else np.asarray(index)
    return arg(x, axis=dim, keepdims=keepdim)


def np_clamp(x, lo=None, hi=None):
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


def np_squeeze(x, dim=None):
    if dim is None:
        return np.squeeze(x)
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return np.squeeze(x, axis=tuple(d for d in dims if x.ndim and x.shape[d] == 1))


def np_gather(x, index, dim):
    where = list(np.indices(index.shape, sparse=True))
    where[dim] = index
    return x[tuple(where)]


def np_split(x, size, dim):
    n = x.shape[dim]
    if isinstance(size, int):
        bounds = list(range(size, n, size))
    else:
        bounds = list(np.cumsum(size)[:-1])
    return tuple(np.split(x, bounds, axis=dim))


def np_chunk(x, chunks, dim):
    n = x.shape[dim]
    return np_split(x, max(1, -(-n // chunks)), dim)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, x * slope)


def np_elu(x, alpha=1.0, scale=1.0, input_scale=1.0):
    return np.where(x > 0, x * scale, np.expm1(x * input_scale) * alpha * scale)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def np_gelu(x):
    return x * 0.5 * (1 + _sp_erf(x / np.sqrt(2.0)))


def np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def np_silu(x):
    return x / (1 + np.exp(-x))


def np_cumsum(x, dim):
    """PyTorch's cumsum: integers and bools as int64, floats summed wide and rounded per element."""
    if x.ndim == 0:
        return x.copy() if x.dtype.kind == "f" else x.astype(np.int64)
    wide = np.cumsum(x, dim, dtype=np.float64 if x.dtype.kind == "f" else np.int64)
    return wide.astype(x.dtype) if x.dtype.kind == "f" else wide


def np_cumprod(x, dim):
    """PyTorch's cumprod: integers and bools as int64, floats multiplied wide and rounded per element."""
    if x.ndim == 0:
        return x.copy() if x.dtype.kind == "f" else x.astype(np.int64)
    wide = np.cumprod(x, dim, dtype=np.float64 if x.dtype.kind == "f" else np.int64)
    return wide.astype(x.dtype) if x.dtype.kind == "f" else wide


def np_group_norm(x, w, b, num_groups, eps=1e-5):
    groups = x.reshape(x.shape[0], num_groups, -1)
    normal = (groups - groups.mean(-1, keepdims=True)) / np.sqrt(groups.var(-1, keepdims=True) + eps)
    along = (-1,) + (1,) * (x.ndim - 2)
    return normal.reshape(x.shape) * w.reshape(along) + b.reshape(along)


def np_attention(q, k, v, is_causal=False, scale=None):
    scores = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if is_causal:
        scores = np.where(np.tri(q.shape[-2], k.shape[-2], dtype=bool), scores, -np.inf)
    return np_softmax(scores, -1) @ v


def np_hardsigmoid(x):
    """PyTorch's hardsigmoid of ``4 * x`` (the rows scale their input)."""
    return np.clip(x * 4 + 3, 0, 6) / 6


def np_mish(x):
    return x * np.tanh(np.logaddexp(0, x))


def np_softshrink(x, lambd):
    return np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0 * x))


def np_glu(x, dim=-1):
    first, second = np.split(x, 2, axis=dim)
    return first / (1 + np.exp(-second))


def np_reduce(loss, reduction):
    if reduction == "mean":
        return np.mean(loss)
    if reduction == "sum":
        return np.sum(loss)
    return loss


def np_smooth_l1(x, y, reduction="mean", beta=1.0):
    d = np.abs(x - y)
    loss = d if beta == 0 else np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return np_reduce(loss, reduction)


def np_huber(x, y, reduction="mean", delta=1.0, weight=None):
    """PyTorch's huber loss of ``2 * x`` (the rows scale their input to reach the linear part)."""
    d = np.abs(2 * x - y)
    loss = np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    return np_reduce(loss if weight is None else loss * weight, reduction)


def np_kl_div(x, t, reduction="mean", log_target=False):
    if log_target:
        loss = np.exp(t) * (t - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(t == 0, 0.0, t * np.log(t)) - t * x
    if reduction == "batchmean":
        return np.sum(loss) / (x.shape[0] if x.ndim else 1)
    return np_reduce(loss, reduction)


def np_normalize(x, p=2, dim=1):
    norm = np.sum(np.abs(x) ** p, axis=dim, keepdims=True) ** (1 / p)
    return x / np.maximum(norm, 1e-12)


def np_cosine_similarity(x, y, dim=1):
    x, y = np.broadcast_arrays(x, y)
    nx = np.maximum(np.linalg.norm(x, axis=dim, keepdims=True), 1e-8)
    ny = np.maximum(np.linalg.norm(y, axis=dim, keepdims=True), 1e-8)
    return np.sum((x / nx) * (y / ny), axis=dim)


def np_pad(x, pad, mode="constant", value=0.0):
    """``F.pad``'s reference: negative counts crop first, then ``np.pad`` adds the rest."""
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        dim = x.ndim - 1 - k
        before, after = pad[2 * k], pad[2 * k + 1]
        x = np.take(x, range(max(-before, 0), x.shape[dim] - max(-after, 0)), axis=dim)
        widths[dim] = (max(before, 0), max(after, 0))
    if mode == "constant":
        return np.pad(x, widths, mode, constant_values=np.array(value).astype(x.dtype))
    return np.pad(x, widths, mode)


def np_cosine_embedding(x, y, s, reduction="mean"):
    cos = np.sum(x * y, -1) / np.sqrt((np.sum(x * x, -1) + 1e-12) * (np.sum(y * y, -1) + 1e-12))
    return np_reduce(np.where(s > 0, 1 - cos, np.maximum(0, cos - 0.1)), reduction)


def np_triplet(a, pos, neg, reduction="mean", swap=False, p=2.0):
    dist = lambda u, v: np.sum(np.abs(u - v + 1e-6) ** p, -1) ** (1 / p)  # noqa: E731
    negative = np.minimum(dist(a, neg), dist(pos, neg)) if swap else dist(a, neg)
    return np_reduce(np.maximum(0, 2.0 + dist(a, pos) - negative), reduction)


def np_gaussian_nll(x, y, v, reduction="mean"):
    v = np.maximum(v, 1e-6)
    return np_reduce(0.5 * (np.log(v) + (x - y) ** 2 / v), reduction)


def np_poisson_full(x, y, reduction="mean"):
    y = y * 3
    stirling = np.where(y <= 1, 0, y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y))
    return np_reduce(x - y * np.log(x + 1e-8) + stirling, reduction)


def np_bce(x, t, w=None, reduction="mean"):
    loss = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log(1 - x), -100))
    return np_reduce(loss if w is None else loss * w, reduction)


def np_bce_logits(x, t, w=None, pw=None, reduction="mean"):
    log_weight = 1 if pw is None else 1 + (pw - 1) * t
    loss = (1 - t) * x + log_weight * np.logaddexp(0, -x)
    return np_reduce(loss if w is None else loss * w, reduction)


def np_nll(logp, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    class_axis = 0 if logp.ndim == 1 else 1
    classes = logp.shape[class_axis]
    w = np.ones(classes) if weight is None else weight
    lp = np.moveaxis(logp, class_axis, -1)
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    picked = np.take_along_axis(lp, safe[..., None], -1)[..., 0]
    wt = np.where(valid, w[safe], 0.0)
    nll = -picked * wt
    smooth = -(lp * w).sum(-1) * valid
    ls = label_smoothing
    if reduction == "none":
        return nll * (1 - ls) + smooth * (ls / classes)
    total = nll.sum() * (1 - ls) + smooth.sum() * (ls / classes)
    if reduction == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / wt.sum()


def np_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    class_axis = 0 if x.ndim == 1 else 1
    logp = np_log_softmax(x, class_axis)
    if target.dtype.kind != "f":
        return np_nll(logp, target, weight, ignore_index, reduction, label_smoothing)
    classes = x.shape[class_axis]
    probs = target * (1 - label_smoothing) + label_smoothing / classes
    shape = [1] * x.ndim
    shape[class_axis] = classes
    w = np.ones(shape) if weight is None else weight.reshape(shape)
    loss = -(logp * probs * w).sum(axis=class_axis)
    if reduction == "mean":
        return loss.sum() / (x.size // classes)
    return loss.sum() if reduction == "sum" else loss


def F(lib):
    return lib.nn.functional


REDUCTIONS = (dict(reduction="mean"), dict(reduction="sum"), dict(reduction="none"))
PAIR = (case("2x3", (2, 3), (2, 3)), case("0d", (), ()), case("T_S", In((2, 3), "T"), In((2, 3), "S")),
        case("3d", (2, 3, 2), (2, 3, 2)))


# ----------------------------------------------------------------------------- the table

def np_threshold(x):
    return np.where(x <= 0, 2.5, x).astype(x.dtype)


def np_prelu(x, w):
    # One slope, or one per channel (dim 1).
    w = w.reshape(()) if w.size == 1 else w.reshape((-1,) + (1,) * (x.ndim - 2))
    return np.where(x > 0, x, w * x)


def row(name, fn, ref, args=(R,), cases=UNARY, **kw):
    return Row(name, fn, ref, tuple(args), tuple(cases), **kw)


ROWS: list[Row] = [
    # ---- arithmetic operators and reflected forms -----------------------------------------
    row("add", lambda t, x, y: x + y, lambda x, y: x + y, (R, R), BINARY + LARGE_BINARY, dtypes=ALL, gradgrad=True),
    row("add_scalar", lambda t, x: x + 2.5, lambda x: x + 2.5, dtypes=ALL),
    row("radd_scalar", lambda t, x: 2.5 + x, lambda x: 2.5 + x, dtypes=ALL),
    row("add_int_scalar", lambda t, x: x + 2, lambda x: x + 2, dtypes=ALL),
    row("add_alpha", lambda t, x, y: t.add(x, y, alpha=2), lambda x, y: x + 2 * y, (R, R), BINARY[:3],
        dtypes=NUMERIC),
    row("sub", lambda t, x, y: x - y, lambda x, y: x - y, (R, R), BINARY, dtypes=NUMERIC, gradgrad=True),
    row("sub_scalar", lambda t, x: x - 2.5, lambda x: x - 2.5, dtypes=NUMERIC),
    row("rsub_scalar", lambda t, x: 2.5 - x, lambda x: 2.5 - x, dtypes=NUMERIC),
    row("rsub_int_scalar", lambda t, x: 2 - x, lambda x: 2 - x, dtypes=NUMERIC),
    row("mul", lambda t, x, y: x * y, lambda x, y: x * y, (R, R), BINARY + LARGE_BINARY, dtypes=ALL, gradgrad=True),
    row("mul_scalar", lambda t, x: x * 2.5, lambda x: x * 2.5, dtypes=ALL),
    row("rmul_scalar", lambda t, x: 2.5 * x, lambda x: 2.5 * x, dtypes=ALL),
    row("rmul_int_scalar", lambda t, x: 3 * x, lambda x: 3 * x, dtypes=ALL),
    row("div", lambda t, x, y: x / y, flt(lambda x, y: x / y), (R, NZ), BINARY + LARGE_BINARY, dtypes=ALL,
        gradgrad=True),
    row("div_scalar", lambda t, x: x / 2.5, lambda x: x / 2.5, dtypes=ALL),
    row("div_int_scalar", lambda t, x: x / 2, lambda x: x / 2, dtypes=ALL),
    row("rdiv_scalar", lambda t, x: 2.5 / x, flt(lambda x: 2.5 / x), (NZ,), dtypes=ALL),
    row("pow", lambda t, x, y: x ** y, lambda x, y: x ** y, (P, Arg("expo")), BINARY, dtypes=NUMERIC,
        gradgrad=True, isolate=I32),
    row("pow_fn", lambda t, x, y: t.pow(x, y), lambda x, y: x ** y, (P, Arg("expo")), BINARY[:2],
        dtypes=NUMERIC, isolate=I32),
    row("pow_2", lambda t, x: x ** 2, lambda x: x.astype(np.int64) ** 2 if x.dtype == bool else x ** 2,
        dtypes=ALL, gradgrad=True, isolate=I32),
    row("pow_3", lambda t, x: x.pow(3), lambda x: x ** 3, dtypes=NUMERIC, isolate=I32),
    row("pow_0", lambda t, x: x ** 0, lambda x: x ** 0, dtypes=NUMERIC, isolate=I32),
    row("pow_2.5", lambda t, x: x ** 2.5, lambda x: x ** 2.5, (P,), dtypes=ALL),
    row("pow_-1", lambda t, x: x ** -1, lambda x: x ** -1.0, (NZ,)),
    row("pow_0.5", lambda t, x: x ** 0.5, lambda x: x ** 0.5, (P,)),
    row("rpow_int", lambda t, x: 2 ** x, lambda x: 2 ** x, (Arg("expo"),), dtypes=NUMERIC, isolate=I32),
    row("rpow_float", lambda t, x: 2.5 ** x, flt(lambda x: 2.5 ** x), (Arg("expo"),), dtypes=ALL),
    row("neg_op", lambda t, x: -x, lambda x: -x, dtypes=NUMERIC),
    row("neg", lambda t, x: t.neg(x), lambda x: -x, dtypes=NUMERIC),

    # ---- unary maths ----------------------------------------------------------------------
    row("abs", lambda t, x: x.abs(), np.abs, (NZ,), dtypes=NUMERIC),
    row("exp", lambda t, x: x.exp(), flt(np.exp), cases=UNARY + LARGE_UNARY, dtypes=ALL, gradgrad=True),
    row("log", lambda t, x: x.log(), flt(np.log), (P,), dtypes=ALL, gradgrad=True),
    row("log1p", lambda t, x: x.log1p(), flt(np.log1p), (Arg("gt_m1"),), dtypes=ALL),
    row("expm1", lambda t, x: x.expm1(), flt(np.expm1), dtypes=ALL),
    row("sqrt", lambda t, x: x.sqrt(), flt(np.sqrt), (P,), UNARY + LARGE_UNARY, dtypes=ALL, gradgrad=True),
    row("rsqrt", lambda t, x: x.rsqrt(), flt(lambda x: 1 / np.sqrt(x)), (P,), dtypes=ALL),
    row("sin", lambda t, x: x.sin(), flt(np.sin), dtypes=ALL, gradgrad=True),
    row("cos", lambda t, x: t.cos(x), flt(np.cos), dtypes=ALL),
    row("tanh", lambda t, x: x.tanh(), flt(np.tanh), cases=UNARY + LARGE_UNARY, dtypes=ALL, gradgrad=True),
    row("sigmoid", lambda t, x: t.sigmoid(x), flt(np_sigmoid), cases=UNARY + LARGE_UNARY, dtypes=ALL, gradgrad=True),
    row("relu", lambda t, x: x.relu(), lambda x: np.maximum(x, 0), (NZ,), UNARY + LARGE_UNARY, dtypes=NUMERIC),
    row("softplus", lambda t, x: F(t).softplus(x), lambda x: np.logaddexp(0, x)),
    row("softplus_beta", lambda t, x: F(t).softplus(x, beta=2.0, threshold=3.0),
        lambda x: np.where(2 * x > 3, x, np.logaddexp(0, 2 * x) / 2), (Arg("nonzero"),)),
    row("sign", lambda t, x: x.sign(), np_sign, (NZ,), dtypes=ALL),
    row("erf", lambda t, x: x.erf(), flt(_sp_erf), dtypes=ALL, gradgrad=True),

    # ---- more math: trigonometric, hyperbolic, exponential and special functions --------------
    # Inputs are scaled into a function's domain where it has one (asin of 0.45 x, acosh of x + 0.6).
    row("tan", lambda t, x: x.tan(), np.tan, (Arg("expo"),), gradgrad=True),
    row("asin", lambda t, x: t.asin(x * 0.45), lambda x: np.arcsin(x * 0.45), gradgrad=True),
    row("acos", lambda t, x: (x * 0.45).acos(), lambda x: np.arccos(x * 0.45), gradgrad=True),
    row("atan", lambda t, x: x.atan(), np.arctan, gradgrad=True),
    row("sinh", lambda t, x: x.sinh(), np.sinh, gradgrad=True),
    row("cosh", lambda t, x: t.cosh(x), np.cosh, gradgrad=True),
    row("asinh", lambda t, x: t.asinh(x), np.arcsinh, gradgrad=True),
    row("acosh", lambda t, x: (x + 0.6).acosh(), lambda x: np.arccosh(x + 0.6), (P,), gradgrad=True),
    row("atanh", lambda t, x: t.atanh(x * 0.45), lambda x: np.arctanh(x * 0.45), gradgrad=True),
    row("arc_aliases", lambda t, x: (t.arcsin(x * 0.45), (x * 0.45).arccos(), t.arctan(x), x.arcsinh(),
                                     t.arccosh(x * x + 1.5), (x * 0.45).arctanh()),
        lambda x: (np.arcsin(x * 0.45), np.arccos(x * 0.45), np.arctan(x), np.arcsinh(x), np.arccosh(x * x + 1.5),
                   np.arctanh(x * 0.45)), cases=UNARY[:2]),
    row("atan2", lambda t, x, y: t.atan2(x, y), np.arctan2, (R, NZ), BINARY + LARGE_BINARY[:1], gradgrad=True),
    row("arctan2", lambda t, x, y: x.arctan2(y), np.arctan2, (R, R), BINARY[:2]),
    row("log2", lambda t, x: x.log2(), np.log2, (P,), gradgrad=True),
    row("log10", lambda t, x: t.log10(x), np.log10, (P,), gradgrad=True),
    row("exp2", lambda t, x: x.exp2(), np.exp2, (R,), UNARY + LARGE_UNARY, gradgrad=True),
    row("trunc", lambda t, x: x.trunc(), np.trunc, (Arg("frac"),), dtypes=NUMERIC),
    row("fix", lambda t, x: t.fix(x), np.trunc, (Arg("frac"),), UNARY[:2], dtypes=NUMERIC),
    row("frac", lambda t, x: t.frac(x), lambda x: x - np.trunc(x), (Arg("frac"),), gradgrad=True),
    row("fmod", lambda t, x, y: t.fmod(x, y), np.fmod, (Arg("frac"), NZ), BINARY[:4] + BINARY[-2:], dtypes=NUMERIC,
        gradgrad=True),
    row("fmod_scalar", lambda t, x: x.fmod(0.7), lambda x: np.fmod(x, 0.7), (Arg("frac"),), dtypes=NUMERIC),
    row("fmod_int_scalar", lambda t, x: t.fmod(x, -2), lambda x: np.fmod(x, -2), (Arg("frac"),), dtypes=NUMERIC),
    row("hypot", lambda t, x, y: t.hypot(x, y), np.hypot, (R, R), BINARY, gradgrad=True),
    row("logaddexp", lambda t, x, y: x.logaddexp(y), np.logaddexp, (R, R), BINARY + LARGE_BINARY[:1], gradgrad=True),
    row("logaddexp2", lambda t, x, y: t.logaddexp2(x, y), np.logaddexp2, (R, R), BINARY, gradgrad=True),
    row("erfc", lambda t, x: x.erfc(), _sp_special.erfc, gradgrad=True),
    row("erfinv", lambda t, x: t.erfinv(x * 0.45), lambda x: _sp_special.erfinv(x * 0.45), cases=UNARY + LARGE_UNARY,
        gradgrad=True),
    # "distinct" draws keep at least 1/8 away from the poles at 0, -1, -2, ...
    row("lgamma", lambda t, x: x.lgamma(), _sp_special.gammaln, (D,), gradgrad=True),
    row("digamma", lambda t, x: t.digamma(x), _sp_special.digamma, (D,), gradgrad=True),
    row("digamma_large", lambda t, x: x.digamma(), _sp_special.digamma, (P,), LARGE_UNARY),
    row("polygamma", lambda t, x: t.polygamma(2, x), lambda x: _sp_special.polygamma(2, x), (D,), gradgrad=True),
    # polygamma(1, x) follows PyTorch's trigamma, whose series stops at x**-7: up to ~5e-10 from SciPy's.
    row("polygamma_n", lambda t, x, n: x.polygamma(n), lambda x, n: _sp_special.polygamma(n, x), (D,),
        with_variants(UNARY[:2], (dict(n=0), dict(n=1), dict(n=3))), tol={"float64": dict(rtol=1e-9, atol=1e-12)},
        gradgrad=True),
    row("logit", lambda t, x: x.logit(), _sp_special.logit, (Arg("unit_open"),), gradgrad=True),
    # "unit" draws hold 0 and 1 exactly: clamped, with a zero gradient.
    row("logit_eps", lambda t, x, eps: t.logit(x, eps=eps), lambda x, eps: _sp_special.logit(np.clip(x, eps, 1 - eps)),
        (Arg("unit"),), with_variants(UNARY[:4], (dict(eps=0.25), dict(eps=0.05))), gradgrad=True),
    row("sinc", lambda t, x: t.sinc(x), np.sinc, gradgrad=True),
    row("deg2rad", lambda t, x: x.deg2rad(), flt(np.deg2rad), dtypes=ALL),
    row("rad2deg", lambda t, x: t.rad2deg(x), flt(np.rad2deg), dtypes=ALL),
    row("copysign", lambda t, x, y: t.copysign(x, y), np.copysign, (R, R), BINARY, gradgrad=True),
    row("copysign_scalar", lambda t, x: x.copysign(-1.5), flt(lambda x: np.copysign(x, -1.5)), dtypes=ALL),
    row("copysign_of_integers", lambda t, x, y: t.copysign(x, y), flt(np.copysign), (R, R), BINARY[:2],
        dtypes=("int64", "int32", "bool"), grad=False),
    # Integer draws hold zeros, where the values tensor is taken. No derivative: the backward raises.
    row("heaviside", lambda t, x, v: t.heaviside(x, v),
        lambda x, v: np.where(x == 0, v, x > 0).astype(x.dtype), (R, R), BINARY[:5], dtypes=ALL, grad=False),
    # One ulp apart: compared exactly. "grid" draws hold ties, where nextafter is the identity.
    row("nextafter", lambda t, x, y: t.nextafter(x, y), np.nextafter, (R, R), BINARY, widen=False,
        tol={"float32": dict(rtol=0, atol=0), "float64": dict(rtol=0, atol=0)}),
    row("nextafter_grid", lambda t, x, y: x.nextafter(y), np.nextafter, (G, G), BINARY[:2], widen=False,
        tol={"float32": dict(rtol=0, atol=0), "float64": dict(rtol=0, atol=0)}, gradcheck=False),
    row("nan_to_num", lambda t, x, **kw: t.nan_to_num(x, **kw), lambda x, **kw: np.nan_to_num(x, **kw),
        (Arg("special"),), with_variants(SPECIAL, ({}, dict(nan=1.5, posinf=2.5, neginf=-3.5))), dtypes=ALL,
        widen=False, gradcheck=False),
    row("float_power", lambda t, x, y: t.float_power(x, y), lambda x, y: x.astype(np.float64) ** y.astype(np.float64),
        (P, Arg("expo")), BINARY[:4], dtypes=NUMERIC, gradgrad=True),
    row("float_power_scalar", lambda t, x: x.float_power(2.5), lambda x: x.astype(np.float64) ** 2.5, (P,),
        dtypes=ALL),
    row("rfloat_power", lambda t, x: t.float_power(2, x), lambda x: 2.0 ** x.astype(np.float64), dtypes=NUMERIC),
    row("positive", lambda t, x: t.positive(x), lambda x: x, dtypes=NUMERIC),
    # sgn is sign for real tensors; torch hands its zero gradient back as a ZeroTensor, which cannot
    # be read: the gradient is compared through sgn(x) + x.
    row("sgn", lambda t, x: x.sgn(), np_sign, (NZ,), dtypes=ALL, grad=False),
    row("sgn_grad", lambda t, x: t.sgn(x) + x, lambda x: np.sign(x) + x, (NZ,), gradgrad=True),
    row("xlogy_scalar_other", lambda t, x: t.xlogy(x, 2.5), lambda x: x * np.log(2.5), gradgrad=True),
    row("xlogy_scalar_self", lambda t, y: t.xlogy(2.5, y), lambda y: 2.5 * np.log(y), (P,), gradgrad=True),
    *[row(f"{name}_of_integers", fn, flt(ref), (Arg("expo"),), dtypes=("int64", "int32", "bool"), grad=False,
          grad_fn=False) for name, fn, ref in (
        ("tan", lambda t, x: x.tan(), np.tan), ("asin", lambda t, x: t.asin(x), np.arcsin),
        ("acos", lambda t, x: x.acos(), np.arccos), ("atan", lambda t, x: x.atan(), np.arctan),
        ("sinh", lambda t, x: x.sinh(), np.sinh), ("cosh", lambda t, x: x.cosh(), np.cosh),
        ("asinh", lambda t, x: x.asinh(), np.arcsinh), ("acosh", lambda t, x: x.acosh(), np.arccosh),
        ("atanh", lambda t, x: x.atanh(), np.arctanh), ("log2", lambda t, x: x.log2(), np.log2),
        ("log10", lambda t, x: x.log10(), np.log10), ("exp2", lambda t, x: x.exp2(), np.exp2),
        ("erfc", lambda t, x: x.erfc(), _sp_special.erfc), ("erfinv", lambda t, x: x.erfinv(), _sp_special.erfinv),
        ("lgamma", lambda t, x: x.lgamma(), _sp_special.gammaln),
        ("digamma", lambda t, x: x.digamma(), _sp_special.digamma),
        ("logit", lambda t, x: x.logit(), _sp_special.logit), ("sinc", lambda t, x: x.sinc(), np.sinc),
        ("atan2", lambda t, x: t.atan2(x, x * 2 + 1), lambda x: np.arctan2(x, x * 2 + 1)),
    )],
    *[row(f"{name}_classify", fn, ref, (Arg("special"),), SPECIAL + UNARY[:1], dtypes=ALL, grad=False, widen=False)
      for name, fn, ref in (
        ("signbit", lambda t, x: x.signbit(), lambda x: np.signbit(x) if x.dtype != np.bool_ else x & False),
        ("isfinite", lambda t, x: t.isfinite(x), np.isfinite), ("isinf", lambda t, x: x.isinf(), np.isinf),
        ("isposinf", lambda t, x: t.isposinf(x), lambda x: np.isposinf(x) if x.dtype != np.bool_ else x & False),
        ("isneginf", lambda t, x: x.isneginf(), lambda x: np.isneginf(x) if x.dtype != np.bool_ else x & False),
        ("isreal", lambda t, x: t.isreal(x), lambda x: np.ones(x.shape, bool)),
    )],
    # Non-finite values, signed zeros, tiny and huge magnitudes (forward only), as PyTorch gives them:
    # lgamma(-inf) = inf, sgn(nan) = 0, heaviside(nan, v) = 0.
    *[row(f"special_{name}", fn, ref, (Arg("special"),), SPECIAL, grad=False, widen=False) for name, fn, ref in (
        ("tan", lambda t, x: x.tan(), np.tan), ("asin", lambda t, x: x.asin(), np.arcsin),
        ("acos", lambda t, x: x.acos(), np.arccos), ("atan", lambda t, x: x.atan(), np.arctan),
        ("sinh", lambda t, x: x.sinh(), np.sinh), ("cosh", lambda t, x: x.cosh(), np.cosh),
        ("asinh", lambda t, x: x.asinh(), np.arcsinh), ("acosh", lambda t, x: x.acosh(), np.arccosh),
        ("atanh", lambda t, x: x.atanh(), np.arctanh), ("log2", lambda t, x: x.log2(), np.log2),
        ("log10", lambda t, x: x.log10(), np.log10), ("exp2", lambda t, x: x.exp2(), np.exp2),
        ("trunc", lambda t, x: x.trunc(), np.trunc), ("frac", lambda t, x: x.frac(), lambda x: x - np.trunc(x)),
        ("erfc", lambda t, x: x.erfc(), _sp_special.erfc), ("erfinv", lambda t, x: x.erfinv(), _sp_special.erfinv),
        ("lgamma", lambda t, x: x.lgamma(), lambda x: np.where(x == -np.inf, np.inf, _sp_special.gammaln(x))),
        ("digamma", lambda t, x: x.digamma(), _sp_special.digamma),
        ("polygamma", lambda t, x: x.polygamma(3),
         lambda x: np.where(x == np.inf, np.nan, _sp_special.polygamma(3, x)).astype(x.dtype)),
        ("logit", lambda t, x: x.logit(), _sp_special.logit),
        ("logit_eps", lambda t, x: x.logit(0.25), lambda x: _sp_special.logit(np.clip(x, 0.25, 0.75))),
        ("sinc", lambda t, x: x.sinc(), np.sinc), ("deg2rad", lambda t, x: x.deg2rad(), np.deg2rad),
        ("rad2deg", lambda t, x: x.rad2deg(), np.rad2deg),
        ("sgn", lambda t, x: x.sgn(), lambda x: np.where(np.isnan(x), 0, np.sign(x))),
        ("fmod_scalar", lambda t, x: x.fmod(0.7), lambda x: np.fmod(x, np.asarray(0.7, x.dtype))),
        ("copysign_scalar", lambda t, x: x.copysign(-0.0), lambda x: np.copysign(x, -0.0)),
    )],
    *[row(f"special_{name}", fn, ref, (Arg("special"), Arg("special")), (case("special", (2, 7), In((2, 7), "T")),),
          grad=False, widen=False) for name, fn, ref in (
        ("atan2", lambda t, x, y: t.atan2(x, y), np.arctan2), ("fmod", lambda t, x, y: x.fmod(y), np.fmod),
        ("hypot", lambda t, x, y: t.hypot(x, y), np.hypot), ("logaddexp", lambda t, x, y: x.logaddexp(y), np.logaddexp),
        ("logaddexp2", lambda t, x, y: t.logaddexp2(x, y), np.logaddexp2),
        ("copysign", lambda t, x, y: x.copysign(y), np.copysign),
        ("nextafter", lambda t, x, y: x.nextafter(y), np.nextafter),
        ("heaviside", lambda t, x, y: t.heaviside(x, y), lambda x, v: np.where(x == 0, v, x > 0).astype(x.dtype)),
    )],
    # In place on a non-leaf: the grad_fn is the op's (a few have in-place names of their own:
    # AsinhBackward1, ..., whose backward PyTorch does not implement; heaviside has none at all).
    *[row(f"{name}_inplace", fn, ref, args, (case("2x3", (2, 3)), case("0d", ())), grad=grad, gradgrad=grad)
      for name, fn, ref, args, grad in (
        ("tan", lambda t, x: (x * 1).tan_(), np.tan, (Arg("expo"),), True),
        ("asin", lambda t, x: (x * 0.45).asin_(), lambda x: np.arcsin(x * 0.45), (R,), True),
        ("arccos", lambda t, x: (x * 0.45).arccos_(), lambda x: np.arccos(x * 0.45), (R,), True),
        ("atan", lambda t, x: (x * 1).arctan_(), np.arctan, (R,), True),
        ("sinh", lambda t, x: (x * 1).sinh_(), np.sinh, (R,), True),
        ("cosh", lambda t, x: (x * 1).cosh_(), np.cosh, (R,), True),
        ("asinh", lambda t, x: (x * 1).asinh_(), np.arcsinh, (R,), False),
        ("arccosh", lambda t, x: (x + 0.6).arccosh_(), lambda x: np.arccosh(x + 0.6), (P,), False),
        ("atanh", lambda t, x: (x * 0.45).atanh_(), lambda x: np.arctanh(x * 0.45), (R,), False),
        ("log2", lambda t, x: (x * 1).log2_(), np.log2, (P,), True),
        ("log10", lambda t, x: (x * 1).log10_(), np.log10, (P,), True),
        ("exp2", lambda t, x: (x * 1).exp2_(), np.exp2, (R,), True),
        ("trunc", lambda t, x: (x * 1).trunc_(), np.trunc, (Arg("frac"),), True),
        ("fix", lambda t, x: (x * 1).fix_(), np.trunc, (Arg("frac"),), True),
        ("frac", lambda t, x: (x * 1).frac_(), lambda x: x - np.trunc(x), (Arg("frac"),), True),
        ("erfc", lambda t, x: (x * 1).erfc_(), _sp_special.erfc, (R,), True),
        ("erfinv", lambda t, x: (x * 0.45).erfinv_(), lambda x: _sp_special.erfinv(x * 0.45), (R,), True),
        ("lgamma", lambda t, x: (x * 1).lgamma_(), _sp_special.gammaln, (D,), True),
        ("digamma", lambda t, x: (x * 1).digamma_(), _sp_special.digamma, (D,), True),
        ("polygamma", lambda t, x: (x * 1).polygamma_(2), lambda x: _sp_special.polygamma(2, x), (D,), True),
        ("polygamma0", lambda t, x: (x * 1).polygamma_(0), _sp_special.digamma, (D,), True),
        ("logit", lambda t, x: (x * 1).logit_(), _sp_special.logit, (Arg("unit_open"),), True),
        ("logit_eps", lambda t, x: (x * 1).logit_(eps=0.25), lambda x: _sp_special.logit(np.clip(x, 0.25, 0.75)),
         (Arg("unit"),), True),
        ("sinc", lambda t, x: (x * 1).sinc_(), np.sinc, (R,), True),
        ("deg2rad", lambda t, x: (x * 1).deg2rad_(), np.deg2rad, (R,), True),
        ("rad2deg", lambda t, x: (x * 1).rad2deg_(), np.rad2deg, (R,), True),
        ("sgn", lambda t, x: (x * 1).sgn_(), np.sign, (NZ,), False),
        ("nan_to_num", lambda t, x: (x * 1).nan_to_num_(posinf=5.0), lambda x: np.nan_to_num(x, posinf=5.0), (R,),
         True),
        ("cos", lambda t, x: (x * 1).cos_(), np.cos, (R,), True),
        ("sin", lambda t, x: (x * 1).sin_(), np.sin, (R,), True),
        ("log1p", lambda t, x: (x * 1).log1p_(), np.log1p, (Arg("gt_m1"),), True),
        ("expm1", lambda t, x: (x * 1).expm1_(), np.expm1, (R,), True),
        ("reciprocal", lambda t, x: (x * 1).reciprocal_(), lambda x: 1 / x, (NZ,), True),
        ("rsqrt", lambda t, x: (x * 1).rsqrt_(), lambda x: 1 / np.sqrt(x), (P,), True),
        ("square", lambda t, x: (x * 1).square_(), np.square, (R,), True),
        ("remainder_scalar", lambda t, x: (x * 1).remainder_(0.7), lambda x: np.remainder(x, 0.7), (Arg("frac"),),
         True),
        ("fmod_scalar", lambda t, x: (x * 1).fmod_(0.7), lambda x: np.fmod(x, 0.7), (Arg("frac"),), True),
        ("copysign_scalar", lambda t, x: (x * 1).copysign_(-2), lambda x: np.copysign(x, -2), (R,), True),
        ("float_power_scalar", lambda t, x: (x * 1).double().float_power_(2.5), lambda x: x ** 2.5, (P,), True),
        ("xlogy_scalar", lambda t, x: (x * 1).xlogy_(3.0), lambda x: x * np.log(3.0), (R,), True),
    )],
    *[row(f"{name}_inplace", fn, ref, args, (case("same", (2, 3), (2, 3)), case("bcast", (2, 3), (3,))),
          grad=grad, gradgrad=grad) for name, fn, ref, args, grad in (
        ("atan2", lambda t, x, y: (x * 1).atan2_(y), np.arctan2, (R, NZ), True),
        ("arctan2", lambda t, x, y: (x * 1).arctan2_(y), np.arctan2, (R, NZ), True),
        ("fmod", lambda t, x, y: (x * 1).fmod_(y), np.fmod, (Arg("frac"), NZ), True),
        ("hypot", lambda t, x, y: (x * 1).hypot_(y), np.hypot, (R, R), True),
        ("copysign", lambda t, x, y: (x * 1).copysign_(y), np.copysign, (R, R), True),
        ("heaviside", lambda t, x, y: (x * 1).heaviside_(y), lambda x, v: np.where(x == 0, v, x > 0).astype(x.dtype),
         (R, R), False),
        ("nextafter", lambda t, x, y: (x * 1).nextafter_(y), np.nextafter, (R, R), True),
        ("float_power", lambda t, x, y: (x * 1).double().float_power_(y), lambda x, y: x ** y, (P, Arg("expo")), True),
        ("remainder", lambda t, x, y: (x * 1).remainder_(y), np.remainder, (Arg("frac"), NZ), True),
        ("xlogy", lambda t, x, y: (x * 1).xlogy_(y), lambda x, y: x * np.log(y), (R, P), True),
    )],
    # In place on a view: the base's history moves to CopySlices (named "torch::autograd::CopySlices"
    # by PyTorch and "CopySlices" here, so names are not compared).
    row("tan_inplace_view", lambda t, x: (lambda y: (y[:1].tan_(), y)[1])(x * 1),
        lambda x: np.concatenate([np.tan(x[:1]), x[1:]]), (R,), (case("2x3", (2, 3)),), gradgrad=True, grad_fn=False),

    # ---- activations (torch.nn.functional) ----------------------------------------------------
    row("leaky_relu", lambda t, x: F(t).leaky_relu(x), np_leaky_relu, (NZ,), UNARY + LARGE_UNARY, gradgrad=True),
    row("leaky_relu_slope", lambda t, x: F(t).leaky_relu(x, negative_slope=0.2), lambda x: np_leaky_relu(x, 0.2),
        (NZ,), gradgrad=True),
    # In place on a non-leaf: PyTorch saves the result (LeakyReluBackward1).
    row("leaky_relu_inplace", lambda t, x: F(t).leaky_relu(x * 1, 0.2, inplace=True),
        lambda x: np_leaky_relu(x, 0.2), (NZ,), gradgrad=True),
    row("relu_inplace", lambda t, x: F(t).relu(x * 1, inplace=True), lambda x: np.maximum(x, 0), (NZ,)),
    row("gelu", lambda t, x: F(t).gelu(x), np_gelu, cases=UNARY + LARGE_UNARY, gradgrad=True),
    row("gelu_tanh", lambda t, x: F(t).gelu(x, approximate="tanh"), np_gelu_tanh, cases=UNARY + LARGE_UNARY,
        gradgrad=True),
    row("silu", lambda t, x: F(t).silu(x), np_silu, cases=UNARY + LARGE_UNARY, gradgrad=True),
    row("silu_inplace", lambda t, x: F(t).silu(x * 1, inplace=True), np_silu, gradgrad=True),
    row("elu", lambda t, x: F(t).elu(x), np_elu, (NZ,), UNARY + LARGE_UNARY, gradgrad=True),
    row("elu_alpha", lambda t, x: F(t).elu(x, alpha=0.5), lambda x: np_elu(x, 0.5), (NZ,), gradgrad=True),
    row("elu_inplace", lambda t, x: F(t).elu(x * 1, 0.7, inplace=True), lambda x: np_elu(x, 0.7), (NZ,),
        gradgrad=True),
    row("selu", lambda t, x: F(t).selu(x), lambda x: np_elu(x, SELU_ALPHA, SELU_SCALE), (NZ,), gradgrad=True),
    row("selu_inplace", lambda t, x: F(t).selu(x * 1, inplace=True), lambda x: np_elu(x, SELU_ALPHA, SELU_SCALE),
        (NZ,)),
    row("celu", lambda t, x: F(t).celu(x, alpha=1.5), lambda x: np_elu(x, 1.5, 1.0, 1 / 1.5), (NZ,),
        gradgrad=True),
    row("celu_inplace", lambda t, x: F(t).celu(x * 1, 0.5, inplace=True), lambda x: np_elu(x, 0.5, 1.0, 2.0),
        (NZ,)),
    row("hardtanh", lambda t, x: F(t).hardtanh(x, -1.0, 1.5), lambda x: np.clip(x, -1.0, 1.5).astype(x.dtype),
        dtypes=NUMERIC, gradgrad=True),
    row("hardtanh_inplace", lambda t, x: F(t).hardtanh(x * 1, -0.5, 0.5, inplace=True),
        lambda x: np.clip(x, -0.5, 0.5)),
    row("relu6", lambda t, x: F(t).relu6(x * 4), lambda x: np.clip(x * 4, 0, 6).astype(x.dtype), dtypes=NUMERIC),
    row("relu6_inplace", lambda t, x: F(t).relu6(x * 4, inplace=True), lambda x: np.clip(x * 4, 0, 6)),
    row("logsigmoid", lambda t, x: F(t).logsigmoid(x), lambda x: -np.logaddexp(0, -x), cases=UNARY + LARGE_UNARY,
        gradgrad=True),
    # Scaled by 4 so that the kinks at -3 and 3 fall inside the drawn values.
    row("hardsigmoid", lambda t, x: F(t).hardsigmoid(x * 4), np_hardsigmoid, cases=UNARY + LARGE_UNARY,
        gradgrad=True),
    row("hardsigmoid_inplace", lambda t, x: F(t).hardsigmoid(x * 4, inplace=True), np_hardsigmoid, gradgrad=True),
    row("hardswish", lambda t, x: F(t).hardswish(x * 4), lambda x: x * 4 * np_hardsigmoid(x),
        cases=UNARY + LARGE_UNARY, gradgrad=True),
    row("hardswish_inplace", lambda t, x: F(t).hardswish(x * 4, inplace=True), lambda x: x * 4 * np_hardsigmoid(x),
        gradgrad=True),
    row("mish", lambda t, x: F(t).mish(x), np_mish, cases=UNARY + LARGE_UNARY, gradgrad=True),
    row("mish_inplace", lambda t, x: F(t).mish(x * 1, inplace=True), np_mish, gradgrad=True),
    row("softsign", lambda t, x: F(t).softsign(x), lambda x: x / (1 + np.abs(x)), (NZ,), gradgrad=True),
    row("tanhshrink", lambda t, x: F(t).tanhshrink(x), lambda x: x - np.tanh(x), gradgrad=True),
    row("softshrink", lambda t, x: F(t).softshrink(x, 0.7), lambda x: np_softshrink(x, 0.7), gradgrad=True),
    row("hardshrink", lambda t, x: F(t).hardshrink(x), lambda x: np.where(np.abs(x) > 0.5, x, 0).astype(x.dtype),
        gradgrad=True),
    # At and below the threshold (0 here, never drawn: NZ) the value replaces x; integer
    # tensors take the value truncated.
    row("threshold", lambda t, x: F(t).threshold(x, 0.0, 2.5), np_threshold, (NZ,), dtypes=NUMERIC, gradgrad=True),
    row("threshold_inplace", lambda t, x: F(t).threshold(x * 1, 0.0, -1.5, inplace=True),
        lambda x: np.where(x <= 0, -1.5, x), (NZ,), gradgrad=True),
    row("prelu", lambda t, x, w: F(t).prelu(x, w), np_prelu, (NZ, R),
        (case("channels", (2, 3, 4), (3,)), case("one", (2, 3), (1,)), case("1d", (5,), (1,)),
         case("0d", (), (1,)), case("T", In((3, 2), "T"), (2,))), gradgrad=True),
    row("glu", lambda t, x, dim=-1: F(t).glu(x, dim), np_glu, (R,),
        (case("last", (3, 4)), case("first", (2, 3), dim=0), case("T", In((4, 4), "T"), dim=1),
         case("3d", (2, 2, 3), dim=-3), case("empty", (0, 4))), gradgrad=True),
    row("lerp", lambda t, x, y, **kw: t.lerp(x, y, **kw), lambda x, y, weight: x + weight * (y - x), (R, R),
        with_variants(BINARY[:3], (dict(weight=0.3), dict(weight=0.8), dict(weight=-1.5))), gradgrad=True),
    row("lerp_tensor", lambda t, x, y, w: t.lerp(x, y, w), lambda x, y, w: x + w * (y - x), (R, R, Arg("unit_open")),
        (case("same", (2, 3), (2, 3), (2, 3)), case("bcast", (2, 3), (3,), (2, 1)),
         case("T_S_X", In((3, 3), "T"), In((3, 3), "S"), In((3, 3), "X"))), gradgrad=True),
    row("addcmul", lambda t, x, a, b, **kw: t.addcmul(x, a, b, **kw),
        lambda x, a, b, value=1: x + (value if x.dtype.kind == "f" else int(value)) * a * b,
        (R, R, R), (case("same", (2, 3), (2, 3), (2, 3)), case("bcast", (2, 3), (3,), (2, 1), value=-0.5),
                    case("T_S", In((3, 3), "T"), In((3, 3), "S"), (3, 3), value=2)), dtypes=NUMERIC, gradgrad=True),
    row("addcdiv", lambda t, x, a, b, **kw: x.addcdiv(a, b, **kw), lambda x, a, b, value=1: x + value * a / b,
        (R, R, NZ), (case("same", (2, 3), (2, 3), (2, 3)), case("bcast", (2, 3), (3,), (2, 1), value=0.5)),
        gradgrad=True),
    row("xlogy", lambda t, x, y: t.xlogy(x, y), lambda x, y: x * np.log(y), (R, P), BINARY[:4], gradgrad=True),
    row("normalize", lambda t, x, **kw: F(t).normalize(x, **kw), np_normalize, (R,),
        (case("2x3", (2, 3)), case("p1_dim0", (3, 4), p=1, dim=0), case("T", In((3, 4), "T"), dim=-1),
         case("p3_3d", (2, 3, 2), p=3, dim=2)), gradgrad=True),
    row("cosine_similarity", lambda t, x, y, **kw: F(t).cosine_similarity(x, y, **kw), np_cosine_similarity, (R, R),
        (case("3x4", (3, 4), (3, 4)), case("bcast_dim0", (3, 4), (1, 4), dim=-1), case("T_S", In((2, 3), "T"),
                                                                                       In((2, 3), "S"), dim=0)),
        gradgrad=True),
    row("pad_constant", lambda t, x, **kw: F(t).pad(x, **kw), np_pad, (R,),
        (case("1d", (2, 3), pad=(1, 2)), case("2d_value", (2, 3), pad=(1, 0, 2, 1), value=1.5),
         case("crop", (2, 3, 4), pad=(-1, 2, 1, -1, 0, 1)), case("T", In((3, 4), "T"), pad=(2, -1)),
         case("3d_of_4d", (1, 2, 2, 3), pad=(1, 1, 0, 1, 1, 0))), dtypes=ALL, gradgrad=True),
    row("pad_reflect", lambda t, x, **kw: F(t).pad(x, mode="reflect", **kw), lambda x, pad: np_pad(x, pad, "reflect"),
        (R,), (case("1d", (2, 4), pad=(2, 1)), case("1d_batched", (2, 2, 4), pad=(3, 0)),
               case("2d", (2, 3, 4), pad=(1, 2, 2, 1)), case("1d_T", In((3, 4), "T"), pad=(1, 2))),
        gradgrad=True),
    row("pad_replicate", lambda t, x, **kw: F(t).pad(x, mode="replicate", **kw),
        lambda x, pad: np_pad(x, pad, "edge"), (R,),
        (case("1d", (2, 3), pad=(2, 3)), case("2d", (1, 2, 3, 2), pad=(3, 0, 1, 2))), gradgrad=True),
    row("group_norm", lambda t, x, w, b, **kw: F(t).group_norm(x, weight=w, bias=b, **kw), np_group_norm, (R, R, R),
        (case("2x4x3", (2, 4, 3), (4,), (4,), num_groups=2), case("one_group", (3, 2), (2,), (2,), num_groups=1),
         case("instance", (2, 3, 2, 2), (3,), (3,), num_groups=3, eps=1e-3)), gradgrad=True, grad_fn=False),
    row("scaled_dot_product_attention", lambda t, q, k, v, **kw: F(t).scaled_dot_product_attention(q, k, v, **kw),
        np_attention, (R, R, R),
        (case("plain", (2, 3, 4), (2, 5, 4), (2, 5, 2)),
         case("causal", (2, 4, 3), (2, 4, 3), (2, 4, 3), is_causal=True),
         case("scaled_heads", (1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 1), scale=0.7)), gradgrad=True),
    row("softmin", lambda t, x: F(t).softmin(x, dim=1), lambda x: np_softmax(-x, 1), (R,),
        (case("2x3", (2, 3)), case("T", In((3, 4), "T")))),
    row("reciprocal", lambda t, x: x.reciprocal(), flt(lambda x: 1 / x), (NZ,), dtypes=ALL),
    row("floor", lambda t, x: x.floor(), np.floor, (Arg("frac"),), dtypes=NUMERIC),
    row("ceil", lambda t, x: x.ceil(), np.ceil, (Arg("frac"),), dtypes=NUMERIC),
    row("round", lambda t, x: x.round(), np.round, (Arg("frac"),), dtypes=NUMERIC),
    row("round_half_even", lambda t, x: x.round(), np.round, (Arg("grid"),), gradcheck=False),

    # ---- clamp, extrema, where ------------------------------------------------------------
    row("clamp", lambda t, x: x.clamp(-0.5, 0.5), lambda x: np_clamp(x, -0.5, 0.5), cases=UNARY + LARGE_UNARY,
        dtypes=ALL),
    row("clamp_min", lambda t, x: x.clamp(min=-0.5), lambda x: np_clamp(x, -0.5), dtypes=NUMERIC),
    row("clamp_max", lambda t, x: t.clamp(x, max=0.5), lambda x: np_clamp(x, None, 0.5), dtypes=NUMERIC),
    row("clamp_int_bounds", lambda t, x: x.clamp(-1, 1), lambda x: np_clamp(x, -1, 1), dtypes=ALL),
    row("clamp_tensor", lambda t, x, lo, hi: x.clamp(lo, hi), np_clamp, (R, Arg("low"), Arg("high")),
        # (torch's own backward fails when a 0-d input broadcasts against larger bounds, so the
        # 0-d case keeps the input full size)
        TERNARY[:2] + (case("0d_bounds", (2, 3), (), ()),) + TERNARY[3:], dtypes=NUMERIC),
    row("clamp_tensor_crossed", lambda t, x, lo, hi: t.clamp(x, lo, hi), np_clamp, (R, Arg("high"), Arg("low")),
        TERNARY[:2], dtypes=NUMERIC),  # min > max: the result is max, and so is the gradient's recipient
    row("clamp_tensor_min", lambda t, x, lo: t.clamp(x, min=lo), np_clamp, (R, Arg("low")), BINARY,
        dtypes=NUMERIC),
    row("clamp_tensor_max", lambda t, x, hi: x.clamp(max=hi), lambda x, hi: np_clamp(x, None, hi),
        (R, Arg("high")), BINARY, dtypes=NUMERIC),
    row("maximum", lambda t, x, y: t.maximum(x, y), np.maximum, (R, R), BINARY + LARGE_BINARY, dtypes=ALL),
    row("minimum", lambda t, x, y: t.minimum(x, y), np.minimum, (R, R), BINARY, dtypes=ALL),
    row("maximum_ties", lambda t, x, y: t.maximum(x, y), np.maximum, (G, G), BINARY[:3], gradcheck=False),
    row("minimum_ties", lambda t, x, y: t.minimum(x, y), np.minimum, (G, G), BINARY[:3], gradcheck=False),
    row("where", lambda t, c, x, y: t.where(c, x, y), np.where, (B, R, R),
        TERNARY + (case("large", (384, 384), (384, 384), (384,), dtypes=FLOATS),), dtypes=ALL),
    row("where_scalar", lambda t, c, x: t.where(c, x, 2.5), lambda c, x: np.where(c, x, 2.5), (B, R),
        BINARY[:4], dtypes=ALL),

    # ---- comparisons ----------------------------------------------------------------------
    row("eq", lambda t, x, y: x == y, np.equal, (G, G), BINARY, dtypes=ALL, grad=False),
    row("ne", lambda t, x, y: x != y, np.not_equal, (G, G), BINARY, dtypes=ALL, grad=False),
    row("lt", lambda t, x, y: x < y, np.less, (G, G), BINARY + LARGE_BINARY, dtypes=ALL, grad=False),
    row("le", lambda t, x, y: t.le(x, y), np.less_equal, (G, G), BINARY, dtypes=ALL, grad=False),
    row("gt", lambda t, x, y: x.gt(y), np.greater, (G, G), BINARY, dtypes=ALL, grad=False),
    row("ge", lambda t, x, y: x >= y, np.greater_equal, (G, G), BINARY, dtypes=ALL, grad=False),
    row("eq_scalar", lambda t, x: x == 0.5, lambda x: x == 0.5, (G,), dtypes=ALL, grad=False),
    row("lt_float_scalar_on_int", lambda t, x: x < 0.5, lambda x: x < 0.5, (G,), dtypes=ALL, grad=False),
    row("ge_reflected", lambda t, x: 0.5 <= x, lambda x: 0.5 <= x, (G,), dtypes=ALL, grad=False),

    # ---- reductions -----------------------------------------------------------------------
    row("sum", lambda t, x, **kw: x.sum(**kw), np_sum, (R,),
        reduce_cases(SUM_VARIANTS, scalar=({}, dict(dim=0), dict(dim=-1, keepdim=True)), empty=SUM_EMPTY)
        # (float64 only: a float32 sum of 1.5e5 terms differs between summation orders by more than
        # the forward tolerance, in torch as much as anywhere)
        + (case("large", (384, 384), dtypes=("float64",)), case("large:dim=0", (384, 384), dim=0, dtypes=("float64",))),
        dtypes=ALL, gradgrad=True),
    row("mean", lambda t, x, **kw: x.mean(**kw), np_mean, (R,),
        reduce_cases(SUM_VARIANTS, scalar=({}, dict(dim=0)), empty=SUM_EMPTY)
        + (case("large:dim=1", (384, 384), dim=1),),
        gradgrad=True),
    row("prod", lambda t, x, **kw: x.prod(**kw), lambda x, dim=None, keepdim=False:
        np.prod(x, axis=dim, keepdims=keepdim),
        (R,), reduce_cases(({}, dict(dim=1), dict(dim=-1, keepdim=True)), empty=SUM_EMPTY[:2]), dtypes=ALL),
    row("prod_with_zero", lambda t, x, **kw: (x * (x > 0.2)).prod(**kw),
        lambda x, dim=None, keepdim=False: np.prod(x * (x > 0.2), axis=dim, keepdims=keepdim),
        (Arg("distinct"),), reduce_cases(({}, dict(dim=1), dict(dim=0, keepdim=True)), scalar=())),
    row("amax", lambda t, x, **kw: x.amax(**kw), lambda x, dim=None, keepdim=False:
        np.max(x, axis=_axis(x, dim), keepdims=keepdim),
        (D,), reduce_cases(({}, dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(dim=-1)),
                           scalar=({}, dict(dim=0)), empty=(((2, 0, 4), dict(dim=2)),)), dtypes=ALL),
    row("amin", lambda t, x, **kw: t.amin(x, **kw), lambda x, dim=None, keepdim=False:
        np.min(x, axis=_ax(dim), keepdims=keepdim),
        (D,), reduce_cases(({}, dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(dim=-1)),
                           empty=(((2, 0, 4), dict(dim=2)),)), dtypes=ALL),
    row("amax_ties", lambda t, x, **kw: x.amax(**kw), lambda x, dim=None, keepdim=False:
        np.max(x, axis=_ax(dim), keepdims=keepdim), (G,), reduce_cases(({}, dict(dim=1))), gradcheck=False),
    row("max", lambda t, x: x.max(), np.max, (D,), reduce_cases(({},)), dtypes=ALL),
    row("min", lambda t, x: t.min(x), np.min, (D,), reduce_cases(({},)), dtypes=ALL),
    row("max_ties", lambda t, x: x.max(), np.max, (G,), reduce_cases(({},)), gradcheck=False),
    row("max_dim", lambda t, x, **kw: x.max(**kw), np_max_dim, (D,),
        reduce_cases(DIM_VARIANTS, scalar=(dict(dim=0),), empty=(((2, 0, 4), dict(dim=2)),)), dtypes=ALL),
    # Stable sorts: ties (the grid and integer draws) keep their order in both libraries.
    row("sort", lambda t, x, **kw: t.sort(x, stable=True, **kw), np_sort, (G,),
        tuple(case(c.id, *c.inputs, **kw) for c in VIEW_CASES for kw in (dict(dim=1), dict(dim=-1, descending=True)))
        + (case("0d", (), dim=0), case("empty", (0, 3), dim=0)), dtypes=ALL, gradcheck=False),
    row("sort_distinct", lambda t, x, **kw: x.sort(**kw), np_sort, (D,),
        (case("2x5", (2, 5), dim=1), case("T_desc", In((3, 4), "T"), dim=0, descending=True)), gradgrad=True),
    row("argsort", lambda t, x, **kw: t.argsort(x, stable=True, **kw), lambda x, **kw: np_sort(x, **kw)[1], (G,),
        (case("2x3x4", (2, 3, 4), dim=1), case("desc", (3, 4), dim=0, descending=True)), dtypes=ALL, grad=False),
    row("topk", lambda t, x, **kw: t.topk(x, **kw), np_topk, (D,),
        (case("2x5", (2, 5), k=3), case("smallest", (3, 4), k=2, dim=0, largest=False),
         case("T_all", In((3, 4), "T"), k=4), case("none", (2, 3), k=0)), dtypes=NUMERIC, gradgrad=True),
    row("min_dim", lambda t, x, **kw: t.min(x, **kw), lambda x, **kw: np_max_dim(x, largest=False, **kw), (D,),
        reduce_cases(DIM_VARIANTS, scalar=(dict(dim=0),), empty=(((2, 0, 4), dict(dim=2)),)), dtypes=ALL),
    row("max_dim_ties", lambda t, x, **kw: x.max(**kw), np_max_dim, (G,),
        reduce_cases(DIM_VARIANTS, scalar=(dict(dim=-1),)),
        dtypes=NUMERIC, gradcheck=False),
    row("argmax", lambda t, x, **kw: x.argmax(**kw), np_arg, (D,),
        reduce_cases(({}, dict(dim=1), dict(dim=-1, keepdim=True), dict(dim=None, keepdim=True)),
                     scalar=({}, dict(dim=0))), dtypes=NUMERIC, grad=False),
    row("argmin", lambda t, x, **kw: t.argmin(x, **kw), lambda x, **kw: np_arg(x, largest=False, **kw), (D,),
        reduce_cases(({}, dict(dim=1), dict(dim=-1, keepdim=True)), scalar=({},)), dtypes=NUMERIC, grad=False),
    row("argmax_ties", lambda t, x, **kw: x.argmax(**kw), np_arg, (G,), reduce_cases(({}, dict(dim=1))),
        dtypes=NUMERIC, grad=False),
    row("var", lambda t, x, **kw: x.var(**kw), np_var, (R,),
        reduce_cases(({}, dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(unbiased=False),
                      dict(dim=-1, correction=0), dict(dim=1, correction=2)), empty=(((2, 0, 4), dict(dim=2)),))),
    row("std", lambda t, x, **kw: t.std(x, **kw), np_std, (R,),
        reduce_cases(({}, dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(unbiased=False),
                      dict(dim=-1, correction=0), dict(dim=1, correction=2)), empty=(((2, 0, 4), dict(dim=2)),))),
    row("norm", lambda t, x, **kw: x.norm(**kw), np_norm, (D,),
        reduce_cases(({}, dict(p=1, dim=1), dict(p=float("inf"), dim=-1, keepdim=True), dict(p=3, dim=(0, 2)),
                      dict(p=2, dim=(0, 1), keepdim=True), dict(p=0, dim=1), dict(p=0.5, dim=1),
                      dict(p=1.5, dim=-1)),
                     empty=(((2, 0, 4), dict(dim=2)), ((2, 0, 4), {})))),
    row("logsumexp", lambda t, x, **kw: x.logsumexp(**kw), np_logsumexp, (R,),
        reduce_cases((dict(dim=1), dict(dim=(0, 2), keepdim=True), dict(dim=-1)), scalar=(dict(dim=0),),
                     empty=(((2, 0, 4), dict(dim=2)),)), dtypes=ALL, gradgrad=True),
    row("softmax", lambda t, x, dim: x.softmax(dim), np_softmax, (R,),
        reduce_cases(({"dim": 1}, {"dim": -1}, {"dim": 0}), scalar=({"dim": 0},),
                     empty=(((2, 0, 4), {"dim": 2}), ((2, 0, 4), {"dim": 1}))), gradgrad=True),
    row("log_softmax", lambda t, x, dim: t.log_softmax(x, dim), np_log_softmax, (R,),
        reduce_cases(({"dim": 1}, {"dim": -1}, {"dim": 0}), scalar=({"dim": 0},),
                     empty=(((2, 0, 4), {"dim": 2}), ((2, 0, 4), {"dim": 1}))), gradgrad=True),

    # ---- matrix products ------------------------------------------------------------------
    row("matmul", lambda t, x, y: x @ y, np.matmul, (R, R), (
        case("1d@1d", (3,), (3,)), case("2d@2d", (2, 3), (3, 4)), case("1d@2d", (3,), (3, 4)),
        case("2d@1d", (2, 3), (3,)), case("1d@3d", (3,), (2, 3, 4)), case("3d@1d", (2, 4, 3), (3,)),
        case("3d@2d", (2, 2, 3), (3, 4)), case("2d@3d", (2, 3), (2, 3, 4)),
        case("3d@3d", (2, 2, 3), (2, 3, 4)), case("4d@4d_bcast", (2, 1, 2, 3), (1, 3, 3, 2)),
        case("T_S", In((2, 3), "T"), In((3, 4), "S")), case("X_2d", In((2, 2, 3), "X"), (3, 4)),
        case("empty_m", (0, 3), (3, 2)), case("empty_k", (2, 0), (0, 3)), case("empty_batch", (0, 2, 3), (3, 2)),
    ), dtypes=NUMERIC, gradgrad=True),
    row("matmul_fn", lambda t, x, y: t.matmul(x, y), np.matmul, (R, R),
        (case("2d@2d", (2, 3), (3, 4)), case("3d@2d", (2, 2, 3), (3, 4))), dtypes=NUMERIC),
    row("mm", lambda t, x, y: t.mm(x, y), np.matmul, (R, R),
        (case("2x3@3x4", (2, 3), (3, 4)), case("T_S", In((2, 3), "T"), In((3, 4), "S")),
         case("empty_k", (2, 0), (0, 3))), dtypes=NUMERIC, gradgrad=True),
    row("bmm", lambda t, x, y: x.bmm(y), np.matmul, (R, R),
        (case("2x2x3@2x3x4", (2, 2, 3), (2, 3, 4)), case("T_X", In((2, 2, 3), "T"), In((2, 3, 4), "X")),
         case("empty_batch", (0, 2, 3), (0, 3, 4))), dtypes=NUMERIC),
    row("dot", lambda t, x, y: t.dot(x, y), np.dot, (R, R),
        (case("3", (3,), (3,)), case("S_X", In((3,), "S"), In((3,), "X")), case("empty", (0,), (0,))),
        dtypes=NUMERIC),
    row("mv", lambda t, x, v: t.mv(x, v), np.matmul, (R, R),
        (case("2x3@3", (2, 3), (3,)), case("T_S", In((2, 3), "T"), In((3,), "S"))), dtypes=NUMERIC),

    # ---- views and movement ---------------------------------------------------------------
    row("reshape", lambda t, x: x.reshape(4, 6), lambda x: x.reshape(4, 6), (R,), VIEW_CASES, dtypes=ALL),
    row("reshape_infer", lambda t, x: x.reshape(-1), lambda x: x.reshape(-1), (R,), VIEW_CASES + (
        case("0d", ()), case("empty", (2, 0, 4))), dtypes=ALL),
    row("view", lambda t, x: x.view(2, 12), lambda x: x.reshape(2, 12), (R,),
        (VIEW_CASES[0], VIEW_CASES[2], VIEW_CASES[3]), dtypes=ALL),
    row("transpose", lambda t, x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2), (R,), VIEW_CASES, dtypes=ALL),
    row("transpose_neg", lambda t, x: t.transpose(x, -1, 1), lambda x: np.swapaxes(x, -1, 1), (R,), VIEW_CASES,
        dtypes=ALL),
    row("permute", lambda t, x: x.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), (R,), VIEW_CASES,
        dtypes=ALL),
    row("t", lambda t, x: x.t(), lambda x: x.T, (R,),
        (case("2x3", (2, 3)), case("1d", (3,)), case("0d", ()), case("T", In((2, 3), "T")),
         case("S", In((2, 3), "S"))), dtypes=ALL),
    row("T", lambda t, x: x.T, lambda x: x.T, (R,), (case("2x3", (2, 3)), case("S", In((2, 3), "S"))), dtypes=ALL),
    row("squeeze", lambda t, x, **kw: x.squeeze(**kw), np_squeeze, (R,),
        with_variants((case("2x1x3x1", (2, 1, 3, 1)), case("X", In((2, 1, 3, 1), "X"))),
                      ({}, dict(dim=1), dict(dim=-1))) + (
            case("2x1x3x1:dim=0(noop)", (2, 1, 3, 1), dim=0), case("0d", ())), dtypes=ALL),
    row("squeeze_dims", lambda t, x: x.squeeze((0, 1, 3)), lambda x: np_squeeze(x, (0, 1, 3)), (R,),
        (case("2x1x3x1", (2, 1, 3, 1)),), dtypes=ALL),
    row("unsqueeze", lambda t, x, dim: x.unsqueeze(dim), lambda x, dim: np.expand_dims(x, dim), (R,),
        with_variants((case("2x3", (2, 3)), case("T", In((2, 3), "T"))), (dict(dim=0), dict(dim=-1), dict(dim=1)))
        + (case("0d", (), dim=0),), dtypes=ALL),
    row("expand", lambda t, x: x.expand(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (R,),
        (case("3x1", (3, 1)), case("4", (4,)), case("0d", ()), case("T", In((3, 1), "T"))), dtypes=ALL),
    row("expand_infer", lambda t, x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (R,),
        (case("3x1", (3, 1)), case("1x3x1", (1, 3, 1))), dtypes=ALL),
    row("flatten", lambda t, x, **kw: x.flatten(**kw),
        lambda x, start_dim=0, end_dim=-1: x.reshape(x.shape[:start_dim] + (-1,) +
                                                     x.shape[end_dim % x.ndim + 1:]) if x.ndim else x.reshape(1),
        (R,), with_variants(VIEW_CASES, ({}, dict(start_dim=1), dict(start_dim=0, end_dim=1))) + (case("0d", ()),),
        dtypes=ALL),
    row("narrow", lambda t, x: x.narrow(1, 1, 2), lambda x: x[:, 1:3], (R,), VIEW_CASES, dtypes=ALL),
    row("narrow_neg", lambda t, x: t.narrow(x, -1, -3, 2), lambda x: x[..., 1:3], (R,), VIEW_CASES, dtypes=ALL),
    row("select", lambda t, x: x.select(1, -1), lambda x: x[:, -1], (R,), VIEW_CASES, dtypes=ALL),
    row("split", lambda t, x: x.split(2, dim=-1), lambda x: np_split(x, 2, -1), (R,), VIEW_CASES, dtypes=ALL),
    row("split_uneven", lambda t, x: x.split(2, 1), lambda x: np_split(x, 2, 1), (R,), VIEW_CASES, dtypes=ALL),
    row("split_sizes", lambda t, x: t.split(x, [1, 2], 1), lambda x: np_split(x, [1, 2], 1), (R,), VIEW_CASES,
        dtypes=ALL),
    row("chunk", lambda t, x: x.chunk(2, 1), lambda x: np_chunk(x, 2, 1), (R,), VIEW_CASES, dtypes=ALL),
    row("cumsum", lambda t, x, dim: x.cumsum(dim), np_cumsum, (R,),
        tuple(case(c.id, *c.inputs, dim=1) for c in VIEW_CASES) + (case("last", (2, 3), dim=-1),
                                                                   case("0d", (), dim=0), case("empty", (0, 3), dim=0),
                                                                   case("long", (300,), dim=0, dtypes=FLOATS)),
        dtypes=ALL, gradgrad=True),
    row("cumprod", lambda t, x, dim: x.cumprod(dim), np_cumprod, (R,),
        tuple(case(c.id, *c.inputs, dim=1) for c in VIEW_CASES) + (case("last", (2, 3), dim=-1),
                                                                   case("0d", (), dim=0), case("empty", (0, 3), dim=0)),
        dtypes=ALL, gradgrad=True),
    # Zeros, one or several in a line: the gradient's special cases, and its own derivative.
    row("cumprod_zeros", lambda t, x, dim: t.cumprod(x, dim), np_cumprod, (Arg("grid"),),
        (case("rows", (3, 5), dim=1), case("cols", In((5, 3), "T"), dim=0), case("one", (4,), dim=0)),
        gradgrad=True),
    # ---- einsum -----------------------------------------------------------------------------
    row("einsum_one", lambda t, x, eq: t.einsum(eq, x), lambda x, eq: np.einsum(eq, x), (R,),
        (case("transpose", (2, 3), eq="ij->ji"), case("sum", (2, 3), eq="ij->"), case("rows", (2, 3), eq="ij->i"),
         case("implicit", In((3, 4), "T"), eq="ji"), case("ellipsis", (2, 3, 4), eq="i...->..."),
         case("trace", (3, 3), eq="ii"), case("diagonal", In((3, 3), "T"), eq="ii->i"),
         case("batch_diagonal", (2, 3, 2), eq="iji->j")),
        gradgrad=True, grad_fn=False),  # PyTorch returns some of these as views of other ops
    row("einsum_two", lambda t, x, y, eq: t.einsum(eq, x, y), lambda x, y, eq: np.einsum(eq, x, y), (R, R),
        (case("mm", (2, 3), (3, 4), eq="ij,jk->ik"), case("implicit", (2, 3), (3, 4), eq="ij,jk"),
         case("batched", (2, 3, 4), (2, 4, 5), eq="bij,bjk->bik"), case("dot", (3,), (3,), eq="i,i"),
         case("outer", (3,), (4,), eq="i,j->ij"), case("attention", (2, 3, 4, 5), (2, 3, 6, 5), eq="bhqd,bhkd->bhqk"),
         case("ellipsis_bcast", (2, 1, 3, 4), (5, 4, 2), eq="...ij,...jk->...ik"),
         case("hadamard", In((3, 4), "T"), In((3, 4), "S"), eq="ij,ij->ij"), case("trace_pair", (3, 2), (2, 3),
                                                                                   eq="ba,ab->")),
        gradgrad=True, grad_fn=False),  # PyTorch contracts some of these with other ops (a mul, a view)
    row("einsum_diagonal_pair", lambda t, x, y, eq: t.einsum(eq, x, y), lambda x, y, eq: np.einsum(eq, x, y), (R, R),
        (case("diag_mv", (3, 3), (3, 4), eq="ii,ij->j"),), gradgrad=True, grad_fn=False),
    row("einsum_three", lambda t, x, y, z, eq: t.einsum(eq, x, y, z), lambda x, y, z, eq: np.einsum(eq, x, y, z),
        (R, R, R), (case("chain", (2, 3), (3, 4), (4, 2), eq="ij,jk,kl->il"),
                    case("mixed", (2, 3, 4), (4, 5), (2,), eq="abc,cd,a->bd")), gradgrad=True),
    # ---- rearranging copies: flip, roll, repeat, tile, tril, triu ---------------------------
    row("flip", lambda t, x, dims: t.flip(x, dims), lambda x, dims: np.flip(x, dims).copy(), (R,),
        tuple(case(c.id, *c.inputs, dims=(0, 2)) for c in VIEW_CASES) + (case("last", (2, 3), dims=(-1,)),
                                                                           case("0d", (), dims=())),
        dtypes=ALL, gradgrad=True),
    row("roll", lambda t, x, **kw: t.roll(x, **kw), lambda x, shifts, dims=None: np.roll(x, shifts, dims), (R,),
        tuple(case(c.id, *c.inputs, shifts=(1, -5), dims=(2, 0)) for c in VIEW_CASES)
        + (case("flat", (2, 3), shifts=4), case("empty", (0, 3), shifts=1, dims=1)), dtypes=ALL, gradgrad=True),
    row("repeat", lambda t, x, reps: x.repeat(*reps), lambda x, reps: np.tile(x, reps), (R,),
        tuple(case(c.id, *c.inputs, reps=(2, 1, 3)) for c in VIEW_CASES)
        + (case("new_dims", (2, 3), reps=(2, 1, 2)), case("0d", (), reps=(3,)), case("zero", (2, 3), reps=(0, 2))),
        dtypes=ALL, gradgrad=True),
    row("diagonal", lambda t, x, **kw: x.diagonal(**kw) * 1,
        lambda x, offset=0, dim1=0, dim2=1: np.diagonal(x, offset, dim1, dim2) * 1, (R,),
        tuple(case(c.id, *c.inputs) for c in VIEW_CASES)
        + (case("offset", (3, 4), offset=1), case("below", (3, 4, 2), offset=-1, dim1=1, dim2=0),
           case("past_the_end", (3, 4), offset=5), case("last_dims", (2, 3, 3), dim1=-1, dim2=-2)),
        dtypes=ALL, gradgrad=True),
    row("diag", lambda t, x, **kw: t.diag(x, **kw), lambda x, diagonal=0: np.diag(x, diagonal), (R,),
        (case("embed", (3,)), case("embed_above", (3,), diagonal=2), case("embed_below", (2,), diagonal=-1),
         case("matrix", (3, 4)), case("matrix_T_offset", In((3, 4), "T"), diagonal=-1)), dtypes=ALL, gradgrad=True),
    row("trace", lambda t, x: t.trace(x), lambda x: np.trace(x), (R,),
        (case("3x3", (3, 3)), case("wide", (2, 4)), case("T", In((3, 3), "T"))), dtypes=NUMERIC, gradgrad=True),
    row("tile", lambda t, x: t.tile(x, (2,)), lambda x: np.tile(x, (2,)), (R,), VIEW_CASES[:3], dtypes=ALL),
    row("tril", lambda t, x, **kw: t.tril(x, **kw), lambda x, diagonal=0: np.tril(x, diagonal), (R,),
        VIEW_CASES + (case("above", (3, 4), diagonal=1), case("below", (4, 3), diagonal=-2)), dtypes=ALL,
        gradgrad=True),
    row("triu", lambda t, x, **kw: x.triu(**kw), lambda x, diagonal=0: np.triu(x, diagonal), (R,),
        VIEW_CASES + (case("above", (3, 4), diagonal=2), case("below", (4, 3), diagonal=-1)), dtypes=ALL,
        gradgrad=True),
    row("unbind", lambda t, x: x.unbind(1), lambda x: tuple(np.moveaxis(x, 1, 0)), (R,), VIEW_CASES, dtypes=ALL),
    row("cat", lambda t, x, y: t.cat([x, y], 0), lambda x, y: np.concatenate([x, y], 0), (R, R),
        (case("2x3+4x3", (2, 3), (4, 3)), case("T_S", In((2, 3), "T"), In((4, 3), "S")),
         case("empty", (0, 3), (2, 3)), case("X", In((2, 3), "X"), (1, 3))), dtypes=ALL),
    row("cat3_neg_dim", lambda t, x, y, z: t.cat([x, y, z], -1), lambda *a: np.concatenate(a, -1), (R, R, R),
        (case("2x1+2x3+2x0", (2, 1), (2, 3), (2, 0)), case("3d", (2, 2, 1), (2, 2, 2), In((2, 2, 3), "T"))),
        dtypes=ALL),
    row("cat_legacy_empty", lambda t, x, y: t.cat([x, y]), lambda x, y: x, (R, R), (case("2x3+(0,)", (2, 3), (0,)),),
        dtypes=FLOATS),
    row("stack", lambda t, x, y, dim: t.stack([x, y], dim), lambda x, y, dim: np.stack([x, y], dim), (R, R),
        with_variants((case("2x3", (2, 3), (2, 3)), case("T_X", In((2, 3), "T"), In((2, 3), "X"))),
                      (dict(dim=0), dict(dim=1), dict(dim=-1))) + (case("0d", (), (), dim=0),
                                                                   case("empty", (0, 3), (0, 3), dim=1)),
        dtypes=ALL),

    # ---- indexing -------------------------------------------------------------------------
    row("getitem_int", lambda t, x: x[1], lambda x: x[1], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_neg_ints", lambda t, x: x[-1, -2], lambda x: x[-1, -2], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_all_ints", lambda t, x: x[2, 1, -1], lambda x: x[2, 1, -1], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_slice_step", lambda t, x: x[::2, 1:4:2], lambda x: x[::2, 1:4:2], (R,), GETITEM_CASES,
        dtypes=ALL),
    row("getitem_slice_neg", lambda t, x: x[-2:, :-1], lambda x: x[-2:, :-1], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_int_then_slice", lambda t, x: x[0, 1:], lambda x: x[0, 1:], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_slice_then_int", lambda t, x: x[1:, 0], lambda x: x[1:, 0], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_none", lambda t, x: x[None, :, None], lambda x: x[None, :, None], (R,), GETITEM_CASES,
        dtypes=ALL),
    row("getitem_ellipsis", lambda t, x: x[..., 1], lambda x: x[..., 1], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_ellipsis_none", lambda t, x: x[..., None], lambda x: x[..., None], (R,), GETITEM_CASES,
        dtypes=ALL),
    row("getitem_ellipsis_only", lambda t, x: x[...], lambda x: x[...], (R,), GETITEM_CASES[:2], dtypes=ALL),
    row("getitem_full_slice", lambda t, x: x[:], lambda x: x[:], (R,), GETITEM_CASES[:2], dtypes=ALL),
    row("getitem_mixed", lambda t, x: x[1, None, ::2, -1], lambda x: x[1, None, ::2, -1], (R,), GETITEM_CASES,
        dtypes=ALL),
    row("getitem_0d", lambda t, x: x[None], lambda x: x[None], (R,), (case("0d", ()),), dtypes=ALL),
    row("getitem_0d_ellipsis", lambda t, x: x[...], lambda x: x[...], (R,), (case("0d", ()),), dtypes=ALL),
    row("getitem_intarray_repeated", lambda t, x: x[t.tensor([0, 2, 0, 0])], lambda x: x[[0, 2, 0, 0]], (R,),
        GETITEM_CASES, dtypes=ALL),
    row("getitem_neg_intarray", lambda t, x: x[:, t.tensor([-1, 1, -1])], lambda x: x[:, [-1, 1, -1]], (R,),
        GETITEM_CASES, dtypes=ALL),
    row("getitem_list", lambda t, x: x[[2, 0, 2]], lambda x: x[[2, 0, 2]], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_two_arrays", lambda t, x: x[t.tensor([0, 2, 2]), :, t.tensor([1, 1, 4])],
        lambda x: x[[0, 2, 2], :, [1, 1, 4]], (R,), GETITEM_CASES, dtypes=ALL),
    row("getitem_2d_intarray", lambda t, x: x[t.tensor([[0, 1], [1, 1]])], lambda x: x[np.array([[0, 1], [1, 1]])],
        (R,), GETITEM_CASES[:2], dtypes=ALL),
    row("getitem_int_and_array", lambda t, x: x[1, t.tensor([3, 0, 3])], lambda x: x[1, [3, 0, 3]], (R,),
        GETITEM_CASES, dtypes=ALL),
    row("getitem_bool_mask", lambda t, x, m: x[m], lambda x, m: x[m], (R, B),
        (case("full", (3, 4), (3, 4)), case("rows", (3, 4), (3,)), case("T", In((3, 4), "T"), (3, 4)),
         case("0d", (), ())), dtypes=ALL),
    row("getitem_derived_mask", lambda t, x: x[x > 0], lambda x: x[x > 0], (R,), GETITEM_CASES[:2]),
    row("getitem_slice_and_mask", lambda t, x, m: x[1:, m], lambda x, m: x[1:, m], (R, B),
        (case("3x4", (3, 4), (4,)),), dtypes=ALL),
    row("gather", lambda t, x, i, dim: x.gather(dim, i), np_gather, (R, IDX), (
        case("dim1", (3, 4), In((3, 2), high=4), dim=1),
        case("dim0", (3, 4), In((2, 4), high=3), dim=0),
        case("smaller_index", (3, 4), In((2, 2), high=4), dim=1),
        case("repeats_3d", (2, 3, 4), In((2, 3, 5), values=tuple(np.arange(30) % 4 // 2)), dim=-1),
        case("T", In((3, 4), "T"), In((3, 3), high=4), dim=1),
        case("empty_index", (3, 4), In((0, 4), high=3), dim=0),
    ), dtypes=ALL),
    row("index_select", lambda t, x, i, dim: x.index_select(dim, i), lambda x, i, dim: np.take(x, i, axis=dim),
        (R, IDX), (
            case("dim0_repeats", (3, 4), In((5,), values=(2, 0, 2, 1, 0)), dim=0),
            case("dim-1", (3, 4), In((2,), values=(3, 3)), dim=-1),
            case("S", In((3, 4), "S"), In((3,), values=(1, 0, 1)), dim=1),
            case("empty_index", (3, 4), In((0,), values=()), dim=0),
        ), dtypes=ALL),
    row("masked_fill", lambda t, x, m: x.masked_fill(m, 0.5), lambda x, m: np.where(m, 0.5, x).astype(x.dtype),
        (R, B), (case("same", (2, 3), (2, 3)), case("bcast_mask", (2, 3), (3,)), case("0d", (), ()),
                 case("T", In((3, 4), "T"), (3, 4)), case("empty", (0, 3), (0, 3))), dtypes=ALL),
    row("masked_fill_tensor_value", lambda t, x, m, v: t.masked_fill(x, m, v),
        lambda x, m, v: np.where(m, v, x), (R, B, R), (case("same", (2, 3), (2, 3), ()),
                                                      case("bcast_mask", (2, 3), (3,), ()))),

    # ---- copies and conversions -----------------------------------------------------------
    row("clone", lambda t, x: x.clone(), lambda x: x.copy(), dtypes=ALL),
    row("contiguous", lambda t, x: x.contiguous(), lambda x: x.copy(), dtypes=ALL),
    row("to_float64", lambda t, x: x.to(t.float64), lambda x: x.astype(np.float64), dtypes=ALL),

    # ---- losses ---------------------------------------------------------------------------
    row("mse_loss", lambda t, x, y, **kw: F(t).mse_loss(x, y, **kw),
        lambda x, y, reduction="mean": np_reduce((x - y) ** 2, reduction), (R, R),
        with_variants(PAIR, REDUCTIONS) + (case("empty:sum", (0, 3), (0, 3), reduction="sum"),), gradgrad=True),
    row("l1_loss", lambda t, x, y, **kw: F(t).l1_loss(x, y, **kw),
        lambda x, y, reduction="mean": np_reduce(np.abs(x - y), reduction), (R, R), with_variants(PAIR, REDUCTIONS)),
    row("smooth_l1_loss", lambda t, x, y, **kw: F(t).smooth_l1_loss(x, y, **kw), np_smooth_l1, (R, R),
        with_variants(PAIR, REDUCTIONS) + with_variants(PAIR[:1], (dict(beta=0.5), dict(beta=0.0),
                                                                   dict(beta=2.0, reduction="sum")))),
    row("huber_loss", lambda t, x, y, **kw: F(t).huber_loss(x * 2, y, **kw), np_huber, (R, R),
        with_variants(PAIR, REDUCTIONS) + with_variants(PAIR[:1], (dict(delta=0.5), dict(delta=2.5, reduction="sum"))),
        gradgrad=True),
    row("huber_loss_weight", lambda t, x, y, w, **kw: F(t).huber_loss(x * 2, y, weight=w, **kw),
        lambda x, y, w, **kw: np_huber(x, y, weight=w, **kw), (R, R, W),
        with_variants((case("2x3", (2, 3), (2, 3), (2, 3)),), REDUCTIONS)),
    # Log-probabilities against probabilities ('mean' warns, as in PyTorch; 'batchmean' does not).
    row("kl_div", lambda t, x, y, **kw: F(t).kl_div(x, y, **kw), np_kl_div, (R, Arg("unit_open")),
        with_variants((case("2x3", (2, 3), (2, 3)), case("T_S", In((3, 3), "T"), In((3, 3), "S"))),
                      (dict(reduction="batchmean"), dict(reduction="sum"), dict(reduction="none"),
                       dict(reduction="batchmean", log_target=True), dict(reduction="none", log_target=True))),
        gradgrad=True),
    # Margin and embedding losses: targets are the signs of a nonzero draw (1 or -1).
    row("margin_ranking_loss", lambda t, x, y, s, **kw: F(t).margin_ranking_loss(x, y, s.sign(), margin=0.3, **kw),
        lambda x, y, s, reduction="mean": np_reduce(np.maximum(0, -np.sign(s) * (x - y) + 0.3), reduction),
        (R, R, SIGN), with_variants((case("5", (5,), (5,), (5,)),), REDUCTIONS), gradgrad=True),
    row("hinge_embedding_loss", lambda t, x, s, **kw: F(t).hinge_embedding_loss(x, s.sign(), **kw),
        lambda x, s, reduction="mean": np_reduce(np.where(s > 0, x, np.maximum(0, 1 - x)), reduction), (R, SIGN),
        with_variants((case("2x3", (2, 3), (2, 3)),), REDUCTIONS), gradgrad=True),
    row("cosine_embedding_loss", lambda t, x, y, s, **kw: F(t).cosine_embedding_loss(x, y, s.sign(), margin=0.1, **kw),
        np_cosine_embedding, (R, R, SIGN), with_variants((case("3x4", (3, 4), (3, 4), (3,)),), REDUCTIONS),
        gradgrad=True),
    row("triplet_margin_loss", lambda t, a, pos, neg, **kw: F(t).triplet_margin_loss(a, pos, neg, margin=2.0, **kw),
        np_triplet, (R, R, R), with_variants((case("3x4", (3, 4), (3, 4), (3, 4)),),
                                             REDUCTIONS + (dict(swap=True), dict(p=1.0, reduction="sum")))),
    row("soft_margin_loss", lambda t, x, s, **kw: F(t).soft_margin_loss(x, s.sign(), **kw),
        lambda x, s, reduction="mean": np_reduce(np.log1p(np.exp(-x * np.sign(s))), reduction), (R, SIGN),
        with_variants((case("2x3", (2, 3), (2, 3)),), REDUCTIONS), gradgrad=True),
    row("multilabel_soft_margin_loss", lambda t, x, y, **kw: F(t).multilabel_soft_margin_loss(x, y, **kw),
        lambda x, y, reduction="mean": np_reduce(np.mean(-(y * -np.logaddexp(0, -x) + (1 - y) * -np.logaddexp(0, x)),
                                                         -1), reduction),
        (R, Arg("unit", diff=False)), with_variants((case("3x4", (3, 4), (3, 4)),), REDUCTIONS), gradgrad=True),
    row("poisson_nll_loss", lambda t, x, y, **kw: F(t).poisson_nll_loss(x, y, **kw),
        lambda x, y, reduction="mean": np_reduce(np.exp(x) - y * x, reduction), (R, P),
        with_variants((case("2x3", (2, 3), (2, 3)),), REDUCTIONS), gradgrad=True),
    row("poisson_nll_loss_full",
        lambda t, x, y, **kw: F(t).poisson_nll_loss(x, y * 3, log_input=False, full=True, **kw), np_poisson_full,
        (P, P), with_variants((case("2x3", (2, 3), (2, 3)),), REDUCTIONS), gradgrad=True),
    row("gaussian_nll_loss", lambda t, x, y, v, **kw: F(t).gaussian_nll_loss(x, y, v, **kw),
        lambda x, y, v, reduction="mean": np_gaussian_nll(x, y, v.reshape(v.shape + (1,) * (x.ndim - v.ndim)),
                                                          reduction),
        (R, R, P), with_variants((case("2x3", (2, 3), (2, 3), (2, 3)), case("shared", (2, 3), (2, 3), (2,))),
                                 REDUCTIONS), gradgrad=True),
    row("binary_cross_entropy", lambda t, x, y, **kw: F(t).binary_cross_entropy(x, y, **kw), np_bce,
        (Arg("unit_open"), Arg("unit")), with_variants(PAIR, REDUCTIONS)),
    row("binary_cross_entropy_weight", lambda t, x, y, w, **kw: F(t).binary_cross_entropy(x, y, weight=w, **kw),
        np_bce, (Arg("unit_open"), Arg("unit"), W),
        with_variants((case("2x3", (2, 3), (2, 3), (2, 3)), case("bcast_weight", (2, 3), (2, 3), (3,))),
                      REDUCTIONS)),
    row("bce_with_logits", lambda t, x, y, **kw: F(t).binary_cross_entropy_with_logits(x, y, **kw),
        np_bce_logits, (R, Arg("unit")), with_variants(PAIR, REDUCTIONS)),
    row("bce_with_logits_weight_pos_weight",
        lambda t, x, y, w, pw, **kw: F(t).binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, **kw),
        np_bce_logits, (R, Arg("unit"), W, W),
        with_variants((case("2x3", (2, 3), (2, 3), (2, 3), (3,)), case("bcast", (2, 3), (2, 3), (3,), (1, 3))),
                      REDUCTIONS)),
    row("bce_with_logits_pos_weight",
        lambda t, x, y, pw, **kw: F(t).binary_cross_entropy_with_logits(x, y, pos_weight=pw, **kw),
        lambda x, y, pw, **kw: np_bce_logits(x, y, None, pw, **kw), (R, Arg("unit"), W),
        with_variants((case("2x3", (2, 3), (2, 3), (3,)),), REDUCTIONS)),
    row("cross_entropy", lambda t, x, y, **kw: F(t).cross_entropy(x, y, **kw), np_cross_entropy, (R, IDX),
        with_variants((case("4x3", (4, 3), In((4,), values=(0, 2, 1, 2))),
                       case("T", In((4, 3), "T"), In((4,), values=(1, 1, 0, 2))),
                       case("kdim", (2, 3, 2), In((2, 2), values=(0, 2, 1, 1))),
                       case("unbatched", (3,), In((), values=2))),
                      REDUCTIONS + (dict(ignore_index=1), dict(ignore_index=2, reduction="sum"),
                                    dict(label_smoothing=0.1), dict(label_smoothing=0.2, reduction="none"))),
        gradgrad=True),
    row("cross_entropy_weight", lambda t, x, y, w, **kw: F(t).cross_entropy(x, y, weight=w, **kw),
        np_cross_entropy, (R, IDX, W),
        with_variants((case("4x3", (4, 3), In((4,), values=(0, 2, 1, 2)), (3,)),
                       case("kdim", (2, 3, 2), In((2, 2), values=(0, 2, 1, 1)), (3,))),
                      REDUCTIONS + (dict(ignore_index=2), dict(label_smoothing=0.1),
                                    dict(label_smoothing=0.3, ignore_index=0, reduction="sum"),
                                    dict(label_smoothing=0.1, ignore_index=1)))),
    row("cross_entropy_prob_target", lambda t, x, y, **kw: F(t).cross_entropy(x, y, **kw), np_cross_entropy,
        (R, Arg("simplex", diff=False)),
        with_variants((case("4x3", (4, 3), (4, 3)), case("kdim", (2, 3, 2), (2, 3, 2)), case("unbatched", (3,), (3,))),
                      REDUCTIONS + (dict(label_smoothing=0.2),))),
    row("cross_entropy_prob_target_weight", lambda t, x, y, w, **kw: F(t).cross_entropy(x, y, weight=w, **kw),
        np_cross_entropy, (R, Arg("simplex", diff=False), W),
        with_variants((case("4x3", (4, 3), (4, 3), (3,)),), REDUCTIONS)),
    row("nll_loss", lambda t, x, y, **kw: F(t).nll_loss(x, y, **kw), np_nll, (R, IDX),
        with_variants((case("4x3", (4, 3), In((4,), values=(0, 2, 1, 2))),
                       case("kdim", (2, 3, 2), In((2, 2), values=(0, 2, 1, 1))),
                       case("unbatched", (3,), In((), values=1))),
                      REDUCTIONS + (dict(ignore_index=2), dict(ignore_index=0, reduction="none")))),
    row("nll_loss_weight", lambda t, x, y, w, **kw: F(t).nll_loss(x, y, weight=w, **kw), np_nll, (R, IDX, W),
        with_variants((case("4x3", (4, 3), In((4,), values=(0, 2, 1, 2)), (3,)),),
                      REDUCTIONS + (dict(ignore_index=2),))),

    # ---- an input used more than once (gradients accumulate) ------------------------------
    row("mul_self", lambda t, x: x * x, lambda x: x * x, dtypes=NUMERIC, gradgrad=True),
    row("div_self", lambda t, x: x / x, flt(lambda x: x / x), (NZ,)),
    row("add_self_transposed", lambda t, x: x + x.t(), lambda x: x + x.T, (R,),
        (case("3x3", (3, 3)), case("S", In((3, 3), "S")), case("X", In((3, 3), "X"))), dtypes=NUMERIC),
    row("getitem_reuse", lambda t, x: x[0] * x[-1] + x[0], lambda x: x[0] * x[-1] + x[0], (R,), GETITEM_CASES),
    row("matmul_self", lambda t, x: x @ x.t(), lambda x: x @ x.T, (R,),
        (case("2x3", (2, 3)), case("T", In((3, 3), "T")))),

    # ---- special values (forward only) ----------------------------------------------------
    *[row(f"special_{name}", fn, ref, (Arg("special"),), SPECIAL, grad=False, widen=False) for name, fn, ref in (
        ("exp", lambda t, x: x.exp(), np.exp),
        ("log", lambda t, x: x.log(), np.log),
        ("log1p", lambda t, x: x.log1p(), np.log1p),
        ("expm1", lambda t, x: x.expm1(), np.expm1),
        ("sqrt", lambda t, x: x.sqrt(), np.sqrt),
        ("rsqrt", lambda t, x: x.rsqrt(), lambda x: 1 / np.sqrt(x)),
        ("sin", lambda t, x: x.sin(), np.sin),
        ("cos", lambda t, x: x.cos(), np.cos),
        ("tanh", lambda t, x: x.tanh(), np.tanh),
        ("sigmoid", lambda t, x: x.sigmoid(), np_sigmoid),
        ("relu", lambda t, x: x.relu(), lambda x: np.where(np.isnan(x), x, np.maximum(x, 0))),
        ("softplus", lambda t, x: F(t).softplus(x), lambda x: np.where(x > 20, x, np.log1p(np.exp(x)))),
        ("erf", lambda t, x: x.erf(), _sp_erf),
        ("leaky_relu", lambda t, x: F(t).leaky_relu(x, 0.2), lambda x: np_leaky_relu(x, 0.2)),
        ("gelu", lambda t, x: F(t).gelu(x), np_gelu),
        ("gelu_tanh", lambda t, x: F(t).gelu(x, approximate="tanh"), np_gelu_tanh),
        ("silu", lambda t, x: F(t).silu(x), np_silu),
        ("logsigmoid", lambda t, x: F(t).logsigmoid(x), lambda x: -np.logaddexp(0, -x)),
        ("mish", lambda t, x: F(t).mish(x), np_mish),
        ("hardswish", lambda t, x: F(t).hardswish(x), lambda x: x * np.clip(x + 3, 0, 6) / 6),
        ("softshrink", lambda t, x: F(t).softshrink(x), lambda x: np_softshrink(x, 0.5)),
        ("hardshrink", lambda t, x: F(t).hardshrink(x), lambda x: np.where(np.abs(x) > 0.5, x, 0 * x)),
        ("elu", lambda t, x: F(t).elu(x), np_elu),
        ("hardtanh", lambda t, x: F(t).hardtanh(x), lambda x: np.clip(x, -1, 1)),
        ("abs", lambda t, x: x.abs(), np.abs),
        ("sign", lambda t, x: x.sign(), lambda x: np.where(np.isnan(x), 0, np.sign(x))),  # torch: sign(nan) = 0
        ("reciprocal", lambda t, x: x.reciprocal(), lambda x: 1 / x),
        ("floor", lambda t, x: x.floor(), np.floor),
        ("ceil", lambda t, x: x.ceil(), np.ceil),
        ("round", lambda t, x: x.round(), np.round),
        ("clamp", lambda t, x: x.clamp(-1, 1), lambda x: np_clamp(x, -1, 1)),
        ("neg", lambda t, x: -x, np.negative),
        ("square", lambda t, x: x * x, np.square),
        ("mul_zero", lambda t, x: x * 0.0, lambda x: x * 0.0),
        ("amax", lambda t, x: x.amax(1), lambda x: np.max(x, 1)),
        ("max_dim", lambda t, x: x.max(1), lambda x: np_max_dim(x, 1)),
        ("argmin", lambda t, x: x.argmin(1), lambda x: np.argmin(x, 1)),
        ("sum", lambda t, x: x.sum(0), lambda x: np.sum(x, 0)),  # columns: no huge terms cancelling
        ("logsumexp", lambda t, x: x.logsumexp(1), lambda x: np_logsumexp(x, 1).astype(x.dtype)),
        ("softmax", lambda t, x: x.softmax(1), lambda x: np_softmax(x, 1)),
    )],
    row("special_maximum", lambda t, x, y: t.maximum(x, y), np.maximum, (Arg("special"), R),
        (case("special", (2, 7), (2, 7)),), grad=False, widen=False),
    row("special_div", lambda t, x, y: x / y, np.divide, (R, Arg("special")), (case("special", (2, 7), (2, 7)),),
        grad=False, widen=False),

    # ---- further engine ops ---------------------------------------------------------------
    row("square", lambda t, x: x.square(), np.square, dtypes=NUMERIC, isolate=I32),
    # torch records floor_divide with a grad_fn that cannot run backward, so no gradient is taken.
    row("floor_divide", lambda t, x, y: x // y, np.floor_divide, (Arg("real", diff=False), Arg("nonzero", diff=False)),
        BINARY[:4], dtypes=NUMERIC, grad=False),
    row("remainder", lambda t, x, y: x % y, np.remainder, (Arg("frac"), Arg("nonzero")), BINARY[:4],
        dtypes=NUMERIC),
    row("outer", lambda t, x, y: t.outer(x, y), np.outer, (R, R), (case("3x4", (3,), (4,)),), dtypes=NUMERIC),
    row("addmm", lambda t, b, x, y: t.addmm(b, x, y), lambda b, x, y: b + x @ y, (R, R, R),
        (case("bcast_bias", (4,), (2, 3), (3, 4)), case("full_bias", (2, 4), (2, 3), (3, 4)))),
    row("movedim", lambda t, x: x.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1), (R,), VIEW_CASES, dtypes=ALL),
    row("unflatten", lambda t, x: x.unflatten(2, (2, 2)), lambda x: x.reshape(2, 3, 2, 2), (R,), VIEW_CASES[:1],
        dtypes=ALL),
    row("expand_as", lambda t, x, y: x.expand_as(y), lambda x, y: np.broadcast_to(x, y.shape), (R, R),
        (case("3x1_to_2x3x4", (3, 1), (2, 3, 4)),)),
    row("all", lambda t, x, **kw: x.all(**kw), lambda x, dim=None: np.all(x, axis=dim), (G,),
        (case("2x3", (2, 3)), case("2x3:dim=1", (2, 3), dim=1), case("empty", (0, 3))), dtypes=ALL, grad=False),
    row("any", lambda t, x, **kw: t.any(x, **kw), lambda x, dim=None: np.any(x, axis=dim), (G,),
        (case("2x3", (2, 3)), case("2x3:dim=0", (2, 3), dim=0), case("empty", (0, 3))), dtypes=ALL, grad=False),
    row("logical_and", lambda t, x, y: t.logical_and(x, y), np.logical_and, (G, G), BINARY[:4], dtypes=ALL,
        grad=False),
    row("logical_or", lambda t, x, y: t.logical_or(x, y), np.logical_or, (G, G), BINARY[:4], dtypes=ALL,
        grad=False),
    row("logical_xor", lambda t, x, y: t.logical_xor(x, y), np.logical_xor, (G, G), BINARY[:4], dtypes=ALL,
        grad=False),
    row("logical_not", lambda t, x: t.logical_not(x), np.logical_not, (G,), dtypes=ALL, grad=False),
]

ROWS_BY_NAME = {r.name: r for r in ROWS}
assert len(ROWS_BY_NAME) == len(ROWS), "row names must be unique"


# ----------------------------------------------------------------------------- mixed-dtype promotion

# (id, fn(lib, *tensors), inputs as (dtype, shape), expected result dtype). Values are small
# positive integers so every dtype holds them.
PROMOTION = [
    ("int64+2.5", lambda t, x: x + 2.5, [("int64", (3,))], "float32"),
    ("int32+2", lambda t, x: x + 2, [("int32", (3,))], "int32"),
    ("int32+int64", lambda t, x, y: x + y, [("int32", (3,)), ("int64", (3,))], "int64"),
    ("int64*int32", lambda t, x, y: x * y, [("int64", (3,)), ("int32", (3,))], "int64"),
    ("float32+float64_0d", lambda t, x, y: x + y, [("float32", (3,)), ("float64", ())], "float32"),
    ("float64_0d+float32", lambda t, x, y: x + y, [("float64", ()), ("float32", (3,))], "float32"),
    ("float32_0d+float64_0d", lambda t, x, y: x + y, [("float32", ()), ("float64", ())], "float64"),
    ("float32+float64", lambda t, x, y: x + y, [("float32", (3,)), ("float64", (3,))], "float64"),
    ("int32*float64_0d", lambda t, x, y: x * y, [("int32", (3,)), ("float64", ())], "float64"),
    ("int64+float32_0d", lambda t, x, y: x + y, [("int64", (3,)), ("float32", ())], "float32"),
    ("int32+int64_0d", lambda t, x, y: x + y, [("int32", (3,)), ("int64", ())], "int32"),
    ("int64_0d+int32_0d", lambda t, x, y: x + y, [("int64", ()), ("int32", ())], "int64"),
    ("float32+2.5", lambda t, x: x + 2.5, [("float32", (3,))], "float32"),
    ("float64+2.5", lambda t, x: x + 2.5, [("float64", (3,))], "float64"),
    ("float32_0d*3", lambda t, x: x * 3, [("float32", ())], "float32"),
    ("bool+bool", lambda t, x, y: x + y, [("bool", (3,)), ("bool", (3,))], "bool"),
    ("bool*bool", lambda t, x, y: x * y, [("bool", (3,)), ("bool", (3,))], "bool"),
    ("bool+2", lambda t, x: x + 2, [("bool", (3,))], "int64"),
    ("bool+True", lambda t, x: x + True, [("bool", (3,))], "bool"),
    ("int32+True", lambda t, x: x + True, [("int32", (3,))], "int32"),
    ("bool+int32", lambda t, x, y: x + y, [("bool", (3,)), ("int32", (3,))], "int32"),
    ("bool+float64_0d", lambda t, x, y: x + y, [("bool", (3,)), ("float64", ())], "float64"),
    ("bool/bool", lambda t, x, y: x / y, [("bool", (3,)), ("bool", (3,))], "float32"),
    ("int64/int64", lambda t, x, y: x / y, [("int64", (3,)), ("int64", (3,))], "float32"),
    ("int32/2", lambda t, x: x / 2, [("int32", (3,))], "float32"),
    ("2/int32", lambda t, x: 2 / x, [("int32", (3,))], "float32"),
    ("int64**2.5", lambda t, x: x ** 2.5, [("int64", (3,))], "float32"),
    ("int32**float64_0d", lambda t, x, y: x ** y, [("int32", (3,)), ("float64", ())], "float64"),
    ("2.5**int64", lambda t, x: 2.5 ** x, [("int64", (3,))], "float32"),
    ("int64.exp", lambda t, x: x.exp(), [("int64", (3,))], "float32"),
    ("bool.sqrt", lambda t, x: x.sqrt(), [("bool", (3,))], "float32"),
    # more math: float-valued functions of integers and bools give the default float dtype;
    # trunc, fmod, heaviside and nan_to_num keep integer dtypes; float_power is float64.
    ("int64.tan", lambda t, x: x.tan(), [("int64", (3,))], "float32"),
    ("int32.asinh", lambda t, x: t.asinh(x), [("int32", (3,))], "float32"),
    ("bool.lgamma", lambda t, x: x.lgamma(), [("bool", (3,))], "float32"),
    ("int64.digamma", lambda t, x: t.digamma(x), [("int64", (3,))], "float32"),
    ("int32.polygamma(2)", lambda t, x: t.polygamma(2, x), [("int32", (3,))], "float32"),
    ("bool.erfinv", lambda t, x: x.erfinv(), [("bool", (3,))], "float32"),
    ("int64.logit", lambda t, x: x.logit(0.25), [("int64", (3,))], "float32"),
    ("int64.exp2", lambda t, x: x.exp2(), [("int64", (3,))], "float32"),
    ("int32.trunc", lambda t, x: x.trunc(), [("int32", (3,))], "int32"),
    ("int64.nan_to_num", lambda t, x: x.nan_to_num(), [("int64", (3,))], "int64"),
    ("bool.nan_to_num", lambda t, x: t.nan_to_num(x), [("bool", (3,))], "bool"),
    ("int32.sgn", lambda t, x: x.sgn(), [("int32", (3,))], "int32"),
    ("int64.signbit", lambda t, x: x.signbit(), [("int64", (3,))], "bool"),
    ("int32.isfinite", lambda t, x: x.isfinite(), [("int32", (3,))], "bool"),
    ("fmod(int32,int64)", lambda t, x, y: t.fmod(x, y), [("int32", (3,)), ("int64", (3,))], "int64"),
    ("fmod(bool,int32)", lambda t, x, y: t.fmod(x, y), [("bool", (3,)), ("int32", (3,))], "int32"),
    ("fmod(int64,2.5)", lambda t, x: x.fmod(2.5), [("int64", (3,))], "float32"),
    ("fmod(int32,2)", lambda t, x: x.fmod(2), [("int32", (3,))], "int32"),
    ("fmod(float32,float64_0d)", lambda t, x, y: t.fmod(x, y), [("float32", (3,)), ("float64", ())], "float32"),
    ("atan2(int64,int32)", lambda t, x, y: t.atan2(x, y), [("int64", (3,)), ("int32", (3,))], "float32"),
    ("atan2(int32,float64)", lambda t, x, y: t.atan2(x, y), [("int32", (3,)), ("float64", (3,))], "float64"),
    ("copysign(int64,bool)", lambda t, x, y: t.copysign(x, y), [("int64", (3,)), ("bool", (3,))], "float32"),
    ("copysign(int32,-1)", lambda t, x: x.copysign(-1), [("int32", (3,))], "float32"),
    ("hypot(int64,float32)", lambda t, x, y: t.hypot(x, y), [("int64", (3,)), ("float32", (3,))], "float32"),
    ("logaddexp(bool,float64)", lambda t, x, y: t.logaddexp(x, y), [("bool", (3,)), ("float64", (3,))], "float64"),
    ("logaddexp2(float64_0d,float32)", lambda t, x, y: t.logaddexp2(x, y), [("float64", ()), ("float32", (3,))],
     "float32"),
    ("nextafter(float32,float64)", lambda t, x, y: t.nextafter(x, y), [("float32", (3,)), ("float64", (3,))],
     "float64"),
    ("heaviside(int64,int64)", lambda t, x, y: t.heaviside(x, y), [("int64", (3,)), ("int64", (3,))], "int64"),
    ("heaviside(bool,bool)", lambda t, x, y: t.heaviside(x, y), [("bool", (3,)), ("bool", (3,))], "bool"),
    ("float_power(int32,int32)", lambda t, x, y: t.float_power(x, y), [("int32", (3,)), ("int32", (3,))], "float64"),
    ("float_power(float32,2)", lambda t, x: x.float_power(2), [("float32", (3,))], "float64"),
    ("xlogy(int64,2)", lambda t, x: t.xlogy(x, 2), [("int64", (3,))], "float32"),
    ("int32.sum", lambda t, x: x.sum(), [("int32", (3,))], "int64"),
    ("bool.sum", lambda t, x: x.sum(), [("bool", (3,))], "int64"),
    ("int32.prod", lambda t, x: x.prod(), [("int32", (3,))], "int64"),
    ("int32.amax", lambda t, x: x.amax(), [("int32", (3,))], "int32"),
    ("int64.logsumexp", lambda t, x: x.logsumexp(0), [("int64", (3,))], "float32"),
    ("maximum(int32,float32)", lambda t, x, y: t.maximum(x, y), [("int32", (3,)), ("float32", (3,))], "float32"),
    ("minimum(int64,int32)", lambda t, x, y: t.minimum(x, y), [("int64", (3,)), ("int32", (3,))], "int64"),
    ("where(int64,2.5)", lambda t, c, x: t.where(c, x, 2.5), [("bool", (3,)), ("int64", (3,))], "float32"),
    ("where(float32,float64)", lambda t, c, x, y: t.where(c, x, y),
     [("bool", (3,)), ("float32", (3,)), ("float64", (3,))], "float64"),
    ("where(int32,float64_0d)", lambda t, c, x, y: t.where(c, x, y),
     [("bool", (3,)), ("int32", (3,)), ("float64", ())], "float64"),
    ("clamp(int64,0.5,1.5)", lambda t, x: x.clamp(0.5, 1.5), [("int64", (3,))], "float32"),
    ("clamp(int32,0,2)", lambda t, x: x.clamp(0, 2), [("int32", (3,))], "int32"),
    ("clamp(float32,float64_bounds)", lambda t, x, lo, hi: x.clamp(lo, hi),
     [("float32", (3,)), ("float64", (3,)), ("float64", (3,))], "float64"),
    ("masked_fill(int64,1.5)", lambda t, x, m: x.masked_fill(m, 1.5), [("int64", (3,)), ("bool", (3,))], "int64"),
    ("masked_fill(bool,0.5)", lambda t, x, m: x.masked_fill(m, 0.5), [("bool", (3,)), ("bool", (3,))], "bool"),
    ("cat(int32,int64)", lambda t, x, y: t.cat([x, y]), [("int32", (3,)), ("int64", (3,))], "int64"),
    ("cat(float32,float64)", lambda t, x, y: t.cat([x, y]), [("float32", (3,)), ("float64", (3,))], "float64"),
    ("cat(bool,int32)", lambda t, x, y: t.cat([x, y]), [("bool", (3,)), ("int32", (3,))], "int32"),
    ("cat(int64,float32)", lambda t, x, y: t.cat([x, y]), [("int64", (3,)), ("float32", (3,))], "float32"),
    ("stack(int32,float64)", lambda t, x, y: t.stack([x, y]), [("int32", (3,)), ("float64", (3,))], "float64"),
    ("eq(int64,float32)", lambda t, x, y: x == y, [("int64", (3,)), ("float32", (3,))], "bool"),
    ("int64<1.5", lambda t, x: x < 1.5, [("int64", (3,))], "bool"),
    ("neg(int32)", lambda t, x: -x, [("int32", (3,))], "int32"),
    ("to(float64)_int32", lambda t, x: x.to(t.float64), [("int32", (3,))], "float64"),
    ("sum(float32,dtype=float64)", lambda t, x: x.sum(dtype=t.float64), [("float32", (3,))], "float64"),
    ("float32.softmax(dtype=float64)", lambda t, x: x.softmax(0, dtype=t.float64), [("float32", (3,))],
     "float64"),
]


# ----------------------------------------------------------------------------- mixed-dtype gradients

# (id, fn(lib, *tensors), inputs as (dtype, shape)): every float input takes a gradient, which
# must come back in that input's own dtype.
MIXED_GRAD = [
    ("float32*float64", lambda t, x, y: x * y, [("float32", (2, 3)), ("float64", (2, 3))]),
    ("float32+float64_0d", lambda t, x, y: x + y, [("float32", (2, 3)), ("float64", ())]),
    ("float64_0d*float32", lambda t, x, y: x * y, [("float64", ()), ("float32", (2, 3))]),
    ("float32/float64_bcast", lambda t, x, y: x / y, [("float32", (2, 3)), ("float64", (3,))]),
    ("float32**float64_0d", lambda t, x, y: x ** y, [("float32", (2, 3)), ("float64", ())]),
    ("float32+int64", lambda t, x, i: x + i, [("float32", (2, 3)), ("int64", (2, 3))]),
    ("maximum(float32,float64)", lambda t, x, y: t.maximum(x, y), [("float32", (2, 3)), ("float64", (2, 3))]),
    ("where(float32,float64)", lambda t, c, x, y: t.where(c, x, y),
     [("bool", (2, 3)), ("float32", (2, 3)), ("float64", (2, 3))]),
    ("clamp(float32,float64_bounds)", lambda t, x, lo, hi: x.clamp(lo, hi),
     [("float32", (2, 3)), ("float64", (2, 3)), ("float64", (3,))]),
    ("cat(float32,float64)", lambda t, x, y: t.cat([x, y]), [("float32", (2, 3)), ("float64", (1, 3))]),
    ("stack(float64,float32)", lambda t, x, y: t.stack([x, y], 1), [("float64", (2, 3)), ("float32", (2, 3))]),
    ("to(float64)", lambda t, x: x.to(t.float64) * 2, [("float32", (2, 3))]),
    ("to(float32)", lambda t, x: x.to(t.float32).exp(), [("float64", (2, 3))]),
    # more math
    ("atan2(float32,float64)", lambda t, x, y: t.atan2(x, y), [("float32", (2, 3)), ("float64", (2, 3))]),
    ("hypot(float64_0d,float32)", lambda t, x, y: t.hypot(x, y), [("float64", ()), ("float32", (2, 3))]),
    ("copysign(float32,float64_bcast)", lambda t, x, y: t.copysign(x, y), [("float32", (2, 3)), ("float64", (3,))]),
    ("fmod(float64,float32)", lambda t, x, y: t.fmod(x, y), [("float64", (2, 3)), ("float32", (2, 3))]),
    ("logaddexp(float32,float64)", lambda t, x, y: t.logaddexp(x, y), [("float32", (2, 3)), ("float64", (2, 3))]),
    ("float_power(float32,float32)", lambda t, x, y: t.float_power(x, y), [("float32", (2, 3)), ("float32", (2, 3))]),
    ("xlogy(float32,int64)", lambda t, x, i: t.xlogy(x, i.abs() + 1), [("float32", (2, 3)), ("int64", (2, 3))]),
    ("float32.sum(dtype=float64)", lambda t, x: x.sum(dtype=t.float64), [("float32", (2, 3))]),
    ("float32.softmax(dtype=float64)", lambda t, x: x.softmax(1, dtype=t.float64), [("float32", (2, 3))]),
    ("mse_loss(float32,float64)", lambda t, x, y: F(t).mse_loss(x, y), [("float32", (2, 3)), ("float64", (2, 3))]),
]
