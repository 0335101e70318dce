"""Using a trained model: encode, decode, reconstruct, sample, interpolate.

`TrainedModel` wraps a loaded network with input checks and no-grad calls; it
is what `tui_vae.load(path)` returns and what the CLI and the TUI use.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tui_vae.checkpoints import CheckpointInfo, load_checkpoint
from tui_vae.config import MAX_TEMPERATURE
from tui_vae.devices import resolve_device
from tui_vae.errors import CheckpointError
from tui_vae.memory import check_inference_memory
from tui_vae.models import VAE, ModelConfig
from tui_vae.objective import gaussian_kl

ArrayLike = torch.Tensor | np.ndarray | Sequence


HUGE_Z = 1e4  # beyond it a NaN image is blamed on z (the prior's lie within ~6 of 0)
MAX_SAMPLES = 100_000  # images one sample() call draws (28x28: 314 MB of float32)

class TrainedModel:
    """A trained VAE or cVAE ready for inference (evaluation mode, no gradients)."""

    def __init__(self, module: VAE, info: CheckpointInfo | None = None, device: str = "cpu"):
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        self.info = info

    @property
    def config(self) -> ModelConfig:
        """model ("vae"/"cvae"), latent_dim, hidden_dim, beta, dataset, num_classes."""
        return self.module.config

    @property
    def meta(self) -> dict:
        return self.info.meta if self.info else {}

    @property
    def path(self):
        """The checkpoint file it was loaded from (None for a model built in memory)."""
        return self.info.path if self.info else None

    def __repr__(self) -> str:
        c = self.config
        kind = "cVAE" if c.conditional else "VAE"
        where = f" from {self.path}" if self.path else ""
        return f"<TrainedModel {kind} z={c.latent_dim} beta={c.beta:g} {c.dataset}{where}>"

    # -- input checks

    def _images(self, images: ArrayLike) -> torch.Tensor:
        """Images as (N, C, H, W) in the model's own shape; (N, H, W) for a grey model."""
        x = _tensor(images, "images")
        shape = tuple(self.config.image_shape)
        if x.dim() == 3 and shape[0] == 1:
            x = x.unsqueeze(1)
        if x.dim() != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"images must have shape (N, {', '.join(map(str, shape))}), "
                             f"got {tuple(x.shape)}")
        if not len(x):
            raise ValueError("no images given (N is 0)")
        check_inference_memory(self.config, len(x))
        return _finite(x, "images").to(self.device)

    def _labels(self, labels: ArrayLike | int | None, n: int) -> torch.Tensor | None:
        if not self.config.conditional:
            if labels is not None:
                raise ValueError("this model is a plain VAE; it takes no labels")
            return None
        if labels is None:
            raise ValueError("this model is a cVAE; pass the class labels")
        classes = f"whole class numbers from 0 to {self.config.num_classes - 1}"
        # True was read as class 1, "3" and 2**70 failed in torch's own words.
        if isinstance(labels, (str, bytes, bool, np.bool_)):
            raise ValueError(f"labels must be {classes}, not {labels!r}")
        try:
            given = _tensor(labels, "labels", dtype=None)
        except ValueError:
            raise ValueError(f"labels must be {classes}") from None
        if given.dtype == torch.bool:
            raise ValueError(f"labels must be {classes}, not True or False")
        if given.is_floating_point() and not bool((given == given.round()).all()):
            raise ValueError("labels must be whole class numbers")  # 3.5 was read as 3
        y = given.to(torch.long).reshape(-1)
        if y.numel() == 1 and n != 1:
            y = y.expand(n)
        if y.numel() != n:
            raise ValueError(f"got {y.numel()} labels for {n} inputs")
        if y.numel() and (y.min() < 0 or y.max() >= self.config.num_classes):
            raise ValueError(f"labels must lie in 0..{self.config.num_classes - 1}")
        return y.to(self.device)

    # -- the model's two halves

    @torch.no_grad()
    def encode(self, images: ArrayLike, labels: ArrayLike | None = None):
        """q(z|x) for images in [0, 1]: returns (mu, logvar), each (N, latent_dim)."""
        x = self._images(images)
        return self.module.encode(x, self._labels(labels, x.shape[0]))

    @torch.no_grad()
    def decode(self, z: ArrayLike, labels: ArrayLike | None = None) -> torch.Tensor:
        """Images E[x|z] (N, C, H, W) in [0, 1] for latent codes z of shape (N, latent_dim)."""
        z = self._codes(z)
        return _decoded(self.module.decode(z, self._labels(labels, z.shape[0])), z)

    def _codes(self, z: ArrayLike) -> torch.Tensor:
        z = _tensor(z, "z")
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim or not len(z):
            raise ValueError(f"z must have shape (N, {self.config.latent_dim}) with N >= 1, "
                             f"got {tuple(z.shape)}")
        check_inference_memory(self.config, len(z), "codes")
        return _finite(z, "z").to(self.device)

    # -- what the views show

    @torch.no_grad()
    def reconstruct(self, images: ArrayLike, labels: ArrayLike | None = None) -> torch.Tensor:
        """Decode each image's posterior mean: the model's best reconstruction."""
        mu, _ = self.encode(images, labels)
        return self.decode(mu, labels)

    @torch.no_grad()
    def losses(
        self, images: ArrayLike, labels: ArrayLike | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image (reconstruction NLL at z = mu, KL to the prior), nats, each (N,).

        Deterministic (no sampled z), so a view can rank images by how badly
        they are reconstructed. Their sum is not the negative ELBO: the reconstruction
        term at the mean is not its expectation over q(z|x) (usually lower), so the
        sum bounds nothing.
        """
        x = self._images(images)
        y = self._labels(labels, x.shape[0])
        mu, logvar = self.module.encode(x, y)
        logits = self.module.decode_logits(mu, y)
        recon = self.module.reconstruction_nll(logits, x)
        return recon.cpu(), gaussian_kl(mu, logvar).cpu()

    @torch.no_grad()
    def decode_mixed(self, z: ArrayLike, weights: ArrayLike) -> torch.Tensor:
        """cVAE only: decode z under a soft condition, rows of class weights (N, classes)."""
        if not self.config.conditional:
            raise ValueError("this model is a plain VAE; it takes no condition")
        w = _tensor(weights, "weights")
        z = self._codes(z)
        if w.dim() != 2 or w.shape != (len(z), self.config.num_classes):
            raise ValueError(f"weights must have shape ({len(z)}, {self.config.num_classes}): "
                             f"a row of class weights for each z, got {tuple(w.shape)}")
        return _decoded(self.module.decode(z, _finite(w, "weights").to(self.device)), z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: ArrayLike | int | None = None,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> torch.Tensor:
        """n images decoded from z ~ N(0, temperature^2 I) (the prior at temperature 1).

        At most MAX_SAMPLES a call (draw more in batches): 10**12 once asked torch for
        terabytes."""
        if (isinstance(n, bool) or not isinstance(n, numbers.Integral)
                or not 1 <= n <= MAX_SAMPLES):
            raise ValueError(f"n must be a whole number from 1 to {MAX_SAMPLES:,}, not {n!r}")
        if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
                or not 0 <= temperature <= MAX_TEMPERATURE):
            # 1e200 was "finite" and overflowed z: "z must be finite numbers" misled.
            raise ValueError(f"temperature must be a number from 0 to {MAX_TEMPERATURE:g}, "
                             f"not {temperature!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or not 0 <= seed < 2**64):
            raise ValueError(f"seed must be a whole number from 0 to 2**64 - 1, not {seed!r}")
        n, temperature = int(n), float(temperature)
        # int(): torch's manual_seed refuses numpy's integers (np.int64(3)).
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        z = prior_noise(n, self.config.latent_dim, generator) * temperature
        return self.decode(z, labels)


def prior_noise(n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n x dim standard normals, drawn a row at a time so that the first rows are the
    same whatever n: Generate's 5 samples of a class are the first 5 of its 10, and the
    first column of its row per class. (torch draws a tensor's normals in blocks of 16,
    the last block afresh, so in one call of 5 x 20 the fifth row differed from the
    fifth of 10 x 20.)"""
    if n == 0:
        return torch.zeros((0, dim))
    return torch.stack([torch.randn(dim, generator=generator) for _ in range(n)])


def _tensor(value: ArrayLike, what: str, dtype=torch.float32) -> torch.Tensor:
    """`value` as a tensor, or a ValueError naming `what` (a string, a ragged list, a
    meta tensor holding no numbers, complex numbers)."""
    if isinstance(value, torch.Tensor) and value.is_meta:  # torch: NotImplementedError
        raise ValueError(f"{what} must hold numbers: a tensor on the meta device has none")
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.dtype in (
            torch.complex64, torch.complex128, torch.complex32, np.complex64, np.complex128):
        raise ValueError(f"{what} must be real numbers, not complex")  # torch: cast, warned
    try:
        return torch.as_tensor(value, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{what} must be numbers (an array or a tensor): "
                         f"{str(exc).splitlines()[0]}") from None


def _decoded(images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """`images`, or a ValueError where decoding `z` gave NaN or infinite pixels (z of
    1e38 is finite, and overflowed the decoder's sums: NaN images, returned silently)."""
    if not bool(images.isfinite().all()):
        largest = float(z.abs().max())
        if largest > HUGE_Z:
            raise ValueError(f"z too large to decode (|z| up to {largest:.3g}; the prior's z "
                             f"lie within a few units of 0): the pixels are not finite "
                             f"numbers (NaN or infinite)")
        raise ValueError(f"decoding z (|z| up to {largest:.3g}) gave pixels that are not "
                         f"finite numbers (NaN or infinite): the model is broken (its "
                         f"weights, or your own model's code)")
    return images


def _finite(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """`tensor`, or a ValueError where it holds NaN or infinity (checked after the
    memory check: on an expanded tensor the check itself allocates every row)."""
    if not bool(tensor.isfinite().all()):
        raise ValueError(f"{what} must be finite numbers (found NaN or infinity)")
    return tensor


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` points on the straight line from z0 to z1 (both ends included)."""
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    return (1 - t) * z0.reshape(1, -1) + t * z1.reshape(1, -1)


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985): keeps the norm typical of the prior."""
    a, b = z0.reshape(-1), z1.reshape(-1)
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:
        return lerp(z0, z1, steps)
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(
    model: TrainedModel,
    images: ArrayLike,
    labels: ArrayLike | None = None,
    steps: int = 10,
    spherical: bool = False,
) -> torch.Tensor:
    """Decode the path between two images' posterior means: (steps, C, H, W).

    `images` holds the two end points. For a cVAE the condition moves along
    with z (a soft mix of the two labels), so both ends reconstruct their image.
    """
    if (isinstance(steps, bool) or not isinstance(steps, numbers.Integral)
            or not 2 <= steps <= MAX_SAMPLES):  # 10**12 asked torch for terabytes
        raise ValueError(f"steps must be a whole number from 2 to {MAX_SAMPLES:,}, not {steps!r}")
    if not isinstance(spherical, (bool, np.bool_)):  # "no" would read as true; 1 == True
        raise ValueError(f"spherical must be True or False, not {spherical!r}")
    mu, _ = model.encode(images, labels)
    if len(mu) != 2:
        raise ValueError(f"interpolate takes two images, the path's ends, not {len(mu)}")
    path = (slerp if spherical else lerp)(mu[0].cpu(), mu[1].cpu(), int(steps))
    if not model.config.conditional:
        return model.decode(path)
    start, end = model._labels(labels, 2).tolist()  # one label for both ends, or one each
    return model.decode_mixed(path, condition_path(model, start, end, steps))


def condition_path(model: TrainedModel, start: int, end: int, steps: int) -> torch.Tensor:
    """(steps, classes) condition weights moving linearly from class `start` to `end`."""
    classes = model.config.num_classes
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    a = F.one_hot(torch.tensor(int(start)), classes).float()
    b = F.one_hot(torch.tensor(int(end)), classes).float()
    return (1 - t) * a + t * b


def load(path: str | os.PathLike, device: str = "cpu") -> TrainedModel:
    """Load a tui-vae checkpoint for inference (see TrainedModel).

    `path` is a file, or a bare name as `tui-vae models` shows it ("vae",
    "cvae.safetensors"), looked for as the CLI looks (paths.find_checkpoint):
    here, in runs/, then among the shipped models."""
    from pathlib import Path

    from tui_vae.paths import find_checkpoint

    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file or a model's name, not {path!r}")
    if not os.fspath(path):  # Path("") is ".", which read as "not a file"
        raise CheckpointError("an empty name names no file")
    if "\0" in os.fspath(path):  # the file system's own words: "embedded null byte"
        raise ValueError(f"path holds a NUL character, which no file name can: {path!r}")
    checkpoint = load_checkpoint(find_checkpoint(Path(path)))
    return TrainedModel(checkpoint.model, checkpoint.info, device)
