"""Draw: a digit drawn by hand, its reconstruction live, its place on the latent map,
and for a cVAE the drawing's code decoded as each of the ten classes.

The canvas is grey and 28x28: with a model of another shape (colour, 32x32...)
the view says so and draws nothing from the model."""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui_vae.drawing import SIZE, Canvas
from tui_vae.tui.screens.latent import SHARED_ENCODING
from tui_vae.tui.screens.view import ViewScreen, arrow_bindings
from tui_vae.tui.widgets.draw_canvas import DrawCanvas
from tui_vae.tui.widgets.image_grid import ImageGrid
from tui_vae.tui.widgets.latent_map import LatentMap

# Zoomed (z), the canvas and the reconstruction are 56 x 28 cells each, in panels
# of 58 x 30; the screen needs that beside them (header, tabs, status, footer).
# Smaller, Draw stays at 1x (and says so) rather than cut the canvas.
ZOOM_ROOM = (2 * 58, 30 + 6)
MIN_MAP_WIDTH = 20  # zoomed, the latent map shows only where it has this much room


class DrawBody(Vertical):
    """Draw's body. Its size changes where the screen's does not, as when the Keys
    panel docks beside it, and the zoom must follow."""

    def on_resize(self) -> None:
        self.screen.fit_zoom()


class DrawScreen(ViewScreen):
    """Canvas | reconstruction | map; the ten-class row below for a cVAE."""

    TITLE = "Draw"
    BINDINGS = [
        # One footer key and one help line for the four ("arrows"), with all four ids.
        *arrow_bindings(lambda dx, dy: f"pen({dy}, {dx})", "Move pen", "draw."),  # row, col
        Binding("space", "toggle_pen", "Pen up/down", id="draw.pen"),
        Binding("left_square_bracket", "brush(-1)", "Brush -", key_display="[",
                id="draw.thinner"),
        Binding("right_square_bracket", "brush(1)", "Brush +", key_display="]",
                id="draw.thicker"),
        Binding("x", "toggle_eraser", "Eraser", id="draw.eraser"),
        Binding("backspace,delete", "clear", "Clear", key_display="⌫", id="draw.clear"),
        Binding("o", "load_digit", "Test digit", id="draw.load"),
        *(Binding(str(d), f"set_class({d})", "Class", show=d == 0, key_display="0-9",
                  id=f"draw.class{d}") for d in range(10)),
        Binding("pagedown", "scroll_rows(1)", "Class row", key_display="PgDn/PgUp",
                id="draw.row_down"),
        Binding("pageup", "scroll_rows(-1)", "Class row", key_display="PgDn/PgUp", show=False,
                id="draw.row_up"),
    ]
    CLASS_ACTIONS = frozenset({"set_class"})

    def __init__(self) -> None:
        super().__init__()
        self.canvas = Canvas()
        self.label = 0  # the condition a cVAE encodes the drawing with
        self.loaded = 0  # the next test digit `o` loads
        self.cache = SHARED_ENCODING
        self.lower = False  # a short screen shows the class row in place of the canvas row

    def body(self) -> ComposeResult:
        with DrawBody():
            with Horizontal(id="draw-top"):
                with Vertical(classes="draw-panel"):
                    yield Static("your drawing", classes="dim")
                    yield DrawCanvas(self.canvas, id="canvas")
                with Vertical(classes="draw-panel"):
                    yield Static("reconstruction", classes="dim")
                    yield ImageGrid(id="recon", classes="single")
                yield LatentMap(id="draw-map")
            yield Static(id="draw-classes-title", classes="dim", markup=False)  # class names
            yield ImageGrid(id="draw-classes")

    def set_scale(self, scale: int) -> None:
        """The drawing and its reconstruction zoom together, where the screen has room
        for both at 2x; the class row zooms as every view's grids do."""
        width, height = self.room()
        zoomed = scale > 1 and width >= ZOOM_ROOM[0] and height >= ZOOM_ROOM[1]
        self.query_one("#canvas", DrawCanvas).set_scale(2 if zoomed else 1)
        self.set_class(zoomed, "zoomed")
        self.query_one("#draw-map", LatentMap).display = (
            not zoomed or width - ZOOM_ROOM[0] >= MIN_MAP_WIDTH)
        super().set_scale(scale)

    def grid_scale(self, grid: ImageGrid, scale: int) -> int:
        if grid.id == "recon":  # with the canvas: 2x only where both have the room
            return 2 if self.has_class("zoomed") else 1
        return scale

    def zoom_left_out(self) -> bool:
        """Whether z asks for 2x and the screen is too small for Draw's."""
        return self.app.scale > 1 and not self.has_class("zoomed")

    def room(self) -> tuple[int, int]:
        """The screen's size less the side panel's width (the Keys panel docks at the
        right and narrows the body; zoomed under it the canvas was cut)."""
        width, height = self.size
        for panel in self.query("HelpPanel"):
            width -= panel.outer_size.width
        return width, height

    def on_resize(self) -> None:
        super().on_resize()
        self.fit_zoom()

    def fit_zoom(self) -> None:
        """Zoom as far as the room allows now, and redraw if that changed."""
        before = self.has_class("zoomed")
        self.set_scale(self.app.scale)
        if self.has_class("zoomed") != before and self.is_current:
            self.call_after_refresh(self._changed)

    def fits_canvas(self) -> bool:
        """Whether the active model reads images like the canvas: grey, SIZE x SIZE."""
        return self.model is not None and tuple(self.model.config.image_shape) == (1, SIZE, SIZE)

    def show_unfit(self) -> None:
        """Say plainly that the active model cannot read the drawing, and show nothing of it."""
        c, h, w = self.model.config.image_shape
        kind = "colour" if c == 3 else "grey"
        text = (f"Draw needs a grey {SIZE}x{SIZE} model; the active one reads {kind} "
                f"{h}x{w} images. Choose a grey {SIZE}x{SIZE} model in Models (m).")
        self.set_status(text)
        self.query_one("#recon", ImageGrid).clear("(see the line above)")
        self.query_one("#draw-classes", ImageGrid).clear()
        self.query_one("#draw-classes-title", Static).update("")
        latent_map = self.query_one("#draw-map", LatentMap)
        latent_map.set_points(np.zeros((0, 2)), np.zeros(0, int))
        latent_map.set_marker(None)

    def exported_pictures(self) -> list[np.ndarray]:
        """The drawing beside its reconstruction, then the class row (a cVAE's)."""
        recon = self.query_one("#recon", ImageGrid)
        if not self.fits_canvas() or not recon.images:
            return super().exported_pictures()
        from tui_vae.render import tile, to_uint8

        # Both in bytes: the grid holds its images as shown (uint8), the canvas in [0, 1].
        drawing = to_uint8(self.canvas.pixels)
        pictures = [tile(np.stack([drawing, to_uint8(recon.images[0])]), 2, gap=2)]
        classes = self.query_one("#draw-classes", ImageGrid)
        shown = classes.display and classes.images and classes.tile_regions()
        row = classes.exportable() if shown else None  # not where it says "no room"
        return pictures if row is None else [*pictures, row]

    def redraw(self) -> None:
        model = self.model
        fits = self.fits_canvas()
        self.query_one("#canvas", DrawCanvas).disabled = not fits  # the mouse drew on it too
        if not fits:
            self.show_unfit()
            return
        cache = self.cache.get(model, self.images.split)
        self.query_one("#draw-map", LatentMap).set_points(cache.xy, cache.encoded.labels)
        self.update_outputs()

    def update_outputs(self) -> None:
        """Encode the drawing; show its reconstruction, map position and class row."""
        model, pixels = self.model, self.canvas.pixels[None, None]
        conditional = model.config.conditional
        label = [self.label] if conditional else None
        mu, _ = model.encode(pixels, label)
        self.query_one("#recon", ImageGrid).show(model.decode(mu, label).cpu().numpy()[:, 0])
        z = mu[0].cpu().numpy()
        # The encoding is shared with Latent and Traversal: ask for this model's (a
        # no-op when it is current), never reuse another model's projection.
        projection = self.cache.get(model, self.images.split).projection
        self.query_one("#draw-map", LatentMap).set_marker(projection.to_plane(z))
        classes = self.query_one("#draw-classes", ImageGrid)
        title = self.query_one("#draw-classes-title", Static)
        names = self.images.classes
        if conditional:
            k = model.config.num_classes
            row = model.decode(np.repeat(mu.cpu().numpy(), k, axis=0), list(range(k)))
            row = row.cpu().numpy()[:, 0]
            columns, rows = classes.fit()
            full = row  # what `e` saves: the model's own size, as every view's export
            if columns * rows < k:  # half size where the full-size row does not fit
                from tui_vae.gallery import half_size

                row = half_size(row)
            # On a short screen the row has no room under the canvas until a key swaps them.
            key = self.key_for("draw.row_down", "pagedown")
            classes.no_room_hint = f"{'PgDn' if key == 'pgdn' else key} shows it"
            classes.show(row, captions=list(names[:k]), columns=k, full=full)
            title.update(f"the drawing's code (encoded as {names[self.label]}) "
                         f"decoded as every class{self._classes_shown(classes, names[:k])}")
        else:
            classes.clear()
            title.update("")
            if self.lower:  # no class row to show: the canvas row comes back
                self.lower = False
                self.query_one("#draw-top").display = True
        c = self.canvas
        pen = "pen down: moving draws" if c.down else "pen up"
        mode = "tool: eraser" if c.erasing else "tool: ink"
        keys = f"{self.class_keys()} encode as class · " if conditional else ""
        if conditional and self.check_action("scroll_rows", ()):
            keys += "PgDn/PgUp class row · "
        # Said first: the hints after it are cut at 80x24, where it applies.
        small = ""
        if self.zoom_left_out():
            beside = " beside the Keys panel" if self.query("HelpPanel") else ""
            small = f"; 1x: zoomed it needs {ZOOM_ROOM[0]}x{ZOOM_ROOM[1]}{beside}"
        self.set_status(f"Draw ({pen}, {mode}, brush {c.brush:g} px{small}): arrows move · "
                        f"space pen up/down · [ ] brush · x eraser · ⌫ clear · o load a test "
                        f"digit · {keys}mouse: drag")
        self.refresh_bindings()

    def _classes_shown(self, grid: ImageGrid, names) -> str:
        """Where the class row wraps past the screen: which classes show, and the key
        for the rest (at 116x36, 0-6 of 10 showed under a title saying "every class")."""
        columns, _, total, fit = grid.tile_layout()
        first, _, _ = grid.rows()
        if not fit or fit >= total:
            return ""
        start, stop = first * columns, min((first + fit) * columns, len(names))
        key = self.key_for("draw.row_down", "pagedown")
        key = "PgDn/PgUp" if key == "pgdn" else key
        return f" ({stop - start} of {len(names)} shown; {key} for the rest)"

    # The keys that draw, or encode what is drawn: with a model that cannot read the
    # canvas (colour, another size) they drew on a canvas nothing reads.
    CANVAS_ACTIONS = frozenset({"pen", "toggle_pen", "brush", "toggle_eraser", "clear",
                                "load_digit", "set_class"})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in self.CANVAS_ACTIONS and self.model is not None and not self.fits_canvas():
            return False
        if action == "scroll_rows":
            if not self.conditional():
                return False
            _, shown, total = self.query_one("#draw-classes", ImageGrid).rows()
            return self.lower or total > shown
        return super().check_action(action, parameters)

    def action_scroll_rows(self, step: int) -> None:
        """Scroll the class row; on a short screen, past its end, swap it with the canvas row."""
        grid = self.query_one("#draw-classes", ImageGrid)
        if grid.scroll_rows(step):
            self.update_outputs()
            return
        _, shown, total = grid.rows()
        if step > 0 and shown < total and not self.lower:
            self.lower = True
        elif step < 0 and self.lower:
            self.lower = False
        else:
            return
        self.query_one("#draw-top").display = not self.lower
        self.call_after_refresh(self._changed)  # the class row fits its new size

    def on_draw_canvas_changed(self) -> None:
        if self.fits_canvas():
            self.update_outputs()

    def _changed(self) -> None:
        self.query_one("#canvas", DrawCanvas).refresh()
        if self.fits_canvas():
            self.update_outputs()

    def action_pen(self, d_row: int, d_col: int) -> None:
        self.canvas.move(d_row, d_col)
        self._changed()

    def action_toggle_pen(self) -> None:
        self.canvas.toggle_pen()
        self._changed()

    def action_brush(self, step: int) -> None:
        self.canvas.resize_brush(step)
        self._changed()

    def action_toggle_eraser(self) -> None:
        self.canvas.erasing = not self.canvas.erasing
        self._changed()

    def action_clear(self) -> None:
        self.canvas.clear()
        self._changed()

    def action_load_digit(self) -> None:
        if not self.fits_canvas() or not len(self.images.split):
            return
        from tui_vae.gallery import images_of

        split = self.images.split
        index = self.loaded % len(split)
        self.canvas.load(images_of(split, [index])[0])
        self.label = int(split.labels[index]) if self.model.config.conditional else self.label
        self.loaded += 1
        names = self.images.classes
        label = int(split.labels[index])
        self.notify(f"test image #{index} ({names[label] if label < len(names) else label}); "
                    f"o loads the next", timeout=3)
        self._changed()

    def action_set_class(self, label: int) -> None:
        if not self.takes_classes(label):
            return
        self.label = label
        self._changed()
