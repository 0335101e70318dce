"""The seed report's models: an MLP VAE and its conditional variant (cVAE).

Encoder: flatten -> `encoder_shared` (Linear + ReLU) -> heads `fc_mu`, `fc_logvar`.
Sampling: the reparameterisation trick, z = mu + exp(logvar / 2) * eps.
Decoder: the mirror, Linear + ReLU -> Linear back to 784 *logits* (probabilities
are their sigmoid; the loss works on logits for numerical safety).
The cVAE concatenates a one-hot label to the encoder input and to the decoder input.

Kingma & Welling, "Auto-Encoding Variational Bayes", 2014; Sohn et al.,
"Learning Structured Output Representation using Deep Conditional Generative
Models", 2015.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tui_vae.datasets import IMAGE_SIZE, NUM_CLASSES

MODEL_KINDS = ("vae", "cvae")
INPUT_DIM = IMAGE_SIZE * IMAGE_SIZE


@dataclass(frozen=True)
class ModelConfig:
    """What a trained model is: its architecture and what it was trained for."""

    model: str = "vae"  # "vae" or "cvae" (conditional on the class label)
    latent_dim: int = 20  # size of z; the seed uses 20
    hidden_dim: int = 400  # width of the encoder's and decoder's hidden layer
    beta: float = 1.0  # weight of the KL term; 0 = the seed's reconstruction-only run
    dataset: str = "mnist"  # the dataset it was trained on
    num_classes: int = NUM_CLASSES  # size of the one-hot condition (cVAE only)

    @property
    def conditional(self) -> bool:
        return self.model == "cvae"

    def to_dict(self) -> dict:
        return asdict(self)


class VAE(nn.Module):
    """MLP variational autoencoder on 28x28 images (the seed's model)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.input_dim = INPUT_DIM
        cond = config.num_classes if config.conditional else 0
        self.encoder_shared = nn.Sequential(
            nn.Linear(INPUT_DIM + cond, config.hidden_dim), nn.ReLU()
        )
        self.fc_mu = nn.Linear(config.hidden_dim, config.latent_dim)
        self.fc_logvar = nn.Linear(config.hidden_dim, config.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim + cond, config.hidden_dim),
            nn.ReLU(),
            nn.Linear(config.hidden_dim, INPUT_DIM),
        )

    def encoder_input(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """What `encoder_shared` reads: the flattened image (and, for a cVAE, the label)."""
        return x.reshape(-1, self.input_dim)

    def decoder_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """What `decoder` reads: z (and, for a cVAE, the label)."""
        return z

    def encode(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): the mean and log-variance of the diagonal Gaussian posterior."""
        h = self.encoder_shared(self.encoder_input(x, labels))
        return self.fc_mu(h), self.fc_logvar(h)

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I), differentiable in mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z): Bernoulli logits of shape (N, 1, 28, 28)."""
        flat = self.decoder(self.decoder_input(z, labels))
        return flat.view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel probabilities of shape (N, 1, 28, 28)."""
        return torch.sigmoid(self.decode_logits(z, labels))

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample z once, decode: returns (logits, mu, logvar)."""
        mu, logvar = self.encode(x, labels)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z, labels), mu, logvar


class CVAE(VAE):
    """Conditional VAE: the one-hot label joins the encoder's and the decoder's input."""

    def _one_hot(self, labels: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        if labels is None:
            raise ValueError("a cVAE needs class labels")
        if labels.is_floating_point():  # (N, classes) weights: a mix of conditions
            return labels.to(like.dtype)
        return F.one_hot(labels.long(), self.config.num_classes).to(like.dtype)

    def encoder_input(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        flat = x.reshape(-1, self.input_dim)
        return torch.cat((flat, self._one_hot(labels, flat)), dim=1)

    def decoder_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return torch.cat((z, self._one_hot(labels, z)), dim=1)


def build_model(config: ModelConfig, seed: int | None = None) -> VAE:
    """A freshly initialised VAE or CVAE; with `seed`, the same weights every time.

    Weights are initialised on the CPU under a forked RNG, so a seed gives the
    same model whatever the device and without disturbing the global RNG.
    """
    if config.model not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {config.model!r}")
    cls = CVAE if config.conditional else VAE
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)
