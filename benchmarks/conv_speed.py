"""The conv architecture's training speed against a bound measured beside it.

Times the general (autograd) step of `--arch conv` (MNIST shapes, batch 128,
z=20, hidden 400) in the default memory format and in channels-last, and the
bound: each layer's own products alone at their real shapes, forward and both
backward ones (for a convolution: the convolution, the gradient of its input and
of its weight; for a linear layer: three matrix products), summed. Prints ms a
step and seconds an epoch (469 steps). Run: python benchmarks/conv_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from tui_vae.config import ModelConfig
from tui_vae.models import build_model
from tui_vae.optim import AdamUpdate, make_optimizer
from tui_vae.train_step import AutogradStep

BATCH, STEPS_PER_EPOCH = 128, 469


def _median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def step_ms(channels_last: bool, repeats: int) -> float:
    model = build_model(ModelConfig(arch="conv"), seed=0)
    x = (torch.rand(BATCH, 1, 28, 28) > 0.5).float()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    step = AutogradStep(model)
    update = AdamUpdate(make_optimizer(model, 1e-3, torch.device("cpu")))
    generator = torch.Generator().manual_seed(0)

    def one() -> None:
        step(x, None, 1.0, generator)
        update()

    return _median_ms(one, repeats)


def bound_ms(repeats: int) -> float:
    """Each layer's forward and backward products alone, at the shapes a step gives them."""
    model = build_model(ModelConfig(arch="conv"), seed=0)
    shapes: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((m, i[0].detach(),
                                                                     o.detach())))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d,
                                                        nn.Linear))]
    model(torch.rand(BATCH, 1, 28, 28), None, torch.Generator().manual_seed(0))
    for hook in hooks:
        hook.remove()
    return sum(_layer_ms(module, inp, out, repeats) for module, inp, out in shapes)


def _layer_ms(module: nn.Module, inp: torch.Tensor, out: torch.Tensor, repeats: int) -> float:
    """One layer's forward and backward products, alone, at its real shapes."""
    grad = torch.randn_like(out)
    with torch.no_grad():
        if isinstance(module, nn.Linear):
            w = module.weight
            return (_median_ms(lambda: inp @ w.T, repeats) + _median_ms(lambda: grad @ w, repeats)
                    + _median_ms(lambda: grad.T @ inp, repeats))
        forward = _median_ms(lambda: module(inp), repeats)
    inp_req = inp.clone().requires_grad_(True)
    y = module(inp_req)  # the convolution's gradients: of its input and of its weight
    backward = _median_ms(lambda: torch.autograd.grad(y, (inp_req, module.weight), grad,
                                                      retain_graph=True), repeats)
    return forward + backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}")
    bound = bound_ms(args.repeats)
    for channels_last in (False, True):
        ms = step_ms(channels_last, args.repeats)
        print(f"conv step, {'channels-last' if channels_last else 'contiguous   '}: "
              f"{ms:7.2f} ms ({ms * STEPS_PER_EPOCH / 1000:5.1f} s an epoch), "
              f"{ms / bound:.2f}x the bound")
    print(f"bound (each layer's products alone, forward and backward): {bound:7.2f} ms "
          f"({bound * STEPS_PER_EPOCH / 1000:5.1f} s an epoch)")


if __name__ == "__main__":
    main()
