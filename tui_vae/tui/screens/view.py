"""ViewScreen: the base of every view of the active model.

It composes the header, the view's body and the footer, shows a loading state
until the App has a model, and redraws when the App's model, images or zoom
changed while the view was hidden (the App bumps `generation`).
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui_vae.tui.widgets.image_grid import ImageGrid


class ViewScreen(Screen):
    """A view: subclasses compose `body()` and implement `redraw()`."""

    TITLE = ""
    NEEDS_MODEL = True  # False for views that work without a loaded model

    def __init__(self) -> None:
        super().__init__()
        self._seen = -1
        self._status_lines: int | None = None  # the height the status last asked for

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._tabs(), id="tabs")
        yield Static(id="status", classes="status")
        yield from self.body()
        yield Footer()

    def _tabs(self, width: int | None = None) -> Text:
        """The views and their keys, the current one highlighted.

        Where the names do not fit in `width`, only the current view keeps its
        name and the others show their key alone.
        """
        from tui_vae.tui.app import VIEWS

        def build(compact: bool) -> Text:
            tabs = Text()
            for key, title in VIEWS.values():
                current = title == self.TITLE
                tabs.append(f" {key} ", "bold reverse" if current else "bold")
                if current or not compact:
                    tabs.append(f"{title} ", "reverse" if current else "")
            tabs.append("  z zoom  ? help  ^p commands", "dim")
            return tabs

        full = build(compact=False)
        return full if width is None or full.cell_len <= width else build(compact=True)

    def on_resize(self) -> None:
        self.query_one("#tabs", Static).update(self._tabs(self.size.width))

    def body(self) -> ComposeResult:
        yield from ()

    @property
    def model(self):
        return self.app.model

    @property
    def images(self):
        return self.app.images

    def on_mount(self) -> None:
        self.set_scale(self.app.scale)

    def on_screen_resume(self) -> None:
        self.sync()

    def sync(self, force: bool = False) -> None:
        """Redraw if the App's state changed since this view last drew."""
        if not force and self._seen == self.app.generation:
            return
        self._seen = self.app.generation
        if self.NEEDS_MODEL and self.model is None:
            self.show_waiting()
            return
        try:
            self.redraw()
        except (ValueError, RuntimeError, OSError) as exc:
            self.notify(f"{self.TITLE}: {exc}", severity="error")

    def show_waiting(self) -> None:
        """The loading (or nothing-to-show) state."""
        if self.app.loading:
            text = "Loading the model... (torch is starting)"
        else:
            text = "No model: train one in Train (t), or pick one in Models (m)."
        self.set_status(text)
        for grid in self.query(ImageGrid):
            grid.clear(text)

    def set_status(self, text: str) -> None:
        status = self.query_one("#status", Static)
        # A layout pass re-renders the whole screen: only ask for one when the
        # status may change height (it shows one or two lines).
        lines = 1 if len(text) <= status.size.width - 2 else 2
        status.update(text, layout=lines != self._status_lines)
        self._status_lines = lines

    def takes_classes(self) -> bool:
        """Whether class keys (0-9) apply: a cVAE is loaded. Says why not otherwise."""
        if self.model is None:
            return False
        if not self.model.config.conditional:
            self.notify("a plain VAE has no classes: choose a cVAE in Models (m)",
                        severity="warning")
            return False
        return True

    def set_scale(self, scale: int) -> None:
        for grid in self.query(ImageGrid):
            grid.scale = scale

    def redraw(self) -> None:
        """Draw the view from the App's model and images."""

    def export_images(self) -> np.ndarray | None:
        """The images on screen as one picture (grids stacked), or None if there are none."""
        pictures = [grid.exportable() for grid in self.query(ImageGrid) if grid.display]
        pictures = [p for p in pictures if p is not None]
        if not pictures:
            return None
        width = max(p.shape[1] for p in pictures)
        rows = []
        for k, picture in enumerate(pictures):
            if k:
                rows.append(np.zeros((4, width), np.uint8))
            rows.append(np.pad(picture, ((0, 0), (0, width - picture.shape[1]))))
        return np.vstack(rows)

    def on_image_grid_fitted(self, message: ImageGrid.Fitted) -> None:
        # More or fewer tiles fit now: views that fill the screen redraw.
        if self.model is not None and self.is_current:
            self.sync(force=True)
