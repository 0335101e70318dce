"""The factor report: each latent dimension paired with the factor it follows."""

import numpy as np
import pytest
import torch

from tui_vae.factors import (
    DimensionFactor,
    correlation_table,
    dimension_factors,
    format_dimension_factors,
)


def _synthetic(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, 5, n).astype(np.float64)
    size = rng.uniform(0.1, 0.3, n)
    x = rng.uniform(0, 1, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    factors = np.stack([shape, size, x, angle], axis=1)
    # Category means in a scrambled order: no monotone link to the index.
    shape_code = np.array([0.0, 2.0, -1.0, 1.5, -2.0])[shape.astype(int)]
    mu = np.stack([
        rng.normal(size=n),                          # z0: noise, follows nothing
        x * 3 + rng.normal(0, 0.1, n),               # z1: a noisy copy of x
        -size * 10 + rng.normal(0, 0.1, n),          # z2: size, reversed (R uses |r|)
        shape_code + rng.normal(0, 0.1, n),          # z3: the category
        np.cos(angle - 1.0) + rng.normal(0, 0.1, n),  # z4: the angle, round the circle
        np.zeros(n),                                 # z5: collapsed
    ], axis=1)
    return mu, factors


NAMES = ("shape", "size", "x", "angle")
KINDS = ("categorical", "linear", "linear", "circular")


def test_each_dimension_maps_to_the_factor_it_copies():
    mu, factors = _synthetic()
    rows = dimension_factors(mu, factors, NAMES, KINDS)
    assert [row.dim for row in rows] == list(range(6))
    assert [row.factor for row in rows[1:5]] == ["x", "size", "shape", "angle"]
    assert all(row.correlation > 0.9 for row in rows[1:5]), rows
    assert rows[0].correlation < 0.1 and rows[5].correlation == 0.0


def test_the_correlations_are_what_they_say():
    mu, factors = _synthetic()
    table = correlation_table(mu, factors, KINDS)
    assert table.shape == (6, 4) and (0 <= table).all() and (table <= 1).all()
    # Linear: |Pearson|.
    assert table[2, 1] == pytest.approx(abs(np.corrcoef(mu[:, 2], factors[:, 1])[0, 1]))
    # Categorical: eta, independent of how the categories are numbered.
    renumbered = factors.copy()
    renumbered[:, 0] = (renumbered[:, 0] * 3 + 1) % 5
    assert correlation_table(mu, renumbered, KINDS)[3, 0] == pytest.approx(table[3, 0])
    # A Pearson correlation with the index would miss the scrambled category code.
    assert abs(np.corrcoef(mu[:, 3], factors[:, 0])[0, 1]) < 0.5 < table[3, 0]
    # Circular: a cosine of the angle scores high, a linear reading of it does not.
    linear_angle = correlation_table(mu, factors, ("categorical", "linear", "linear", "linear"))
    assert linear_angle[4, 3] < 0.7 < table[4, 3]


def test_torch_tensors_and_the_report_text():
    mu, factors = _synthetic(n=500)
    rows = dimension_factors(torch.from_numpy(mu).float(), torch.from_numpy(factors).float(),
                             NAMES, KINDS)
    text = format_dimension_factors(rows, order=[1, 0])
    lines = text.splitlines()
    assert "multiple correlation" in lines[0]
    assert lines[1].startswith("z1: x (R 0.99") or lines[1].startswith("z1: x (R 1.00")
    assert lines[2].startswith("z0: no factor (best:")
    assert len(lines) == 3


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        dimension_factors(np.zeros((5, 2)), np.zeros((4, 1)), ["a"])
    with pytest.raises(ValueError):
        dimension_factors(np.zeros((5, 2)), np.zeros((5, 2)), ["a"])
    with pytest.raises(ValueError):
        correlation_table(np.zeros((5, 2)), np.zeros((5, 1)), ["spiral"])
    assert dimension_factors(np.zeros((1, 2)), np.zeros((1, 1)), ["a"]) == [
        DimensionFactor(0, "a", 0.0), DimensionFactor(1, "a", 0.0)]


def test_on_shapes_a_dimension_that_reads_position_maps_to_it():
    """The real dataset's factors: the horizontal centre of mass of each image follows x."""
    from tui_vae import shapes
    from tui_vae.datasets import SHAPE_FACTOR_KINDS, SHAPE_FACTORS

    images, _, factors = shapes.generate(1000, seed=5)
    weight = images.astype(np.float64).sum(axis=3)
    columns = np.arange(weight.shape[2])
    centre_x = (weight.sum(axis=1) * columns).sum(axis=1) / weight.sum(axis=(1, 2))
    mean_red = images[..., 0].mean(axis=(1, 2))
    rows = dimension_factors(np.stack([centre_x, mean_red], 1), factors, SHAPE_FACTORS,
                             SHAPE_FACTOR_KINDS)
    assert rows[0].factor == "x" and rows[0].correlation > 0.95
    assert rows[1].factor == "hue"
