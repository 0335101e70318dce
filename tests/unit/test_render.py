"""The half-block renderer: pixel pairs become the right cells and colours."""

import numpy as np
from rich.console import Console

from tui_vae.render import SHADES, UPPER_HALF, HalfBlockImage, halfblock_lines, shade_lines, tile


def cells(line):
    """Expand segments into (char, fg, bg) per cell."""
    out = []
    for segment in line:
        fg = segment.style.color.get_truecolor().red if segment.style.color else None
        bg = segment.style.bgcolor.get_truecolor().red
        out += [(ch, fg, bg) for ch in segment.text]
    return out


def test_pixel_pairs_become_upper_half_blocks():
    image = np.array([[0, 255, 10], [255, 255, 20]], dtype=np.uint8)
    (line,) = halfblock_lines(image)
    assert cells(line) == [(UPPER_HALF, 0, 255), (" ", None, 255), (UPPER_HALF, 10, 20)]


def test_runs_of_equal_cells_are_merged_and_odd_rows_pad_with_black():
    image = np.full((3, 50), 128, dtype=np.uint8)
    first, second = halfblock_lines(image)
    assert len(first) == 1 and first[0].text == " " * 50
    assert len(second) == 1 and cells(second)[0] == (UPPER_HALF, 128, 0)


def test_float_images_are_quantised():
    (line,) = halfblock_lines(np.array([[1.0], [0.5]]))
    assert cells(line) == [(UPPER_HALF, 255, 128)]


def test_shade_fallback_maps_intensity_to_characters():
    image = np.array([[0, 255, 255], [0, 255, 0]], dtype=np.uint8)
    (line,) = shade_lines(image)
    assert line[0].text == SHADES[0] + SHADES[-1] + SHADES[2]


def render(image, **console_args):
    console = Console(width=40, force_terminal=True, **console_args)
    with console.capture() as capture:
        console.print(HalfBlockImage(image))
    return capture.get()


def test_colour_systems_truecolor_256_and_no_color():
    image = np.array([[200], [100]], dtype=np.uint8)
    assert "38;2;200;200;200" in render(image, color_system="truecolor")
    eight_bit = render(image, color_system="256")
    assert "38;5;" in eight_bit and "48;5;" in eight_bit
    # greys land on the 24-step grey ramp (codes 232-255)
    codes = [int(part.split(";")[2].rstrip("m")) for part in eight_bit.split("\x1b[")[1:]
             if part.startswith(("38;5;", "48;5;"))]
    assert all(232 <= code <= 255 for code in codes)
    plain = render(image, no_color=True)
    assert UPPER_HALF not in plain and SHADES[2] in plain


def test_tile_arranges_images_in_a_grid():
    images = np.stack([np.full((28, 28), i, np.uint8) for i in range(5)])
    grid = tile(images, columns=3, gap=1)
    assert grid.shape == (2 * 28 + 1, 3 * 28 + 2)
    assert grid[0, 0] == 0 and grid[0, 29] == 1 and grid[29, 29] == 4 and grid[28, 0] == 0


def test_cells_that_look_alike_in_256_colours_merge_into_one_run():
    from rich.color import ColorSystem

    row = np.array([[100, 101, 102, 103]], dtype=np.uint8)  # one step of the grey ramp
    image = np.vstack([row, row])
    assert len(halfblock_lines(image, ColorSystem.TRUECOLOR)[0]) == 4
    assert len(halfblock_lines(image, ColorSystem.EIGHT_BIT)[0]) == 1


def test_every_segment_carries_a_style_for_textual_filters():
    """NO_COLOR's monochrome filter reads each segment's style: None crashed the app."""
    from rich.color import ColorSystem
    from textual.filter import Monochrome

    from tui_vae.render import halfblock_row, image_lines, palette_lines

    image = np.array([[0, 255, 40], [0, 10, 200], [90, 90, 90]], dtype=np.uint8)
    cases = [
        *halfblock_row([image, image], gap=2, system=ColorSystem.EIGHT_BIT),  # blank gaps
        *image_lines(image, None),  # shades
        *palette_lines(np.array([[-1, 0, 1], [-1, -1, 1]])),  # empty cells
    ]
    for line in cases:
        assert all(segment.style is not None for segment in line)
        Monochrome().apply(line, None)


def test_image_lines_use_shades_without_a_colour_system():
    from rich.color import ColorSystem

    from tui_vae.render import image_lines

    image = np.array([[0, 255], [255, 255]], dtype=np.uint8)
    assert image_lines(image, None)[0][0].text == SHADES[2] + SHADES[-1]
    assert UPPER_HALF in image_lines(image, ColorSystem.TRUECOLOR)[0][0].text
