"""Runs side by side: what the Runs view tabulates, overlays and places on the plane.

Plain Python over checkpoint headers (no torch): each checkpoint's settings,
final test figures and per-epoch history, the curves of a chosen metric, and
its point on the rate-distortion plane (Alemi et al. 2018, "Fixing a Broken
ELBO"): rate R = the test KL, distortion D = the test reconstruction, both in
nats; -ELBO = D + R, so lines of equal -ELBO are D = c - R.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_vae.checkpoints import CheckpointInfo
from tui_vae.config import kind_title

# metric key -> (label, where it is read in a history record)
METRICS = {
    "test_loss": ("test -ELBO", ("test", "loss")),
    "test_recon": ("test recon", ("test", "recon")),
    "test_kl": ("test KL", ("test", "kl")),
    "train_loss": ("train loss", ("train", "loss")),
}


# The largest magnitude a chart places: a crafted header's 1e308 loss made the
# charts' ranges overflow (the explorer crashed). No real loss comes near it.
LARGEST_DRAWN = 1e15


def drawable(value: float) -> bool:
    """Whether a chart can place `value`: finite and at most LARGEST_DRAWN in size."""
    return math.isfinite(value) and abs(value) <= LARGEST_DRAWN


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Run:
    """One checkpoint as the Runs view shows it."""

    path: Path
    kind: str  # "VAE" or "cVAE"
    arch: str
    likelihood: str
    beta: float
    latent_dim: int
    epochs: int
    test_loss: float | None
    recon: float | None
    kl: float | None
    seconds: float  # training time over the recorded epochs
    history: tuple[dict, ...]
    dataset: str = "mnist"
    label: str | None = None  # the lists' name for it (Workspace.list_name), else its stem

    @property
    def plane_key(self) -> tuple[str, str]:
        """Runs share a rate-distortion plane only on the same data and likelihood: the
        distortion of a Gaussian or continuous Bernoulli decoder is a density, in other
        units than a Bernoulli's (it can be negative)."""
        return self.dataset, self.likelihood

    @property
    def name(self) -> str:
        return self.label or self.path.stem

    def curve(self, metric: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(epochs, values) of `metric` (a METRICS key) over the run's history."""
        section, key = METRICS[metric][1]
        xs, ys = [], []
        for record in self.history:
            part = record.get(section) if isinstance(record, dict) else None
            value = _number(part.get(key)) if isinstance(part, dict) else None
            epoch = _number(record.get("epoch")) if isinstance(record, dict) else None
            if value is not None and epoch is not None:
                xs.append(epoch)
                ys.append(value)
        return tuple(xs), tuple(ys)

    @property
    def point(self) -> tuple[float, float] | None:
        """(rate, distortion) on the plane, once a test evaluation exists."""
        if self.kl is None or self.recon is None or not (drawable(self.kl)
                                                          and drawable(self.recon)):
            return None
        return self.kl, self.recon


def run_from(entry: CheckpointInfo, label: str | None = None) -> Run:
    """A Run from a checkpoint's header (older checkpoints: the report's MLP, Bernoulli),
    named `label` in the lists where given."""
    m, test = entry.model_config, entry.final_test or {}
    history = tuple(r for r in entry.history if isinstance(r, dict))
    seconds = sum(_number(r.get("seconds")) or 0.0 for r in history)
    return Run(entry.path, kind_title(m),
               str(m.get("arch", "mlp")), str(m.get("likelihood", "bernoulli")),
               float(m.get("beta", 1.0)), int(m.get("latent_dim", 0)), entry.epochs_done,
               _number(test.get("loss")), _number(test.get("recon")), _number(test.get("kl")),
               seconds, history, str(m.get("dataset", "mnist")), label)


def runs_from(entries, label: Callable[[Path], str] | None = None) -> list[Run]:
    """The readable checkpoints among `entries`, as Runs, each named `label(path)`
    where given (Workspace.list_name)."""
    return [run_from(e, label(e.path) if label else None)
            for e in entries if isinstance(e, CheckpointInfo)]


def elbo_levels(points: list[tuple[float, float]], count: int = 6) -> list[float]:
    """Round values c for lines of equal -ELBO (D + R = c) across the points' range."""
    totals = sorted(r + d for r, d in points)
    if not totals:
        return []
    low, high = totals[0], totals[-1]
    if high - low < 1e-9:
        return [round(low, 1)]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (factor * step) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step) + 1)]
