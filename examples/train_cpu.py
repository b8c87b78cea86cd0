"""Train a small MLP classifier on the CPU with tapegrad.

The data set is two interleaved spirals generated here (no download), so the program runs
anywhere. Usage: ``python examples/train_cpu.py [--epochs 30] [--lr 0.1] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import tapegrad
import tapegrad.nn as nn
import tapegrad.nn.functional as F


def spirals(count: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points on each of two spiral arms, labelled 0 and 1."""
    t = np.sqrt(rng.uniform(0.05, 1.0, count)) * 3 * math.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi)
    points = np.concatenate([arm, -arm]) + rng.normal(0, noise, (2 * count, 2))
    labels = np.concatenate([np.zeros(count, np.int64), np.ones(count, np.int64)])
    return points.astype(np.float32), labels


class MLP(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                    nn.Linear(hidden, 2))

    def forward(self, x: tapegrad.Tensor) -> tapegrad.Tensor:
        return self.layers(x)


def accuracy(model: nn.Module, x: tapegrad.Tensor, y: tapegrad.Tensor) -> float:
    with tapegrad.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--samples", type=int, default=600, help="points per class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tapegrad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    points, labels = spirals(args.samples, 0.03, rng)
    order = rng.permutation(len(labels))
    split = int(0.8 * len(labels))
    train_x, test_x = tapegrad.from_numpy(points[order[:split]]), tapegrad.from_numpy(points[order[split:]])
    train_y, test_y = tapegrad.from_numpy(labels[order[:split]]), tapegrad.from_numpy(labels[order[split:]])

    model = MLP(args.hidden)
    optimizer = tapegrad.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        permutation = tapegrad.randperm(split)
        total = 0.0
        for begin in range(0, split, args.batch_size):
            batch = permutation[begin:begin + args.batch_size]
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch:3d}  loss {total / split:.4f}  test accuracy {accuracy(model, test_x, test_y):.3f}")
    final = accuracy(model, test_x, test_y)
    print(f"final test accuracy {final:.3f} in {time.perf_counter() - start:.1f} s")
    return final


if __name__ == "__main__":
    main()
