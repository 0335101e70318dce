"""LatentMap: latent points as a class-coloured scatter in half-blocks, with a cursor.

Each cell holds two pixels (upper and lower half), so a 60 x 20 map plots
60 x 40 points. The scatter is rasterised by numpy (`latent.scatter`) and its
lines cached until the points or the size change; moving the cursor only
re-splices the two lines it leaves and enters, so it costs next to nothing.
A marker (the Draw view's drawing) can be shown at any plane point.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui_vae.latent import from_pixel, map_bounds, scatter, to_pixels
from tui_vae.render import CLASS_COLORS, PLAIN, palette_lines, symbol_lines

# Overlays drawn after the classes: the prior's contours, prior samples near the
# codes, and prior samples in the codes' holes.
CONTOUR, NEAR, HOLE = (len(CLASS_COLORS) + k for k in range(3))
# Three greys far enough apart to tell in 256 colours too (the samples near the
# codes were 252 beside 231 for those in holes).
OVERLAY_COLORS = (*CLASS_COLORS, "#5a5a5a", "#a0a0a0", "#ffffff")
# The same without colour: dotted contours, prior samples as "+" near codes, "@" in holes.
OVERLAY_SYMBOLS = {CONTOUR: ".", NEAR: "+", HOLE: "@"}
# In the theme's text colour (the widget's style goes under them), so that both
# show on a light theme as on a dark one.
CURSOR = Segment("\u253c", Style(bold=True, reverse=True))  # ┼
MARKER = Segment("\u25c6", Style(bold=True))  # ◆


class LatentMap(Widget):
    """A scatter of plane points coloured by class; `cursor` is a cell (column, line)."""

    DEFAULT_CSS = """
    LatentMap { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._xy = np.zeros((0, 2))
        self._labels = np.zeros(0, dtype=np.int16)
        self.bounds = (-3.0, 3.0, -3.0, 3.0)
        self.cursor: tuple[int, int] | None = None
        # The plane point the cursor decodes: kept as it is while the cells move
        # under it (a resize, the prior's rings shown), so that what it decodes and
        # the coordinates said stay the same; the arrows move it cell by cell.
        self.point: np.ndarray | None = None
        self.marker: np.ndarray | None = None  # a plane point, or None
        self._lines: list[Strip] | None = None
        self.overlay: list[tuple[np.ndarray, int]] = []  # (points (N, 2), colour index)

    def set_overlay(self, layers: list[tuple[np.ndarray, int]]) -> None:
        """Draw these points over the scatter (contours on empty pixels, samples on top)."""
        self.overlay = layers
        self._lines = None
        self.refresh()

    def set_points(self, xy: np.ndarray, labels: np.ndarray,
                   bounds: tuple[float, float, float, float] | None = None) -> None:
        """Show `xy` (N, 2) coloured by `labels`; the bounds fit the points unless given.

        Where the bounds change (the prior's rings shown or hidden), the cursor
        moves to the cell of the plane point it was on: what it decodes stays."""
        point = self.cursor_point() if self.cursor is not None and self.size.area else None
        self._xy, self._labels = np.asarray(xy, np.float64), np.asarray(labels)
        self.bounds = bounds or map_bounds(self._xy)
        if point is not None:
            self.place_cursor(point)
        self._lines = None
        self.refresh()

    def place_cursor(self, point: np.ndarray) -> None:
        """Put the cursor on plane `point`, in the cell holding it; a point off the
        map moves to the centre of the nearest cell inside."""
        width, height = self.pixels
        cols, rows = to_pixels(point, width, height, self.bounds)
        col, row = int(cols[0]), int(rows[0])
        self.cursor = (min(max(col, 0), max(self.size.width - 1, 0)),
                       min(max(row // 2, 0), max(self.size.height - 1, 0)))
        inside = 0 <= col < width and 0 <= row < height
        self.point = np.asarray(point, np.float64) if inside else self._centre(*self.cursor)
        self.refresh()

    @property
    def pixels(self) -> tuple[int, int]:
        """(width, height) of the map in pixels."""
        return self.size.width, 2 * self.size.height

    def move_cursor(self, d_col: int, d_line: int) -> None:
        """Move the cursor by whole cells, onto the new cell's centre."""
        if not self.size.area:
            return  # not laid out yet: the cursor starts in the middle once it is
        col, line = self.cursor or (self.size.width // 2, self.size.height // 2)
        self.cursor = (min(max(col + d_col, 0), max(self.size.width - 1, 0)),
                       min(max(line + d_line, 0), max(self.size.height - 1, 0)))
        self.point = self._centre(*self.cursor)
        self.refresh()

    def _centre(self, col: int, line: int) -> np.ndarray:
        width, height = self.pixels
        return from_pixel(col, 2 * line + 0.5, max(width, 1), max(height, 1), self.bounds)

    def cursor_point(self) -> np.ndarray:
        """The plane point the cursor decodes (at first the centre of the middle cell)."""
        if self.point is not None:
            return self.point
        width, height = self.pixels
        return self._centre(*(self.cursor or (width // 2, height // 4)))

    def set_marker(self, point: np.ndarray | None) -> None:
        self.marker = None if point is None else np.asarray(point, np.float64)
        self.refresh()

    class Resized(Message):
        """The map has a new size (and its cursor a new place): what it shows moved."""

    def on_resize(self) -> None:
        self._lines = None
        if self.point is not None and self.size.area:
            self.place_cursor(self.point)  # the same point, in the cell it now falls in
        else:
            self.move_cursor(0, 0)  # place it in the middle
        self.post_message(self.Resized())

    def _build(self) -> list[Strip]:
        width, height = self.pixels
        grid = scatter(self._xy, self._labels, width, height, self.bounds)
        for points, colour in self.overlay:
            layer = scatter(points, np.full(len(points), colour, np.int16), width, height,
                            self.bounds)
            # Contours go under the data (empty pixels only); samples over it.
            where = (layer >= 0) & ((grid < 0) if colour == CONTOUR else True)
            grid[where] = layer[where]
        lines = (symbol_lines(grid, OVERLAY_SYMBOLS) if self.app.no_color
                 else palette_lines(grid, OVERLAY_COLORS))
        return [Strip(segments).crop_extend(0, self.size.width, PLAIN) for segments in lines]

    def _marker_cell(self) -> tuple[int, int] | None:
        if self.marker is None:
            return None
        width, height = self.pixels
        cols, rows = to_pixels(self.marker, width, height, self.bounds)
        col, line = int(cols[0]), int(rows[0]) // 2
        if 0 <= col < self.size.width and 0 <= line < self.size.height:
            return col, line
        return None

    def render_line(self, y: int) -> Strip:
        if self._lines is None:
            self._lines = self._build()
        base = self.rich_style  # the theme's colours under unstyled cells (BuiltLines)
        if y >= len(self._lines):
            return Strip.blank(self.size.width, base)
        strip = self._lines[y]
        for cell, segment in ((self._marker_cell(), MARKER), (self.cursor, CURSOR)):
            if cell is not None and cell[1] == y:
                col = cell[0]
                strip = Strip.join([strip.crop(0, col), Strip([segment], 1),
                                    strip.crop(col + 1, self.size.width)])
        return strip.apply_style(base)
