"""Greyscale images to PNG files, with no imaging library (zlib and struct only).

Used by `tools/figures.py`, and by the explorer's export action.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from tui_vae.checkpoints import atomic_write_bytes
from tui_vae.render import to_uint8


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of a 2-D array (floats in [0, 1] or uint8)."""
    image = to_uint8(pixels)
    if image.ndim != 2 or 0 in image.shape:
        raise ValueError(f"expected a non-empty 2-D image, got shape {image.shape}")
    height, width = image.shape
    # Each row starts with filter type 0 (none).
    raw = np.hstack((np.zeros((height, 1), np.uint8), image)).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def save_png(path: str | os.PathLike, pixels: np.ndarray, scale: int = 1) -> Path:
    """Write `pixels` as a PNG (enlarged `scale` times, nearest neighbour), atomically."""
    image = to_uint8(pixels)
    if scale > 1:
        image = np.kron(image, np.ones((scale, scale), np.uint8))
    path = Path(path)
    atomic_write_bytes(path, png_bytes(image))
    return path
