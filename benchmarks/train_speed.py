"""Training speed: tui-vae's trainer against a pytorch/examples-style pipeline.

Prints, from one run on this machine:
  - seconds per epoch of the reference (torchvision MNIST + per-sample ToTensor +
    DataLoader, batch 128, sigmoid decoder + BCE on probabilities, Adam 1e-3)
    and of our trainer with its defaults, and their ratio;
  - the GEMM-only lower bound for one epoch of this model at our default batch (the
    model's matrix products timed at their real shapes), measured after each of
    our epochs, and each epoch's time against it; and the same products run back
    to back in a step's order, against that bound;
  - test loss (negative ELBO, z sampled) after each epoch, for both;
  - wall time until our trainer first reaches the reference's final test loss
    target (105.6), against the reference's whole run.

Usage: python benchmarks/train_speed.py [--data-dir ../shared/data] [--epochs 10]
       [--skip-reference]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from second_core import reading
from torch import nn

from tui_vae.data import load_dataset
from tui_vae.models import ModelConfig
from tui_vae.optim import skip_compiler_import
from tui_vae.training import EpochEnded, TrainConfig, Trainer

TARGET = 105.6


class ReferenceVAE(nn.Module):
    """The pytorch/examples VAE: same sizes as ours, sigmoid output."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def run_reference(data_dir: str, epochs: int) -> list[tuple[float, float]]:
    """(cumulative wall seconds, test loss) after each epoch of the reference."""
    from torchvision import datasets, transforms

    torch.manual_seed(1)
    tf = transforms.ToTensor()
    train = torch.utils.data.DataLoader(datasets.MNIST(data_dir, train=True, transform=tf),
                                        batch_size=128, shuffle=True)
    test = torch.utils.data.DataLoader(datasets.MNIST(data_dir, train=False, transform=tf),
                                       batch_size=128, shuffle=False)
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    results, start = [], time.perf_counter()
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        model.train()
        for x, _ in train:
            optimizer.zero_grad()
            loss = reference_loss(*_unpack(model, x))
            loss.backward()
            optimizer.step()
        train_s = time.perf_counter() - epoch_start
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test:
                total += reference_loss(*_unpack(model, x)).item()
        results.append((time.perf_counter() - start, total / len(test.dataset)))
        print(f"  reference epoch {epoch + 1:2d}: train {train_s:6.2f} s, "
              f"test loss {results[-1][1]:8.3f}, elapsed {results[-1][0]:6.1f} s", flush=True)
    return results


def _unpack(model, x):
    recon, mu, logvar = model(x)
    return recon, x, mu, logvar


def run_ours(data_dir: str, epochs: int) -> tuple[list[tuple[float, float]], list[float],
                                                 list[float]]:
    """Per epoch: (cumulative wall seconds, test loss), training seconds, and the
    GEMM-only bound measured right after it.

    This machine's speed drifts by several percent over minutes, so each epoch
    is compared with a bound measured next to it. The time spent measuring
    bounds is left out of the wall-clock figures.
    """
    # As `tui-vae train` does: without it, building Adam imports torch's compiler,
    # and with the compiler loaded this machine ran every epoch (and the GEMM
    # bound) markedly slower, so the figures were not the command's.
    skip_compiler_import()
    dataset = load_dataset("mnist", data_dir)
    config = TrainConfig(model=ModelConfig(), epochs=epochs, device="cpu", data_dir=data_dir)
    results, train_seconds, bounds = [], [], []
    start, paused = time.perf_counter(), 0.0

    def on_event(event):
        nonlocal paused
        if isinstance(event, EpochEnded):
            results.append((time.perf_counter() - start - paused, event.test["loss"]))
            train_seconds.append(event.seconds)
            measuring = time.perf_counter()
            bounds.append(gemm_bound(config.batch_size))
            paused += time.perf_counter() - measuring
            print(f"  tui-vae   epoch {event.epoch + 1:2d}: train {event.seconds:6.2f} s "
                  f"({event.seconds / bounds[-1]:.2f}x the bound of {bounds[-1]:.3f} s), "
                  f"test loss {event.test['loss']:8.3f}, elapsed {results[-1][0]:6.1f} s",
                  flush=True)

    Trainer(config, on_event=on_event, dataset=dataset).run()
    return results, train_seconds, bounds


def _time(fn, repeats: int) -> float:
    for _ in range(5):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def gemm_bound(batch: int, n: int = 60000) -> float:
    """Seconds per epoch spent in the model's matrix products alone (fwd + bwd)."""
    layers = [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]
    per_step = 0.0
    for index, (fan_in, fan_out) in enumerate(layers):
        x, w = torch.randn(batch, fan_in), torch.randn(fan_out, fan_in)
        dy, b = torch.randn(batch, fan_out), torch.randn(fan_out)
        per_step += _time(lambda b=b, x=x, w=w: torch.addmm(b, x, w.t()), 300)  # forward
        per_step += _time(lambda dy=dy, x=x: dy.t().mm(x), 300)  # weight gradient
        if index != 0:  # the input needs no gradient, so layer 1 has no dX
            per_step += _time(lambda dy=dy, w=w: dy.mm(w), 300)
    full, last = divmod(n, batch)
    return per_step * (full + last / batch)


def sequence_time(batch: int, n: int = 60000, repeats: int = 300) -> float:
    """Seconds per epoch of the same products run back to back in a step's order.

    `gemm_bound` times each product hot, repeated on the same operands; a step
    runs eleven different ones in turn, each finding its operands colder. This
    says how much of the gap between an epoch and the bound is the products'
    own, with nothing else in the step.
    """
    latent, hidden, pixels = 20, 400, 784
    r = torch.randn
    x, h, z, h2 = r(batch, pixels), r(batch, hidden), r(batch, latent), r(batch, hidden)
    w1, w3, w4 = r(hidden, pixels), r(hidden, latent), r(pixels, hidden)
    heads = r(2 * latent, hidden)
    b1, bh, b3, b4 = r(hidden), r(2 * latent), r(hidden), r(pixels)
    d, dh2, dheads, dh = r(batch, pixels), r(batch, hidden), r(batch, 2 * latent), r(batch, hidden)
    g1, gh, g3, g4 = (torch.empty_like(w) for w in (w1, heads, w3, w4))

    def step():
        torch.addmm(b1, x, w1.t())
        torch.addmm(bh, h, heads.t())
        torch.addmm(b3, z, w3.t())
        torch.addmm(b4, h2, w4.t())
        torch.mm(d.t(), h2, out=g4)
        d.mm(w4)
        torch.mm(dh2.t(), z, out=g3)
        dh2.mm(w3)
        torch.mm(dheads.t(), h, out=gh)
        dheads.mm(heads)
        torch.mm(dh.t(), x, out=g1)

    full, last = divmod(n, batch)
    return _time(step, repeats) * (full + last / batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("TUI_VAE_DATA_DIR", "../shared/data"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs", flush=True)
    print(reading(), flush=True)

    print("tui-vae trainer (defaults):", flush=True)
    ours, ours_train, bounds = run_ours(args.data_dir, args.epochs)
    ours_epoch = sum(ours_train) / len(ours_train)
    ratios = sorted(t / b for t, b in zip(ours_train, bounds))
    batch = TrainConfig().batch_size
    print(f"GEMM-only lower bound, batch {batch}: median {statistics.median(bounds):.3f} s "
          f"per epoch (range {min(bounds):.3f}-{max(bounds):.3f} over the run)")
    print(f"tui-vae: {ours_epoch:.3f} s per epoch of training; each epoch against the bound "
          f"measured after it: median {statistics.median(ratios):.2f}x, range "
          f"{ratios[0]:.2f}-{ratios[-1]:.2f}x (target <= 1.45x); {ours[-1][0]:.1f} s for "
          f"{args.epochs} epochs with evaluation")
    sequence, bound_now = sequence_time(batch), gemm_bound(batch)
    print(f"the same products back to back, in a step's order: {sequence:.3f} s per epoch, "
          f"{sequence / bound_now:.2f}x the bound of {bound_now:.3f} s measured next to it")
    reached = next((t for t, loss in ours if loss <= TARGET), None)
    print(f"tui-vae reaches test loss <= {TARGET}: "
          + (f"after {reached:.1f} s" if reached else "not within the run"))
    print(reading(), flush=True)
    if args.skip_reference:
        return
    print("reference pipeline (pytorch/examples shape):", flush=True)
    ref = run_reference(args.data_dir, args.epochs)
    ref_epoch = ref[-1][0] / len(ref)
    print(f"reference: {ref_epoch:.2f} s per epoch with evaluation, {ref[-1][0]:.1f} s in all, "
          f"final test loss {ref[-1][1]:.3f}")
    print(f"speed-up per epoch: {ref_epoch / (ours[-1][0] / len(ours)):.2f}x (with evaluation)")
    if reached:
        print(f"time to test loss <= {TARGET}: {reached:.1f} s vs the reference's whole run "
              f"{ref[-1][0]:.1f} s = {reached / ref[-1][0]:.1%} (target <= 20%)")


if __name__ == "__main__":
    main()
