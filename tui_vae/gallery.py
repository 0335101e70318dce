"""What the explorer's views show, computed as numpy arrays from a TrainedModel.

Plain Python over `inference` (no Textual), so each view's content is tested
without a terminal. Images come out as pictures in the model's shape, float
arrays in [0, 1]: (N, H, W) for a grey model, (N, H, W, 3) for a colour one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tui_vae.data import Split
from tui_vae.inference import TrainedModel, condition_path, interpolate, prior_noise
from tui_vae.render import channels_last

# The sampling temperatures the Generate view steps through with + and -
# (the scale of z ~ N(0, T^2 I)); `tui-vae eval` reports each of them too.
TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5)
DIVIDER = 0.35  # grey level of the column between an image and its reconstruction


def _labels(model: TrainedModel, split: Split, index) -> torch.Tensor | None:
    return split.labels[index] if model.config.conditional else None


def pictures(images: torch.Tensor) -> np.ndarray:
    """Images (N, C, H, W) (a model's output) as pictures: (N, H, W) or (N, H, W, 3)."""
    return channels_last(images.detach().cpu().numpy())


def picture_shape(model: TrainedModel) -> tuple[int, ...]:
    """The shape of one of the model's pictures: (H, W) grey, (H, W, 3) colour."""
    channels, height, width = model.config.image_shape
    return (height, width) if channels == 1 else (height, width, channels)


def images_of(split: Split, index) -> np.ndarray:
    """Test images at `index` as pictures (N, H, W) or (N, H, W, 3), floats."""
    return pictures(split.floats(torch.as_tensor(index, dtype=torch.long)))


def reconstructions(model: TrainedModel, split: Split, index) -> np.ndarray:
    """The model's reconstructions (decoded posterior means) of split[index]."""
    index = torch.as_tensor(index, dtype=torch.long)
    x = split.floats(index)
    return pictures(model.reconstruct(x, _labels(model, split, index)))


def side_by_side(originals: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """(N, H, 2W + 1[, 3]) tiles: each original, a divider column, its reconstruction."""
    n, h = originals.shape[:2]
    divider = np.full((n, h, 1, *originals.shape[3:]), DIVIDER, dtype=np.float32)
    return np.concatenate((originals, divider, reconstructed), axis=2)


def per_image_losses(model: TrainedModel, split: Split, batch_size: int = 2000) -> np.ndarray:
    """Each image's loss (reconstruction BCE at z = mu plus KL), nats, (N,)."""
    out = []
    for start in range(0, len(split), batch_size):
        index = torch.arange(start, min(start + batch_size, len(split)))
        recon, kl = model.losses(split.floats(index), _labels(model, split, index))
        out.append((recon + kl).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def samples(model: TrainedModel, n: int, label: int | None, temperature: float,
            seed: int, mixture=None) -> np.ndarray:
    """n samples (for a cVAE, of class `label`): from the prior, or with `mixture`
    (aggregate.GaussianMixture) from the aggregate posterior."""
    if n <= 0:
        return np.zeros((0, *picture_shape(model)), dtype=np.float32)
    labels = label if model.config.conditional else None
    if mixture is not None:
        z = mixture_codes(mixture, n, torch.Generator().manual_seed(seed), temperature)
        return pictures(model.decode(z, labels))
    return pictures(model.sample(n, labels, temperature, seed))


def mixture_codes(mixture, n: int, generator: torch.Generator, temperature: float):
    """n codes from the mixture, drawn one at a time so that the first are the same
    whatever n (as the prior's, inference.prior_noise)."""
    return torch.cat([mixture.sample(1, generator, temperature) for _ in range(n)])


def class_rows(model: TrainedModel, columns: int, temperature: float, seed: int,
               mixture=None) -> np.ndarray:
    """cVAE: a row per class, `columns` samples each, the same z down each column.

    Sharing z across a column shows what the condition alone changes (style
    held fixed, class varied).
    """
    classes = model.config.num_classes
    generator = torch.Generator().manual_seed(seed)
    if mixture is not None:
        z = mixture_codes(mixture, columns, generator, temperature)
    else:
        z = prior_noise(columns, model.config.latent_dim, generator) * temperature
    z = z.repeat(classes, 1)
    labels = torch.arange(classes).repeat_interleave(columns)
    return pictures(model.decode(z, labels))


def interpolation(model: TrainedModel, split: Split, a: int, b: int, steps: int,
                  spherical: bool) -> np.ndarray:
    """Decoded path between split[a] and split[b]'s latent codes, `steps` pictures."""
    index = torch.tensor([a, b])
    labels = split.labels[index].tolist() if model.config.conditional else None
    return pictures(interpolate(model, split.floats(index), labels, steps, spherical))


def condition_sweep(model: TrainedModel, split: Split, a: int, start: int, end: int,
                    steps: int) -> np.ndarray:
    """cVAE: split[a]'s z decoded while the condition moves from class `start` to `end`."""
    x = split.floats(torch.tensor([a]))
    mu, _ = model.encode(x, [int(split.labels[a])])
    z = mu.cpu().repeat(steps, 1)
    return pictures(model.decode_mixed(z, condition_path(model, start, end, steps)))


def manifold_grid(model: TrainedModel, n: int = 20) -> np.ndarray:
    """2-D latent only: images decoded on an n x n grid of the plane at Gaussian quantiles.

    Row i, column j decodes z = (Phi^-1(q_j), Phi^-1(q_{n-1-i})) with q evenly
    spaced in (0, 1), so equal areas of the grid hold equal prior mass
    (Kingma & Welling 2014, figure 4). Returns n * n pictures, row by row.
    """
    if model.config.latent_dim != 2:
        raise ValueError("the manifold grid needs a model with a 2-D latent space")
    if model.config.conditional:
        raise ValueError("the manifold grid is drawn for a plain VAE")
    q = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    values = torch.distributions.Normal(0.0, 1.0).icdf(q)
    ys, xs = torch.meshgrid(values.flip(0), values, indexing="ij")
    z = torch.stack((xs.reshape(-1), ys.reshape(-1)), dim=1)
    return pictures(model.decode(z))


def conform(split: Split, shape: tuple[int, int, int]) -> Split:
    """`split` with its images made (C, H, W) = `shape`: resized (area) and turned grey
    (luminance) or colour (the grey level in each channel).

    For a model whose own test set is not on this machine: the bundled MNIST digits,
    shown to a colour 32x32 model, still give every view something to encode.
    """
    channels, height, width = shape
    if tuple(split.image_shape) == tuple(shape):
        return split
    x = F.interpolate(split.floats(), size=(height, width), mode="area")
    if x.shape[1] == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    pixels = (x * 255).round().clamp(0, 255).to(torch.uint8)
    pixels = pixels[:, 0] if channels == 1 else pixels.permute(0, 2, 3, 1).contiguous()
    return Split(pixels, split.labels, split.factors)


def first_of_each_class(split: Split, count: int) -> list[int]:
    """Indices of the first test image of classes 0, 1, ... (cycling), `count` in all."""
    labels = split.labels.numpy()
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
    return [firsts[i % len(firsts)] for i in range(count)]


def half_size(images: np.ndarray) -> np.ndarray:
    """2x2 average pooling: (N, 28, 28) -> (N, 14, 14), (N, 32, 32, 3) -> (N, 16, 16, 3),
    for small previews. An odd last row or column is dropped."""
    n, h, w = images.shape[:3]
    rest = images.shape[3:]
    images = images[:, : h - h % 2, : w - w % 2]
    return images.reshape(n, h // 2, 2, w // 2, 2, *rest).mean(axis=(2, 4))


def shrink(images: np.ndarray, factor: int) -> np.ndarray:
    """`factor` (1, 2, 4, ...) times smaller by repeated 2x2 pooling."""
    while factor > 1:
        images, factor = half_size(images), factor // 2
    return images


PREVIEW_SIZE = 14  # pixels: the Train and Runs previews' tiles, whatever the model's size


def resized(images: np.ndarray, size: int) -> np.ndarray:
    """Pictures (N, H, W[, 3]) averaged down to size x size (area interpolation; 2x2
    pooling where that is exact), so previews of any model take the same room."""
    h = images.shape[1]
    if h == size:
        return images
    if h == 2 * size:
        return half_size(images)
    x = torch.as_tensor(np.ascontiguousarray(images), dtype=torch.float32)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    x = F.interpolate(x, size=(size, size), mode="area")
    return channels_last(x.numpy())


def training_preview(model: TrainedModel, images, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """For the Train view after each epoch, small (PREVIEW_SIZE pixels square, half of
    a 28x28 digit): `count` (original | reconstruction) pairs of test images, one per
    class, and `count` samples (for a cVAE, of classes 0, 1, ...)."""
    index = first_of_each_class(images.split, count)
    small = PREVIEW_SIZE
    pairs = side_by_side(resized(images_of(images.split, index), small),
                         resized(reconstructions(model, images.split, index), small))
    generator = torch.Generator().manual_seed(0)
    z = torch.randn((count, model.config.latent_dim), generator=generator)
    labels = [c % model.config.num_classes for c in range(count)]
    drawn = model.decode(z, labels if model.config.conditional else None)
    return pairs, resized(pictures(drawn), small)


def posterior_spread(model: TrainedModel, split: Split, index, draws: int = 3,
                     seed: int = 0, factor: int = 2) -> np.ndarray:
    """Tiles `factor` times smaller than the images (half size by default), one per image
    of split[index]: the original, its decoded posterior mean, then `draws` decodings of
    z ~ q(z|x), side by side (a divider after the original).

    Each image's draws come from its own seed (seed + its index), so a tile looks the
    same on every page and at every redraw.
    """
    index = torch.as_tensor(index, dtype=torch.long)
    x = split.floats(index)
    labels = _labels(model, split, index)
    mu, logvar = model.encode(x, labels)
    eps = torch.stack([torch.randn((draws, mu.shape[1]),
                                   generator=torch.Generator().manual_seed(seed + int(i)))
                       for i in index]) if len(index) else torch.zeros((0, draws, mu.shape[1]))
    z = mu[:, None, :] + torch.exp(0.5 * logvar)[:, None, :] * eps.to(mu)
    repeated = None if labels is None else labels.repeat_interleave(draws)
    drawn = shrink(pictures(model.decode(z.reshape(-1, mu.shape[1]), repeated)), factor)
    means = shrink(pictures(model.decode(mu, labels)), factor)
    originals = shrink(pictures(x), factor)
    # Per image: its mean's decoding, then its draws, side by side (along the width).
    decoded = np.concatenate((means[:, None], drawn.reshape(len(index), draws,
                                                            *drawn.shape[1:])), axis=1)
    row = np.concatenate([decoded[:, k] for k in range(draws + 1)], axis=2)
    return side_by_side(originals, row)
