"""Train the example VAE (tiny_vae.py) and save its weights as safetensors.

    python train_tiny_vae.py                                   # MNIST, 5 epochs
    python train_tiny_vae.py --sample --epochs 3 --out tiny-sample.safetensors
    python train_tiny_vae.py --sample --conditional --out tiny-cvae.safetensors

The training loop is plain PyTorch; tui-vae only supplies the images (its
public `load_dataset`, which reads MNIST from TUI_VAE_DATA_DIR or downloads it).
The weights go to a safetensors file (`safetensors.torch.save_file`): tui-vae
never loads pickles, so no `torch.save`.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from safetensors.torch import save_file
from tiny_vae import build, build_conditional_sample, build_sample

from tui_vae import TuiVaeError, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true",
                        help="the bundled 1,000 digits instead of MNIST (offline, seconds)")
    parser.add_argument("--conditional", action="store_true",
                        help="the conditional version (with --sample)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="tiny-vae.safetensors")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    if args.conditional and not args.sample:
        parser.error("--conditional goes with --sample")
    model = build_conditional_sample() if args.conditional else (
        build_sample() if args.sample else build())
    try:
        train = load_dataset(model.dataset).train
    except TuiVaeError as exc:  # no MNIST and no network, say: one line, not a traceback
        sys.exit(f"error: {exc} (this script trains offline with --sample)")
    images, labels = train.floats(), train.labels  # (N, 1, 28, 28) in [0, 1]; (N,)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(1, args.epochs + 1):
        total, seen, said = 0.0, 0, time.monotonic()
        for batch in torch.randperm(len(images)).split(128):
            loss = model.loss(images[batch], labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
            seen += len(batch)
            if time.monotonic() - said > 5:  # a full-MNIST epoch takes a minute or more
                print(f"  epoch {epoch}: {seen:,}/{len(images):,} images", flush=True)
                said = time.monotonic()
        print(f"epoch {epoch}: -ELBO {total / len(images):.2f} nats per image", flush=True)
    save_file(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
