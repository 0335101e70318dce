"""Interpolate: the decoded path between two test digits' latent codes."""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Label

from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.fitted_label import FittedLabel
from tui_vae.tui.widgets.image_grid import ImageGrid
from tui_vae.tui.widgets.ordered_input import OrderedInput

MIN_STEPS, MAX_STEPS = 3, 24


def parse_endpoint(text: str, labels: np.ndarray, rng: np.random.Generator) -> int:
    """An index ("123") or a class ("c7": a random test image of class 7)."""
    text = text.strip().lower()

    def whole(digits: str) -> bool:
        # ASCII digits, and few: "²" is a digit to str.isdigit() but not to int(), and
        # int() refuses 4,300 digits and more with a message about Python's limit.
        return 0 < len(digits) <= 9 and all("0" <= c <= "9" for c in digits)

    if text.startswith("c") and whole(text[1:]):
        members = np.flatnonzero(labels == int(text[1:]))
        if not len(members):
            raise ValueError(f"no test image of class {text[1:]}")
        return int(rng.choice(members))
    if whole(text) and int(text) < len(labels):
        return int(text)
    shown = text if len(text) <= 20 else text[:19] + "…"
    raise ValueError(f"{shown!r}: give an index 0-{len(labels) - 1} or a class as c0-c9")


class InterpolateScreen(ViewScreen):
    """From image A to image B: linear or spherical paths, and a condition sweep (cVAE)."""

    TITLE = "Interpolate"
    BINDINGS = [
        Binding("space", "random", "Random pair", id="interp.random"),
        Binding("s", "toggle_slerp", "Lerp/slerp", id="interp.slerp"),
        Binding("plus,equals_sign", "steps(1)", "More steps", key_display="+", id="interp.more"),
        Binding("minus", "steps(-1)", "Fewer steps", key_display="-", id="interp.fewer"),
        Binding("f", "focus_endpoints", "From/to", id="interp.edit"),
        Binding("down", "scroll_rows(1)", "Rows", key_display="↑↓", id="interp.row_down"),
        Binding("up", "scroll_rows(-1)", "Rows", key_display="↑↓", show=False,
                id="interp.row_up"),
        Binding("escape", "blur", "Done editing", id="interp.blur"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = 0, 1
        self.steps = 10
        self.spherical = False
        self.rng = np.random.default_rng(0)

    def body(self) -> ComposeResult:
        with Horizontal(id="endpoints"):
            yield Label("From")
            yield OrderedInput(placeholder="index, or c7", id="from", compact=True)
            yield Label("To")
            yield OrderedInput(placeholder="index, or c3", id="to", compact=True)
        yield FittedLabel(id="path-title", classes="section")
        yield ImageGrid(id="path")
        yield FittedLabel(id="sweep-title", classes="section")
        yield ImageGrid(id="sweep")

    def redraw(self) -> None:
        from tui_vae import gallery

        split, classes = self.images.split, self.images.classes
        self.a, self.b = min(self.a, len(split) - 1), min(self.b, len(split) - 1)
        # The fields name the pair shown (the first one too: empty, their placeholders
        # suggested another), except one being typed into.
        for field_id, index in (("from", self.a), ("to", self.b)):
            field = self.query_one(f"#{field_id}", Input)
            if not field.has_focus and field.value != str(index):
                field.value = str(index)
        ends = gallery.images_of(split, [self.a, self.b])
        path = gallery.interpolation(self.model, split, self.a, self.b, self.steps,
                                     self.spherical)
        images = np.concatenate((ends[:1], path, ends[1:]))
        ts = np.linspace(0, 1, self.steps)
        la, lb = int(split.labels[self.a]), int(split.labels[self.b])
        captions = [f"A #{self.a}"] + [f"{t:.2f}" for t in ts] + [f"B #{self.b}"]
        path_grid = self.query_one("#path", ImageGrid)
        # Full size where the whole path fits, else half size (more of it on screen),
        # or a quarter where not even one half-size image fits whole.
        factor = 1 if path_grid.whole() >= len(images) else 2
        # Zoomed, images shown reduced are drawn finer rather than larger (as Generate
        # does): at 80x24 a cVAE's two grids had no room for one 2x tile, and said
        # "rows 1-0 of 6" over two "no room" lines.
        unzoomed = max(factor, path_grid.reduction())
        factor = path_grid.spend_zoom(unzoomed)
        self.query_one("#sweep", ImageGrid).spend_zoom(unzoomed)

        def shrink(images):
            return gallery.shrink(images, factor)

        path_grid.show(shrink(images), captions, highlight={0, len(images) - 1}, full=images)
        method = "spherical (slerp)" if self.spherical else "linear"
        self.query_one("#path-title", FittedLabel).update(
            f"{method} path from A (class {classes[la]}) to B (class {classes[lb]}), "
            f"{self.steps} steps, between the originals")
        sweep = self.query_one("#sweep", ImageGrid)
        sweep_title = self.query_one("#sweep-title", FittedLabel)
        if self.model.config.conditional:
            end = lb if lb != la else (la + 1) % len(classes)
            # Laid out as the path is: A's original first, a blank tile where the path
            # has B, and captioned with the condition's weight on the end class, so
            # that each step stands under the path's step of the same t and the two
            # grids have as many rows and scroll together, row for row (with two
            # fewer images the sweep ran out of rows first and stopped scrolling).
            swept = gallery.condition_sweep(self.model, split, self.a, la, end, self.steps)
            swept = np.concatenate((ends[:1], swept, np.zeros_like(swept[:1])))
            sweep.show(shrink(swept), [f"A #{self.a}", *(f"{t:.2f}" for t in ts), ""],
                       highlight={0}, full=swept)
            sweep_title.update(f"A's z, the condition moving from class {classes[la]} "
                               f"to {classes[end]}")
            sweep.display = sweep_title.display = True
        else:
            sweep.display = sweep_title.display = False
        self.set_status("space random pair · f edit From/To (index, or c7 for a random 7) · "
                        "s linear/slerp · +/- steps" + self.rows_note(path_grid))
        self.refresh_bindings()  # the row keys show only while rows are off screen

    # Printable keys a focused From/To field types instead: not offered meanwhile.
    TYPED_ACTIONS = frozenset({"random", "toggle_slerp", "steps", "focus_endpoints"})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        editing = isinstance(self.focused, Input)
        if action == "blur":
            return editing
        if action in self.TYPED_ACTIONS and editing:
            return False
        if action == "scroll_rows":
            _, shown, total = self.query_one("#path", ImageGrid).rows()
            return total > shown
        return super().check_action(action, parameters)

    def action_scroll_rows(self, step: int) -> None:
        # Path and sweep share their columns: they scroll together, step under step.
        for grid in self.query(ImageGrid):
            grid.scroll_rows(step)
        self.sync(force=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in either field applies both (those filled in) and hands the keys back
        to the view; enter in From with To still empty moves on to To."""
        if self.images is None:
            return
        labels = self.images.split.labels.numpy()
        chosen = {}
        for field in ("from", "to"):
            text = self.query_one(f"#{field}", Input).value
            if text.strip():
                try:
                    chosen[field] = parse_endpoint(text, labels, self.rng)
                except ValueError as exc:
                    self.notify(str(exc), severity="error")
                    return
        self.a, self.b = chosen.get("from", self.a), chosen.get("to", self.b)
        if event.input.id == "from" and "to" not in chosen:
            self.query_one("#to", Input).focus()
        else:
            self.set_focus(None)
            # "c7" (a random 7) now names the index it drew.
            self.query_one("#from", Input).value = str(self.a)
            self.query_one("#to", Input).value = str(self.b)
        self.sync(force=True)

    def action_random(self) -> None:
        if self.images is None:
            return
        n = len(self.images.split)
        if n < 2:
            self.notify(f"a random pair needs two test images; this set has {n}",
                        severity="warning")
            return
        self.a, self.b = (int(i) for i in self.rng.choice(n, size=2, replace=False))
        self.set_focus(None)  # the fields then name the new pair (redraw)
        self.sync(force=True)

    def action_toggle_slerp(self) -> None:
        self.spherical = not self.spherical
        self.sync(force=True)

    def action_steps(self, step: int) -> None:
        self.steps = min(max(self.steps + step, MIN_STEPS), MAX_STEPS)
        self.sync(force=True)

    def action_focus_endpoints(self) -> None:
        self.query_one("#from", Input).focus()

    def action_blur(self) -> None:
        self.set_focus(None)

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # the footer: the field's keys, not the view's

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()
