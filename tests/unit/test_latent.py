"""The latent-space services: PCA, collapse diagnostics, traversals, the scatter, the canvas."""

from __future__ import annotations

import numpy as np
import pytest

from tui_vae.drawing import SIZE, Canvas
from tui_vae.latent import (
    active_units,
    from_pixel,
    kl_per_dimension,
    pca,
    scatter,
    to_pixels,
    traversal,
)


def test_pca_finds_the_axes_of_an_anisotropic_gaussian():
    rng = np.random.default_rng(0)
    # Std 5 along (1, 1, 0, 0)/sqrt2, std 2 along z3, std 0.1 elsewhere; shifted.
    basis = np.array([[1, 1, 0, 0], [0, 0, 0, 1]]) / np.array([[np.sqrt(2)], [1]])
    points = (rng.normal(size=(20000, 1)) * 5 * basis[0] + rng.normal(size=(20000, 1)) * 2
              * basis[1] + rng.normal(size=(20000, 4)) * 0.1 + np.array([3, -1, 2, 0]))
    p = pca(points)
    assert abs(p.axes[0] @ basis[0]) == pytest.approx(1, abs=1e-3)
    assert abs(p.axes[1] @ basis[1]) == pytest.approx(1, abs=1e-3)
    total = 25 + 4 + 4 * 0.01
    assert p.explained == pytest.approx([25 / total, 4 / total], abs=0.01)
    assert p.mean == pytest.approx([3, -1, 2, 0], abs=0.1)
    assert not p.exact


def test_pca_of_points_on_a_line_keeps_all_the_variance_on_one_axis():
    t = np.linspace(-1, 1, 50)[:, None]
    points = t * np.array([[3.0, 4.0, 0.0]])
    p = pca(points)
    assert p.explained == pytest.approx([1.0, 0.0], abs=1e-9)
    # Projecting and lifting back recovers points on the plane.
    assert p.to_latent(p.to_plane(points)) == pytest.approx(points, abs=1e-9)


def test_a_2d_latent_is_drawn_exactly():
    points = np.random.default_rng(1).normal(size=(100, 2)) * [1.0, 3.0]
    p = pca(points)
    assert p.exact
    assert p.to_plane(points) == pytest.approx(points)
    assert p.to_latent([0.5, -2.0]) == pytest.approx([0.5, -2.0])


def test_active_units_and_kl_per_dimension_on_known_posteriors():
    rng = np.random.default_rng(0)
    n = 5000
    mu = np.zeros((n, 3))
    mu[:, 0] = rng.normal(size=n)  # active: the mean moves with x
    mu[:, 1] = rng.normal(size=n) * 0.05  # variance 0.0025: inactive
    logvar = np.zeros((n, 3))
    logvar[:, 0] = np.log(0.1)
    assert active_units(mu).tolist() == [True, False, False]
    kl = kl_per_dimension(mu, logvar)
    expected0 = 0.5 * (np.mean(mu[:, 0] ** 2) + 0.1 - 1 - np.log(0.1))
    assert kl[0] == pytest.approx(expected0)
    assert kl[2] == pytest.approx(0.0)  # the prior itself


class _Decoder:
    """A stand-in model whose image is its z[0] everywhere: collapsed dims change nothing."""

    class config:
        conditional = False
        latent_dim = 3

    def decode(self, z, labels=None):
        import torch

        z = torch.as_tensor(z)
        return z[:, :1, None, None].expand(-1, 1, 28, 28)


def test_traversal_moves_one_dimension_per_row_from_minus_to_plus_three():
    images = traversal(_Decoder(), np.array([0.5, 0.0, 0.0]), dims=[0, 2], steps=5)
    assert images.shape == (10, 28, 28)
    assert images[:5, 0, 0] == pytest.approx(0.5 + np.linspace(-3, 3, 5))
    assert images[5:, 0, 0] == pytest.approx([0.5] * 5)  # a dimension the decoder ignores


def test_scatter_puts_points_on_their_pixels_with_y_up():
    xy = np.array([[0.0, 0.0], [0.99, 0.99], [5.0, 5.0]])
    grid = scatter(xy, np.array([1, 2, 3]), 10, 10, (0, 1, 0, 1))
    assert grid[9, 0] == 1  # bottom left
    assert grid[0, 9] == 2  # top right
    assert (grid >= 0).sum() == 2  # the point outside the bounds is dropped
    cols, rows = to_pixels(from_pixel(3, 7, 10, 10, (0, 1, 0, 1)), 10, 10, (0, 1, 0, 1))
    assert (cols[0], rows[0]) == (3, 7)


def test_canvas_pen_draws_only_while_down_and_erases():
    canvas = Canvas()
    canvas.move(0, 5)
    assert canvas.pixels.sum() == 0  # pen up: moving draws nothing
    canvas.toggle_pen()
    canvas.move(0, 5)
    row, col = canvas.pen
    assert canvas.pixels[row, col - 5:col + 1].min() == 1.0  # the stroke is inked
    assert canvas.pixels.max() <= 1.0
    canvas.move(-100, -100)
    assert canvas.pen == (0, 0)  # clamped
    canvas.erasing = True
    canvas.line((row, col - 5), (row, col))
    assert canvas.pixels[row, col - 5:col + 1].max() == 0.0
    canvas.clear()
    assert canvas.pixels.shape == (SIZE, SIZE) and canvas.pixels.sum() == 0


def test_brush_size_changes_the_stroke_width():
    widths = []
    for step in (-10, 10):
        canvas = Canvas()
        canvas.resize_brush(step)
        canvas.stamp(14, 14)
        widths.append(int((canvas.pixels[14] > 0.5).sum()))
    assert widths[0] < widths[1]


def test_a_one_dimensional_latent_is_drawn_exactly_along_x():
    points = np.array([[-1.0], [0.5], [2.0]])
    projection = pca(points)
    assert projection.exact and projection.axes.shape == (2, 1)
    xy = projection.to_plane(points)
    np.testing.assert_allclose(xy, [[-1.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
    np.testing.assert_allclose(projection.to_latent([0.7, 3.0]), [0.7])
    np.testing.assert_allclose(projection.explained, [1.0, 0.0])


def test_no_points_give_an_identity_projection_and_zero_kl():
    for dim in (1, 2, 5):
        projection = pca(np.zeros((0, dim)))
        assert projection.axes.shape == (2, dim) and np.isfinite(projection.explained).all()
        assert kl_per_dimension(np.zeros((0, dim)), np.zeros((0, dim))).shape == (dim,)


def test_the_priors_contours_are_circles_about_the_projected_origin():
    from tui_vae.latent import pca, prior_contours

    points = np.random.default_rng(0).normal(size=(400, 6)) * [3, 2, 1, 1, 1, 1] + 1.5
    projection = pca(points)
    rings = prior_contours(projection, radii=(1.0, 2.0, 3.0), points=100)
    centre = projection.to_plane(np.zeros(6))
    radii = np.linalg.norm(rings - centre, axis=1).reshape(3, 100)
    assert np.allclose(radii, [[1.0], [2.0], [3.0]])
    line = prior_contours(pca(points[:, :1]), radii=(2.0,), points=100)  # a 1-D latent
    assert np.allclose(line[:, 1], 0) and np.isclose(np.abs(line[:, 0]).max(), 2.0)


def test_prior_samples_fall_in_holes_only_where_the_codes_do_not_reach():
    from tui_vae.latent import prior_samples_in_holes

    rng = np.random.default_rng(1)
    # Posteriors whose mixture is the prior: means N(0, 0.9), variances 0.1.
    covering = rng.standard_normal((5000, 8)) * np.sqrt(0.9)
    narrow = np.full_like(covering, np.log(0.1))
    _, holes = prior_samples_in_holes(covering, narrow, count=400)
    assert holes.mean() < 0.05
    far = rng.standard_normal((2000, 8)) * 0.1 + 4  # codes in one far corner
    _, holes = prior_samples_in_holes(far, np.full_like(far, np.log(0.01)), count=400)
    assert holes.mean() > 0.95
    # beta = 0: point-like posteriors spread far beyond the prior. The nearest-mean
    # rule (relative to the means' own spacing) found no holes here at all.
    spread = rng.standard_normal((5000, 8)) * 10
    _, holes = prior_samples_in_holes(spread, np.full_like(spread, -36.0), count=400)
    assert holes.mean() > 0.95
