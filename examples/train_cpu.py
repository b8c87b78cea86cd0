"""Train a handwritten-digit classifier on the CPU with tapegrad.

The data are scikit-learn's bundled digits (1,797 8x8 images, no download). The default model
is a small CNN; ``--model mlp`` trains a multilayer perceptron instead. Each epoch prints its
training loss and test accuracy; at the end a checkpoint (``tapegrad.save``) and a plot of the
loss and accuracy curves are written under ``--out``.

``--compile`` runs the training step (forward, loss, backward and optimizer step: one function of
a batch) and the evaluation forward through ``tapegrad.compile``. Per batch shape, the first
call runs eagerly, the second records and compiles the step, later ones replay the generated
code: the last, smaller batch of an epoch is a second shape, compiled in the second epoch. The
numbers are those of eager mode.

    pip install -e ".[examples]"
    python examples/train_cpu.py                      # CNN, defaults below
    python examples/train_cpu.py --model mlp --optimizer sgd --lr 0.1 --epochs 20
    python examples/train_cpu.py --compile            # the same training, compiled steps
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad.utils.data import DataLoader, Subset, TensorDataset, random_split

OPTIMIZERS = {"sgd": tapegrad.optim.SGD, "adam": tapegrad.optim.Adam, "adamw": tapegrad.optim.AdamW,
              "rmsprop": tapegrad.optim.RMSprop, "adagrad": tapegrad.optim.Adagrad}
# Learning rates that train each optimizer well on this data set when --lr is not given.
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-2, "adamw": 1e-2, "rmsprop": 2e-3, "adagrad": 0.05}


def cnn() -> nn.Module:
    """Conv2d → ReLU → max-pool → Linear: 8x8 digits become 16 maps of 4x4, then 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


MODELS = {"cnn": cnn, "mlp": mlp}


def load_digits(seed: int) -> tuple[Any, Any]:
    """The digits as (N, 1, 8, 8) float32 images in [0, 1] and int64 labels, split 80/20."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        sys.exit("the digits data come with scikit-learn: pip install -e \".[examples]\"")
    digits = sklearn_digits()
    images = tapegrad.from_numpy((digits.images / 16.0).astype(np.float32)[:, None])
    labels = tapegrad.from_numpy(digits.target.astype(np.int64))
    return random_split(TensorDataset(images, labels), [0.8, 0.2], generator=tapegrad.Generator().manual_seed(seed))


def evaluate(model: nn.Module, loader: DataLoader, forward: Callable[[Any], Any] | None = None,
             device: str = "cpu") -> float:
    """Test accuracy of ``model``; ``forward`` (default: the model) computes the logits, e.g. a
    ``tapegrad.compile``d function that calls the model; batches are moved to ``device``."""
    forward = model if forward is None else forward
    model.eval()
    correct = 0
    with tapegrad.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            correct += int((forward(images).argmax(1) == labels).sum())
    model.train()
    return correct / len(loader.dataset)


def save_plot(path: pathlib.Path, losses: list[float], accuracies: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    epochs = range(1, len(losses) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, losses, marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title="loss")
    right.plot(epochs, [100 * a for a in accuracies], marker="o", color="tab:green")
    right.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def parse_args(argv: list[str] | None, device: str = "cpu") -> argparse.Namespace:
    """The flags of the CPU trainer, or with ``device="cuda"`` those of ``train_gpu.py``."""
    description = __doc__.splitlines()[0]
    if device != "cpu":
        description = description.replace("on the CPU", "on a CUDA GPU")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn" if device == "cpu" else "mlp")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=None, help="default: a rate suited to the optimizer")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="run the training step through tapegrad.compile")
    parser.add_argument("--device", default=device)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only this many training and test images (quick runs)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(f"runs/train_{device.split(':')[0]}"))
    if device != "cpu":
        parser.add_argument("--simulate", action="store_true",
                            help="run under Numba's CUDA simulator (no GPU needed; slow: use with --limit)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--epochs, --batch-size and --limit must be positive")
    if args.compile and not hasattr(tapegrad, "compile"):
        parser.error("--compile needs tapegrad.compile, which this version of tapegrad does not have")
    if tapegrad.device(args.device).type != device.split(":")[0]:
        other = "examples/train_gpu.py" if device == "cpu" else "examples/train_cpu.py"
        parser.error(f"this trainer runs on the {device.split(':')[0].upper()}; for --device {args.device} "
                     f"use {other}")
    args.lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    return args


def _trace_error(compiling: bool) -> type[BaseException] | tuple[()]:
    """What ``tapegrad.compile`` raises for a step it cannot record (nothing to catch in eager mode)."""
    if not compiling:
        return ()
    from tapegrad.compiler import TraceError

    return TraceError


def _failing_layer(error: BaseException) -> str:
    """`` in layer <module>`` for the innermost layer whose forward was running when ``error``
    was raised ("" if none was: the loss, backward or the optimizer raised it)."""
    layer = None
    frame = error.__traceback__
    while frame is not None:
        owner = frame.tb_frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and frame.tb_frame.f_code.co_name == "forward":
            layer = owner
        frame = frame.tb_next
    return "" if layer is None else f" in layer {layer!r}"


def main(argv: list[str] | None = None, device: str = "cpu") -> float:
    args = parse_args(argv, device)
    tapegrad.manual_seed(args.seed)
    train_set, test_set = load_digits(args.seed)
    if args.limit is not None:
        train_set = Subset(train_set, range(min(args.limit, len(train_set))))
        test_set = Subset(test_set, range(min(args.limit, len(test_set))))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              generator=tapegrad.Generator().manual_seed(args.seed))
    test_loader = DataLoader(test_set, batch_size=512)

    model = MODELS[args.model]().to(args.device)
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), lr=args.lr,
                                           **({"momentum": 0.9} if args.optimizer == "sgd" else {}))
    scheduler = tapegrad.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    def train_step(images: tapegrad.Tensor, labels: tapegrad.Tensor) -> tapegrad.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    def predict(images: tapegrad.Tensor) -> tapegrad.Tensor:
        return model(images)

    step: Callable[[tapegrad.Tensor, tapegrad.Tensor], tapegrad.Tensor] = train_step
    forward: Callable[[tapegrad.Tensor], tapegrad.Tensor] = model
    if args.compile:
        # Returned tensors are detached, gradients and optimizer state update as in eager mode;
        # the scheduler's learning rate is read at every replay. ``forward`` runs under no_grad
        # with the model in eval mode, a signature of its own.
        step, forward = tapegrad.compile(train_step), tapegrad.compile(predict)
    from tqdm import tqdm

    losses: list[float] = []
    accuracies: list[float] = []
    start = time.perf_counter()
    try:
        for epoch in range(1, args.epochs + 1):
            total = 0.0
            # The bar goes to stderr and only to a terminal; the per-epoch lines below go to stdout.
            for images, labels in tqdm(train_loader, desc=f"epoch {epoch}", leave=False, disable=None):
                images, labels = images.to(args.device), labels.to(args.device)
                total += step(images, labels).item() * len(labels)
            scheduler.step()
            losses.append(total / len(train_set))
            accuracies.append(evaluate(model, test_loader, forward, args.device))
            print(f"epoch {epoch:3d}  loss {losses[-1]:.4f}  test accuracy {accuracies[-1]:.3f}  "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)
    except _trace_error(args.compile) as error:
        # Raised by the call that records a step (the second per batch shape) when the step
        # uses an op the compiler cannot record: say which, instead of a traceback.
        sys.exit(f"--compile: tapegrad.compile cannot compile the {args.model} model's steps"
                 f"{_failing_layer(error)}:\n{error}\n"
                 "Train without --compile (eager mode), or with a model whose ops it supports.")
    elapsed = time.perf_counter() - start

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / f"digits_{args.model}.ckpt"
    tapegrad.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": args.epochs,
                   "test_accuracy": accuracies[-1]}, checkpoint)
    plot = args.out / "curves.png"
    save_plot(plot, losses, accuracies)
    (args.out / "metrics.json").write_text(json.dumps(
        {"model": args.model, "optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
         "compile": args.compile, "device": args.device,
         "loss": losses, "test_accuracy": accuracies, "seconds": round(elapsed, 2)}, indent=1))
    print(f"final test accuracy {accuracies[-1]:.3f} in {elapsed:.1f} s; wrote {checkpoint} and {plot}")
    return accuracies[-1]


if __name__ == "__main__":
    main()
