"""The latent space, measured and drawn: projections, collapse diagnostics, traversals.

What the Latent map, Traversal and Draw views show, as numpy arrays (no
Textual). The encoder's posterior means of the test images are the map's
points; a 2-D latent is drawn as it is, a larger one through PCA (the share of
variance the two axes keep is reported, so the picture's honesty is visible).

Collapse diagnostics follow the usual definitions: the KL of each dimension
averaged over the data, and the active units of Burda et al. (2015), the
dimensions whose posterior mean varies across the data (Cov_x(E_q[z_d]) > 0.01);
an inactive unit's posterior is the prior whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch stays out of the import: the app's views import this module
    from tui_vae.data import Split
    from tui_vae.inference import TrainedModel

ACTIVE_THRESHOLD = 0.01  # Burda et al. (2015): a unit is active if Cov_x(E_q[z_d]) > 0.01
TRAVERSAL_SPAN = 3.0  # traversals run from -3 to +3 prior standard deviations
# A prior sample lies in a hole of the aggregate posterior where q(z) < HOLE_RATIO p(z).
HOLE_RATIO = 0.01


@dataclass(frozen=True)
class Encoded:
    """Posterior parameters of some test images: mu and logvar (N, D), labels (N,)."""

    mu: np.ndarray
    logvar: np.ndarray
    labels: np.ndarray


def encode_split(model: TrainedModel, split: Split, limit: int = 10_000,
                 batch_size: int = 2000) -> Encoded:
    """q(z|x) of the first `limit` images of `split` (a cVAE sees their true labels)."""
    import torch

    n = min(limit, len(split))
    mus, logvars = [], []
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n))
        labels = split.labels[index] if model.config.conditional else None
        mu, logvar = model.encode(split.floats(index), labels)
        mus.append(mu.cpu().numpy())
        logvars.append(logvar.cpu().numpy())
    dim = model.config.latent_dim
    return Encoded(
        np.concatenate(mus) if mus else np.zeros((0, dim), np.float32),
        np.concatenate(logvars) if logvars else np.zeros((0, dim), np.float32),
        split.labels[:n].numpy(),
    )


@dataclass(frozen=True)
class Projection:
    """An affine map from the latent space to the plane: xy = (z - mean) @ axes.T.

    `axes` (2, D) are orthonormal rows (for D = 1, the x axis and a zero row);
    `explained` is the share of the points' variance each axis keeps (1.0 in all
    for a 1-D or 2-D latent, drawn exactly).
    """

    mean: np.ndarray
    axes: np.ndarray
    explained: np.ndarray

    @property
    def exact(self) -> bool:
        """The latent is the plane itself (D = 2) or a line on it (D = 1): no PCA."""
        return self.axes.shape[1] <= self.axes.shape[0]

    def to_plane(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float64) - self.mean) @ self.axes.T

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        """The latent point on the projection plane above `xy` (the mean elsewhere)."""
        return self.mean + np.asarray(xy, np.float64) @ self.axes


def pca(points: np.ndarray, components: int = 2) -> Projection:
    """Principal axes of `points` (N, D); with D <= 2, the identity (exact).

    A 1-D latent lies along the plane's x axis (y is always 0), so it is drawn
    exactly too. No points (an empty test set) give the identity at the origin.
    """
    points = np.asarray(points, np.float64)
    dim = points.shape[1]
    if dim <= components:
        explained = np.zeros(components)
        explained[:dim] = (_shares(points.var(axis=0)) if len(points) > 1
                           else np.full(dim, 1 / dim))
        return Projection(np.zeros(dim), np.eye(components, dim), explained)
    if len(points) == 0:
        return Projection(np.zeros(dim), np.eye(components, dim), np.zeros(components))
    mean = points.mean(axis=0)
    centred = points - mean
    # Eigen-decomposition of the D x D covariance: D is small (latent sizes).
    covariance = centred.T @ centred / max(len(points) - 1, 1)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    total = values.sum()
    explained = values[:components] / total if total > 0 else np.zeros(components)
    axes = vectors[:, :components].T
    # A fixed sign per axis (largest loading positive), so the map does not flip.
    signs = np.sign(axes[np.arange(components), np.abs(axes).argmax(axis=1)])
    return Projection(mean, axes * signs[:, None], explained)


def _shares(variances: np.ndarray) -> np.ndarray:
    total = variances.sum()
    return variances / total if total > 0 else np.full(len(variances), 1 / len(variances))


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(q(z_d|x) || N(0, 1)) averaged over the data, per dimension (D,), nats."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    if len(mu) == 0:
        return np.zeros(mu.shape[1])
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(axis=0)


def active_units(mu: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Boolean (D,): dimensions whose posterior mean varies across the data."""
    mu = np.asarray(mu, np.float64)
    if len(mu) < 2:
        return np.zeros(mu.shape[1], dtype=bool)
    return mu.var(axis=0, ddof=1) > threshold


def traversal(model: TrainedModel, mu: np.ndarray, dims: list[int], steps: int,
              label: int | None = None, span: float = TRAVERSAL_SPAN) -> np.ndarray:
    """Pictures (len(dims) * steps, H, W[, 3]): row r moves z[dims[r]] from mu - span to
    mu + span.

    The other dimensions stay at the digit's posterior mean. The offsets are
    in prior standard deviations (1), so a collapsed dimension, which the
    decoder ignores, shows as a row of identical images.
    """
    from tui_vae.gallery import picture_shape, pictures

    if not dims or steps <= 0:
        return np.zeros((0, *picture_shape(model)), np.float32)
    offsets = np.linspace(-span, span, steps)
    z = np.repeat(np.asarray(mu, np.float32)[None, :], len(dims) * steps, axis=0)
    for row, d in enumerate(dims):
        z[row * steps:(row + 1) * steps, d] += offsets
    labels = label if model.config.conditional else None
    return pictures(model.decode(z, labels))


def decode_at(model: TrainedModel, z: np.ndarray, label: int | None = None) -> np.ndarray:
    """One picture (H, W) or (H, W, 3) decoded at latent point z (D,)."""
    from tui_vae.gallery import pictures

    labels = label if model.config.conditional else None
    return pictures(model.decode(np.asarray(z, np.float32)[None, :], labels))[0]


def scatter(xy: np.ndarray, labels: np.ndarray, width: int, height: int,
            bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Rasterise points onto a (height, width) grid of class indices (-1 = empty).

    `bounds` = (x0, x1, y0, y1); y grows upwards, as on a plot. Where points of
    several classes share a pixel, the last one drawn wins; the points are
    drawn in a fixed shuffled order so no class systematically hides another.
    """
    grid = np.full((height, width), -1, dtype=np.int16)
    if len(xy) == 0 or width < 1 or height < 1:
        return grid
    x0, x1, y0, y1 = bounds
    keep = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    cols, rows = to_pixels(xy, width, height, bounds)
    # The bounds are closed: a point on the right or bottom edge is in the last pixel.
    cols, rows = np.clip(cols, 0, width - 1), np.clip(rows, 0, height - 1)
    order = np.random.default_rng(0).permutation(len(xy))
    order = order[keep[order]]
    grid[rows[order], cols[order]] = labels[order]
    return grid


def to_pixels(xy: np.ndarray, width: int, height: int,
              bounds: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Plane coordinates -> (column, row) pixel indices (may fall outside)."""
    x0, x1, y0, y1 = bounds
    xy = np.atleast_2d(np.asarray(xy, np.float64))
    cols = np.floor((xy[:, 0] - x0) / max(x1 - x0, 1e-12) * width).astype(int)
    rows = np.floor((y1 - xy[:, 1]) / max(y1 - y0, 1e-12) * height).astype(int)
    return cols, rows


def from_pixel(col: float, row: float, width: int, height: int,
               bounds: tuple[float, float, float, float]) -> np.ndarray:
    """The plane point at the centre of pixel (col, row)."""
    x0, x1, y0, y1 = bounds
    return np.array([x0 + (col + 0.5) / width * (x1 - x0),
                     y1 - (row + 0.5) / height * (y1 - y0)])


def map_bounds(xy: np.ndarray, margin: float = 0.05) -> tuple[float, float, float, float]:
    """Square-ish bounds holding the central 99.8% of the points, with a margin."""
    if len(xy) == 0:
        return (-3.0, 3.0, -3.0, 3.0)
    low, high = np.percentile(xy, [0.1, 99.9], axis=0)
    span = np.maximum(high - low, 1e-6)
    low, high = low - margin * span, high + margin * span
    return (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def prior_contours(projection: Projection, radii=(1.0, 2.0, 3.0),
                   points: int = 720) -> np.ndarray:
    """Points (M, 2) on the prior N(0, I)'s 1, 2 and 3 sigma contours, in plane coordinates.

    The plane keeps orthonormal directions of the latent space, so the prior
    projects to N(-mean @ axes.T, axes @ axes.T): circles of radius r about the
    projected origin (for a 1-D latent, a segment along x).
    """
    centre = -projection.mean @ projection.axes.T
    values, vectors = np.linalg.eigh(projection.axes @ projection.axes.T)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    angle = np.linspace(0, 2 * np.pi, points, endpoint=False)
    unit = np.stack([np.cos(angle), np.sin(angle)])
    return np.concatenate([centre + r * (root @ unit).T for r in radii])


def prior_samples_in_holes(mu: np.ndarray, logvar: np.ndarray, count: int = 300,
                           seed: int = 0, ratio: float = HOLE_RATIO
                           ) -> tuple[np.ndarray, np.ndarray]:
    """`count` prior samples z (count, D) and whether each lies in a hole of the
    aggregate posterior q(z): where q's density is below `ratio` times the prior's.

    q(z) is the 50-Gaussian mixture of aggregate.py fitted to one draw z ~ q(z|x)
    from each posterior given (their widths count: a draw, not the mean). Nearest
    posterior means, relative to the means' own spacing, once stood in for it: a
    beta = 0 model, whose codes are spread far beyond the prior, showed no holes.
    """
    import torch

    from tui_vae.aggregate import fit_mixture
    from tui_vae.objective import LOG_2PI

    rng = np.random.default_rng(seed)
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    z = rng.standard_normal((count, mu.shape[1]))
    if len(mu) == 0:
        return z, np.ones(count, dtype=bool)
    draws = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)
    mixture = fit_mixture(torch.from_numpy(draws), seed=seed)
    log_q = mixture.log_density(torch.from_numpy(z)).numpy()
    log_p = -0.5 * ((z**2).sum(1) + z.shape[1] * LOG_2PI)
    return z, log_q - log_p < np.log(ratio)
