"""How good a model's generated images are, as judged by the MNIST judge.

- Conditional accuracy (cVAE): the fraction of samples of class c that the
  judge assigns to class c, per class and overall.
- Frechet distance: between Gaussians fitted to the judge's penultimate-layer
  features of prior samples and of the test set (Heusel et al. 2017, FID's
  formula with an MNIST classifier in place of Inception).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tui_vae.data import Split
from tui_vae.inference import TrainedModel
from tui_vae.judge import Judge, judge_outputs


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of feature rows (N, D), in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray,
                     cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2) between two Gaussians.

    The symmetric form of the matrix square root uses two eigendecompositions,
    so it stays real and stable for singular covariances.
    """
    root1 = _sqrt_psd(cov1)
    cross = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    diff = np.asarray(mu1) - np.asarray(mu2)
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt
    return float(max(value, 0.0))


@dataclass(frozen=True)
class ConditionalAccuracy:
    """Judge agreement with the requested class at one sampling temperature."""

    temperature: float
    overall: float
    per_class: tuple[float, ...]
    samples_per_class: int

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "overall": self.overall,
                "per_class": list(self.per_class), "samples_per_class": self.samples_per_class}


def agreement(requested: torch.Tensor, judged: torch.Tensor, classes: int
              ) -> tuple[float, tuple[float, ...]]:
    """(overall, per-class) fraction of `judged` equal to `requested`."""
    hits = (requested == judged).float()
    per_class = tuple(hits[requested == c].mean().item() if (requested == c).any() else
                      float("nan") for c in range(classes))
    return hits.mean().item(), per_class


def conditional_accuracy(model: TrainedModel, judge: Judge, temperature: float = 1.0,
                         per_class: int = 1000, seed: int = 0,
                         mixture=None) -> ConditionalAccuracy:
    """cVAE only: sample `per_class` images of each class and ask the judge (z from the
    prior, or from `mixture`, the aggregate posterior's aggregate.GaussianMixture)."""
    if not model.config.conditional:
        raise ValueError("conditional accuracy needs a cVAE")
    classes = model.config.num_classes
    requested = torch.arange(classes).repeat_interleave(per_class)
    images = _draw(model, len(requested), requested, temperature, seed, mixture)
    judged, _ = judge_outputs(judge, images)
    overall, by_class = agreement(requested, judged, classes)
    return ConditionalAccuracy(temperature, overall, by_class, per_class)


def _draw(model: TrainedModel, n: int, labels, temperature: float, seed: int,
          mixture=None) -> torch.Tensor:
    """n images from z ~ N(0, T^2 I), or from the mixture when one is given. The prior's
    z are one randn() call, not the API's row-at-a-time draw: the published figures
    (README, Results) were measured so, and stay reproducible."""
    if mixture is None:
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn((n, model.config.latent_dim), generator=generator) * temperature
        return model.decode(z, labels).cpu()
    z = mixture.sample(n, torch.Generator().manual_seed(seed), temperature)
    return model.decode(z, labels).cpu()


def prior_samples(model: TrainedModel, n: int, seed: int = 0, mixture=None) -> torch.Tensor:
    """n images decoded from z ~ N(0, I) (or the mixture); a cVAE's classes are balanced."""
    labels = (torch.arange(n) % model.config.num_classes) if model.config.conditional else None
    return _draw(model, n, labels, 1.0, seed, mixture)


def sample_frechet_distance(model: TrainedModel, judge: Judge, test: Split, n: int = 10_000,
                            seed: int = 0, mixture=None) -> float:
    """Frechet distance between n samples (prior, or `mixture`) and the test set, in
    judge features."""
    _, fake = judge_outputs(judge, prior_samples(model, n, seed, mixture))
    _, real = judge_outputs(judge, test.floats())
    return frechet_distance(*gaussian_stats(fake.numpy()), *gaussian_stats(real.numpy()))
