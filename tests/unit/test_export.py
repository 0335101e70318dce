"""The one PNG writer: grids, scaling, grey and colour, decoded back with Pillow."""

import numpy as np
import pytest
from PIL import Image

from tui_vae.export import enlarge, grid, png_bytes, save_png, square_columns


def _read(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_grey_png_round_trips_enlarged_by_nearest_neighbour(tmp_path):
    image = np.linspace(0, 1, 6 * 10).reshape(6, 10)
    path = save_png(tmp_path / "x.png", image, scale=2)
    with Image.open(path) as opened:
        assert opened.mode == "L" and opened.size == (20, 12)
    pixels = _read(path)
    expected = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    assert (pixels[::2, ::2] == expected).all() and (pixels[1::2, 1::2] == expected).all()
    assert pixels[0, 0] == 0 and pixels[-1, -1] == 255


def test_colour_png_keeps_its_channels(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[1, 2] = 200, (10, 20, 30)
    pixels = _read(save_png(tmp_path / "c.png", rgb, scale=3))
    assert pixels.shape == (12, 15, 3)
    assert tuple(pixels[3, 6]) == (10, 20, 30) and tuple(pixels[0, 0]) == (200, 0, 0)


@pytest.mark.parametrize("n, columns", [(1, 1), (4, 2), (10, 4), (16, 4), (17, 5), (64, 8),
                                        (100, 10)])
def test_default_grid_is_square_ish(n, columns):
    assert square_columns(n) == columns
    laid = grid(np.ones((n, 3, 2)), gap=1)
    rows = -(-n // columns)
    assert laid.shape == (rows * 4 - 1, columns * 3 - 1)


def test_grid_places_each_image_and_fills_the_gaps():
    images = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    laid = grid(images, columns=3, gap=1, fill=7)
    assert laid.shape == (5, 8, 3)
    assert (laid[0:2, 3:5] == images[1]).all() and (laid[3:5, 3:5] == images[4]).all()
    assert (laid[2] == 7).all() and (laid[3:5, 6:8] == 7).all()  # gap row, empty last cell


def test_enlarge_repeats_pixels():
    small = np.array([[1, 2], [3, 4]], np.uint8)
    assert (enlarge(small, 2) == np.array([[1, 1, 2, 2], [1, 1, 2, 2],
                                           [3, 3, 4, 4], [3, 3, 4, 4]])).all()
    with pytest.raises(ValueError):
        enlarge(small, 0)


@pytest.mark.parametrize("shape", [(0, 4), (3,), (2, 2, 2), (2, 2, 5), (1, 2, 2, 2)])
def test_png_bytes_rejects_shapes_that_are_not_images(shape):
    with pytest.raises(ValueError):
        png_bytes(np.zeros(shape))
