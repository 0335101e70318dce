"""Network bodies for the VAE: what reads the image and what draws it back.

An architecture builds two modules for a ModelConfig: `encoder` maps its input
to `hidden_dim` features (the VAE adds the `fc_mu` / `fc_logvar` heads), and
`decoder` maps z (with the cVAE's one-hot joined on) to one output per pixel,
which the likelihood reads. `encoder_input` says how the image and the
condition are joined. Registered in tui_vae/config.py (ARCHITECTURES).
"""

from __future__ import annotations

import torch
from torch import nn

from tui_vae.config import ModelConfig
from tui_vae.weight_shapes import CONV_WIDTHS, KERNEL, conv_levels, pixels


def _dense(width: int, widths: tuple[int, ...]) -> list[nn.Module]:
    """Linear, ReLU pairs from `width` through each of `widths`."""
    layers: list[nn.Module] = []
    for out in widths:
        layers += [nn.Linear(width, out), nn.ReLU()]
        width = out
    return layers


class MLP:
    """The report's network: hidden layers of ReLUs on each side (one of 400 in the report).

    encoder: Linear(pixels + classes, w1), ReLU, ... Linear(.., wn), ReLU; decoder:
    Linear(latent + classes, wn), ReLU, ... Linear(w1, pixels). With one width the
    module names and shapes are those of every checkpoint tui-vae has written.
    """

    @staticmethod
    def encoder(config: ModelConfig, cond: int) -> nn.Module:
        return nn.Sequential(*_dense(pixels(config) + cond, config.widths))

    @staticmethod
    def decoder(config: ModelConfig, cond: int) -> nn.Module:
        inward = config.widths[::-1]
        return nn.Sequential(*_dense(config.latent_dim + cond, inward),
                             nn.Linear(inward[-1], pixels(config)))

    @staticmethod
    def encoder_input(x: torch.Tensor, one_hot: torch.Tensor | None) -> torch.Tensor:
        """The flattened image, the one-hot appended."""
        flat = x.reshape(x.shape[0], -1)
        return flat if one_hot is None else torch.cat((flat, one_hot), dim=1)


class Conv:
    """Convolutional: stride-2 4x4 convolutions (32, 64, 128 channels) down to 7 or 8
    pixels, the dense layers of `widths`; the decoder mirrors it with transposed
    convolutions. A cVAE's one-hot joins the image as constant channels and z as
    extra inputs.
    """

    WIDTHS = CONV_WIDTHS

    @staticmethod
    def _shape(config: ModelConfig) -> tuple[int, int]:
        levels = conv_levels(config.image_size)
        return levels, config.image_size >> levels

    @classmethod
    def encoder(cls, config: ModelConfig, cond: int) -> nn.Module:
        levels, side = cls._shape(config)
        layers: list[nn.Module] = []
        width = config.channels + cond
        for out in cls.WIDTHS[:levels]:
            layers += [nn.Conv2d(width, out, KERNEL, stride=2, padding=1), nn.ReLU()]
            width = out
        layers += [nn.Flatten(), *_dense(width * side * side, config.widths)]
        return nn.Sequential(*layers)

    @classmethod
    def decoder(cls, config: ModelConfig, cond: int) -> nn.Module:
        levels, side = cls._shape(config)
        widths = cls.WIDTHS[:levels][::-1]
        layers: list[nn.Module] = [
            *_dense(config.latent_dim + cond, (*config.widths[::-1], widths[0] * side * side)),
            nn.Unflatten(1, (widths[0], side, side)),
        ]
        for index, width in enumerate(widths):
            out = widths[index + 1] if index + 1 < len(widths) else config.channels
            layers.append(nn.ConvTranspose2d(width, out, KERNEL, stride=2, padding=1))
            if index + 1 < len(widths):
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    @staticmethod
    def encoder_input(x: torch.Tensor, one_hot: torch.Tensor | None) -> torch.Tensor:
        """The image, the one-hot appended as constant channels."""
        if one_hot is None:
            return x
        planes = one_hot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat((x, planes.to(x.dtype)), dim=1)
