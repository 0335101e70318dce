"""Images to PNG files, with Pillow: greyscale (H, W) or colour (H, W, 3 or 4).

The one PNG writer of the project: the explorer's export action, `tui-vae
sample --out x.png`, TensorBoard's sample grids and `tools/figures.py` all lay
images out with `grid` and write them with `save_png`. Every file goes through
`write_bytes`, so how an export file is opened is decided in one place.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tui_vae.checkpoints import atomic_write_bytes
from tui_vae.render import to_uint8

# Channels Pillow writes from uint8 arrays: grey (a 2-D array), RGB, RGBA.
_CHANNELS = (1, 3, 4)


def square_columns(n: int) -> int:
    """Columns of a square-ish grid of n images: 16 -> 4 (4 x 4), 10 -> 4 (4, 4, 2)."""
    return max(1, math.ceil(math.sqrt(n)))


def grid(images: np.ndarray, columns: int | None = None, gap: int = 2,
         fill: float | int = 0) -> np.ndarray:
    """Images (N, H, W) or (N, H, W, C) laid out `columns` wide (default square-ish),
    `gap` pixels apart on a `fill` background; returns uint8 (H', W') or (H', W', C)."""
    images = to_uint8(images)
    if images.ndim not in (3, 4) or 0 in images.shape:
        raise ValueError(f"expected images (N, H, W) or (N, H, W, C), got shape {images.shape}")
    n, h, w = images.shape[:3]
    columns = max(1, min(columns or square_columns(n), n))
    rows = -(-n // columns)
    level = to_uint8(np.asarray(fill)) if isinstance(fill, float) else fill
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, *images.shape[3:]),
                  level, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = images[i]
    return out


def enlarge(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel repeated `scale` times down and across (nearest neighbour)."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    if scale == 1:
        return pixels
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG of an image (H, W) grey, or (H, W, C) with C = 1, 3 or 4;
    floats in [0, 1] or uint8."""
    image = to_uint8(pixels)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    if channels not in _CHANNELS or 0 in image.shape:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, 1|3|4) image, "
                         f"got shape {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write an export file atomically: readers see the old file or the new one."""
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def save_png(path: str | os.PathLike, pixels: np.ndarray, scale: int = 1) -> Path:
    """Write `pixels` as a PNG (enlarged `scale` times, nearest neighbour), atomically."""
    return write_bytes(path, png_bytes(enlarge(to_uint8(pixels), scale)))
