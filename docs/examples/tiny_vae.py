"""An example of your own VAE for tui-vae: a small convolutional VAE in plain PyTorch.

It imports nothing from tui-vae: what makes it usable there is the protocol
(README, "Your own VAE"): five attributes and two methods.

    latent_dim, image_shape, num_classes, likelihood, dataset
    encode(x, y) -> (mu, logvar)     x: (N, 1, 28, 28) in [0, 1]
    decode(z, y) -> logits           (N, 1, 28, 28), read as Bernoulli logits

y is None for a plain VAE (num_classes = 0); a conditional one (num_classes =
10 here) gets y as (N, 10) class weights, one-hot for a digit, and joins them
to the code on both sides. Train it and save its weights
with `python train_tiny_vae.py` (beside this file), then, from this folder:

    tui-vae --model-factory tiny_vae:build --weights tiny-vae.safetensors
    tui-vae eval --model-factory tiny_vae:build tiny-vae.safetensors
    tui-vae sample --model-factory tiny_vae:build tiny-vae.safetensors -n 16
"""

from __future__ import annotations

import torch
from torch import nn


class TinyVAE(nn.Module):
    """Two stride-2 convolutions down to a 7x7 map, a dense code, and back up."""

    image_shape = (1, 28, 28)
    likelihood = "bernoulli"  # decode returns one logit per pixel

    def __init__(self, latent_dim: int = 8, width: int = 16, dataset: str = "mnist",
                 num_classes: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.dataset = dataset  # whose test images tui-vae shows and evaluates on
        self.num_classes = num_classes  # 0: a plain VAE, encode and decode get y = None
        self.down = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.ReLU(),          # 14 x 14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),  # 7 x 7
            nn.Flatten(),
        )
        features = 2 * width * 7 * 7
        self.to_code = nn.Linear(features + num_classes, 2 * latent_dim)  # mu, logvar
        self.from_code = nn.Linear(latent_dim + num_classes, features)
        self.up = nn.Sequential(
            nn.Unflatten(1, (2 * width, 7, 7)), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),
        )

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """q(z|x) = N(mu, exp(logvar)): mu and logvar, each (N, latent_dim)."""
        mu, logvar = self.to_code(self._join(self.down(x), y)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli logits for each pixel, (N, 1, 28, 28)."""
        return self.up(self.from_code(self._join(z, y)))

    def _join(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return h if not self.num_classes else torch.cat((h, y), dim=1)

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The negative ELBO averaged over the batch (nats per image), for training."""
        y = None
        if self.num_classes:
            y = nn.functional.one_hot(labels, self.num_classes).float()
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decode(z, y)
        recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (recon + kl) / x.shape[0]


def build() -> TinyVAE:
    """The factory tui-vae calls (`--model-factory tiny_vae:build`): for MNIST."""
    return TinyVAE(dataset="mnist")


def build_sample() -> TinyVAE:
    """The same network for the 1,000 MNIST digits bundled with tui-vae
    ("mnist-sample": 800 to train, 200 to test): trains in seconds, works offline."""
    return TinyVAE(dataset="mnist-sample")


def build_conditional_sample() -> TinyVAE:
    """A conditional version (a cVAE over the ten digits), on the bundled digits."""
    return TinyVAE(dataset="mnist-sample", num_classes=10)
