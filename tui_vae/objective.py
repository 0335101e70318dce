"""The ELBO's pieces as free functions, in nats per image.

Negative ELBO (Kingma & Welling 2014, eq. 10) for a Bernoulli decoder and a
diagonal Gaussian posterior against the prior N(0, I):

    -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))
             ~ BCE(x, decoder(z)) summed over pixels, z ~ q(z|x) (one sample)
             + 0.5 * sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)

Training minimises recon + beta * KL (Higgins et al. 2017); beta = 1 is the
ELBO itself, beta = 0 the seed's run without the KL term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per image: Bernoulli cross-entropy on logits, summed over pixels.

    Works on logits (log-sum-exp form), so saturated pixels never produce
    log(0); x may hold grey levels in [0, 1], as MNIST does.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return per_pixel.flatten(1).sum(dim=1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per image, in closed form."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def kl_weight(beta: float, warmup_epochs: float, progress: float) -> float:
    """beta, ramped linearly from 0 over the first `warmup_epochs` (progress in epochs)."""
    if warmup_epochs <= 0:
        return beta
    return beta * min(1.0, progress / warmup_epochs)


@dataclass(frozen=True)
class LossParts:
    """A batch's loss, averaged over its images (tensors, still in the graph)."""

    objective: torch.Tensor  # recon + weight * kl: what the optimiser minimises
    recon: torch.Tensor  # reconstruction term, nats per image
    kl: torch.Tensor  # KL term, nats per image

    @property
    def elbo_loss(self) -> torch.Tensor:
        """The negative ELBO (beta = 1), whatever weight the objective used."""
        return self.recon + self.kl


def vae_loss(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    kl_weight: float = 1.0,
) -> LossParts:
    """The (beta-weighted) negative ELBO of a batch, averaged over images."""
    recon = reconstruction_nll(logits, x).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return LossParts(recon + kl_weight * kl, recon, kl)
