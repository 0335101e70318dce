"""DrawCanvas: a `drawing.Canvas` in half-blocks with its pen marked, drawn by keys or mouse."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui_vae.drawing import SIZE, Canvas
from tui_vae.render import LOWER_HALF, UPPER_HALF, image_lines

PEN_DOWN, PEN_UP = "red", "dodger_blue1"


class DrawCanvas(Widget):
    """The 28 x 14 cell canvas; posts `Changed` after every stroke."""

    DEFAULT_CSS = """
    DrawCanvas { width: 28; height: 14; }
    """

    class Changed(Message):
        """The drawing changed."""

    def __init__(self, canvas: Canvas, *, id: str | None = None):
        super().__init__(id=id)
        self.canvas = canvas
        self._last: tuple[float, float] | None = None  # the mouse's previous pixel in a drag

    def changed(self) -> None:
        self.refresh()
        self.post_message(self.Changed())

    def render_line(self, y: int) -> Strip:
        base = self.rich_style  # the theme's colours beside the canvas (BuiltLines)
        if y >= SIZE // 2:
            return Strip.blank(self.size.width, base)
        # No colour (NO_COLOR, TERM=dumb): shade characters; Rich exposes only the name.
        system = None if self.app.no_color else self.app.console._color_system
        pixels = (self.canvas.pixels[2 * y:2 * y + 2] * 255).round().astype(np.uint8)
        line = image_lines(pixels, system)[0]
        strip = Strip(line, SIZE)
        row, col = self.canvas.pen
        if row // 2 == y:
            # The pen's pixel in colour, the other half of its cell as drawn.
            other = int(pixels[1 - row % 2, col])
            grey = f"rgb({other},{other},{other})"
            colour = PEN_DOWN if self.canvas.down else PEN_UP
            char = UPPER_HALF if row % 2 == 0 else LOWER_HALF
            pen = Segment(char, Style(color=colour, bgcolor=grey))
            strip = Strip.join([strip.crop(0, col), Strip([pen], 1), strip.crop(col + 1, SIZE)])
        return strip.crop_extend(0, self.size.width, base)

    # -- the mouse: press and drag to draw

    def _pixel(self, event: events.MouseEvent) -> tuple[float, float] | None:
        if not (0 <= event.x < SIZE and 0 <= event.y < SIZE // 2):
            return None
        return 2 * event.y + 0.5, float(event.x)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        point = self._pixel(event)
        if point is not None:
            self.capture_mouse()
            self.canvas.pen = (int(point[0]), int(point[1]))
            self.canvas.stamp(*point)
            self._last = point
            self.changed()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._last is None or not event.button:
            return
        point = self._pixel(event)
        if point is not None:
            self.canvas.line(self._last, point)
            self.canvas.pen = (int(point[0]), int(point[1]))
            self._last = point
            self.changed()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._last = None
        self.release_mouse()
