"""Does torch.compile pay for itself on the general (autograd) training step?

For the report's MLP and the conv net (Bernoulli likelihood, batch 128, z=20,
hidden 400), times the general step eager and compiled in one process: the
compiled model's first step (the cold compile) and the median step after
warm-up. Prints the break-even step count and what a default 10-epoch MNIST
run (4,690 steps) would gain or lose. Run: python benchmarks/compile_general_step.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tui_vae.config import ModelConfig
from tui_vae.models import build_model
from tui_vae.optim import AdamUpdate, make_optimizer
from tui_vae.train_step import AutogradStep

RUN_STEPS = 10 * 469  # a default run: 10 epochs of 60,000 images at batch 128


def _time_steps(step, update, x, steps: int) -> list[float]:
    times = []
    for i in range(steps):
        start = time.perf_counter()
        step(x, None, 1.0, torch.Generator().manual_seed(i))
        update()
        times.append(time.perf_counter() - start)
    return times


def measure(arch: str, steps: int) -> None:
    config = ModelConfig(arch=arch)
    x = torch.rand(128, 1, 28, 28)
    rows = {}
    for compiled in (False, True):
        model = build_model(config, seed=0)
        update = AdamUpdate(make_optimizer(model, 2e-3, torch.device("cpu")))
        step = AutogradStep(model)
        if compiled:
            step.model = torch.compile(model)
        start = time.perf_counter()
        _time_steps(step, update, x, 1)  # the first step (compiles when compiled)
        first = time.perf_counter() - start
        _time_steps(step, update, x, 10)  # warm-up
        median = statistics.median(_time_steps(step, update, x, steps))
        rows[compiled] = (first, median)
        print(f"{arch:4s} {'compiled' if compiled else 'eager':8s} first step {first:7.2f} s  "
              f"median step {median * 1000:7.2f} ms")
    (eager_first, eager), (cold, hot) = rows[False], rows[True]
    saved = eager - hot
    if saved <= 0:
        print(f"{arch:4s} compiled steps are not faster ({hot * 1000:.2f} vs {eager * 1000:.2f} "
              f"ms): never pays")
        return
    extra = cold - eager_first
    print(f"{arch:4s} break-even after {extra / saved:,.0f} steps; a 10-epoch run "
          f"({RUN_STEPS:,} steps) {'gains' if saved * RUN_STEPS > extra else 'loses'} "
          f"{abs(saved * RUN_STEPS - extra):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps per variant")
    parser.add_argument("--arch", nargs="*", default=["mlp", "conv"])
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for arch in args.arch:
        measure(arch, args.steps)


if __name__ == "__main__":
    main()
