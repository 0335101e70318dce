"""Sampling from the aggregate posterior instead of the prior.

A VAE's decoder learns from codes drawn from q(z|x), whose mixture over the
data, the aggregate posterior q(z), need not fill the prior N(0, I): where the
prior has mass and q(z) has none (its "holes"), prior samples decode to
images the decoder never learnt to draw. ELBO surgery's KL(q(z) || p(z))
(surgery.py) measures how large that gap is. This module fits a diagonal
Gaussian mixture to the posterior means of a set of images and samples z
from it: the alternative sampler that Generate and `eval` compare with the
prior.

The mixture: COMPONENTS diagonal Gaussians, fitted by expectation-maximisation
(at most ITERATIONS rounds, stopping when the mean log-likelihood gains less
than TOLERANCE nats), started from COMPONENTS distinct means chosen at random
(seeded). 50 components: a few per digit class and style, small next to the
tens of thousands of codes it summarises, so it smooths between them rather
than replaying the training set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COMPONENTS = 50
ITERATIONS = 100
TOLERANCE = 1e-4
VARIANCE_FLOOR = 1e-4  # keeps a component from collapsing onto one code


@dataclass(frozen=True)
class GaussianMixture:
    """weights (K,), means (K, D), variances (K, D): a diagonal Gaussian mixture."""

    weights: torch.Tensor
    means: torch.Tensor
    variances: torch.Tensor

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) under the mixture, for each row of z (N, D)."""
        return torch.logsumexp(_log_joint(z.double(), self), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """n codes: a component by its weight, then its Gaussian (its spread x temperature)."""
        pick = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn((n, self.means.shape[1]), generator=generator, dtype=torch.float64)
        z = self.means[pick] + temperature * self.variances[pick].sqrt() * eps
        return z.float()


def _log_joint(z: torch.Tensor, mixture: GaussianMixture) -> torch.Tensor:
    """log w_k + log N(z_n; m_k, diag(v_k)) for every n, k: (N, K)."""
    inv = 1.0 / mixture.variances  # (K, D)
    sq = (z.square() @ inv.T - 2 * z @ (mixture.means * inv).T
          + (mixture.means.square() * inv).sum(1)[None, :]).clamp(min=0)
    log_norm = -0.5 * (mixture.means.shape[1] * math.log(2 * math.pi)
                       + mixture.variances.log().sum(1))
    return mixture.weights.log()[None, :] + log_norm[None, :] - 0.5 * sq


def fit_mixture(points: torch.Tensor, components: int = COMPONENTS,
                iterations: int = ITERATIONS, seed: int = 0) -> GaussianMixture:
    """A diagonal Gaussian mixture fitted to `points` (N, D) by EM."""
    x = points.double()
    n, _ = x.shape
    if n == 0:
        raise ValueError("a mixture needs at least one point")
    k = min(components, n)
    generator = torch.Generator().manual_seed(seed)
    start = torch.randperm(n, generator=generator)[:k]
    spread = x.var(dim=0, unbiased=False).clamp(min=VARIANCE_FLOOR) if n > 1 else \
        torch.ones(x.shape[1], dtype=torch.float64)
    mixture = GaussianMixture(torch.full((k,), 1.0 / k, dtype=torch.float64), x[start].clone(),
                              spread.expand(k, -1).clone())
    previous = -math.inf
    for _ in range(iterations):
        joint = _log_joint(x, mixture)
        log_px = torch.logsumexp(joint, dim=1, keepdim=True)
        resp = (joint - log_px).exp()  # (N, K)
        mass = resp.sum(0) + 1e-12
        means = (resp.T @ x) / mass[:, None]
        variances = ((resp.T @ x.square()) / mass[:, None] - means.square()).clamp(
            min=VARIANCE_FLOOR)
        mixture = GaussianMixture(mass / n, means, variances)
        score = log_px.mean().item()
        if score - previous < TOLERANCE:
            break
        previous = score
    return mixture


@torch.no_grad()
def aggregate_posterior(model, split, limit: int = 20_000, seed: int = 0,
                        batch_size: int = 1000) -> GaussianMixture:
    """The mixture fitted to the posterior means of split's first `limit` images.

    `model` is a TrainedModel (tui_vae.inference).
    """
    n = min(len(split), limit)
    means = []
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n))
        labels = split.labels[index] if model.config.conditional else None
        mu, _ = model.encode(split.floats(index), labels)
        means.append(mu.cpu())
    if not means:
        raise ValueError("the aggregate posterior needs at least one image")
    return fit_mixture(torch.cat(means), seed=seed)
