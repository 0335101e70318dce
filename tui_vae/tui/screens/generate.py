"""Generate: samples from the prior; for a cVAE, keys 0-9 choose the class."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding

from tui_vae.tui.screens.view import ViewScreen
from tui_vae.tui.widgets.image_grid import ImageGrid


class GenerateScreen(ViewScreen):
    """A grid of decoded z ~ N(0, T^2 I); a row per class on request (cVAE)."""

    TITLE = "Generate"
    BINDINGS = [
        *(Binding(str(d), f"set_class({d})", "Class", show=d == 0, key_display="0-9",
                  id=f"generate.class{d}") for d in range(10)),
        Binding("space", "new", "New samples", id="generate.new"),
        Binding("plus,equals_sign", "temperature(1)", "Temp +", key_display="+",
                id="generate.hotter"),
        Binding("minus", "temperature(-1)", "Temp -", key_display="-", id="generate.colder"),
        Binding("a", "toggle_rows", "All classes", id="generate.rows"),
        Binding("down", "scroll_rows(1)", "Rows", key_display="↑↓", id="generate.row_down"),
        Binding("up", "scroll_rows(-1)", "Row up", show=False, id="generate.row_up"),
    ]
    CLASS_ACTIONS = frozenset({"set_class", "toggle_rows"})

    def __init__(self) -> None:
        super().__init__()
        self.label = 0
        self.temperature_index = 5  # gallery.TEMPERATURES[5] == 1.0
        self.seed = 0
        self.rows = False

    def body(self) -> ComposeResult:
        yield ImageGrid(id="samples")

    @property
    def temperature(self) -> float:
        from tui_vae.gallery import TEMPERATURES

        return TEMPERATURES[self.temperature_index]

    def redraw(self) -> None:
        from tui_vae import gallery

        grid = self.query_one("#samples", ImageGrid)
        model, classes = self.model, self.images.classes
        columns, rows = grid.fit(captions=False)
        conditional = model.config.conditional
        if self.rows and conditional:
            images = gallery.class_rows(model, columns, self.temperature, self.seed)
            grid.show(images, columns=columns)
            what = "a row per class, the same z down each column" + self.rows_note(grid)
        else:
            grid.first_row = 0
            grid.show(gallery.samples(model, columns * rows, self.label, self.temperature,
                                      self.seed))
            what = f"class {classes[self.label]}" if conditional else "unconditional"
        keys = "0-9 class · a all classes · " if conditional else ""
        self.set_status(f"Samples from the prior: {what} · temperature {self.temperature:g} · "
                        f"draw {self.seed} · {keys}space new · +/- temperature")
        self.refresh_bindings()  # the row keys show only while rows are off screen

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "scroll_rows":
            if not (self.rows and self.conditional()):
                return False
            _, shown, total = self.query_one("#samples", ImageGrid).rows()
            return total > shown
        return super().check_action(action, parameters)

    def action_scroll_rows(self, step: int) -> None:
        self.query_one("#samples", ImageGrid).scroll_rows(step)
        self.sync(force=True)

    def action_set_class(self, label: int) -> None:
        if not self.takes_classes():
            return
        self.label, self.rows = label, False
        self.sync(force=True)

    def action_new(self) -> None:
        self.seed += 1
        self.sync(force=True)

    def action_temperature(self, step: int) -> None:
        from tui_vae.gallery import TEMPERATURES

        self.temperature_index = min(max(self.temperature_index + step, 0), len(TEMPERATURES) - 1)
        self.sync(force=True)

    def action_toggle_rows(self) -> None:
        self.rows = not self.rows
        self.sync(force=True)
