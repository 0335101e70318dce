"""Images as terminal text: two pixels per cell with the upper half block.

Each cell shows "▀" with the upper pixel as foreground and the lower pixel as
background. The work is vectorised: rows are paired in numpy, each (upper,
lower) pair is packed into one integer, runs of equal cells are found with
`np.diff` and become one segment each, and styles come from a cache. Cells
whose two pixels match are written as spaces with a background only, which
sends fewer bytes.

A picture is grey (H, W) or colour (H, W, 3), floats in [0, 1] or uint8; the
shape picks the path. Grey: Rich downgrades the levels for 256- and 16-colour
terminals (greys land on the 24-step grey ramp). Colour: 24-bit where the
terminal has it; otherwise each pixel becomes the nearest colour of the
terminal's palette (the 240 fixed colours of the 256-colour palette, or the 16
standard ones), looked up in a table over RGB quantised to 5 bits a channel,
built once per palette with numpy. No dithering: a dithered 16-colour picture
turns into noise at two pixels a cell, while the nearest colour keeps shapes
and hues apart. With no colour at all (`NO_COLOR`), `shade_lines` draws
intensity (a colour picture's luminance) with shade characters instead.

Plain numpy and Rich: no torch, no Textual.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from rich._palettes import STANDARD_PALETTE
from rich.color import Color, ColorSystem, ColorTriplet, ColorType
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


def is_colour(pixels: np.ndarray) -> bool:
    """Whether one picture is in colour: (H, W, 3) rather than (H, W)."""
    return pixels.ndim == 3 and pixels.shape[-1] == 3


def luminance(pixels: np.ndarray) -> np.ndarray:
    """A colour picture's (..., 3) luminance (ITU-R BT.601 weights), uint8 (...)."""
    rgb = to_uint8(pixels).astype(np.float32)
    grey = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def channels_last(images: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) (torch's layout) as pictures: (N, H, W) grey, (N, H, W, 3) colour."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, 1 or 3, H, W), got shape {images.shape}")
    return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)


def tile(images: np.ndarray, columns: int, gap: int = 1, fill: int = 0) -> np.ndarray:
    """Arrange (N, H, W) or (N, H, W, 3) images in a grid `columns` wide, `gap` pixels apart."""
    images = to_uint8(images)
    n, h, w = images.shape[:3]
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, *images.shape[3:]),
                   fill, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = images[i]
    return grid


def _pair_rows(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = to_uint8(pixels)
    if pixels.ndim != 2 and not (pixels.ndim == 3 and pixels.shape[2] == 3):
        raise ValueError(f"expected a picture (H, W) or (H, W, 3), got shape {pixels.shape}")
    if pixels.shape[0] % 2:  # an odd last row pairs with black
        pixels = np.concatenate([pixels, np.zeros((1, *pixels.shape[1:]), np.uint8)])
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


# -- colour pictures (H, W, 3)
#
# A colour cell is packed as (upper << 24) | lower, where each pixel's colour is
# its 24-bit RGB value in truecolor and its palette index otherwise: one int64
# per cell, so runs of equal cells merge exactly as for grey.

QUANT = 3  # the palette lookup quantises each channel to 8 - QUANT bits
TRUE_BITS = 6  # truecolor cells carry 6 bits a channel (see `colour_numbers`)
_CUBE = (0, 95, 135, 175, 215, 255)  # the 6 levels of xterm's 6x6x6 colour cube
# Per colour system: packed cell key -> Style, and colour number -> Color.
_COLOUR_STYLES: dict[ColorSystem, dict[int, Style]] = {}
_COLOURS: dict[ColorSystem, dict[int, Color]] = {}
MAX_CACHED_STYLES = 1 << 17  # truecolor pictures can hold many colours: bounded


def palette(system: ColorSystem) -> tuple[np.ndarray, np.ndarray]:
    """(RGB values (K, 3), their colour numbers (K,)) of the colours a picture may take.

    256 colours: the 6x6x6 cube and the 24-step grey ramp (numbers 16-255), whose
    values xterm-compatible terminals fix; the first 16 are left out because every
    terminal theme draws them differently. 16 colours: the standard ones, with the
    values Rich assumes for them.
    """
    if system == ColorSystem.EIGHT_BIT:
        cube = [(r, g, b) for r in _CUBE for g in _CUBE for b in _CUBE]
        ramp = [(8 + 10 * k,) * 3 for k in range(24)]
        return np.array(cube + ramp, np.int32), np.arange(16, 256)
    colours = [STANDARD_PALETTE[k] for k in range(16)]
    return np.array(colours, np.int32), np.arange(16)


def _distance(rgb: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The "red mean" weighted RGB distance (squared) of colours (M, 1, 3) to (M or 1, K, 3).

    The weighting Rich matches colours with: it tracks perceived differences
    better than plain RGB distance.
    """
    red_mean = (rgb[..., 0] + values[..., 0]) // 2
    d = rgb - values
    return ((512 + red_mean) * d[..., 0] ** 2 >> 8) + 4 * d[..., 1] ** 2 + (
        (767 - red_mean) * d[..., 2] ** 2 >> 8)


def nearest(rgb: np.ndarray, system: ColorSystem) -> np.ndarray:
    """The number of the palette colour nearest each RGB colour (M, 3) under `system`."""
    rgb = np.asarray(rgb, np.int32)[:, None, :]
    values, numbers = palette(system)
    if system != ColorSystem.EIGHT_BIT:
        return numbers[_distance(rgb, values[None]).argmin(axis=1)]
    # The cube: once its red level is fixed, the weights are too, and the best green
    # and blue levels are each channel's nearest level. So 6 cube candidates per
    # colour (one per red level) and the 24 greys, not all 240: 8 times less work.
    levels = np.array(_CUBE, np.int32)
    g = np.abs(rgb[..., 1:2] - levels).argmin(axis=-1)  # (M, 1)
    b = np.abs(rgb[..., 2:3] - levels).argmin(axis=-1)
    red = np.arange(6)[None, :]
    cube = np.stack(np.broadcast_arrays(levels[red], levels[g], levels[b]), axis=-1)
    cube_numbers = 16 + 36 * red + 6 * g + b
    distance = np.concatenate([_distance(rgb, cube), _distance(rgb, values[None, 216:])],
                              axis=1)
    candidates = np.concatenate([np.broadcast_to(cube_numbers, (len(rgb), 6)),
                                 np.broadcast_to(numbers[216:], (len(rgb), 24))], axis=1)
    return candidates[np.arange(len(rgb)), distance.argmin(axis=1)]


@lru_cache(maxsize=4)
def palette_lut(system: ColorSystem) -> np.ndarray:
    """(32, 32, 32) uint8: the nearest palette colour of each quantised RGB colour."""
    levels = 256 >> QUANT
    q = np.arange(levels)
    centre = np.rint(q * 255 / (levels - 1)).astype(np.int32)  # 0 -> 0, 31 -> 255
    r, g, b = np.meshgrid(centre, centre, centre, indexing="ij")
    rgb = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    # In chunks, to bound the temporary distance tables.
    found = np.concatenate([nearest(rgb[k:k + 4096], system) for k in range(0, len(rgb), 4096)])
    return found.astype(np.uint8).reshape(levels, levels, levels)


# Each 8-bit level -> the level shown at TRUE_BITS bits (0 and 255 kept exact).
_TRUE_LEVELS = np.array([(v >> (8 - TRUE_BITS)) * 255 // ((1 << TRUE_BITS) - 1)
                         for v in range(256)], np.int64)


def colour_numbers(pixels: np.ndarray, system: ColorSystem) -> np.ndarray:
    """Each pixel of (..., 3) uint8 as one int64: its RGB in truecolor, else its palette
    colour's number.

    Truecolor keeps TRUE_BITS bits a channel (262,144 colours, steps of 4 levels
    an eye does not see at two pixels a cell): a decoded picture's plain
    background, which wavers by a level or two, then becomes runs of equal cells
    (one segment each) and styles already made, which a redraw of 16 new 32x32
    samples needs to stay within its frame budget.
    """
    if system == ColorSystem.TRUECOLOR:
        rgb = _TRUE_LEVELS[pixels]
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    q = pixels >> QUANT
    return palette_lut(system)[q[..., 0], q[..., 1], q[..., 2]].astype(np.int64)


def _colour(number: int, system: ColorSystem, colours: dict[int, Color]) -> Color:
    colour = colours.get(number)
    if colour is None:
        if system == ColorSystem.TRUECOLOR:
            colour = Color(f"#{number:06x}", ColorType.TRUECOLOR,
                           triplet=ColorTriplet(number >> 16, (number >> 8) & 0xFF,
                                                number & 0xFF))
        else:
            colour = Color.from_ansi(number)
        colours[number] = colour
    return colour


def _colour_keys(pixels: np.ndarray, system: ColorSystem) -> np.ndarray:
    """(lines, width) int64: each cell's (upper, lower) colours packed, as shown."""
    upper, lower = _pair_rows(pixels)
    return (colour_numbers(upper, system) << 24) | colour_numbers(lower, system)


def _colour_segments(keys: np.ndarray, system: ColorSystem) -> list[list[Segment]]:
    """Rows of packed colour cells as segments: one per run of equal cells."""
    styles = _COLOUR_STYLES.setdefault(system, {})
    colours = _COLOURS.setdefault(system, {})
    if len(styles) > MAX_CACHED_STYLES:  # bounded: a long session of noisy pictures
        styles.clear()
        colours.clear()
    # Every run's start in one numpy pass over the whole picture.
    change = np.ones(keys.shape, bool)
    change[:, 1:] = keys[:, 1:] != keys[:, :-1]
    rows, cols = np.nonzero(change)
    ends = np.append(cols[1:], 0)
    ends[np.append(rows[1:] != rows[:-1], True)] = keys.shape[1]
    lengths = (ends - cols).tolist()
    values = keys[rows, cols].tolist()
    lines: list[list[Segment]] = [[] for _ in range(keys.shape[0])]
    for row, key, length in zip(rows.tolist(), values, lengths):
        if key == BLANK:
            lines[row].append(Segment(" " * length, PLAIN))
            continue
        style = styles.get(key)
        upper, lower = key >> 24, key & 0xFFFFFF
        if style is None:
            # Style.from_color: a plain colour pair without parsing (several times faster).
            style = Style.from_color(
                None if upper == lower else _colour(upper, system, colours),
                _colour(lower, system, colours))
            styles[key] = style
        # Both pixels alike: a space on the background (fewer bytes than a block).
        lines[row].append(Segment((" " if upper == lower else UPPER_HALF) * length, style))
    return lines


def halfblock_lines(
    pixels: np.ndarray, system: ColorSystem = ColorSystem.TRUECOLOR
) -> list[list[Segment]]:
    """One list of segments per terminal line, two image rows per line.

    Colours are reduced for `system` here (greys onto the 24-step ramp for 256
    colours, colours to the nearest of the palette), so equal cells merge after
    the reduction too.
    """
    pixels = to_uint8(pixels)
    if is_colour(pixels):
        return _colour_segments(_colour_keys(pixels, system), system)
    return _key_segments(_pair_keys(pixels, system), system)


def halfblock_row(
    images: list[np.ndarray], gap: int, system: ColorSystem = ColorSystem.TRUECOLOR
) -> list[list[Segment]]:
    """Equal-sized images side by side, `gap` blank cells apart, as lines of segments.

    One pass over the whole row instead of one per image: a grid of 100 digits
    costs a tenth of the Python calls, which is most of a redraw's time.
    """
    colour = is_colour(np.asarray(images[0]))
    pair_keys = _colour_keys if colour else _pair_keys
    parts: list[np.ndarray] = []
    for k, image in enumerate(images):
        keys = pair_keys(image, system)
        if k and gap:
            parts.append(np.full((keys.shape[0], gap), BLANK, keys.dtype))
        parts.append(keys)
    keys = np.hstack(parts)
    return _colour_segments(keys, system) if colour else _key_segments(keys, system)


def shade_lines(pixels: np.ndarray) -> list[list[Segment]]:
    """Monochrome fallback: each cell's mean intensity (a colour picture's luminance)
    as a shade character."""
    pixels = to_uint8(pixels)
    upper, lower = _pair_rows(luminance(pixels) if is_colour(pixels) else pixels)
    level = ((upper.astype(np.int32) + lower) * (len(SHADES) - 1) + 255) // 510
    return [[Segment("".join(SHADES[v] for v in row.tolist()), PLAIN)] for row in level]


def image_lines(pixels: np.ndarray, system: ColorSystem | None) -> list[list[Segment]]:
    """Half-block lines in `system`'s colours, or shade characters where there is no colour."""
    return halfblock_lines(pixels, system) if system else shade_lines(pixels)


class HalfBlockImage:
    """A Rich renderable for a picture, grey or colour (or a tiled grid of them)."""

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


def _row_pairs(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class-index pixels (H, W) as the (upper, lower) pixels of each cell's two rows
    (int32; an odd last row gets an empty row, -1, below it)."""
    indices = np.asarray(indices)
    if indices.shape[0] % 2:
        indices = np.vstack([indices, np.full((1, indices.shape[1]), -1, indices.dtype)])
    return indices[0::2].astype(np.int32), indices[1::2].astype(np.int32)


# With no colour (NO_COLOR), a scatter's classes are told apart by character:
# a class's key (0-9, then letters), one character a cell.
CLASS_SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"


def class_symbol(index: int) -> str:
    """The character class `index` is drawn with when there is no colour."""
    return CLASS_SYMBOLS[index] if 0 <= index < len(CLASS_SYMBOLS) else "#"


def symbol_lines(indices: np.ndarray, symbols: dict[int, str] | None = None
                 ) -> list[list[Segment]]:
    """Class-index pixels (H, W), -1 = empty, as characters for a terminal without
    colour: a cell (two pixel rows) shows its upper pixel's symbol, else its lower's.

    `symbols` names indices that are not classes (overlays); the rest take
    `class_symbol`. Half the vertical resolution of `palette_lines`, but the
    classes stay apart where colour cannot keep them so."""
    upper, lower = _row_pairs(indices)
    keys = np.where(upper >= 0, upper, lower)
    symbols = symbols or {}

    def segment(key: int, length: int) -> Segment:
        char = " " if key < 0 else symbols.get(key) or class_symbol(key)
        return Segment(char * length, PLAIN)

    return _run_segments(keys, segment)


def palette_lines(indices: np.ndarray, colors: tuple[str, ...] = CLASS_COLORS
                  ) -> list[list[Segment]]:
    """Class-index pixels (H, W), -1 = empty, as coloured half-block lines.

    Empty pixels take the terminal's background, so a scatter plot shows its
    points only. Runs of equal cells become one segment, as for images.
    """
    upper, lower = _row_pairs(indices)
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
