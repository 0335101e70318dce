"""Greyscale images as terminal text: two pixels per cell with the upper half block.

Each cell shows "▀" with the upper pixel as foreground and the lower pixel as
background. The work is vectorised: rows are paired in numpy, each (upper,
lower) pair is packed into one integer, runs of equal cells are found with
`np.diff` and become one segment each, and styles come from a cache. Cells
whose two pixels match are written as spaces with a background only, which
sends fewer bytes. Rich downgrades the colours for 256- and 16-colour
terminals (greys land on the 24-step grey ramp); with no colour at all
(`NO_COLOR`), `shade_lines` draws intensity with shade characters instead.

Plain numpy and Rich: no torch, no Textual.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "\u2580"
SHADES = " \u2591\u2592\u2593\u2588"  # blank, light, medium, dark, full

_STYLE_CACHE: dict[int, Style] = {}


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (or uint8 already) as a uint8 array."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        return pixels
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)


def tile(images: np.ndarray, columns: int, gap: int = 1, fill: int = 0) -> np.ndarray:
    """Arrange (N, H, W) images in a grid `columns` wide, `gap` pixels apart."""
    images = to_uint8(images)
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), fill, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = images[i]
    return grid


def _pair_rows(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = to_uint8(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {pixels.shape}")
    if pixels.shape[0] % 2:  # an odd last row pairs with black
        pixels = np.vstack([pixels, np.zeros((1, pixels.shape[1]), np.uint8)])
    return pixels[0::2], pixels[1::2]


def _style(key: int) -> Style:
    style = _STYLE_CACHE.get(key)
    if style is None:
        upper, lower = key >> 8, key & 0xFF
        background = Color.from_rgb(lower, lower, lower)
        if upper == lower:
            style = Style(bgcolor=background)
        else:
            style = Style(color=Color.from_rgb(upper, upper, upper), bgcolor=background)
        _STYLE_CACHE[key] = style
    return style


def _runs(row: np.ndarray) -> Iterable[tuple[int, int]]:
    """(start, length) of each run of equal values in a 1-D array."""
    starts = np.concatenate(([0], np.flatnonzero(row[1:] != row[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [row.shape[0]])))
    return zip(starts.tolist(), lengths.tolist())


def halfblock_lines(pixels: np.ndarray) -> list[list[Segment]]:
    """One list of segments per terminal line, two image rows per line."""
    upper, lower = _pair_rows(pixels)
    keys = (upper.astype(np.int32) << 8) | lower
    lines = []
    for row in keys:
        segments = []
        for start, length in _runs(row):
            key = int(row[start])
            char = " " if key >> 8 == key & 0xFF else UPPER_HALF
            segments.append(Segment(char * length, _style(key)))
        lines.append(segments)
    return lines


def shade_lines(pixels: np.ndarray) -> list[list[Segment]]:
    """Monochrome fallback: each cell's mean intensity as a shade character."""
    upper, lower = _pair_rows(pixels)
    level = ((upper.astype(np.int32) + lower) * (len(SHADES) - 1) + 255) // 510
    return [[Segment("".join(SHADES[v] for v in row.tolist()))] for row in level]


class HalfBlockImage:
    """A Rich renderable for a greyscale image (or a tiled grid of them)."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = to_uint8(pixels)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        monochrome = console.no_color or console.color_system is None
        lines = shade_lines(self.pixels) if monochrome else halfblock_lines(self.pixels)
        for line in lines:
            yield from line
            yield Segment.line()
