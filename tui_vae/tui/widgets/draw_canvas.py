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
    """The 28 x 14 cell canvas (56 x 28 zoomed: `set_scale`); posts `Changed` after
    every stroke."""

    DEFAULT_CSS = """
    DrawCanvas { width: 28; height: 14; }
    """

    class Changed(Message):
        """The drawing changed."""

    def __init__(self, canvas: Canvas, *, id: str | None = None):
        super().__init__(id=id)
        self.canvas = canvas
        self.scale = 1  # cells per pixel across; at 2, a pixel is a whole cell of two
        self._last: tuple[float, float] | None = None  # the mouse's previous pixel in a drag

    def set_scale(self, scale: int) -> None:
        """Draw each pixel `scale` times larger (1 or 2)."""
        if scale != self.scale:
            self.scale = scale
            self.styles.width, self.styles.height = SIZE * scale, SIZE * scale // 2
            self.refresh(layout=True)

    def changed(self) -> None:
        self.refresh()
        self.post_message(self.Changed())

    def render_line(self, y: int) -> Strip:
        base = self.rich_style  # the theme's colours beside the canvas (BuiltLines)
        scale, width = self.scale, SIZE * self.scale
        if y >= width // 2:
            return Strip.blank(self.size.width, base)
        # No colour (NO_COLOR, TERM=dumb): shade characters; Rich exposes only the name.
        system = None if self.app.no_color else self.app.console._color_system
        pixels = self.canvas.pixels
        if scale > 1:  # the line's pixel row, each pixel two cells wide and a cell high
            pixels = np.repeat(np.repeat(pixels[y:y + 1], 2, axis=0), 2, axis=1)
        else:
            pixels = pixels[2 * y:2 * y + 2]
        line = image_lines((pixels * 255).round().astype(np.uint8), system)[0]
        strip = Strip(line, width)
        row, col = self.canvas.pen
        if scale > 1:
            if row == y:  # the pen's pixel, whole, in colour
                colour = PEN_DOWN if self.canvas.down else PEN_UP
                pen = Segment(UPPER_HALF * 2, Style(color=colour, bgcolor=colour))
                strip = Strip.join([strip.crop(0, 2 * col), Strip([pen], 2),
                                    strip.crop(2 * col + 2, width)])
            return strip.crop_extend(0, self.size.width, base)
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
        width = SIZE * self.scale
        if not (0 <= event.x < width and 0 <= event.y < width // 2):
            return None
        if self.scale > 1:
            return event.y + 0.5, float(event.x // 2)
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
