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
from functools import lru_cache

import numpy as np
from rich.color import Color, ColorSystem
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "\u2580"
SHADES = " \u2591\u2592\u2593\u2588"  # blank, light, medium, dark, full
# The style of cells that carry no colour of their own. A Style, never None:
# Textual's line filters (NO_COLOR's monochrome filter) read every segment's style.
PLAIN = Style()

# (colour system, packed pixel pair) -> Style. Keyed by colour system because
# Rich caches a Style's escape codes on first use, whatever console renders it.
_STYLE_CACHE: dict[tuple[ColorSystem, int], Style] = {}


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


def _grey(level: int, system: ColorSystem) -> Color:
    return Color.from_rgb(level, level, level).downgrade(system)


@lru_cache(maxsize=8)
def _level_lut(system: ColorSystem) -> np.ndarray:
    """Each grey level -> the level the terminal will actually show under `system`."""
    if system == ColorSystem.TRUECOLOR:
        return np.arange(256, dtype=np.uint8)
    shown = [_grey(level, system).get_truecolor().red for level in range(256)]
    return np.array(shown, dtype=np.uint8)


def _style(key: int, system: ColorSystem) -> Style:
    style = _STYLE_CACHE.get((system, key))
    if style is None:
        upper, lower = key >> 8, key & 0xFF
        background = _grey(lower, system)
        if upper == lower:
            style = Style(bgcolor=background)
        else:
            style = Style(color=_grey(upper, system), bgcolor=background)
        _STYLE_CACHE[(system, key)] = style
    return style


def _runs(row: np.ndarray) -> Iterable[tuple[int, int]]:
    """(start, length) of each run of equal values in a 1-D array."""
    starts = np.concatenate(([0], np.flatnonzero(row[1:] != row[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [row.shape[0]])))
    return zip(starts.tolist(), lengths.tolist())


BLANK = -1  # a packed cell key for "no image here": a plain space, no style


def _pair_keys(pixels: np.ndarray, system: ColorSystem) -> np.ndarray:
    """(lines, width) int32: each cell's (upper, lower) grey levels packed, as shown."""
    upper, lower = _pair_rows(pixels)
    lut = _level_lut(system)
    return (lut[upper].astype(np.int32) << 8) | lut[lower]


def _run_segments(keys: np.ndarray, segment) -> list[list[Segment]]:
    """Each row of packed cell keys as segments: one `segment(key, length)` per run."""
    lines = []
    for row in keys:
        values = row.tolist()
        lines.append([segment(values[start], length) for start, length in _runs(row)])
    return lines


def _key_segments(keys: np.ndarray, system: ColorSystem) -> list[list[Segment]]:
    def segment(key: int, length: int) -> Segment:
        if key == BLANK:
            return Segment(" " * length, PLAIN)
        if key >> 8 == key & 0xFF:  # both pixels alike: a space on the background
            return Segment(" " * length, _style(key, system))
        return Segment(UPPER_HALF * length, _style(key, system))

    return _run_segments(keys, segment)


def halfblock_lines(
    pixels: np.ndarray, system: ColorSystem = ColorSystem.TRUECOLOR
) -> list[list[Segment]]:
    """One list of segments per terminal line, two image rows per line.

    Colours are reduced for `system` here (greys onto the 24-step ramp for 256
    colours), so equal cells merge after the reduction too.
    """
    return _key_segments(_pair_keys(pixels, system), system)


def halfblock_row(
    images: list[np.ndarray], gap: int, system: ColorSystem = ColorSystem.TRUECOLOR
) -> list[list[Segment]]:
    """Equal-sized images side by side, `gap` blank cells apart, as lines of segments.

    One pass over the whole row instead of one per image: a grid of 100 digits
    costs a tenth of the Python calls, which is most of a redraw's time.
    """
    parts: list[np.ndarray] = []
    for k, image in enumerate(images):
        keys = _pair_keys(image, system)
        if k and gap:
            parts.append(np.full((keys.shape[0], gap), BLANK, np.int32))
        parts.append(keys)
    return _key_segments(np.hstack(parts), system)


def shade_lines(pixels: np.ndarray) -> list[list[Segment]]:
    """Monochrome fallback: each cell's mean intensity as a shade character."""
    upper, lower = _pair_rows(pixels)
    level = ((upper.astype(np.int32) + lower) * (len(SHADES) - 1) + 255) // 510
    return [[Segment("".join(SHADES[v] for v in row.tolist()), PLAIN)] for row in level]


def image_lines(pixels: np.ndarray, system: ColorSystem | None) -> list[list[Segment]]:
    """Half-block lines in `system`'s colours, or shade characters where there is no colour."""
    return halfblock_lines(pixels, system) if system else shade_lines(pixels)


class HalfBlockImage:
    """A Rich renderable for a greyscale image (or a tiled grid of them)."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = to_uint8(pixels)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        system = console._color_system  # Rich exposes only the name publicly
        lines = image_lines(self.pixels, None if console.no_color else system)
        for line in lines:
            yield from line
            yield Segment.line()


# Ten class colours that stay apart in 256 and 16 colours too (Rich downgrades them).
CLASS_COLORS = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231",
                "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4")
LOWER_HALF = "\u2584"
FULL_BLOCK = "\u2588"
_PALETTE_STYLES: dict[tuple[str, str | None], Style] = {}


def _palette_style(color: str, bgcolor: str | None) -> Style:
    style = _PALETTE_STYLES.get((color, bgcolor))
    if style is None:
        style = _PALETTE_STYLES[(color, bgcolor)] = Style(color=color, bgcolor=bgcolor)
    return style


def palette_lines(indices: np.ndarray, colors: tuple[str, ...] = CLASS_COLORS
                  ) -> list[list[Segment]]:
    """Class-index pixels (H, W), -1 = empty, as coloured half-block lines.

    Empty pixels take the terminal's background, so a scatter plot shows its
    points only. Runs of equal cells become one segment, as for images.
    """
    indices = np.asarray(indices)
    if indices.shape[0] % 2:
        indices = np.vstack([indices, np.full((1, indices.shape[1]), -1, indices.dtype)])
    upper, lower = indices[0::2].astype(np.int32), indices[1::2].astype(np.int32)
    keys = (upper + 1) * 1024 + (lower + 1)

    def segment(key: int, length: int) -> Segment:
        upper, lower = divmod(key, 1024)
        upper, lower = upper - 1, lower - 1
        if upper < 0 and lower < 0:
            return Segment(" " * length, PLAIN)
        if upper < 0:
            return Segment(LOWER_HALF * length, _palette_style(colors[lower % len(colors)], None))
        if lower < 0 or lower == upper:
            char = UPPER_HALF if lower < 0 else FULL_BLOCK
            return Segment(char * length, _palette_style(colors[upper % len(colors)], None))
        return Segment(UPPER_HALF * length, _palette_style(colors[upper % len(colors)],
                                                           colors[lower % len(colors)]))

    return _run_segments(keys, segment)
