"""The VAE and its conditional variant (cVAE), over any registered architecture and likelihood.

Encoder: the architecture's body (`encoder_shared`) -> heads `fc_mu`, `fc_logvar`.
Sampling: the reparameterisation trick, z = mu + exp(logvar / 2) * eps.
Decoder: the architecture's `decoder`, one output per pixel, which the
likelihood (`likelihood`) reads: Bernoulli logits for the report's model.
The cVAE joins a one-hot label to the encoder's input and to the decoder's.
The report's model is `ModelConfig()`: the MLP (784-400-20) with a Bernoulli
likelihood; its parameter names are those of every checkpoint written so far.

Kingma & Welling, "Auto-Encoding Variational Bayes", 2014; Sohn et al.,
"Learning Structured Output Representation using Deep Conditional Generative
Models", 2015.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tui_vae.config import ARCHITECTURES, MODEL_KINDS, ModelConfig  # noqa: F401 (re-exported)
from tui_vae.datasets import IMAGE_SIZE
from tui_vae.likelihoods import build_likelihood

INPUT_DIM = IMAGE_SIZE * IMAGE_SIZE  # the report's images: 28 x 28, one channel


class VAE(nn.Module):
    """Variational autoencoder: a registered architecture, Gaussian posterior, a likelihood."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.arch = ARCHITECTURES[config.arch].load()
        channels, height, width = config.image_shape
        self.input_dim = channels * height * width
        cond = config.num_classes if config.conditional else 0
        self.encoder_shared = self.arch.encoder(config, cond)
        self.fc_mu = nn.Linear(config.hidden_dim, config.latent_dim)
        self.fc_logvar = nn.Linear(config.hidden_dim, config.latent_dim)
        self.decoder = self.arch.decoder(config, cond)
        self.likelihood = build_likelihood(config.likelihood, channels)

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.config.image_shape)

    def encoder_input(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """What `encoder_shared` reads: the image as the architecture takes it."""
        return self.arch.encoder_input(self._images(x), None)

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
        """The decoder's output, (N, C, H, W): what the likelihood reads (logits for Bernoulli)."""
        return self.decoder(self.decoder_input(z, labels)).reshape(-1, *self.config.image_shape)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The images z stands for, E[x|z], of shape (N, C, H, W), in [0, 1]."""
        return self.likelihood.mean(self.decode_logits(z, labels))

    def reconstruction_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image (nats, summed over pixels) for decoder output `out`."""
        return self.likelihood.nll(out, self._images(x))

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
        images = self._images(x)
        return self.arch.encoder_input(images, self._one_hot(labels, images))

    def decoder_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return torch.cat((z, self._one_hot(labels, z)), dim=1)


def start_at_mean_image(model: VAE, mean: torch.Tensor) -> bool:
    """Set the bias of the decoder's last layer so that, whatever z, the untrained
    decoder draws about `mean` (C, H, W), the training images' average.

    The output bias starts at the likelihood's output for the data's mean, as in
    Burda et al.'s IWAE code: the first steps then learn the digits, not first the
    background, and training reaches a given test -ELBO sooner (README,
    Performance). A per-pixel bias (the MLP's last Linear) takes each pixel's
    mean; a per-channel one (the conv net's last transposed convolution) each
    channel's. False, and nothing changed, where the last layer has neither.
    """
    last = next((m for m in reversed(list(model.decoder.modules()))
                 if isinstance(getattr(m, "bias", None), torch.Tensor)), None)
    if last is None:
        return False
    channels = mean.shape[0]
    if last.bias.numel() == mean.numel():
        target = mean.reshape(-1)
    elif last.bias.numel() == channels:
        target = mean.reshape(channels, -1).mean(1)
    else:
        return False
    with torch.no_grad():
        last.bias.copy_(model.likelihood.out_for_mean(target.to(last.bias)))
    return True


def build_model(config: ModelConfig, seed: int | None = None) -> VAE:
    """A freshly initialised VAE or CVAE; with `seed`, the same weights every time.

    Weights are initialised on the CPU under a forked RNG, so a seed gives the
    same model whatever the device and without disturbing the global RNG.
    """
    problems = config.problems()
    if problems:
        raise ValueError(problems[0])
    cls = CVAE if config.conditional else VAE
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)
