"""A user's protocol model (see tui_vae.user_models) dressed as one of tui-vae's VAEs.

`UserModelAdapter` has the interface of `tui_vae.models.VAE` that inference,
evaluation, ELBO surgery and the views use (`config`, `encode`,
`decode_logits`, `decode`, `reconstruction_nll`, `forward`,
`reparameterize`), so none of them needs to know where a model came from.
It turns class labels into the protocol's condition (rows of class weights)
and reads the user's decoder output through the project's registered
likelihood, so `eval`'s figures mean what they mean for the project's models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tui_vae.config import ModelConfig
from tui_vae.likelihoods import build_likelihood
from tui_vae.models import VAE


class UserModelAdapter(nn.Module):
    """A protocol model with the VAE's interface; the user's module is `user`."""

    reparameterize = staticmethod(VAE.reparameterize)

    def __init__(self, user: nn.Module, config: ModelConfig, factory: str):
        super().__init__()
        self.user = user
        self.config = config
        self.factory = factory  # "package.module:function", as the user named it
        self.likelihood = build_likelihood(config.likelihood, config.channels)
        if hasattr(user, "log_scale"):  # a Gaussian's scale: the user's, shared, not copied
            scale = user.log_scale
            if not isinstance(scale, nn.Parameter):
                scale = nn.Parameter(torch.as_tensor(scale, dtype=torch.float32),
                                     requires_grad=False)
            self.likelihood.log_scale = scale

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.config.image_shape)

    def condition(self, labels: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        """What the user's encode and decode take as y: None for a plain VAE, else
        (N, num_classes) class weights (one-hot from class indices)."""
        if not self.config.conditional:
            return None
        if labels is None:
            raise ValueError("a conditional model needs class labels")
        if labels.is_floating_point():  # (N, classes) weights: a mix of conditions
            return labels.to(like.dtype)
        return F.one_hot(labels.long(), self.config.num_classes).to(like.dtype)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """q(z|x): (mu, logvar), each (N, latent_dim)."""
        images = self._images(x)
        mu, logvar = self.user.encode(images, self.condition(labels, images))
        return mu, logvar

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The user's decoder output, (N, C, H, W): what the likelihood reads."""
        out = self.user.decode(z, self.condition(labels, z))
        return out.reshape(-1, *self.config.image_shape)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """E[x|z], (N, C, H, W) in [0, 1]."""
        return self.likelihood.mean(self.decode_logits(z, labels))

    def reconstruction_nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image (nats) under the model's registered likelihood."""
        return self.likelihood.nll(out, self._images(x))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None):
        """Encode, sample z once, decode: (out, mu, logvar), as VAE.forward."""
        mu, logvar = self.encode(x, labels)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode_logits(z, labels), mu, logvar
