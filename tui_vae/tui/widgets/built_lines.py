"""BuiltLines: a widget that builds all its lines at once and serves them until they change.

Charts are drawn whole (axes, ticks and curves depend on each other), so a
subclass implements `build(width, height)` once per change of data or size;
Textual's Line API then asks for one line at a time with no work per line.
Subclasses call `invalidate()` from their reactives' watchers.
"""

from __future__ import annotations

from textual.strip import Strip
from textual.widget import Widget


class BuiltLines(Widget):
    """Lines built by `build()`, cached until `invalidate()` or a resize."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self._lines: list[Strip] | None = None

    def build(self, width: int, height: int) -> list[Strip]:
        """Every line of the widget at this size."""
        raise NotImplementedError

    def invalidate(self) -> None:
        self._lines = None
        self.refresh()

    def on_resize(self) -> None:
        self.invalidate()

    def render_line(self, y: int) -> Strip:
        if self._lines is None:
            self._lines = self.build(self.size.width, self.size.height)
        # Under the lines' own styles, the widget's (the theme's background and
        # text colour): unstyled cells otherwise took the terminal's own, dark
        # under a light theme. Strip caches the result per style.
        base = self.rich_style
        if y < len(self._lines):
            return self._lines[y].apply_style(base)
        return Strip.blank(self.size.width, base)
