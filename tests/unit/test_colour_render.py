"""Colour pictures (H, W, 3) as half-block cells in each colour system: truecolor,
256 colours, the 16 standard colours, and none (NO_COLOR)."""

import numpy as np
import pytest
from rich.color import ColorSystem, ColorType
from rich.console import Console
from textual.filter import Monochrome

from tui_vae.render import (
    PLAIN,
    SHADES,
    UPPER_HALF,
    HalfBlockImage,
    channels_last,
    halfblock_lines,
    halfblock_row,
    image_lines,
    luminance,
    nearest,
    palette,
    palette_lut,
    tile,
)

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def picture(*rows) -> np.ndarray:
    """A colour picture from rows of RGB triples."""
    return np.array(rows, dtype=np.uint8)


RED_OVER_BLUE = picture([RED], [BLUE])


def only_cell(system):
    (line,) = halfblock_lines(RED_OVER_BLUE, system)
    (segment,) = line
    assert segment.text == UPPER_HALF
    return segment.style


def test_truecolor_cells_carry_the_exact_pixels():
    style = only_cell(ColorSystem.TRUECOLOR)
    assert style.color.type == ColorType.TRUECOLOR and tuple(style.color.triplet) == RED
    assert tuple(style.bgcolor.triplet) == BLUE
    # 6 bits a channel: within 4 levels of the pixel, 0 and 255 exact
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (2, 50, 3), dtype=np.uint8)
    (line,) = halfblock_lines(pixels)
    k = 0
    for segment in line:
        for _ in segment.text:
            shown = segment.style.bgcolor.triplet
            assert np.abs(np.array(tuple(shown)) - pixels[1, k]).max() <= 4
            if segment.style.color is not None:
                fg = np.array(tuple(segment.style.color.triplet))
                assert np.abs(fg - pixels[0, k]).max() <= 4
            k += 1
    # pixels a level apart (a decoded plain background) share a cell colour: one run
    (line,) = halfblock_lines(picture([(12, 200, 99), (13, 201, 98)], [(13, 200, 99)] * 2))
    assert len(line) == 1 and line[0].text == "  "


def test_256_colours_take_the_cube_entries():
    style = only_cell(ColorSystem.EIGHT_BIT)
    assert style.color.type == ColorType.EIGHT_BIT
    assert (style.color.number, style.bgcolor.number) == (196, 21)
    (line,) = halfblock_lines(picture([GREEN], [(128, 128, 128)]), ColorSystem.EIGHT_BIT)
    assert line[0].style.color.number == 46  # 16 + 6 * 5
    shown = tuple(line[0].style.bgcolor.get_truecolor())  # mid grey stays a grey
    assert len(set(shown)) == 1 and abs(shown[0] - 128) <= 8


def test_16_colours_take_the_nearest_standard_colour():
    style = only_cell(ColorSystem.STANDARD)
    assert style.color.type == ColorType.STANDARD
    assert (style.color.number, style.bgcolor.number) == (1, 4)  # red, blue
    (line,) = halfblock_lines(picture([(255, 255, 255)], [(0, 0, 0)]), ColorSystem.STANDARD)
    assert (line[0].style.color.number, line[0].style.bgcolor.number) == (15, 0)


def test_no_colour_draws_luminance_with_shades():
    lines = image_lines(picture([(255, 255, 255), RED], [(255, 255, 255), BLUE]), None)
    (line,) = lines
    assert all(segment.style is PLAIN for segment in line)
    assert line[0].text[0] == SHADES[-1]  # white over white: full
    # red over blue is dark-ish, but not blank: (76 + 29) of 510 -> the lightest shade
    assert line[0].text[1] == SHADES[1]
    assert luminance(picture([RED, GREEN, BLUE]))[0].tolist() == [76, 150, 29]


def test_the_palette_lookup_matches_a_brute_force_search():
    rng = np.random.default_rng(0)
    for system in (ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
        values, numbers = palette(system)
        lut = palette_lut(system)
        rgb = rng.integers(0, 32, (500, 3))
        centre = np.rint(rgb * 255 / 31).astype(np.int64)
        # plain nearest by the same weighted distance, over every palette entry
        mean = (centre[:, None, 0] + values[None, :, 0]) // 2
        d = centre[:, None, :] - values[None]
        dist = ((512 + mean) * d[..., 0] ** 2 >> 8) + 4 * d[..., 1] ** 2 + (
            (767 - mean) * d[..., 2] ** 2 >> 8)
        best = dist.min(axis=1)
        chosen = lut[rgb[:, 0], rgb[:, 1], rgb[:, 2]]
        chosen_dist = dist[np.arange(len(rgb)), np.searchsorted(numbers, chosen)]
        assert (chosen_dist == best).all(), system
    assert nearest(np.array([[0, 0, 0]]), ColorSystem.EIGHT_BIT).tolist() == [16]


def test_equal_colour_cells_merge_and_pixels_alike_are_spaces():
    image = np.zeros((2, 40, 3), np.uint8)
    image[:] = (10, 100, 200)
    image[1, 30:] = (250, 0, 0)
    for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
        (line,) = halfblock_lines(image, system)
        assert [len(s.text) for s in line] == [30, 10]
        assert line[0].text == " " * 30 and line[0].style.color is None
        assert line[1].text == UPPER_HALF * 10


def test_a_row_of_colour_tiles_keeps_its_gaps_plain_and_every_segment_styled():
    rng = np.random.default_rng(1)
    images = [rng.random((5, 4, 3)) for _ in range(3)]
    for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
        lines = halfblock_row(images, 2, system)
        assert len(lines) == 3  # 5 rows: an odd last row pads with black
        for line in lines:
            assert sum(len(s.text) for s in line) == 3 * 4 + 2 * 2
            assert all(s.style is not None for s in line)
            text = "".join(s.text for s in line)
            assert text[4:6] == "  " and text[10:12] == "  "
            Monochrome().apply(line, None)  # NO_COLOR's filter reads every segment's style


@pytest.mark.parametrize("system", ["truecolor", "256", "standard"])
def test_the_renderable_draws_colour_in_each_system(system):
    console = Console(width=40, force_terminal=True, color_system=system)
    with console.capture() as capture:
        console.print(HalfBlockImage(RED_OVER_BLUE))
    out = capture.get()
    expected = {"truecolor": ("38;2;255;0;0", "48;2;0;0;255"), "256": ("38;5;196", "48;5;21"),
                "standard": ("31", "44")}[system]
    assert all(code in out for code in expected), out
    console = Console(width=40, force_terminal=True, no_color=True)
    with console.capture() as capture:
        console.print(HalfBlockImage(RED_OVER_BLUE))
    assert UPPER_HALF not in capture.get() and SHADES[1] in capture.get()


def test_tile_and_channels_last_keep_colour():
    images = np.zeros((3, 2, 4, 4), np.float32)  # torch layout (N, C, H, W)... of 2 channels
    with pytest.raises(ValueError):
        channels_last(images)
    rgb = np.random.default_rng(2).random((3, 3, 4, 5)).astype(np.float32)
    pictures = channels_last(rgb)
    assert pictures.shape == (3, 4, 5, 3) and pictures[1, 2, 3, 0] == rgb[1, 0, 2, 3]
    assert channels_last(rgb[:, :1]).shape == (3, 4, 5)
    grid = tile(pictures, 2, gap=1)
    assert grid.shape == (4 + 1 + 4, 5 + 1 + 5, 3)
    assert (grid[5:, :5] == np.rint(pictures[2] * 255)).all() and (grid[4] == 0).all()
