"""Likelihoods p(x|z) over pixels in [0, 1], as small modules the VAE holds.

The decoder outputs one unconstrained number per pixel (`out`); a likelihood
turns it into the negative log-likelihood of an image, summed over pixels, in
nats (`nll`), and into the image it stands for (`mean`). Registered in
tui_vae/config.py (LIKELIHOODS); a new one is a class here with those two
methods plus a registry entry. A likelihood with learnable parameters holds
them itself, so they train with the model and travel in its checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)
# How near 0 or 1 a starting mean may be: a pixel that is black in every training
# image would otherwise ask for an output of minus infinity.
MEAN_LOW = 1e-3


class Likelihood(nn.Module):
    """The interface: built for images of `channels`; `nll` and `mean` of the decoder's output."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.channels = channels

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image, summed over pixels (nats)."""
        raise NotImplementedError

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The image the output stands for: E[x|z], in [0, 1]."""
        raise NotImplementedError

    def out_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The output whose `mean` is `mean` (kept within [0.001, 0.999]): where the
        trainer starts the decoder. The logit, for likelihoods whose mean is a sigmoid."""
        return torch.logit(mean.clamp(MEAN_LOW, 1 - MEAN_LOW))


class Bernoulli(Likelihood):
    """Each pixel a Bernoulli with logit `out`: the report's cross-entropy.

    A density only for binary pixels; on grey levels it is the usual
    cross-entropy, not normalised (Loaiza-Ganem & Cunningham 2019).
    """

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image; computed on logits, so saturated pixels never give log 0."""
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


def _log_cb_normaliser(logits: torch.Tensor) -> torch.Tensor:
    """log C(lambda) of the continuous Bernoulli, lambda = sigmoid(logits).

    C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda); with lambda =
    sigmoid(l), 1 - 2 lambda = -tanh(l / 2) and 2 artanh(1 - 2 lambda) = -l, so
    C = l / tanh(l / 2): 2 at l = 0 (series 2 + l^2 / 6 near it), ~|l| far away.
    """
    small = logits.abs() < 1e-2
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = torch.log(safe / torch.tanh(safe / 2))
    series = math.log(2.0) + torch.log1p(logits.square() / 12)
    return torch.where(small, series, exact)


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli: the Bernoulli's shape normalised into a density on [0, 1].

    Loaiza-Ganem & Cunningham, "The continuous Bernoulli: fixing a pervasive
    error in variational autoencoders", 2019. -log p(x|z) = BCE(l, x) - log C.
    """

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        per_pixel = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        return (per_pixel - _log_cb_normaliser(out)).flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x] = lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda)).

        In logits: sigmoid(l) / tanh(l / 2) - 1 / l, and 1/2 + l / 12 near l = 0.
        """
        small = out.abs() < 1e-2
        safe = torch.where(small, torch.ones_like(out), out)
        exact = torch.sigmoid(safe) / torch.tanh(safe / 2) - 1 / safe
        return torch.where(small, 0.5 + out / 12, exact)

    def out_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The mean rises monotonically with the logit but has no closed inverse:
        bisection on the logit, within +-100 (a mean from ~0.01 to ~0.99: the
        density's mean nears 0 or 1 only as 1 / |logit|)."""
        target = mean.clamp(MEAN_LOW, 1 - MEAN_LOW)
        low, high = torch.full_like(target, -100.0), torch.full_like(target, 100.0)
        for _ in range(40):  # 200 / 2**40: far below float32's resolution of a logit
            middle = (low + high) / 2
            below = self.mean(middle) < target
            low, high = torch.where(below, middle, low), torch.where(below, high, middle)
        return (low + high) / 2


class Gaussian(Likelihood):
    """Each pixel N(sigmoid(out), sigma_c^2), sigma learned per channel.

    A learned scale rather than a fixed one lets the ELBO weigh reconstruction
    against KL by itself (Rybkin et al. 2021, "Simple and effective VAE
    training with calibrated decoders"). log sigma is kept in [-6, 2]: an
    unbounded scale would let the density grow without end. The floor (sigma
    0.0025) is finer than one grey level, so it bounds the density, not the
    degeneracy: without dequantisation this is a density at 256 points, not a
    likelihood of 8-bit images (README, Likelihoods).
    """

    LOG_SCALE_MIN, LOG_SCALE_MAX = -6.0, 2.0

    def __init__(self, channels: int = 1):
        super().__init__(channels)
        self.log_scale = nn.Parameter(torch.full((channels,), math.log(0.1)))

    def _log_scale(self, like: torch.Tensor) -> torch.Tensor:
        log_scale = self.log_scale.clamp(self.LOG_SCALE_MIN, self.LOG_SCALE_MAX)
        return log_scale.view(1, -1, *([1] * (like.dim() - 2)))

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        log_scale = self._log_scale(out)
        z = (x - torch.sigmoid(out)) * torch.exp(-log_scale)
        per_pixel = 0.5 * z.square() + log_scale + 0.5 * LOG_2PI
        return per_pixel.flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)


def build_likelihood(name: str, channels: int) -> Likelihood:
    """The registered likelihood `name` (tui_vae.config.LIKELIHOODS) for images of `channels`."""
    from tui_vae.config import LIKELIHOODS

    return LIKELIHOODS[name].load()(channels)
