"""Does a run compute the same numbers on another thread count? Checked, not assumed.

A parallel kernel may split a sum differently on another number of threads,
and floating-point sums then differ in their last bits. A run that changes
its thread count while it trains (cpu_share.ThreadShare) would then end on
figures that depend on the company it happened to have, and a stopped and
resumed run would no longer end on an uninterrupted one's. Whether a kernel
splits by thread count depends on its shapes and on the BLAS library, not on
the values it is given, so `same_on_threads` runs what an epoch runs, at the
run's own shapes, on both counts and compares every result bit for bit: the
training step (its loss parts and gradients) on a full batch and on the
epoch's last, shorter one, Adam's update, and the test evaluation on a full
evaluation batch and on its last one. It works on copies; the run's own
model, optimizer and random state are not touched.
"""

from __future__ import annotations

import copy

import torch

from tui_vae.config import TrainConfig
from tui_vae.data import Dataset, to_floats
from tui_vae.evaluation import evaluate_elbo
from tui_vae.memory import BASE_BYTES, available_bytes, training_bytes
from tui_vae.models import VAE
from tui_vae.optim import AdamUpdate, make_optimizer
from tui_vae.train_step import choose_step


def _sizes(total: int, batch: int) -> list[int]:
    """A full batch and the last, shorter one where there is one."""
    sizes = [min(batch, total)]
    if total > batch and total % batch:
        sizes.append(total % batch)
    return sizes


def _results(model: VAE, config: TrainConfig, dataset: Dataset, device: torch.device
             ) -> list[torch.Tensor]:
    """Everything one step per batch size and the evaluation compute, on copies."""
    model = copy.deepcopy(model)
    update = AdamUpdate(make_optimizer(model, config.lr, device))
    step = choose_step(model, config.step, update)  # as the run: laid out flat where it is
    out: list[torch.Tensor] = []
    for size in _sizes(len(dataset.train), config.batch_size):
        x = to_floats(dataset.train.images[:size]).to(device)
        labels = dataset.train.labels[:size].to(device) if config.model.conditional else None
        noise = torch.Generator(device).manual_seed(config.seed)
        out.append(torch.tensor(step(x, labels, 1.0, noise), dtype=torch.float64))
        out.extend(p.grad.detach().clone() for p in model.parameters() if p.grad is not None)
        update()
        out.extend(p.detach().clone() for p in model.parameters())
    for size in _sizes(len(dataset.test), config.eval_batch_size):
        metrics = evaluate_elbo(model, dataset.test.subset(slice(0, size)), seed=config.seed,
                                batch_size=config.eval_batch_size)
        out.append(torch.tensor(list(metrics.to_dict().values()), dtype=torch.float64))
    return out


def same_on_threads(model: VAE, config: TrainConfig, dataset: Dataset, device: torch.device,
                    threads: int) -> bool:
    """Whether training and evaluating `model` on `threads` threads gives, bit for bit,
    what it gives on the current count (which is left as it was).

    No where the copies would not fit in half the memory left: the run
    matters more than the probe."""
    _, needed = training_bytes(config)
    room = available_bytes()
    if room is not None and needed - BASE_BYTES > room // 2:
        return False
    now = torch.get_num_threads()
    try:
        here = _results(model, config, dataset, device)
        torch.set_num_threads(threads)
        there = _results(model, config, dataset, device)
    finally:
        torch.set_num_threads(now)
    return len(here) == len(there) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(here, there, strict=True))
