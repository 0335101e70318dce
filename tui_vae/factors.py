"""Which latent dimension follows which known factor (the shapes dataset's factor report).

Given the posterior means mu (N, D) of N images and their known factors (N, F),
each dimension d is paired with the factor it correlates with most. The
measure is the multiple correlation coefficient R of z_d on the factor, in
[0, 1], so factors of different kinds compare on one scale:

- a "linear" factor (size, position): R = |Pearson correlation| of z_d with it;
- a "categorical" factor (the shape): R = the correlation ratio eta, the square
  root of the share of z_d's variance explained by the category means: it is the
  multiple correlation on the one-hot categories, and does not depend on how the
  categories happen to be numbered (a Pearson correlation with the index would);
- a "circular" factor (an angle, in radians): R of z_d regressed on
  (cos, sin) of it, so a dimension that follows the angle smoothly round the
  circle scores as high as a linear one.

The shapes dataset has no circular factor (its hue and rotation ranges stop
short of wrapping; see tui_vae/shapes.py), but the measure accepts one. A
dimension the model does not use (posterior collapse: constant mu) correlates
with nothing, R = 0; but R does not depend on scale, so a dimension the model
barely uses (its KL near 0, its mu moving a little) can still score high: read
it beside the KL per dimension (tui_vae/latent.py). Correlation is not
disentanglement: R says what z_d moves with, not that it moves with one factor
only; `correlation_table` holds every pair for that question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("linear", "categorical", "circular")
WEAK = 0.2  # below this R a dimension is said to follow no factor


@dataclass(frozen=True)
class DimensionFactor:
    """One latent dimension, the factor it correlates with most, and that correlation."""

    dim: int  # the latent dimension's index
    factor: str  # the factor's name
    correlation: float  # its multiple correlation R in [0, 1] (see the module docstring)


def _centred(values: np.ndarray) -> np.ndarray:
    return values - values.mean(axis=0, keepdims=True)


def _linear(z: np.ndarray, f: np.ndarray) -> np.ndarray:
    """|Pearson| of every column of z (centred) with f."""
    f = _centred(f)
    denominator = np.sqrt((z * z).sum(axis=0) * (f * f).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(np.where(denominator > 0, (z * f[:, None]).sum(axis=0) / denominator, 0))


def _categorical(z: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Correlation ratio eta of every column of z (centred) on the categories f."""
    _, groups = np.unique(f, return_inverse=True)
    counts = np.bincount(groups).astype(np.float64)
    means = np.stack([np.bincount(groups, weights=z[:, d]) for d in range(z.shape[1])], 1)
    means /= counts[:, None]
    between = (counts[:, None] * means**2).sum(axis=0)
    total = (z * z).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.clip(np.where(total > 0, between / total, 0), 0, 1))


def _circular(z: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Multiple correlation of every column of z (centred) on (cos f, sin f)."""
    basis = _centred(np.stack([np.cos(f), np.sin(f)], axis=1))
    coefficients, *_ = np.linalg.lstsq(basis, z, rcond=None)
    explained = ((basis @ coefficients) ** 2).sum(axis=0)
    total = (z * z).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.clip(np.where(total > 0, explained / total, 0), 0, 1))


_MEASURES = {"linear": _linear, "categorical": _categorical, "circular": _circular}


def correlation_table(mu, factors, kinds: Sequence[str] | None = None) -> np.ndarray:
    """(D, F) multiple correlations R of each latent dimension with each factor.

    `mu`: (N, D) posterior means; `factors`: (N, F); `kinds`: one of KINDS per
    factor (all "linear" when None). numpy arrays or torch tensors.
    """
    z = _centred(np.asarray(mu, dtype=np.float64))
    f = np.asarray(factors, dtype=np.float64)
    if z.ndim != 2 or f.ndim != 2 or len(z) != len(f):
        raise ValueError(f"mu {z.shape} and factors {f.shape} must be (N, D) and (N, F)")
    kinds = tuple(kinds) if kinds is not None else ("linear",) * f.shape[1]
    if len(kinds) != f.shape[1] or not set(kinds) <= set(KINDS):
        raise ValueError(f"give one kind per factor, each one of {', '.join(KINDS)}")
    if len(z) < 2:
        return np.zeros((z.shape[1], f.shape[1]))
    return np.stack([_MEASURES[kind](z, f[:, k]) for k, kind in enumerate(kinds)], axis=1)


def dimension_factors(mu, factors, names: Sequence[str],
                      kinds: Sequence[str] | None = None) -> list[DimensionFactor]:
    """Per latent dimension, in order, the factor it correlates with most and the R.

    `names` name the factor columns (Dataset.factor_names); `kinds` are their
    kinds (Dataset.factor_kinds; all "linear" when None).
    """
    names = tuple(names)
    table = correlation_table(mu, factors, kinds)
    if len(names) != table.shape[1]:
        raise ValueError(f"{len(names)} names for {table.shape[1]} factors")
    if not names:
        return []
    best = table.argmax(axis=1)
    return [DimensionFactor(d, names[k], float(table[d, k])) for d, k in enumerate(best)]


def describe(row: DimensionFactor) -> str:
    """"z3: x (R 0.91)", or "z7: no factor (best: hue, R 0.05)" when weak."""
    if row.correlation < WEAK:
        return f"z{row.dim}: no factor (best: {row.factor}, R {row.correlation:.2f})"
    return f"z{row.dim}: {row.factor} (R {row.correlation:.2f})"


def format_dimension_factors(rows: Sequence[DimensionFactor],
                             order: Sequence[int] | None = None) -> str:
    """A plain-text report, one line per dimension (in `order`, e.g. largest KL first)."""
    by_dim = {row.dim: row for row in rows}
    dims = list(order) if order is not None else sorted(by_dim)
    lines = [describe(by_dim[d]) for d in dims if d in by_dim]
    return "\n".join(["factor each dimension follows most (multiple correlation R):", *lines])
