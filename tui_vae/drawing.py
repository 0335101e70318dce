"""A 28x28 drawing canvas with a pen: what the Draw view edits (numpy only).

Strokes are stamped with a soft round brush, so a drawing looks like the
anti-aliased, centred strokes of MNIST rather than hard single pixels, and the
encoder sees the kind of input it was trained on.
"""

from __future__ import annotations

import numpy as np

SIZE = 28
BRUSHES = (1.0, 1.5, 2.0, 2.5, 3.0)  # pen radii in pixels; [ and ] step through them


class Canvas:
    """Pixels in [0, 1] (ink = 1), a pen position, a brush radius and a mode."""

    def __init__(self) -> None:
        self.pixels = np.zeros((SIZE, SIZE), np.float32)
        self.pen = (SIZE // 2, SIZE // 2)  # (row, column)
        self.brush_index = 2
        self.down = False  # while down, moving the pen draws (or erases)
        self.erasing = False

    @property
    def brush(self) -> float:
        return BRUSHES[self.brush_index]

    def resize_brush(self, step: int) -> None:
        self.brush_index = min(max(self.brush_index + step, 0), len(BRUSHES) - 1)

    def clear(self) -> None:
        self.pixels[:] = 0.0

    def stamp(self, row: float, col: float) -> None:
        """Ink (or erase) a disc of the brush's radius centred at (row, col)."""
        rows, cols = np.ogrid[:SIZE, :SIZE]
        distance = np.hypot(rows - row, cols - col)
        # Full ink inside the radius, a one-pixel soft edge outside it.
        coverage = np.clip(self.brush + 0.5 - distance, 0.0, 1.0).astype(np.float32)
        if self.erasing:
            np.multiply(self.pixels, 1.0 - coverage, out=self.pixels)
        else:
            np.maximum(self.pixels, coverage, out=self.pixels)

    def line(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Stamp along the segment start -> end, every half pixel."""
        (r0, c0), (r1, c1) = start, end
        count = max(int(np.ceil(2 * max(abs(r1 - r0), abs(c1 - c0)))), 1)
        for t in np.linspace(0.0, 1.0, count + 1):
            self.stamp(r0 + t * (r1 - r0), c0 + t * (c1 - c0))

    def move(self, d_row: int, d_col: int) -> None:
        """Move the pen (clamped to the canvas); draws the way there while down."""
        row = min(max(self.pen[0] + d_row, 0), SIZE - 1)
        col = min(max(self.pen[1] + d_col, 0), SIZE - 1)
        if self.down:
            self.line(self.pen, (row, col))
        self.pen = (row, col)

    def toggle_pen(self) -> None:
        """Lift or lower the pen; lowering it inks the spot under it."""
        self.down = not self.down
        if self.down:
            self.stamp(*self.pen)

    def load(self, image: np.ndarray) -> None:
        """Start from an existing image (28, 28) in [0, 1]."""
        self.pixels[:] = np.clip(np.asarray(image, np.float32).reshape(SIZE, SIZE), 0, 1)
