"""The views' footer: Textual's, recomposed only while its screen is the one shown.

Textual's Footer removes and remounts every key whenever a screen's bindings
change, in a callback run later by its screen. Under a storm of keys (views
switched many times a second, each redraw refreshing the bindings), that
recompose ran on a screen already switched away from and never finished: the
app's batch update stayed open, nothing more was drawn and input queued without
end (in 5 of 9 one-minute storms run in a pty on this machine). A footer off screen
has nothing to show; it is recomposed when its screen is resumed (which
refreshes the bindings).
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class ViewFooter(Footer):
    """A Footer that recomposes only on the current screen."""

    def bindings_changed(self, screen: Screen) -> None:
        if screen.is_current:
            super().bindings_changed(screen)

    async def recompose(self) -> None:
        if self.is_attached and self.screen.is_current:
            await super().recompose()
