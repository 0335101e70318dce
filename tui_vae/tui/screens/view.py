"""ViewScreen: the base of every view of the active model.

It composes the header, the view's body and the footer, shows a loading state
until the App has a model, and redraws when the App's model, images or zoom
changed while the view was hidden (the App bumps `generation`).
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Static

from tui_vae.errors import TuiVaeError
from tui_vae.tui.screens.sized import AppSizedScreen
from tui_vae.tui.widgets.footer import ViewFooter
from tui_vae.tui.widgets.image_grid import ImageGrid

if TYPE_CHECKING:
    import numpy as np


STATUS_LINES = 2  # the status line's most (app.tcss, .status)


def wrap_status(text: str, width: int) -> list[str]:
    """`text`'s lines at `width` cells, broken between its " · " parts where it can
    (the break stands for the separator), so that a key stays beside what it does:
    wrapped word by word, "· p" ended one line and "aggregate posterior" began the
    next. A part wider than a line is wrapped word by word."""
    lines: list[str] = []
    current = ""
    for part in text.split(" · "):
        joined = f"{current} · {part}" if current else part
        if len(joined) <= width:
            current = joined
            continue
        if current:
            lines.append(current)
        pieces = textwrap.wrap(part, width) or [""]
        lines += pieces[:-1]
        current = pieces[-1]
    return [*lines, current] if current or not lines else lines


def fit_status(text: str, width: int, lines: int = STATUS_LINES) -> str:
    """`text` as it fits `lines` lines of `width` cells (wrap_status's), its lines
    joined by line breaks: its " · " parts are left out whole from the end (key hints
    come last, and the footer and help name the keys) rather than the text being cut
    mid-word."""
    if width <= 0:  # not laid out yet
        return text
    parts = text.split(" · ")
    while len(parts) > 1 and len(wrap_status(" · ".join(parts), width)) > lines:
        parts.pop()
    wrapped = wrap_status(" · ".join(parts), width)
    # One part too long for the lines on its own: as it is, for the widget to cut.
    return "\n".join(wrapped) if len(wrapped) <= lines else parts[0]


class StatusLine(Static):
    """The view's status: its text fitted to the width it has when drawn (set before
    the first layout, or kept across a resize, it is fitted again)."""

    text = ""

    def show(self, text: str, layout: bool) -> None:
        self.text = text
        self.refresh(layout=layout)

    def render(self) -> Text:
        # Plain text, never markup: it quotes class names, and a folder dataset's class
        # names are folder names ("[bold]x[red]" must show as written).
        return Text(fit_status(self.text, self.size.width))


ARROWS = (("up", 0, -1), ("down", 0, 1), ("left", -1, 0), ("right", 1, 0))  # key, dx, dy


def arrow_bindings(action: Callable[[int, int], str], description: str, ids: str,
                   modifier: str = "") -> list[Binding]:
    """The four arrows (with `modifier`, "shift" say) as one family: `action(dx, dy)`
    for each, one description and key display, so the footer, the help and the Keys
    panel show them once; the first (up) is the one the footer shows. Ids are `ids`
    + "up", "down", ..."""
    keys = f"{modifier}+" if modifier else ""
    return [Binding(f"{keys}{key}", action(dx, dy), description, key_display=f"{keys}arrows",
                    show=not modifier and key == "up", id=f"{ids}{key}")
            for key, dx, dy in ARROWS]


def one_line_each(bindings: list) -> list:
    """`bindings` with each family of keys shown as one (the four arrows that move the
    pen, the ten class keys) listed once in Textual's Keys panel: that panel has a line
    per action, and "arrows  Move pen" read four times. The family's first binding
    stays; the others become system bindings, which only the panel leaves out."""
    seen = set()
    kept = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.key_display:
            family = (binding.key_display, binding.description)
            if family in seen:
                binding = dataclasses.replace(binding, system=True)
            seen.add(family)
        kept.append(binding)
    return kept


class TabBar(Static):
    """The views' tab bar: it fits its own width, which a side panel (the Keys panel)
    narrows without the screen being resized."""

    def on_resize(self) -> None:
        self.screen.refresh_tabs()


class ViewScreen(AppSizedScreen):
    """A view: subclasses compose `body()` and implement `redraw()`."""

    TITLE = ""
    NEEDS_MODEL = True  # False for views that work without a loaded model
    FOLLOWS_ENTRIES = False  # True: redrawn whenever the checkpoint list changes

    def __init_subclass__(cls, **kwargs) -> None:
        if "BINDINGS" in cls.__dict__:
            cls.BINDINGS = one_line_each(cls.BINDINGS)
        super().__init_subclass__(**kwargs)

    def __init__(self) -> None:
        super().__init__()
        self._seen = -1
        self._tabs_shown = ""
        self._model_seen = None  # the model this view last drew
        self._said = ""  # the redraw error last told, until a redraw succeeds

    def compose(self) -> ComposeResult:
        yield Header()
        yield TabBar(self._tabs(), id="tabs")
        yield StatusLine(id="status", classes="status")
        yield from self.body()
        # Compact, and without ^p (the tab bar names it): 80 columns fit more keys.
        yield ViewFooter(compact=True, show_command_palette=False)

    def key_for(self, binding_id: str, default: str) -> str:
        """The key that triggers binding `binding_id` now (after the user's keymap), as shown."""
        keys = getattr(self.app, "_keymap", {}).get(binding_id)  # Textual keeps the keymap here
        key = keys.split(",")[0].strip() if keys else default
        return self.app.get_key_display(Binding(key, ""))

    def _tabs(self, width: int | None = None) -> Text:
        """The views and their keys (as remapped), the current one highlighted.

        Where the names do not fit in `width`, only the current view keeps its
        name and the others show their key alone.
        """
        from tui_vae.tui.app import VIEWS

        keys = {mode: self.key_for(f"view.{mode}", key) for mode, (key, _) in VIEWS.items()}
        help_key = self.key_for("app.help", "question_mark")
        hints = f"  {self.key_for('app.zoom', 'z')} zoom  {help_key} help  ^p commands"

        def build(compact: bool, tight: bool = False, hint: str = hints) -> Text:
            tabs = Text()
            for mode, (_, title) in VIEWS.items():
                current = title == self.TITLE
                tabs.append(f" {keys[mode]} ", "bold reverse" if current else "bold")
                if current or not compact:
                    # Tight: no space after a name but the current one's (its highlight).
                    end = "" if tight and not current else " "
                    tabs.append(f"{title}{end}", "reverse" if current else "")
            tabs.append(hint, "dim")
            return tabs

        # Every view named where they fit: at 120 columns, with the shortest hints (the
        # keys alone named nine views by a letter each, which said nothing to a newcomer).
        for tabs in (build(compact=False), build(False, True, f"  {help_key} help  ^p")):
            if width is None or tabs.cell_len <= width:
                return tabs
        return build(compact=True)

    def on_resize(self) -> None:
        self.refresh_tabs()

    def refresh_tabs(self, *_) -> None:
        """Redraw the tab bar if its text changed (the width, or the keymap's keys)."""
        tabs = self._tabs(self.query_one("#tabs").size.width or self.size.width)
        if tabs.plain != self._tabs_shown:
            self._tabs_shown = tabs.plain
            self.query_one("#tabs", Static).update(tabs, layout=False)  # one fixed line

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
        # A keymap set after this screen was composed (the App's on_mount) changes
        # the bindings: the tab bar follows.
        self.bindings_updated_signal.subscribe(self, self.refresh_tabs)

    def on_screen_resume(self) -> None:
        self.set_scale(self.app.scale)  # z pressed in another view applies here too
        self.sync()

    def sync(self, force: bool = False) -> None:
        """Redraw if the App's state changed since this view last drew."""
        if not force and self._seen == self.app.generation:
            return
        self._seen = self.app.generation
        self.refresh_bindings()  # which keys apply depends on the model (see check_action)
        if self.NEEDS_MODEL and self.model is None:
            self.show_waiting()
            return
        if self.model is not None:  # grids measure tiles in the model's image size
            another = self.model is not self._model_seen  # rows scrolled to belong to the last
            self._model_seen = self.model
            for grid in self.query(ImageGrid):
                grid.base = self.image_size()
                grid.first_row = 0 if another else grid.first_row
        try:
            self.redraw()
        except (ValueError, RuntimeError, OSError, TuiVaeError) as exc:
            # TuiVaeError: your own model failing on a batch its check did not try.
            self.tell_once(exc)
        else:
            self._said = ""

    def tell_once(self, exc: Exception) -> None:
        """A drawing error as a notice: once, not at every poll while its cause lasts."""
        said = f"{self.TITLE}: {exc}"
        if said != self._said:
            self.notify(said, severity="error")
        self._said = said

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
        status = self.query_one("#status", StatusLine)
        # A layout pass re-renders the whole screen: only ask for one when the
        # status changes height (it shows one or two lines). Compared with the height
        # it has, not the one last asked for: a request made before the first layout
        # (no width yet) can be spent while the text was another.
        lines = min(fit_status(text, status.size.width).count("\n") + 1, STATUS_LINES)
        status.show(text, layout=lines != status.size.height)

    def image_size(self) -> tuple[int, int]:
        """(H, W) of the active model's images ((28, 28) before one is loaded)."""
        if self.model is None:
            return (28, 28)
        _, height, width = self.model.config.image_shape
        return (height, width)

    def conditional(self) -> bool:
        """Whether the active model is a cVAE (class keys apply)."""
        return self.model is not None and self.model.config.conditional

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Keys that cannot work for the active model leave the footer and the
        # help: a view's own keys need a model (the app's keys are checked by the
        # app), class keys need a cVAE.
        # While one loads they stay: the help, asked for meanwhile, lists them.
        if self.NEEDS_MODEL and self.model is None and not self.app.loading:
            return False
        if action in self.CLASS_ACTIONS:
            return self.conditional()
        return True

    CLASS_ACTIONS: frozenset[str] = frozenset()  # actions that need a cVAE

    @staticmethod
    def rows_note(grid: ImageGrid, keys: str = "↑/↓") -> str:
        """' · rows 3-4 of 10 (↑/↓ scroll)' where some rows of `grid` are off screen."""
        first, shown, total = grid.rows()
        if total <= shown or not shown:  # none fits: the grid itself says so
            return ""
        rows = f"row {first + 1}" if shown == 1 else f"rows {first + 1}-{first + shown}"
        return f" · {rows} of {total} ({keys} scroll)"

    def class_keys(self) -> str:
        """The class keys the active cVAE takes: "0-9", "0-4" for five classes (keys
        reach ten at most)."""
        count = min(self.model.config.num_classes, 10) if self.model is not None else 10
        return "0" if count == 1 else f"0-{count - 1}"

    def takes_classes(self, label: int | None = None) -> bool:
        """Whether class keys apply (a cVAE is loaded) and `label` is one of its
        classes. Says why not otherwise."""
        if self.model is None:
            return False
        if not self.model.config.conditional:
            self.notify("a plain VAE has no classes: choose a cVAE in Models (m)",
                        severity="warning")
            return False
        count = self.model.config.num_classes
        if label is not None and label >= count:
            from tui_vae.wording import plural

            known = plural(count, "class", "classes")
            self.notify(f"this cVAE knows {known}: keys {self.class_keys()}", severity="warning")
            return False
        return True

    def set_scale(self, scale: int) -> None:
        """Zoom every grid; a view on screen redraws at once (a view that shows its
        images reduced chooses their size again: ImageGrid.spend_zoom)."""
        changed = False
        for grid in self.query(ImageGrid):
            wanted = self.grid_scale(grid, scale)
            if grid.scale != wanted:
                grid.scale, changed = wanted, True
        if changed and self.is_current:
            self.sync(force=True)

    def grid_scale(self, grid: ImageGrid, scale: int) -> int:
        """The scale `grid` takes when the app's is `scale` (a view may keep one at 1x)."""
        return scale

    def redraw(self) -> None:
        """Draw the view from the App's model and images."""

    def exported_pictures(self) -> list[np.ndarray]:
        """The pictures `e` saves, top to bottom: each shown grid's images, tiled (not
        a grid that says it has no room for them)."""
        pictures = [grid.exportable() for grid in self.query(ImageGrid)
                    if grid.display and grid.images and grid.tile_regions()]
        return [p for p in pictures if p is not None]

    def export_images(self) -> np.ndarray | None:
        """The images on screen as one picture (grids stacked), or None if there are none."""
        pictures = self.exported_pictures()
        if not pictures:
            return None
        import numpy as np

        if any(p.ndim == 3 for p in pictures):  # colour anywhere (Compare): all in RGB
            pictures = [p if p.ndim == 3 else np.repeat(p[:, :, None], 3, axis=2)
                        for p in pictures]
        width = max(p.shape[1] for p in pictures)
        rest = pictures[0].shape[2:]
        rows = []
        for k, picture in enumerate(pictures):
            if k:
                rows.append(np.zeros((4, width, *rest), np.uint8))
            pad = ((0, 0), (0, width - picture.shape[1])) + ((0, 0),) * len(rest)
            rows.append(np.pad(picture, pad))
        return np.vstack(rows)

    def on_image_grid_fitted(self, message: ImageGrid.Fitted) -> None:
        # More or fewer tiles fit now: views that fill the screen redraw.
        if self.model is not None and self.is_current:
            self.sync(force=True)
