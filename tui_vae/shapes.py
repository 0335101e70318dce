"""`--dataset shapes`: coloured shapes with known factors, generated from a seed (numpy only).

In the spirit of dSprites (Matthey et al. 2017), in colour: each image is one
shape on a black background, drawn with an anti-aliased edge. Six factors are
drawn independently and uniformly for every image and stored with it
(`Split.factors`, columns in this order):

| factor   | values                                                        |
|----------|---------------------------------------------------------------|
| shape    | 0 square, 1 circle, 2 triangle, 3 heart, 4 cross (the class)  |
| hue      | 0 .. 0.8 of the colour circle (red, yellow, green, cyan, blue, |
|          | to purple; it stops short of wrapping back to red)            |
| size     | 0.14 .. 0.26 of the image side: the shape's half-extent       |
| x, y     | 0.36 .. 0.64 of the image side: the shape's centre (y down)   |
| rotation | -30 .. +30 degrees                                            |

The ranges keep every shape whole inside the image at any rotation, and no
factor is circular: the hue stops before it wraps, and the rotation's 60 degree
span is shorter than every shape's symmetry (square and cross 90, triangle
120), so two different values always give two different images (except the
rotation of a circle, which shows nothing). Colour is the hue at saturation 0.9
and value 0.95. Sizes 28, 32 (the default) or 64 pixels square; the training
split is `TRAIN_SIZE` images from `seed`, the test split `TEST_SIZE` from
`seed + 1`, always the same for the same seed.
"""

from __future__ import annotations

import numpy as np

from tui_vae.datasets import SHAPE_CLASSES, SHAPE_FACTORS

TRAIN_SIZE = 20_000
TEST_SIZE = 2_000
SEED = 0

HUE_RANGE = (0.0, 0.8)
SIZE_RANGE = (0.14, 0.26)
POSITION_RANGE = (0.36, 0.64)
ROTATION_RANGE = (-30.0, 30.0)  # degrees
SATURATION, VALUE = 0.9, 0.95
CHUNK = 2048  # images drawn at once: bounds the temporaries to a few MB each


def draw_factors(n: int, seed: int) -> np.ndarray:
    """(n, 6) float32 factors in SHAPE_FACTORS order, each drawn independently."""
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, len(SHAPE_CLASSES), n)
    hue = rng.uniform(*HUE_RANGE, n)
    size = rng.uniform(*SIZE_RANGE, n)
    x = rng.uniform(*POSITION_RANGE, n)
    y = rng.uniform(*POSITION_RANGE, n)
    rotation = rng.uniform(*ROTATION_RANGE, n)
    return np.stack([shape, hue, size, x, y, rotation], axis=1).astype(np.float32)


# Signed distances (negative inside) in the shape's own frame, where the shape
# spans about -1..1; u points right, v up.

def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) - 0.8


def _circle(u, v):
    return np.sqrt(u * u + v * v) - 0.9


def _triangle(u, v):
    # Equilateral, pointing up, centred on its centroid; inradius 0.5, so the
    # vertices lie 1.0 from the centre.
    edges = [v * -1.0, u * 0.8660254 + v * 0.5, u * -0.8660254 + v * 0.5]
    return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.5


def _heart(u, v):
    # A diamond (|u| + |v - c| <= a) with two discs on its upper edges.
    a, c = 0.86, -0.14
    diamond = (np.abs(u) + np.abs(v - c) - a) * 0.70710678
    r = a * 0.70710678
    left = np.sqrt((u + a / 2) ** 2 + (v - c - a / 2) ** 2) - r
    right = np.sqrt((u - a / 2) ** 2 + (v - c - a / 2) ** 2) - r
    return np.minimum(diamond, np.minimum(left, right))


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    arm = 0.3
    return np.minimum(np.maximum(au - 0.95, av - arm), np.maximum(au - arm, av - 0.95))


_DISTANCES = (_square, _circle, _triangle, _heart, _cross)


def _hsv_to_rgb(hue: np.ndarray) -> np.ndarray:
    """(n,) hues at SATURATION and VALUE -> (n, 3) RGB in [0, 1]."""
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0
    return VALUE - VALUE * SATURATION * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _render(factors: np.ndarray, size: int) -> np.ndarray:
    """(n, 6) factors -> (n, size, size, 3) uint8 images."""
    n = len(factors)
    shape = factors[:, 0].astype(np.int64)
    half = (factors[:, 2] * size)[:, None, None]  # half-extent in pixels
    cx = (factors[:, 3] * size)[:, None, None]
    cy = (factors[:, 4] * size)[:, None, None]
    angle = np.deg2rad(factors[:, 5])[:, None, None]
    centres = np.arange(size, dtype=np.float32) + 0.5
    dx = centres[None, None, :] - cx  # (n, 1, size)
    dy = cy - centres[None, :, None]  # (n, size, 1): up is positive
    cos, sin = np.cos(angle), np.sin(angle)
    # Rotate the pixel grid by -angle into the shape's frame, in units of `half`.
    u = (dx * cos + dy * sin) / half
    v = (dy * cos - dx * sin) / half
    distance = np.empty((n, size, size), dtype=np.float32)
    for index, function in enumerate(_DISTANCES):
        members = shape == index
        if members.any():
            distance[members] = function(u[members], v[members])
    # Coverage from the signed distance in pixels: a one-pixel-wide soft edge.
    alpha = np.clip(0.5 - distance * half, 0.0, 1.0)
    colour = _hsv_to_rgb(factors[:, 1].astype(np.float64)).astype(np.float32)
    pixels = alpha[..., None] * colour[:, None, None, :] * 255.0 + 0.5
    return pixels.astype(np.uint8)


def generate(n: int, seed: int = SEED, size: int = 32) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """`n` images from `seed`: (images (n, size, size, 3) uint8, labels (n,) int64,
    factors (n, 6) float32 in SHAPE_FACTORS order). Deterministic for a seed."""
    factors = draw_factors(n, seed)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, CHUNK):
        images[start:start + CHUNK] = _render(factors[start:start + CHUNK], size)
    return images, factors[:, 0].astype(np.int64), factors


def generate_splits(size: int = 32, seed: int = SEED, train: int = TRAIN_SIZE,
                    test: int = TEST_SIZE):
    """The train and test splits as two (images, labels, factors) triples."""
    return generate(train, seed, size), generate(test, seed + 1, size)


assert len(_DISTANCES) == len(SHAPE_CLASSES) and len(SHAPE_FACTORS) == 6
