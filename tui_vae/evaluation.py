"""Honest test metrics: the negative ELBO with z sampled from q(z|x), and the
importance-weighted NLL bound (Burda, Grosse & Salakhutdinov 2015, eq. 8).

Both draw their noise from a seeded generator, so the same model, data, seed
and batch size give the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tui_vae.data import Split
from tui_vae.models import VAE
from tui_vae.objective import (
    LOG_2PI,
    gaussian_kl,
    standard_normal_log_density,
)


@dataclass(frozen=True)
class ElboMetrics:
    """Negative ELBO and its parts, nats per image, averaged over a split."""

    loss: float  # recon + kl (beta = 1: a real bound on -log p(x))
    recon: float
    kl: float

    def to_dict(self) -> dict:
        return {"loss": self.loss, "recon": self.recon, "kl": self.kl}


def _batches(split: Split, batch_size: int, device: torch.device):
    for start in range(0, len(split), batch_size):
        stop = min(start + batch_size, len(split))
        x = split.floats(slice(start, stop)).to(device, non_blocking=True)
        yield x, split.labels[start:stop].to(device, non_blocking=True)


def _labels_for(model: VAE, labels: torch.Tensor) -> torch.Tensor | None:
    return labels if model.config.conditional else None


@torch.no_grad()
def evaluate_elbo(
    model: VAE, split: Split, seed: int = 0, batch_size: int = 1000
) -> ElboMetrics:
    """Negative ELBO of `split`, one z ~ q(z|x) per image (not z = mu)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    recon_sum = kl_sum = 0.0
    for x, labels in _batches(split, batch_size, device):
        cond = _labels_for(model, labels)
        logits, mu, logvar = model(x, cond, generator=generator)
        recon_sum += model.reconstruction_nll(logits, x).sum().item()
        kl_sum += gaussian_kl(mu, logvar).sum().item()
    model.train(was_training)
    n = len(split)
    return ElboMetrics((recon_sum + kl_sum) / n, recon_sum / n, kl_sum / n)


@torch.no_grad()
def importance_weighted_nll(
    model: VAE,
    split: Split,
    samples: int,
    seed: int = 0,
    batch_size: int = 100,
    chunk: int = 100,
) -> float:
    """Estimate -log p(x) per image with K = `samples` importance samples from q(z|x).

    log p(x) >= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x); with K = 1 this is the
    ELBO, and it tightens as K grows. Samples are drawn `chunk` at a time and
    combined with a running log-sum-exp, so memory stays bounded for large K.
    """
    if samples < 1:
        raise ValueError("samples must be at least 1")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    total = 0.0
    for x, labels in _batches(split, batch_size, device):
        cond = _labels_for(model, labels)
        mu, logvar = model.encode(x, cond)
        # A running log-sum-exp over the chunks: memory does not grow with K.
        log_sum = torch.full((x.shape[0],), -math.inf, device=device)
        for start in range(0, samples, chunk):
            k = min(chunk, samples - start)
            eps = torch.randn((k, *mu.shape), generator=generator, device=device)
            z = mu + torch.exp(0.5 * logvar) * eps  # (k, n, d)
            flat_z = z.reshape(-1, z.shape[-1])
            flat_cond = None if cond is None else cond.repeat(k)
            logits = model.decode_logits(flat_z, flat_cond)
            log_px_z = -model.reconstruction_nll(
                logits, x.repeat(k, *([1] * (x.dim() - 1)))
            ).view(k, -1)
            # log q(z|x) from the noise itself: (z - mu)^2 / sigma^2 is eps^2, and
            # computing it that way stays finite when sigma underflows (beta = 0
            # posteriors are that narrow), where the textbook form gives 0 * inf.
            log_q = -0.5 * (LOG_2PI + logvar + eps.pow(2)).sum(dim=-1)
            log_weights = log_px_z + standard_normal_log_density(z) - log_q  # (k, n)
            log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_weights, dim=0))
        log_px = log_sum - math.log(samples)
        total += -log_px.sum().item()
    model.train(was_training)
    return total / len(split)
