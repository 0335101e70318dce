"""The judge: a small CNN classifier used only to evaluate generated images.

It says which class a generated image looks like (the cVAE's conditional
accuracy) and provides features for a Frechet distance between generated and
real images (FID's recipe with an MNIST classifier in place of Inception).
Saved as safetensors with JSON metadata, like the VAE checkpoints.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tui_vae.checkpoints import MAX_HEADER_BYTES, atomic_write_bytes, read_header_bytes
from tui_vae.data import Split
from tui_vae.errors import CheckpointError
from tui_vae.paths import shipped_judge

JUDGE_FORMAT = "tui-vae-judge"
FEATURES = 128  # width of the penultimate layer (the Frechet distance's features)
# Beside the shipped VAE checkpoints, in a sub-folder so that it is not listed as one
# (in the installed package's copy of them, else the checkout's checkpoints/).
SHIPPED_JUDGE = shipped_judge()
# The judge's weights are about 0.9 MB of float32; a file many times that size
# is not one, and is never read into memory whole.
MAX_JUDGE_BYTES = 8 * 1024 * 1024


class Judge(nn.Module):
    """Two 5x5 conv + max-pool stages, a 128-unit layer, ten logits."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, FEATURES)
        self.fc2 = nn.Linear(FEATURES, num_classes)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations (N, 128) for images (N, 1, 28, 28) in [0, 1]."""
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.features(x)))


@torch.no_grad()
def judge_outputs(judge: Judge, images: torch.Tensor, batch_size: int = 1000
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes (N,), features (N, 128)) for images (N, 1, 28, 28) in [0, 1]."""
    judge.eval()
    device = next(judge.parameters()).device
    classes, features = [], []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device)
        h = judge.features(x)
        classes.append(judge.fc2(h).argmax(1).cpu())
        features.append(h.cpu())
    return torch.cat(classes), torch.cat(features)


def accuracy(judge: Judge, split: Split) -> float:
    """Fraction of `split` classified correctly."""
    predicted, _ = judge_outputs(judge, split.floats())
    return (predicted == split.labels).float().mean().item()


def train_judge(train: Split, test: Split, epochs: int = 6, seed: int = 0,
                batch_size: int = 128, lr: float = 2e-3,
                log: Callable[[str], None] = print) -> Judge:
    """Train the judge with Adam and a cosine schedule; small random shifts as augmentation."""
    torch.manual_seed(seed)
    judge = Judge()
    optimizer = torch.optim.Adam(judge.parameters(), lr=lr)
    n = len(train)
    steps = math.ceil(n / batch_size)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        judge.train()
        started = time.perf_counter()
        perm = torch.randperm(n, generator=generator)
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (epoch + step / steps) / epochs))
            index = perm[step * batch_size : (step + 1) * batch_size]
            x = _shift(train.floats(index), generator)
            loss = F.cross_entropy(judge(x), train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        log(f"judge epoch {epoch + 1}/{epochs}: test accuracy {accuracy(judge, test):.4f} "
            f"({time.perf_counter() - started:.0f} s)")
    return judge.eval()


def _shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Shift the whole batch by up to `pixels` in each direction (cheap augmentation)."""
    dy, dx = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=generator))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def save_judge(judge: Judge, path: str | os.PathLike, meta: dict) -> Path:
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in judge.state_dict().items()}
    data = save(tensors, metadata={"tui_vae": json.dumps({"format": JUDGE_FORMAT, **meta})})
    atomic_write_bytes(path, data)
    return path


def load_judge(path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
               ) -> Judge:
    """Load the judge (default: the shipped MNIST judge); CheckpointError if unusable."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path) if path else SHIPPED_JUDGE
    # A regular file with a sane header first (a FIFO, a device or a folder is
    # refused without being opened), then a read bounded by the judge's size.
    _, size = read_header_bytes(path, "weights")
    if size > MAX_JUDGE_BYTES:
        raise CheckpointError(f"{path} is {size:,} bytes: too large to be a judge "
                              f"(at most {MAX_JUDGE_BYTES:,})")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_JUDGE_BYTES + 1)
    except OSError as exc:
        raise CheckpointError(f"cannot read the judge {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_JUDGE_BYTES:
        raise CheckpointError(f"{path} grew past {MAX_JUDGE_BYTES:,} bytes while being read")
    header_size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < header_size <= min(MAX_HEADER_BYTES, len(data) - 8):
        raise CheckpointError(f"{path} is not a safetensors file")
    try:
        header = json.loads(data[8 : 8 + header_size])
        meta = json.loads(header.get("__metadata__", {}).get("tui_vae", "{}"))
        if meta.get("format") != JUDGE_FORMAT:
            raise CheckpointError(f"{path} is not a tui-vae judge")
        judge = Judge()
        judge.load_state_dict(load(data))
    except (ValueError, KeyError, RuntimeError, SafetensorError, AttributeError) as exc:
        raise CheckpointError(f"{path} is not a usable judge: {exc}") from None
    if not all(torch.isfinite(p).all() for p in judge.parameters()):
        raise CheckpointError(f"{path} is not a usable judge: it holds NaN or infinite weights")
    return judge.to(device).eval()
