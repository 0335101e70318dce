"""AppSizedScreen: a screen that a Resize lays out at the App's size, and only once.

Textual (8.2.8) lays a screen out at the size its Resize event carries, and a
layout that changes the screen's size queues a Resize to the screen itself
(inside a batch update, a repaint behind it). In an input storm the App handles
resizes and view keys back to back while a view's own queue waits, so a view
can be laid out at one size and then at another before it reads its queue. Its
two Resizes then sit apart (a repaint between them) and never merge: each lays
the view out again at its own, by then stale, size, queueing the next. The
queue never empties, so the view's task never yields to the event loop: the App
never runs the timer that ends the view switch's batch update, every frame is
discarded, and the UI thread lays out for ever (as three of 35 one-minute
storms stalled; tests/reliability/test_input_storms.py rebuilds it). Here a Resize
lays the screen out at the App's size, and not at all where the screen is laid
out at that size already: a stale or repeated Resize does nothing.
"""

from __future__ import annotations

from textual import events
from textual.screen import Screen


class AppSizedScreen(Screen):
    """A Screen whose Resize lays it out (and the screens under it) at the App's size."""

    async def _on_resize(self, event: events.Resize) -> None:
        size = self.app.size
        if event.size == size and self._compositor.size != size:
            return  # a new size: Textual's Screen._on_resize lays it out as usual
        event.prevent_default()  # Screen._on_resize, which lays out at event.size, is skipped
        event.stop()
        for screen in (self, *self.app._background_screens):
            if screen._compositor.size != size:
                screen._screen_resized(size)
